#!/usr/bin/env python3
"""Side-by-side benchmark: uwsgi-fast against gunicorn, Granian, uWSGI, bjoern, FastWSGI.

    tests/bench/run                       full run (13 scenarios, 3 rounds, then the engine
                                          comparisons; ~24-26 min here)
    tests/bench/run --quick               CI smoke: 5 scenarios, one 2 s round per server,
                                          and one round of --cpu-pin on/off on hello-2w
    tests/bench/run --only engine         only the engine comparisons (~4 min)
    tests/bench/run --scenarios hello-1w,flask-json --servers granian,uwsgi-fast
    tests/bench/run --install-only        set up .deps/bench-venv and the Debian tools
    tests/bench/run --publish             also update docs/benchmarks.md and the chart

For every scenario the harness starts each server on the same app with the same worker
count on its own free loopback port, checks one response by hand (status, body, whether
the connection is kept alive), then runs rounds: in each round every server, in an order
rotated per round, gets a warm-up and a measured wrk run. Servers stay up between
rounds and are stopped at the end of the scenario. Reported per server: the median over
rounds of requests/s, p50, p99 and server CPU seconds per 10k requests; the largest max
latency; the sum of errors; each worker's peak RSS (VmHWM). Results go to
tests/bench/results/ as JSON (see --output).

The mixed scenarios (mixed-ka, mixed-close, slow5-ka, slow5-close) load a few slow requests
among many fast ones with tests/bench/mixload.py instead of wrk, and report the latency of
the fast requests apart, in a table of their own.

The engine comparisons (COMPARISONS below) measure uwsgi-fast against itself with one
flag added (--cpu-pin; --zerocopy-threshold 0), the two sides alternately, and report
the ratio B/A of the medians.

This script needs only the standard library; the servers run from .deps/bench-venv, which
the install step creates from tests/bench/requirements-peers.txt (one pip install per peer,
so one peer that fails to build is reported in the table and the others still run).

Exit status: 0 when every server that was built started and answered its requests with
2xx; 1 when uwsgi-fast failed to start or to serve; 3 when only a peer failed; 2 on bad
usage or a broken environment.
"""

import argparse
import collections
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import tempfile
import time
from dataclasses import dataclass, field, replace

import mixload  # the mixed scenarios' client (tests/bench/mixload.py)

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(BENCH))
APPS = os.path.join(BENCH, "apps")
RESULTS = os.path.join(BENCH, "results")
TMP = os.path.join(RESULTS, "tmp")
VENV = os.path.join(ROOT, ".deps", "bench-venv")
REQUIREMENTS = os.path.join(BENCH, "requirements-peers.txt")
WRK_SCRIPT = os.path.join(BENCH, "wrk", "report.lua")
MIXLOAD = os.path.join(BENCH, "mixload.py")
LAUNCHER = os.path.join(BENCH, "launchers", "serve_peer.py")
DEFAULT_UF = os.path.join(ROOT, "zig-out", "bin", "uwsgi-fast")
INSTALL_STAMP = os.path.join(VENV, ".bench-install.json")
ENGINE_RESULTS = os.path.join(RESULTS, "engine.json")

# Debian packages: the load generator, and libev's headers for building bjoern.
APT_PACKAGES = ["wrk", "libev-dev"]

BACKLOG = 1024  # listen backlog pinned for every server that lets us set it
CHUNK_64K = bytes(range(256)) * 256
BODY_1M = CHUNK_64K * 16
HELLO = b"Hello, World!"


# ---------------------------------------------------------------------------------------
# Scenarios


@dataclass
class Scenario:
    name: str
    title: str
    app: str  # MODULE:CALLABLE inside tests/bench/apps
    path: str
    workers: int
    connections: int
    check: str  # how the probe judges one response, see probe_ok()
    wrk_threads: int = 1
    body_bytes: int = 0  # > 0: POST this many bytes
    threads: int = 4  # per worker, for the thread-based peers
    timeout: int = 5  # wrk --timeout, seconds
    drain_limit: int = 5  # seconds to wait for a server to finish what wrk left behind
    warmup: bool = True  # False: no warm-up run (it would only leave a queue to drain)
    zero_ok: bool = False  # a server may answer nothing within the run without failing
    health: bool = False  # also run uwsgi-fast's C-only /health path
    quick: bool = False  # part of --quick
    note: str = ""
    mix: str = ""  # a mixload.py mix: that closed-loop client instead of wrk (see below)
    close: bool = False  # mix only: a new connection per request


SCENARIOS = [
    Scenario("hello-1w", "hello (13 B), 1 worker", "bench_wsgi:hello", "/", 1, 100, "hello",
             health=True),
    Scenario("hello-2w", "hello (13 B), 2 workers", "bench_wsgi:hello", "/", 2, 100, "hello",
             health=True, quick=True),
    Scenario("body-10k", "10 KB body", "bench_wsgi:body_10k", "/", 2, 100, "len:10240"),
    Scenario("stream-1m", "1 MB body, generator of 64 KB chunks", "bench_wsgi:stream_1m", "/",
             2, 16, "body1m", quick=True),
    Scenario("file-1m", "1 MB body via wsgi.file_wrapper", "bench_wsgi:file_1m", "/", 2, 16,
             "body1m"),
    Scenario("post-64k", "64 KB POST echo", "bench_wsgi:echo", "/", 2, 32, "echo",
             body_bytes=65536, quick=True),
    Scenario("flask-json", "Flask JSON endpoint", "bench_flask:app", "/json", 2, 100, "json",
             quick=True),
    Scenario("io-10ms", "I/O-bound: app sleeps 10 ms, 1000 connections", "bench_wsgi:sleep_10ms",
             "/", 2, 1000, "hello", threads=32, timeout=10, drain_limit=20, warmup=False,
             zero_ok=True,
             note="thread-based peers run 32 threads per worker; bjoern and FastWSGI are "
                  "single-threaded event loops, so each worker serves at most 100 req/s"),
    Scenario("keepalive-5k", "5,000 keep-alive connections, hello", "bench_wsgi:hello", "/", 2,
             5000, "hello", wrk_threads=2, timeout=10, drain_limit=20,
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
# the one in --quick: the case of issue 14, and the cheapest in CPU
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
                    MIX_CLIENTS, "hello", mix=mix, close=close, note=note,
                    quick=(mix, close) == QUICK_MIX)


SCENARIOS += [mix_scenario(mix, close) for mix in MIX_TITLES for close in (False, True)]
SCENARIO = {s.name: s for s in SCENARIOS}


# ---------------------------------------------------------------------------------------
# Servers


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
    ServerSpec("granian", "granian wsgi", "granian"),
    ServerSpec("uwsgi", "uWSGI --http11-socket", "pyuwsgi"),
    ServerSpec("bjoern", "bjoern", "bjoern"),
    # FastWSGI's workers ignore SIGINT while a connection is open; nothing to lose by KILL.
    ServerSpec("fastwsgi", "FastWSGI", "fastwsgi", stop_grace=0.0),
    ServerSpec("uwsgi-fast", "uwsgi-fast", ""),
    ServerSpec("uwsgi-fast-health", "uwsgi-fast (C-only /health)", ""),
    ServerSpec("uwsgi-fast-accesslog", "uwsgi-fast (access log on)", ""),
    ServerSpec("uwsgi-fast-pin", "uwsgi-fast --cpu-pin", ""),
    ServerSpec("uwsgi-fast-zc", "uwsgi-fast --zerocopy-threshold 0", ""),
    ServerSpec("uwsgi-fast-threads", "uwsgi-fast --threads 4", ""),
]
SERVER_KEYS = [s.key for s in SERVERS]
SPEC = {s.key: s for s in SERVERS}
UF_KEYS = ("uwsgi-fast", "uwsgi-fast-health", "uwsgi-fast-accesslog", "uwsgi-fast-pin",
           "uwsgi-fast-zc", "uwsgi-fast-threads")
# variants of uwsgi-fast that run only in some side-by-side scenarios: which ones, and the
# flag each needs, as --help documents it (a binary without it omits the variant)
SCENARIO_VARIANTS = {
    "uwsgi-fast-health": (lambda sc: sc.health, "--health-path"),
    "uwsgi-fast-accesslog": (lambda sc: sc.health, "--access-logfile"),
    "uwsgi-fast-threads": (lambda sc: bool(sc.mix), "--threads"),
}
# variants that run only in the engine comparisons below, never side by side with the peers
ENGINE_VARIANTS = ("uwsgi-fast-pin", "uwsgi-fast-zc")


# ---------------------------------------------------------------------------------------
# Engine comparisons: uwsgi-fast against itself with one engine setting changed
#
# Side A is plain uwsgi-fast, side B the same binary with one flag. The two are measured
# alternately (A, B, A, B, ... one wrk run each) on one scenario, so that a build, a
# fuzzer or a compile that takes a core for a while lands on both sides alike; the ratio
# B/A of the medians is what the report shows, with the range of the per-round ratios
# B_i/A_i as its noise.


