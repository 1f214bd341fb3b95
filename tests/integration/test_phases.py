"""A request's phases (parse, waited, app, send; src/scoreboard.h): the access log's
%(parse_us)s %(waited_us)s %(app_us)s %(send_us)s, the Prometheus histogram
uwsgi_fast_request_phase_seconds and /stats. They follow one another from the request's
first byte to its last, so they add up to its time, and *waited* shows a request that
sat behind another."""
import json
import re
import socket
import threading
import time
import urllib.request

import pytest

from conftest import NO_INSTRUMENTS, built_with_instruments, free_port

pytestmark = pytest.mark.skipif(not built_with_instruments(), reason=NO_INSTRUMENTS)

FORMAT = "%(r)s %(s)s %(parse_us)s %(waited_us)s %(app_us)s %(send_us)s %(D)s"
PHASES = ("parse_us", "waited_us", "app_us", "send_us")


def start(server, tmp_path, *args):
    log = tmp_path / "access.json"
    stats = free_port()
    srv = server("basic:app", args=["--access-logfile", str(log), "--access-log-json",
                                    "--access-logformat", FORMAT,
                                    "--stats-bind", f"127.0.0.1:{stats}", *args])
    return srv, log, stats


def records(srv, log, n):
    """The access log's records once it has n of them (it is written in batches)."""
    deadline = time.monotonic() + 10
    while True:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) >= n, (lines, srv.log())
    return [json.loads(line) for line in lines]


def test_phases_add_up_and_the_app_phase_holds_the_sleep(server, tmp_path):
    """A request whose application sleeps 0.2 s: app is the sleep, the phases add up to
    at least the access log's duration (which starts when the request goes to the
    application, after parse) and to no more than the client saw."""
    srv, log, _ = start(server, tmp_path)
    t0 = time.monotonic()
    with urllib.request.urlopen(srv.url("/slow?s=0.2"), timeout=10) as r:
        assert r.read() == b"slept"
    seen_us = (time.monotonic() - t0) * 1e6
    (rec,) = [r for r in records(srv, log, 2) if "/slow" in r["request"]]
    parts = [rec[k] for k in PHASES]
    assert all(isinstance(p, int) and p >= 0 for p in parts), rec
    assert 200_000 <= rec["app_us"] < 400_000, rec
    total = sum(parts)
    assert rec["duration_us"] <= total + 50, rec      # whole microseconds, rounded down
    assert total <= seen_us, (rec, seen_us)


def test_a_pipelined_request_waits_behind_the_slow_one(server, tmp_path):
    """Two requests in one packet: the second's first byte came with the first's, so it
    waited for the whole of the first (0.3 s) before the application got it."""
    srv, log, _ = start(server, tmp_path)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /slow?s=0.3 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /?second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200") == 2, data
    recs = records(srv, log, 2)
    first = next(r for r in recs if "/slow" in r["request"])
    second = next(r for r in recs if "second" in r["request"])
    assert first["waited_us"] < 100_000, first
    assert second["waited_us"] >= 290_000, second
    assert second["app_us"] < 100_000 and second["parse_us"] < 100_000, second


def test_a_request_queued_for_a_thread_shows_in_waited_and_in_the_metrics(server, tmp_path):
    """Three 0.3 s requests at once to one worker with two application threads: the
    third waits for a thread (waited about 0.3 s), and the Prometheus histogram and
    /stats count every phase of every request."""
    srv, log, stats = start(server, tmp_path, "--threads", "2", "--work-sharing=false")

    def get():
        with urllib.request.urlopen(srv.url("/slow?s=0.3"), timeout=10) as r:
            assert r.read() == b"slept"
    clients = [threading.Thread(target=get) for _ in range(3)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    recs = [r for r in records(srv, log, 4) if "/slow" in r["request"]]
    waits = sorted(r["waited_us"] for r in recs)
    assert waits[0] < 100_000 and waits[-1] >= 250_000, recs
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{stats}/metrics", timeout=5).read().decode()
    for phase in ("parse", "waited", "app", "send"):
        m = re.search(rf'^uwsgi_fast_request_phase_seconds_count{{phase="{phase}"}} (\d+)$',
                      metrics, re.M)
        assert m and int(m.group(1)) >= 3, metrics
    m = re.search(r'^uwsgi_fast_request_phase_seconds_sum{phase="app"} (\S+)$', metrics, re.M)
    assert float(m.group(1)) >= 0.9, metrics
    doc = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{stats}/stats", timeout=5).read())
    assert sum(b["count"] for b in doc["phases"]["waited"]["buckets"]) >= 3, doc["phases"]
    (worker,) = doc["workers"]
    app = worker["phases"]["app"]
    assert app["count"] >= 3 and app["count"] * app["mean_seconds"] >= 0.89, worker


def test_requests_answered_without_the_application_have_no_phases(server, tmp_path):
    """A malformed request (400 from the parser) has no application phases: "-" in
    text, null in JSON, and it is not in the phase histograms."""
    srv, log, stats = start(server, tmp_path)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    (rec,) = [r for r in records(srv, log, 2) if r["status"] == 400]
    assert rec["app_us"] is None and rec["waited_us"] is None, rec
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{stats}/metrics", timeout=5).read().decode()
    # the fixture's probe request is the one request with phases
    assert 'uwsgi_fast_request_phase_seconds_count{phase="app"} 1\n' in metrics, metrics
