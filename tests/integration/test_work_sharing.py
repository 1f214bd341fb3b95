"""Work sharing: no request waits behind a busy, dying or booting worker while another is
free (src/share.h). Each test has a control where it matters: the same scenario with
--no-work-sharing shows the wait the mechanism removes, so the test proves it measures
something.

The app (apps/uneven.py) answers /pid with the pid of the worker that served it, so a test
can tell which worker held a request; /sleep?ms=N waits N ms; /hang never returns.
"""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import (NO_INSTRUMENTS, built_with_instruments, free_port, read_response,
                      wait_until)

APP = "uneven:app"


def get(port, path, sock=None, close=False, timeout=10):
    """One GET on `sock` (a new connection when None); returns (status, body, sock, seconds)."""
    started = time.monotonic()
    if sock is None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    extra = "Connection: close\r\n" if close else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode())
    resp = read_response(sock.makefile("rb"))
    elapsed = time.monotonic() - started
    if close:
        sock.close()
        sock = None
    return resp.status, resp.body, sock, elapsed


def wait_serving(srv, n, timeout=20):
    """Waits until n distinct workers have answered (booted and imported the app)."""
    seen, deadline = set(), time.monotonic() + timeout
    while len(seen) < n and time.monotonic() < deadline:
        status, body, _, _ = get(srv.port, "/pid", close=True)
        if status == 200:
            seen.add(int(body))
    assert len(seen) >= n, f"only {sorted(seen)} of {n} workers answered"
    return sorted(seen)


def connection_on(port, pid, tries=60):
    """A keep-alive connection whose requests worker `pid` serves (the kernel's hash decides
    where a new connection lands)."""
    for _ in range(tries):
        status, body, sock, _ = get(port, "/pid")
        if status == 200 and int(body) == pid:
            return sock
        sock.close()
    pytest.fail(f"no connection landed on worker {pid} in {tries} tries")


