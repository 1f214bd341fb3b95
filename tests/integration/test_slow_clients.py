"""Slow and greedy clients: slowloris, slow bodies, the header / body / keep-alive
deadlines and the per-worker connection cap.

The load tests hold a bounded number of trickling connections ($UF_SLOWLORIS_CONNS,
default 300: this runs on 2 shared cores; the issue's 1000 is for a bigger box) while a
normal client measures its own errors (must be 0) and its p99 latency, which must stay
within 2x of the unloaded p99 measured in the same test, or within LATENCY_FLOOR when both
are tiny (loopback numbers under a millisecond are mostly scheduler noise).

A shared 2-core machine is noisy, so each side is measured twice: the unloaded p99 before
and after the load (the larger counts), the loaded p99 twice under the same load (the
smaller counts). A one-off spike passes; a server that slows down under the load does
not, since both loaded measurements show it.
"""
import os
import re
import socket
import threading
import time

import pytest

from conftest import (ConnectionClosed, build_request, connect, expect_eof, read_response,
                      run_binary)

SLOW_CONNS = int(os.environ.get("UF_SLOWLORIS_CONNS", "300"))
TRICKLE = 0.5          # seconds between two bytes of a slow client
LATENCY_FLOOR = 0.050  # seconds: a p99 under this passes whatever the ratio
SAMPLES = 150          # requests per latency measurement
PACE = 0.012           # seconds between two of them: a measurement spans several trickles


def p99(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def measure(srv, n=SAMPLES, pace=PACE):
    """n requests, each on a new connection, pace seconds apart; returns (errors, p99
    seconds, error texts)."""
    times, errors = [], []
    for _ in range(n):
        time.sleep(pace)
        t = time.monotonic()
        try:
            resp = srv.request("GET", "/", timeout=5)
            if resp.status != 200 or resp.body != b"Hello, World!":
                errors.append(f"status {resp.status}")
        except OSError as e:
            errors.append(repr(e))
        times.append(time.monotonic() - t)
    return len(errors), p99(times), errors[:5]


class Trickler:
    """Sends one byte of `payload` on every socket of `socks` each TRICKLE seconds, from
    one background thread, until stop(). Sockets the server closes are counted, not
    reopened."""

    def __init__(self, socks, payload):
        self.payload = payload
        self.socks = socks
        for s in socks:
            s.setblocking(False)
        self.sent = 0
        self.closed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def open(port, count=SLOW_CONNS, first=b""):
        socks = []
        for _ in range(count):
            s = connect(port)
            if first:
                s.sendall(first)
            socks.append(s)
        return socks

    def _run(self):
        pos = 0
        while not self._stop.is_set() and pos < len(self.payload):
            byte = self.payload[pos:pos + 1]
            for s in self.socks:
                if s.fileno() < 0:
                    continue
                try:
                    s.send(byte)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self.closed += 1
                    s.close()
            pos += 1
            self.sent = pos
            self._stop.wait(TRICKLE)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)
        for s in self.socks:
            s.close()


def under_load(srv, start_load, what):
    """Measures the normal client before, during (twice) and after the load that
    start_load() starts (it returns the Trickler); asserts errors and latency."""
    measure(srv, 20)  # warm up
    errors, before, texts = measure(srv)
    assert errors == 0, texts
    slow = start_load()
    try:
        time.sleep(2 * TRICKLE)  # every slow connection has sent something
        loaded = []
        for _ in range(2):
            errors, p, texts = measure(srv)
            assert errors == 0, f"{errors} errors under {what}: {texts}"
            loaded.append(p)
        assert slow.closed == 0, f"server closed {slow.closed} slow connections early"
        assert slow.sent >= 6, "the slow clients hardly sent anything during the measurement"
    finally:
        slow.stop()
    errors, after, texts = measure(srv)
    assert errors == 0, texts
    unloaded = max(before, after)
    bound = max(2 * unloaded, LATENCY_FLOOR)
    print(f"p99 unloaded {before * 1000:.2f}/{after * 1000:.2f} ms, under {what} "
          f"{loaded[0] * 1000:.2f}/{loaded[1] * 1000:.2f} ms")
    assert min(loaded) <= bound, (
        f"p99 under {what} {[round(x * 1000, 1) for x in loaded]} ms > bound "
        f"{bound * 1000:.1f} ms (unloaded p99 {before * 1000:.1f}/{after * 1000:.1f} ms)")


# ---- slowloris ------------------------------------------------------------------------

def test_slowloris_does_not_hurt_normal_clients(server):
    # one worker: the trickling connections and the measured client share its loop
    srv = server("basic:app", workers=1, args=["--header-timeout", "60"])
    # a header that never ends: every byte keeps the connection "in headers"
    payload = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200
    under_load(srv, lambda: Trickler(Trickler.open(srv.port), payload).start(),
               f"{SLOW_CONNS} slowloris connections")


