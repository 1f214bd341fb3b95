"""The servers and how each is launched: the peers with their documented variants (the
candidates the tuning step tries), and uwsgi-fast with the flags of its engine variants.

Every server gets the scenario's worker count (the peers' thread counts are a variant,
never more processes), a loopback port, the scenario's app and backlog 1024 where the
server lets us set it. The first candidate of each peer is the shape it ran in before
tuning existed; tuning.py measures all of them and keeps the best.
"""

import os
import tempfile
from dataclasses import dataclass, field

from benchenv import APPS, LAUNCHER, VENV

BACKLOG = 1024  # listen backlog pinned for every server that lets us set it
# Granian's backpressure (requests in progress per worker) in its tuned variants: the
# value that served hello best when the audit tried it (54.2k req/s against 26.4k
# on Granian's default of backlog / workers).
GRANIAN_BACKPRESSURE = 128
# uWSGI's HTTP router buffer (--http-buffer-size, default one page): 1 MB for the 1 MB
# bodies, 64 KB for the 64 KB POST, the default elsewhere (see server_command)
UWSGI_BUFFER, UWSGI_BULK_BUFFER = 65536, 1048576


@dataclass
class ServerSpec:
    key: str
    label: str
    package: str  # pip package it comes from; "" for uwsgi-fast
    stop_grace: float = 5.0  # seconds between SIGINT and SIGKILL
    notes: list = field(default_factory=list)


SERVERS = [
    ServerSpec("gunicorn-sync", "gunicorn sync", "gunicorn"),
    ServerSpec("gunicorn-gthread", "gunicorn gthread", "gunicorn"),
    ServerSpec("gunicorn-sync-docs", "gunicorn sync, (2 x cores) + 1 workers", "gunicorn"),
    ServerSpec("granian", "granian wsgi", "granian"),
    ServerSpec("uwsgi", "uWSGI --http router", "pyuwsgi"),
    ServerSpec("bjoern", "bjoern", "bjoern"),
    # FastWSGI's workers ignore SIGINT while a connection is open; nothing to lose by KILL.
    ServerSpec("fastwsgi", "FastWSGI", "fastwsgi", stop_grace=0.0),
    # the ASGI group's peers (ASGI_KEYS): they run in the ASGI scenarios only
    ServerSpec("uvicorn", "uvicorn (httptools, uvloop)", "uvicorn"),
    ServerSpec("granian-asgi", "granian asgi", "granian"),
    ServerSpec("gunicorn-asgi", "gunicorn asgi", "gunicorn"),
    ServerSpec("hypercorn", "Hypercorn", "hypercorn"),
    # the WebSocket group's two uvicorn rows: one per WebSocket implementation
    ServerSpec("uvicorn-websockets", "uvicorn --ws websockets", "websockets"),
    ServerSpec("uvicorn-wsproto", "uvicorn --ws wsproto", "wsproto"),
    ServerSpec("uwsgi-fast", "uwsgi-fast", ""),
    ServerSpec("uwsgi-fast-health", "uwsgi-fast (C-only /health)", ""),
    ServerSpec("uwsgi-fast-accesslog", "uwsgi-fast --access-logfile", ""),
    ServerSpec("uwsgi-fast-pin", "uwsgi-fast --cpu-pin", ""),
    ServerSpec("uwsgi-fast-zc", "uwsgi-fast --zerocopy-threshold 0", ""),
    ServerSpec("uwsgi-fast-bare", "uwsgi-fast built with -Dinstruments=false", ""),
    ServerSpec("uwsgi-fast-threads", "uwsgi-fast --threads 4", ""),
    ServerSpec("uwsgi-fast-epoll", "uwsgi-fast --engine epoll", ""),
    ServerSpec("reference", "noise reference (uwsgi-fast C-only /health, 1 worker)", ""),
]
SERVER_KEYS = [s.key for s in SERVERS if s.key != "reference"]
# A peer with the worker count its own docs recommend for this machine instead of the
# scenario's (gunicorn: 2 x cores + 1): by default a row of hello-2w only, anywhere when
# --servers names it. Every other row has the same worker count as uwsgi-fast.
DOCS_ROWS = {"gunicorn-sync-docs": lambda sc: sc.name == "hello-2w"}
SPEC = {s.key: s for s in SERVERS}
BASE = "uwsgi-fast"  # every ratio is against this server's run next to the other's
UF_KEYS = ("uwsgi-fast", "uwsgi-fast-health", "uwsgi-fast-accesslog", "uwsgi-fast-pin",
           "uwsgi-fast-zc", "uwsgi-fast-threads", "uwsgi-fast-epoll", "uwsgi-fast-bare",
           "reference")
