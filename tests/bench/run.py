#!/usr/bin/env python3
"""Side-by-side benchmark: uwsgi-fast against gunicorn, Granian, uWSGI, bjoern, FastWSGI.

    tests/bench/run                       full run (the scenarios marked full, 7 rounds,
                                          tuning first, then the engine comparisons)
    tests/bench/run --quick               CI smoke: 5 scenarios, one 2 s round per server,
                                          and one round of --cpu-pin on/off on hello-2w
    tests/bench/run --only engine         only the engine comparisons
    tests/bench/run --only nginx          only the behind-nginx group (nginx_front.py)
    tests/bench/run --only asgi           only the ASGI group (uvicorn, Granian, ...)
    tests/bench/run --only ws             only the WebSocket group (echo, wsload.c)
    tests/bench/run --scenarios hello-1w --rounds 7 --duration 1
    tests/bench/run --install-only        set up .deps/bench-venv and the Debian tools
    tests/bench/run --publish             also update docs/benchmarks.md and the chart

This file is the command line; the work is in the modules beside it, one job each:
benchenv (paths, install, machine), scenarios (what is measured), peers (how each server
is launched, its variants), server (one server, one load run, canaries), schedule (the
order of a round, ratio pairing), stats (summaries, bootstrap intervals), rounds
(interleaved measurement with the noise reference), tuning (each peer at its best),
tables (text and Markdown). report.py renders a results file into docs/benchmarks.md.

Standard library only; the servers run from .deps/bench-venv, which the install step
creates from tests/bench/requirements-peers.txt.

Exit status: 0 when every server that was built started and answered its requests with
2xx; 1 when uwsgi-fast failed to start or to serve; 3 when only a peer failed; 2 on bad
usage or a broken environment.
"""

import argparse
import datetime
import hashlib
import json
import os
import resource
import shutil
import signal
import sys
import time

import nginx_front
import rounds
import tables
import tuning
from benchenv import (ASGI_RESULTS, DEFAULT_UF, ENGINE_RESULTS, LATEST_RESULTS,
                      NGINX_RESULTS, PREVIOUS_RESULTS, ROOT, TMP, VENV, WS_RESULTS, bare_rss_kb,
                      build_bare, ensure_apt, ensure_venv, log, machine_description,
                      uf_instruments, uf_probe, venv_site_packages, venv_versions, wsload_binary)
from peers import (BACKLOG, BASE, DOCS_ROWS, ENGINE_VARIANTS, GROUP_KEYS, SCENARIO_VARIANTS,
                   SERVER_KEYS, SPEC, UF_KEYS, Ctx)
from scenarios import BODY_1M, COMPARISONS, MIX_HEADER, SCENARIO, SCENARIOS
from schedule import PAIR

