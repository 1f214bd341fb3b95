#!/usr/bin/env python3
"""Renders a benchmark results file (tests/bench/run.py's JSON) as Markdown.

    python3 tests/bench/report.py [RESULTS.json]             print table, notes, targets
    python3 tests/bench/report.py [RESULTS.json] --publish   also rewrite the generated
                                                             parts of docs/benchmarks.md
                                                             and docs/benchmarks.png

RESULTS.json defaults to tests/bench/results/latest.json for the side-by-side part and
tests/bench/results/engine.json (the latest engine comparisons, from a full run or
`run --only engine`) for the engine part. A file holds one part or both; publishing it
rewrites the blocks of the parts it holds. docs/benchmarks.md keeps its prose; only the
blocks between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers (status, table,
machine, targets, command, tuning, changes; mixed; engine; nginx; asgi; ws) are replaced.
The behind-nginx group (`run --only nginx`), the ASGI group (`run --only asgi`) and the
WebSocket group (`run --only ws`) have their own files, tests/bench/results/nginx.json,
asgi.json and ws.json, and their own blocks (nginx, asgi, ws): publishing one rewrites
its block and no other. The changes
block compares results/latest.json with results/previous.json (the latest.json a full
run replaced), so it is filled when the file published is latest.json.
"""

import json
import os
import re
import subprocess
import sys

import tables
from benchenv import (ASGI_RESULTS, BENCH, ENGINE_RESULTS, LATEST_RESULTS, NGINX_RESULTS,
                      PREVIOUS_RESULTS, ROOT, VENV, WS_RESULTS)
from peers import ASGI_KEYS, SPEC, WS_KEYS
from scenarios import MIX_HEADER
from server import CANARIES
from tables import fmt_ms

DOC = os.path.join(ROOT, "docs", "benchmarks.md")
CHART = os.path.join(ROOT, "docs", "benchmarks.png")
ENGINE_CHART = os.path.join(ROOT, "docs", "benchmarks-engine.png")


def load(path):
    with open(path) as f:
        return json.load(f)


def result(results, scenario, server):
    """The result row of `server` in `scenario`, or None."""
    for ent in results["scenarios"]:
        if ent["name"] == scenario:
            for r in ent["results"]:
                if r["server"] == server:
                    return r
    return None


def row(results, scenario, server):
    """The summary of `server` in `scenario`, or None."""
    r = result(results, scenario, server)
    return r.get("summary") if r else None


def inverse(rs):
    """uwsgi-fast / X from a ratio_summary of X / uwsgi-fast: (median, (low, high)); with
    an odd number of rounds the median and the percentiles map through 1/x exactly."""
    if not rs or not rs.get("median"):
        return None, None
    ci = rs.get("ci")
    return 1 / rs["median"], ((1 / ci[1], 1 / ci[0]) if ci and ci[0] > 0 else None)


def fmt_x(median, ci):
    return "%.2fx (95%% CI %s)" % (median, "%.2f-%.2f" % ci if ci else "none: one round")


def target_verdict(ci, want, n):
    """Against a target ratio `want`: met when the whole interval is at or above it,
    missed when it is all below, otherwise not established by this run."""
    if not ci or n < 5:
        return "not established (too few rounds)"
    if ci[0] >= want:
        return "met"
    if ci[1] < want:
        return "**missed**"
    return "not established (the interval holds %.1fx)" % want


