"""Measurement: one scenario's servers started together and measured in interleaved
rounds (schedule.py gives the order), with a noise reference in every round; and the
engine comparisons, measured the same way with two sides.

A round is: the reference run (uwsgi-fast's C-only /health on its own worker, a short
wrk run; it stands for the host's speed at that moment), then every server once and
uwsgi-fast once per block, each run after its own warm-up. After the last round the
reference's req/s of each round is compared with its median: a round where it moved
more than --ref-limit is measured again (while --retry-budget lasts), and a round that
stays off is flagged and left out of the ratios when enough steady rounds remain.
"""

import math
import os
import re
import threading
import time
from dataclasses import replace

import schedule
import stats
from benchenv import log
from peers import BASE, SPEC, candidates, chosen_variant
from procstat import cpus_allowed, vm_hwm_kb
from scenarios import BODY_1M, HELLO, REFERENCE, SCENARIO
from server import Server, run_client, server_log_path


class Round:
    """One measured round: the order it ran in, the reference's req/s and each run."""

    def __init__(self, index, order):
        self.index = index
        self.order = order  # [(server key, block)]
        self.reference_rps = None
        self.runs = []  # [(server key, block, report)]
        self.flagged = False

    def as_json(self):
        return {"round": self.index, "order": [k for k, _ in self.order],
                "blocks": [b for _, b in self.order], "reference_rps": self.reference_rps,
                "flagged": self.flagged}


def start_servers(servers, args, ctx):
    """Starts `servers` together, waits until each answers its probe, lets them settle.
    A server that fails keeps its error; the others go on."""
    for srv in servers:
        srv.start()
    deadline = time.monotonic() + args.start_timeout
    for srv in servers:
        srv.wait_ready(deadline)
        if srv.error and "already in use" in srv.error:
            # a client socket of an earlier scenario took the port in between: once
            # more on another port, and say so under the table
            srv.restart_on_new_port(ctx)
            srv.wait_ready(time.monotonic() + args.start_timeout)
        if srv.error:
            log("  %-22s %s" % (srv.name, srv.error))
    for s in servers:
        if not s.error:
            s.settle(limit=2.0)  # the probe's connection, an import still finishing


def stop_servers(servers):
    """Stops every server at once (each may take its grace period)."""
    stoppers = [threading.Thread(target=srv.stop) for srv in servers]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join()


def measure(srv, seconds, warmup, base_path, canaries=True):
    """One measured run of `srv` after `warmup` seconds of load (0: none). Returns the
    report, or None with srv.error set when the server died or the client failed."""
    sc = srv.sc
    if not srv.alive():
        srv.error = "died during the run (status %s): %s" % (srv.proc.returncode,
                                                             srv.log_tail())
        return None
    try:
        if warmup > 0 and sc.warmup:
            run_client(srv, warmup, base_path + "-warmup.txt")
            srv.settle(sc.drain_limit)
        before = set(srv.workers())
        rep = run_client(srv, seconds, base_path + ".txt", canaries=canaries)
    except (RuntimeError, OSError, ValueError) as e:
        srv.error = "load run failed: %s" % e
        return None
    gone = before - set(srv.workers()) if srv.alive() else before
    if gone:
        # A worker that exits under load crashed or was killed: the numbers of this run
        # include its replacement's start-up.
        srv.worker_exits += len(gone)
        srv.notes.append("%d worker process(es) exited during %s (%s)"
                         % (len(gone), os.path.basename(base_path), srv.log_tail(2)))
    srv.rss_kb = [k for k in (vm_hwm_kb(p) for p in srv.workers()) if k]
    t_settle = time.monotonic()
    if not srv.settle(sc.drain_limit):
        srv.notes.append("still busy %d s after the load stopped" % sc.drain_limit)
    rep["settle_s"] = round(time.monotonic() - t_settle, 2)
    return rep


