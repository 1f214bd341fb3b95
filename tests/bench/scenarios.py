"""What the benchmark measures: the side-by-side scenarios (an app, a worker count, a
load) and the engine comparisons (uwsgi-fast against itself with one flag added).

A scenario's `kind` groups the scenarios whose servers are tuned alike (tuning.py tries
each peer's variants on the run's scenario of a kind with the most workers and keeps the
best for all of them); `full` marks the scenarios of a full run, `quick` those of the CI
smoke. Every scenario can be asked for by name with --scenarios.
"""

import os
from dataclasses import dataclass

import mixload  # the mixed scenarios' client (tests/bench/mixload.py)

CHUNK_64K = bytes(range(256)) * 256
BODY_1M = CHUNK_64K * 16
HELLO = b"Hello, World!"


@dataclass
class Scenario:
    name: str
    title: str
    app: str  # MODULE:CALLABLE inside tests/bench/apps
    path: str
    workers: int
    connections: int
    check: str  # how the probe judges one response, see server.probe_ok()
    kind: str = "cpu"  # tuning group: cpu, bulk, io, conns, mixed
    wrk_threads: int = 1
    body_bytes: int = 0  # > 0: POST this many bytes
    threads: int = 4  # per worker, for the thread-based peers ("N" in their variants)
    timeout: int = 5  # wrk --timeout, seconds
    drain_limit: int = 5  # seconds to wait for a server to finish what wrk left behind
    warmup: bool = True  # False: no warm-up run (it would only leave a queue to drain)
    zero_ok: bool = False  # a server may answer nothing within the run without failing
    health: bool = False  # also run uwsgi-fast's C-only /health path
    quick: bool = False  # part of --quick
    full: bool = False  # part of a full run
    note: str = ""
    mix: str = ""  # a mixload.py mix: that closed-loop client instead of wrk (see below)
    close: bool = False  # mix only: a new connection per request
    front: str = ""  # "nginx": the behind-nginx group (nginx_front.py), its own rows
    interface: str = "wsgi"  # "asgi": the ASGI group, "ws": the WebSocket group (own peers)
    ws_bytes: int = 0  # ws: the size of each message wsload.c sends
    ws_binary: bool = False  # ws: binary frames (else text)
    # The server confined to the box's last CPU and the load generator to the others
    # (split_cpus() below): what a server does with one core of its own. On a small box
    # the load generator otherwise takes its share of the cores the servers run on, and
    # the faster server pays for more of it: a ratio between servers is then capped by
    # the client's cost, not the servers'.
    split_cpus: bool = False


SCENARIOS = [
    Scenario("hello-1w", "hello (13 B), 1 worker", "bench_wsgi:hello", "/", 1, 100, "hello",
             full=True),
    Scenario("hello-2w", "hello (13 B), 2 workers", "bench_wsgi:hello", "/", 2, 100, "hello",
             health=True, quick=True, full=True),
    Scenario("body-10k", "10 KB body", "bench_wsgi:body_10k", "/", 2, 100, "len:10240"),
    Scenario("stream-1m", "1 MB body, generator of 64 KB chunks", "bench_wsgi:stream_1m", "/",
             2, 16, "body1m", kind="bulk", quick=True),
    Scenario("file-1m", "1 MB body via wsgi.file_wrapper", "bench_wsgi:file_1m", "/", 2, 16,
             "body1m", kind="bulk", full=True),
    Scenario("post-64k", "64 KB POST echo", "bench_wsgi:echo", "/", 2, 32, "echo",
             body_bytes=65536, quick=True),
    Scenario("flask-json", "Flask JSON endpoint", "bench_flask:app", "/json", 2, 100, "json",
             quick=True, full=True),
    Scenario("io-10ms", "I/O-bound: app sleeps 10 ms, 1000 connections", "bench_wsgi:sleep_10ms",
             "/", 2, 1000, "hello", kind="io", threads=32, timeout=10, drain_limit=20,
             warmup=False, zero_ok=True, full=True,
             note="thread-based peers run up to 32 threads per worker; bjoern and FastWSGI "
                  "are single-threaded event loops, so each worker serves at most 100 req/s"),
    Scenario("keepalive-5k", "5,000 keep-alive connections, hello", "bench_wsgi:hello", "/", 2,
             5000, "hello", kind="conns", wrk_threads=2, timeout=10, drain_limit=20,
             note="wrk -t2 -c5000 (one thread cannot open 5,000 sockets quickly enough)"),
]

