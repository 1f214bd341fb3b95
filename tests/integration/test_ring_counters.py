"""The engine's counters per worker (uring/ring.h's ring_counters_t) in /stats and
/metrics: they move as a known workload says they must, on both engines."""
import http.client
import json
import re
import urllib.request

import pytest

from conftest import ENGINE, free_port

REQUESTS = 400


def stats(port):
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5).read())


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
