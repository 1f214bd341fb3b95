"""The uwsgi protocol (--protocol uwsgi, uwsgi:// binds, --uwsgi-allow-from) on the real binary.

Raw packets over TCP: the variables become the environ basic:app's /env shows (PATH_INFO as
sent, REQUEST_URI raw, HTTP_* headers, REMOTE_ADDR, SERVER_*, HTTPS and UWSGI_SCHEME as
wsgi.url_scheme, SCRIPT_NAME taken off PATH_INFO); the response is HTTP/1.0 with
Connection: close and the connection closes after it; a body (small, and one large enough
to be spooled) reaches wsgi.input; a packet split over many writes is served; malformed
packets (another modifier1, a block over the limit, a variable past the block, no method)
and peers outside the allow list are closed unanswered and logged; the health path is
answered from C; the access log names the packet's REMOTE_ADDR; a uwsgi:// bind speaks
uwsgi beside a plain HTTP one. Then real nginx (Debian's package, installed when missing
and apt can) with uwsgi_pass in front of a Flask application: a GET with a query, a POST
form and a 50 MB upload that arrives intact.
"""
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.request

import pytest

from conftest import APPS, connect, expect_eof, free_port, read_response, wait_until
from nginx_fixture import nginx, upstream  # noqa: F401 (nginx is a fixture)


def packet(variables, body=b"", modifier1=0):
    """A uwsgi request packet: header, variables block, body."""
    block = b""
    for key, value in variables:
        k, v = key.encode("latin-1"), value.encode("latin-1")
        block += struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
    return bytes([modifier1]) + struct.pack("<H", len(block)) + b"\0" + block + body


def nginx_vars(method="GET", uri="/env", path=None, query="", body=b"", extra=(), headers=()):
    """The variables nginx's uwsgi_params sends, then the request's headers."""
    path = uri.split("?", 1)[0] if path is None else path
    return [("QUERY_STRING", query), ("REQUEST_METHOD", method),
            ("CONTENT_TYPE", dict(headers).get("CONTENT_TYPE", "")),
            ("CONTENT_LENGTH", str(len(body)) if body else ""),
            ("REQUEST_URI", uri), ("PATH_INFO", path), ("DOCUMENT_ROOT", "/srv/www"),
            ("SERVER_PROTOCOL", "HTTP/1.1"), ("REQUEST_SCHEME", "http"),
            ("REMOTE_ADDR", "203.0.113.7"), ("REMOTE_PORT", "40123"),
            ("SERVER_PORT", "8080"), ("SERVER_NAME", "app.example"),
            ("HTTP_HOST", "app.example:8080"), *extra,
            *[(k, v) for k, v in headers if k.startswith("HTTP_")]]


def exchange(port, data, pieces=1):
    """Sends data (in `pieces` writes) on a new connection; returns the response and
    whether the server closed the connection after it."""
    with connect(port) as s:
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            s.sendall(data[i:i + step])
            if pieces > 1:
                time.sleep(0.002)
        rfile = s.makefile("rb")
        resp = read_response(rfile)
        closed = rfile.read() == b""
        return resp, closed


def env_of(port, **kw):
    resp, closed = exchange(port, packet(nginx_vars(**kw)))
    assert resp.status == 200, resp
    assert closed
    return json.loads(resp.body)


def start_uwsgi(server, app="basic:app", args=(), **kw):
    srv = server(app, args=("--protocol", "uwsgi", *args), probe=None, **kw)
    # ready when a request is answered (the HTTP probe would be a malformed packet)
    deadline = time.monotonic() + 20
    while True:
        try:
            exchange(srv.port, packet(nginx_vars(uri="/")))
            break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the uwsgi server did not answer"
        time.sleep(0.05)
    srv.wait_workers()
    return srv


@pytest.fixture
def uw(server):
    return start_uwsgi(server)


def test_environ_from_the_variables(uw):
    env = env_of(uw.port, uri="/env/a%20b?x=1&y=%20", path="/env/a b", query="x=1&y=%20",
                 headers=[("HTTP_X_CUSTOM", "yes"), ("HTTP_USER_AGENT", "t/1")])
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/env/a b"  # as nginx sent it: decoded, not decoded again
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["SERVER_NAME"] == "app.example" and env["SERVER_PORT"] == "8080"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    assert env["HTTP_HOST"] == "app.example:8080" and env["HTTP_X_CUSTOM"] == "yes"
    assert env["wsgi.url_scheme"] == "http"
    assert "CONTENT_TYPE" not in env and "CONTENT_LENGTH" not in env  # sent empty
    assert env["SCRIPT_NAME"] == ""


def test_scheme_and_script_name(uw):
    assert env_of(uw.port, extra=[("HTTPS", "on")])["wsgi.url_scheme"] == "https"
    assert env_of(uw.port, extra=[("UWSGI_SCHEME", "https")])["wsgi.url_scheme"] == "https"
    env = env_of(uw.port, uri="/mount/env", extra=[("SCRIPT_NAME", "/mount")])
    assert env["SCRIPT_NAME"] == "/mount" and env["PATH_INFO"] == "/env"


def test_a_packet_in_many_writes_and_http10_close(uw):
    resp, closed = exchange(uw.port, packet(nginx_vars(uri="/env")), pieces=40)
    assert resp.status == 200 and closed
    assert resp.version == "HTTP/1.0"
    assert resp.header("Connection").lower() == "close"
    assert resp.header("Transfer-Encoding") is None