@dataclass
class Comparison:
    name: str
    scenario: str  # a SCENARIOS name: the app, workers, connections
    variant: str  # side B's server key (side A is "uwsgi-fast")
    flag: str  # the flag side B adds, as --help documents it (omitted when it does not)
    quick: bool = False  # part of --quick (one round: a smoke test that the flag serves)


COMPARISONS = [
    Comparison("pin-hello-2w", "hello-2w", "uwsgi-fast-pin", "--cpu-pin", quick=True),
    Comparison("pin-file-1m", "file-1m", "uwsgi-fast-pin", "--cpu-pin"),
    Comparison("pin-stream-1m", "stream-1m", "uwsgi-fast-pin", "--cpu-pin"),
    Comparison("zc-file-1m", "file-1m", "uwsgi-fast-zc", "--zerocopy-threshold"),
    Comparison("zc-stream-1m", "stream-1m", "uwsgi-fast-zc", "--zerocopy-threshold"),
]
ENGINE_BASE = "uwsgi-fast"
ENGINE_ROUNDS = 5  # default rounds per side; one side-by-side scenario has 3


class Ctx:
    """What the command builders need to know about this run."""

    def __init__(self, args, uf_features):
        self.venv_bin = os.path.join(VENV, "bin")
        self.uf = args.uwsgi_fast
        self.uf_features = uf_features
        self.site_packages = venv_site_packages()


def worker_connections(sc):
    """--worker-connections for the servers that cap open connections per worker (gunicorn
    gthread, uwsgi-fast; both default to 1000): room for every wrk connection in any one
    worker, since SO_REUSEPORT hashing does not split them evenly."""
    return max(1000, sc.connections + 100)


def server_command(key, sc, port, ctx):
    """argv for one server on one scenario, with the flags pinned here.

    Returns (argv, notes): notes are facts about this configuration that belong under the
    table (e.g. "no keep-alive")."""
    vb = ctx.venv_bin
    bind = "127.0.0.1:%d" % port
    n = str(sc.workers)
    t = str(sc.threads)
    notes = []
    if key == "gunicorn-sync":
        argv = [os.path.join(vb, "gunicorn"), "-w", n, "-b", bind, "--chdir", APPS,
                "--backlog", str(BACKLOG), "--log-level", "warning", sc.app]
    elif key == "gunicorn-gthread":
        argv = [os.path.join(vb, "gunicorn"), "-k", "gthread", "--threads", t, "-w", n,
                "-b", bind, "--chdir", APPS, "--backlog", str(BACKLOG),
                "--worker-connections", str(worker_connections(sc)),
                "--log-level", "warning", sc.app]
        notes.append("%s threads/worker" % t)
    elif key == "granian":
        argv = [os.path.join(vb, "granian"), "--interface", "wsgi", "--http", "1", "--no-ws",
                "--workers", n, "--host", "127.0.0.1", "--port", str(port),
                "--backlog", str(BACKLOG), "--log-level", "warning", "--working-dir", APPS]
        if sc.threads > 4:
            argv += ["--blocking-threads", t]
            notes.append("%s blocking threads/worker" % t)
        argv.append(sc.app)
    elif key == "uwsgi":
        argv = [os.path.join(vb, "uwsgi"), "--http11-socket", bind, "--processes", n,
                "--master", "--disable-logging", "--chdir", APPS, "--module", sc.app,
                "--listen", str(BACKLOG), "--need-app", "--die-on-term",
                "--ignore-sigpipe", "--ignore-write-errors", "--disable-write-exception"]
        if sc.threads > 4:
            argv += ["--threads", t]
            notes.append("%s threads/worker" % t)
    elif key in ("bjoern", "fastwsgi"):
        argv = [os.path.join(vb, "python"), LAUNCHER, key, "-w", n, "-b", bind,
                "--chdir", APPS, sc.app]
        if sc.workers > 1:
            notes.append("%d processes on SO_REUSEPORT" % sc.workers)
    elif key in UF_KEYS:
        argv = [ctx.uf, "-w", n, "-b", bind, "--chdir", APPS,
                "--pythonpath", ctx.site_packages]
        if "--backlog" in ctx.uf_features:
            argv += ["--backlog", str(BACKLOG)]
        if "--worker-connections" in ctx.uf_features:
            argv += ["--worker-connections", str(worker_connections(sc))]
        if key == "uwsgi-fast-threads":
            argv += ["--threads", t]
        elif sc.threads > 4:
            if "--threads" in ctx.uf_features:
                argv += ["--threads", t]
                notes.append("%s threads/worker" % t)
            else:
                notes.append("no --threads yet: one request at a time per worker")
        if key == "uwsgi-fast-health":
            argv += ["--health-path", "/health"]
        if key == "uwsgi-fast-accesslog":
            # the cost of access logging: the default format, to a real file
            argv += ["--access-logfile",
                     os.path.join(tempfile.gettempdir(), "uwsgi-fast-bench-access.log")]
        if key == "uwsgi-fast-pin":
            argv += ["--cpu-pin"]
        if key == "uwsgi-fast-zc":
            # SEND_ZC from the registered buffers for every file body, loopback included
            argv += ["--zerocopy-threshold", "0"]
        argv.append(sc.app)
    else:
        raise KeyError(key)
    return argv, notes