def machine_md(results):
    m = results["machine"]
    v = results.get("versions", {})
    peers = ", ".join("%s %s" % (k, v[k]) for k in ("gunicorn", "granian", "pyuwsgi", "bjoern",
                                                     "fastwsgi", "flask", "werkzeug") if k in v)
    s = results["settings"]
    lines = [
        "- CPU: %s, %s cores (`nproc`), %s GB RAM" % (m["cpu_model"] or "unknown", m["nproc"],
                                                      m["memory_gb"]),
        "- Kernel %s, %s; Python %s (servers' venv: %s)" % (
            m["kernel"], m["distro"], m["python"], v.get("python", "?")),
        "- Load generator: %s, on the same cores as the servers (`-t1`; `-t2` for keepalive-5k)"
        % (m["wrk"] or "wrk"),
        "- Peers: %s" % peers,
        "- Run %s: %s round(s) per scenario, %s s per measured run after %s s of warm-up "
        "before every run; seed %s; load average %s at the start, %s at the end; %.0f s in "
        "all" % (results["started"], s["rounds"], s["duration_s"], s["warmup_s"],
                 s.get("seed", "?"), " ".join(m["loadavg_start"]),
                 " ".join(m.get("loadavg_end", [])), results.get("elapsed_s", 0)),
    ]
    refs = [e["reference"] for e in results["scenarios"] + results.get("engine", [])
            if e.get("reference")]
    if refs:
        spreads = sorted(r["spread"] for r in refs if r.get("spread") is not None)
        flagged = sum(len(r.get("flagged", [])) for r in refs)
        lines.append("- Noise reference (C-only /health, 1 worker, %s s per round): spread "
                     "over a scenario's rounds median %.0f%%, worst %.0f%%; %d round(s) "
                     "measured again, %d flagged" % (
                         s.get("ref_duration_s"), 100 * spreads[len(spreads) // 2],
                         100 * spreads[-1], sum(r.get("retried", 0) for r in refs), flagged))
    return "\n".join(lines)


def targets_md(results):
    """Issue 10's targets, each judged by the 95% interval of the paired ratios."""
    lines = []
    uf_ok = results.get("uwsgi_fast", {}).get("error") is None
    if not uf_ok:
        return "uwsgi-fast did not run: %s" % results["uwsgi_fast"]["error"]
    wants = [("granian", 1.3), ("fastwsgi", 1.2), ("uwsgi", 1.8), ("gunicorn-sync", 5.0)]
    for sc in ("hello-1w", "hello-2w"):
        uf = row(results, sc, "uwsgi-fast")
        if not uf:
            continue
        for peer, want in wants:
            r = result(results, sc, peer)
            if not r or not r.get("summary") or not r.get("ratio"):
                continue
            p = r["summary"]
            med, ci = inverse(r["ratio"])
            lower = uf["p99_us"] is not None and p["p99_us"] is not None and \
                uf["p99_us"] < p["p99_us"]
            caveat = ""
            if p.get("starved"):
                caveat = "; its p99 covers only the connections it served: it starved " \
                         "%d/%d canaries for up to %.1f s" % (p["starved"], CANARIES,
                                                              p["canary_max_wait_s"])
            lines.append("- %s: uwsgi-fast / %s = %s req/s (target >= %.1fx: %s); p99 %s vs "
                         "%s (%s%s)" % (sc, SPEC[peer].label, fmt_x(med, ci), want,
                                        target_verdict(ci, want, r["ratio"]["n"]),
                                        fmt_ms(uf["p99_us"]), fmt_ms(p["p99_us"]),
                                        "lower" if lower else "not lower", caveat))
        h = result(results, sc, "uwsgi-fast-health")
        if h and h.get("ratio"):
            med, ci = inverse(h["ratio"])
            lines.append("- %s: Python path / C-only /health = %s (target >= 0.8x: %s)"
                         % (sc, fmt_x(med, ci), target_verdict(ci, 0.8, h["ratio"]["n"])))
    uf = row(results, "keepalive-5k", "uwsgi-fast")
    if uf:
        errs = uf["socket_errors"] + uf["http_errors"]
        p99s = [(r["summary"]["p99_us"], r["label"]) for e in results["scenarios"]
                if e["name"] == "keepalive-5k" for r in e["results"]
                if r.get("summary") and r["summary"]["p99_us"] is not None
                and not r["summary"].get("starved")]
        best = min(p99s) if p99s else (None, "")
        lines.append("- keepalive-5k: uwsgi-fast errors %d (target 0: %s); p99 %s, lowest among "
                     "servers that answered every connection: %s (%s)" % (
                         errs, "met" if errs == 0 else "**missed**", fmt_ms(uf["p99_us"]),
                         best[1], fmt_ms(best[0])))
    bare = results.get("bare_rss_mb", {})
    rss_ok = []
    for ent in results["scenarios"]:
        uf = row(results, ent["name"], "uwsgi-fast")
        base = bare.get(ent["app"].split(":")[0])
        if not (uf and uf.get("rss_mb_per_worker") and base):
            continue
        if uf["rss_mb_per_worker"] > base + 8:
            lines.append("- %s: uwsgi-fast worker peak RSS %.1f MB > bare interpreter with "
                         "the app imported (%.1f MB) + 8 MB: **missed** by %.1f MB" % (
                             ent["name"], uf["rss_mb_per_worker"], base,
                             uf["rss_mb_per_worker"] - base - 8))
        else:
            rss_ok.append(ent["name"])
    if rss_ok:
        lines.append("- Worker peak RSS within bare interpreter + app + 8 MB (%s) in: %s" % (
            ", ".join("%s %.1f MB" % (k, v) for k, v in sorted(bare.items()) if v),
            ", ".join(rss_ok)))
    return "\n".join(lines)


def table_md(results):
    out = [tables.markdown_table(results), ""]
    for line in tables.notes_lines(results):
        out.append("- " + line)
    return "\n".join(out).rstrip()


def tuning_md(results):
    """Every server's configuration in the side-by-side scenarios: the peers' tuning
    and the exact argv of each server in the first scenario of each kind."""
    intro = ("Every server runs the scenario's number of worker processes (1, 2 or 4); a "
             "variant changes threads or options, never the process count. Servers not in "
             "a tuning table have one variant for that kind (gunicorn sync; bjoern with one "
             "worker) or are uwsgi-fast, which runs on its defaults.")
    return configuration_md(results, tables.side_by_side(results), intro)


def configuration_md(results, entries, intro, unit="req/s"):
    """The configuration of the servers of `entries` (one group's scenarios): the
    tuning of their kinds (each variant's req/s, or `unit`, the one kept and why) and
    the exact argv of each server in the first scenario of each kind."""
    out = [intro, ""]
    kinds = {e.get("kind") for e in entries}
    tuning = {k: rec for k, rec in (results.get("tuning") or {}).items() if k in kinds}
    if not results.get("tuning"):
        out.append("This run did not tune (`--no-tune` or `--quick`): every peer ran in its "
                   "first variant.")
    for kind, rec in tuning.items():
        if not rec:
            continue
        sc = next(iter(rec.values()))["scenario"]
        out += ["", "**%s scenarios** (tuned on %s, one %s s run per variant and pass):" % (
            kind, sc, results["settings"].get("tune_duration_s")), ""]
        out.append("| server | variant | flags | %s | p99 | kept |" % unit)
        out.append("|---|---|---|---:|---:|---|")
        for key, t in rec.items():
            for c in t["candidates"]:
                out.append("| %s | %s | `%s` | %s | %s | %s |" % (
                    t["label"], c["variant"], " ".join(c["flags"]) or "-",
                    "%.0f" % c["rps"] if c.get("rps") else "-", fmt_ms(c.get("p99_us")),
                    "**kept**" if c["variant"] == t["chosen"] else (c.get("out") or "")))
        out.append("")
        for key, t in rec.items():
            out.append("- %s: %s, %s" % (t["label"], t["chosen"], t["reason"]))
    seen = set()
    argv = []
    for ent in entries:
        if ent.get("kind") in seen:
            continue
        seen.add(ent.get("kind"))
        argv += ["", "Commands in %s (%s scenarios; the port and paths vary):" % (
            ent["name"], ent.get("kind")), ""]
        for r in ent["results"]:
            if r.get("command"):
                argv.append("- %s: `%s`" % (r["label"], show_argv(r["command"])))
    return "\n".join(out + argv).strip()


def show_argv(argv):
    """An argv as a reader can reuse it: paths relative to the checkout, the port as
    PORT, the harness's private copy of uwsgi-fast under its own name. The checkout is
    the one the run was made in, which need not be this one (a worktree): any path into
    a checkout's tests/ or .deps/ is shown from there."""
    out = []
    for i, a in enumerate(argv):
        a = a.replace(ROOT + os.sep, "")
        a = re.sub(r"^/\S*?/(?=(?:tests|\.deps)/)", "", a)
        if i == 0:
            a = os.path.basename(a)
            a = re.sub(r"^uwsgi-fast-\d{8}T\d{6}Z$", "uwsgi-fast", a)
        a = re.sub(r"^127\.0\.0\.1:\d+$", "127.0.0.1:PORT", a)
        if i and argv[i - 1] == "--port":
            a = "PORT"
        out.append(a)
    return " ".join(out)


def mixed_md(results):
    """The mixed scenarios: how they were run, their table and notes, issue 14's targets."""
    out = [MIX_HEADER + ".", "", tables.markdown_table(results, mixed=True), ""]
    for line in tables.notes_lines(results, mixed=True):
        out.append("- " + line)
    out += ["", "Issue 14's targets (uwsgi-fast's default mode against gunicorn sync, same run):"]
    for ent in tables.family(results, mixed=True):
        uf, gs = row(results, ent["name"], "uwsgi-fast"), result(results, ent["name"],
                                                                  "gunicorn-sync")
        if not (uf and gs and gs.get("summary") and gs.get("ratio")
                and gs["summary"].get("fast_p99_us")):
            continue
        med, ci = inverse(gs["ratio"])
        out.append("- %s: req/s %s gunicorn sync's (target >= 1: %s); fast p99 %s vs %s "
                   "(target at or below: %s)" % (
                       ent["name"], fmt_x(med, ci), target_verdict(ci, 1.0, gs["ratio"]["n"]),
                       fmt_ms(uf["fast_p99_us"]), fmt_ms(gs["summary"]["fast_p99_us"]),
                       "met" if uf["fast_p99_us"] <= gs["summary"]["fast_p99_us"]
                       else "**missed**"))
    return "\n".join(out).rstrip()


def engine_md(results):
    """The engine comparisons: how they were run, the table, what each side did."""
    m, s = results["machine"], results["settings"]
    uf = results.get("uwsgi_fast", {})
    lines = [
        "Run %s (`%s`), uwsgi-fast build `%s` (sha256 prefix): %s round(s) per comparison, "
        "one %s s run per side in each, the two sides adjacent in alternating order (A B, "
        "B A, ...), each run after %s s of warm-up, a noise reference in every round; %s "
        "cores (`nproc`), kernel %s, wrk `-t1` on the same cores." % (
            results["started"], results.get("command", "tests/bench/run"),
            (uf.get("sha256") or "?")[:12], s.get("engine_rounds", s["rounds"]),
            s["duration_s"], s["warmup_s"], m["nproc"], m["kernel"]),
        "",
    ]
    bare = results.get("uwsgi_fast_bare") or {}
    if bare.get("sha256"):
        lines[0] += (" Side B of instr-hello-1w is the same tree built with "
                     "`-Dinstruments=false` (build `%s`)." % bare["sha256"][:12])
    cols = tables.ENGINE_COLUMNS
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(cols) - 2)) + "|")
    for r in tables.engine_rows(results):
        cells = r + [""] * (len(cols) - len(r))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    for line in tables.engine_notes(results):
        lines.append("- " + line)
    return "\n".join(lines).rstrip()


