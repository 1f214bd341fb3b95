"""ASGI workers through the real binary, with raw ASGI applications (apps/asgi_raw.py):
choosing the interface, the scope, receive/send, bodies both ways with backpressure,
100-continue, disconnects, the application's errors, --timeout, lifespan, drain and the
operational features an ASGI worker shares with WSGI ones.
"""
import json
import os
import re
import signal
import socket
import time

import pytest

from conftest import build_request, free_port, read_response, run_binary, wait_until

APP = "asgi_raw:app"


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- choosing the interface ---------------------------------------------------------------

def test_auto_detects_asgi_and_says_so(server):
    srv = server(APP)
    r = srv.request("GET", "/")
    assert r.status == 200 and r.body == b"Hello, ASGI!\n"
    assert r.header("Content-Length") == "13"
    assert r.header("Content-Type") == "text/plain"
    log = srv.log()
    assert "Interface: ASGI 3 (auto-detected) (work sharing does not apply" in log
    assert "ASGI lifespan: startup complete" in log


@pytest.mark.parametrize("spelling", ["asgi", "uvicorn.workers.UvicornWorker",
                                      "uvicorn_worker.UvicornWorker"])
def test_worker_class_spellings(server, spelling):
    srv = server(APP, args=["-k", spelling, "--lifespan", "off"])
    assert srv.request("GET", "/").body == b"Hello, ASGI!\n"
    log = srv.log()
    assert "ASGI lifespan" not in log
    # the master knows the interface: it shares nothing, and its banner says why
    assert "Work sharing: off (ASGI" in log and "Work sharing: on" not in log, log
    assert "work sharing does not apply" not in log


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


def test_each_request_is_a_named_task_or_the_applications_factorys(server):
    srv = server(APP, workers=1)
    got = [srv.request("GET", "/task").json() for _ in range(3)]
    names = [g["name"] for g in got]
    assert all(re.fullmatch(r"request-\d+", n) for n in names), names
    assert len(set(names)) == 3 and all(g["same"] for g in got), got
    assert {g["made_by"] for g in got} == {"asyncio"}
    srv = server("asgi_raw:factory_app", workers=1)
    got = srv.request("GET", "/task").json()
    assert got["made_by"] == "factory" and got["same"], got


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


# ---- request bodies ---------------------------------------------------------------------------

def test_bodies_chunked_and_large(server):
    srv = server(APP)
    assert srv.request("POST", "/echo", body=b"x" * 10).body == b"x" * 10
    big = os.urandom(3 << 20)
    r = srv.request("POST", "/echo", body=big)
    assert r.status == 200 and r.body == big
    assert int(r.header("x-messages")) >= 1
    chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    (resp,), sock, _ = srv.raw(build_request("POST", "/echo",
                                             headers=[("Transfer-Encoding", "chunked")],
                                             body=chunked), method="POST")
    assert resp.body == b"hello world"
    sock.close()


def test_upload_is_bounded_while_the_application_reads_slowly(server):
    srv = server(APP)
    (pid,) = srv.wait_workers()
    before = rss_kb(pid)
    size = 256 << 20
    sock = srv.connect(timeout=30)
    sock.sendall(f"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
    block = b"y" * (1 << 20)
    peak = 0
    for _ in range(size >> 20):
        sock.sendall(block)
        peak = max(peak, rss_kb(pid))
    resp = read_response(sock.makefile("rb"))
    assert resp.body == str(size).encode()
    # what waits unread is bounded (the body the receive took before it paused), and the
    # worker does not grow with the upload's size
    print(f"ASGI upload of 256 MB: the worker grew by {(peak - before) >> 10} MB")
    assert peak - before < 48 << 10, (before, peak)
    sock.close()


def test_expect_100_continue_when_the_application_reads(server):
    srv = server(APP)
    sock = srv.connect()
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 b"Expect: 100-continue\r\n\r\n")
    rfile = sock.makefile("rb")
    interim = read_response(rfile)
    assert interim.status == 100
    sock.sendall(b"hello")
    assert read_response(rfile).body == b"hello"
    sock.close()
    # an application that answers without reading gets no 100 Continue sent for it, and the
    # connection closes after the answer (the body was never read)
    sock = srv.connect()
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    resp = read_response(sock.makefile("rb"))
    assert resp.status == 200 and resp.header("Connection") == "close"
    sock.close()


# ---- responses --------------------------------------------------------------------------------

