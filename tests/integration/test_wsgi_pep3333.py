"""PEP 3333 over HTTP: environ, wsgi.input (in memory and spooled), request body limits,
wsgi.file_wrapper, write(), exc_info, close(), errors, app loading (--env, --preload).

Every test that serves wsgi_pep3333 runs twice: the plain application and the same one
behind wsgiref.validate.validator (warnings made errors), which must not complain.
"""
import hashlib
import json
import os
import socket
import time

import pytest

from conftest import (ENGINE, ConnectionClosed, build_request, expect_eof, read_response,
                      run_binary, wait_until)

APP_VARIANTS = ["wsgi_pep3333:app", "wsgi_pep3333:validated"]
MiB = 1 << 20
# What wsgiref.validate (or a WSGIWarning made an error) leaves in the log when unhappy.
VALIDATOR_COMPLAINTS = ("AssertionError", "WSGIWarning", "garbage collected without being")


@pytest.fixture(params=APP_VARIANTS, ids=["plain", "validated"])
def variant(request):
    return request.param


def start(server, variant, *args, **kw):
    return server(variant, args=list(args), probe="/pid", **kw)


def assert_validator_quiet(srv):
    log = srv.log()
    for word in VALIDATOR_COMPLAINTS:
        assert word not in log, f"validator complained ({word}):\n{log}"


def raw_exchange(srv, data, method="GET", timeout=10):
    sock = srv.connect(timeout)
    try:
        sock.sendall(data)
        return read_response(sock.makefile("rb"), method)
    finally:
        sock.close()


# ---- environ -----------------------------------------------------------------------------

