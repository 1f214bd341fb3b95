"""--threads N: N Python threads per worker run the application while the worker's one
io_uring loop thread does all the I/O.

What is checked, against the real binary over loopback (apps/threads_app.py):
- a sleeping application scales with the threads (2 workers x 16 threads, 256 connections);
- at most N requests are in the application per worker, N is reached, the rest queue,
  and idle keep-alive connections hold no thread;
- streaming, wsgi.file_wrapper, uploads (spooled ones too) and exceptions from many
  threads at once, behind wsgiref.validate, with no crash and no leak;
- the worker lifecycle with busy threads: --timeout, --max-requests, HUP, TERM's drain;
- wsgi.multithread, the setting's layers and its bad values.

The machine this runs on may have 2 cores shared with a fuzzer, so the throughput bound
is well under the ideal and every wait is bounded.
"""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import (ConnectionClosed, build_request, connect, free_port, read_response,
                      run_binary, wait_until)

APP = "threads_app:app"
VALIDATED = "threads_app:validated"
PROBE = "/sleep?ms=0"
MiB = 1 << 20
# What wsgiref.validate (or a WSGIWarning made an error) leaves in the log when unhappy.
VALIDATOR_COMPLAINTS = ("AssertionError", "WSGIWarning", "garbage collected without being")
# What the master logs when a worker went away other than by a planned replacement.
WORKER_DEATHS = re.compile(
    r"Worker \(pid:\d+\) (exited with code|was sent SIG|crashed|was killed by)|WORKER TIMEOUT")


def threads(n):
    return ["--threads", str(n)]


class Client:
    """One keep-alive connection. It reopens after a response that says Connection: close;
    any other failure closes it and reaches the caller, who counts it."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.rfile = None

    def open(self):
        if self.sock is None:
            self.sock = connect(self.port, timeout=self.timeout)
            self.rfile = self.sock.makefile("rb")
        return self

    def send(self, method, path, body=b"", close=False, headers=()):
        self.open()
        headers = [*headers, *([("Connection", "close")] if close else [])]
        if method == "POST" and not body:
            headers.append(("Content-Length", "0"))
        self.sock.sendall(build_request(method, path, headers, body))

    def receive(self, method="GET", close=False):
        resp = read_response(self.rfile, method)
        if close or (resp.header("Connection") or "").lower() == "close":
            self.close()
        return resp

    def request(self, method, path, body=b"", close=False, headers=()):
        try:
            self.send(method, path, body, close, headers)
            return self.receive(method, close)
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.sock is not None:
            self.rfile.close()
            self.sock.close()
        self.sock = self.rfile = None


def get_json(srv, path):
    resp = srv.request("GET", path)
    assert resp.status == 200, resp
    return resp.json()


def per_worker(srv, path, count):
    """path's JSON from each of count workers (new connections land on all of them)."""
    seen = {}
    for _ in range(300):
        doc = get_json(srv, path)
        seen.setdefault(doc["pid"], doc)
        if len(seen) >= count:
            return seen
    srv.fail(f"reached only workers {sorted(seen)} of {count} through {path}")


def in_parallel(count, target):
    """Runs target(i) in count threads started together; returns their results in order
    (an exception is returned in its place, to be counted by the caller)."""
    results = [None] * count
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = target(i)
        except Exception as e:  # noqa: BLE001 - each failure is a result the test counts
            results[i] = e

    ts = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in ts), "a client thread is still running after 60 s"
    return results