def run_round(rnd, order, servers, ref, args, log_dir, sc, attempt=0):
    """Measures one round: the reference, then `order`. Returns a Round."""
    r = Round(rnd, order)
    tag = "r%d%s" % (rnd, "-again%d" % attempt if attempt else "")
    if ref is not None and not ref.error:
        rep = measure(ref, args.ref_duration, 0,
                      os.path.join(log_dir, "%s-reference-%s" % (sc.name, tag)), canaries=False)
        r.reference_rps = rep["rps"] if rep else None
    count = {}
    for key, block in order:
        srv = servers.get(key)
        if srv is None or srv.error:
            continue
        count[key] = count.get(key, 0) + 1
        base = os.path.join(log_dir, "%s-%s-%s-%d" % (sc.name, key, tag, count[key]))
        rep = measure(srv, args.duration, args.warmup, base)
        if rep is None:
            continue
        rep["round"], rep["block"] = rnd, block
        r.runs.append((key, block, rep))
        log("  round %d %-22s %9.0f req/s  p99 %8.2f ms  errors %d+%d  starved %s  cpu %.2fs"
            % (rnd + 1, key, rep["rps"], rep["latency_us"]["p99"] / 1000,
               rep["socket_errors"], rep["http_errors"],
               rep["canary"]["starved"] if "canary" in rep else "-", rep["server_cpu_s"]))
    if r.reference_rps is not None:
        log("  round %d %-22s %9.0f req/s" % (rnd + 1, "(noise reference)", r.reference_rps))
    return r


def make_server(key, sc, ctx, log_dir, variant=None, name=None):
    """A Server, or for a row of the behind-nginx group its nginx_front.NginxServer."""
    if sc.front:
        import nginx_front  # noqa: E402  (only the behind-nginx group needs it)
        return nginx_front.NginxServer(key, sc, ctx, log_dir, variant=variant, name=name)
    return Server(key, sc, ctx, log_dir, variant=variant, name=name)


def scenario_base(sc):
    """The row every other run of the scenario is paired with: uwsgi-fast, or behind
    nginx uwsgi-fast over TCP."""
    if sc.front:
        import nginx_front  # noqa: E402
        return nginx_front.BASE_ROW
    return BASE


def run_scenario(sc, keys, ctx, args, log_dir, unavailable, rounds=None, block=None):
    """Starts every server of the scenario (and the noise reference), measures the
    rounds, stops them; returns the scenario's result entry."""
    rounds = rounds or args.rounds
    base = scenario_base(sc)
    block = args.block if block is None else block
    entry = {"name": sc.name, "title": sc.title, "app": sc.app, "path": sc.path,
             "workers": sc.workers, "connections": sc.connections, "kind": sc.kind,
             "wrk_threads": sc.wrk_threads, "threads": sc.threads, "note": sc.note,
             "zero_ok": sc.zero_ok, "mix": sc.mix, "close": sc.close, "front": sc.front,
             "interface": sc.interface, "base": base, "results": []}
    rows, servers = {}, {}
    for key in keys:
        if key in unavailable:
            rows[key] = {"server": key, "label": SPEC[key].label, "error": unavailable[key]}
            continue
        servers[key] = make_server(key, sc, ctx, log_dir,
                                   variant=chosen_variant(key, sc, ctx))
    ref = None
    if args.reference and "--health-path" in ctx.uf_features:
        ref = Server("reference", REFERENCE, ctx, log_dir, name=sc.name + "-reference")
    everyone = list(servers.values()) + ([ref] if ref else [])
    done = []
    try:
        t0 = time.monotonic()
        start_servers(everyone, args, ctx)
        entry["startup_s"] = round(time.monotonic() - t0, 1)
        live = [k for k in keys if k in servers and not servers[k].error]
        others = [k for k in live if k != base]
        for rnd in range(rounds):
            order = schedule.round_order(others, rnd, args.seed, base, block) \
                if base in live else [(k, 0) for k in live]
            done.append(run_round(rnd, order, servers, ref, args, log_dir, sc))
            if not any(s.alive() for s in servers.values()):
                break
        entry["reference"] = recheck_rounds(done, servers, ref, args, log_dir, sc)
    finally:
        t_stop = time.monotonic()
        for srv in everyone:
            if srv.alive() and srv.proc is not None:
                srv.rss_kb = [k for k in (vm_hwm_kb(p) for p in srv.workers()) if k] or \
                    srv.rss_kb
                srv.worker_cpus = [cpus_allowed(p) for p in sorted(srv.workers())]
        stop_servers(everyone)
        entry["stop_s"] = round(time.monotonic() - t_stop, 1)
    used = [r for r in done if not r.flagged]
    if len(used) < max(1, math.ceil(len(done) / 2)):
        used = done  # the host was unsteady throughout: keep every round, and say so
        if entry.get("reference"):
            entry["reference"]["used_all"] = True
    entry["rounds"] = [r.as_json() for r in done]
    entry["rounds_used"] = [r.index for r in used]
    ratios = schedule.paired_ratios(
        [[(k, b, rep["rps"]) for k, b, rep in r.runs] for r in used], base)
    for key, srv in servers.items():
        reps = [rep for r in used for k, _, rep in r.runs if k == key]
        row = {"server": key, "label": SPEC[key].label, "command": srv.argv,
               "variant": srv.variant.name, "variant_what": srv.variant.what,
               "variant_why": ctx.reasons.get((key, sc.kind), "its only variant here"
                                              if len(candidates(key, sc)) == 1 else
                                              "its first variant (no tuning in this run)"),
               "keepalive": srv.keepalive, "notes": srv.notes,
               "config_notes": srv.config_notes, "rounds": reps,
               "discarded_rounds": srv.discarded, "worker_exits": srv.worker_exits,
               "stop_s": getattr(srv, "stop_s", None), "worker_cpus": srv.worker_cpus}
        if srv.error and not reps:
            row["error"] = srv.error
        elif srv.error:
            row["error_late"] = srv.error
        if reps:
            row["summary"] = stats.summarize(reps, srv.rss_kb)
        if key in ratios:
            row["ratio"] = stats.ratio_summary(ratios[key],
                                               stats.seed_for(sc.name, key, seed=args.seed))
        rows[key] = row
    entry["results"] = [rows[k] for k in keys if k in rows]
    return entry


