"""The engine's counters per worker (uring/ring.h's ring_counters_t) in /stats and
/metrics: they move as a known workload says they must, on both engines."""
import http.client
import json
import re
import subprocess
import urllib.request

import pytest

from conftest import (ENGINE, NO_INSTRUMENTS, built_with_instruments, free_port,
                      require_binary)

REQUESTS = 400
needs_instruments = pytest.mark.skipif(not built_with_instruments(), reason=NO_INSTRUMENTS)


def stats(port):
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5).read())


@needs_instruments
def test_keepalive_requests_cost_a_few_engine_calls_each(server):
    """n keep-alive requests one after another on one connection: every request is at
    least one completion (its receive) and at most a small constant of system calls into
    the engine (a wait per request, and on io_uring the submit folded into it)."""
    port = free_port()
    srv = server("basic:app", args=["--stats-bind", f"127.0.0.1:{port}"])
    before = stats(port)["workers"][0]["ring"]
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    for _ in range(REQUESTS):
        conn.request("GET", "/")
        assert conn.getresponse().read()
    conn.close()
    after = stats(port)["workers"][0]["ring"]
    delta = {k: after[k] - before[k] for k in before if k != "max_completions"}
    assert delta["completions"] >= REQUESTS, delta
    assert delta["rounds"] >= 1 and delta["completions"] >= delta["rounds"], delta
    assert REQUESTS / 2 <= delta["enters"] <= 4 * REQUESTS, delta
    if ENGINE == "epoll":
        assert after["submitted"] == 0, after
    else:
        assert delta["submitted"] >= REQUESTS, delta   # at least each request's send
    assert after["max_completions"] >= 1
    assert after["recv_enobufs"] == 0, after
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(r'^uwsgi_fast_worker_ring_completions_total\{worker="0"\} (\d+)$', metrics, re.M)
    assert m and int(m.group(1)) >= after["completions"], metrics


@needs_instruments
def test_recv_buffers_exhausted_are_counted(server):
    """Eight provided receive buffers for many connections sending at once: receives end
    for want of a buffer (ENOBUFS), are counted, and everything is still answered."""
    if ENGINE == "epoll":
        pytest.skip("epoll reads into the connection's own buffer: nothing to run out of")
    port = free_port()
    srv = server("basic:app", args=["--stats-bind", f"127.0.0.1:{port}",
                                    "--recv-buffers", "8", "--recv-buffer-size", "4096"])
    conns = [http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10) for _ in range(40)]
    for _ in range(5):
        for c in conns:
            c.putrequest("POST", "/echo")
            c.putheader("Content-Length", "30000")
            c.endheaders(b"x" * 30000)
        for c in conns:
            r = c.getresponse()
            assert r.status == 200 and len(r.read()) == 30000
    for c in conns:
        c.close()
    ring = stats(port)["workers"][0]["ring"]
    assert ring["recv_enobufs"] > 0, ring


def test_stats_say_whether_the_build_has_instruments(server):
    """/stats and --version agree on whether the instruments are compiled in; without
    them (scripts/zig build -Dinstruments=false) the series are still there and read 0
    after real requests, and the binary has no USDT probe."""
    port = free_port()
    srv = server("basic:app", args=["--stats-bind", f"127.0.0.1:{port}"])
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    for _ in range(20):
        conn.request("GET", "/")
        assert conn.getresponse().read()
    conn.close()
    doc = stats(port)
    assert doc["instruments"] is built_with_instruments(), doc
    worker = doc["workers"][0]
    if doc["instruments"]:
        assert worker["ring"]["completions"] >= 20, worker
        assert worker["phases"]["app"]["count"] >= 20, worker
        return
    assert set(worker["ring"].values()) == {0}, worker
    assert all(p["count"] == 0 for p in worker["phases"].values()), worker
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert re.search(r'^uwsgi_fast_worker_ring_enters_total\{worker="0"\} 0$', metrics, re.M)
    assert "uwsgi_fast_request_phase_seconds" in metrics
    notes = subprocess.run(["readelf", "-n", str(require_binary())], capture_output=True,
                           text=True).stdout
    assert "uwsgi_fast" not in notes