# A full run's shape (see --rounds etc.): 7 rounds of 2 s, each run after 1 s of warm-up;
# tuning runs of 2 s; the reference 1 s per round.
ROUNDS, DURATION, WARMUP = 7, 2, 1
QUICK_BLOCK = 0  # --quick: uwsgi-fast once per round, before the others


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Side-by-side WSGI server benchmark (see tests/bench/README.md).")
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke: the quick scenarios, 1 round of 2 s after 1 s of warm-up, "
                         "uwsgi-fast once per round, no tuning, no noise reference")
    ap.add_argument("--only", choices=("peers", "engine", "nginx", "asgi", "ws"),
                    help="peers: only the side-by-side scenarios; engine: only the engine "
                         "comparisons; nginx: only the behind-nginx group; asgi: only the "
                         "ASGI group; ws: only the WebSocket group (none of the last three "
                         "is in a full run); default: peers and engine")
    ap.add_argument("--rounds", type=int,
                    help="measured rounds per scenario and engine comparison (default %d)"
                    % ROUNDS)
    ap.add_argument("--duration", type=int,
                    help="seconds per measured run (default %d)" % DURATION)
    ap.add_argument("--warmup", type=int,
                    help="seconds of warm-up before every measured run (default %d; 0: none)"
                    % WARMUP)
    ap.add_argument("--scenarios", help="comma-separated scenarios (%s) or engine "
                    "comparisons (%s); a scenario also selects the comparisons made on it"
                    % (",".join(s.name for s in SCENARIOS),
                       ",".join(c.name for c in COMPARISONS)))
    ap.add_argument("--servers", help="comma-separated: %s (default: all; %s runs in "
                    "hello-2w only unless named)" % (",".join(SERVER_KEYS),
                                                     ",".join(DOCS_ROWS)))
    ap.add_argument("--wrk-threads", type=int,
                    help="override wrk -t for every scenario (default 1; keepalive-5k uses 2)")
    ap.add_argument("--uwsgi-fast", default=DEFAULT_UF, help="the uwsgi-fast binary")
    ap.add_argument("--uwsgi-fast-bare", help="the same source built with "
                    "-Dinstruments=false, side B of instr-hello-1w (default: the harness "
                    "builds it into results/tmp/zout-bare)")
    ap.add_argument("--output", help="results JSON (default: results/tmp/<time>.json; a run "
                                     "of every scenario also writes results/latest.json, "
                                     "one of every engine comparison results/engine.json)")
    ap.add_argument("--no-install", action="store_true",
                    help="skip the apt/pip install step (use the venv as it is)")
    ap.add_argument("--install-only", action="store_true", help="set up and exit")
    ap.add_argument("--publish", action="store_true",
                    help="update docs/benchmarks.md's generated blocks and its charts")
    ap.add_argument("--start-timeout", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=24,
                    help="seed of the round orders, tuning orders and bootstrap (default 24)")
    ap.add_argument("--no-tune", action="store_true",
                    help="run every peer in its first variant (the shape before tuning)")
    ap.add_argument("--tune-duration", type=int, default=2,
                    help="seconds per tuning run (default 2)")
    ap.add_argument("--tune-passes", type=int, default=1,
                    help="tuning runs per variant (default 1)")
    ap.add_argument("--no-reference", action="store_true",
                    help="no noise reference run in the rounds")
    ap.add_argument("--ref-duration", type=int, default=1,
                    help="seconds of the noise reference run in every round (default 1)")
    ap.add_argument("--ref-limit", type=float, default=0.10,
                    help="a round whose noise reference is further than this fraction from "
                         "the scenario's median is measured again, then flagged (default "
                         "0.10)")
    ap.add_argument("--retry-budget", type=float, default=60.0,
                    help="seconds a run may spend measuring unsteady rounds again "
                         "(default 60)")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds = args.rounds or 1
        args.duration = args.duration or 2
    args.rounds = args.rounds or ROUNDS
    args.duration = args.duration or DURATION
    args.warmup = WARMUP if args.warmup is None else args.warmup
    args.engine_rounds = args.rounds
    args.block = QUICK_BLOCK if args.quick else PAIR
    args.tune = not (args.quick or args.no_tune)
    args.reference = not (args.quick or args.no_reference)
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
    elif args.quick:
        args.scenario_list = [s for s in SCENARIOS if s.quick]
        args.comparison_list = [c for c in COMPARISONS if c.quick]
    else:
        args.scenario_list = [s for s in SCENARIOS if s.full]
        args.comparison_list = [c for c in COMPARISONS if c.full]
    if args.only in ("nginx", "asgi", "ws"):
        # a group of its own: its scenarios, or those of them --scenarios names
        mine = (lambda s: s.front) if args.only == "nginx" else \
            (lambda s: s.interface == args.only)
        args.scenario_list = [s for s in SCENARIOS if mine(s) and (
            not args.scenarios or s in args.scenario_list)]
        args.comparison_list = []
    elif args.only == "engine":
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
                            if BASE in args.server_list and c.variant in args.server_list]
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




def copy_binary(args, stamp):
    """Runs a private copy of uwsgi-fast (other engineers rebuild zig-out/bin while we
    measure, and one run must measure one build); returns the build's description."""
    copy, build = private_copy(args.uwsgi_fast, "uwsgi-fast-" + stamp)
    if copy:
        args.uwsgi_fast = copy
    return build


def bare_binary(args, stamp):
    """Side B of the instruments comparison: --uwsgi-fast-bare or a build made here, in a
    private copy. Returns (path, build description, None) or (None, {}, why not); it is
    refused unless it says it has no instruments and side A says it has them."""
    src, why = (args.uwsgi_fast_bare, None) if args.uwsgi_fast_bare else build_bare()
    if why:
        return None, {}, why
    if uf_instruments(src) is not False:
        return None, {}, "%s does not say it was built without instruments" % src
    if not uf_instruments(args.uwsgi_fast):
        return None, {}, "side A (%s) has no instruments to compare" % args.uwsgi_fast
    copy, build = private_copy(src, "uwsgi-fast-bare-" + stamp)
    if not copy:
        return None, {}, "%s is not a file" % src
    build["binary"] = os.path.relpath(src, ROOT) if src.startswith(ROOT + os.sep) else src
    return copy, build, None


