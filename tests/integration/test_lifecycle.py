"""Master and workers: signals, respawn, several workers, log lines."""
import os
import re
import signal
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import STOP_TIMEOUT, build_request, expect_eof, read_response, wait_until

LOG_LINE = re.compile(r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}\] \[(\d+)\] "
                      r"\[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] (.*)$")


def start_slow_request(srv, marker, seconds):
    """Sends a slow request and waits until the app is inside it; returns the socket."""
    sock = srv.connect(timeout=seconds + STOP_TIMEOUT)
    sock.sendall(build_request("GET", f"/slow?s={seconds}&mark={quote(str(marker))}"))
    if not wait_until(marker.exists, 10):
        srv.fail("the slow request never reached the application")
    return sock


def test_log_lines_gunicorn_style(server):
    srv = server("basic:app", workers=2)
    workers = srv.wait_workers(2)
    # each worker logs its line once it runs: poll briefly
    wait_until(lambda: all(f"Booting worker with pid: {w}" in srv.log() for w in workers), 5)
    lines = [LOG_LINE.match(l) for l in srv.log().splitlines()]
    msgs = [(int(m.group(1)), m.group(2), m.group(3)) for m in lines if m]
    assert (srv.pid, "INFO", f"Listening at: http://127.0.0.1:{srv.port} ({srv.pid})") in msgs, \
        srv.log()
    for w in workers:
        # logged by the worker itself: the line's own pid is the worker's (gunicorn's way)
        assert (w, "INFO", f"Booting worker with pid: {w}") in msgs, \
            f"no '[{w}] [INFO] Booting worker with pid: {w}' in\n{srv.log()}"


def test_error_logfile_option(server, tmp_path):
    path = tmp_path / "errors.log"
    srv = server("basic:app", args=["--error-logfile", str(path)])
    assert wait_until(lambda: path.exists() and "Listening at:" in path.read_text(), 5), \
        f"--error-logfile got {path.read_text() if path.exists() else 'nothing'!r}"
    assert srv.request("GET", "/error").status == 500
    assert wait_until(lambda: "boom-integration-sentinel" in path.read_text(), 5), \
        "app traceback did not reach --error-logfile"


def test_term_idle_exits_zero(server):
    srv = server("basic:app", workers=2)
    workers = srv.wait_workers(2)
    start = time.monotonic()
    assert srv.stop(signal.SIGTERM) == 0
    assert time.monotonic() - start < 5, "idle graceful stop took too long"
    assert srv.leftover_workers() == [], f"workers {workers} survived"


def test_term_lets_in_flight_request_finish(server, marker):
    srv = server("basic:app", args=["--graceful-timeout", "10"])
    sock = start_slow_request(srv, marker, 1.5)
    try:
        srv.send_signal(signal.SIGTERM)
        resp = read_response(sock.makefile("rb"))
        assert resp.status == 200 and resp.body == b"slept"
    finally:
        sock.close()
    rc = srv.wait_exit(STOP_TIMEOUT)
    assert rc == 0, f"master exit {rc} after graceful stop\n{srv.log()}"
    assert srv.leftover_workers() == []


def test_term_closes_idle_keep_alive_connections(server):
    srv = server("basic:app")  # default --graceful-timeout is 30 s
    (resp,), sock, _ = srv.raw(build_request("GET", "/"))
    try:
        assert resp.status == 200
        start = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        assert srv.wait_exit(5) == 0, "an idle keep-alive connection held up graceful stop"
        assert time.monotonic() - start < 5
        assert expect_eof(sock, timeout=2)
    finally:
        sock.close()


def test_graceful_timeout_bounds_the_drain(server, marker):
    srv = server("basic:app", args=["--graceful-timeout", "1"])
    sock = start_slow_request(srv, marker, 8)
    try:
        start = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait_exit(6)
        assert rc is not None, "master ignored --graceful-timeout 1"
        assert time.monotonic() - start < 5
        assert srv.leftover_workers() == []
    finally:
        sock.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT])
def test_fast_stop(server, marker, sig):
    srv = server("basic:app", args=["--graceful-timeout", "20"])
    workers = srv.worker_pids()
    sock = start_slow_request(srv, marker, 6)
    try:
        start = time.monotonic()
        srv.send_signal(sig)
        rc = srv.wait_exit(4)
        assert rc is not None, f"master still running 4 s after {sig.name}"
        assert time.monotonic() - start < 4
        assert rc == 0, f"master exit {rc} after {sig.name}\n{srv.log()}"
        assert srv.leftover_workers() == [], f"workers {workers} survived {sig.name}"
    finally:
        sock.close()


def test_killed_worker_is_respawned(server):
    srv = server("basic:app")
    old = int(srv.request("GET", "/pid").body)
    assert srv.worker_pids() == [old]
    os.kill(old, signal.SIGKILL)
    new = srv.wait_workers(1, timeout=10, exclude=[old])
    assert old not in new
    pid = int(srv.request("GET", "/pid").body)
    assert pid in new and pid != old
    for _ in range(5):
        assert srv.request("GET", "/").body == b"Hello, World!"
    assert srv.running()


def test_two_workers_both_serve(server):
    srv = server("basic:app", workers=2)
    pids = set(srv.wait_workers(2))
    assert len(pids) == 2
    # a worker still booting gets no connection (new ones go to idle workers), and on a
    # loaded machine the second may take a while: ask until both answered, up to 10 s
    seen = set()
    deadline = time.monotonic() + 10
    asked = 0
    while seen != pids and time.monotonic() < deadline:
        seen.add(int(srv.request("GET", "/pid").body))
        asked += 1
    assert seen == pids, f"only {seen} of workers {pids} answered over {asked} connections"



def test_process_titles(server):
    """ps shows what each process is, with --name (gunicorn's proc_name) or else the
    application, and the titles survive a reload (which reads the settings again)."""
    def title(pid):
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()

    def titles(pids):
        # a child shows the master's title until it has set its own, just after fork
        want = ["uwsgi-fast: worker 0 [shop]", "uwsgi-fast: worker 1 [shop]"]
        wait_until(lambda: sorted(title(w) for w in pids) == want, 5)
        return sorted(title(w) for w in pids)

    srv = server("basic:app", workers=2, args=["--name", "shop"])
    workers = srv.wait_workers(2)
    assert title(srv.pid) == "uwsgi-fast: master [shop]"
    assert titles(workers) == ["uwsgi-fast: worker 0 [shop]", "uwsgi-fast: worker 1 [shop]"]
    # the thread name stays the binary's, so pgrep/pkill find every process as before
    assert Path(f"/proc/{workers[0]}/comm").read_text().strip() == "uwsgi-fast"
    os.kill(srv.pid, signal.SIGHUP)
    new = srv.wait_workers(2, timeout=10, exclude=workers)
    assert titles(new) == ["uwsgi-fast: worker 0 [shop]", "uwsgi-fast: worker 1 [shop]"]
    assert title(srv.pid) == "uwsgi-fast: master [shop]"
    assert srv.request("GET", "/").status == 200


def test_process_title_defaults_to_the_application(server):
    srv = server("basic:app")
    (worker,) = srv.wait_workers(1)
    assert Path(f"/proc/{worker}/cmdline").read_bytes().startswith(
        b"uwsgi-fast: worker 0 [basic:app]")