EPOLL_SCENARIOS = ("hello-2w", "keepalive-5k", "file-1m", "flask-json", "asgi-hello")
# The ASGI servers: rows of the ASGI scenarios (scenarios.py, interface "asgi") only, where
# the WSGI peers have no place; uwsgi-fast runs both, with -k asgi in the ASGI ones.
ASGI_KEYS = ("uvicorn", "granian-asgi", "gunicorn-asgi", "hypercorn")
# The WebSocket group's servers (scenarios with interface "ws"): the ASGI servers that
# serve WebSockets, uvicorn once per implementation (both on httptools and uvloop).
WS_KEYS = ("uvicorn-websockets", "uvicorn-wsproto", "granian-asgi", "gunicorn-asgi",
           "hypercorn")
# interface -> the peers of its group; a peer of no group is a WSGI peer
GROUP_KEYS = {"asgi": ASGI_KEYS, "ws": WS_KEYS}
# variants of uwsgi-fast that run only in some side-by-side scenarios: which ones, and the
# flag each needs, as --help documents it (a binary without it omits the variant)
SCENARIO_VARIANTS = {
    "uwsgi-fast-health": (lambda sc: sc.health, "--health-path"),
    "uwsgi-fast-threads": (lambda sc: bool(sc.mix), "--threads"),
    # the readiness engine (issue 19) beside the two epoll peers, bjoern and FastWSGI
    "uwsgi-fast-epoll": (lambda sc: sc.name in EPOLL_SCENARIOS, "--engine"),
}
# variants that run only in the engine comparisons, never side by side with the peers
ENGINE_VARIANTS = ("uwsgi-fast-pin", "uwsgi-fast-zc", "uwsgi-fast-accesslog",
                   "uwsgi-fast-bare")


@dataclass
class Variant:
    """One documented way to run a peer: its name in the results, the flags it adds to
    the peer's base command, and what it is (shown in docs/benchmarks.md)."""
    name: str
    flags: list
    what: str


DEFAULT = Variant("default", [], "as configured before tuning")