def nginx_md(results):
    """The behind-nginx group: how it was run, the two tables, the notes."""
    m, s = results["machine"], results["settings"]
    uf = results.get("uwsgi_fast", {})
    v = results.get("versions", {})
    refs = [e["reference"] for e in tables.fronted(results) if e.get("reference")]
    spread = ", ".join("%.0f%%" % (100 * r["spread"]) for r in refs
                       if r.get("spread") is not None)
    lines = [
        "Run %s (`%s`), uwsgi-fast build `%s` (sha256 prefix), nginx %s: %s round(s) per "
        "scenario, %s s per measured run after %s s of warm-up, every row paired with the "
        "uwsgi-fast-over-TCP run next to it; %s cores (`nproc`), kernel %s, wrk `-t1` on "
        "the same cores as nginx and the servers; load average %s at the start, %s at the "
        "end; noise reference spread %s; %.0f s in all." % (
            results["started"], results.get("command", "tests/bench/run"),
            (uf.get("sha256") or "?")[:12], v.get("nginx", "?"), s["rounds"],
            s["duration_s"], s["warmup_s"], m["nproc"], m["kernel"],
            " ".join(m["loadavg_start"]), " ".join(m.get("loadavg_end", [])),
            spread or "-", results.get("elapsed_s", 0)),
        "",
        tables.nginx_markdown(results),
        "",
    ]
    for line in tables.notes_lines(results, front=True):
        lines.append("- " + line)
    return "\n".join(lines).rstrip()