def private_copy(src, name):
    """Copies `src` to results/tmp/<name>; returns (the copy, its sha256, mtime and the
    tree's VERSION), or (None, {}) when src is not a file."""
    build = {}
    if not os.path.isfile(src):
        return None, build
    copy = os.path.join(TMP, name)
    shutil.copy2(src, copy)
    with open(copy, "rb") as f:
        build["sha256"] = hashlib.sha256(f.read()).hexdigest()
    build["mtime"] = datetime.datetime.fromtimestamp(
        os.path.getmtime(src), datetime.timezone.utc).isoformat()
    try:
        with open(os.path.join(ROOT, "VERSION")) as f:
            build["version"] = f.read().strip()
    except OSError:
        pass
    return copy, build


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    os.makedirs(TMP, exist_ok=True)
    fronted = any(sc.front for sc in args.scenario_list)
    nginx_error = None
    if not args.no_install:
        ensure_apt()
        if fronted or args.install_only:
            nginx_error = nginx_front.ensure_nginx()
        pkg_status = ensure_venv()
    else:
        pkg_status = {}
        if not os.path.exists(os.path.join(VENV, "bin", "python")):
            log("bench: %s does not exist; run without --no-install" % VENV)
            return 2
    if args.install_only:
        for name, err in sorted(pkg_status.items()):
            log("bench: %-12s %s" % (name, err or "ok"))
        log("bench: %-12s %s" % ("nginx", nginx_error or "ok"))
        return 0
    if fronted and not nginx_error and not os.access(nginx_front.NGINX, os.X_OK):
        nginx_error = "%s not found (Debian package nginx-light or nginx)" % nginx_front.NGINX
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
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    uf_source = args.uwsgi_fast
    uf_features, uf_error, uf_build = set(), None, {}
    if any(k in UF_KEYS for k in args.server_list):
        uf_build = copy_binary(args, stamp)
        uf_features, uf_error = uf_probe(args.uwsgi_fast)
        if uf_error:
            for k in UF_KEYS:
                unavailable[k] = uf_error
    for t in nginx_front.TRANSPORTS:  # a row behind nginx needs its server and nginx
        why = unavailable.get(t.backend) or (uf_error if t.backend == BASE else None) \
            or nginx_error
        if why:
            unavailable[t.key] = why
    uf_bare, bare_build, bare_error = None, {}, None
    if any(c.build == "bare" for c in args.comparison_list) and not uf_error:
        uf_bare, bare_build, bare_error = bare_binary(args, stamp)
        if bare_error:
            log("bench: no build without instruments: %s" % bare_error)
    ctx = Ctx(args.uwsgi_fast, uf_features, venv_site_packages(), uf_bare=uf_bare)
    if any(sc.interface == "ws" for sc in args.scenario_list):
        ctx.wsload, why = wsload_binary()
        if why:
            log("bench: %s" % why)
            return 2

    with open(os.path.join(TMP, "file-1m.bin"), "wb") as f:
        f.write(BODY_1M)
    log_dir = os.path.join(TMP, "logs-" + stamp)
    os.makedirs(log_dir, exist_ok=True)

    results = {
        "version": 2,
        "started": stamp,
        "mode": "quick" if args.quick else (args.only or "full"),
        "command": "tests/bench/run " + " ".join(argv),
        "settings": {"rounds": args.rounds, "duration_s": args.duration,
                     "engine_rounds": args.engine_rounds, "warmup_s": args.warmup,
                     "warmup_every_run": True, "backlog": BACKLOG, "seed": args.seed,
                     "order": "one uwsgi-fast run per round, first" if args.quick else
                     "seeded shuffle per round, uwsgi-fast between every two others",
                     "tuning": args.tune, "tune_duration_s": args.tune_duration,
                     "tune_passes": args.tune_passes, "reference": args.reference,
                     "ref_duration_s": args.ref_duration, "ref_limit": args.ref_limit,
                     "retry_budget_s": args.retry_budget, "bootstrap": "percentile, "
                     "10000 resamples of the per-round ratios, median, 95%"},
        "machine": machine_description(),
        "versions": dict(venv_versions(), **({"nginx": nginx_front.nginx_version()}
                                             if fronted and not nginx_error else {})),
        "uwsgi_fast": dict(uf_build, binary=os.path.relpath(uf_source, ROOT),
                           error=uf_error, health_path="--health-path" in uf_features,
                           threads="--threads" in uf_features),
        "uwsgi_fast_bare": dict(bare_build, error=bare_error) if uf_bare or bare_error
        else None,
        "bare_rss_mb": {},
        # the WebSocket group's client, named by the hash of its sources (benchenv)
        "wsload": os.path.basename(ctx.wsload) if ctx.wsload else None,
        "tuning": {},
        "scenarios": [],
        "engine": [],
    }
    for mod in sorted({sc.app.split(":")[0] for sc in args.scenario_list}):
        kb = bare_rss_kb(mod)
        results["bare_rss_mb"][mod] = round(kb / 1024, 1) if kb else None

    # Ctrl-C and TERM must not leave servers behind: turn TERM into KeyboardInterrupt so
    # the finally-blocks stop them.
    signal.signal(signal.SIGTERM, interrupt)
    t_start = time.monotonic()
    args.retry_left = args.retry_budget
    interrupted = False
    try:
        for sc in args.scenario_list:
            # --quick keeps its shape: no docs-recommended rows unless named
            keys, omitted = scenario_servers(sc, args.server_list, uf_features, uf_error,
                                             named=bool(args.servers), quick=args.quick)
            if args.tune and sc.kind not in results["tuning"]:
                # tuned on the scenario of this kind with the most workers (hello-2w
                # rather than hello-1w), where multi-process variants differ
                on = max((x for x in args.scenario_list if x.kind == sc.kind),
                         key=lambda x: x.workers)
                on_keys, _ = scenario_servers(on, args.server_list, uf_features, uf_error,
                                              named=bool(args.servers), quick=args.quick)
                results["tuning"][sc.kind] = tuning.tune(on, on_keys, ctx, args, log_dir,
                                                         unavailable)
            log("bench: %s — %s (%d worker(s), %d %s)" % (
                sc.name, sc.title, sc.workers, sc.connections,
                "closed-loop clients" if sc.mix else "connections"))
            t_sc = time.monotonic()
            entry = rounds.run_scenario(sc, keys, ctx, args, log_dir, unavailable)
            entry["elapsed_s"] = round(time.monotonic() - t_sc, 1)
            if sc.front:
                entry["choice"] = nginx_front.choose(entry, seed=args.seed)
            log("bench: %s took %.0f s" % (sc.name, entry["elapsed_s"]))
            if omitted:
                entry["omitted"] = omitted
            results["scenarios"].append(entry)
        for cmp in args.comparison_list:
            sc = SCENARIO[cmp.scenario]
            log("bench: %s — uwsgi-fast vs %s, interleaved, on %s (%d worker(s), "
                "%d connections)" % (cmp.name, SPEC[cmp.variant].label, sc.name, sc.workers,
                                     sc.connections))
            t_sc = time.monotonic()
            missing = ("omitted: no build without instruments (%s)" % bare_error
                       if cmp.build == "bare" and bare_error else
                       "omitted: this binary has no %s" % cmp.flag
                       if cmp.flag and cmp.flag not in uf_features else None)
            if missing and not uf_error:
                entry = {"name": cmp.name, "scenario": cmp.scenario, "variant": cmp.variant,
                         "results": [], "omitted": [missing]}
            else:
                entry = rounds.run_comparison(cmp, ctx, args, log_dir, unavailable)
            entry["elapsed_s"] = round(time.monotonic() - t_sc, 1)
            if entry.get("ratio"):
                log("bench: %s B/A %.2fx (CI %s), took %.0f s" % (
                    cmp.name, entry["ratio"],
                    "%.2f-%.2f" % tuple(entry["ci"]) if entry.get("ci") else "-",
                    entry["elapsed_s"]))
            if entry.get("worker_cpu_ratio"):
                w = entry["worker_cpu_ratio"]
                log("bench: %s workers' CPU per request B/A %.3fx (CI %s)" % (
                    cmp.name, w["median"], "%.3f-%.3f" % tuple(w["ci"]) if w["ci"] else "-"))
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
    if everything and args.only in ("nginx", "asgi", "ws"):
        # a group's latest run: docs/benchmarks.md's "Behind nginx", "ASGI" or "WebSocket"
        out = {"nginx": NGINX_RESULTS, "asgi": ASGI_RESULTS, "ws": WS_RESULTS}[args.only]
        write_json(out, results)
        everything = False
    if everything and args.only != "engine":
        if os.path.exists(LATEST_RESULTS):
            shutil.copy2(LATEST_RESULTS, PREVIOUS_RESULTS)
        write_json(LATEST_RESULTS, results)
        out = LATEST_RESULTS
    if everything and args.only != "peers":
        # The engine comparisons' latest run, whichever command made it: the report's
        # engine section is drawn from here.
        write_json(ENGINE_RESULTS, dict(results, scenarios=[], tuning={}))
        if args.only == "engine":
            out = ENGINE_RESULTS
    for copy in ([args.uwsgi_fast] if args.uwsgi_fast != uf_source else []) + \
            ([uf_bare] if uf_bare else []):
        try:
            os.unlink(copy)
        except OSError:
            pass
    print_tables(results, out)
    if args.publish:
        import report  # noqa: E402  (sibling module, only needed here)
        report.publish(out)
    return exit_status(results, args, interrupted)


