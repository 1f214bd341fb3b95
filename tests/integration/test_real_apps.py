"""Real applications: the bundled examples, Flask from PyPI, and binding to IPv6."""
import json
import socket

import pytest

from conftest import EXAMPLES, ROOT, VENV, build_request, free_port, ipv6_loopback_works


def test_flask_json(server):
    srv = server("flask_app:app", args=["--virtualenv", str(VENV)], probe="/api/items")
    resp = srv.request("GET", "/api/items")
    assert resp.status == 200
    assert resp.header("Content-Type") == "application/json"
    doc = resp.json()
    assert doc["items"] == [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}]
    assert doc["pid"] in srv.worker_pids()

    payload = {"numbers": [1, 2, 3, 4.5], "note": "caf\u00e9"}
    resp = srv.request("POST", "/api/sum", body=json.dumps(payload).encode(),
                       headers={"Content-Type": "application/json"})
    assert resp.status == 200
    assert resp.json() == {"sum": 10.5, "count": 4, "echo": payload}

    resp = srv.request("GET", "/api/missing")
    assert resp.status == 404 and resp.json() == {"error": "nope"}
    assert srv.request("GET", "/no/such/route").status == 404


def test_virtualenv_from_environment(server):
    srv = server("flask_app:app", env={"VIRTUAL_ENV": str(VENV)}, probe="/api/items")
    assert srv.request("GET", "/api/items").status == 200


def test_example_hello_with_chdir(server):
    # README's first command, run from the repository root.
    srv = server("hello:app", cwd=ROOT, pythonpath=False, args=["--chdir", str(EXAMPLES)])
    resp = srv.request("GET", "/")
    assert resp.status == 200
    assert resp.body == b"Hello, World!"
    assert resp.header("Content-Length") == "13"
    assert resp.header("Content-Type") == "text/plain"

    resp = srv.request("POST", "/echo", body=b"ping", headers={"Content-Type": "text/x-ping"})
    assert resp.body == b"ping" and resp.header("Content-Type") == "text/x-ping"

    (stream,), sock, _ = srv.raw(build_request("GET", "/stream"))
    sock.close()
    assert stream.chunked and stream.body == b"line 1\nline 2\nline 3\nline 4\nline 5\n"

    doc = srv.request("GET", "/json").json()
    assert doc["message"] == "Hello, World!"
    assert srv.request("GET", "/nope").status == 404


def test_example_flask_app(server):
    srv = server("flask_app:app", cwd=EXAMPLES, args=["--virtualenv", str(VENV)])
    assert srv.request("GET", "/").body.startswith(b"Hello from Flask")
    assert srv.request("GET", "/api/greet?name=Ada").json() == {"greeting": "Hello, Ada!"}
    resp = srv.request("POST", "/api/echo", body=b'{"a": [1, 2]}',
                       headers={"Content-Type": "application/json"})
    assert resp.json() == {"received": {"a": [1, 2]}}


@pytest.mark.skipif(not ipv6_loopback_works(), reason="this host cannot bind ::1")
def test_ipv6_bind(server):
    srv = server("basic:app", host="::1")
    resp = srv.request("GET", "/")
    assert resp.status == 200 and resp.body == b"Hello, World!"
    assert f"Listening at: http://[::1]:{srv.port}" in srv.log()
    env = srv.request("GET", "/env").json()
    assert env["REMOTE_ADDR"] == "::1"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


def test_two_binds(server):
    other = free_port()
    srv = server("basic:app", args=["-b", f"127.0.0.1:{other}"])
    assert srv.request("GET", "/").status == 200
    with socket.create_connection(("127.0.0.1", other), timeout=5) as s:
        s.settimeout(5)
        s.sendall(build_request("GET", "/", headers=[("Connection", "close")]))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"Hello, World!")