def test_slow_body_clients_do_not_hurt_normal_clients(server):
    srv = server("basic:app", workers=1, args=["--body-timeout", "60"])
    # complete heads that promise a body, then the body one byte at a time
    body_len = 60
    head = build_request("POST", "/echo", headers=[("Content-Length", str(body_len))])
    under_load(srv, lambda: Trickler(Trickler.open(srv.port, first=head),
                                     b"b" * body_len).start(),
               f"{SLOW_CONNS} slow-body connections")


def test_slow_body_is_served_when_it_completes_in_time(server):
    srv = server("basic:app", args=["--body-timeout", "2"])
    sock = srv.connect()
    try:
        sock.sendall(build_request("POST", "/echo", headers=[("Content-Length", "6")]))
        for b in b"abcdef":
            time.sleep(0.3)   # each gap well under --body-timeout
            sock.sendall(bytes([b]))
        resp = read_response(sock.makefile("rb"), "POST")
        assert resp.status == 200 and resp.body == b"abcdef"
    finally:
        sock.close()


# ---- deadlines ---------------------------------------------------------------------------

def test_deadline_defaults():
    """The tests below shorten the deadlines for speed; these are the defaults they stand
    for (issue 8: 10 s to send the head)."""
    out = run_binary(["--print-config", "basic:app"]).stdout
    settings = dict(line.split("#")[0].split("=", 1) for line in out.splitlines()
                    if "=" in line and not line.startswith("#"))
    settings = {k.strip(): v.strip() for k, v in settings.items()}
    assert settings["header_timeout"] == "10"
    assert settings["body_timeout"] == "30"
    assert settings["keepalive"] == "2"
    assert settings["worker_connections"] == "1000"


def wait_answer(sock, timeout):
    """(response or None, seconds until it came or the connection closed)."""
    sock.settimeout(timeout)
    t = time.monotonic()
    try:
        resp = read_response(sock.makefile("rb"))
    except ConnectionClosed:
        resp = None
    return resp, time.monotonic() - t


def test_header_timeout_gives_408_and_closes(server):
    srv = server("basic:app", args=["--header-timeout", "2"])
    sock = srv.connect()
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        resp, took = wait_answer(sock, 6)
        assert resp is not None and resp.status == 408, resp
        assert 1.5 <= took <= 4.0, f"408 after {took:.2f}s with --header-timeout 2"
        assert expect_eof(sock, 3), "connection left open after 408"
    finally:
        sock.close()


def test_trickling_does_not_extend_the_header_deadline(server):
    """The deadline runs from the accept, not from the last byte (slowloris)."""
    srv = server("basic:app", args=["--header-timeout", "2"])
    sock = srv.connect()
    start = time.monotonic()
    try:
        answer = None
        for b in b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: " + b"a" * 40:
            try:
                sock.sendall(bytes([b]))
            except OSError:
                break
            sock.settimeout(0.25)
            try:
                answer = sock.recv(65536)
                break
            except (socket.timeout, TimeoutError):
                pass
        took = time.monotonic() - start
        assert answer is not None and answer.startswith(b"HTTP/1.1 408"), answer
        assert took <= 4.0, f"408 only after {took:.2f}s of trickling (--header-timeout 2)"
    finally:
        sock.close()


def test_silent_connection_is_closed_after_header_timeout(server):
    srv = server("basic:app", args=["--header-timeout", "2"])
    sock = srv.connect()
    try:
        resp, took = wait_answer(sock, 6)
        assert resp is None, f"a connection that sent nothing got {resp}"
        assert 1.5 <= took <= 4.0, f"closed after {took:.2f}s with --header-timeout 2"
    finally:
        sock.close()


def test_body_timeout_gives_408_and_closes(server):
    srv = server("basic:app", args=["--body-timeout", "1"])
    sock = srv.connect()
    try:
        sock.sendall(build_request("POST", "/echo", headers=[("Content-Length", "10")]) + b"ab")
        resp, took = wait_answer(sock, 5)
        assert resp is not None and resp.status == 408, resp
        assert 0.7 <= took <= 3.0, f"408 after {took:.2f}s with --body-timeout 1"
        assert expect_eof(sock, 3), "connection left open after 408"
    finally:
        sock.close()


def test_keep_alive_idle_timeout(server):
    srv = server("basic:app", args=["--keep-alive", "1"])
    sock = srv.connect()
    try:
        rfile = sock.makefile("rb")
        sock.sendall(build_request("GET", "/"))
        assert read_response(rfile).status == 200
        time.sleep(0.4)   # inside the idle window: still served on the same connection
        sock.sendall(build_request("GET", "/"))
        assert read_response(rfile).status == 200
        start = time.monotonic()
        assert expect_eof(sock, 4), "idle keep-alive connection never closed"
        took = time.monotonic() - start
        assert 0.7 <= took <= 2.5, f"idle connection closed after {took:.2f}s (--keep-alive 1)"
    finally:
        sock.close()


def test_keep_alive_zero_closes_after_each_response(server):
    srv = server("basic:app", args=["--keep-alive", "0"])
    (resp,), sock, _ = srv.raw(build_request("GET", "/"))
    try:
        assert resp.status == 200
        assert (resp.header("Connection") or "").lower() == "close"
        assert expect_eof(sock, 3)
    finally:
        sock.close()


