"""Real ASGI frameworks from PyPI, unmodified, through the real binary: FastAPI (JSON,
path and query parameters, validation errors, StreamingResponse, FileResponse,
background tasks, a dependency with yield, lifespan state, a WebSocket endpoint), Django's
get_asgi_application
and Quart; uvloop as the loop; pipelining; HUP under load with no failed request.

The frameworks live in a second virtualenv (asgi_venv.py), made once under .deps/.
"""
import hashlib
import json
import os

import pytest

from asgi_venv import asgi_venv
from conftest import build_request, wait_until
from test_asgi import hup_under_load, rchar


@pytest.fixture(scope="module")
def venv():
    return str(asgi_venv())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("asgi-files")
    data = os.urandom(1 << 20)
    (d / "one.bin").write_bytes(data)
    return d, hashlib.sha256(data).hexdigest()


def fastapi_server(server, venv, files, marker, *args, **kw):
    return server("asgi_fastapi:app", args=["--virtualenv", venv, "-e", f"MARKER={marker}",
                                            "-e", f"FILES_DIR={files[0]}", *args], **kw)


def test_fastapi_websocket(server, venv, files, tmp_path):
    websockets = pytest.importorskip("websockets")
    from websockets.sync.client import connect

    marker = tmp_path / "marker"
    srv = fastapi_server(server, venv, files, marker)
    url = srv.url("/ws/lobby").replace("http", "ws")
    with connect(url, subprotocols=["json.v1"]) as ws:
        assert ws.subprotocol == "json.v1"
        assert ws.recv() == "welcome to lobby"
        for i in range(50):
            ws.send(json.dumps({"n": i, "text": "é" * i}))
            assert json.loads(ws.recv()) == {"room": "lobby", "n": i, "text": "é" * i}
        ws.close(4321)
    assert wait_until(lambda: marker.exists() and "ws closed 4321" in marker.read_text(), 5)
    # a path FastAPI has no websocket route for: Starlette closes before accept, 403
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        connect(srv.url("/nowhere").replace("http", "ws"))
    assert e.value.response.status_code == 403


def test_fastapi(server, venv, files, tmp_path):
    marker = tmp_path / "marker"
    srv = fastapi_server(server, venv, files, marker)
    assert srv.request("GET", "/").json() == {"hello": "world"}
    assert srv.request("GET", "/plain").body == b"Hello, FastAPI!"
    assert srv.request("GET", "/items/42?q=x").json() == {"item_id": 42, "q": "x"}
    r = srv.request("GET", "/items/forty-two")
    assert r.status == 422 and r.json()["detail"][0]["loc"] == ["path", "item_id"]
    body = json.dumps({"name": "pen", "price": 1.5, "tags": ["a"]})
    r = srv.request("POST", "/items", body=body, headers={"Content-Type": "application/json"})
    assert r.json() == {"name": "pen", "double": 3.0, "tags": ["a"]}
    r = srv.request("POST", "/items", body=json.dumps({"name": 1}),
                    headers={"Content-Type": "application/json"})
    assert r.status == 422 and any(e["loc"] == ["body", "price"] for e in r.json()["detail"])
    r = srv.request("GET", "/stream")
    assert r.body == b"".join(b"line %d\n" % i for i in range(10))
    (pid,) = srv.wait_workers()
    srv.request("GET", "/file/one.bin")  # (the first one imports what FileResponse needs)
    before = rchar(pid)
    r = srv.request("GET", "/file/one.bin")
    assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == files[1]
    assert r.header("Content-Length") == str(1 << 20)
    if "over the io_uring engine" in srv.log():
        # Starlette saw http.response.pathsend in the scope: the ring read the file, not
        # Python (which would read(2) all of its 1 MiB)
        assert rchar(pid) - before < 256 << 10
    assert srv.request("GET", "/sync").json() == {"sync": True}
    assert srv.request("GET", "/state").json()["started_by"] in srv.worker_pids()
    # background task: after the response; dependency with yield: teardown after it too
    assert srv.request("POST", "/background").json() == {"queued": True}
    assert srv.request("GET", "/dependency").json() == {"got": "the resource"}
    assert wait_until(lambda: marker.exists() and "dependency teardown" in marker.read_text()
                      and "background ran" in marker.read_text(), 5)
    lines = [ln for ln in marker.read_text().split("\n") if ln.startswith(("dep", "end"))]
    assert lines == ["dependency setup", "endpoint", "dependency teardown"]
    assert "Traceback" not in srv.log()


def test_fastapi_pipelined_on_uvloop(server, venv, files, tmp_path):
    srv = fastapi_server(server, venv, files, tmp_path / "m", "--loop", "uvloop")
    assert "event loop uvloop" in srv.log()
    n = 20
    resps, sock, _ = srv.raw(b"".join(build_request("GET", f"/items/{i}") for i in range(n)),
                             count=n)
    assert [json.loads(r.body)["item_id"] for r in resps] == list(range(n))
    sock.close()


def test_fastapi_hup_under_load_fails_nothing(server, venv, files, tmp_path):
    srv = fastapi_server(server, venv, files, tmp_path / "m", workers=2)
    ok, errors = hup_under_load(srv, 4, path="/plain")
    print(f"FastAPI HUP test: {ok} requests during 4 reloads, {len(errors)} failed")
    assert errors == [] and ok > 200, (ok, errors[:5])


def test_django_asgi(server, venv):
    srv = server("asgi_django.asgi:application", args=["--virtualenv", venv])
    assert "Interface: ASGI 3 (auto-detected)" in srv.log()
    assert "ASGI lifespan: not supported by the application" in srv.log()
    assert srv.request("GET", "/").json() == {"hello": "django", "path": "/", "scheme": "http"}
    assert srv.request("GET", "/sync").body == b"sync view\n"
    data = os.urandom(300_000)
    assert srv.request("POST", "/echo", body=data).body == data
    assert srv.request("GET", "/stream").body == b"".join(b"piece %d\n" % i for i in range(4))
    assert "Traceback" not in srv.log()


def test_quart(server, venv):
    srv = server("asgi_quart:app", args=["--virtualenv", venv])
    assert srv.request("GET", "/").body == b"Hello, Quart!"
    r = srv.request("POST", "/json", body=json.dumps({"a": [1, 2]}),
                    headers={"Content-Type": "application/json"})
    assert r.json() == {"echo": {"a": [1, 2]}, "method": "POST"}
    assert srv.request("GET", "/stream").body == b"part 0\npart 1\npart 2\n"
    assert srv.request("GET", "/user/ann?x=1").json() == {"user": "ann", "args": {"x": "1"}}
    assert "Traceback" not in srv.log()