def recheck_rounds(done, servers, ref, args, log_dir, sc):
    """Compares each round's reference with the median of all; measures a round that
    moved more than args.ref_limit again (same order) while the retry budget lasts, and
    flags the rounds still off. Returns the reference's figures for the entry."""
    values = [r.reference_rps for r in done]
    if ref is None or not done or any(v is None for v in values):
        return None
    check = stats.reference_check(values, args.ref_limit)
    retried = 0
    for i in check["flagged"]:
        if args.retry_left <= 0 or not any(s.alive() for s in servers.values()):
            break
        t = time.monotonic()
        old = done[i]
        log("  round %d: noise reference %.0f req/s against a median of %.0f: measuring "
            "the round again" % (old.index + 1, old.reference_rps, check["median"]))
        new = run_round(old.index, old.order, servers, ref, args, log_dir, sc, attempt=1)
        args.retry_left -= time.monotonic() - t
        retried += 1
        for key, _, rep in old.runs:
            servers[key].discarded.append(rep)
        done[i] = new
    values = [r.reference_rps for r in done]
    check = stats.reference_check(values, args.ref_limit)
    for i in check["flagged"]:
        done[i].flagged = True
    check.update(retried=retried, limit=args.ref_limit, duration_s=args.ref_duration,
                 command=ref.argv)
    return check


# ---------------------------------------------------------------------------------------
# Engine comparisons


# The line each uwsgi-fast worker logs at exit when it made zero-copy sends.
ZC_EXIT_LINE = re.compile(rb"Worker exiting: (\d+) zero-copy sends, (\d+) of them copied")


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
    """Side A (plain uwsgi-fast) and side B (cmp.variant) on the comparison's scenario,
    adjacent in every round in alternating order; returns a scenario entry with the
    comparison's figures (ratio: the median of B_i/A_i, its interval and verdict)."""
    sc = replace(SCENARIO[cmp.scenario], name=cmp.name)
    entry = run_scenario(sc, [BASE, cmp.variant], ctx, args, log_dir, unavailable,
                         rounds=args.engine_rounds, block=schedule.PAIR)
    entry.update(scenario=cmp.scenario, variant=cmp.variant,
                 response_bytes={"hello": len(HELLO), "body1m": len(BODY_1M)}.get(sc.check))
    for r in entry["results"]:
        if "rounds" in r:
            r["zero_copy"] = zero_copy_sends(server_log_path(log_dir, sc, r["server"]))
    b = next((r for r in entry["results"] if r["server"] == cmp.variant), {})
    rs = b.get("ratio")
    entry.update(ratio=rs["median"] if rs else None, ci=rs["ci"] if rs else None,
                 verdict=rs["verdict"] if rs else None,
                 round_ratios=rs["per_round"] if rs else [])
    rows = {r["server"]: r for r in entry["results"]}
    entry["worker_cpu_ratio"] = stats.paired_worker_cpu(
        rows, BASE, cmp.variant, stats.seed_for(cmp.name, "worker-cpu", seed=args.seed))
    return entry