def test_environ_keys(server, variant):
    srv = start(server, variant)
    req = build_request("GET", "/env?a=1&b=%20", headers=[
        ("User-Agent", "pep3333-test"), ("X-Multi", "one"), ("X-Multi", "two"),
        ("X_Multi", "spoof"), ("Accept", "*/*")])
    resp = raw_exchange(srv, req)
    assert resp.status == 200
    env = json.loads(resp.body)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/env"
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["RAW_URI"] == "/env?a=1&b=%20"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(srv.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit()
    assert env["HTTP_HOST"] == "localhost"
    assert env["HTTP_USER_AGENT"] == "pep3333-test"
    assert env["HTTP_X_MULTI"] == "one,two"          # repeats joined, X_Multi dropped
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is False
    assert env["wsgi.multiprocess"] is False   # one worker; gunicorn's rule: workers > 1
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["input_type"] in ("Input", "InputWrapper")
    assert env["has_file_wrapper"] is True
    assert env["SERVER_SOFTWARE"].startswith("uwsgi-fast/")

    # percent-decoded PATH_INFO, latin-1 as PEP 3333 says; HTTP/1.0
    resp = raw_exchange(srv, build_request("POST", "/env%2Fx/caf%C3%A9", body=b"xy",
                                           headers=[("Content-Type", "text/x-a")],
                                           version="HTTP/1.0"))
    env = json.loads(resp.body)
    assert env["PATH_INFO"] == "/env/x/caf\u00c3\u00a9"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert env["CONTENT_LENGTH"] == "2" and env["CONTENT_TYPE"] == "text/x-a"
    assert_validator_quiet(srv)


def env_of(srv, path="/env", headers=()):
    resp = raw_exchange(srv, build_request("GET", path, headers=list(headers)))
    assert resp.status == 200, resp
    return json.loads(resp.body)


def test_root_path(server, variant):
    srv = start(server, variant, "--root-path", "/api/v1")
    env = env_of(srv, "/api/v1/env?x=1")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/api/v1", "/env")
    # a proxy that stripped the prefix itself: PATH_INFO stays whole
    env = env_of(srv, "/env")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/api/v1", "/env")
    # only at a segment boundary
    env = env_of(srv, "/api/v10/env")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/api/v1", "/api/v10/env")
    assert_validator_quiet(srv)


def test_scheme_and_script_name_from_trusted_proxy(server, variant):
    # the default --forwarded-allow-ips is 127.0.0.1,::1: the test client is trusted
    srv = start(server, variant)
    assert env_of(srv)["wsgi.url_scheme"] == "http"
    assert env_of(srv, headers=[("X-Forwarded-Proto", "https")])["wsgi.url_scheme"] == "https"
    assert env_of(srv, headers=[("X-Forwarded-Ssl", "on")])["wsgi.url_scheme"] == "https"
    assert env_of(srv, headers=[("X-Forwarded-Protocol", "ssl")])["wsgi.url_scheme"] == "https"
    assert env_of(srv, headers=[("X-Forwarded-Proto", "http")])["wsgi.url_scheme"] == "http"
    env = env_of(srv, headers=[("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on")])
    assert env["wsgi.url_scheme"] == "https"
    assert env["REMOTE_ADDR"] == "127.0.0.1"     # the peer, whatever the proxy says
    # contradicting scheme headers: gunicorn answers 400, so do we
    resp = raw_exchange(srv, build_request("GET", "/env", headers=[
        ("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "off")]))
    assert resp.status == 400
    # SCRIPT_NAME from a trusted proxy mounts the application
    env = env_of(srv, "/mount/env", headers=[("SCRIPT_NAME", "/mount")])
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/mount", "/env")
    assert_validator_quiet(srv)


def test_untrusted_peer_cannot_set_scheme(server, variant):
    srv = start(server, variant, "--forwarded-allow-ips", "10.9.8.7,192.168.0.0/16")
    env = env_of(srv, "/mount/env", headers=[("X-Forwarded-Proto", "https"),
                                             ("SCRIPT_NAME", "/mount")])
    assert env["wsgi.url_scheme"] == "http"
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/mount/env")


def test_custom_scheme_header_and_trust_all(server):
    srv = start(server, "wsgi_pep3333:app", "--forwarded-allow-ips", "*",
                "--secure-scheme-headers", "X-Scheme=https")
    assert env_of(srv, headers=[("X-Scheme", "https")])["wsgi.url_scheme"] == "https"
    assert env_of(srv, headers=[("X-Forwarded-Proto", "https")])["wsgi.url_scheme"] == "http"


def test_bad_proxy_settings_are_refused():
    r = run_binary(["--forwarded-allow-ips", "not-an-ip", "wsgi_pep3333:app"])
    assert r.returncode == 2 and "forwarded-allow-ips" in r.stderr, r
    r = run_binary(["--secure-scheme-headers", "X-Proto", "wsgi_pep3333:app"])
    assert r.returncode == 2 and "secure-scheme-headers" in r.stderr, r


# ---- wsgi.input --------------------------------------------------------------------------

BODY = b"first line\nsecond line\n\n" + bytes(range(256)) + b"\nlast, no newline"


def input_ops(srv, ops, body=BODY, chunked=False):
    headers = [("Content-Type", "application/octet-stream")]
    if chunked:
        data = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        data = body
        headers.append(("Content-Length", str(len(body))))
    resp = raw_exchange(srv, build_request("POST", "/input?ops=" + ops, headers=headers,
                                           body=data))
    assert resp.status == 200, resp
    return json.loads(resp.body)


def lines(data):
    out, rest = [], data
    while rest:
        i = rest.find(b"\n")
        cut = len(rest) if i < 0 else i + 1
        out.append(rest[:cut])
        rest = rest[cut:]
    return out


@pytest.mark.parametrize("spool", [False, True], ids=["memory", "spooled"])
def test_input_stream(server, variant, spool):
    args = ["--body-spool-threshold", "0"] if spool else []
    srv = start(server, variant, *args)
    h = lambda b: b.hex()
    for chunked in (False, True):
        assert input_ops(srv, "read:5,read:0,read:100000,read:10", chunked=chunked) == [
            h(BODY[:5]), "", h(BODY[5:]), ""]
        assert input_ops(srv, "readline,readline:4,readline,readline", chunked=chunked) == [
            h(b"first line\n"), h(b"seco"), h(b"nd line\n"), h(b"\n")]
        assert input_ops(srv, "readlines", chunked=chunked) == [[h(x) for x in lines(BODY)]]
        assert input_ops(srv, "readlines:12", chunked=chunked) == [
            [h(b"first line\n"), h(b"second line\n")]]
        assert input_ops(srv, "read:6,iter", chunked=chunked) == [
            h(BODY[:6]), [h(x) for x in lines(BODY[6:])]]
    assert input_ops(srv, "read:10,readline,readlines", body=b"") == ["", "", []]
    if variant.endswith(":app"):  # the validator insists on read(size)
        assert input_ops(srv, "read,read") == [h(BODY), ""]
    assert_validator_quiet(srv)


@pytest.mark.parametrize("threshold", ["0", "1000", "1048576"])
def test_upload_integrity(server, variant, threshold):
    srv = start(server, variant, "--body-spool-threshold", threshold)
    body = os.urandom(3 * MiB + 17)
    want = f"{hashlib.sha256(body).hexdigest()} {len(body)}".encode()
    resp = srv.request("POST", "/sha256", body=body)
    assert (resp.status, resp.body) == (200, want)
    # chunked, in uneven pieces
    sock = srv.connect()
    sock.sendall(b"POST /sha256 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    for i in range(0, len(body), 100003):
        piece = body[i:i + 100003]
        sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
    sock.sendall(b"0\r\n\r\n")
    resp = read_response(sock.makefile("rb"))
    sock.close()
    assert (resp.status, resp.body) == (200, want)
    # Expect: 100-continue, answered before the body is sent
    sock = srv.connect()
    sock.sendall(b"POST /sha256 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body))
    rfile = sock.makefile("rb")
    interim = read_response(rfile)
    assert interim.status == 100
    sock.sendall(body)
    resp = read_response(rfile)
    sock.close()
    assert (resp.status, resp.body) == (200, want)
    # keep-alive after a spooled body: the next request on the connection is fine
    (a, b), sock, _ = srv.raw(build_request("POST", "/echo", body=b"x" * 5000)
                             + build_request("GET", "/pid"), count=2)
    sock.close()
    assert a.body == b"x" * 5000 and b.status == 200
    assert_validator_quiet(srv)


def test_spool_dir_is_used_and_left_clean(server, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    srv = start(server, "wsgi_pep3333:app", "--body-spool-threshold", "0",
                "--tmp-upload-dir", str(spool))
    body = os.urandom(MiB)
    resp = srv.request("POST", "/sha256", body=body)
    assert resp.body.split()[0].decode() == hashlib.sha256(body).hexdigest()
    assert list(spool.iterdir()) == []   # O_TMPFILE: nothing with a name, ever


def test_limit_request_body(server, variant):
    srv = start(server, variant, "--limit-request-body", "1000")
    assert srv.request("POST", "/count", body=b"a" * 1000).body == b"1000"
    # a declared length over the limit: 413 at once, without reading the body
    sock = srv.connect()
    sock.sendall(b"POST /count HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000000\r\n\r\n")
    resp = read_response(sock.makefile("rb"))
    assert resp.status == 413
    assert (resp.header("Connection") or "").lower() == "close"
    sock.close()
    # Expect: 100-continue is not answered with 100 when the answer is 413
    sock = srv.connect()
    sock.sendall(b"POST /count HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                 b"Content-Length: 1001\r\n\r\n")
    resp = read_response(sock.makefile("rb"))
    assert resp.status == 413
    assert expect_eof(sock)
    sock.close()
    # chunked: when the running total passes the limit
    sock = srv.connect()
    sock.sendall(b"POST /count HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    sock.sendall(b"258\r\n" + b"b" * 600 + b"\r\n")
    sock.sendall(b"258\r\n" + b"b" * 600 + b"\r\n")
    resp = read_response(sock.makefile("rb"))
    assert resp.status == 413
    sock.close()
    # still serving
    assert srv.request("GET", "/pid").status == 200
    assert_validator_quiet(srv)


def test_body_timeout_is_a_gap_not_a_total(server):
    srv = start(server, "wsgi_pep3333:app", "--body-timeout", "1", "--header-timeout", "1",
                "--body-spool-threshold", "0")
    # a body that keeps coming, slower than the timeout in total but never pausing as long
    sock = srv.connect()
    sock.sendall(b"POST /count HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n")
    for b in b"abcde":
        time.sleep(0.4)
        sock.sendall(bytes([b]))
    resp = read_response(sock.makefile("rb"))
    sock.close()
    assert (resp.status, resp.body) == (200, b"5")
    # a body that stops: 408 after the gap
    sock = srv.connect()
    started = time.monotonic()
    sock.sendall(b"POST /count HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab")
    resp = read_response(sock.makefile("rb"))
    sock.close()
    assert resp.status == 408
    assert 0.9 <= time.monotonic() - started < 3
    # headers that stop
    sock = srv.connect()
    sock.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\n")
    resp = read_response(sock.makefile("rb"))
    sock.close()
    assert resp.status == 408


# ---- responses ---------------------------------------------------------------------------

@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    data = os.urandom(5 * MiB + 123)
    path.write_bytes(data)
    return path, data


def test_file_wrapper(server, variant, data_file):
    path, data = data_file
    srv = start(server, variant)
    plain = variant.endswith(":app")   # the validator hides the wrapper: it is iterated
    resp = srv.request("GET", f"/file?path={path}")
    assert resp.status == 200 and resp.body == data
    if plain:
        assert resp.header("Content-Length") == str(len(data))
    # from the file object's current position
    resp = srv.request("GET", f"/file?path={path}&skip=1000")
    assert resp.body == data[1000:]
    # no further than the application's Content-Length
    resp = srv.request("GET", f"/file?path={path}&length=4096")
    assert resp.body == data[:4096]
    # HEAD: the length, not the bytes; the connection stays usable
    (head, get), sock, _ = srv.raw(build_request("HEAD", f"/file?path={path}")
                                   + build_request("GET", "/pid"), method=["HEAD", "GET"])
    sock.close()
    assert head.status == 200 and head.body == b"" and get.status == 200
    if plain:
        assert head.header("Content-Length") == str(len(data))
    # HTTP/1.0
    resp = raw_exchange(srv, build_request("GET", f"/file?path={path}&skip=5",
                                           version="HTTP/1.0"))
    assert resp.body == data[5:]
    # a wrapper around something without a descriptor is iterated
    resp = srv.request("GET", "/file-bytesio")
    assert resp.body == b"from-a-bytesio" * 3
    # Content-Length promised more than the file has: the connection closes short
    sock = srv.connect()
    sock.sendall(build_request("GET", f"/file?path={path}&length={len(data) + 10}"))
    rfile = sock.makefile("rb")
    with pytest.raises(AssertionError, match="connection closed after"):
        read_response(rfile)
    sock.close()
    assert_validator_quiet(srv)


def test_file_wrapper_bypasses_python(server, data_file):
    """The worker reads the file through the ring, not with read(2) from Python: its
    read(2) byte count (/proc/PID/io rchar) barely moves while 5 MB go out."""
    path, data = data_file
    srv = start(server, "wsgi_pep3333:app")
    (pid,) = srv.worker_pids()

    def rchar():
        with open(f"/proc/{pid}/io") as f:
            return int(next(line for line in f if line.startswith("rchar:")).split()[1])

    srv.request("GET", f"/file?path={path}&length=10")   # warm up imports
    before = rchar()
    resp = srv.request("GET", f"/file?path={path}")
    assert resp.body == data
    # the epoll engine sends file bodies with sendfile(2) in the worker, which rchar
    # counts as it counts Python's reads: there the measure cannot tell the two apart
    # (test_zerocopy.py watches its sendfile calls instead)
    if ENGINE != "epoll":
        assert rchar() - before < MiB, "the file went through read(2)"


def test_streamed_block_is_not_held_back(server, variant):
    """PEP 3333: a block goes out before the application is asked for the next one."""
    srv = start(server, variant)
    sock = srv.connect()
    started = time.monotonic()
    sock.sendall(build_request("GET", "/events?pause=1.5"))
    got = b""
    sock.settimeout(1.0)
    while b"data: first" not in got:
        part = sock.recv(4096)
        assert part, got
        got += part
    assert time.monotonic() - started < 1.0
    sock.settimeout(5)
    while not got.endswith(b"0\r\n\r\n"):
        part = sock.recv(4096)
        assert part, got
        got += part
    assert b"data: second" in got
    sock.close()
    assert_validator_quiet(srv)


def test_write_callable(server, variant):
    srv = start(server, variant)
    resp = srv.request("GET", "/write")
    assert (resp.status, resp.body) == (200, b"written-returned")
    assert_validator_quiet(srv)


def test_exc_info_replaces_unsent_headers(server, variant):
    srv = start(server, variant)
    resp = srv.request("GET", "/exc-info")
    assert resp.status == 503 and resp.body == b"error page"
    assert resp.header("X-Before") is None
    assert_validator_quiet(srv)


def test_exc_info_after_body_reraises_and_cuts_the_response(server, variant):
    srv = start(server, variant)
    sock = srv.connect()
    sock.sendall(build_request("GET", "/exc-info-late"))
    rfile = sock.makefile("rb")
    with pytest.raises((AssertionError, ConnectionClosed, ConnectionResetError)):
        read_response(rfile)   # a chunked body without its terminating chunk
    sock.close()
    assert wait_until(lambda: "KeyError: 'late-sentinel'" in srv.log(), 5), srv.log()
    assert "Error handling request GET /exc-info-late" in srv.log()
    assert srv.request("GET", "/pid").status == 200


def test_close_called_once(server, variant, tmp_path):
    srv = start(server, variant)
    mark = tmp_path / "closed"
    resp = srv.request("GET", f"/close-marker?mark={mark}")
    assert resp.body == b"ab"
    assert wait_until(mark.exists, 5)
    assert mark.read_text() == "closed\n"
    assert_validator_quiet(srv)


def test_close_called_when_client_leaves_mid_stream(server, variant, tmp_path):
    srv = start(server, variant)
    mark = tmp_path / "closed"
    sock = srv.connect()
    sock.sendall(build_request("GET", f"/slow-stream?mark={mark}"))
    assert sock.recv(65536)
    sock.close()
    assert wait_until(mark.exists, 5), srv.log()
    time.sleep(0.2)
    assert mark.read_text() == "closed\n"
    assert srv.request("GET", "/pid").status == 200
    assert_validator_quiet(srv)


def test_errors_give_500_and_worker_lives(server, variant):
    srv = start(server, variant)
    pid = int(srv.request("GET", "/pid").body)
    resp = srv.request("GET", "/raise")
    assert resp.status == 500 and b"sentinel" not in resp.body
    resp = srv.request("GET", "/raise-before-body")
    assert resp.status == 500
    # after the first chunk the status is out: the connection is cut instead
    sock = srv.connect()
    sock.sendall(build_request("GET", "/raise-in-iter"))
    with pytest.raises((AssertionError, ConnectionClosed, ConnectionResetError)):
        read_response(sock.makefile("rb"))
    sock.close()
    # close() raising after a complete response: logged, response intact
    resp = srv.request("GET", "/close-fails")
    assert (resp.status, resp.body) == (200, b"ok")
    # an invalid header never reaches the wire
    (resp,), sock, _ = srv.raw(build_request("GET", "/bad-header"))
    sock.close()
    assert resp.status == 500
    assert resp.header("Set-Cookie") is None and resp.header("X-Injected") is None
    log = wait_until(lambda: (lambda t: t if "close-failed-sentinel" in t else None)(srv.log()), 5)
    assert log, srv.log()
    for sentinel, line in (("app-raised-sentinel", "GET /raise"),
                           ("early-iter-sentinel", "GET /raise-before-body"),
                           ("iter-raised-sentinel", "GET /raise-in-iter"),
                           ("close-failed-sentinel", "GET /close-fails")):
        assert sentinel in log
        assert f"Error handling request {line}" in log
    assert "Traceback (most recent call last)" in log
    assert int(srv.request("GET", "/pid").body) == pid
    assert srv.worker_pids() == [pid]


def test_head_204_carry_no_body(server, variant):
    srv = start(server, variant)
    data = (build_request("HEAD", "/head-body") + build_request("GET", "/no-content")
            + build_request("GET", "/pid"))
    (head, nc, after), sock, _ = srv.raw(data, method=["HEAD", "GET", "GET"])
    sock.close()
    assert head.status == 200 and head.body == b""
    assert head.header("Content-Length") == str(len(b"body that HEAD must not carry"))
    assert nc.status == 204 and nc.body == b"" and nc.header("Content-Length") is None
    assert after.status == 200
    assert_validator_quiet(srv)


# ---- application loading ---------------------------------------------------------------

def test_env_setting(server):
    srv = start(server, "wsgi_pep3333:app", "-e", "UF_TEST_VAR=from-flag",
                "--env", "UF_OTHER=x=y")
    assert env_of(srv)["env_var"] == "from-flag"
    assert env_of(srv, "/env?var=UF_OTHER")["env_var"] == "x=y"


def test_preload_imports_once_in_the_master(server):
    srv = start(server, "wsgi_pep3333:app", "--preload", "-e", "UF_TEST_VAR=pre", workers=2)
    seen = set()
    for _ in range(20):
        env = env_of(srv)
        assert env["imported_in"] == srv.pid
        assert env["env_var"] == "pre"
        seen.add(env["pid"])
    assert srv.pid not in seen
    assert seen <= set(srv.worker_pids())
    # the workers serve after a failed request just the same
    assert srv.request("GET", "/raise").status == 500
    assert srv.request("GET", "/pid").status == 200


def test_preload_import_error_exits_once():
    r = run_binary(["-w", "3", "--preload", "broken_import:app"], timeout=20)
    assert r.returncode not in (0, None)
    out = r.stdout + r.stderr
    assert out.count("Traceback (most recent call last)") == 1, out
    assert "broken-import-sentinel" in out
    assert "Booting worker" not in out