def fast_requests_during_a_slow_one(srv, slow_ms=1500):
    """Starts /sleep?ms=slow_ms on a keep-alive connection, then sends /pid on another
    keep-alive connection of the same (busy) worker and on new connections. Returns the
    busy worker's pid and, for each fast request, (seconds, pid that served it)."""
    slow_pid = srv.worker_pids()[0]
    slow = connection_on(srv.port, slow_pid)
    same = connection_on(srv.port, slow_pid)
    slow.sendall(f"GET /sleep?ms={slow_ms} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    time.sleep(0.2)   # the slow request is in the application now
    results = []
    status, body, same, took = get(srv.port, "/pid", sock=same)
    assert status == 200
    results.append((took, int(body)))
    for _ in range(8):
        status, body, _, took = get(srv.port, "/pid", close=True)
        assert status == 200
        results.append((took, int(body)))
    assert read_response(slow.makefile("rb")).status == 200
    slow.close()
    same.close()
    return slow_pid, results


def test_keep_alive_request_on_a_busy_worker_is_served_by_an_idle_one(server):
    srv = server(APP, workers=2, probe="/fast")
    srv.wait_workers(2)
    busy, results = fast_requests_during_a_slow_one(srv)
    # the keep-alive request on the busy worker's connection, and every new connection,
    # were answered at once, by the other worker
    assert max(t for t, _ in results) < 0.5, results
    assert results[0][1] != busy, results


@pytest.mark.skipif(not built_with_instruments(), reason=NO_INSTRUMENTS)
def test_a_request_passed_on_keeps_its_wait_in_waited(server, tmp_path):
    """Both workers in a slow request (one thread each): a request on worker A's
    keep-alive connection goes to the shared queue, and worker B takes it when its own
    slow request ends, 0.4 s later. B's access log line counts that wait in *waited*:
    the hand-off carries the first byte's time (CLOCK_MONOTONIC, one clock for every
    process), where B used to start the request's phases at its own parse."""
    log = tmp_path / "access.json"
    srv = server(APP, workers=2, probe="/pid",
                 args=["--access-logfile", str(log), "--access-log-json", "--access-logformat",
                       "%(r)s %(parse_us)s %(waited_us)s %(app_us)s %(send_us)s %(D)s"])
    a, b = wait_serving(srv, 2)
    slow_a, slow_b = connection_on(srv.port, a), connection_on(srv.port, b)
    passed = connection_on(srv.port, a)
    slow_a.sendall(b"GET /sleep?ms=1200 HTTP/1.1\r\nHost: t\r\n\r\n")
    slow_b.sendall(b"GET /sleep?ms=600 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.2)  # both in the application now
    status, body, passed, took = get(srv.port, "/pid?passed", sock=passed)
    assert status == 200 and int(body) == b, (body, a, b)  # B took it from A
    assert took >= 0.3, took
    for s in (slow_a, slow_b):
        assert read_response(s.makefile("rb")).status == 200
        s.close()
    passed.close()
    deadline, rec = time.monotonic() + 10, None
    while rec is None and time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        rec = next((json.loads(x) for x in lines if "passed" in x), None)
        time.sleep(0.05)
    assert rec, log.read_text() if log.exists() else "no access log"
    # its wait in A and in the queue (about 0.4 s), not the few microseconds in B
    assert rec["waited_us"] >= 0.75 * took * 1e6, (rec, took)
    assert rec["waited_us"] <= took * 1e6, (rec, took)
    phases = rec["parse_us"] + rec["waited_us"] + rec["app_us"] + rec["send_us"]
    assert rec["duration_us"] <= phases <= took * 1e6, (rec, took)


def test_new_connections_go_to_the_idle_worker_without_hand_offs(server):
    """With the reuseport eBPF program (root here), new connections land on the idle
    worker in the first place: no hand-off is needed while the other is busy."""
    stats_port = free_port()
    srv = server(APP, workers=2, probe="/fast", args=["--stats-bind", f"127.0.0.1:{stats_port}"])
    wait_serving(srv, 2)
    if "idle workers first (reuseport eBPF)" not in srv.log():
        # no CAP_BPF here: the server must have said why, once, and serve on without it
        why = [l for l in srv.log().splitlines() if "Steering to idle workers is off" in l]
        assert len(why) == 1, srv.log()
        pytest.skip("eBPF steering is not available here: " + why[0])
    busy = srv.worker_pids()[0]
    slow = connection_on(srv.port, busy)
    slow.sendall(b"GET /sleep?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.2)
    with urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/metrics", timeout=5) as r:
        before = r.read().decode()
    pids = [int(get(srv.port, "/pid", close=True)[1]) for _ in range(30)]
    with urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/metrics", timeout=5) as r:
        after = r.read().decode()
    assert busy not in pids, pids

    def handed(text):
        return sum(int(v) for v in re.findall(r"^uwsgi_fast_worker_handed_off_total\{.*\} (\d+)$",
                                              text, re.M))

    assert handed(after) == handed(before), after
    assert read_response(slow.makefile("rb")).status == 200
    slow.close()


def test_without_work_sharing_the_same_request_waits(server):
    """The control: each worker serves only its own connections."""
    srv = server(APP, workers=2, probe="/fast", args=["--no-work-sharing"])
    srv.wait_workers(2)
    busy, results = fast_requests_during_a_slow_one(srv)
    took, pid = results[0]
    assert pid == busy and took > 1.0, results


@pytest.mark.parametrize("sharing", [True, False], ids=["sharing", "control"])
def test_uneven_load_fast_requests_do_not_wait_behind_slow_ones(server, sharing):
    """Closed-loop clients, 5% of requests wait 200 ms. 3 clients on 4 workers: a worker
    is always free, so with work sharing no fast request waits for a slow one; without
    it, a fast request that lands on the worker of a slow one waits (the control)."""
    srv = server(APP, workers=4, probe="/fast", args=[] if sharing else ["--no-work-sharing"])
    srv.wait_workers(4)
    fast, errors = [], []
    lock = threading.Lock()
    stop = time.monotonic() + 4

    def client(seed, close):
        sock = None
        n = seed
        while time.monotonic() < stop:
            n += 1
            path = "/sleep?ms=200" if n % 20 == 0 else "/fast"
            try:
                status, _, sock, took = get(srv.port, path, sock=sock, close=close)
            except Exception as e:  # noqa: BLE001 - every failure counts
                with lock:
                    errors.append(repr(e))
                sock = None
                continue
            with lock:
                if status != 200:
                    errors.append(status)
                elif path == "/fast":
                    fast.append(took)

    threads = [threading.Thread(target=client, args=(i * 7, i % 2 == 1)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert errors == []
    fast.sort()
    p99 = fast[int(len(fast) * 0.99)]
    print(f"uneven load: {len(fast)} fast requests, p50 {fast[len(fast) // 2] * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms")
    if sharing:
        assert p99 < 0.05, f"fast p99 {p99 * 1000:.0f} ms: fast requests waited behind slow ones"
    else:
        assert p99 > 0.1, f"fast p99 {p99 * 1000:.0f} ms: the control measured no waiting"


def test_killed_worker_with_a_slow_import_leaves_no_request_waiting(server):
    """kill -9 of a worker whose application takes 3 s to import: its listener is taken
    from by the other worker until the replacement is ready, and readiness stays true."""
    srv = server("slow_import:app", workers=2, probe="/fast",
                 env={"UF_TEST_IMPORT_DELAY": "3"}, args=["--ready-path", "/ready"])
    victim, other = wait_serving(srv, 2)
    os.kill(victim, signal.SIGKILL)
    time.sleep(0.3)
    slowest = 0.0
    for _ in range(20):
        status, body, _, took = get(srv.port, "/pid", close=True, timeout=10)
        assert status == 200
        assert int(body) == other
        slowest = max(slowest, took)
    status, body, _, _ = get(srv.port, "/ready", close=True)
    assert status == 200, body
    print(f"kill -9 with a 3 s import: slowest of 20 requests {slowest * 1000:.0f} ms")
    assert slowest < 0.5
    srv.wait_workers(2, exclude=[victim], timeout=15)


def test_killed_worker_without_work_sharing_is_not_ready(server):
    """The control: nothing accepts from the dead worker's listener, and /ready says so."""
    stats_port = free_port()
    srv = server("slow_import:app", workers=2, probe="/fast",
                 env={"UF_TEST_IMPORT_DELAY": "3"},
                 args=["--no-work-sharing", "--stats-bind", f"127.0.0.1:{stats_port}"])
    victim, _ = wait_serving(srv, 2)
    os.kill(victim, signal.SIGKILL)

    def ready():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/ready", timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert wait_until(lambda: ready() == 503, 2)


def test_hung_request_gets_500_and_side_clients_are_not_stalled(server):
    srv = server(APP, workers=2, probe="/fast", args=["--timeout", "2"])
    hung_pid = srv.worker_pids()[0]
    hung = connection_on(srv.port, hung_pid)
    started = time.monotonic()
    hung.sendall(b"GET /hang HTTP/1.1\r\nHost: t\r\n\r\n")
    # side clients, new connections and keep-alive ones, while the request hangs and
    # while its worker is killed and replaced
    slowest = 0.0
    keep = None
    while time.monotonic() - started < 3.5:
        status, _, _, took = get(srv.port, "/fast", close=True)
        assert status == 200
        slowest = max(slowest, took)
        status, _, keep, took = get(srv.port, "/fast", sock=keep)
        assert status == 200
        slowest = max(slowest, took)
    resp = read_response(hung.makefile("rb"))
    assert resp.status == 500 and resp.header("Connection") == "close", resp
    log = srv.log()
    assert log.count("WORKER TIMEOUT") == 1, log
    print(f"hung request: slowest side request {slowest * 1000:.0f} ms")
    assert slowest < 0.3, slowest


def test_max_requests_is_kept_exactly(server, tmp_path):
    """A worker that reaches --max-requests takes no more work: the others do while its
    successor boots. No worker serves more than the limit plus what it held."""
    log = tmp_path / "access.log"
    srv = server(APP, workers=4, probe="/fast",
                 args=["--max-requests", "500", "--access-logfile", str(log),
                       "--access-logformat", "%(p)s"])
    errors, done = [], [0]
    lock = threading.Lock()
    stop = time.monotonic() + 30

    def client(close):
        sock = None
        while time.monotonic() < stop and done[0] < 6000:
            try:
                status, _, sock, _ = get(srv.port, "/fast", sock=sock, close=close)
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(repr(e))
                sock = None
                continue
            with lock:
                done[0] += 1
                if status != 200:
                    errors.append(status)

    threads = [threading.Thread(target=client, args=(i % 2 == 0,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
    srv.stop()
    assert errors == []
    per_pid = {}
    for line in log.read_text().splitlines():
        per_pid[line] = per_pid.get(line, 0) + 1
    print(f"max-requests 500: {done[0]} requests, most served by one worker "
          f"{max(per_pid.values())}, workers {len(per_pid)}")
    # 8 clients: a worker can hold at most 8 requests at the moment it reaches the limit
    assert max(per_pid.values()) <= 500 + 8, sorted(per_pid.values())
    assert len(per_pid) >= 10


def test_twenty_hups_with_new_connections_never_hang(server):
    """The hang after a handover: a connection queued on a listener whose old worker took
    the kernel's wake-up and left was not accepted until another connection came. 20
    reloads under wrk, a new connection per request, at least 50,000 requests, none
    timed out."""
    srv = server(APP, workers=2, probe="/fast")
    total = errors = hups = 0
    deadline = time.monotonic() + 60

    def hupper():
        nonlocal hups
        while hups < 20 and time.monotonic() < deadline:
            time.sleep(0.4)
            srv.send_signal(signal.SIGHUP)
            hups += 1

    t = threading.Thread(target=hupper)
    t.start()
    while (total < 50000 or hups < 20) and time.monotonic() < deadline:
        out = subprocess.run(["wrk", "-t2", "-c16", "-d4s", "--timeout", "2s", "-H",
                              "Connection: close", f"http://127.0.0.1:{srv.port}/fast"],
                             capture_output=True, text=True, timeout=30).stdout
        total += int(re.search(r"(\d+) requests in", out).group(1))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if m:
            errors += sum(int(x) for x in m.groups())
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if m:
            errors += int(m.group(1))
    t.join()
    print(f"{hups} HUPs: {total} requests, {errors} errors")
    assert hups == 20
    assert total >= 50000
    assert errors == 0


@pytest.mark.parametrize("second", [b"\r\n", b"X-Trailer: t\r\n\r\n"])
def test_a_chunked_request_completed_while_the_worker_is_busy_travels_intact(server, second):
    """A chunked request whose last CRLF (or trailer section) comes in a later packet,
    completed while the worker's only thread is in a slow request: its hand-off must not
    carry the buffer whose chunk framing the parser already consumed ("0\r\n"), or the
    taker reads it again without that framing and answers 400. It is kept (or sent as it
    came) and answered 200."""
    srv = server(APP, workers=1, probe="/fast")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        # parsed while the worker is idle: its head and "0\r\n" are consumed
        s.sendall(b"POST /fast HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n")
        time.sleep(0.1)
        slow = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        slow.sendall(b"GET /sleep?ms=600 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.2)   # the thread has been in it for longer than a hand-off waits
        s.sendall(second)   # complete now, with the worker busy: it goes to the queue
        resp = read_response(s.makefile("rb"))
    assert resp.status == 200, (resp.status, resp.body)
    assert read_response(slow.makefile("rb")).status == 200
    slow.close()


# ---- the loop's own calls (--work-sharing-inline, src/loopcall.h) ---------------------------

THREAD = "uwsgi-fast-thread-1"


def names(port, path, n, sock=None):
    """The thread names n GETs of path report, on one keep-alive connection."""
    out = []
    for _ in range(n):
        status, body, sock, _ = get(port, path, sock)
        assert status == 200, (status, body)
        out.append(body.decode())
    return out, sock


@pytest.mark.parametrize("limit", [None, "0"])
def test_a_fast_target_is_called_by_the_loop_after_eight_calls(server, limit):
    """The hand-off to the application thread is skipped for a target whose last 8 calls
    were fast and finished their response; --work-sharing-inline 0 never skips it."""
    args = ["--work-sharing-inline", limit] if limit else []
    srv = server(APP, workers=1, args=args, probe="/pid")
    got, sock = names(srv.port, "/thread", 20)
    if limit == "0":
        assert got == [THREAD] * 20, got
    else:
        assert got == [THREAD] * 8 + ["MainThread"] * 12, got
    # another target (the query counts) starts its own streak
    got, sock = names(srv.port, "/thread?x=1", 1, sock)
    assert got == [THREAD], got
    sock.close()


def test_a_slow_call_sends_its_target_back_to_the_thread(server):
    srv = server(APP, workers=1, probe="/pid")
    got, sock = names(srv.port, "/flip", 9)
    assert got[-1] == "MainThread", got
    get(srv.port, "/flip-mode?to=slow", sock)
    got, sock = names(srv.port, "/flip", 1, sock)
    assert got == ["MainThread"], got  # called by the loop, found slow
    get(srv.port, "/flip-mode?to=fast", sock)
    got, sock = names(srv.port, "/flip", 9, sock)
    assert got == [THREAD] * 8 + ["MainThread"], got  # earned again
    sock.close()


def test_a_response_the_loop_call_did_not_finish_is_finished_by_the_thread(server):
    """A target that streamed where it used to answer at once: the loop called it, the
    thread takes the rest of the response over; the whole body arrives, and the target
    goes back to the thread."""
    stats_port = free_port()
    srv = server(APP, workers=1, probe="/pid",
                 args=["--stats-bind", f"127.0.0.1:{stats_port}"])
    got, sock = names(srv.port, "/flip", 9)
    assert got[-1] == "MainThread", got
    get(srv.port, "/flip-mode?to=stream", sock)
    got, sock = names(srv.port, "/flip", 2, sock)
    assert got == [f"MainThread;{THREAD};{THREAD};", f"{THREAD};" * 3], got
    get(srv.port, "/flip-mode?to=fast", sock)
    got, sock = names(srv.port, "/flip", 1, sock)
    assert got == [THREAD], got
    sock.close()

    def busy():
        with urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/metrics", timeout=5) as r:
            m = re.search(r"^uwsgi_fast_worker_threads_busy{[^}]*} (\d+)$", r.read().decode(),
                          re.M)
        return int(m.group(1))
    assert wait_until(lambda: busy() == 0, 5), busy()
    assert "Traceback" not in srv.log(), srv.log()


def test_a_fast_target_still_moves_while_the_thread_is_busy(server):
    """The loop calls nothing while its thread holds a request: /pid, which the loop calls
    itself by now, still goes to the idle sibling when it comes behind a slow call."""
    srv = server(APP, workers=2, probe="/fast")
    srv.wait_workers(2)
    # the worker that will be busy has earned the shortcut for /pid
    sock = connection_on(srv.port, srv.worker_pids()[0])
    names(srv.port, "/pid", 10, sock)
    sock.close()
    busy, results = fast_requests_during_a_slow_one(srv)
    assert max(t for t, _ in results) < 0.5, results
    assert results[0][1] != busy, results
