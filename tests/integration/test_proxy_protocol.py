"""PROXY protocol v1 and v2 (--proxy-protocol, --proxy-allow-from) on the real binary.

Raw headers over TCP: the application sees the header's source as REMOTE_ADDR/REMOTE_PORT
and its destination as SERVER_NAME/SERVER_PORT, the access log's %(h)s is the client, the
v2 SSL TLV makes wsgi.url_scheme https, LOCAL / UNKNOWN / UNSPEC keep the socket's
addresses; a header split over many writes, one sent with its request in the same write,
and requests pipelined after it are all served; a connection without a header, with a
malformed one, from outside the allow list, or whose header does not come within
--header-timeout is closed without an answer and logged. Then real HAProxy (Debian's
package, installed when missing and apt can) in front with send-proxy-v2 and send-proxy.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import build_request, connect, expect_eof, free_port, read_response
from debian_tools import debian_binary

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, dst, sport, dport, tlvs=b"", command=0x21):
    """A v2 PROXY header for TCP over IPv4 or IPv6 (by the source's spelling)."""
    if ":" in src:
        fam, block = 0x21, (socket.inet_pton(socket.AF_INET6, src)
                            + socket.inet_pton(socket.AF_INET6, dst))
    else:
        fam, block = 0x11, socket.inet_aton(src) + socket.inet_aton(dst)
    body = block + struct.pack(">HH", sport, dport) + tlvs
    return V2_SIG + bytes([command, fam]) + struct.pack(">H", len(body)) + body


def tlv(kind, value):
    return bytes([kind]) + struct.pack(">H", len(value)) + value


SSL_TLV = tlv(0x20, b"\x01" + b"\x00" * 4 + tlv(0x21, b"TLSv1.3"))


def env_request(extra=()):
    return build_request("GET", "/env", headers=extra)


def get_env(sock, rfile=None):
    rfile = rfile or sock.makefile("rb")
    resp = read_response(rfile)
    assert resp.status == 200, resp
    return json.loads(resp.body)


def env_through(srv, data):
    """The environ of the one request in data, sent on a new connection."""
    with connect(srv.port) as s:
        s.sendall(data)
        return get_env(s)


@pytest.fixture
def pp_server(server, tmp_path):
    """server(...) with --proxy-protocol and an access log of the client address."""
    def start(*args, mode="auto"):
        log = tmp_path / f"access-{len(os.listdir(tmp_path))}.log"
        srv = server("basic:app", probe=None,
                     args=("--proxy-protocol", mode, "--access-logfile", str(log),
                           "--access-logformat", "%(h)s %({REMOTE_PORT}e)s %(s)s", *args))
        srv.access_log = log
        return srv
    return start


def access_lines(srv, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if srv.access_log.exists():
            lines = srv.access_log.read_text().splitlines()
            if len(lines) >= n:
                return lines
        time.sleep(0.05)
    return srv.access_log.read_text().splitlines() if srv.access_log.exists() else []


def wait_log(srv, text, timeout=5.0):
    deadline = time.monotonic() + timeout
    while text not in srv.log():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_v1_tcp4_sets_client_and_destination(pp_server):
    srv = pp_server()
    env = env_through(srv, b"PROXY TCP4 203.0.113.7 198.51.100.2 5555 8443\r\n" + env_request())
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    assert env["SERVER_NAME"] == "198.51.100.2"
    assert env["SERVER_PORT"] == "8443"
    assert env["wsgi.url_scheme"] == "http"
    assert access_lines(srv, 1) == ["203.0.113.7 5555 200"]


def test_v1_tcp6_and_unknown(pp_server):
    srv = pp_server()
    env = env_through(srv, b"PROXY TCP6 2001:db8::5 2001:db8::1 40000 443\r\n" + env_request())
    assert env["REMOTE_ADDR"] == "2001:db8::5"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("2001:db8::1", "443")
    env = env_through(srv, b"PROXY UNKNOWN\r\n" + env_request())  # UNKNOWN: the socket's own addresses
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", str(srv.port))


def test_v2_inet_inet6_and_ssl_tlv(pp_server):
    srv = pp_server()
    env = env_through(srv, v2_header("192.0.2.44", "10.0.0.1", 1234, 80) + env_request())
    assert (env["REMOTE_ADDR"], env["SERVER_NAME"], env["SERVER_PORT"]) == \
        ("192.0.2.44", "10.0.0.1", "80")
    assert env["wsgi.url_scheme"] == "http"
    env = env_through(srv, v2_header("2001:db8::9", "2001:db8::1", 1, 443, SSL_TLV) + env_request())
    assert env["REMOTE_ADDR"] == "2001:db8::9"
    assert env["wsgi.url_scheme"] == "https"
    # the client bit clear: TLS was not the client's
    no_ssl = tlv(0x20, b"\x00" + b"\x00" * 4)
    assert env_through(srv, v2_header("192.0.2.45", "10.0.0.1", 1, 443, no_ssl) + env_request())["wsgi.url_scheme"] == "http"


def test_v2_local_and_unspec_keep_socket_addresses(pp_server):
    srv = pp_server()
    local = V2_SIG + bytes([0x20, 0x00]) + struct.pack(">H", 0)
    unspec = V2_SIG + bytes([0x21, 0x00]) + struct.pack(">H", 0)
    for header in (local, unspec):
        env = env_through(srv, header + env_request())
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert env["SERVER_PORT"] == str(srv.port)


def test_header_split_over_many_writes(pp_server):
    srv = pp_server()
    for header in (b"PROXY TCP4 203.0.113.8 198.51.100.2 5555 443\r\n",
                   v2_header("203.0.113.9", "198.51.100.2", 5555, 443, SSL_TLV)):
        with connect(srv.port) as s:
            for i in range(len(header)):
                s.sendall(header[i:i + 1])
                time.sleep(0.002)
            s.sendall(env_request())
            env = get_env(s)
        assert env["REMOTE_ADDR"] in ("203.0.113.8", "203.0.113.9")


def test_pipelined_requests_after_the_header(pp_server):
    srv = pp_server()
    with connect(srv.port) as s:
        s.sendall(v2_header("198.18.0.1", "198.51.100.2", 9, 443) + env_request() * 3)
        rfile = s.makefile("rb")
        envs = [get_env(s, rfile) for _ in range(3)]
        # keep-alive: a later request on the connection keeps the header's client
        s.sendall(env_request())
        envs.append(get_env(s, rfile))
    assert [e["REMOTE_ADDR"] for e in envs] == ["198.18.0.1"] * 4
    assert access_lines(srv, 4) == ["198.18.0.1 9 200"] * 4


def test_forwarded_trust_is_decided_on_the_proxy(pp_server):
    """--forwarded-allow-ips is matched against the socket's peer (the proxy), as gunicorn
    does, not against the client the header names."""
    srv = pp_server()
    with connect(srv.port) as s:
        s.sendall(b"PROXY TCP4 203.0.113.7 198.51.100.2 5555 80\r\n"
                  + env_request([("X-Forwarded-Proto", "https")]))
        assert get_env(s)["wsgi.url_scheme"] == "https"


def test_missing_or_malformed_header_closes(pp_server):
    srv = pp_server()
    bad = [
        env_request(),  # plain HTTP from a proxy that should have sent a header
        b"PROXY TCP4 203.0.113.7 198.51.100.2 5555\r\n" + env_request(),
        b"PROXY TCP4 203.0.113.7 198.51.100.2 5555 443\n" + env_request(),
        b"PROXY TCP4 203.0.113.7 198.51.100.2 5555 65536\r\n" + env_request(),
        V2_SIG + bytes([0x31, 0x11]) + struct.pack(">H", 12) + b"\x00" * 12,
        v2_header("192.0.2.1", "192.0.2.2", 1, 2, b"\x20\x00\x09\x01"),
        b"PROXY UNKNOWN " + b"x" * 200,
    ]
    for data in bad:
        with connect(srv.port) as s:
            s.sendall(data)
            assert expect_eof(s), data
    assert wait_log(srv, "PROXY protocol: connection from 127.0.0.1 port")
    assert "not a PROXY protocol header" in srv.log()
    # the server goes on serving
    assert env_through(srv, b"PROXY TCP4 203.0.113.7 198.51.100.2 5555 443\r\n" + env_request())["REMOTE_ADDR"] == "203.0.113.7"


def test_one_version_only(pp_server):
    v1 = b"PROXY TCP4 203.0.113.7 198.51.100.2 5555 443\r\n"
    v2 = v2_header("203.0.113.7", "198.51.100.2", 5555, 443)
    for mode, good, wrong in (("v1", v1, v2), ("v2", v2, v1)):
        srv = pp_server(mode=mode)
        assert env_through(srv, good + env_request())["REMOTE_ADDR"] == "203.0.113.7"
        with connect(srv.port) as s:
            s.sendall(wrong + env_request())
            assert expect_eof(s)
        assert wait_log(srv, f"not a PROXY protocol {mode} header")
        srv.stop()


def test_source_outside_allow_list_is_refused(pp_server):
    srv = pp_server("--proxy-allow-from", "10.9.9.9,2001:db8::/32")
    with connect(srv.port) as s:
        s.sendall(b"PROXY TCP4 203.0.113.7 198.51.100.2 5555 443\r\n" + env_request())
        assert expect_eof(s)
    with connect(srv.port) as s:  # plain HTTP is not served either
        s.sendall(env_request())
        assert expect_eof(s)
    assert wait_log(srv, "refused: not in --proxy-allow-from")


def test_header_timeout_closes(pp_server):
    srv = pp_server("--header-timeout", "1")
    with connect(srv.port) as s:
        s.sendall(b"PROXY TCP4 203.0.113.7 ")
        start = time.monotonic()
        assert expect_eof(s, timeout=6.0)
        assert time.monotonic() - start < 5.0
    with connect(srv.port) as s:  # nothing at all: the same
        assert expect_eof(s, timeout=6.0)


def test_off_by_default_and_bare_flag(server):
    srv = server("basic:app")
    with connect(srv.port) as s:  # off: a PROXY line is a bad request line
        s.sendall(b"PROXY TCP4 203.0.113.7 198.51.100.2 5555 443\r\n" + env_request())
        assert read_response(s.makefile("rb")).status == 400
    srv2 = server("basic:app", probe=None, args=("--proxy-protocol",))
    assert env_through(srv2, v2_header("203.0.113.7", "198.51.100.2", 5555, 443) + env_request())["REMOTE_ADDR"] == "203.0.113.7"


# ---- real HAProxy in front -------------------------------------------------------------

def haproxy_binary():
    return debian_binary("/usr/sbin/haproxy", ("haproxy",))


def test_behind_haproxy(pp_server, tmp_path):
    binary = haproxy_binary()
    srv = pp_server()
    p_v2, p_v1 = free_port(), free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(f"""
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend v2
    bind 127.0.0.1:{p_v2}
    default_backend app_v2
frontend v1
    bind 127.0.0.1:{p_v1}
    default_backend app_v1
backend app_v2
    server s 127.0.0.1:{srv.port} send-proxy-v2 proxy-v2-options crc32c
backend app_v1
    server s 127.0.0.1:{srv.port} send-proxy
""")
    check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    hap = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for port in (p_v2, p_v1):
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "haproxy did not listen"
                    time.sleep(0.05)
        client_ports = []
        for port in (p_v2, p_v1):
            # the client comes from 127.0.0.2: HAProxy's own address is 127.0.0.1
            s = socket.socket()
            s.settimeout(10)
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            with s:
                client_ports.append(s.getsockname()[1])
                s.sendall(env_request() * 2)
                rfile = s.makefile("rb")
                envs = [get_env(s, rfile), get_env(s, rfile)]
            for env in envs:
                assert env["REMOTE_ADDR"] == "127.0.0.2"
                assert env["SERVER_PORT"] == str(port)
        # a direct connection without the header, from the allowed 127.0.0.1, is closed
        with connect(srv.port) as s:
            s.sendall(env_request())
            assert expect_eof(s)
        assert access_lines(srv, 4)[:4] == [f"127.0.0.2 {p} 200" for p in client_ports
                                            for _ in range(2)]
    finally:
        os.killpg(hap.pid, 15)
        hap.wait(timeout=10)


def test_work_sharing_hands_off_with_the_header(server, tmp_path):
    """A request on a proxied keep-alive connection of a busy worker goes to the idle one,
    which reads the header that travels ahead of it: the client address is still the
    header's, as the access log of the other worker shows."""
    log = tmp_path / "access.log"
    srv = server("basic:app", workers=2, probe=None,
                 args=("--proxy-protocol", "v2", "--access-logfile", str(log),
                       "--access-logformat", "%(h)s %(p)s %(U)s"))
    srv.wait_workers(2)

    def proxied(src):
        s = connect(srv.port)
        s.sendall(v2_header(src, "10.0.0.1", 40000, 443) + build_request("GET", "/pid"))
        rfile = s.makefile("rb")
        return s, rfile, int(read_response(rfile).body)

    busy = None
    conns = []
    for i in range(60):  # two keep-alive connections that landed on the same worker
        s, rfile, pid = proxied(f"203.0.113.{i + 1}")
        conns.append((s, rfile, pid, f"203.0.113.{i + 1}"))
        same = [c for c in conns if c[2] == pid]
        if len(same) == 2:
            busy = pid
            break
    assert busy, "no two connections landed on one worker"
    (slow, slow_rfile, _, _), (other, other_rfile, _, client) = same
    slow.sendall(build_request("GET", "/slow?s=1.5"))
    time.sleep(0.3)  # the slow request is in the application now
    started = time.monotonic()
    other.sendall(build_request("GET", "/pid"))
    served_by = int(read_response(other_rfile).body)
    assert time.monotonic() - started < 1.0
    assert served_by != busy
    assert read_response(slow_rfile).status == 200
    lines = access_lines_of(log, f"{client} <{served_by}> /pid")  # %(p)s is "<pid>"
    assert lines, log.read_text()
    for s, *_ in conns:
        s.close()


def access_lines_of(log, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists():
            found = [l for l in log.read_text().splitlines() if l == want]
            if found:
                return found
        time.sleep(0.05)
    return []