def server_env():
    env = dict(os.environ)
    env["PATH"] = os.path.join(VENV, "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = VENV
    env["BENCH_FILE_1M"] = os.path.join(TMP, "file-1m.bin")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONPATH", None)
    return env


# ---------------------------------------------------------------------------------------
# Environment: Debian tools, the peers' venv


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def dpkg_installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                       text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


def ensure_apt():
    """Installs the Debian packages the harness needs, only those missing."""
    if not shutil.which("dpkg-query"):
        return
    missing = [p for p in APT_PACKAGES if not dpkg_installed(p)]
    if not shutil.which("gcc") or not shutil.which("make"):
        missing.append("build-essential")
    if not missing:
        return
    if os.geteuid() != 0:
        log("bench: missing Debian packages %s (not root: install them by hand)"
            % " ".join(missing))
        return
    log("bench: apt-get install %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                   env=env, check=False, stdout=subprocess.DEVNULL)


def read_requirements():
    reqs = []
    with open(REQUIREMENTS) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                reqs.append(line)
    return reqs


def req_name(req):
    return re.split(r"[=<>!~\[ ;]", req, 1)[0].lower()


def pip_failure_reason(output):
    """The most telling line of a failed pip install (a compiler error beats pip's summary)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for pat in (r"fatal error: .*", r"error: command .* failed.*", r"No matching distribution.*",
                r"Could not find a version.*", r"ERROR: .*", r"error: .*"):
        for ln in lines:
            m = re.search(pat, ln)
            if m and "subprocess-exited-with-error" not in ln:
                return m.group(0)[:160]
    return (lines[-1] if lines else "pip failed")[:160]


def ensure_venv():
    """Creates .deps/bench-venv and installs each pinned requirement on its own.

    Returns {package name: None if installed, else "failed to build: <reason>"}. A stamp
    file remembers what installed, so a second run costs one file read; a requirement that
    failed is tried again on the next run."""
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        log("bench: creating %s" % os.path.relpath(VENV, ROOT))
        os.makedirs(os.path.dirname(VENV), exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    try:
        with open(INSTALL_STAMP) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        stamp = {}
    status = {}
    for req in read_requirements():
        name = req_name(req)
        if stamp.get(req) == "ok":
            status[name] = None
            continue
        log("bench: pip install %s" % req)
        r = subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                            req], capture_output=True, text=True)
        if r.returncode == 0:
            stamp[req] = "ok"
            status[name] = None
        else:
            reason = pip_failure_reason(r.stdout + "\n" + r.stderr)
            stamp[req] = "failed"
            status[name] = "failed to build: " + reason
            log("bench: %s failed: %s" % (req, reason))
    with open(INSTALL_STAMP, "w") as f:
        json.dump(stamp, f, indent=1)
    return status


def venv_site_packages():
    lib = os.path.join(VENV, "lib")
    if os.path.isdir(lib):
        for d in sorted(os.listdir(lib)):
            sp = os.path.join(lib, d, "site-packages")
            if d.startswith("python") and os.path.isdir(sp):
                return sp
    return os.path.join(lib, "python%d.%d" % sys.version_info[:2], "site-packages")


def venv_versions():
    py = os.path.join(VENV, "bin", "python")
    code = ("import importlib.metadata as m, json, sys\n"
            "out = {}\n"
            "for n in sys.argv[1:]:\n"
            "    try: out[n] = m.version(n)\n"
            "    except Exception: pass\n"
            "out['python'] = sys.version.split()[0]\n"
            "print(json.dumps(out))\n")
    names = [req_name(r) for r in read_requirements()] + ["werkzeug"]
    try:
        r = subprocess.run([py, "-c", code] + names, capture_output=True, text=True,
                           timeout=60)
        return json.loads(r.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}


def uf_probe(path):
    """Runs `uwsgi-fast --help`: returns (set of flags it mentions, error or None)."""
    if not os.path.exists(path):
        shown = os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path
        return set(), "not built (%s missing; run scripts/zig build)" % shown
    try:
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return set(), "cannot run %s --help: %s" % (path, e)
    return help_flags(r.stdout + r.stderr), None


def help_flags(text):
    """Flags that `--help` documents as options: the ones opening an option line
    ("  -w, --workers INT  ..." or "      --chdir DIR ..."), up to a section that lists
    flags it refuses (gunicorn flags uwsgi-fast names only to reject)."""
    flags = set()
    for line in text.splitlines():
        if "refuse" in line.lower():
            break
        m = re.match(r"^\s+(?:-\w,\s+)?(--[a-z][\w-]*)(?:,\s+(--[a-z][\w-]*))?", line)
        if m:
            flags.update(g for g in m.groups() if g)
    return flags


def bare_rss_kb(module):
    """Peak RSS of a bare interpreter that has imported `module` (the RSS target's base)."""
    py = os.path.join(VENV, "bin", "python")
    code = ("import sys; sys.path.insert(0, %r); import %s\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
            % (APPS, module))
    try:
        r = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=60,
                           env=server_env())
        return int(r.stdout.strip())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def machine_description():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    distro = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    wrk_version = ""
    try:
        r = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        wrk_version = (r.stdout + r.stderr).splitlines()[0].split(" Copyright")[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1048576, 1),
        "kernel": platform.release(),
        "distro": distro,
        "python": platform.python_version(),
        "wrk": wrk_version,
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
    }


# ---------------------------------------------------------------------------------------
# /proc: process trees, CPU time, peak RSS

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_table():
    """{pid: (ppid, cpu ticks)} for every process; cpu = utime+stime+cutime+cstime, so a
    child that exited and was reaped inside the tree keeps counting through its parent."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(")") + 2:].split()
        try:
            table[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
        except (IndexError, ValueError):
            continue
    return table


def tree_pids(root, table=None):
    table = table if table is not None else proc_table()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def tree_cpu(root):
    return sum(tree_cpu_by_pid(root).values())


def tree_cpu_by_pid(root):
    """{pid: CPU seconds} of each process in the tree under `root`."""
    table = proc_table()
    return {p: table[p][1] / CLK_TCK for p in tree_pids(root, table)}


def cpus_allowed(pid):
    """The CPUs `pid` may run on, as the kernel lists them ("0-1", "1"), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def system_busy():
    """Seconds of busy CPU on the whole machine so far (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


# ---------------------------------------------------------------------------------------
# One server


_ports_given = set()


def free_port():
    """A loopback port no server of this run has been given yet: the kernel may hand the
    same free port out twice once the probing socket is closed, and two servers started
    side by side would then race for it."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


class Server:
    def __init__(self, key, sc, ctx, log_dir):
        self.key = key
        self.spec = SPEC[key]
        self.sc = sc
        self.port = free_port()
        # config_notes: how this server is set up (printed once per server under the
        # table); notes: what happened in this scenario.
        self.argv, self.config_notes = server_command(key, sc, self.port, ctx)
        self.notes = []
        self.log_path = server_log_path(log_dir, sc, key)
        self.proc = None
        self.error = None
        self.keepalive = None
        self.rounds = []
        self.rss_kb = []
        self.worker_cpus = []  # each worker's allowed CPUs, read at the end of the scenario
        self.worker_exits = 0
        self.discarded = []  # rounds measured again because of background load

    @property
    def path(self):
        return "/health" if self.key == "uwsgi-fast-health" else self.sc.path

    def start(self):
        self.log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=server_env(),
                                         cwd=APPS, start_new_session=True)
        except OSError as e:
            self.error = "failed to start: %s" % e

    def restart_on_new_port(self, ctx):
        self.notes.append("port %d was taken at start; started again on another" % self.port)
        self.log.close()
        self.port = free_port()
        self.argv, _ = server_command(self.key, self.sc, self.port, ctx)
        self.error = None
        self.start()

    def log_tail(self, n=3):
        try:
            with open(self.log_path, "rb") as f:
                lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines()
                         if ln.strip()]
            # The line that says why a server stopped is usually its last
            # error, not its first banner line: show errors first, and cut
            # from the front so the end survives.
            errors = [ln for ln in lines if re.search(r"\b(ERROR|CRITICAL|Error|Traceback)\b", ln)]
            return " | ".join((errors or lines)[-n:])[-400:]
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, deadline):
        """Polls the port until it accepts, then checks one response by hand."""
        if self.error:
            return False
        while time.monotonic() < deadline:
            if not self.alive():
                self.error = "exited at start (status %s): %s" % (self.proc.returncode,
                                                                 self.log_tail())
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.error = "not listening after start timeout: %s" % self.log_tail()
            return False
        return self.probe()

    def probe(self):
        """One request by hand (then a second on the same connection): right status, right
        body, and whether the server keeps the connection alive."""
        body = b"b" * self.sc.body_bytes if self.sc.body_bytes else None
        method = "POST" if body else "GET"
        headers = {"Content-Type": "application/octet-stream"} if body else {}
        last_err = None
        for _attempt in range(20):  # workers may still be importing the app
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            try:
                conn.request(method, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                will_close = resp.will_close
                ok, why = probe_ok(self.check_kind(), resp.status, data, body)
                if not ok:
                    self.error = "wrong response: %s" % why
                    return False
                if resp.getheader("X-File-Wrapper") == "no":
                    self.notes.append("no wsgi.file_wrapper: the app read the file itself")
                self.keepalive = False
                if not will_close:
                    conn.request(method, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    self.keepalive = resp.status == 200
                if not self.keepalive:
                    self.config_notes.append("closes the connection after each response")
                return True
            except (OSError, http.client.HTTPException) as e:
                last_err = e
                if not self.alive():
                    break
                time.sleep(0.25)
            finally:
                conn.close()
        self.error = "no answer: %r %s" % (last_err, self.log_tail())
        return False

    def check_kind(self):
        return "status" if self.key == "uwsgi-fast-health" else self.sc.check

    def stop(self):
        t0 = time.monotonic()
        try:
            self._stop()
        finally:
            self.stop_s = round(time.monotonic() - t0, 2)

    def _stop(self):
        if self.proc is None:
            return
        pids = tree_pids(self.proc.pid) if self.alive() else []
        # INT goes to the master alone (it stops its workers; a second INT sent straight to
        # a gunicorn or Granian worker makes it linger); KILL goes to the whole group.
        for sig, grace in ((signal.SIGINT, self.spec.stop_grace), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            try:
                if sig == signal.SIGKILL or grace <= 0:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace if grace > 0 else 0.001)
            except subprocess.TimeoutExpired:
                pass
        # A worker that left the process group must not outlive the run.
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()

    def workers(self):
        """Worker pids: every process under the root, or the root when it works alone."""
        pids = tree_pids(self.proc.pid)
        return [p for p in pids if p != self.proc.pid] or pids

    def settle(self, limit):
        """Waits (up to `limit` s) until the server is idle: no CPU use and no connection
        left on its port. When wrk stops, a server may still hold requests from the
        connections wrk closed (read but unanswered, or waiting in the accept queue); an
        app that sleeps uses no CPU while it drains them, hence the socket check. Without
        the wait, that backlog would run during the next measurement. Returns whether
        the server became idle."""
        end = time.monotonic() + limit
        prev = tree_cpu(self.proc.pid)
        while time.monotonic() < end:
            time.sleep(0.1)
            cur = tree_cpu(self.proc.pid)
            if cur - prev < 0.015 and open_connections(self.port) == 0:
                return True
            prev = cur
        return False


def server_log_path(log_dir, sc, key):
    return os.path.join(log_dir, "%s-%s.log" % (sc.name, key))


# /proc/net/tcp states that mean a client connection still occupies the server.
BUSY_TCP_STATES = {"01", "03", "08"}  # ESTABLISHED, SYN_RECV, CLOSE_WAIT


def open_connections(port):
    """Server-side connections on `port` not yet closed by the server, plus the length of
    its accept queue (rx_queue of the LISTEN socket)."""
    count = 0
    hexport = ":%04X" % port
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if not parts[1].endswith(hexport):
                        continue
                    if parts[3] in BUSY_TCP_STATES:
                        count += 1
                    elif parts[3] == "0A":
                        count += int(parts[4].split(":")[1], 16)
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return count


def probe_ok(kind, status, data, sent):
    if status != 200:
        return False, "HTTP %d: %r" % (status, data[:120])
    if kind == "status":
        return True, ""
    if kind == "hello":
        return data == HELLO, "body %r" % data[:40]
    if kind.startswith("len:"):
        n = int(kind[4:])
        return len(data) == n, "body of %d bytes, want %d" % (len(data), n)
    if kind == "body1m":
        return data == BODY_1M, "body of %d bytes differs from the 1 MiB pattern" % len(data)
    if kind == "echo":
        return data == sent, "echo of %d bytes, sent %d" % (len(data), len(sent or b""))
    if kind == "json":
        try:
            doc = json.loads(data)
        except ValueError:
            return False, "not JSON: %r" % data[:60]
        return doc.get("status") == "ok" and doc.get("count") == 10, "JSON %r" % data[:60]
    raise KeyError(kind)


# ---------------------------------------------------------------------------------------
# Canary connections: does the server answer every client, or only those it accepted?
#
# A server whose workers each hold one keep-alive connection until the client closes it
# (uWSGI's sync workers, for one) serves the first N connections wrk opens and leaves the
# rest in the accept queue for the whole run. wrk's latency only covers answered requests
# and its timeout check runs every 2 s, so such a server looks fast. Half a second after
# wrk starts, the harness opens CANARIES connections of its own, each sending one request
# every CANARY_PERIOD seconds (keep-alive; reconnecting when the server closes). A canary
# that once waited far longer than wrk's p99 (see count_starved) is "starved": the server
# answers the connections it holds and lets the others wait. Their load (~30 req/s) is
# noise.

CANARIES = 8
CANARY_PERIOD = 0.25


class Canary(threading.Thread):
    def __init__(self, port, path, body, stop):
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % ("POST" if body else "GET", path)
        if body:
            head += "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n" % len(body)
        self.request = head.encode() + b"\r\n" + (body or b"")
        self.answered = 0
        self.max_wait = 0.0
        self.error = None

    def run(self):
        sock = None
        try:
            while not self.stop.is_set():
                sent = time.monotonic()
                while sock is None:
                    try:
                        sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                    except socket.timeout:  # a full accept queue drops SYNs
                        if self.stop.is_set():
                            self.max_wait = max(self.max_wait, time.monotonic() - sent)
                            return
                        continue
                    sock.settimeout(0.1)
                sock.sendall(self.request)
                keep = self.read_response(sock, sent)
                if keep is None:
                    return  # stopped while waiting: max_wait already holds the wait
                self.answered += 1
                self.max_wait = max(self.max_wait, time.monotonic() - sent)
                if not keep:
                    sock.close()
                    sock = None
                self.stop.wait(max(0.0, CANARY_PERIOD - (time.monotonic() - sent)))
        except OSError as e:
            self.error = str(e)
        finally:
            if sock is not None:
                sock.close()

    def read_response(self, sock, sent):
        """Reads one response; returns whether the connection stays open, None if stopped."""
        buf = b""
        need = None
        keep = True
        while True:
            if need is None and b"\r\n\r\n" in buf:
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                hdrs = {}
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    hdrs[k.strip().lower()] = v.strip().lower()
                keep = lines[0].startswith("HTTP/1.1") and hdrs.get("connection") != "close"
                if "content-length" in hdrs:
                    need = int(hdrs["content-length"])
                elif hdrs.get("transfer-encoding") == "chunked":
                    need = -1
                else:
                    need, keep = -2, False  # body ends when the server closes
            if need is not None and need >= 0 and len(buf) >= need:
                return keep
            if need == -1 and buf.endswith(b"0\r\n\r\n"):
                return keep
            try:
                data = sock.recv(1 << 20)
            except socket.timeout:
                if self.stop.is_set():
                    self.max_wait = max(self.max_wait, time.monotonic() - sent)
                    return None
                continue
            if not data:
                if need == -2:
                    return False
                raise ConnectionError("closed by the server before a full response")
            buf += data


def start_canaries(server):
    stop = threading.Event()
    body = b"b" * server.sc.body_bytes if server.sc.body_bytes else None
    canaries = [Canary(server.port, server.path, body, stop) for _ in range(CANARIES)]
    for c in canaries:
        c.start()
    return stop, canaries


def stop_canaries(stop, canaries):
    stop.set()
    for c in canaries:
        c.join(timeout=5)
    return {
        "canaries": len(canaries),
        "answered": sum(c.answered for c in canaries),
        "max_waits_s": [round(c.max_wait, 3) for c in canaries],
        "errors": [c.error for c in canaries if c.error][:3],
    }


def count_starved(canary, p99_us):
    """Canaries whose longest wait exceeded max(1 s, 10 x wrk's p99): far beyond what the
    clients wrk measured saw, so the server was not serving every connection in turn."""
    limit = max(1.0, 10 * p99_us / 1e6)
    canary["starve_limit_s"] = round(limit, 3)
    # When wrk got no answer either, everyone waited alike: slow, not unfair.
    canary["starved"] = sum(1 for w in canary["max_waits_s"] if w > limit) if p99_us else 0
    canary["max_wait_s"] = max(canary["max_waits_s"], default=0.0)


def starved_clients(clients):
    """mixload.py's own clients, judged for starvation in the canaries' terms. Not by their
    rule: when the clients a server leaves in its accept queue are more than 1% of the
    requests (12 of 16 clients for a whole 2 s slow5 run on uWSGI), their wait is the p99
    and the limit grows with the starvation; and the starved may be most clients. A
    client is starved when it was answered fewer than a tenth as often as the best-served
    client and once waited over a second."""
    answered = [c["answered"] for c in clients]
    floor = max(answered, default=0) / 10
    waits = [c["max_wait_s"] for c in clients]
    return {"canaries": len(clients), "answered": sum(answered), "max_waits_s": waits,
            "errors": [], "max_wait_s": max(waits, default=0.0),
            "starved": sum(1 for c in clients if c["answered"] < floor and c["max_wait_s"] > 1)}


# ---------------------------------------------------------------------------------------
# wrk


def client_command(server, seconds):
    """argv and environment of the load generator for one run: wrk, or in the mixed
    scenarios tests/bench/mixload.py. Both print one "@@WRK_JSON {...}" line."""
    sc = server.sc
    if sc.mix:
        argv = [sys.executable, MIXLOAD, "--port", str(server.port), "--mix", sc.mix,
                "--connections", str(sc.connections), "--duration", str(seconds),
                "--timeout", str(sc.timeout)] + (["--close"] if sc.close else [])
        return argv, dict(os.environ)
    argv = ["wrk", "-t%d" % sc.wrk_threads, "-c%d" % sc.connections, "-d%ds" % seconds,
            "--timeout", "%ds" % sc.timeout, "-s", WRK_SCRIPT,
            "http://127.0.0.1:%d%s" % (server.port, server.path)]
    return argv, dict(os.environ, BENCH_BODY_BYTES=str(sc.body_bytes))


def run_client(server, seconds, out_path, canaries=False):
    """One run of the load generator against `server`. Returns the parsed report plus
    the server's CPU seconds, the client's own CPU seconds (wrk_cpu_s) and the whole
    machine's busy CPU during the run (and, with canaries=True, how the canary connections
    fared). The mixed scenarios have no canaries: mixload.py reports how often each of
    its own clients was answered, and starved_clients() judges them."""
    argv, env = client_command(server, seconds)
    root = server.proc.pid
    with open(out_path, "wb") as out:
        by0, busy0, t0 = tree_cpu_by_pid(root), system_busy(), time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
        canary = None
        if canaries and seconds >= 2 and not server.sc.mix:
            time.sleep(0.5)
            canary = start_canaries(server)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        by1, busy1, t1 = tree_cpu_by_pid(root), system_busy(), time.monotonic()
        if canary:
            canary = stop_canaries(*canary)
    with open(out_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    report = None
    for line in text.splitlines():
        if line.startswith("@@WRK_JSON "):
            report = json.loads(line[len("@@WRK_JSON "):])
    if report is None:
        raise RuntimeError("%s printed no report (exit %s): %s"
                           % (os.path.basename(argv[1] if server.sc.mix else argv[0]),
                              proc.returncode, text.strip()[-300:]))
    server_cpu = sum(by1.values()) - sum(by0.values())
    wrk_cpu = ru.ru_utime + ru.ru_stime
    report["server_cpu_s"] = round(server_cpu, 3)
    # How the work spread over the workers: SO_REUSEPORT hashing, or a steering program,
    # may hand one worker most connections.
    workers = [p for p in by1 if p in by0 and p != root] or [root]
    report["worker_cpu_s"] = {str(p): round(by1[p] - by0.get(p, 0.0), 3) for p in workers}
    report["wrk_cpu_s"] = round(wrk_cpu, 3)
    report["wall_s"] = round(t1 - t0, 3)
    # Busy CPU that was neither the server nor wrk: other engineers' builds, the kernel's
    # softirq work on others' behalf... A large value marks a noisy measurement.
    report["other_cpu_s"] = round(max(0.0, (busy1 - busy0) - server_cpu - wrk_cpu), 3)
    dur = report["duration_us"] / 1e6
    report["rps"] = round(report["requests"] / dur, 1) if dur > 0 else 0.0
    e = report["errors"]
    report["socket_errors"] = e["connect"] + e["read"] + e["write"] + e["timeout"]
    report["http_errors"] = e["status"]
    if canary:
        count_starved(canary, report["latency_us"]["p99"])
        report["canary"] = canary
    elif canaries and server.sc.mix:
        report["canary"] = starved_clients(report["clients"])
    return report


# ---------------------------------------------------------------------------------------
# The run


def summarize(server):
    """Medians over the measured rounds (max latency: the largest; errors: the sum)."""
    rs = server.rounds
    med = lambda key: statistics.median(r[key] for r in rs)  # noqa: E731
    requests = sum(r["requests"] for r in rs)
    # CPU per request means little when a round answered (almost) nothing.
    cpu = [r["server_cpu_s"] / r["requests"] * 1e4 for r in rs if r["requests"] >= 100]
    answered = [r for r in rs if r["requests"]]

    def lat(key, part="latency_us"):
        if not answered or part not in answered[0]:
            return None
        return statistics.median(r[part][key] for r in answered)

    return {
        "rps": round(med("rps"), 1),
        "p50_us": lat("p50"),
        "p99_us": lat("p99"),
        # the mixed scenarios: the latency of the fast requests apart
        "fast_p50_us": lat("p50", "fast_latency_us"),
        "fast_p99_us": lat("p99", "fast_latency_us"),
        "max_us": max(r["latency_us"]["max"] for r in answered) if answered else None,
        "socket_errors": sum(r["socket_errors"] for r in rs),
        "http_errors": sum(r["http_errors"] for r in rs),
        "requests": requests,
        "cpu_s_per_10k": round(statistics.median(cpu), 3) if cpu else None,
        "rss_mb_per_worker": round(max(server.rss_kb) / 1024, 1) if server.rss_kb else None,
        "starved": max((r["canary"]["starved"] for r in rs if "canary" in r), default=None),
        "watched": max((r["canary"]["canaries"] for r in rs if "canary" in r), default=None),
        "canary_max_wait_s": max((r["canary"]["max_wait_s"] for r in rs if "canary" in r),
                                 default=None),
        "other_cpu_s": round(med("other_cpu_s"), 2),
        "bg_cores": round(med("other_cpu_s") / statistics.median(r["wall_s"] for r in rs), 2),
        "worker_cpu_share": worker_cpu_share(rs),
    }


def worker_cpu_share(rounds):
    """The workers' shares of their CPU time in a measured round, largest first, median
    over rounds ([0.5, 0.5]: even; [0.99, 0.01]: one worker did the work); None for one
    worker. Per round, because wrk connects afresh in each run and the busy worker may
    be another one each time: summed over rounds, two lopsided runs look even."""
    per_round = []
    for r in rounds:
        secs = sorted(r.get("worker_cpu_s", {}).values(), reverse=True)
        if len(secs) >= 2 and sum(secs) > 0:
            per_round.append([v / sum(secs) for v in secs])
    width = min((len(x) for x in per_round), default=0)
    if width < 2:
        return None
    return [round(statistics.median(x[i] for x in per_round), 2) for i in range(width)]


def run_scenario(sc, keys, ctx, args, log_dir, unavailable, rounds=None, rotate=True):
    """Starts every server of the scenario, runs the rounds, stops them; returns the
    scenario's result entry. Each round runs every server once, in `keys` order rotated
    by the round number, or in `keys` order every round when rotate is False (the engine
    comparisons: A, B, A, B, ...)."""
    rounds = rounds or args.rounds
    entry = {"name": sc.name, "title": sc.title, "app": sc.app, "path": sc.path,
             "workers": sc.workers, "connections": sc.connections,
             "wrk_threads": sc.wrk_threads, "threads": sc.threads, "note": sc.note,
             "zero_ok": sc.zero_ok, "mix": sc.mix, "close": sc.close,
             "results": []}
    rows = {}
    servers = []
    for key in keys:
        if key in unavailable:
            rows[key] = {"server": key, "label": SPEC[key].label, "error": unavailable[key]}
            continue
        srv = Server(key, sc, ctx, log_dir)
        servers.append(srv)
        srv.start()
    try:
        t0 = time.monotonic()
        deadline = t0 + args.start_timeout
        for srv in servers:
            srv.wait_ready(deadline)
            if srv.error and "already in use" in srv.error:
                # a client socket of an earlier scenario took the port in between: once
                # more on another port, and say so under the table
                srv.restart_on_new_port(ctx)
                srv.wait_ready(time.monotonic() + args.start_timeout)
            if srv.error:
                log("  %-18s %s" % (srv.key, srv.error))
        live = [s for s in servers if not s.error]
        for s in live:
            s.settle(limit=2.0)  # the probe's connection, an import still finishing
        entry["startup_s"] = round(time.monotonic() - t0, 1)
        for rnd in range(rounds):
            shift = rnd % len(live) if live and rotate else 0
            order = live[shift:] + live[:shift]
            for srv in order:
                if srv.error:
                    continue
                if not srv.alive():
                    srv.error = "died during the run (status %s): %s" % (
                        srv.proc.returncode, srv.log_tail())
                    continue
                base = os.path.join(log_dir, "%s-%s-r%d" % (sc.name, srv.key, rnd))
                try:
                    warm = args.warmup if rnd == 0 else args.rewarm
                    warm = warm if sc.warmup else 0
                    if warm > 0:
                        run_client(srv, warm, base + "-warmup.txt")
                        srv.settle(sc.drain_limit)
                    before = set(srv.workers())
                    rep = run_client(srv, args.duration, base + ".txt", canaries=True)
                    # On a shared machine another process may take a core in the middle
                    # of a run; measure such a round again (a bounded number of times,
                    # within the time budget) and keep the noisy one in the JSON.
                    tries = 0
                    while (rep["other_cpu_s"] / args.duration > args.noise_limit
                           and tries < args.retry_noisy and args.retry_left > 0):
                        tries += 1
                        log("  round %d %-18s background load %.2f cores: measuring again"
                            % (rnd + 1, srv.key, rep["other_cpu_s"] / args.duration))
                        srv.discarded.append(rep)
                        t_retry = time.monotonic()
                        srv.settle(sc.drain_limit)
                        rep = run_client(srv, args.duration, base + "-again%d.txt" % tries,
                                      canaries=True)
                        args.retry_left -= time.monotonic() - t_retry
                except (RuntimeError, OSError, ValueError) as e:
                    srv.error = "load run failed: %s" % e
                    continue
                gone = before - set(srv.workers()) if srv.alive() else before
                if gone:
                    # A worker that exits under load crashed or was killed: the numbers
                    # of this round include its replacement's start-up.
                    srv.worker_exits += len(gone)
                    srv.notes.append("%d worker process(es) exited during round %d (%s)"
                                     % (len(gone), rnd + 1, srv.log_tail(2)))
                srv.rounds.append(rep)
                srv.rss_kb = [k for k in (vm_hwm_kb(p) for p in srv.workers()) if k]
                log("  round %d %-18s %9.0f req/s  p99 %8.2f ms  errors %d+%d  starved %s"
                    "  cpu %.2fs  (other load %.2fs)" % (
                        rnd + 1, srv.key, rep["rps"], rep["latency_us"]["p99"] / 1000,
                        rep["socket_errors"], rep["http_errors"],
                        rep["canary"]["starved"] if "canary" in rep else "-",
                        rep["server_cpu_s"], rep["other_cpu_s"]))
                t_settle = time.monotonic()
                if not srv.settle(sc.drain_limit):
                    srv.notes.append("still busy %d s after wrk stopped" % sc.drain_limit)
                rep["settle_s"] = round(time.monotonic() - t_settle, 2)
            if not srv_alive_any(live):
                break
    finally:
        t_stop = time.monotonic()
        for srv in servers:
            if srv.alive() and srv.rounds:
                srv.rss_kb = [k for k in (vm_hwm_kb(p) for p in srv.workers()) if k] or \
                    srv.rss_kb
                srv.worker_cpus = [cpus_allowed(p) for p in sorted(srv.workers())]
        # Stopping waits up to a grace period per server: stop them all at once.
        stoppers = [threading.Thread(target=srv.stop) for srv in servers]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        entry["stop_s"] = round(time.monotonic() - t_stop, 1)
    for srv in servers:
        row = {"server": srv.key, "label": SPEC[srv.key].label, "command": srv.argv,
               "keepalive": srv.keepalive, "notes": srv.notes,
               "config_notes": srv.config_notes, "rounds": srv.rounds,
               "discarded_rounds": srv.discarded,
               "worker_exits": srv.worker_exits, "stop_s": getattr(srv, "stop_s", None),
               "worker_cpus": srv.worker_cpus}
        if srv.error and not srv.rounds:
            row["error"] = srv.error
        elif srv.error:
            row["error_late"] = srv.error
        if srv.rounds:
            row["summary"] = summarize(srv)
        rows[srv.key] = row
    entry["results"] = [rows[k] for k in keys if k in rows]
    return entry


def srv_alive_any(servers):
    return any(s.alive() for s in servers)


# ---------------------------------------------------------------------------------------
# Engine comparisons


# The line each uwsgi-fast worker logs at exit when it made zero-copy sends.
ZC_EXIT_LINE = re.compile(rb"Worker exiting: (\d+) zero-copy sends, (\d+) of them copied")
RESPONSE_BYTES = {"hello": len(HELLO), "body1m": len(BODY_1M)}


def zero_copy_sends(path):
    """{"sends", "copied"}: the zero-copy sends the workers of one uwsgi-fast logged at
    exit, and how many of them the kernel copied anyway, summed; zeros when none did."""
    sends = copied = 0
    try:
        with open(path, "rb") as f:
            for m in ZC_EXIT_LINE.finditer(f.read()):
                sends += int(m.group(1))
                copied += int(m.group(2))
    except OSError:
        pass
    return {"sends": sends, "copied": copied}


def run_comparison(cmp, ctx, args, log_dir, unavailable):
    """Runs side A (plain uwsgi-fast) and side B (cmp.variant) alternately on the
    comparison's scenario; returns a scenario entry with the comparison's figures."""
    sc = replace(SCENARIO[cmp.scenario], name=cmp.name)
    entry = run_scenario(sc, [ENGINE_BASE, cmp.variant], ctx, args, log_dir, unavailable,
                         rounds=args.engine_rounds, rotate=False)
    entry.update(scenario=cmp.scenario, variant=cmp.variant,
                 response_bytes=RESPONSE_BYTES.get(sc.check))
    for r in entry["results"]:
        if "rounds" in r:
            r["zero_copy"] = zero_copy_sends(server_log_path(log_dir, sc, r["server"]))
    entry.update(engine_ratio(entry))
    return entry


def engine_sides(entry):
    """(side A's result row, side B's), either None when it is missing."""
    rows = {r["server"]: r for r in entry.get("results", [])}
    return rows.get(ENGINE_BASE), rows.get(entry.get("variant"))


def engine_ratio(entry):
    """B/A of the median req/s, and B_i/A_i of each round both sides measured."""
    a, b = engine_sides(entry)
    if not (a and b and a.get("summary") and b.get("summary")) or not a["summary"]["rps"]:
        return {"ratio": None, "round_ratios": []}
    pairs = zip(a["rounds"], b["rounds"])
    return {"ratio": round(b["summary"]["rps"] / a["summary"]["rps"], 3),
            "round_ratios": [round(rb["rps"] / ra["rps"], 3) for ra, rb in pairs if ra["rps"]]}


def fmt_mbs(summary, entry):
    """Body megabytes (10^6 B) per second, for the 1 MiB scenarios."""
    size = entry.get("response_bytes") or 0
    if size < 65536 or not summary:
        return "-"
    return "%.0f" % (summary["rps"] * size / 1e6)


ENGINE_COLUMNS = ["comparison", "side B", "A req/s", "B req/s", "B/A", "B/A per round",
                  "A MB/s", "B MB/s", "A p99", "B p99", "A CPU s/10k", "B CPU s/10k",
                  "bg cores A/B"]


def engine_rows(results):
    """Rows of strings (one per comparison) for the text and Markdown tables; a row that
    could not be measured has its reason in the third cell and nothing after it."""
    out = []
    for ent in results.get("engine", []):
        a, b = engine_sides(ent)
        label = SPEC[ent["variant"]].label.replace(SPEC[ENGINE_BASE].label, "").strip()
        if ent.get("omitted"):
            out.append([ent["name"], label, "; ".join(ent["omitted"])])
            continue
        missing = [r for r in (a, b) if not (r and r.get("summary"))]
        if missing:
            why = "; ".join("%s: %s" % (r["label"], r.get("error", "no result"))
                            for r in missing if r) or "no result"
            out.append([ent["name"], label, why])
            continue
        sa, sb = a["summary"], b["summary"]
        rr = ent.get("round_ratios") or []
        out.append([ent["name"], label, "%.0f" % sa["rps"], "%.0f" % sb["rps"],
                    "%.2fx" % ent["ratio"] if ent.get("ratio") else "-",
                    "%.2f-%.2f" % (min(rr), max(rr)) if rr else "-",
                    fmt_mbs(sa, ent), fmt_mbs(sb, ent), fmt_ms(sa["p99_us"]),
                    fmt_ms(sb["p99_us"]), fmt_cpu(sa), fmt_cpu(sb),
                    "%.2f/%.2f" % (sa.get("bg_cores") or 0, sb.get("bg_cores") or 0)])
    return out


def engine_text_table(results):
    rows = engine_rows(results)
    widths = [len(c) for c in ENGINE_COLUMNS]
    for row in rows:
        if len(row) == len(ENGINE_COLUMNS):
            widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(ENGINE_COLUMNS)),
             "  ".join("-" * w for w in widths)]
    for row in rows:
        if len(row) < len(ENGINE_COLUMNS):
            lines.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2]]))
        else:
            lines.append("  ".join(c.rjust(widths[i]) if i >= 2 else c.ljust(widths[i])
                                   for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def fmt_cpu(summary):
    return "-" if summary["cpu_s_per_10k"] is None else "%.2f" % summary["cpu_s_per_10k"]


def fmt_share(share):
    return "/".join("%d" % round(100 * x) for x in share) + "%" if share else "-"


def engine_notes(results):
    """What each comparison's sides did besides their speed: where their workers were
    allowed to run and how the work split between them, and the zero-copy sends."""
    lines = []
    for ent in results.get("engine", []):
        sides = [r for r in engine_sides(ent) if r and r.get("summary")]
        if len(sides) < 2:
            continue
        parts = []
        cpus = [", ".join(c or "?" for c in r.get("worker_cpus", [])) for r in sides]
        if cpus[0] != cpus[1]:
            parts.append("workers' allowed CPUs: A %s; B %s" % (cpus[0] or "?", cpus[1] or "?"))
        shares = [r["summary"].get("worker_cpu_share") for r in sides]
        if any(shares):
            parts.append("workers' CPU split in a run (median): A %s, B %s"
                         % (fmt_share(shares[0]), fmt_share(shares[1])))
        zc = [r.get("zero_copy") or {"sends": 0, "copied": 0} for r in sides]
        if any(z["sends"] for z in zc):
            parts.append("zero-copy sends (copied by the kernel): A %d (%d), B %d (%d)"
                         % (zc[0]["sends"], zc[0]["copied"], zc[1]["sends"], zc[1]["copied"]))
        elif "zc-" in ent["name"]:
            parts.append("zero-copy sends: none on either side")
        for r in sides:
            extra = list(dict.fromkeys(r.get("notes", [])))
            if r.get("error_late"):
                extra.append(r["error_late"])
            errs = r["summary"]["socket_errors"] + r["summary"]["http_errors"]
            if errs:
                extra.append("%d errors" % errs)
            if extra:
                parts.append("%s: %s" % (r["label"], "; ".join(extra)))
        lines.append("%s — %s" % (ent["name"], "; ".join(parts)))
    return lines


# ---------------------------------------------------------------------------------------
# Tables


def fmt_ms(us):
    if us is None:
        return "-"
    ms = us / 1000
    if ms >= 1000:
        return "%.2f s" % (ms / 1000)
    if ms >= 100:
        return "%.0f ms" % ms
    if ms >= 10:
        return "%.1f ms" % ms
    return "%.2f ms" % ms


def fmt_errors(s):
    total = s["socket_errors"] + s["http_errors"]
    if total == 0:
        return "0"
    return "%d (%d sock, %d http)" % (total, s["socket_errors"], s["http_errors"])


COLUMNS = ["scenario", "server", "req/s", "p50", "p99", "max", "errors", "starved",
           "CPU s/10k req", "RSS/worker MB", "bg cores", "x uwsgi-fast"]
# The mixed scenarios' own table: the latency of their fast requests, then of all.
MIX_COLUMNS = ["scenario", "server", "req/s", "fast p50", "fast p99", "p99 all", "max",
               "errors", "starved", "CPU s/10k req", "bg cores", "x uwsgi-fast"]


def family(results, mixed):
    """The scenario entries of one table: the mixed family's, or the others'."""
    return [e for e in results["scenarios"] if bool(e.get("mix")) == mixed]


def table_rows(entries, columns):
    """Rows of strings (one per scenario x server) for the text and Markdown tables; a
    server that did not run has its reason in the third cell and empty cells after it."""
    out = []
    for ent in entries:
        base = None
        for r in ent["results"]:
            if r["server"] == "uwsgi-fast" and "summary" in r:
                base = r["summary"]["rps"]
        for r in ent["results"]:
            name = r["label"]
            if "summary" not in r:
                out.append([ent["name"], name, r.get("error", "no result")]
                           + [""] * (len(columns) - 3))
                continue
            s = r["summary"]
            cells = {
                "req/s": "%.0f" % s["rps"],
                "p50": fmt_ms(s["p50_us"]),
                "p99": fmt_ms(s["p99_us"]),
                "fast p50": fmt_ms(s.get("fast_p50_us")),
                "fast p99": fmt_ms(s.get("fast_p99_us")),
                "p99 all": fmt_ms(s["p99_us"]),
                "max": fmt_ms(s["max_us"]),
                "errors": fmt_errors(s),
                "starved": "-" if s.get("starved") is None else "%d/%d" % (
                    s["starved"], s.get("watched") or CANARIES),
                "CPU s/10k req": fmt_cpu(s),
                "RSS/worker MB": "%.1f" % s["rss_mb_per_worker"] if s["rss_mb_per_worker"]
                else "-",
                "bg cores": "%.2f" % s["bg_cores"] if s.get("bg_cores") is not None else "-",
                "x uwsgi-fast": "%.2fx" % (s["rps"] / base) if base else "-",
            }
            out.append([ent["name"], name] + [cells[c] for c in columns[2:]])
    return out


def text_table(results, mixed=False):
    columns = MIX_COLUMNS if mixed else COLUMNS
    rows = table_rows(family(results, mixed), columns)
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            if cell and not (i == 2 and not row[3]):  # a failure spans the metric columns
                widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(columns))]
    lines.append("  ".join("-" * w for w in widths))
    prev = None
    for row in rows:
        if prev is not None and row[0] != prev:
            lines.append("")
        prev = row[0]
        if row[2] and not row[3]:
            lines.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2]]))
        else:
            lines.append("  ".join(c.rjust(widths[i]) if i >= 2 else c.ljust(widths[i])
                                   for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def config_lines(entries):
    """One line per server: how it was set up, with the scenarios a setting applies to
    when it does not apply to all."""
    ran = collections.defaultdict(list)  # server -> scenarios it ran in
    where = collections.defaultdict(lambda: collections.defaultdict(list))
    labels = {}
    for ent in entries:
        for r in ent["results"]:
            if "config_notes" not in r:
                continue
            labels[r["server"]] = r["label"]
            ran[r["server"]].append(ent["name"])
            for note in dict.fromkeys(r["config_notes"]):
                where[r["server"]][note].append(ent["name"])
    lines = []
    for key in SERVER_KEYS:
        if key not in where:
            continue
        parts = []
        for note, scs in where[key].items():
            rest = [x for x in ran[key] if x not in scs]
            if not rest:
                parts.append(note)
            elif len(rest) < len(scs):
                parts.append("%s (all but %s)" % (note, ", ".join(rest)))
            else:
                parts.append("%s (%s)" % (note, ", ".join(scs)))
        lines.append("%s: %s" % (labels[key], "; ".join(parts)))
    return lines


def notes_lines(results, mixed=False):
    """Facts that belong under a table: how each server was set up, then what happened
    in each scenario (starved connections, missing features, failures)."""
    entries = family(results, mixed)
    lines = config_lines(entries)
    for ent in entries:
        parts = []
        if ent.get("note"):
            parts.append(ent["note"])
        for r in ent["results"]:
            extra = list(dict.fromkeys(r.get("notes", [])))
            sm = r.get("summary") or {}
            if sm.get("starved"):
                extra.append("starved %d/%d %s: they waited up to %.1f s while %s p99 was %s"
                             % (sm["starved"], sm.get("watched") or CANARIES,
                                "clients" if ent.get("mix") else "canaries",
                                sm["canary_max_wait_s"],
                                "the requests'" if ent.get("mix") else "wrk's",
                                fmt_ms(sm["p99_us"])))
            if r.get("error_late"):
                extra.append("after %d round(s): %s" % (len(r["rounds"]), r["error_late"]))
            if extra:
                parts.append("%s: %s" % (r["label"], "; ".join(extra)))
        for msg in ent.get("omitted", []):
            parts.append(msg)
        if parts:
            lines.append("%s — %s" % (ent["name"], ". ".join(parts)))
    return lines


def markdown_table(results, mixed=False):
    columns = MIX_COLUMNS if mixed else COLUMNS
    rows = table_rows(family(results, mixed), columns)
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(columns) - 2)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Main


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Side-by-side WSGI server benchmark (see tests/bench/README.md).")
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke: the quick scenarios, 1 round of 2 s, 1 s warm-up")
    ap.add_argument("--only", choices=("peers", "engine"),
                    help="peers: only the side-by-side scenarios; engine: only the engine "
                         "comparisons (uwsgi-fast against itself with --cpu-pin and with "
                         "--zerocopy-threshold 0, ~4 min); default: both")
    ap.add_argument("--rounds", type=int,
                    help="measured rounds per server (default 3; 5 per side in the engine "
                         "comparisons)")
    ap.add_argument("--duration", type=int, help="seconds per measured wrk run (default 3)")
    ap.add_argument("--warmup", type=int,
                    help="seconds of warm-up before the first round (default 1; 0: none); "
                         "wrk takes whole seconds")
    ap.add_argument("--rewarm", type=int, default=0,
                    help="seconds of warm-up before each later round (default 0: the server "
                         "stays up between rounds and is already warm)")
    ap.add_argument("--scenarios", help="comma-separated scenarios (%s) or engine "
                    "comparisons (%s); a scenario also selects the comparisons made on it"
                    % (",".join(s.name for s in SCENARIOS),
                       ",".join(c.name for c in COMPARISONS)))
    ap.add_argument("--servers", help="comma-separated: " + ",".join(SERVER_KEYS))
    ap.add_argument("--wrk-threads", type=int,
                    help="override wrk -t for every scenario (default 1; keepalive-5k uses 2)")
    ap.add_argument("--uwsgi-fast", default=DEFAULT_UF, help="the uwsgi-fast binary")
    ap.add_argument("--output", help="results JSON (default: results/tmp/<time>.json; a run "
                                     "of every scenario also writes results/latest.json, "
                                     "one of every engine comparison results/engine.json)")
    ap.add_argument("--no-install", action="store_true",
                    help="skip the apt/pip install step (use the venv as it is)")
    ap.add_argument("--install-only", action="store_true", help="set up and exit")
    ap.add_argument("--publish", action="store_true",
                    help="update docs/benchmarks.md's generated blocks and its charts")
    ap.add_argument("--start-timeout", type=float, default=60.0)
    ap.add_argument("--noise-limit", type=float, default=0.5,
                    help="background load (cores used by other processes) above which a "
                         "round is measured again (default 0.5)")
    ap.add_argument("--retry-noisy", type=int,
                    help="how many times a noisy round is measured again (default 1; 0 with "
                         "--quick)")
    ap.add_argument("--retry-budget", type=float, default=60.0,
                    help="seconds a run may spend measuring noisy rounds again (default 60: "
                         "a full run takes at most a minute longer)")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds = args.rounds or 1
        args.duration = args.duration or 2
        args.warmup = 1 if args.warmup is None else args.warmup
    if args.retry_noisy is None:
        args.retry_noisy = 0 if args.quick else 1
    # A ratio of two medians needs more rounds than a ranking does.
    args.engine_rounds = args.rounds or ENGINE_ROUNDS
    args.rounds = args.rounds or 3
    args.duration = args.duration or 3
    args.warmup = 1 if args.warmup is None else args.warmup
    if args.rounds < 1 or args.duration < 1:
        ap.error("--rounds and --duration must be >= 1")
    names = [s.name for s in SCENARIOS] + [c.name for c in COMPARISONS]
    if args.scenarios:
        want = [x.strip() for x in args.scenarios.split(",") if x.strip()]
        bad = [x for x in want if x not in names]
        if bad:
            ap.error("unknown scenario(s) %s; choose from %s" % (",".join(bad), ",".join(names)))
        args.scenario_list = [s for s in SCENARIOS if s.name in want]
        args.comparison_list = [c for c in COMPARISONS if c.name in want or c.scenario in want]
    else:
        args.scenario_list = [s for s in SCENARIOS if s.quick or not args.quick]
        args.comparison_list = [c for c in COMPARISONS if c.quick or not args.quick]
    if args.only == "engine":
        args.scenario_list = []
    elif args.only == "peers":
        args.comparison_list = []
    if args.servers:
        want = [x.strip() for x in args.servers.split(",") if x.strip()]
        bad = [x for x in want if x not in SERVER_KEYS]
        if bad:
            ap.error("unknown server(s) %s; choose from %s" % (",".join(bad),
                                                              ",".join(SERVER_KEYS)))
        args.server_list = [k for k in SERVER_KEYS if k in want]
    else:
        args.server_list = list(SERVER_KEYS)
    args.comparison_list = [c for c in args.comparison_list
                            if ENGINE_BASE in args.server_list and c.variant in args.server_list]
    if not args.scenario_list and not args.comparison_list:
        ap.error("nothing to run: no scenario or engine comparison matches --scenarios, "
                 "--servers and --only")
    return args


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= need


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(TMP, exist_ok=True)
    if not args.no_install:
        ensure_apt()
        pkg_status = ensure_venv()
    else:
        pkg_status = {}
        if not os.path.exists(os.path.join(VENV, "bin", "python")):
            log("bench: %s does not exist; run without --no-install" % VENV)
            return 2
    if args.install_only:
        for name, err in sorted(pkg_status.items()):
            log("bench: %-12s %s" % (name, err or "ok"))
        return 0
    if not shutil.which("wrk"):
        log("bench: wrk not found (Debian package wrk)")
        return 2
    for sc in SCENARIOS:
        if args.wrk_threads:
            sc.wrk_threads = args.wrk_threads
    most = max(SCENARIO[n].connections for n in [s.name for s in args.scenario_list]
               + [c.scenario for c in args.comparison_list])
    if not raise_nofile(most * 2 + 512):
        log("bench: RLIMIT_NOFILE is too low for %d connections; raise the hard limit" % most)

    # What cannot run at all, and why (reported in the table, never hidden).
    unavailable = {}
    for key in args.server_list:
        pkg = SPEC[key].package
        if pkg and pkg_status.get(pkg):
            unavailable[key] = pkg_status[pkg]
    uf_features, uf_error, uf_build = set(), None, {}
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    uf_binary = uf_source = args.uwsgi_fast
    if any(k in UF_KEYS for k in args.server_list):
        if os.path.isfile(uf_binary):
            # Run a private copy: other engineers rebuild zig-out/bin while we measure, and
            # one run must measure one build.
            uf_binary = os.path.join(TMP, "uwsgi-fast-" + stamp)
            shutil.copy2(args.uwsgi_fast, uf_binary)
            with open(uf_binary, "rb") as f:
                uf_build["sha256"] = hashlib.sha256(f.read()).hexdigest()
            uf_build["mtime"] = datetime.datetime.fromtimestamp(
                os.path.getmtime(args.uwsgi_fast), datetime.timezone.utc).isoformat()
            try:
                with open(os.path.join(ROOT, "VERSION")) as f:
                    uf_build["version"] = f.read().strip()
            except OSError:
                pass
            args.uwsgi_fast = uf_binary
        uf_features, uf_error = uf_probe(uf_binary)
        if uf_error:
            for k in UF_KEYS:
                unavailable[k] = uf_error
    health_ok = "--health-path" in uf_features
    ctx = Ctx(args, uf_features)

    with open(os.path.join(TMP, "file-1m.bin"), "wb") as f:
        f.write(BODY_1M)
    log_dir = os.path.join(TMP, "logs-" + stamp)
    os.makedirs(log_dir, exist_ok=True)

    results = {
        "version": 1,
        "started": stamp,
        "mode": "quick" if args.quick else (args.only or "full"),
        "command": "tests/bench/run " + " ".join(sys.argv[1:] if argv is None else argv),
        "settings": {"rounds": args.rounds, "duration_s": args.duration,
                     "engine_rounds": args.engine_rounds,
                     "warmup_s": args.warmup, "backlog": BACKLOG,
                     "noise_limit_cores": args.noise_limit, "retry_noisy": args.retry_noisy,
                     "retry_budget_s": args.retry_budget},
        "machine": machine_description(),
        "versions": venv_versions(),
        "uwsgi_fast": dict(uf_build, binary=os.path.relpath(uf_source, ROOT),
                           error=uf_error, health_path=health_ok,
                           threads="--threads" in uf_features),
        "bare_rss_mb": {},
        "scenarios": [],
        "engine": [],
    }
    for mod in sorted({sc.app.split(":")[0] for sc in args.scenario_list}):
        kb = bare_rss_kb(mod)
        results["bare_rss_mb"][mod] = round(kb / 1024, 1) if kb else None

    # Ctrl-C and TERM must not leave servers behind: turn TERM into KeyboardInterrupt so
    # run_scenario's finally-block stops them.
    signal.signal(signal.SIGTERM, interrupt)
    t_start = time.monotonic()
    args.retry_left = args.retry_budget
    interrupted = False
    try:
        for sc in args.scenario_list:
            keys, omitted = scenario_servers(sc, args.server_list, uf_features, uf_error)
            log("bench: %s — %s (%d worker(s), %d %s)" % (
                sc.name, sc.title, sc.workers, sc.connections,
                "closed-loop clients" if sc.mix else "connections"))
            t_sc = time.monotonic()
            entry = run_scenario(sc, keys, ctx, args, log_dir, unavailable)
            entry["elapsed_s"] = round(time.monotonic() - t_sc, 1)
            log("bench: %s took %.0f s" % (sc.name, entry["elapsed_s"]))
            if omitted:
                entry["omitted"] = omitted
            results["scenarios"].append(entry)
        for cmp in args.comparison_list:
            sc = SCENARIO[cmp.scenario]
            log("bench: %s — uwsgi-fast vs %s, alternately, on %s (%d worker(s), "
                "%d connections)" % (cmp.name, SPEC[cmp.variant].label, sc.name, sc.workers,
                                     sc.connections))
            t_sc = time.monotonic()
            if cmp.flag not in uf_features and not uf_error:
                entry = {"name": cmp.name, "scenario": cmp.scenario, "variant": cmp.variant,
                         "results": [], "omitted": ["omitted: this binary has no %s"
                                                    % cmp.flag]}
            else:
                entry = run_comparison(cmp, ctx, args, log_dir, unavailable)
            entry["elapsed_s"] = round(time.monotonic() - t_sc, 1)
            if entry.get("ratio"):
                log("bench: %s B/A %.2fx (rounds %s), took %.0f s" % (
                    cmp.name, entry["ratio"], " ".join("%.2f" % x for x in entry["round_ratios"]),
                    entry["elapsed_s"]))
            results["engine"].append(entry)
    except KeyboardInterrupt:
        interrupted = True
        log("bench: interrupted; writing what was measured")
    results["elapsed_s"] = round(time.monotonic() - t_start, 1)
    results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]

    out = args.output or os.path.join(TMP, "%s-%s.json" % (stamp, results["mode"]))
    write_json(out, results)
    everything = not args.output and not args.quick and not args.scenarios \
        and not args.servers and not interrupted
    if everything and args.only != "engine":
        write_json(os.path.join(RESULTS, "latest.json"), results)
        out = os.path.join(RESULTS, "latest.json")
    if everything and args.only != "peers":
        # The engine comparisons' latest run, whichever command made it: the report's
        # engine section is drawn from here.
        write_json(ENGINE_RESULTS, dict(results, scenarios=[]))
        if args.only == "engine":
            out = ENGINE_RESULTS

    if uf_binary != uf_source:
        try:
            os.unlink(uf_binary)
        except OSError:
            pass
    for mixed in (False, True):
        if not family(results, mixed):
            continue
        print()
        if mixed:
            print(MIX_HEADER)
        print(text_table(results, mixed))
        notes = notes_lines(results, mixed)
        if notes:
            print()
            for line in notes:
                print("* " + line)
    if results["engine"]:
        print()
        print("Engine comparisons: side A is uwsgi-fast, side B adds one flag; %d round(s) "
              "of A then B" % args.engine_rounds)
        print(engine_text_table(results))
        for line in engine_notes(results):
            print("* " + line)
    print()
    print("wrk -t1 by default (-t2 for keepalive-5k; mixload.py in the mixed scenarios), on "
          "the same %s cores as the servers; results: %s; elapsed %.0f s"
          % (results["machine"]["nproc"], os.path.relpath(out, ROOT), results["elapsed_s"]))
    if args.publish:
        import report  # noqa: E402  (sibling module, only needed here)
        report.publish(out)

    return exit_status(results, args, interrupted)