# Issue 20's req/s targets in asgi-hello: uwsgi-fast / peer at or above these
ASGI_HELLO_TARGETS = (("granian-asgi", 1.5), ("uvicorn", 3.0))
# ... judged on the shared cores and on a core of the server's own (scenarios.split_cpus)
ASGI_HELLO_SCENARIOS = ("asgi-hello", "asgi-hello-1core")
ASGI_RSS_SLACK_MB = 10  # worker peak RSS at most uvicorn's + this (issue 20)
# the versions the ASGI section names, in this order
ASGI_VERSIONS = ("uvicorn", "httptools", "uvloop", "granian", "gunicorn", "gunicorn_h1c",
                 "hypercorn", "fastapi", "starlette", "pydantic")


def group_md(results, entries, versions, shape, table, notes, targets_head, targets,
             workers, unit="req/s"):
    """A group of its own (ASGI, WebSocket): the line that says how it was run (`shape`:
    the warm-up's exceptions, the load generator), its table and notes, its targets and
    every server's configuration (`workers`: how many processes each ran)."""
    m, s = results["machine"], results["settings"]
    uf = results.get("uwsgi_fast", {})
    v = results.get("versions", {})
    spreads = [e["reference"]["spread"] for e in entries
               if e.get("reference") and e["reference"].get("spread") is not None]
    lines = [
        "Run %s (`%s`), uwsgi-fast build `%s` (sha256 prefix); %s; Python %s. %s round(s) "
        "per scenario, %s s per measured run after %s s of warm-up%s, %s; %s cores "
        "(`nproc`), kernel %s, %s on the same cores as the servers; load average %s at "
        "the start, %s at the end; noise reference spread %s; %.0f s in all." % (
            results["started"], results.get("command", "tests/bench/run"),
            (uf.get("sha256") or "?")[:12],
            ", ".join("%s %s" % (k, v[k]) for k in versions if k in v),
            v.get("python", "?"), s["rounds"], s["duration_s"], s["warmup_s"],
            shape[0],
            "peers tuned" if s.get("tuning") else "peers in their first variant (no tuning)",
            m["nproc"], m["kernel"], shape[1], " ".join(m["loadavg_start"]),
            " ".join(m.get("loadavg_end", [])),
            "at most %.0f%%" % (100 * max(spreads)) if spreads else "-",
            results.get("elapsed_s", 0)),
        "",
        table,
    ]
    lines += [""] + notes if notes else []
    lines += ["", targets_head, ""] + targets
    lines += ["", "**Configuration.**", "",
              configuration_md(results, entries, "Every server runs %s and the same app "
                               "file on uvloop (Hypercorn on the loop its tuning kept); "
                               "uwsgi-fast runs with `-k asgi --loop uvloop` and its "
                               "defaults otherwise. Servers not in a tuning table have one "
                               "variant." % workers, unit)]
    return "\n".join(lines).rstrip()