# ---- connection cap ----------------------------------------------------------------------

def test_worker_connection_cap(server):
    """Over --worker-connections a new connection is refused (a 503, a warning in the
    log) and the held ones are unaffected; once a slot frees, new connections are served
    again."""
    cap = 4
    srv = server("basic:app", workers=1, args=["--worker-connections", str(cap),
                                               "--header-timeout", "30"])
    held = []
    try:
        for _ in range(cap):
            s = srv.connect()
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")  # unfinished: holds a slot
            held.append(s)
        # the worker takes the held connections when it next runs; on a loaded machine
        # that may be after an extra client, which is then simply served: try again
        deadline = time.monotonic() + 10
        while True:
            extra = srv.connect()
            try:
                extra.sendall(build_request("GET", "/"))
            except OSError:
                pass
            extra.settimeout(3)
            try:
                data = extra.recv(65536)
            except ConnectionResetError:
                data = b""
            extra.close()
            if not data.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert not data.startswith(b"HTTP/1.1 200"), "served over the connection cap"
        assert data == b"" or data.startswith(b"HTTP/1.1 503"), f"unexpected answer {data!r}"
        assert "connection limit" in srv.log()

        # the held connections still work
        held[0].sendall(b"\r\n")
        assert read_response(held[0].makefile("rb")).status == 200

        # free the slots; new connections are served again
        for s in held:
            s.close()
        held = []
        deadline = time.monotonic() + 5
        while True:
            try:
                if srv.request("GET", "/", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "not served again after slots freed"
            time.sleep(0.1)
    finally:
        for s in held:
            s.close()


def test_worker_connection_cap_answers_503(server):
    cap = 2
    srv = server("basic:app", workers=1, args=["--worker-connections", str(cap),
                                               "--header-timeout", "30"])
    held = [srv.connect() for _ in range(cap)]
    try:
        for s in held:
            s.sendall(b"GET / HTTP/1.1\r\n")
        # the worker takes the held connections when it next runs; on a loaded machine
        # that may be after the first extra client, which is then simply served
        deadline = time.monotonic() + 10
        while True:
            extra = srv.connect()
            try:
                extra.sendall(build_request("GET", "/", headers=[("Connection", "close")]))
                resp = read_response(extra.makefile("rb"))
            except (ConnectionClosed, OSError) as e:
                pytest.fail(f"no answer over the cap: {e!r}")
            finally:
                extra.close()
            if resp.status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert resp.status == 503
        assert resp.header("Retry-After") == "1"
    finally:
        for s in held:
            s.close()


def test_half_closed_client_with_partial_pipelined_request_is_closed(server):
    # a short graceful timeout: the leaked connection also holds up the stop at teardown
    srv = server("basic:app", args=["--header-timeout", "2", "--keep-alive", "2",
                                    "--graceful-timeout", "2"])
    sock = srv.connect()
    try:
        # a response larger than the socket buffers, not read yet: our FIN is seen while
        # it is still being written (when the response is out first, the FIN lands in
        # READING and the connection is closed correctly)
        sock.sendall(build_request("GET", "/big?n=8000000") + b"GET / HTTP/1.1\r\nHo")
        sock.shutdown(socket.SHUT_WR)
        time.sleep(0.3)
        rfile = sock.makefile("rb")
        assert read_response(rfile).status == 200
        assert expect_eof(sock, 6), "connection never closed after the client's FIN"
    finally:
        sock.close()


def test_connection_storm_logs_one_line_a_second(server):
    """Refusals over --worker-connections are logged at most once a second; the next line
    says how many were refused meanwhile, so a storm cannot fill the disk."""
    cap = 2
    srv = server("basic:app", workers=1, args=["--worker-connections", str(cap),
                                               "--header-timeout", "30"])
    held = []
    refused = 0
    try:
        for _ in range(cap):
            s = srv.connect()
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")  # unfinished: holds a slot
            held.append(s)
        time.sleep(0.3)
        # the fixture's readiness probe may still have held a slot when those came, so one
        # of them was refused and a slot is free now: fill it until one is refused
        for _ in range(cap):
            s = srv.connect()
            s.settimeout(0.5)
            try:
                answered = s.recv(64)
            except socket.timeout:
                s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
                held.append(s)
                continue
            s.close()
            if answered.startswith(b"HTTP/1.1 503"):
                break
        storm_ends = time.monotonic() + 2.5
        while time.monotonic() < storm_ends:
            s = srv.connect()
            s.settimeout(2)
            try:
                if s.recv(64).startswith(b"HTTP/1.1 503"):
                    refused += 1
            except OSError:
                pass
            s.close()
    finally:
        for s in held:
            s.close()
    assert refused >= 20, f"only {refused} refusals: the storm did not happen"
    lines = [ln for ln in srv.log().splitlines() if "connection limit" in ln]
    assert 2 <= len(lines) <= 4, "\n".join(lines)
    more = [int(re.search(r"\((\d+) more refused since the last such line\)", ln).group(1))
            for ln in lines[1:]]
    assert sum(more) >= refused // 2, (more, refused, lines)