def scenario_servers(sc, server_list, uf_features, uf_error):
    """The servers of one side-by-side scenario: the peers and uwsgi-fast, with the
    variants of uwsgi-fast made for it (C-only /health and the access log on hello,
    --threads on the mixed scenarios). Returns (keys, omitted): omitted says which
    variant this binary cannot run, for lack of its flag."""
    keys, omitted = [], []
    for k in server_list:
        if k in ENGINE_VARIANTS:
            continue
        if k in SCENARIO_VARIANTS:
            wanted, flag = SCENARIO_VARIANTS[k]
            if not wanted(sc):
                continue
            if flag not in uf_features and not uf_error:
                omitted.append("%s omitted: this binary has no %s yet" % (SPEC[k].label, flag))
                continue
        keys.append(k)
    return keys, omitted


def interrupt(_signum, _frame):
    raise KeyboardInterrupt


def write_json(path, results):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def exit_status(results, args, interrupted):
    """0: every built server served 2xx; 1: uwsgi-fast failed; 3: a peer failed."""
    uf_failed, peer_failed = [], []
    checked = 0
    for ent in results["scenarios"] + results.get("engine", []):
        for r in ent["results"]:
            err = r.get("error", "")
            if err.startswith("failed to build"):
                continue  # reported in the table; not a failure of this run
            checked += 1
            s = r.get("summary")
            bad = None
            if err:
                bad = err
            elif not s:
                bad = "no measurement"
            elif s["requests"] == 0 and not ent.get("zero_ok"):
                bad = "served no request"
            elif s["http_errors"]:
                bad = "%d non-2xx responses" % s["http_errors"]
            elif r.get("error_late"):
                bad = r["error_late"]
            elif r["server"] in UF_KEYS and args.quick and s["socket_errors"]:
                bad = "%d socket errors" % s["socket_errors"]
            elif r["server"] in UF_KEYS and r.get("worker_exits"):
                bad = "%d worker process(es) exited under load" % r["worker_exits"]
            if bad:
                (uf_failed if r["server"] in UF_KEYS else peer_failed).append(
                    "%s/%s: %s" % (ent["name"], r["server"], bad))
    for msg in uf_failed:
        log("bench: FAIL uwsgi-fast %s" % msg)
    for msg in peer_failed:
        log("bench: FAIL peer %s" % msg)
    # One line in the plain "N passed, N failed" form: each server in each scenario is one
    # check (served, with 2xx answers).
    failed = len(uf_failed) + len(peer_failed)
    print("bench: %d passed, %d failed" % (checked - failed, failed), flush=True)
    if interrupted:
        return 2
    if uf_failed:
        return 1
    if peer_failed:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