def test_slow_reader_does_not_grow_memory(server):
    srv = server(APP)
    (pid,) = srv.wait_workers()
    sock = srv.connect(timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    size = 200 << 20
    sock.sendall(build_request("GET", f"/big?{size},65536"))
    time.sleep(1.0)
    before = rss_kb(pid)
    got = 0
    for _ in range(10):
        got += len(sock.recv(65536))
        time.sleep(0.1)
    assert rss_kb(pid) - before < 8 << 10
    # a test client that reads everything gets it all
    while got < size:
        data = sock.recv(1 << 20)
        assert data
        got += len(data)
    sock.close()


def test_disconnect_during_a_stream(server, tmp_path):
    marker = tmp_path / "m"
    srv = server(APP, env={"ASGI_MARKER": str(marker)})
    sock = srv.connect()
    sock.sendall(build_request("GET", "/forever"))
    assert sock.recv(100)
    sock.close()
    assert wait_until(lambda: os.path.exists(f"{marker}.forever"), 5), srv.log()
    assert open(f"{marker}.forever").read().strip() == "ClientDisconnected"
    assert "Traceback" not in srv.log()
    assert srv.request("GET", "/").status == 200


def test_receive_after_the_body_waits_for_the_disconnect(server, tmp_path):
    marker = tmp_path / "m"
    srv = server(APP, env={"ASGI_MARKER": str(marker)})
    sock = srv.connect()
    sock.sendall(build_request("POST", "/wait-disconnect", body=b"abc"))
    assert b"started" in sock.recv(200)
    time.sleep(0.5)
    sock.close()
    assert wait_until(lambda: os.path.exists(f"{marker}.disconnect"), 5)
    kind, waited = open(f"{marker}.disconnect").read().split()
    assert kind == "http.disconnect" and float(waited) >= 0.4


@pytest.mark.parametrize("grace,query,outcome,low,high", [
    ("1", "", "cancelled", 0.9, 3.0),      # awaits something else: cancelled at the grace
    ("0", "", "cancelled", 0.0, 0.8),      # 0: at once
    ("2", "cleanup", "cleaned", 0.3, 1.5),  # cleans up within the grace: not cancelled
])
def test_disconnect_grace_period_then_cancel(server, tmp_path, grace, query, outcome, low,
                                             high):
    """--asgi-disconnect-grace-period (gunicorn's): once the client has gone, the task
    has that long to end by itself before it is cancelled; the worker goes on serving."""
    marker = tmp_path / "m"
    srv = server(APP, args=["--asgi-disconnect-grace-period", grace],
                 env={"ASGI_MARKER": str(marker)})
    sock = srv.connect()
    sock.sendall(build_request("GET", "/ignore-disconnect" + ("?" + query if query else "")))
    assert b"started" in sock.recv(200)
    sock.close()
    assert wait_until(lambda: os.path.exists(f"{marker}.grace"), 5), srv.log()
    time.sleep(0.1)
    kind, after = open(f"{marker}.grace").read().split()
    assert kind == outcome and low <= float(after) <= high, (kind, after)
    assert srv.request("GET", "/").status == 200
    assert "Traceback" not in srv.log()


def test_after_the_response_receive_says_disconnect_and_send_refuses(server, tmp_path):
    marker = tmp_path / "m"
    srv = server(APP, env={"ASGI_MARKER": str(marker)})
    assert srv.request("GET", "/after-response").body == b"done\n"
    assert wait_until(lambda: os.path.exists(f"{marker}.after")
                      and len(open(f"{marker}.after").read().split()) == 2, 5)
    assert open(f"{marker}.after").read().split() == ["http.disconnect", "RuntimeError"]


# ---- the application's errors ------------------------------------------------------------------

def test_errors(server):
    srv = server(APP)
    r = srv.request("GET", "/raise")
    assert r.status == 500
    assert r.header("Connection") == "close"
    log = srv.log()
    assert "Error handling request GET /raise" in log
    assert "ValueError: raised before the response" in log
    assert srv.request("GET", "/no-response").status == 500
    assert srv.request("GET", "/bad-header").status == 500
    assert srv.request("GET", "/too-long").status == 500
    # started, then raised or returned early: the connection closes without the last chunk
    for path in ("/raise-after-start", "/incomplete"):
        sock = srv.connect()
        sock.sendall(build_request("GET", path))
        data = b"".join(iter(lambda: sock.recv(4096), b""))
        assert data.startswith(b"HTTP/1.1 200 ") and not data.endswith(b"0\r\n\r\n"), data
        sock.close()
    assert b"Injected" not in srv.request("GET", "/bad-header").body
    assert srv.request("GET", "/").status == 200  # the worker lives on


def test_timeout_names_the_blocking_request(server):
    srv = server(APP, args=["--timeout", "1"])
    (pid,) = srv.wait_workers()
    with pytest.raises(Exception):
        srv.request("GET", "/block?5", timeout=4)
    assert wait_until(lambda: "WORKER TIMEOUT" in srv.log(), 5)
    assert 'request "GET /block?5"' in srv.log()
    srv.allow_crash_markers = True
    assert wait_until(lambda: srv.worker_pids() and pid not in srv.worker_pids(), 5)
    assert wait_until(lambda: srv.request("GET", "/").status == 200, 5)


def test_slow_awaits_are_concurrent(server):
    from concurrent.futures import ThreadPoolExecutor
    srv = server(APP, args=["--timeout", "5"])
    t0 = time.monotonic()
    with ThreadPoolExecutor(20) as ex:
        results = list(ex.map(lambda _: srv.request("GET", "/sleep?0.5").status, range(20)))
    assert results == [200] * 20
    assert time.monotonic() - t0 < 3.0


# ---- lifespan ------------------------------------------------------------------------------------

def test_lifespan_failure_stops_the_server_with_the_message():
    res = run_binary(["asgi_raw:failing_lifespan", "-b", f"127.0.0.1:{free_port()}", "--pythonpath", "."],
                     timeout=20)
    assert res.returncode == 4, res.stderr
    assert "database is unreachable" in res.stderr


def test_loop_uvloop_without_uvloop_says_so():
    # the test runner's environment has no uvloop (the frameworks' venv has)
    res = run_binary([APP, "-b", f"127.0.0.1:{free_port()}", "--loop", "uvloop",
                      "--pythonpath", "."], timeout=20)
    assert res.returncode == 4 and "uvloop is not installed" in res.stderr, res.stderr


def test_lifespan_auto_and_on(server):
    srv = server("asgi_raw:raising_lifespan")
    assert srv.request("GET", "/").body == b"no lifespan here\n"
    assert "ASGI lifespan: not supported by the application" in srv.log()
    res = run_binary(["asgi_raw:raising_lifespan", "-b", f"127.0.0.1:{free_port()}", "--lifespan", "on",
                      "--pythonpath", "."], timeout=20)
    assert res.returncode == 4 and "this application has no lifespan" in res.stderr


def test_shutdown_runs_at_drain_after_inflight_requests(server, tmp_path):
    marker = tmp_path / "m"
    srv = server(APP, env={"ASGI_MARKER": str(marker)})
    sock = srv.connect()
    sock.sendall(build_request("GET", "/sleep?1"))
    time.sleep(0.2)
    srv.send_signal(signal.SIGTERM)
    resp = read_response(sock.makefile("rb"))
    assert resp.status == 200 and resp.body == b"slept\n"
    assert srv.wait_exit(10) == 0
    assert os.path.exists(f"{marker}.shutdown")


# ---- what ASGI shares with WSGI ---------------------------------------------------------------

def test_access_log_health_path_and_metrics_count(server):
    stats = free_port()
    srv = server(APP, args=["--access-logfile", "-", "--health-path", "/healthz",
                            "--stats-bind", f"127.0.0.1:{stats}"])
    assert srv.request("GET", "/healthz").status == 200
    assert srv.request("GET", "/echo?x", body=b"12345", headers={"User-Agent": "ua"}).status == 200
    assert wait_until(lambda: '"GET /echo?x HTTP/1.1" 200 5' in srv.log(), 5), srv.log()

    def counted():
        with socket.create_connection(("127.0.0.1", stats), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            text = b"".join(iter(lambda: s.recv(65536), b"")).decode()
        line = next((ln for ln in text.splitlines()
                     if ln.startswith("uwsgi_fast_requests_total ")), "")
        return line and float(line.split()[-1]) >= 3
    # /, /healthz and /echo, counted by the same code as WSGI's
    assert wait_until(counted, 5)


def hup_under_load(srv, reloads, path="/"):
    """(requests answered, failures) of keep-alive and Connection: close clients while the
    server is reloaded `reloads` times, a second and a half apart (test_master's Load)."""
    from test_master import Load
    load = Load(srv.port, keepalive=3, close=3, path=path)
    for _ in range(reloads):
        time.sleep(1.5)
        srv.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    return load.stop()


def test_hup_under_load_fails_nothing(server):
    ok, errors = hup_under_load(server(APP, workers=2), 3)
    assert errors == [] and ok > 100, (ok, errors[:5])


def test_max_requests_recycles_without_failures(server):
    srv = server(APP, args=["--max-requests", "20"])
    (first,) = srv.wait_workers()
    for _ in range(60):
        assert srv.request("GET", "/").status == 200
    assert wait_until(lambda: first not in srv.worker_pids(), 10)


def test_preload_and_epoll_engine(server):
    srv = server(APP, args=["--preload", "--engine", "epoll"])
    assert srv.request("GET", "/").body == b"Hello, ASGI!\n"
    big = os.urandom(1 << 20)
    assert srv.request("POST", "/echo", body=big).body == big
    assert "over the epoll engine" in srv.log()

# ---- http.response.pathsend ---------------------------------------------------------------------

def rchar(pid):
    with open(f"/proc/{pid}/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def test_pathsend_goes_through_the_ring(server, tmp_path):
    data = os.urandom(8 << 20)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    srv = server(APP, env={"ASGI_FILE": str(path)})
    (pid,) = srv.wait_workers()
    before = rchar(pid)
    r = srv.request("GET", "/pathsend")
    assert r.status == 200 and r.body == data
    assert r.header("Content-Length") == str(len(data))
    if "over the io_uring engine" in srv.log():
        # read by the ring, not by read(2) in the worker (the epoll engine preads itself)
        assert rchar(pid) - before < 1 << 20
    (resp,), sock, _ = srv.raw(build_request("HEAD", "/pathsend"), method="HEAD")
    assert resp.status == 200 and resp.header("Content-Length") == str(len(data))
    sock.close()
    assert srv.request("GET", "/pathsend-missing").status == 500
    assert "FileNotFoundError" in srv.log()



# ---- trailers ---------------------------------------------------------------------------

def read_framed(sock):
    """One response from `sock`: (head text, raw bytes after the head up to the end of the
    body as framed: Content-Length bytes, the chunked body through its trailer section,
    or everything up to the close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    length = re.search(r"(?im)^content-length: *(\d+)", text)
    if length:
        while len(rest) < int(length.group(1)):
            rest += sock.recv(65536)
        return text, rest
    if "chunked" not in text:
        while chunk := sock.recv(65536):
            rest += chunk
        return text, rest
    while not re.search(rb"(^|\r\n)0\r\n(.*\r\n)*\r\n$", rest, re.S):
        chunk = sock.recv(65536)
        assert chunk, rest
        rest += chunk
    return text, rest


def ask(srv, target, te=True, version="1.1"):
    sock = srv.connect()
    sock.sendall(f"GET {target} HTTP/{version}\r\nHost: x\r\n".encode()
                 + (b"TE: trailers\r\n" if te else b"") + b"\r\n")
    return sock, *read_framed(sock)


def test_trailers_follow_the_last_chunk_when_the_client_accepts_them(server):
    """trailers: True with TE: trailers: chunked body, then the fields after the last
    chunk (a field a trailer must not carry is dropped); the connection stays usable;
    fields may come in several messages."""
    srv = server(APP)
    for target in ("/trailers", "/trailers?split"):
        sock, head, body = ask(srv, target)
        assert "Transfer-Encoding: chunked" in head and "trailer: x-checksum" in head, head
        assert body == (b"5\r\nhello\r\n5\r\nworld\r\n0\r\n"
                        b"x-checksum: abc123\r\nx-count: offered\r\n\r\n"), body
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")   # keep-alive goes on
        head, body = read_framed(sock)
        assert head.startswith("HTTP/1.1 200") and body == b"Hello, ASGI!\n"
        sock.close()


def test_trailers_are_dropped_where_they_cannot_go(server):
    """No TE: trailers (the extension is not offered; the fields are dropped and the body
    ends as usual), HTTP/1.0, a Content-Length, and the task ending without them: the
    body arrives whole and framed, with no trailer section."""
    srv = server(APP)
    sock, head, body = ask(srv, "/trailers", te=False)
    assert "Content-Length" not in head and body == (
        b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), body
    sock, head, body = ask(srv, "/trailers", version="1.0")
    assert body.startswith(b"helloworld") and b"x-checksum" not in body, body
    sock, head, body = ask(srv, "/trailers?cl")
    assert "content-length: 10" in head and body == b"helloworld", (head, body)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_framed(sock)[1] == b"Hello, ASGI!\n"
    sock, head, body = ask(srv, "/trailers?skip")
    assert body == b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", body
    assert "Traceback" not in srv.log()


def test_trailers_out_of_order_is_the_applications_error(server):
    """A trailers message before the body has ended raises in the application: a 500
    (nothing was sent yet) and the traceback in the error log."""
    srv = server(APP)
    sock, head, body = ask(srv, "/trailers?early")
    assert head.startswith("HTTP/1.1 500"), head
    assert "http.response.trailers" in srv.log()
