#!/usr/bin/env python3
"""System calls per request, measured from outside and the same way for every server.

    tests/bench/syscalls.py                      hello-2w and flask-json, the default servers
    tests/bench/syscalls.py --scenarios hello-2w --servers uwsgi-fast,bjoern --seconds 5
    tests/bench/syscalls.py --publish            also rewrite docs/benchmarks.md's block

Each server runs a scenario of tests/bench/scenarios.py in its first (untuned) shape from
tests/bench/peers.py. After a warm-up, `perf stat` counts the system calls every thread
of the server's processes enters (the tracepoint raw_syscalls:sys_enter, and
io_uring_enter, epoll_wait and epoll_pwait apart) while wrk runs keep-alive load for a
fixed time; the count divided by the requests wrk completed is the figure. Nothing in
the server is asked, so uwsgi-fast is measured exactly like its peers; the engines'
own counters (/stats) say the same from inside (docs/research.md).

Needs root (perf attaches to the processes) and Debian's linux-perf. Results go to
tests/bench/results/syscalls.json; --publish renders them into the block
<!-- bench:syscalls --> of docs/benchmarks.md.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchenv import BENCH, ROOT, venv_site_packages  # noqa: E402
from peers import Ctx  # noqa: E402
from procstat import tree_pids  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402
from server import Server  # noqa: E402

DEFAULT_SCENARIOS = ["hello-2w", "flask-json"]
DEFAULT_SERVERS = ["uwsgi-fast", "uwsgi-fast-epoll", "bjoern", "fastwsgi", "granian",
                   "gunicorn-gthread"]
EVENTS = ["raw_syscalls:sys_enter", "syscalls:sys_enter_io_uring_enter",
          "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_pwait"]
RESULTS = os.path.join(BENCH, "results", "syscalls.json")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
WARMUP_S = 1


def wrk(port, path, connections, seconds):
    """Requests wrk completed in `seconds` of keep-alive load (one thread)."""
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds,
                          "http://127.0.0.1:%d%s" % (port, path)],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (int(m.group(1)) if m else 0), (int(errors.group(1)) if errors else 0)


def perf_counts(pids, run):
    """Runs `run()` while perf stat counts EVENTS in every thread of `pids`; returns
    ({event: count}, run's result)."""
    with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
        perf = subprocess.Popen(["perf", "stat", "-x,", "-o", out.name, "-e", ",".join(EVENTS),
                                 "-p", ",".join(map(str, pids))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # perf has opened its counters
        try:
            result = run()
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=30)
        counts = parse_perf(out.read())
    return counts, result


def parse_perf(text):
    """{event: count} from perf stat's CSV (-x,) output; an event perf could not count
    (\"<not supported>\") is left out."""
    counts = {}
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] in EVENTS and fields[0].isdigit():
            counts[fields[2]] = int(fields[0])
    return counts


def measure(key, sc, ctx, log_dir, seconds):
    """One server on one scenario: {server, requests, per_request: {...}} or {error}."""
    srv = Server(key, sc, ctx, log_dir)
    srv.start()
    try:
        if srv.error or not srv.wait_ready(time.monotonic() + 60):
            return {"server": key, "label": srv.spec.label, "error": srv.error or "not ready"}
        connections = min(sc.connections, 100)
        wrk(srv.port, srv.path, connections, WARMUP_S)
        pids = tree_pids(srv.proc.pid)
        counts, (requests, errors) = perf_counts(
            pids, lambda: wrk(srv.port, srv.path, connections, seconds))
        if not requests or "raw_syscalls:sys_enter" not in counts:
            return {"server": key, "label": srv.spec.label,
                    "error": "no requests" if not requests else "perf counted nothing"}
        epoll = counts.get(EVENTS[2], 0) + counts.get(EVENTS[3], 0)
        return {"server": key, "label": srv.spec.label, "requests": requests, "errors": errors,
                "connections": connections, "processes": len(pids),
                "per_request": {"syscalls": counts[EVENTS[0]] / requests,
                                "io_uring_enter": counts.get(EVENTS[1], 0) / requests,
                                "epoll_wait": epoll / requests}}
    finally:
        srv.stop()


def render(results):
    lines = ["Run %s, %s s of load per server, wrk keep-alive (`%s`)." % (
                 results["time"], results["seconds"], results["command"]), "",
             "| scenario | server | requests | system calls / request | io_uring_enter / request "
             "| epoll_wait / request |", "|---|---|---|---|---|---|"]
    for row in results["rows"]:
        if "error" in row:
            lines.append("| %s | %s | - | %s | | |" % (row["scenario"], row["label"], row["error"]))
            continue
        p = row["per_request"]
        lines.append("| %s | %s | %d | %.2f | %.2f | %.2f |" % (
            row["scenario"], row["label"], row["requests"], p["syscalls"], p["io_uring_enter"],
            p["epoll_wait"]))
    return "\n".join(lines)


def publish(results):
    from report import replace_block
    with open(DOC) as f:
        text = f.read()
    with open(DOC, "w") as f:
        f.write(replace_block(text, "syscalls", render(results)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS))
    ap.add_argument("--servers", default=",".join(DEFAULT_SERVERS))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--uwsgi-fast", default=os.path.join(ROOT, "zig-out", "bin", "uwsgi-fast"))
    ap.add_argument("--publish", action="store_true")
    args = ap.parse_args()
    if not shutil.which("perf") or not shutil.which("wrk"):
        sys.exit("syscalls.py needs perf (Debian linux-perf) and wrk")
    by_name = {s.name: s for s in SCENARIOS}
    unknown = [n for n in args.scenarios.split(",") if n not in by_name]
    if unknown:
        sys.exit("syscalls.py: unknown scenario %s" % ", ".join(unknown))
    ctx = Ctx(args.uwsgi_fast, set(), venv_site_packages())
    rows = []
    with tempfile.TemporaryDirectory(prefix="syscalls-") as log_dir:
        for name in args.scenarios.split(","):
            for key in args.servers.split(","):
                row = measure(key, by_name[name], ctx, log_dir, args.seconds)
                row["scenario"] = name
                rows.append(row)
                print(json.dumps(row), flush=True)
    results = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "seconds": args.seconds, "rows": rows,
               "command": " ".join(["tests/bench/syscalls.py"] + sys.argv[1:])}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=1)
    print(render(results))
    if args.publish:
        publish(results)


if __name__ == "__main__":
    main()
