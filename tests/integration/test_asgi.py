"""ASGI workers through the real binary, with raw ASGI applications (apps/asgi_raw.py):
choosing the interface, the scope, receive/send, keep-alive and pipelining.
"""
import json

import pytest

from conftest import build_request, read_response, run_binary

APP = "asgi_raw:app"


# ---- choosing the interface ---------------------------------------------------------------

def test_auto_detects_asgi_and_says_so(server):
    srv = server(APP)
    r = srv.request("GET", "/")
    assert r.status == 200 and r.body == b"Hello, ASGI!\n"
    assert r.header("Content-Length") == "13"
    assert r.header("Content-Type") == "text/plain"
    log = srv.log()
    assert "Interface: ASGI 3 (auto-detected)" in log
    assert "ASGI lifespan: startup complete" in log


@pytest.mark.parametrize("spelling", ["asgi", "uvicorn.workers.UvicornWorker",
                                      "uvicorn_worker.UvicornWorker"])
def test_worker_class_spellings(server, spelling):
    srv = server(APP, args=["-k", spelling, "--lifespan", "off"])
    assert srv.request("GET", "/").body == b"Hello, ASGI!\n"
    assert "ASGI lifespan" not in srv.log()


def test_wsgi_stays_wsgi_and_asgi2_is_wrapped(server):
    assert server("asgi_raw:wsgi_app").request("GET", "/").body == b"wsgi\n"
    srv = server("asgi_raw:Asgi2App")
    assert srv.request("GET", "/x").body == b"asgi2 /x"
    assert "Interface: ASGI 2, called as ASGI 3" in srv.log()


def test_bad_worker_class_and_contradiction_are_refused():
    res = run_binary(["-k", "gevent", APP])
    assert res.returncode == 2 and "--worker-class" in res.stderr and "gevent" in res.stderr
    res = run_binary(["-k", "asgi", "--interface", "wsgi", APP])
    assert res.returncode == 2 and "contradicts" in res.stderr
    res = run_binary(["--loop", "tokio", APP])
    assert res.returncode == 2 and "--loop" in res.stderr


# ---- the scope ----------------------------------------------------------------------------

def test_scope(server):
    srv = server(APP, workers=1)
    sock = srv.connect()
    sock.sendall(b"GET /scope/caf%C3%A9?a=1&b=%20 HTTP/1.1\r\nHost: example.com\r\n"
                 b"X-Twice: one\r\nX-TWICE: two\r\nUser-Agent: t\r\n\r\n")
    resp = read_response(sock.makefile("rb"))
    s = json.loads(resp.body)
    assert s["type"] == "http"
    assert s["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert s["http_version"] == "1.1" and s["method"] == "GET" and s["scheme"] == "http"
    assert s["path"] == "/scope/café"
    assert s["raw_path"] == "/scope/caf%C3%A9"
    assert s["query_string"] == "a=1&b=%20"
    assert s["root_path"] == ""
    assert s["headers"] == [["host", "example.com"], ["x-twice", "one"], ["x-twice", "two"],
                            ["user-agent", "t"]]
    assert s["client"][0] == "127.0.0.1" and s["client"][1] == sock.getsockname()[1]
    assert s["server"] == ["127.0.0.1", srv.port]
    assert s["extensions"] == {} or "http.response.pathsend" in s["extensions"]
    # lifespan's state, shallow-copied into every scope
    assert s["state"]["started_by"] in srv.worker_pids()
    assert s["state"]["items"] == ["shared"]
    sock.close()


def test_scope_http10_root_path_and_trusted_scheme(server):
    srv = server(APP, args=["--root-path", "/api"])
    (resp,), sock, _ = srv.raw(b"GET /api/scope HTTP/1.0\r\n\r\n")
    s = json.loads(resp.body)
    assert s["http_version"] == "1.0" and s["root_path"] == "/api"
    assert s["path"] == "/api/scope" and s["raw_path"] == "/api/scope"
    sock.close()
    # a proxy that strips the prefix: it is put back in front
    s = srv.request("GET", "/scope", headers={"X-Forwarded-Proto": "https"}).json()
    assert s["path"] == "/api/scope" and s["raw_path"] == "/api/scope"
    assert s["scheme"] == "https"  # 127.0.0.1 is trusted by default


# ---- keep-alive, pipelining, HEAD -----------------------------------------------------------

def test_keepalive_pipelining_and_head(server):
    srv = server(APP)
    reqs = (build_request("GET", "/") + build_request("POST", "/echo", body=b"hello")
            + build_request("HEAD", "/head") + build_request("GET", "/stream", body=b""))
    resps, sock, rfile = srv.raw(reqs, method=["GET", "POST", "HEAD", "GET"])
    assert [r.status for r in resps] == [200, 200, 200, 200]
    assert resps[0].body == b"Hello, ASGI!\n"
    assert resps[1].body == b"hello"
    assert resps[2].body == b"" and resps[2].header("Content-Length") == "14"
    assert resps[3].chunked and resps[3].body == b"".join(b"chunk %d\n" % i for i in range(5))
    # the connection is still usable
    sock.sendall(build_request("GET", "/"))
    assert read_response(rfile).body == b"Hello, ASGI!\n"
    sock.close()