# The mixed family: the load a typical Django or Flask API sees, where most requests are
# quick and a few wait on a slow query, which a worker that serves one request at a time
# makes the others wait behind. tests/bench/mixload.py replaces wrk here: it picks each
# request's cost from a seeded sequence (the same for every server) and reports the
# latency of the fast requests apart. Every server runs 4 workers for 16 clients, keep-alive
# (-ka) or a new connection per request (-close).
MIX_WORKERS = 4
MIX_CLIENTS = 16
MIX_HEADER = ("Mixed scenarios: %d workers for every server, %d closed-loop clients "
              "(tests/bench/mixload.py, one seeded sequence of requests for all); fast = the "
              "requests marked (fast) below" % (MIX_WORKERS, MIX_CLIENTS))
# the one in --quick and in a full run: the case of issue 14, and the cheapest in CPU
QUICK_MIX = ("slow5", False)
MIX_TITLES = {"mixed": "mixed API: 90% 1 ms CPU, 9% wait 20 ms, 1% 200 ms",
              "slow5": "5% wait 200 ms, 95% answer at once"}


def mix_scenario(mix, close):
    """One scenario of the mixed family; the probe asks for the mix's fast request."""
    kinds = mixload.MIXES[mix]
    note = ", ".join("%d%% %s%s" % (k.share, k.path, " (fast)" if k.fast else "")
                     for k in kinds)
    return Scenario("%s-%s" % (mix, "close" if close else "ka"),
                    "%s, %s" % (MIX_TITLES[mix],
                                "new connection per request" if close else "keep-alive"),
                    "bench_wsgi:mixed", next(k.path for k in kinds if k.fast), MIX_WORKERS,
                    MIX_CLIENTS, "hello", kind="mixed", mix=mix, close=close, note=note,
                    quick=(mix, close) == QUICK_MIX, full=(mix, close) == QUICK_MIX)


SCENARIOS += [mix_scenario(mix, close) for mix in MIX_TITLES for close in (False, True)]

# The behind-nginx group (issue 18): the same nginx in front of every server, over each
# transport it is deployed with (nginx_front.py). Neither in --quick nor in a full run
# (about 6 minutes a scenario with 7 rounds): `tests/bench/run --only nginx`.
SCENARIOS += [
    Scenario("nginx-hello-2w", "behind nginx: hello (13 B), 2 workers", "bench_wsgi:hello",
             "/", 2, 100, "hello", kind="nginx", front="nginx",
             note="one nginx worker in front of every server; wrk loads nginx"),
    Scenario("nginx-flask-json", "behind nginx: Flask JSON endpoint, 2 workers",
             "bench_flask:app", "/json", 2, 100, "json", kind="nginx", front="nginx",
             note="one nginx worker in front of every server; wrk loads nginx"),
]

# The ASGI group (issue 20): raw ASGI and FastAPI apps on uwsgi-fast -k asgi and the ASGI
# servers (uvicorn, Granian, gunicorn's asgi worker, Hypercorn; peers.ASGI_KEYS). Neither
# in --quick nor in a full run (a full run takes ~35 minutes already): `tests/bench/run
# --only asgi`. Their kinds are their own, so that tuning picks the ASGI peers' variants
# on an ASGI scenario.
ASGI = dict(interface="asgi")
SCENARIOS += [
    Scenario("asgi-hello", "ASGI hello (13 B), raw ASGI app, 2 workers", "bench_asgi:hello",
             "/", 2, 100, "hello", kind="asgi-cpu", **ASGI),
    Scenario("asgi-hello-1core", "ASGI hello (13 B), 1 worker on a core of its own",
             "bench_asgi:hello", "/", 1, 100, "hello", kind="asgi-cpu", split_cpus=True,
             note="each server confined to the last CPU, wrk to the others", **ASGI),
    Scenario("asgi-fastapi-json", "FastAPI JSON endpoint (pydantic response model)",
             "bench_fastapi:app", "/json", 2, 100, "json", kind="asgi-cpu", **ASGI),
    Scenario("asgi-stream-1m", "ASGI 1 MiB body in 16 sends of 64 KiB (more_body)",
             "bench_asgi:stream_1m", "/", 2, 16, "body1m", kind="asgi-bulk", **ASGI),
    Scenario("asgi-file-1m", "FastAPI FileResponse of a 1 MiB file", "bench_fastapi:app",
             "/file", 2, 16, "body1m", kind="asgi-bulk", **ASGI),
    Scenario("asgi-keepalive-5k", "5,000 keep-alive connections, ASGI hello",
             "bench_asgi:hello", "/", 2, 5000, "hello", kind="asgi-conns", wrk_threads=2,
             timeout=10, drain_limit=20,
             note="wrk -t2 -c5000 (one thread cannot open 5,000 sockets quickly enough)",
             **ASGI),
    Scenario("asgi-io-10ms", "I/O-bound: await asyncio.sleep(0.01), 1000 connections",
             "bench_asgi:sleep_10ms", "/", 2, 1000, "hello", kind="asgi-io", timeout=10,
             drain_limit=20, warmup=False, zero_ok=True,
             note="every server runs the app on one event loop per worker: up to 1000 "
                  "requests wait at once", **ASGI),
]