def candidates(key, sc):
    """The variants tuning.py tries for server `key` on scenario `sc`, the shape it ran in
    before tuning first. A server with one candidate is not tuned. N (sc.threads) is 4,
    32 in the I/O-bound scenario."""
    t = sc.threads
    if key == "granian":
        base = ["--blocking-threads", str(t)] if t > 4 else []
        out = [Variant("default", base, "Granian's WSGI defaults (runtime mode auto; "
                       "backpressure = backlog / workers)" + (", %d blocking threads" % t
                                                              if base else ""))]
        for bt in ([1, t] if t <= 4 else [t]):
            for mode in ("st", "mt"):
                flags = ["--runtime-mode", mode, "--blocking-threads", str(bt),
                         "--backpressure", str(GRANIAN_BACKPRESSURE)]
                what = "%s runtime, %d blocking thread%s, backpressure %d" % (
                    "single-threaded" if mode == "st" else "multi-threaded (2 threads)", bt,
                    "" if bt == 1 else "s", GRANIAN_BACKPRESSURE)
                if mode == "mt":
                    flags += ["--runtime-threads", "2"]
                out.append(Variant("%s-bt%d" % (mode, bt), flags, what))
        return out
    if key == "granian-asgi":
        # uvloop in every variant, as every server of the group runs it
        out = [Variant("default", [], "Granian's defaults (runtime mode auto, asyncio "
                       "tasks; backpressure = backlog / workers)")]
        for mode in ("st", "mt"):
            flags = ["--runtime-mode", mode] + (["--runtime-threads", "2"] if mode == "mt"
                                                else [])
            what = "single-threaded runtime" if mode == "st" else \
                "multi-threaded runtime (2 threads)"
            out.append(Variant(mode, flags, what))
        # Granian's Rust implementation of asyncio tasks (documented for Python < 3.12)
        out.append(Variant("rust-tasks", ["--task-impl", "rust"],
                           "Rust task implementation instead of asyncio's"))
        return out
    if key == "hypercorn":
        return [Variant("uvloop", ["-k", "uvloop"], "uvloop worker class"),
                Variant("asyncio", ["-k", "asyncio"], "asyncio worker class (its default)")]
    if key == "uwsgi":
        out = [Variant("router", [], "HTTP router with keep-alive, one process per worker"),
               Variant("router-thunder", ["--thunder-lock"],
                       "the same with --thunder-lock (serialised accept)"),
               Variant("router-thunder-threads", ["--thunder-lock", "--threads", str(t)],
                       "--thunder-lock and %d threads per worker" % t)]
        if sc.connections > 1000:
            # the router's concurrent sessions (--http-events) for thousands of clients:
            # 4.9k -> 8.0k req/s on keepalive-5k in a quick check here
            out.append(Variant("router-thunder-events", ["--thunder-lock", "--http-events",
                                                         str(2 * sc.connections)],
                               "--thunder-lock and %d router events" % (2 * sc.connections)))
        return out
    if key == "gunicorn-gthread":
        return [Variant("threads-%d" % t, ["--threads", str(t)], "%d threads per worker" % t),
                Variant("threads-1", ["--threads", "1"], "1 thread per worker")]
    if key == "bjoern":
        out = [Variant("reuseport", [], "a SO_REUSEPORT listener per process")]
        if sc.workers > 1:
            out.append(Variant("shared-socket", ["--shared-socket"],
                               "one listening socket inherited by every process"))
        return out
    if key == "fastwsgi":
        return [Variant("default", [], "FastWSGI's defaults (Nagle on)"),
                Variant("nodelay", ["--tcp-nodelay"], "TCP_NODELAY on every connection")]
    return [DEFAULT]


class Ctx:
    """What the command builders need to know about this run."""

    def __init__(self, uf, uf_features, site_packages, uf_bare=None):
        self.venv_bin = os.path.join(VENV, "bin")
        self.uf = uf
        self.uf_bare = uf_bare  # the build without instruments (uwsgi-fast-bare), if any
        self.uf_features = uf_features
        self.site_packages = site_packages
        self.chosen = {}  # (server key, scenario kind) -> Variant, from tuning.py
        self.reasons = {}  # (server key, scenario kind) -> why tuning chose it
        self.wsload = None  # the WebSocket group's load generator (benchenv.wsload_binary)


def worker_connections(sc):
    """--worker-connections for the servers that cap open connections per worker (gunicorn
    gthread, uwsgi-fast; both default to 1000): room for every wrk connection in any one
    worker, since SO_REUSEPORT hashing does not split them evenly."""
    return max(1000, sc.connections + 100)


def chosen_variant(key, sc, ctx):
    """The variant a measured run uses: tuning's choice for the scenario's kind, else
    the first candidate."""
    return ctx.chosen.get((key, sc.kind)) or candidates(key, sc)[0]


