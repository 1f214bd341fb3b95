"""Each peer at its best: before the measured rounds of a scenario kind (cpu, bulk, io,
conns, mixed; scenarios.py), every variant of every peer that has more than one
(peers.candidates) is started on the run's scenario of that kind with the most workers
(run.py picks it) and measured in short runs, in a seeded shuffled order per pass; the
best variant of each peer is kept for every scenario of the kind. uwsgi-fast itself is
not tuned: it runs on its defaults.

The best variant (pick_best) is the one with the highest median req/s among those that
served every run with no HTTP error, socket errors under 1% of their requests and no
starved canary; a variant that failed all of that is reported with its reason. The runs,
the choice and the reason go into the results JSON ("tuning") and docs/benchmarks.md.
"""

import os
import random
import statistics
import time

import rounds
from benchenv import log
from peers import SPEC, candidates
from server import Server

SOCKET_ERROR_LIMIT = 0.01  # socket errors per request above which a variant is out


def judge(runs):
    """One variant's tuning runs (run_client reports, possibly empty) as
    {"rps", "p99_us", "requests", "out": reason or None}."""
    if not runs:
        return {"rps": 0.0, "p99_us": None, "requests": 0, "out": "no run measured"}
    requests = sum(r["requests"] for r in runs)
    res = {"rps": round(statistics.median(r["rps"] for r in runs), 1),
           "p99_us": statistics.median(r["latency_us"]["p99"] for r in runs),
           "requests": requests, "out": None}
    http = sum(r["http_errors"] for r in runs)
    sock = sum(r["socket_errors"] for r in runs)
    starved = max((r.get("canary", {}).get("starved", 0) for r in runs), default=0)
    if requests == 0:
        res["out"] = "served nothing"
    elif http:
        res["out"] = "%d HTTP errors" % http
    elif sock > SOCKET_ERROR_LIMIT * requests:
        res["out"] = "%d socket errors" % sock
    elif starved:
        res["out"] = "starved %d canary connection(s)" % starved
    return res


def pick_best(judged):
    """judged: [(variant name, judge() result or {"out": error})], in candidate order.
    Returns (chosen name, reason). The highest req/s among the variants not ruled out;
    on equal req/s the earlier candidate. When all are ruled out, the first candidate."""
    ok = [(name, j) for name, j in judged if not j.get("out")]
    if not ok:
        return judged[0][0], "every variant was ruled out (%s); kept the first" % "; ".join(
            "%s: %s" % (n, j["out"]) for n, j in judged)
    best = max(ok, key=lambda nj: nj[1]["rps"])  # max keeps the first of equals
    rest = [(n, j) for n, j in ok if n != best[0]]
    reason = "highest req/s in tuning (%.0f" % best[1]["rps"]
    if rest:
        reason += "; next %s %.0f" % (max(rest, key=lambda nj: nj[1]["rps"])[0],
                                      max(j["rps"] for _, j in rest))
    reason += ")"
    out = [(n, j["out"]) for n, j in judged if j.get("out")]
    if out:
        reason += "; ruled out: " + "; ".join("%s (%s)" % o for o in out)
    return best[0], reason


def tune(sc, keys, ctx, args, log_dir, unavailable):
    """Tunes the peers in `keys` on scenario `sc`; records each choice in ctx.chosen for
    sc.kind and returns the JSON record {server: {...}}."""
    todo = [k for k in keys if k not in unavailable and len(candidates(k, sc)) > 1]
    if not todo:
        return {}
    servers = []
    for key in todo:
        for v in candidates(key, sc):
            servers.append(Server(key, sc, ctx, log_dir, variant=v,
                                  name="tune-%s-%s" % (key, v.name)))
    log("bench: tuning %s on %s: %d variants of %s" % (sc.kind, sc.name, len(servers),
                                                       ", ".join(todo)))
    t0 = time.monotonic()
    runs = {s.name: [] for s in servers}
    try:
        rounds.start_servers(servers, args, ctx)
        live = [s for s in servers if not s.error]
        for p in range(args.tune_passes):
            order = list(live)
            random.Random(args.seed * 7919 + p).shuffle(order)
            for srv in order:
                if srv.error:
                    continue
                base = os.path.join(log_dir, "%s-%s-p%d" % (sc.name, srv.name, p))
                rep = rounds.measure(srv, args.tune_duration, args.warmup, base)
                if rep is not None:
                    runs[srv.name].append(rep)
                    log("  tune %-34s %9.0f req/s  p99 %8.2f ms" % (
                        srv.name[5:], rep["rps"], rep["latency_us"]["p99"] / 1000))
    finally:
        rounds.stop_servers(servers)
    record = {}
    for key in todo:
        mine = [s for s in servers if s.key == key]
        judged = []
        for s in mine:
            j = judge(runs[s.name]) if not (s.error and not runs[s.name]) else \
                {"rps": 0.0, "p99_us": None, "requests": 0, "out": s.error}
            judged.append((s.variant.name, j))
        name, reason = pick_best(judged)
        chosen = next(s.variant for s in mine if s.variant.name == name)
        ctx.chosen[(key, sc.kind)] = chosen
        ctx.reasons[(key, sc.kind)] = "tuned on %s: %s" % (sc.name, reason)
        record[key] = {
            "label": SPEC[key].label, "scenario": sc.name, "chosen": name,
            "chosen_flags": chosen.flags, "chosen_what": chosen.what, "reason": reason,
            "candidates": [{"variant": s.variant.name, "flags": s.variant.flags,
                            "what": s.variant.what, "command": s.argv,
                            "runs": [{"rps": r["rps"], "p99_us": r["latency_us"]["p99"],
                                      "errors": r["socket_errors"] + r["http_errors"]}
                                     for r in runs[s.name]], **dict(j)}
                           for s, (_, j) in zip(mine, judged)]}
        log("  tuned %-18s %s (%s)" % (key, name, reason))
    log("bench: tuning %s took %.0f s" % (sc.kind, time.monotonic() - t0))
    return record
