"""The engine's counters per worker (uring/ring.h's ring_counters_t) in /stats and
/metrics: they move as a known workload says they must, on both engines."""
import http.client
import json
import re
import shutil
import signal
import subprocess
import time
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


LOCK_WAIT = re.compile(r"futex\((0x[0-9a-f]+), FUTEX_WAIT(?:_PRIVATE)?, 2,")


def strace_calls(path):
    """From a `strace -f -o` log: ({system call: calls}, the futex calls on a lock), a
    call split by another thread's output (unfinished ... resumed) counted once. A lock
    is an address some thread waited on with the value 2 (glibc's contended mutex); its
    waits and wakes are the calls the worker does not count (docs/research.md)."""
    lines = [x.split(None, 1)[1] for x in path.read_text().splitlines() if " " in x]
    locks = {m.group(1) for m in map(LOCK_WAIT.match, lines) if m}
    calls, lock_calls = {}, 0
    for line in lines:
        m = re.match(r"^(\w+)\(", line)
        if not m:
            continue  # a resumed call, a signal, an exit
        calls[m.group(1)] = calls.get(m.group(1), 0) + 1
        if m.group(1) == "futex" and line[len("futex("):].split(",")[0] in locks:
            lock_calls += 1
    return calls, lock_calls


@needs_instruments
@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
def test_syscalls_counted_where_made_match_strace_from_outside(server, tmp_path):
    """n keep-alive requests one after another: the worker's own count of the system
    calls its serving path makes (ring.syscalls: the engine's, the hand-offs to its
    application thread and back) is, per request, what strace counts for every thread
    of the worker over the same requests, less the futex calls of the pool's lock when
    it is contended, which the worker cannot see (a woken thread finding the lock still
    held by the signaller): within 5%, on either engine."""
    port = free_port()
    srv = server("basic:app", args=["--stats-bind", f"127.0.0.1:{port}"])
    (pid,) = srv.worker_pids()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", "/")
    assert conn.getresponse().read()  # connected before the count starts
    out = tmp_path / "strace.txt"
    tracer = subprocess.Popen(["strace", "-f", "-o", str(out), "-p", str(pid)],
                              stderr=subprocess.PIPE, text=True)
    try:
        line = tracer.stderr.readline()  # "strace: Process N attached with K threads"
        if "not permitted" in line:
            pytest.skip(f"strace cannot attach here (ptrace): {line.strip()}")
        assert "attached" in line, line
        time.sleep(0.3)
        before = stats(port)["workers"][0]["ring"]["syscalls"]
        for _ in range(REQUESTS):
            conn.request("GET", "/")
            assert conn.getresponse().read()
        time.sleep(0.3)  # the loop round that answered the last one has published
        after = stats(port)["workers"][0]["ring"]["syscalls"]
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=10)
    conn.close()
    calls, lock_calls = strace_calls(out)
    ours = (after - before) / REQUESTS
    theirs = (sum(calls.values()) - lock_calls) / REQUESTS
    why = (ours, theirs, lock_calls, calls)
    assert theirs >= 2, why  # at least the wait for the request and its send
    assert abs(ours - theirs) <= 0.05 * theirs, why


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
