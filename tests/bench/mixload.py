#!/usr/bin/env python3
"""Closed-loop load generator for the mixed scenarios of tests/bench/run.py.

    python3 tests/bench/mixload.py --port 8000 --mix mixed [--close] [--connections 16]
                                   [--duration 3] [--timeout 5] [--seed 14]

Each of N clients sends a request, waits for the whole response, and sends the next one,
until --duration seconds have passed; the requests still in flight then finish (up to
--timeout each) and count. Which request comes next is decided here, from a seeded
sequence (MIXES: e.g. 90% /cpu?ms=1, 9% /wait?ms=20, 1% /wait?ms=200), so every server
gets the same requests in the same order, and the client knows which ones are fast.

Why not wrk: wrk reports one latency distribution for all requests; here the question
is how long the *fast* requests wait behind the slow ones, so latency is kept per kind.

Prints one line like wrk/report.lua's, "@@WRK_JSON {...}" with latencies in
microseconds, and in addition "fast_latency_us" (the requests of the kinds marked fast),
"kinds" (each kind's count and latency) and "clients" (each client's answers and longest
wait: a server that serves the connections it holds and leaves others in its accept
queue shows there, while the p99 of all requests hides it).

One thread and non-blocking sockets: at a few thousand requests per second the loop's
own delay stays far below the 1 ms that the fastest request takes, and no client waits
for another to be scheduled.

--close sends "Connection: close" and opens a new connection per request; its latency
then includes the connect. Without it a connection is kept while the server keeps it.
"""

import argparse
import errno
import json
import math
import random
import selectors
import socket
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    path: str  # what tests/bench/apps/bench_wsgi.py:mixed does with it
    share: int  # requests of this kind in each block of 100
    fast: bool  # counted in fast_latency_us


MIXES = {
    # A typical Django/Flask API: mostly the view's own work, some waiting on a query.
    "mixed": (Kind("cpu-1ms", "/cpu?ms=1", 90, True),
              Kind("wait-20ms", "/wait?ms=20", 9, False),
              Kind("wait-200ms", "/wait?ms=200", 1, False)),
    # One request in twenty waits on a slow query; the rest answer at once.
    "slow5": (Kind("now", "/now", 95, True),
              Kind("wait-200ms", "/wait?ms=200", 5, False)),
}
BLOCK = 100


def kind_sequence(mix, seed):
    """Yields the kinds of successive requests: blocks of 100 holding exactly each kind's
    share, each block shuffled by one seeded generator. The same seed gives the same
    sequence, and any run, however short, is within one block of the mix's proportions."""
    assert sum(k.share for k in mix) == BLOCK
    rng = random.Random(seed)
    block = [k for k in mix for _ in range(k.share)]
    while True:
        rng.shuffle(block)
        yield from block


class Client:
    """One closed-loop client: at most one request in flight, on its own connection."""

    def __init__(self):
        self.sock = None
        self.connected = False
        self.kind = None  # of the request in flight; None when there is none
        self.resume_at = 0.0  # when to start the next request; None: the run is over
        self.started = 0.0
        self.out = b""
        self.buf = bytearray()
        self.answered = 0
        self.max_wait = 0.0  # the longest this client waited, answered or timed out