def server_command(key, sc, port, ctx, variant=None):
    """argv for one server on one scenario, with the flags pinned here and the variant's
    (default: chosen_variant()).

    Returns (argv, notes): notes are facts about this configuration that belong under the
    table (e.g. "no keep-alive")."""
    vb = ctx.venv_bin
    bind = "127.0.0.1:%d" % port
    n = str(sc.workers)
    t = str(sc.threads)
    notes = []
    v = variant or chosen_variant(key, sc, ctx)
    if key in ("gunicorn-sync", "gunicorn-sync-docs"):
        if key == "gunicorn-sync-docs":
            n = str(2 * (os.cpu_count() or 1) + 1)
            notes.append("%s workers, as gunicorn's docs recommend for %d cores (not the "
                         "scenario's count)" % (n, os.cpu_count() or 1))
        argv = [os.path.join(vb, "gunicorn"), "-w", n, "-b", bind, "--chdir", APPS,
                "--backlog", str(BACKLOG), "--log-level", "warning", sc.app]
    elif key == "gunicorn-gthread":
        argv = [os.path.join(vb, "gunicorn"), "-k", "gthread"] + v.flags + [
            "-w", n, "-b", bind, "--chdir", APPS, "--backlog", str(BACKLOG),
            "--worker-connections", str(worker_connections(sc)),
            "--log-level", "warning", sc.app]
    elif key == "granian":
        argv = [os.path.join(vb, "granian"), "--interface", "wsgi", "--http", "1", "--no-ws",
                "--workers", n, "--host", "127.0.0.1", "--port", str(port),
                "--backlog", str(BACKLOG), "--log-level", "warning", "--working-dir", APPS]
        argv += v.flags + [sc.app]
    elif key == "uwsgi":
        # The HTTP router (one extra process, like the nginx in front of a real
        # deployment) speaks the uwsgi protocol to the workers and keeps client
        # connections alive; --http11-socket would make every sync worker hold one
        # keep-alive client and starve the rest.
        # The router's buffer defaults to one page, which makes it relay a 1 MB body 4 KB
        # per loop turn (162 req/s on file-1m here, against 1,427 with a 1 MB buffer):
        # sized to the body where bodies are large, as a deployment serving them would.
        buf = UWSGI_BULK_BUFFER if sc.kind == "bulk" else \
            UWSGI_BUFFER if sc.body_bytes >= UWSGI_BUFFER else 0
        argv = [os.path.join(vb, "uwsgi"), "--http", bind, "--http-keepalive"]
        argv += ["--http-buffer-size", str(buf)] if buf else []
        argv += ["--processes", n, "--master", "--disable-logging", "--chdir", APPS,
                "--module", sc.app, "--listen", str(BACKLOG), "--need-app", "--die-on-term",
                "--ignore-sigpipe", "--ignore-write-errors", "--disable-write-exception"]
        argv += v.flags
        notes.append("an HTTP router process in front of the workers" +
                     (", router buffer %d KB" % (buf // 1024) if buf else ""))
    elif key in ("uvicorn", "uvicorn-websockets", "uvicorn-wsproto"):
        # httptools' parser and uvloop: uvicorn's fastest documented shape (issue 20)
        ws = ["--ws", key.split("-")[1]] if key != "uvicorn" else []
        argv = [os.path.join(vb, "uvicorn"), "--workers", n, "--host", "127.0.0.1",
                "--port", str(port), "--backlog", str(BACKLOG), "--http", "httptools",
                "--loop", "uvloop"] + ws + ["--no-access-log", "--log-level", "warning",
                                            "--app-dir", APPS] + v.flags + [sc.app]
        notes.append("--http httptools --loop uvloop --no-access-log: uvicorn's fastest "
                     "documented parser and loop, no access log (none of the servers logs "
                     "accesses here)")
        if ws:
            notes.append("--ws %s" % ws[1])
    elif key == "granian-asgi":
        # --no-ws outside the WebSocket group, as in the HTTP scenarios it serves no
        # WebSocket and the issue measured it so
        argv = [os.path.join(vb, "granian"), "--interface", "asgi", "--loop", "uvloop",
                "--http", "1"] + (["--no-ws"] if sc.interface != "ws" else []) + [
                "--workers", n, "--host", "127.0.0.1",
                "--port", str(port), "--backlog", str(BACKLOG), "--log-level", "warning",
                "--working-dir", APPS] + v.flags + [sc.app]
        notes.append("--loop uvloop (the group's loop; Granian's access log is off by "
                     "default)")
    elif key == "gunicorn-asgi":
        # gunicorn 27's own asgi worker (gunicorn/workers/gasgi.py) on uvloop, with its C
        # HTTP parser (gunicorn_h1c) required rather than used when found
        argv = [os.path.join(vb, "gunicorn"), "-k", "asgi", "--asgi-loop", "uvloop",
                "--http-parser", "fast", "-w", n, "-b", bind, "--chdir", APPS,
                "--backlog", str(BACKLOG), "--worker-connections", str(worker_connections(sc)),
                "--log-level", "warning"] + v.flags + [sc.app]
        notes.append("gunicorn 27's asgi worker, --asgi-loop uvloop, --http-parser fast "
                     "(gunicorn_h1c, its C parser)")
    elif key == "hypercorn":
        argv = [os.path.join(vb, "hypercorn"), "-w", n, "-b", bind, "--backlog",
                str(BACKLOG), "--log-level", "warning"] + v.flags + [sc.app]
    elif key in ("bjoern", "fastwsgi"):
        argv = [os.path.join(vb, "python"), LAUNCHER, key, "-w", n, "-b", bind,
                "--chdir", APPS] + v.flags + [sc.app]
        if sc.workers > 1:
            notes.append("%d processes" % sc.workers)
    elif key in UF_KEYS:
        workers = "1" if key == "reference" else n
        binary = ctx.uf_bare if key == "uwsgi-fast-bare" else ctx.uf
        argv = [binary, "-w", workers, "-b", bind, "--chdir", APPS,
                "--pythonpath", ctx.site_packages]
        if "--backlog" in ctx.uf_features:
            argv += ["--backlog", str(BACKLOG)]
        if "--worker-connections" in ctx.uf_features:
            argv += ["--worker-connections", str(worker_connections(sc))]
        if key == "uwsgi-fast-threads":
            argv += ["--threads", t]
        elif sc.threads > 4 and key != "reference":
            if "--threads" in ctx.uf_features:
                argv += ["--threads", t]
                notes.append("%s threads/worker" % t)
            else:
                notes.append("no --threads yet: one request at a time per worker")
        if key in ("uwsgi-fast-health", "reference"):
            argv += ["--health-path", "/health"]
        if key == "uwsgi-fast-accesslog":
            # the cost of access logging: the default format, to a real file
            argv += ["--access-logfile",
                     os.path.join(tempfile.gettempdir(), "uwsgi-fast-bench-access.log")]
        if key == "uwsgi-fast-pin":
            argv += ["--cpu-pin"]
        if key == "uwsgi-fast-epoll":
            argv += ["--engine", "epoll"]
        if sc.interface in ("asgi", "ws"):
            # uvloop named, as for every peer: auto would pick it too, but a venv without
            # it would then measure the standard loop without saying so
            argv += ["-k", "asgi", "--loop", "uvloop"]
            notes.append("-k asgi --loop uvloop, its defaults otherwise")
        if key == "uwsgi-fast-zc":
            # SEND_ZC from the registered buffers for every file body, loopback included
            argv += ["--zerocopy-threshold", "0"]
        argv.append(sc.app)
    else:
        raise KeyError(key)
    if v.name != "default" or len(candidates(key, sc)) > 1:
        notes.append("variant %s: %s" % (v.name, v.what))
    return argv, notes
