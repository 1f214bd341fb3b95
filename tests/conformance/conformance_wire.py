"""Sends one conformance case over a real socket and records what the server did.

The outcome of an exchange is reduced to what a client (or a proxy in front of us) can
observe, so that the same case sent whole, split in two at any byte, or byte by byte can
be compared (Outcome.same_as):

    statuses   status codes of the responses that arrived before we sent our FIN
    closed     the server ended the connection on its own (EOF or reset) before our FIN
    after_fin  status codes of responses that arrived after our FIN (a truncated
               request answered with 400, say)
    hung       after our FIN the server neither answered nor closed within fin_wait

How an exchange ends, so that the common paths cost no timeout at all: once `want`
responses arrived and the last one is 2xx we send our FIN at once; after a non-2xx
response we wait (close_wait) for the server to close; if nothing arrives for `quiet`
seconds (the server waits for bytes the case does not have) we send our FIN.
"""
import io
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration_helpers import (ConnectionClosed, connect, read_response, start_server,
                                 teardown_servers)

APPS = Path(__file__).resolve().parent / "apps"
# Idle keep-alive of the server under test: well above CLOSE_WAIT, so that a close we wait
# for is the server's answer to the request and never its idle timer.
KEEP_ALIVE = 6
CLOSE_WAIT = 1.0
# Silence that tells an unfinished request from a slow answer (loopback answers take ms).
QUIET = 0.6
# Split exchanges of one case run this many at a time; a slow case (one that waits out
# QUIET) is split at this many points only, so it costs one QUIET period.
SPLIT_THREADS = 6


@pytest.fixture(scope="module")
def conformance_server(tmp_path_factory):
    """One server for a whole corpus module (a new connection per exchange): two workers
    running apps/conformance_app.py, default limits, --keep-alive KEEP_ALIVE."""
    servers = []
    srv = start_server(servers, tmp_path_factory.mktemp("conformance"), "conformance_app:app",
                       workers=2, cwd=APPS, args=["--keep-alive", str(KEEP_ALIVE)])
    yield srv
    teardown_servers(servers)


@pytest.fixture(scope="module")
def split_pool():
    """Threads that run the split exchanges of one case side by side, so their pauses
    overlap (the server sees each split separately; the wall clock does not add up)."""
    with ThreadPoolExecutor(max_workers=SPLIT_THREADS) as pool:
        yield pool


@dataclass(frozen=True)
class Outcome:
    statuses: tuple
    closed: bool
    after_fin: tuple = ()
    hung: bool = False
    garbage: bytes = b""      # bytes that did not parse as a response

    def same_as(self, other):
        """Equal as far as the server's behaviour goes: the same answers in the same order
        and the same ending. Where our FIN fell between two answers is timing, not
        behaviour (it can only differ when the answers are not what the case expects),
        and so is whether the close after an error came before our FIN (that the server
        closes after an error is checked on the whole-request run)."""
        def norm(o):
            answers = o.statuses + o.after_fin
            ended_in_error = bool(answers) and answers[-1] >= 300
            return answers, o.closed or ended_in_error, o.hung, o.garbage
        return norm(self) == norm(other)

    def __str__(self):
        parts = [f"responses={list(self.statuses)}", "server-closed" if self.closed else
                 "open-until-our-FIN"]
        if self.after_fin:
            parts.append(f"after-FIN={list(self.after_fin)}")
        if self.hung:
            parts.append("HUNG-after-FIN")
        if self.garbage:
            parts.append(f"garbage={self.garbage[:60]!r}")
        return " ".join(parts)


def _parse_one(buf, method, at_eof):
    """(status, rest) if buf starts with a whole response, else None."""
    if b"\r\n\r\n" not in buf:
        return None
    if buf[9:10] not in (b"2", b"1") and buf.startswith(b"HTTP/"):
        method = "GET"  # an error answer may carry a body even to HEAD; framing says so
    f = io.BytesIO(buf)
    try:
        resp = read_response(f, method)
    except (AssertionError, ConnectionClosed, ValueError):
        return None
    if not at_eof and resp.header("Content-Length") is None and not resp.chunked and \
            method != "HEAD" and not (100 <= resp.status < 200 or resp.status in (204, 304)):
        return None  # close-delimited: complete only at EOF
    return resp.status, buf[f.tell():]


def exchange(port, pieces, methods=("GET",), want=1, expect_close=False, pause=0.0,
             quiet=QUIET, close_wait=CLOSE_WAIT, fin_wait=3.0):
    """Sends pieces (a list of byte strings, pause seconds apart) on a new connection and
    returns the Outcome. methods names the request methods in order (HEAD responses have
    no body); the last one repeats. With expect_close, after `want` good responses we wait
    for the server's close (close_wait) instead of sending our FIN at once."""
    sock = connect(port, timeout=fin_wait)
    statuses, after = [], []
    closed = hung = fin = False
    buf = b""

    def method_for(i):
        return methods[min(i, len(methods) - 1)] if methods else "GET"

    try:
        for i, piece in enumerate(pieces):
            if i and pause:
                time.sleep(pause)
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.settimeout(quiet)
        eof = False
        while True:
            # take every whole response out of the buffer
            while buf:
                n = len(statuses) + len(after)
                got = _parse_one(buf, method_for(n), eof)
                if got is None:
                    break
                (after if fin else statuses).append(got[0])
                buf = got[1]
            if eof:
                break
            if not fin:
                if statuses and statuses[-1] >= 300:
                    sock.settimeout(close_wait)   # an error: the server must close now
                elif len(statuses) >= want and expect_close:
                    sock.settimeout(close_wait)
                elif len(statuses) >= want:
                    fin = True
                    sock.shutdown(socket.SHUT_WR)
                    sock.settimeout(fin_wait)
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            except (socket.timeout, TimeoutError):
                if fin:
                    hung = True
                    break
                fin = True
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                sock.settimeout(fin_wait)
                continue
            if not data:
                eof = True
                if not fin:
                    closed = True
                continue
            buf += data
    finally:
        sock.close()
    return Outcome(tuple(statuses), closed, tuple(after), hung, buf)