def print_tables(results, out):
    """The run's tables and notes on stdout."""
    tuned = tables.tuning_lines(results)
    if tuned:
        print()
        print("Tuning (each peer's variants on a short run; the best kept):")
        for line in tuned:
            print("* " + line)
    for mixed, asgi, ws in ((False, False, False), (True, False, False), (False, True, False),
                            (False, False, True)):
        if not tables.family(results, mixed, asgi, ws):
            continue
        print()
        if mixed:
            print(MIX_HEADER)
        if asgi:
            print(tables.ASGI_HEADER)
        if ws:
            print(tables.WS_HEADER)
        print(tables.text_table(results, mixed, asgi, ws))
        notes = tables.notes_lines(results, mixed, asgi=asgi, ws=ws)
        if notes:
            print()
            for line in notes:
                print("* " + line)
    if tables.fronted(results):
        print()
        print(tables.NGINX_HEADER)
        print(tables.nginx_text_tables(results))
        notes = tables.notes_lines(results, front=True)
        if notes:
            print()
            for line in notes:
                print("* " + line)
    if results["engine"]:
        print()
        print("Engine comparisons: side A is uwsgi-fast, side B adds one flag; %d round(s), "
              "adjacent in alternating order" % results["settings"]["engine_rounds"])
        print(tables.engine_text_table(results))
        for line in tables.engine_notes(results):
            print("* " + line)
    print()
    print("x uwsgi-fast: median over rounds of req/s / req/s of the uwsgi-fast run next to "
          "it; 95%% CI: bootstrap; lead only when the interval excludes 1. wrk -t1 (-t2 for "
          "keepalive-5k; mixload.py in the mixed scenarios; wsload.c in the WebSocket group) on "
          "the same %s cores as the "
          "servers; results: %s; elapsed %.0f s"
          % (results["machine"]["nproc"], os.path.relpath(out, ROOT), results["elapsed_s"]))