def wrk(url, conns, seconds):
    """Runs wrk against url; returns (requests/s, requests, socket errors, non-2xx/3xx
    responses, wrk's report)."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (scripts/setup.sh installs it)")
    # --timeout 5s: only a request stuck far beyond any queueing here counts as an error
    res = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", url],
                         capture_output=True, text=True, timeout=seconds + 30)
    out = res.stdout
    assert res.returncode == 0, f"wrk failed ({res.returncode}): {out}{res.stderr}"
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", out)
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, requests, errors, int(non2xx.group(1)) if non2xx else 0, out


def assert_no_worker_died(srv, pids):
    assert srv.running(), f"master exited with {srv.proc.returncode}"
    assert srv.worker_pids() == sorted(pids), "a worker was replaced"
    death = WORKER_DEATHS.search(srv.log())
    assert death is None, f"log says {death.group(0)!r}"


# ---- throughput and the concurrency bound ------------------------------------------------

def test_sleeping_app_scales_with_threads(server):
    """2 workers x 16 threads of an app that sleeps 50 ms: ideally 640 requests/s."""
    srv = server(APP, workers=2, args=threads(16), probe=PROBE)
    pids = srv.wait_workers(2)
    rps, requests, errors, non2xx, out = wrk(srv.url("/sleep?ms=50"), 256, 5)
    print(f"--threads 16, 2 workers, 256 connections: {rps:.0f} requests/s "
          f"({requests} requests, {errors} socket errors, {non2xx} non-2xx)")
    assert errors == 0 and non2xx == 0, out
    assert rps >= 500, out
    # each worker had all of its 16 threads busy, and never more
    for pid, doc in per_worker(srv, "/stats", 2).items():
        assert doc["max_inflight"] == 16, doc
        assert doc["tids"] == 16, f"not exactly --threads threads ran the application: {doc}"
        assert doc["tasks"] == 17, f"not one loop thread and 16 application threads: {doc}"
    assert_no_worker_died(srv, pids)

    # the contrast: one thread per worker serialises the sleeps (2 x 20 = 40 requests/s)
    single = server(APP, workers=2, args=threads(1), probe=PROBE)
    rps1, _, errors1, non2xx1, out1 = wrk(single.url("/sleep?ms=50"), 32, 2)
    print(f"--threads 1, 2 workers, 32 connections: {rps1:.0f} requests/s")
    assert errors1 == 0 and non2xx1 == 0, out1
    assert rps1 <= 50, f"one thread per worker ran sleeps concurrently:\n{out1}"
    assert rps >= 8 * rps1


def test_concurrency_is_bounded_and_idle_keepalive_holds_no_thread(server):
    srv = server(APP, workers=1, args=[*threads(3), "--keep-alive", "30"], probe=PROBE)
    # 30 keep-alive connections, each answered once and then idle
    idle = [Client(srv.port) for _ in range(30)]
    for c in idle:
        assert c.request("GET", PROBE).status == 200
    get_json(srv, "/stats?reset")
    # 9 requests of 300 ms at once on 3 threads: three rounds, the rest wait in the queue
    started = time.monotonic()
    results = in_parallel(9, lambda i: Client(srv.port).request("GET", "/sleep?ms=300",
                                                                close=True))
    elapsed = time.monotonic() - started
    assert all(getattr(r, "status", None) == 200 and r.body == b"ok" for r in results), results
    doc = get_json(srv, "/stats")
    assert doc["max_inflight"] == 3, doc
    assert doc["tids"] == 3 and doc["tasks"] == 4, doc
    assert 0.85 <= elapsed < 3.0, f"9 x 300 ms on 3 threads took {elapsed:.2f} s"
    # the idle connections were kept and still work
    for c in idle:
        resp = c.request("GET", PROBE)
        assert resp.status == 200 and resp.body == b"ok"
        c.close()


# ---- thread safety -----------------------------------------------------------------------

def chunked(body, rng):
    """body in the chunked transfer coding, cut at random places."""
    out, pos = [], 0
    while pos < len(body):
        n = rng.randint(1, 70000)
        out.append(b"%x\r\n%s\r\n" % (len(body[pos:pos + n]), body[pos:pos + n]))
        pos += n
    return b"".join(out) + b"0\r\n\r\n"


class Mix:
    """Streaming, uploads (Content-Length or chunked; a few over 1 MB, which the server
    spools), wsgi.file_wrapper, exceptions (before the response and inside a generator)
    and short sleeps, from client threads on keep-alive connections; every response is
    checked byte for byte."""

    KINDS = ("stream", "upload", "chunked-upload", "big-upload", "error", "stream-error",
             "file", "sleep")
    WEIGHTS = (25, 20, 5, 4, 12, 3, 11, 20)

    def __init__(self, port, file_path, file_data):
        self.port = port
        self.file_path = file_path
        self.file_data = file_data
        rng = random.Random(1)
        self.bodies = [rng.randbytes(n) for n in (0, 1, 777, 65536, 65537, 200_000)]
        self.big = [rng.randbytes(n) for n in (MiB + 1, 3 * MiB // 2)]
        self.digests = {id(b): f"{hashlib.sha256(b).hexdigest()} {len(b)}".encode()
                        for b in self.bodies + self.big}
        self.tags = []       # every /error sent
        self.counts = dict.fromkeys(self.KINDS, 0)
        self.lock = threading.Lock()

    def one(self, client, rng, name):
        """One request of a random kind; returns an error text or None."""
        kind = rng.choices(self.KINDS, self.WEIGHTS)[0]
        with self.lock:
            self.counts[kind] += 1
            serial = sum(self.counts.values())
        if kind == "stream":
            n, size, seed = rng.randint(0, 40), rng.randint(1, 3000), rng.randint(0, 255)
            resp = client.request("GET", f"/stream?n={n}&size={size}&seed={seed}")
            want = b"".join(bytes([(seed + i) % 256]) * size for i in range(n))
        elif kind in ("upload", "big-upload"):
            body = rng.choice(self.bodies if kind == "upload" else self.big)
            resp = client.request("POST", "/upload", body)
            want = self.digests[id(body)]
        elif kind == "chunked-upload":
            body = rng.choice(self.bodies + self.big)
            resp = client.request("POST", "/upload", chunked(body, rng),
                                  headers=[("Transfer-Encoding", "chunked")])
            want = self.digests[id(body)]
        elif kind in ("error", "stream-error"):
            tag = f"{name}-{serial}"
            with self.lock:
                self.tags.append(tag)
            if kind == "error":
                resp = client.request("GET", f"/error?tag={tag}")
                if resp.status != 500 or tag.encode() in resp.body:
                    return f"/error gave {resp}"
                return None
            try:
                resp = client.request("GET", f"/stream?n=3&size=100&fail={tag}")
            except TimeoutError:
                return "a generator that raised left its connection hanging"
            except (AssertionError, ConnectionClosed, OSError):
                return None   # the response was cut: the client can tell it is incomplete
            if resp.status != 500:
                return f"a generator that raised was delivered as a complete {resp!r}"
            return None
        elif kind == "file":
            resp = client.request("GET", f"/file?path={self.file_path}")
            want = self.file_data
        else:
            resp = client.request("GET", f"/sleep?ms={rng.randint(0, 5)}")
            want = b"ok"
        if resp.status != 200 or resp.body != want:
            return f"{kind}: {resp!r} ({len(resp.body)} bytes, wanted {len(want)})"
        return None

    def run(self, total, clients=16, seed=0):
        """total requests from clients threads; returns the error texts."""
        errors = []

        def client_thread(i):
            rng = random.Random(seed * 1000 + i)
            client = Client(self.port)
            try:
                for _ in range(total // clients):
                    try:
                        err = self.one(client, rng, f"c{seed}.{i}")
                    except Exception as e:  # noqa: BLE001 - counted below
                        err = repr(e)
                    if err:
                        errors.append(err)
            finally:
                client.close()

        crashed = [r for r in in_parallel(clients, client_thread) if r is not None]
        return errors + [repr(e) for e in crashed]


def test_thread_safety_mixed_load_validated_no_leaks(server, tmp_path):
    """8 threads behind wsgiref.validate: no crash, every response right, no growth."""
    blob = tmp_path / "blob"
    data = random.Random(2).randbytes(300_000)
    blob.write_bytes(data)
    srv = server(VALIDATED, workers=1, args=threads(8), probe=PROBE)
    (pid,) = srv.wait_workers(1)
    mix = Mix(srv.port, blob, data)

    # exceptions from every thread at the same moment
    burst = in_parallel(16, lambda i: Client(srv.port).request("GET", f"/error?tag=burst-{i}",
                                                               close=True))
    assert [getattr(r, "status", r) for r in burst] == [500] * 16, burst
    mix.tags += [f"burst-{i}" for i in range(16)]

    assert mix.run(400, seed=1) == []          # warm-up: caches, free lists, spool files
    first = get_json(srv, "/objects")
    errors = mix.run(800, seed=2)
    middle = get_json(srv, "/objects")
    errors += mix.run(1600, seed=3)
    last = get_json(srv, "/objects")
    assert errors == [], errors[:10]
    print(f"requests by kind: {mix.counts}")
    print("objects after 400 / 1200 / 2800 requests:",
          {k: (first[k], middle[k], last[k]) for k in ("gc_objects", "blocks", "fds", "tasks")},
          {t: (first["types"][t], middle["types"][t], last["types"][t]) for t in first["types"]})

    assert_no_worker_died(srv, [pid])
    # every exception reached the log with its traceback, from whichever thread raised it
    assert wait_until(lambda: srv.log().count("threads-boom-sentinel") >= len(mix.tags), 5)
    log = srv.log()
    missing = [t for t in mix.tags if f"RuntimeError: threads-boom-sentinel {t}\n" not in log]
    assert missing == [], f"{len(missing)} tracebacks missing from the log, e.g. {missing[:5]}"
    assert log.count("Traceback (most recent call last)") >= len(mix.tags)
    for complaint in VALIDATOR_COMPLAINTS:
        assert complaint not in log, f"the validator complained: {complaint}"

    # 1600 requests after the middle measurement: a leak of one object in every 20
    # requests of one kind would be 80 or more of that type; the noise seen is a few
    assert last["fds"] == first["fds"], "file descriptors leaked (spooled uploads? files?)"
    assert last["tasks"] == first["tasks"] == 9, "threads came or went"
    for name, before in middle["types"].items():
        assert last["types"][name] - before <= 40, f"{name} grew {before} -> {last['types'][name]}"
    assert last["gc_objects"] - middle["gc_objects"] <= 150, (middle, last)
    # one leaked bytes object or buffer per request is invisible to gc but not to the allocator
    assert last["blocks"] - middle["blocks"] <= 800, (middle["blocks"], last["blocks"])
    if "refcount" in last:
        assert last["refcount"] - middle["refcount"] <= 2000, (middle, last)


def test_streams_files_uploads_and_errors_from_threads_unvalidated(server, tmp_path):
    """The same mix on the plain application, where wsgi.file_wrapper reaches the server
    as itself (the validator hides it behind an iterator)."""
    blob = tmp_path / "blob"
    data = random.Random(3).randbytes(5 * MiB // 2)
    blob.write_bytes(data)
    srv = server(APP, workers=1, args=threads(4), probe=PROBE)
    (pid,) = srv.wait_workers(1)
    mix = Mix(srv.port, blob, data)
    mix.WEIGHTS = (20, 15, 5, 10, 10, 5, 25, 10)
    errors = mix.run(480, clients=12, seed=4)
    assert errors == [], errors[:10]
    assert mix.counts["file"] > 50 and mix.counts["big-upload"] > 20, mix.counts
    doc = get_json(srv, "/stats")
    assert doc["max_inflight"] <= 4 and doc["tids"] <= 4, doc
    assert_no_worker_died(srv, [pid])


# ---- wsgi.multithread and the setting ------------------------------------------------------

@pytest.mark.parametrize("args, env, multithread", [
    ([], None, False),
    (threads(1), None, False),
    (threads(4), None, True),
    ([], {"UWSGI_FAST_THREADS": "3"}, True),
])
def test_wsgi_multithread(server, args, env, multithread):
    srv = server(APP, workers=1, args=args, env=env, probe=PROBE)
    docs = in_parallel(6, lambda i: get_json(srv, "/env"))
    assert all(isinstance(d, dict) for d in docs), docs
    assert {d["wsgi.multithread"] for d in docs} == {multithread}, docs
    assert {d["wsgi.run_once"] for d in docs} == {False}
    assert {d["wsgi.multiprocess"] for d in docs} == {False}   # one worker
    if multithread:   # the loop thread never runs the application then
        assert not any(d["main_thread"] for d in docs), docs
        # named for logging's %(threadName)s, not "Dummy-N"
        assert all(re.fullmatch(r"uwsgi-fast-thread-\d+", d["thread_name"]) for d in docs), docs


def test_metrics_show_busy_threads_and_the_queue(server):
    """/metrics and /stats show how many threads are busy and how many complete requests
    wait for one: the figures an operator sizes --threads by."""
    stats_port = free_port()
    srv = server(APP, workers=1, probe=PROBE,
                 args=[*threads(4), "--stats-bind", f"127.0.0.1:{stats_port}"])

    def scrape(path):
        with urllib.request.urlopen(f"http://127.0.0.1:{stats_port}{path}", timeout=5) as r:
            return r.read().decode()

    def gauge(text, name):
        m = re.search(rf"^{name}{{[^}}]*}} (\d+)$", text, re.M)
        return int(m.group(1)) if m else None

    text = scrape("/metrics")
    assert (gauge(text, "uwsgi_fast_worker_threads"),
            gauge(text, "uwsgi_fast_worker_threads_busy"),
            gauge(text, "uwsgi_fast_worker_app_queue")) == (4, 0, 0), text
    def waiting(text):
        # behind long requests, waiting requests move to the shared queue (work sharing),
        # where they outlive the worker; either way they wait for a thread
        shared = re.search(r"^uwsgi_fast_shared_queue (\d+)$", text, re.M)
        return gauge(text, "uwsgi_fast_worker_app_queue") + int(shared.group(1))

    # 7 requests of 3 s on 4 threads: 4 in the application, 3 waiting. Each view is
    # polled on its own: on a loaded machine the 3 s can run out between two scrapes.
    slow = [threading.Thread(target=lambda: Client(srv.port).request(
        "GET", "/sleep?ms=3000", close=True)) for _ in range(7)]
    for t in slow:
        t.start()

    def metrics_view():
        text = scrape("/metrics")
        return gauge(text, "uwsgi_fast_worker_threads_busy"), waiting(text)

    def stats_view():
        doc = json.loads(scrape("/stats"))
        (worker,) = doc["workers"]
        return (worker["threads"], worker["threads_busy"],
                worker["app_queue"] + doc["shared_queue"])

    assert wait_until(lambda: metrics_view() == (4, 3), timeout=5), metrics_view()
    assert wait_until(lambda: stats_view() == (4, 4, 3), timeout=3), stats_view()
    for t in slow:
        t.join(timeout=15)
    assert wait_until(lambda: gauge(scrape("/metrics"), "uwsgi_fast_worker_threads_busy") == 0,
               timeout=5)


def test_wsgi_multiprocess_with_two_workers(server):
    srv = server(APP, workers=2, args=threads(2), probe=PROBE)
    docs = in_parallel(6, lambda i: get_json(srv, "/env"))
    assert {d["wsgi.multiprocess"] for d in docs} == {True}, docs
    assert {d["wsgi.multithread"] for d in docs} == {True}, docs


def print_config_threads(res):
    assert res.returncode == 0, res.stderr
    for line in res.stdout.splitlines():
        if line.startswith("threads = "):
            return line[len("threads = "):].split("#")[0].strip()
    raise AssertionError(f"--print-config has no threads line:\n{res.stdout}")


def test_threads_from_every_layer(tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text('wsgi_app = "threads_app:app"\nthreads = 4\n')
    assert print_config_threads(run_binary(["--print-config"], cwd=tmp_path)) == "4"
    assert print_config_threads(run_binary(["--print-config"], cwd=tmp_path,
                                           env={"UWSGI_FAST_THREADS": "6"})) == "6"
    assert print_config_threads(run_binary(["--print-config", "--threads", "256"],
                                           cwd=tmp_path)) == "256"
    toml = tmp_path / "uwsgi-fast.toml"
    toml.write_text('wsgi_app = "threads_app:app"\nthreads = 12\n')
    assert print_config_threads(run_binary(["--print-config", "-c", str(toml)])) == "12"


def one_line_error(res, *names):
    assert res.returncode == 2, f"exit {res.returncode}; stdout {res.stdout!r} stderr {res.stderr!r}"
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {res.stderr!r}"
    for name in names:
        assert name in lines[0], f"{lines[0]!r} does not name {name!r}"
    return lines[0]


@pytest.mark.parametrize("value", ["0", "1000", "257", "-1", "x", "4.5", ""])
def test_bad_threads_value_exits_2(value):
    one_line_error(run_binary(["--check-config", "-c", "", f"--threads={value}", APP]),
                   "--threads", "1 to 256")
    # without --check-config the server itself refuses to start
    one_line_error(run_binary(["-c", "", "--threads", value, APP]), "--threads", "1 to 256")


def test_bad_threads_value_from_env_and_config_exits_2(tmp_path):
    one_line_error(run_binary(["-c", "", APP], env={"UWSGI_FAST_THREADS": "0"}),
                   "UWSGI_FAST_THREADS", "1 to 256")
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("threads = 1000\n")
    one_line_error(run_binary([APP], cwd=tmp_path), "gunicorn.conf.py", "threads", "1 to 256")
    toml = tmp_path / "uwsgi-fast.toml"
    toml.write_text('threads = "many"\n')
    one_line_error(run_binary(["-c", str(toml), APP]), "uwsgi-fast.toml:1", "threads",
                   "1 to 256")


# ---- the worker lifecycle with busy threads ------------------------------------------------

def test_timeout_kills_the_worker_of_a_hung_thread(server):
    srv = server(APP, workers=1, args=[*threads(4), "--timeout", "2"], probe=PROBE)
    (old,) = srv.wait_workers(1)
    hung = Client(srv.port, timeout=10).open()
    started = time.monotonic()
    hung.send("GET", "/hang")
    # meanwhile the other three threads go on serving, two requests at a time
    served = 0
    while time.monotonic() - started < 1.3:
        results = in_parallel(2, lambda i: Client(srv.port).request("GET", "/sleep?ms=100",
                                                                    close=True))
        assert all(getattr(r, "status", None) == 200 for r in results), results
        served += 2
    assert served >= 6
    # its client is answered 500 with Connection: close before the worker is killed
    resp = read_response(hung.sock.makefile("rb"))
    assert resp.status == 500 and resp.header("Connection") == "close", resp
    elapsed = time.monotonic() - started
    hung.close()
    assert 1.9 <= elapsed <= 4.5, f"the hung worker was killed after {elapsed:.2f} s"
    (new,) = srv.wait_workers(1, exclude=[old])
    log = srv.log()
    assert log.count("WORKER TIMEOUT") == 1, log
    assert re.search(r'WORKER TIMEOUT \(pid:%d\): request "GET /hang"' % old, log), log
    resp = Client(srv.port).request("GET", "/env", close=True)
    assert resp.status == 200 and json.loads(resp.body)["pid"] == new


class Load:
    """Keep-alive and Connection: close clients on one path until stopped; every failure
    is kept."""

    def __init__(self, port, path, keepalive=6, close=6):
        self.port, self.path = port, path
        self.ok = 0
        self.errors = []
        self.stopping = False
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(c,))
                        for c in [False] * keepalive + [True] * close]
        for t in self.threads:
            t.start()

    def _run(self, close):
        client = Client(self.port)
        while not self.stopping:
            try:
                resp = client.request("GET", self.path, close=close)
                good = resp.status == 200 and resp.body == b"ok"
                with self.lock:
                    if good:
                        self.ok += 1
                    else:
                        self.errors.append(repr(resp))
            except Exception as e:  # noqa: BLE001 - every failure counts here
                with self.lock:
                    self.errors.append(repr(e))
        client.close()

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(timeout=15)
        return self.ok, self.errors


def test_max_requests_recycling_with_threads_drops_nothing(server):
    srv = server(APP, workers=2, probe=PROBE,
                 args=[*threads(4), "--max-requests", "150", "--max-requests-jitter", "30"])
    load = Load(srv.port, "/sleep?ms=5")
    try:
        wait_until(lambda: load.ok >= 1200 and srv.log().count("): max-requests") >= 4, 40,
                   interval=0.2)
    finally:
        ok, errors = load.stop()
    recycled = srv.log().count("): max-requests")
    print(f"max-requests: {ok} requests served, {recycled} workers recycled")
    assert errors == [], errors[:10]
    assert recycled >= 4, srv.log()
    assert "WORKER TIMEOUT" not in srv.log()


def test_hup_under_load_with_threads_drops_nothing(server):
    srv = server(APP, workers=2, args=threads(4), probe=PROBE)
    before = set(srv.wait_workers(2))
    load = Load(srv.port, "/sleep?ms=20")
    try:
        for _ in range(5):
            time.sleep(0.8)
            srv.send_signal(signal.SIGHUP)
        time.sleep(1)
    finally:
        ok, errors = load.stop()
    print(f"HUP: {ok} requests served during 5 reloads")
    assert errors == [], errors[:10]
    assert ok > 200
    assert srv.log().count("Handling signal: hup") == 5
    assert wait_until(lambda: not before & set(srv.worker_pids()), 5), "HUP kept old workers"


def test_sigterm_drains_every_busy_thread(server, tmp_path):
    workers, n = 2, 4
    srv = server(APP, workers=workers, args=[*threads(n), "--graceful-timeout", "20"],
                 probe=PROBE)
    pids = srv.wait_workers(workers)
    # n connections held by each worker (a connection stays with the worker that took it).
    # Until the second worker is ready the first one also accepts on its listener, so
    # this takes as long as that worker's boot, not a fixed number of tries.
    by_pid = {p: [] for p in pids}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        c = Client(srv.port, timeout=20)
        pid = json.loads(c.request("GET", "/env").body)["pid"]
        if len(by_pid[pid]) < n:
            by_pid[pid].append(c)
        else:
            c.close()
        if all(len(v) == n for v in by_pid.values()):
            break
    else:
        pytest.fail(f"could not place {n} connections on each worker: "
                    f"{ {p: len(v) for p, v in by_pid.items()} }")
    mark = tmp_path / "in-app"
    mark.mkdir()
    size = 300_000
    for conns in by_pid.values():
        for c in conns:
            c.send("GET", f"/slow?s=2&size={size}&mark={mark}")
    if not wait_until(lambda: len(os.listdir(mark)) == workers * n, 10):
        srv.fail(f"only {sorted(os.listdir(mark))} of {workers * n} requests reached the app")
    # every thread of every worker is inside a request now
    assert sorted(int(f.split("-")[0]) for f in os.listdir(mark)) == sorted(pids * n)
    srv.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    for pid, conns in by_pid.items():
        for c in conns:
            resp = c.receive()
            assert resp.status == 200, resp
            assert resp.body == b"s" * size, f"{len(resp.body)} of {size} bytes"
            assert resp.header("X-Pid") == str(pid)
            c.close()
    assert time.monotonic() - signalled > 0.5, "the answers came before the requests slept"
    rc = srv.wait_exit(15)
    assert rc == 0, f"master exit {rc} after the drain\n{srv.log()}"
    assert srv.leftover_workers() == []
    assert "did not stop in time" not in srv.log()


def test_queued_requests_outlive_vanished_clients_and_term(server, tmp_path):
    """Complete requests that wait for a thread: their clients may leave meanwhile, and
    TERM serves them before the worker goes."""
    srv = server(APP, workers=1, args=threads(2), probe=PROBE)
    (pid,) = srv.wait_workers(1)

    def occupy_both_threads(mark):
        mark.mkdir()
        busy = [Client(srv.port).open() for _ in range(2)]
        for c in busy:
            c.send("GET", f"/slow?s=1&size=10&mark={mark}")
        if not wait_until(lambda: len(os.listdir(mark)) == 2, 10):
            srv.fail("the two slow requests did not both reach the application")
        return busy

    busy = occupy_both_threads(tmp_path / "first")
    gone = [Client(srv.port).open() for _ in range(10)]
    for c in gone:
        c.send("GET", "/sleep?ms=20")
    time.sleep(0.2)      # the worker has read them; they wait for a thread
    for c in gone:
        c.close()
    for c in busy:
        resp = c.receive()
        assert resp.status == 200 and resp.body == b"s" * 10, resp
        c.close()
    resp = Client(srv.port).request("GET", "/env", close=True)
    assert resp.status == 200 and json.loads(resp.body)["pid"] == pid
    assert_no_worker_died(srv, [pid])

    busy = occupy_both_threads(tmp_path / "second")
    queued = [Client(srv.port).open() for _ in range(3)]
    for c in queued:
        c.send("GET", "/sleep?ms=0")
    time.sleep(0.2)
    srv.send_signal(signal.SIGTERM)
    for c in busy + queued:
        resp = c.receive()
        assert resp.status == 200 and resp.body in (b"s" * 10, b"ok"), resp
        c.close()
    assert srv.wait_exit(15) == 0, srv.log()