def asgi_md(results):
    """The ASGI group: how it was run, its table and notes, issue 20's targets, and
    every server's configuration."""
    entries = tables.family(results, False, asgi=True)
    notes = ["- " + line for line in tables.notes_lines(results, asgi=True)]
    bare = results.get("bare_rss_mb", {})
    mods = sorted({e["app"].split(":")[0] for e in entries})
    if any(bare.get(x) for x in mods):
        notes.append("- A bare interpreter with the app imported peaks at %s." % ", ".join(
            "%.1f MB (%s)" % (bare[x], x) for x in mods if bare.get(x)))
    return group_md(results, entries, ASGI_VERSIONS,
                    (" (none in asgi-io-10ms)", "wrk `-t1` (`-t2` for 5,000 connections)"),
                    tables.markdown_table(results, asgi=True), notes,
                    "**Against issue 20's targets** (same run; a req/s target is met when "
                    "the whole 95% interval is at or above it):", asgi_targets(results),
                    "2 worker processes (1 in asgi-hello-1core, on a CPU of its own)")


def asgi_targets(results):
    """Issue 20's targets, one line each: hello against Granian and uvicorn, FastAPI JSON
    ahead of every peer, the I/O-bound endpoint, the workers' RSS."""
    if results.get("uwsgi_fast", {}).get("error"):
        return ["- uwsgi-fast did not run: %s" % results["uwsgi_fast"]["error"]]
    out = []

    def peer_ratio(sc, key):
        """(result row, uwsgi-fast / peer median, interval) or why there is none."""
        r = result(results, sc, key)
        if not r:
            return None, "not in this run"
        if not r.get("ratio"):
            return None, r.get("error") or r.get("error_late") or "no paired ratio"
        med, ci = inverse(r["ratio"])
        if med is None:
            return None, "it served no request"
        return (r, med, ci), None

    for sc in ASGI_HELLO_SCENARIOS:
        if sc != "asgi-hello" and not any(e["name"] == sc for e in results["scenarios"]):
            continue  # the one-core row is reported when it was run
        for key, want in ASGI_HELLO_TARGETS:
            got, why = peer_ratio(sc, key)
            label = SPEC[key].label
            if not got:
                out.append("- %s, uwsgi-fast / %s >= %.1fx: not measured (%s)" % (
                    sc, label, want, why))
                continue
            r, med, ci = got
            out.append("- %s: uwsgi-fast / %s = %s (target >= %.1fx: %s)" % (
                sc, label, fmt_x(med, ci), want, target_verdict(ci, want, r["ratio"]["n"])))
    ent = next((e for e in results["scenarios"] if e["name"] == "asgi-fastapi-json"), None)
    if ent:
        parts, verdicts = [], []
        for r in ent["results"]:
            if r["server"] not in ASGI_KEYS:
                continue
            got, why = peer_ratio(ent["name"], r["server"])
            if not got:
                parts.append("%s: %s" % (r["label"], why))
                continue
            _, med, ci = got
            v = target_verdict(ci, 1.0, r["ratio"]["n"])
            verdicts.append(v)
            parts.append("%s %s: %s" % (r["label"], fmt_x(med, ci), v))
        overall = ("met" if verdicts and all(v == "met" for v in verdicts)
                   and len(verdicts) == len(parts) else "**missed**"
                   if any(v == "**missed**" for v in verdicts) else "not established")
        out.append("- asgi-fastapi-json, ahead of every peer: %s (uwsgi-fast / each: %s)" % (
            overall, "; ".join(parts)))
    out += asgi_io_target(results, peer_ratio)
    out += asgi_rss_target(results)
    return out