def split_points(n, limit=None):
    """Byte offsets to split an n-byte request at: every one inside it, or `limit` of
    them (the first and last three and the rest spread evenly; with a small limit, just
    spread evenly)."""
    points = list(range(1, n))
    if limit is None or len(points) <= limit:
        return points
    edges = 3 if limit > 8 else 0
    k = limit - 2 * edges
    sample = {points[(i * (len(points) - 1)) // max(k - 1, 1)] for i in range(k)}
    sample.update(points[:edges] + points[len(points) - edges:])
    return sorted(sample)


def pieces_bytewise(data, max_sends=300):
    """data cut into single bytes, or into equal pieces when that would be too many sends."""
    size = max(1, -(-len(data) // max_sends))
    return [data[i:i + size] for i in range(0, len(data), size)]


# ---- what a case must produce --------------------------------------------------------------

@dataclass(frozen=True)
class Expect:
    """What uwsgi-fast must do with one case.

    kind:
      served        n responses, all 2xx; the connection stays open until our FIN
      served-close  n responses, all 2xx; then the server closes (Connection: close, 1.0)
      reject        n 2xx responses, then one 4xx, then the server closes
      incomplete    n 2xx responses, then silence (the request is unfinished); after our
                    FIN no 2xx, and the server closes
      upgrade       n 2xx responses (Upgrade and CONNECT are served like any request);
                    whatever follows is not served
    """
    kind: str
    n: int = 1
    why: str = ""

    def want(self):
        """Responses to wait for before our FIN. For an incomplete request one more than
        can come: the exchange then sits out its quiet period, which is what shows that
        the server waits instead of answering early."""
        return self.n + (1 if self.kind in ("reject", "incomplete") else 0)


def problems(expect, out):
    """Why outcome `out` does not meet `expect` (empty list when it does)."""
    p = []
    ok = lambda codes: all(200 <= s < 300 for s in codes)  # noqa: E731
    head, tail = out.statuses[:expect.n], out.statuses[expect.n:]
    if len(head) < expect.n or not ok(head):
        p.append(f"expected {expect.n} 2xx response(s) first")
    if out.hung:
        p.append("server neither answered nor closed after our FIN")
    if out.garbage:
        p.append("bytes after the last response that are not a response")
    if expect.kind == "served":
        if tail or out.after_fin:
            p.append("unexpected extra response")
        if out.closed:
            p.append("server closed a keep-alive connection")
    elif expect.kind == "served-close":
        if tail or out.after_fin:
            p.append("unexpected extra response")
        if not out.closed:
            p.append("server did not close after the last response")
    elif expect.kind == "reject":
        if len(tail) != 1 or not 400 <= tail[0] < 500:
            p.append("expected exactly one 4xx after the served responses")
        if not out.closed:
            p.append("server did not close after the error")
        if out.after_fin:
            p.append("a response after the error")
    elif expect.kind == "incomplete":
        if tail:
            p.append("a response before the request was complete")
        if out.closed:
            p.append("server closed before the request was complete")
        if not all(400 <= s < 500 for s in out.after_fin):
            p.append("a non-4xx answer to a truncated request")
    elif expect.kind == "upgrade":
        if not all(400 <= s < 500 for s in tail + out.after_fin):
            p.append("bytes after an Upgrade/CONNECT request were served")
        if tail and not out.closed:
            p.append("server did not close after the error")
    else:
        raise ValueError(expect.kind)
    return p


def check_whole(port, data, methods, expect):
    """One exchange with the whole request in one send; returns (outcome, seconds)."""
    t = time.monotonic()
    out = exchange(port, [data], methods, want=expect.want(),
                   expect_close=expect.kind == "served-close")
    return out, time.monotonic() - t


def check_splits(port, data, methods, expect, reference, slow, pool):
    """Sends data split in two at every byte boundary (a sample when long, or when the
    whole exchange was slow) and byte by byte; returns a list of mismatch descriptions
    comparing each outcome with `reference` (the whole-request outcome)."""
    kw = replay_args(methods, expect, reference)
    # total bytes sent stays bounded however long the case is
    limit = SPLIT_THREADS if slow else max(8, min(150, (8 << 20) // max(1, len(data))))
    points = split_points(len(data), limit)

    def one(at):
        return at, exchange(port, [data[:at], data[at:]], pause=0.002, **kw)

    bad = []
    for at, out in pool.map(one, points):
        if not out.same_as(reference):
            bad.append(f"split at byte {at} ({data[:at][-12:]!r} | {data[at:][:12]!r}): {out}")
    return bad


def check_bytewise(port, data, methods, expect, reference):
    pieces = pieces_bytewise(data)
    out = exchange(port, pieces, pause=0.0002, **replay_args(methods, expect, reference))
    return out, len(pieces)


def replay_args(methods, expect, reference):
    """exchange() arguments that observe a split run the way the whole run was observed:
    wait for as many responses as it got (it may have got more than expected in one read,
    or waited out its quiet period for fewer), and for the close if it saw one. Without
    this, where our FIN lands relative to the server's answers would differ by timing."""
    return dict(methods=methods, want=max(expect.want(), len(reference.statuses)),
                expect_close=reference.closed or expect.kind == "served-close")