# The WebSocket group (issue 21): an echo app on uwsgi-fast -k asgi and the ASGI servers
# that serve WebSockets (peers.WS_KEYS), loaded by tests/bench/wsload.c instead of wrk:
# N connections, each a closed loop of one masked message and its echo. One worker, so
# that the client (one core) and the server (one core) split the two cores. Neither in
# --quick nor in a full run: `tests/bench/run --only ws`.
WS = dict(interface="ws", kind="ws", check="ws", path="/", app="bench_ws:echo")
SCENARIOS += [
    Scenario("ws-echo-1w", "WebSocket echo, 32 B text messages, 1 worker", workers=1,
             connections=100, ws_bytes=32, **WS),
    Scenario("ws-echo-4k-1w", "WebSocket echo, 4 KiB binary messages, 1 worker", workers=1,
             connections=100, ws_bytes=4096, ws_binary=True, **WS),
]
SCENARIO = {s.name: s for s in SCENARIOS}

# The noise reference: uwsgi-fast's C-only health path on one worker, measured once in
# every round of every scenario (see rounds.py). It never enters Python, so its req/s
# moves only with the host (CPU steal, frequency, the other engineers' builds).
REFERENCE = Scenario("reference", "noise reference: C-only /health, 1 worker",
                     "bench_wsgi:hello", "/health", 1, 32, "status", warmup=False)


# ---------------------------------------------------------------------------------------
# Engine comparisons: uwsgi-fast against itself with one engine setting changed
#
# Side A is plain uwsgi-fast, side B the same binary with one flag. They are measured
# like a peer and uwsgi-fast side by side (rounds.py): adjacent in every round, in an
# order that alternates per round, each run after its own warm-up; the figure is the
# median of the per-round ratios B_i/A_i with its bootstrap interval.


@dataclass
class Comparison:
    name: str
    scenario: str  # a SCENARIOS name: the app, workers, connections
    variant: str  # side B's server key (side A is "uwsgi-fast")
    flag: str  # the flag side B adds, as --help documents it (omitted when it does not);
    # "" when side B is another build of the same source instead (`build`)
    quick: bool = False  # part of --quick (one round: a smoke test that the flag serves)
    full: bool = True  # part of a full run
    build: str = ""  # side B's binary: "bare" is the build without instruments


COMPARISONS = [
    Comparison("pin-hello-2w", "hello-2w", "uwsgi-fast-pin", "--cpu-pin", quick=True),
    Comparison("pin-file-1m", "file-1m", "uwsgi-fast-pin", "--cpu-pin", full=False),
    Comparison("pin-stream-1m", "stream-1m", "uwsgi-fast-pin", "--cpu-pin", full=False),
    Comparison("zc-file-1m", "file-1m", "uwsgi-fast-zc", "--zerocopy-threshold"),
    Comparison("zc-stream-1m", "stream-1m", "uwsgi-fast-zc", "--zerocopy-threshold",
               full=False),
    Comparison("log-hello-2w", "hello-2w", "uwsgi-fast-accesslog", "--access-logfile"),
    # the cost of the research instruments (docs/research.md): the same source built with
    # -Dinstruments=false, no flag; its workers' CPU per request resolves what req/s cannot
    Comparison("instr-hello-1w", "hello-1w", "uwsgi-fast-bare", "", build="bare"),
]


def split_cpus(sc, allowed=None):
    """(server CPUs, client CPUs) for a split_cpus scenario: the last allowed CPU for the
    server, the rest for the load generator; (None, None) when the scenario is not split
    or there is only one CPU to run on (then both share it, as in any other scenario)."""
    cpus = sorted(allowed if allowed is not None else os.sched_getaffinity(0))
    if not sc.split_cpus or len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])