def asgi_io_target(results, peer_ratio):
    """asgi-io-10ms: at least as fast as the best peer (the one with the highest median
    ratio to uwsgi-fast), and the lowest p99 of all (medians over rounds, no interval)."""
    ent = next((e for e in results["scenarios"] if e["name"] == "asgi-io-10ms"), None)
    uf = row(results, "asgi-io-10ms", "uwsgi-fast")
    if not ent or not uf:
        return []
    peers = [r for r in ent["results"] if r["server"] in ASGI_KEYS and r.get("ratio")
             and r["ratio"].get("median")]
    out = []
    if peers:
        best = max(peers, key=lambda r: r["ratio"]["median"])
        _, med, ci = peer_ratio(ent["name"], best["server"])[0]
        out.append("- asgi-io-10ms: uwsgi-fast / the best peer (%s) = %s (target >= 1.0x: "
                   "%s)" % (best["label"], fmt_x(med, ci),
                            target_verdict(ci, 1.0, best["ratio"]["n"])))
    p99s = [(r["summary"]["p99_us"], r["label"]) for r in ent["results"]
            if r["server"] in ASGI_KEYS and r.get("summary")
            and r["summary"]["p99_us"] is not None and not r["summary"].get("starved")]
    if p99s and uf["p99_us"] is not None:
        low = min(p99s)
        out.append("- asgi-io-10ms, lowest p99: uwsgi-fast %s, the lowest peer's %s (%s): "
                   "%s (medians over the rounds; no interval)" % (
                       fmt_ms(uf["p99_us"]), fmt_ms(low[0]), low[1],
                       "met" if uf["p99_us"] <= low[0] else "**missed**"))
    return out


def asgi_rss_target(results):
    """Each ASGI scenario: uwsgi-fast's worker peak RSS at most uvicorn's + 10 MB."""
    met, missed = [], []
    for ent in tables.family(results, False, asgi=True):
        uf, uv = row(results, ent["name"], "uwsgi-fast"), row(results, ent["name"], "uvicorn")
        if not (uf and uv and uf["rss_mb_per_worker"] and uv["rss_mb_per_worker"]):
            continue
        diff = uf["rss_mb_per_worker"] - uv["rss_mb_per_worker"]
        (met if diff <= ASGI_RSS_SLACK_MB else missed).append(
            "%s %.1f vs %.1f MB (%+.1f)" % (ent["name"], uf["rss_mb_per_worker"],
                                            uv["rss_mb_per_worker"], diff))
    out = []
    if missed:
        out.append("- Worker peak RSS within %d MB of uvicorn's: **missed** in %s" % (
            ASGI_RSS_SLACK_MB, "; ".join(missed)))
    if met:
        out.append("- Worker peak RSS within %d MB of uvicorn's: met in %s" % (
            ASGI_RSS_SLACK_MB, "; ".join(met)))
    return out


# Issue 21's target: uwsgi-fast's messages/s at least this many times the best peer's, with
# the same (one) worker each
WS_TARGET = 2.0
# the versions the WebSocket section names, in this order
WS_VERSIONS = ("uvicorn", "websockets", "wsproto", "httptools", "uvloop", "granian",
               "gunicorn", "gunicorn_h1c", "hypercorn")


def ws_md(results):
    """The WebSocket group: how it was run, its table and notes, issue 21's target per
    scenario, and every server's configuration."""
    return group_md(results, tables.family(results, False, ws=True), WS_VERSIONS,
                    ("", "tests/bench/wsload.c (one process, one core's worth)"),
                    tables.markdown_table(results, ws=True),
                    ["- " + line for line in tables.notes_lines(results, ws=True)],
                    "**Against issue 21's target** (uwsgi-fast's messages/s at least %.0fx "
                    "the best peer's, one worker each; met when the whole 95%% interval of "
                    "uwsgi-fast / that peer is at or above it):" % WS_TARGET,
                    ws_targets(results), "1 worker process", unit="msg/s")