class LoadRun:
    def __init__(self, args):
        self.addr = ("127.0.0.1", args.port)
        self.close = args.close
        self.timeout = args.timeout
        self.max_requests = args.max_requests
        self.mix = MIXES[args.mix]
        self.kinds = kind_sequence(self.mix, args.seed)
        self.sel = selectors.DefaultSelector()
        self.clients = [Client() for _ in range(args.connections)]
        self.issued = 0
        self.connections = 0
        self.errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
        self.latencies = {}  # kind name -> [microseconds]
        self.bytes = 0
        self.t0 = time.monotonic()
        self.stop_at = self.t0 + args.duration
        self.last_done = None

    def run(self):
        while True:
            now = time.monotonic()
            for c in self.clients:
                if c.kind is None and c.resume_at is not None and c.resume_at <= now:
                    self.next_request(c, now)
            wakes = [c.started + self.timeout if c.kind else c.resume_at
                     for c in self.clients if c.kind or c.resume_at is not None]
            if not wakes:
                return
            for key, mask in self.sel.select(max(0.0, min(min(wakes) - now, 0.1))):
                self.on_ready(key.data, mask)
            now = time.monotonic()
            for c in self.clients:
                if c.kind and now - c.started > self.timeout:
                    self.fail(c, "timeout", now)

    def next_request(self, c, now):
        """Starts the client's next request, or ends the client once the run is over."""
        c.kind = None
        if now >= self.stop_at or self.issued >= self.max_requests:
            self.disconnect(c)
            c.resume_at = None
            return
        c.kind = next(self.kinds)
        self.issued += 1
        c.started = now
        c.buf = bytearray()
        c.out = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n" % (
            c.kind.path, self.addr[0], self.addr[1],
            "Connection: close\r\n" if self.close else "")).encode()
        if c.sock is not None:
            self.sel.modify(c.sock, selectors.EVENT_WRITE, c)
            return
        c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.sock.setblocking(False)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.connected = False
        self.connections += 1
        self.sel.register(c.sock, selectors.EVENT_WRITE, c)
        if c.sock.connect_ex(self.addr) not in (0, errno.EINPROGRESS):
            self.fail(c, "connect", now)

    def on_ready(self, c, mask):
        now = time.monotonic()
        if mask & selectors.EVENT_WRITE:
            if not c.connected and c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.fail(c, "connect", now)
                return
            c.connected = True
            try:
                n = c.sock.send(c.out)
            except OSError:
                self.fail(c, "write", now)
                return
            c.out = c.out[n:]
            if not c.out:
                self.sel.modify(c.sock, selectors.EVENT_READ, c)
            return
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self.fail(c, "read", now)
            return
        c.buf += data
        done = parse_response(c.buf, eof=not data)
        if done is None:
            if not data:
                self.fail(c, "read", now)  # closed before a whole response
            return
        status, keep = done
        self.bytes += len(c.buf)
        if status >= 400:
            self.errors["status"] += 1
        self.latencies.setdefault(c.kind.name, []).append((now - c.started) * 1e6)
        self.last_done = now
        c.answered += 1
        c.max_wait = max(c.max_wait, now - c.started)
        if not keep or self.close:
            self.disconnect(c)
        self.next_request(c, now)

    def fail(self, c, what, now):
        """Counts the error, drops the connection; the client starts its next request on
        the next turn of the loop (10 ms later after a refused connect, not to spin)."""
        self.errors[what] += 1
        c.max_wait = max(c.max_wait, now - c.started)
        self.disconnect(c)
        c.kind = None
        c.resume_at = now + (0.01 if what == "connect" else 0.0)

    def disconnect(self, c):
        if c.sock is not None:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
            c.sock = None

    def report(self):
        end = self.last_done or time.monotonic()
        names = {k.name: k for k in self.mix}
        every, fast = [], []
        kinds = {}
        for name, lats in self.latencies.items():
            every += lats
            if names[name].fast:
                fast += lats
            kinds[name] = {"requests": len(lats), "fast": names[name].fast,
                           "latency_us": latency_summary(lats)}
        return {"requests": len(every), "duration_us": round((end - self.t0) * 1e6),
                "bytes": self.bytes, "errors": self.errors,
                "latency_us": latency_summary(every),
                "fast_latency_us": latency_summary(fast), "kinds": kinds,
                "issued": self.issued, "connections": self.connections,
                "clients": [{"answered": c.answered, "max_wait_s": round(c.max_wait, 3)}
                            for c in self.clients]}


def parse_response(buf, eof):
    """(status, keep-alive) once `buf` holds one whole response, else None. A response
    without Content-Length ends when the server closes (eof). Chunked bodies are not
    expected: the apps send Content-Length."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status = int(rest[:3])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    keep = version == "HTTP/1.1" and headers.get("connection") != "close"
    if "content-length" not in headers:
        return (status, False) if eof else None
    if len(buf) - end - 4 < int(headers["content-length"]):
        return None
    return status, keep


def latency_summary(lats):
    """wrk's latency fields (microseconds) of a list of latencies; zeros when empty."""
    lats = sorted(lats)
    if not lats:
        return {"min": 0, "mean": 0, "max": 0, "p50": 0, "p75": 0, "p90": 0, "p99": 0,
                "p999": 0}

    def pct(q):  # nearest rank
        return round(lats[max(0, math.ceil(len(lats) * q / 100) - 1)])

    return {"min": round(lats[0]), "mean": round(sum(lats) / len(lats), 1),
            "max": round(lats[-1]), "p50": pct(50), "p75": pct(75), "p90": pct(90),
            "p99": pct(99), "p999": pct(99.9)}


def main(argv):
    ap = argparse.ArgumentParser(description="Closed-loop load with a mix of fast and slow "
                                             "requests (see the module's docstring).")
    ap.add_argument("--port", type=int, required=True, help="the server, on 127.0.0.1")
    ap.add_argument("--mix", choices=sorted(MIXES), required=True)
    ap.add_argument("--connections", type=int, default=16, help="clients (default 16)")
    ap.add_argument("--duration", type=float, default=3.0,
                    help="seconds during which new requests start (default 3)")
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="seconds one request may take before it counts as an error and its "
                         "connection is dropped (default 5)")
    ap.add_argument("--close", action="store_true",
                    help="a new connection per request (Connection: close)")
    ap.add_argument("--seed", type=int, default=14, help="of the request sequence (default 14)")
    ap.add_argument("--max-requests", type=int, default=1000000,
                    help="start no more requests than this (default 1,000,000)")
    args = ap.parse_args(argv)
    run = LoadRun(args)
    run.run()
    print("@@WRK_JSON " + json.dumps(run.report(), separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