def scenario_servers(sc, server_list, uf_features, uf_error, named=False, quick=False):
    """The servers of one side-by-side scenario: the peers and uwsgi-fast, with the
    variants of uwsgi-fast made for it (C-only /health on hello-2w, --threads on the mixed
    scenarios) and the rows with a peer's own recommended worker count (hello-2w but not
    in --quick, or wherever --servers names them). Returns (keys, omitted): omitted says
    which variant this binary cannot run, for lack of its flag."""
    if sc.front:
        return nginx_front.rows_for(server_list, uf_features, uf_error)
    keys, omitted = [], []
    group = GROUP_KEYS.get(sc.interface)  # None: a WSGI scenario
    grouped = {k for g in GROUP_KEYS.values() for k in g}
    for k in server_list:
        if k not in UF_KEYS and (k not in group if group is not None else k in grouped):
            continue  # a WSGI peer or another group's in a group's scenario, or vice versa
        if k in ENGINE_VARIANTS or (k in DOCS_ROWS and not named
                                    and (quick or not DOCS_ROWS[k](sc))):
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


def ours(key):
    """Whether a result row is uwsgi-fast's (a failure exits 1), behind nginx too."""
    t = nginx_front.TRANSPORT.get(key)
    return key in UF_KEYS or (t is not None and t.backend == BASE)


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
            elif ours(r["server"]) and args.quick and s["socket_errors"]:
                bad = "%d socket errors" % s["socket_errors"]
            elif ours(r["server"]) and r.get("worker_exits"):
                bad = "%d worker process(es) exited under load" % r["worker_exits"]
            if bad:
                (uf_failed if ours(r["server"]) else peer_failed).append(
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