def ws_targets(results):
    """Per WebSocket scenario: uwsgi-fast / the best peer (the one with the highest median
    ratio to uwsgi-fast) against WS_TARGET, judged by the interval."""
    if results.get("uwsgi_fast", {}).get("error"):
        return ["- uwsgi-fast did not run: %s" % results["uwsgi_fast"]["error"]]
    out = []
    for ent in tables.family(results, False, ws=True):
        peers = [r for r in ent["results"] if r["server"] in WS_KEYS and r.get("ratio")]
        if not peers or not row(results, ent["name"], "uwsgi-fast"):
            out.append("- %s: not measured (uwsgi-fast or every peer is missing)" % ent["name"])
            continue
        best = max(peers, key=lambda r: r["ratio"]["median"])
        med, ci = inverse(best["ratio"])
        out.append("- %s: uwsgi-fast / the best peer (%s) = %s (target >= %.1fx: %s)" % (
            ent["name"], best["label"], fmt_x(med, ci), WS_TARGET,
            target_verdict(ci, WS_TARGET, best["ratio"]["n"])))
    return out


def status_md(results):
    """The note at the top of the page: which run and which method the blocks show."""
    s = results["settings"]
    if results.get("version", 1) < 2:
        return ("> **These results are from the previous method, to be regenerated** (3 "
                "rounds in a rotated order, peers on their defaults, uWSGI with "
                "`--http11-socket`, no interval). Do not quote them; the section \"What "
                "changed\" lists the claims known not to hold.")
    refs = [e["reference"]["spread"] for e in results["scenarios"]
            if e.get("reference") and e["reference"].get("spread") is not None]
    return ("> Run %s, measured with the method below: %s rounds per scenario, %s, every "
            "ratio with its 95%% interval. It ran on %s cores shared with the load "
            "generator; the noise reference's spread over a scenario's rounds was at most "
            "%s. Quote a ratio with its interval, and a lead only where the table says one."
            % (results["started"], s["rounds"], "peers tuned" if s.get("tuning") else
               "peers in their first variant (not tuned)", results["machine"]["nproc"],
               "%.0f%%" % (100 * max(refs)) if refs else "not measured"))


def previous_ratio(prev, scenario, peer):
    """uwsgi-fast / `peer` in a previous results file: its median paired ratio (inverted)
    when it has one, else the ratio of the medians (the previous method's figure)."""
    r = result(prev, scenario, peer)
    uf = row(prev, scenario, "uwsgi-fast")
    if not r or not r.get("summary") or not uf:
        return None
    if r.get("ratio"):
        return inverse(r["ratio"])[0]
    return uf["rps"] / r["summary"]["rps"] if r["summary"]["rps"] else None


def changes_md(results, prev):
    """The closing note: every ratio to uwsgi-fast that the previous results file
    published, next to this run's median and interval, and whether it is now a lead."""
    if not prev:
        return "No previous results file to compare with."
    lines = ["From run %s (`%s`) to run %s; uwsgi-fast / server, req/s:" % (
        prev.get("started"), prev.get("command", "?"), results["started"]), ""]
    for ent in results["scenarios"]:
        for r in ent["results"]:
            if r["server"] == "uwsgi-fast" or not r.get("ratio"):
                continue
            old = previous_ratio(prev, ent["name"], r["server"])
            if old is None:
                continue
            med, ci = inverse(r["ratio"])
            if med is None:
                # the peer served nothing (bjoern on io-10ms): no ratio to set beside the old
                lines.append("- %s, %s: %.2fx → no ratio: it served no request" % (
                    ent["name"], r["label"], old))
                continue
            verdict = {"lower": "uwsgi-fast leads", "higher": "%s leads" % r["label"],
                       "tie": "tie", "few": "too few rounds"}[r["ratio"]["verdict"]]
            old_label = (result(prev, ent["name"], r["server"]) or {}).get("label")
            lines.append("- %s, %s%s: %.2fx → %s: %s (%+.0f%%)" % (
                ent["name"], r["label"],
                " (was %s)" % old_label if old_label and old_label != r["label"] else "",
                old, fmt_x(med, ci), verdict, 100 * (med / old - 1)))
    # The access log was a row of the hello table; it is an engine comparison now.
    log_new = next((e for e in results.get("engine", []) if e["name"] == "log-hello-2w"
                    and e.get("ci")), None)
    a, b = row(prev, "hello-2w", "uwsgi-fast"), row(prev, "hello-2w", "uwsgi-fast-accesslog")
    if log_new and a and b and a["rps"]:
        lines.append("- hello-2w, access log on / off: %.2fx → %.2fx (95%% CI %.2f-%.2f), %s"
                     % (b["rps"] / a["rps"], log_new["ratio"], log_new["ci"][0],
                        log_new["ci"][1], {"lower": "the log costs", "higher": "faster on",
                                           "tie": "tie"}.get(log_new["verdict"], "?")))
    for e in results.get("engine", []):
        old = next((x for x in prev.get("engine", []) if x["name"] == e["name"]), None)
        if old and old.get("ratio") and e.get("ratio") and e.get("ci"):
            lines.append("- %s, B/A: %.2fx → %.2fx (95%% CI %.2f-%.2f), %s" % (
                e["name"], old["ratio"], e["ratio"], e["ci"][0], e["ci"][1],
                {"lower": "A leads", "higher": "B leads", "tie": "tie"}.get(e["verdict"],
                                                                           "?")))
    return "\n".join(lines)