def test_post_bodies(server):
    srv = start_uwsgi(server, args=("--body-spool-threshold", "65536"))
    for size in (5, 3 * 1024 * 1024):  # in memory, then spooled to a file
        body = os.urandom(size)
        resp, closed = exchange(srv.port, packet(nginx_vars(method="POST", uri="/echo",
                                                            body=body), body))
        assert resp.status == 200, resp
        assert resp.body == body and closed


def test_body_over_the_limit_is_413(server):
    srv = start_uwsgi(server, args=("--limit-request-body", "100"))
    body = b"x" * 101
    resp, _ = exchange(srv.port, packet(nginx_vars(method="POST", uri="/echo", body=body), body))
    assert resp.status == 413


MALFORMED = {
    "modifier1": packet(nginx_vars(), modifier1=5),
    "block over the limit": b"\0\xff\xff\0" + b"\x01" * 65535,
    "value past the block": b"\0\x08\0\0\x01\0K\xff\x00abc",
    "no method": packet([("REQUEST_URI", "/env")]),
}


@pytest.mark.parametrize("what", sorted(MALFORMED))
def test_malformed_packets_are_closed_and_logged(server, what):
    srv = start_uwsgi(server, args=("--limit-request-head", "8192"))
    with connect(srv.port) as s:
        s.sendall(MALFORMED[what])
        expect_eof(s)
    wait_until(lambda: "uwsgi protocol: connection from 127.0.0.1" in srv.log(), 5)
    # the worker lives on
    assert env_of(srv.port)["REQUEST_METHOD"] == "GET"


def test_peers_outside_the_allow_list_are_refused(server):
    srv = server("basic:app", args=("--protocol", "uwsgi", "--uwsgi-allow-from", "10.9.9.9"),
                 probe=None)
    with connect(srv.port) as s:
        s.sendall(packet(nginx_vars()))
        expect_eof(s)
    wait_until(lambda: "not in --uwsgi-allow-from" in srv.log(), 5)


def test_health_path_answered_in_c(server):
    srv = start_uwsgi(server, args=("--health-path", "/healthz"))
    resp, closed = exchange(srv.port, packet(nginx_vars(uri="/healthz")))
    assert resp.status == 200 and closed


def test_access_log_names_the_client(server, tmp_path):
    log = tmp_path / "access.log"
    srv = start_uwsgi(server, args=("--access-logfile", str(log)))
    env_of(srv.port, uri="/env?z=1", query="z=1")
    wait_until(lambda: log.exists() and "203.0.113.7" in log.read_text(), 5)
    line = [l for l in log.read_text().splitlines() if "/env?z=1" in l][-1]
    assert line.startswith("203.0.113.7 ") and '"GET /env?z=1 HTTP/1.1" 200' in line


def test_uwsgi_bind_beside_an_http_bind(server):
    port = free_port()
    srv = server("basic:app", args=("-b", f"uwsgi://127.0.0.1:{port}"))  # probes HTTP
    assert srv.request("GET", "/").status == 200
    deadline = time.monotonic() + 10
    while True:
        try:
            env = env_of(port)
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    assert f"Listening at: uwsgi://127.0.0.1:{port} " in srv.log()
    assert f"Listening at: http://127.0.0.1:{srv.port} " in srv.log()


# ---- real nginx in front ---------------------------------------------------------------

@pytest.fixture
def nginx_in_front(server, nginx):
    """Flask (apps/upload_flask.py) on --protocol uwsgi behind nginx's uwsgi_pass, which
    keeps no upstream connection alive (nginx_fixture.py starts and stops it)."""
    srv = start_uwsgi(server, app="upload_flask:app", args=("-w", "2"))
    ngx = nginx(upstream([f"127.0.0.1:{srv.port}"], keepalive=0),
                "            include uwsgi_params;\n            uwsgi_pass app;\n")
    return ngx.url("").rstrip("/"), srv


def test_flask_behind_nginx_uwsgi_pass(nginx_in_front):
    base, srv = nginx_in_front
    with urllib.request.urlopen(f"{base}/q?a=1&b=two%20words&a=3", timeout=10) as r:
        got = json.load(r)
    assert got["args"] == {"a": ["1", "3"], "b": ["two words"]}
    assert got["path"] == "/q" and got["scheme"] == "http" and got["remote"] == "127.0.0.1"
    form = b"name=J%C3%BCrgen&n=1&n=2"
    req = urllib.request.Request(f"{base}/form", data=form, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.load(r)["form"] == {"name": ["J\u00fcrgen"], "n": ["1", "2"]}
    body = os.urandom(50 * 1024 * 1024)
    req = urllib.request.Request(f"{base}/upload", data=body, method="POST",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=120) as r:
        got = json.load(r)
    assert got == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_requests_shared_between_workers_stay_uwsgi(server):
    """Busy workers pass requests on (work sharing): the bytes that travel are the packet,
    and the sibling reads them as one, with the same environ."""
    import concurrent.futures
    srv = start_uwsgi(server, args=("-w", "2"))
    slow = packet(nginx_vars(uri="/slow?s=0.5", path="/slow", query="s=0.5"))

    def one(i):
        if i % 3 == 0:
            return exchange(srv.port, slow)[0].status, None
        env = env_of(srv.port, uri=f"/env?i={i}", query=f"i={i}")
        return 200, env

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(one, range(24)))
    assert all(status == 200 for status, _ in results)
    envs = [env for _, env in results if env]
    assert all(env["REMOTE_ADDR"] == "203.0.113.7" and env["PATH_INFO"] == "/env" for env in envs)
    assert sorted(int(env["QUERY_STRING"][2:]) for env in envs) == [i for i in range(24) if i % 3]
