"""An application that fails gets a 500 and a traceback in the log; the worker lives on."""
import re

from conftest import ConnectionClosed, build_request, read_response, wait_until


def test_exception_gives_500_and_traceback_and_worker_survives(server):
    srv = server("basic:app")
    pid = int(srv.request("GET", "/pid").body)
    resp = srv.request("GET", "/error")
    assert resp.status == 500
    assert b"boom-integration-sentinel" not in resp.body, "traceback leaked to the client"
    assert wait_until(lambda: "boom-integration-sentinel" in srv.log(), 5), srv.log()
    log = srv.log()
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: boom-integration-sentinel" in log
    assert "basic.py" in log
    # A new connection is served by the very same worker process.
    assert int(srv.request("GET", "/pid").body) == pid
    assert srv.worker_pids() == [pid]


def test_exception_keeps_connection_usable_or_closes_it_cleanly(server):
    srv = server("basic:app")
    sock = srv.connect()
    rfile = sock.makefile("rb")
    try:
        sock.sendall(build_request("GET", "/error") + build_request("GET", "/"))
        first = read_response(rfile)
        assert first.status == 500
        if (first.header("Connection") or "").lower() != "close":
            assert read_response(rfile).body == b"Hello, World!"
    finally:
        sock.close()


def test_exception_inside_iterator(server):
    srv = server("basic:app")
    pid = int(srv.request("GET", "/pid").body)
    sock = srv.connect()
    try:
        sock.sendall(build_request("GET", "/error-after-start"))
        try:
            resp = read_response(sock.makefile("rb"))
        except (ConnectionClosed, AssertionError, ConnectionResetError):
            resp = None  # headers were out: the server may only cut the connection
        if resp is not None:
            # A complete, successful-looking response would hide the failure from the client.
            assert resp.status == 500, f"error after start_response delivered as {resp}"
    finally:
        sock.close()
    assert wait_until(lambda: "boom-in-iterator-sentinel" in srv.log(), 5), srv.log()
    assert int(srv.request("GET", "/pid").body) == pid


def test_many_errors_do_not_kill_worker(server):
    srv = server("basic:app")
    pid = int(srv.request("GET", "/pid").body)
    for _ in range(30):
        assert srv.request("GET", "/error").status == 500
    assert int(srv.request("GET", "/pid").body) == pid


def test_wsgi_errors_and_stderr_reach_the_log(basic):
    assert basic.request("GET", "/log").body == b"logged"
    assert wait_until(lambda: "wsgi-errors-sentinel" in basic.log(), 5), basic.log()
    assert wait_until(lambda: "stderr-print-sentinel" in basic.log(), 5), basic.log()


def test_traceback_follows_a_tagged_error_line(server):
    """The failure's line carries the worker tag like the server's own lines, and the
    traceback follows it unprefixed, as gunicorn prints it, up to the exception."""
    srv = server("basic:app")
    assert srv.request("GET", "/error").status == 500
    assert wait_until(lambda: "boom-integration-sentinel" in srv.log(), 5), srv.log()
    log = srv.log()
    m = re.search(r"^\[[^]]+\] \[\d+\] \[ERROR\] \[worker \d+\] Error handling request GET /error\n"
                  r"Traceback \(most recent call last\):\n", log, re.M)
    assert m, log
    tail = log[m.end():]
    following = re.search(r"^\[\d{4}-", tail, re.M)  # the next log line, if any
    traceback = tail[:following.start()] if following else tail
    assert "RuntimeError: boom-integration-sentinel" in traceback, log