def command_md(results):
    return "```\n%s\n```" % results.get("command", "tests/bench/run")


def replace_block(text, name, body):
    # An empty block (the two markers on consecutive lines) is filled too.
    pat = re.compile(r"(<!-- bench:%s -->\n)(?:.*?\n)?(<!-- /bench:%s -->)" % (name, name),
                     re.S)
    if not pat.search(text):
        raise SystemExit("docs/benchmarks.md has no <!-- bench:%s --> block" % name)
    return pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def publish(path):
    """Rewrites the blocks of docs/benchmarks.md (and the charts) for the parts `path`
    holds: the side-by-side scenarios, the engine comparisons, or both."""
    results = load(path)
    with open(DOC) as f:
        text = f.read()
    prev = None
    if os.path.exists(PREVIOUS_RESULTS) and os.path.abspath(path) == LATEST_RESULTS:
        prev = load(PREVIOUS_RESULTS)
    blocks, charts = [], []
    if tables.side_by_side(results):
        blocks += [("status", status_md(results)), ("table", table_md(results)),
                   ("machine", machine_md(results)), ("targets", targets_md(results)),
                   ("command", command_md(results)), ("tuning", tuning_md(results)),
                   ("changes", changes_md(results, prev))]
        charts.append(([], CHART))
    if tables.family(results, mixed=True):
        blocks.append(("mixed", mixed_md(results)))
    if results.get("engine"):
        blocks.append(("engine", engine_md(results)))
        charts.append((["--engine"], ENGINE_CHART))
    if tables.fronted(results):
        blocks.append(("nginx", nginx_md(results)))
    if tables.family(results, False, asgi=True):
        blocks.append(("asgi", asgi_md(results)))
    if tables.family(results, False, ws=True):
        blocks.append(("ws", ws_md(results)))
    for name, body in blocks:
        text = replace_block(text, name, body)
    with open(DOC, "w") as f:
        f.write(text)
    py = os.path.join(VENV, "bin", "python")
    drawn = []
    for flags, out in charts:
        r = subprocess.run([py, os.path.join(BENCH, "chart.py")] + flags + [path, out])
        if r.returncode == 0:
            drawn.append(os.path.relpath(out, ROOT))
    print("report: updated %s from %s" % (", ".join([os.path.relpath(DOC, ROOT)] + drawn),
                                          os.path.relpath(path, ROOT)))


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    # Without a file: the latest full run, then the latest engine comparisons (which a
    # full run also writes to engine.json, so the second never undoes the first).
    paths = args[:1] or [p for p in (LATEST_RESULTS, ENGINE_RESULTS, NGINX_RESULTS,
                                     ASGI_RESULTS, WS_RESULTS) if os.path.exists(p)]
    for path in paths:
        if "--publish" in argv:
            publish(path)
            continue
        results = load(path)
        if tables.fronted(results):
            print(nginx_md(results))
            print()
        if tables.family(results, False, asgi=True):
            print(asgi_md(results))
            print()
        if tables.family(results, False, ws=True):
            print(ws_md(results))
            print()
        if tables.side_by_side(results):
            print(status_md(results))
            print()
            prev = load(PREVIOUS_RESULTS) if os.path.exists(PREVIOUS_RESULTS) else None
            print(changes_md(results, prev))
            print()
            print(tuning_md(results))
            print()
            print(table_md(results))
            print()
            print(machine_md(results))
            print()
            print(targets_md(results))
            print()
        if tables.family(results, mixed=True):
            print(mixed_md(results))
            print()
        if results.get("engine") and (args or path == ENGINE_RESULTS
                                      or not os.path.exists(ENGINE_RESULTS)):
            print(engine_md(results))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
