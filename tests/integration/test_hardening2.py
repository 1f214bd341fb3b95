"""HTTP hardening, round two (issue 15): the exact bytes of each finding, over real sockets.

Items 1-4 are memory exhaustion: the attack streams tens of MiB at one worker and the
worker's peak resident memory (VmHWM, reset through /proc/PID/clear_refs first) may grow
by at most RSS_GROWTH_MAX while it runs; the server must answer as soon as a limit is
passed, not after the bytes. The rest are framing and validation cases, each sent whole
on a fresh connection.
"""
import json
import select
import socket
import time

import pytest

from conftest import ConnectionClosed, _start, _teardown, expect_eof, read_response

ATTACK_BYTES = 32 << 20        # enough to show the bound: the bug grew RSS by about this
PIECE = 256 << 10
RSS_GROWTH_MAX = 8 << 20       # bytes; the fixed server stays well under (a few hundred KiB)
ATTACK_SECONDS = 10.0


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One basic:app worker with the default limits and a C-only health path."""
    servers = []
    s = _start(servers, tmp_path_factory.mktemp("hardening2"), "basic:app",
               args=["--health-path", "/healthz"])
    # a first large upload touches every receive buffer once, so that the attacks below
    # measure what they cost and not the ring's first use
    assert s.request("POST", "/sha256", body=b"w" * (8 << 20)).status == 200
    yield s
    _teardown(servers)


def memory_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{key} missing from /proc/{pid}/status")


def reset_peak(pid):
    """Resets VmHWM to the current RSS (clear_refs 5); False where that is not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def attack(srv, head, piece, total=ATTACK_BYTES, tail=b""):
    """Sends head, then `piece` repeated up to `total` bytes, then tail, stopping as soon as
    the server answers. Returns (response or None, bytes sent after head, peak RSS growth
    of the worker in bytes)."""
    pid = srv.worker_pids()[0]
    rss_before = memory_kib(pid, "VmRSS")
    peak_ok = reset_peak(pid)
    hwm_before = memory_kib(pid, "VmHWM") if peak_ok else rss_before
    sock = srv.connect()
    sent = 0
    deadline = time.monotonic() + ATTACK_SECONDS
    try:
        sock.sendall(head)
        chunk = piece * max(1, PIECE // len(piece))
        answered = False
        try:
            while sent < total and time.monotonic() < deadline:
                if select.select([sock], [], [], 0)[0]:
                    answered = True
                    break
                sock.sendall(chunk)
                sent += len(chunk)
            if not answered and tail:
                sock.sendall(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass
        growth = (memory_kib(pid, "VmHWM") if peak_ok else memory_kib(pid, "VmRSS")) - hwm_before
        sock.settimeout(5)
        try:
            resp = read_response(sock.makefile("rb"))
        except (ConnectionClosed, ConnectionResetError, socket.timeout):
            resp = None
    finally:
        sock.close()
    print(f"attack: sent {sent} bytes, worker RSS {rss_before} KiB before, peak growth "
          f"{growth} KiB")
    return resp, sent, growth * 1024


def exchange(srv, data, count=1):
    """Sends data on a new connection; returns (statuses, closed) where closed says whether
    the server closed the connection after the responses."""
    sock = srv.connect()
    try:
        sock.sendall(data)
        rfile = sock.makefile("rb")
        statuses = []
        bodies = []
        for _ in range(count):
            try:
                resp = read_response(rfile)
            except ConnectionClosed:
                break
            statuses.append(resp.status)
            bodies.append(resp)
            if resp.status >= 400:
                break
        return statuses, expect_eof(sock, timeout=1.0), bodies
    finally:
        sock.close()


def status_of(srv, data):
    statuses, closed, _ = exchange(srv, data)
    assert statuses, f"no response to {data!r}"
    if statuses[0] >= 400:
        assert closed, f"{statuses[0]} without closing the connection"
    return statuses[0]


# ---- 1-4: memory exhaustion ------------------------------------------------------------

CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_1_unterminated_chunk_extension_is_400_with_bounded_memory(srv):
    resp, sent, growth = attack(srv, CHUNKED_HEAD + b"5;", b"a",
                                tail=b"\r\nhello\r\n0\r\n\r\n")
    assert resp is not None and resp.status == 400
    assert growth < RSS_GROWTH_MAX, f"worker grew by {growth} bytes"
    assert sent < ATTACK_BYTES, "the server waited for the whole extension"


def test_1_unterminated_quoted_chunk_extension_is_400_with_bounded_memory(srv):
    resp, sent, growth = attack(srv, CHUNKED_HEAD + b'5;a="', b"a",
                                tail=b'"\r\nhello\r\n0\r\n\r\n')
    assert resp is not None and resp.status == 400
    assert growth < RSS_GROWTH_MAX, f"worker grew by {growth} bytes"


def test_2_empty_lines_before_the_request_are_bounded(srv):
    resp, sent, growth = attack(srv, b"", b"\r\n", tail=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp is not None and resp.status == 400
    assert growth < RSS_GROWTH_MAX, f"worker grew by {growth} bytes"


def test_2_a_few_empty_lines_are_still_ignored(srv):
    assert status_of(srv, b"\r\n" * 8 + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 200
    assert status_of(srv, b"\r\n" * 9 + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 400


def test_3_trailer_section_has_the_head_limits(srv):
    field = b"X-Trailer: " + b"v" * 1000 + b"\r\n"
    resp, sent, growth = attack(srv, CHUNKED_HEAD + b"5\r\nhello\r\n0\r\n", field,
                                tail=b"\r\n")
    assert resp is not None and resp.status == 431
    assert growth < RSS_GROWTH_MAX, f"worker grew by {growth} bytes"
    # field count (--limit-request-fields, 100) and field size (8190) apply to trailers
    fields = [b"T%d: v\r\n" % i for i in range(101)]
    assert status_of(srv, CHUNKED_HEAD + b"0\r\n" + b"".join(fields) + b"\r\n") == 431
    assert status_of(srv, CHUNKED_HEAD + b"0\r\n" + b"".join(fields[:100]) + b"\r\n") == 200
    assert status_of(srv, CHUNKED_HEAD + b"0\r\nT: " + b"v" * 8190 + b"\r\n\r\n") == 431


def test_4_chunk_size_over_the_body_limit_is_413_at_once(srv):
    # 0x40000001 is one byte more than the default --limit-request-body of 1 GiB
    sock = srv.connect()
    try:
        sock.sendall(CHUNKED_HEAD + b"40000001\r\n")
        sock.settimeout(3)
        resp = read_response(sock.makefile("rb"))
        assert resp.status == 413
    finally:
        sock.close()
    resp, sent, growth = attack(srv, CHUNKED_HEAD + b"40000001\r\n", b"a")
    assert resp is not None and resp.status == 413
    assert growth < RSS_GROWTH_MAX, f"worker grew by {growth} bytes"


# ---- 5-8: framing and validation -------------------------------------------------------

@pytest.mark.parametrize("fields", [
    b"Content-Length:\r\n 35\r\n",
    b"Transfer-Encoding:\r\n chunked\r\n",
    b"X: y\r\nHost:\r\n evil\r\n",
    b"Connection:\r\n close\r\n",
    b"Content-Length:   \r\n 35\r\n",
], ids=["content-length", "transfer-encoding", "host", "connection", "spaces-only"])
def test_5_obs_fold_after_an_empty_value_is_400(srv, fields):
    host = b"" if b"Host" in fields else b"Host: x\r\n"
    body = b"0" * 35
    assert status_of(srv, b"POST /echo HTTP/1.1\r\n" + host + fields + b"\r\n" + body) == 400


def test_6_two_host_fields_are_400(srv):
    assert status_of(srv, b"GET /env HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400


def test_6_host_that_is_not_a_host_is_400(srv):
    assert status_of(srv, b"GET /env HTTP/1.1\r\nHost: a b/c\r\n\r\n") == 400


def test_6_valid_hosts_are_served(srv):
    for host in (b"example.com", b"example.com:8080", b"[::1]:80", b"127.0.0.1", b""):
        statuses, _, resps = exchange(srv, b"GET /env HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        assert statuses == [200], host
        assert json.loads(resps[0].body).get("HTTP_HOST", "") == host.decode()


def test_6_missing_host_is_served_by_default(srv):
    assert status_of(srv, b"GET / HTTP/1.1\r\n\r\n") == 200


def test_6_missing_host_is_400_with_require_host(server):
    s = server("basic:app", args=["--require-host"], probe=None)
    assert status_of(s, b"GET / HTTP/1.1\r\n\r\n") == 400
    assert status_of(s, b"GET / HTTP/1.0\r\n\r\n") == 200
    assert status_of(s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 200


def test_7_asterisk_form_is_for_options_only(srv):
    assert status_of(srv, b"GET * HTTP/1.1\r\nHost: x\r\n\r\n") == 400
    statuses, _, _ = exchange(srv, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses == [404]   # the application's answer to a path it does not know


def test_7_connect_takes_authority_form_only(srv):
    assert status_of(srv, b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n") == 400
    assert status_of(srv, b"CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n") == 400
    statuses, closed, _ = exchange(
        srv, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert statuses and statuses[0] < 500   # reaches the application, which answers


def test_8_upgrade_not_taken_keeps_the_connection_on_http11(srv):
    req = (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
           b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    statuses, closed, _ = exchange(srv, req + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", count=2)
    assert statuses == [200, 200]
    assert not closed


# ---- 9-14: valid requests that were rejected ---------------------------------------------

@pytest.mark.parametrize("method", [b"PURGE", b"MKCALENDAR", b"QUERY", b"FOO", b"-BLARGH"])
def test_9_extension_methods_reach_the_application(srv, method):
    req = method + b" /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    statuses, closed, resps = exchange(srv, req + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", count=2)
    assert statuses == [200, 200]
    assert resps[0].header("X-Method") == method.decode()
    assert resps[0].body == b"hello"


def test_9_a_method_that_is_not_a_token_is_400(srv):
    assert status_of(srv, b"GE(T / HTTP/1.1\r\nHost: x\r\n\r\n") == 400


@pytest.mark.parametrize("size_line", [b'5;foo="a\\"b"', b"5;a=b;c", b"5 ; a = b"])
def test_10_chunk_extensions_are_accepted(srv, size_line):
    req = CHUNKED_HEAD.replace(b"POST /", b"POST /echo") + size_line + b"\r\nhello\r\n0\r\n\r\n"
    statuses, closed, resps = exchange(srv, req)
    assert statuses == [200]
    assert resps[0].body == b"hello"


@pytest.mark.parametrize("bad", [b'5;a="x\ry"', b"5;a=x\x00y", b'5;a="x\ny"'],
                         ids=["cr", "nul", "lf"])
def test_10_cr_lf_nul_in_chunk_extensions_are_400(srv, bad):
    assert status_of(srv, CHUNKED_HEAD + bad + b"\r\nhello\r\n0\r\n\r\n") == 400


def test_11_trailing_ows_after_content_length(srv):
    statuses, closed, resps = exchange(
        srv, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\t\r\n\r\nhello")
    assert statuses == [200]
    assert resps[0].body == b"hello"


def test_12_raw_utf8_in_the_target_is_passed_through(srv):
    statuses, closed, resps = exchange(srv, "GET /envà%20k HTTP/1.0\r\n\r\n".encode())
    assert statuses == [200]
    # PEP 3333: PATH_INFO is the decoded bytes as latin-1
    assert json.loads(resps[0].body)["PATH_INFO"] == "/envà k".encode().decode("latin-1")


@pytest.mark.parametrize("target", [b"/a\tb", b"/a\x01b", b"/a\x7fb"], ids=["htab", "soh", "del"])
def test_12_control_bytes_in_the_target_are_400(srv, target):
    assert status_of(srv, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n") == 400


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\n",
    b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["lf-after-request-line", "lf-after-field", "lf-ending-head", "two-spaces-before-target",
        "two-spaces-after-target"])
def test_13_one_rule_for_line_ends_and_spaces(srv, raw):
    assert status_of(srv, raw) == 400


def test_14_health_path_with_expect_answers_without_100(srv):
    sock = srv.connect()
    try:
        sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        sock.settimeout(3)
        resp = read_response(sock.makefile("rb"))
        assert resp.status == 405
    finally:
        sock.close()


def test_14_head_cap_is_a_setting(server):
    s = server("basic:app", args=["--limit-request-head", "2048"])
    head = b"GET / HTTP/1.1\r\nHost: x\r\n"
    pad = 2048 - len(head) - len(b"X: \r\n") - 2
    assert status_of(s, head + b"X: " + b"v" * pad + b"\r\n\r\n") == 200
    assert status_of(s, head + b"X: " + b"v" * (pad + 1) + b"\r\n\r\n") == 431
