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
blocks between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers (table, machine,
targets, command; mixed; engine) are replaced.
"""

import json
import os
import re
import subprocess
import sys

import run as bench

DOC = os.path.join(bench.ROOT, "docs", "benchmarks.md")
CHART = os.path.join(bench.ROOT, "docs", "benchmarks.png")
ENGINE_CHART = os.path.join(bench.ROOT, "docs", "benchmarks-engine.png")


def load(path):
    with open(path) as f:
        return json.load(f)


def row(results, scenario, server):
    for ent in results["scenarios"]:
        if ent["name"] == scenario:
            for r in ent["results"]:
                if r["server"] == server:
                    return r.get("summary")
    return None


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
        "- Run %s: %s round(s) of %s s per server after %s s of warm-up; load average "
        "%s at the start, %s at the end; %.0f s in all" % (
            results["started"], s["rounds"], s["duration_s"], s["warmup_s"],
            " ".join(m["loadavg_start"]), " ".join(m.get("loadavg_end", [])),
            results.get("elapsed_s", 0)),
    ]
    other = [r["summary"]["other_cpu_s"] for e in results["scenarios"] for r in e["results"]
             if r.get("summary")]
    if other:
        other.sort()
        dur = s["duration_s"]
        lines.append("- CPU used by other processes during the measured runs (neither the "
                     "server nor wrk): median %.2f cores, worst %.2f cores"
                     % (other[len(other) // 2] / dur, other[-1] / dur))
    return "\n".join(lines)


def verdict(ok):
    return "met" if ok else "**missed**"


def targets_md(results):
    """Issue 10's targets, each with the measured figure."""
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
            p = row(results, sc, peer)
            if not p or not p["rps"]:
                continue
            ratio = uf["rps"] / p["rps"]
            lower = uf["p99_us"] is not None and p["p99_us"] is not None and \
                uf["p99_us"] < p["p99_us"]
            caveat = ""
            if p.get("starved"):
                caveat = "; its p99 covers only the connections it served: it starved " \
                         "%d/%d canaries for up to %.1f s" % (p["starved"], bench.CANARIES,
                                                              p["canary_max_wait_s"])
            lines.append("- %s: uwsgi-fast / %s = %.2fx req/s (target >= %.1fx: %s); p99 %s vs "
                         "%s (%s%s)" % (sc, bench.SPEC[peer].label, ratio, want,
                                        verdict(ratio >= want), bench.fmt_ms(uf["p99_us"]),
                                        bench.fmt_ms(p["p99_us"]),
                                        "lower: met" if lower else "not lower: **missed**",
                                        caveat))
        h = row(results, sc, "uwsgi-fast-health")
        if h and h["rps"]:
            frac = uf["rps"] / h["rps"]
            lines.append("- %s: Python path / C-only /health = %.0f%% (target >= 80%%: %s)"
                         % (sc, 100 * frac, verdict(frac >= 0.8)))
        elif sc == "hello-1w":
            lines.append("- Python path vs C-only /health: not measured (this uwsgi-fast has no "
                         "--health-path yet)")
        a = row(results, sc, "uwsgi-fast-accesslog")
        if a and a["rps"] and uf["rps"]:
            lines.append("- %s: access log on / off = %.2fx req/s" % (sc, a["rps"] / uf["rps"]))
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
                         errs, verdict(errs == 0), bench.fmt_ms(uf["p99_us"]), best[1],
                         bench.fmt_ms(best[0])))
    bare = results.get("bare_rss_mb", {})
    for ent in results["scenarios"]:
        uf = row(results, ent["name"], "uwsgi-fast")
        base = bare.get(ent["app"].split(":")[0])
        if uf and uf.get("rss_mb_per_worker") and base:
            lim = base + 8
            if uf["rss_mb_per_worker"] > lim:
                lines.append("- %s: uwsgi-fast worker peak RSS %.1f MB > bare interpreter with "
                             "the app imported (%.1f MB) + 8 MB: **missed** by %.1f MB" % (
                                 ent["name"], uf["rss_mb_per_worker"], base,
                                 uf["rss_mb_per_worker"] - lim))
    rss_ok = [e["name"] for e in results["scenarios"]
              if (row(results, e["name"], "uwsgi-fast") or {}).get("rss_mb_per_worker")
              and bare.get(e["app"].split(":")[0])
              and row(results, e["name"], "uwsgi-fast")["rss_mb_per_worker"]
              <= bare[e["app"].split(":")[0]] + 8]
    if rss_ok:
        lines.append("- Worker peak RSS within bare interpreter + app + 8 MB (%s) in: %s" % (
            ", ".join("%s %.1f MB" % (k, v) for k, v in sorted(bare.items()) if v),
            ", ".join(rss_ok)))
    return "\n".join(lines)


def table_md(results):
    out = [bench.markdown_table(results), ""]
    for line in bench.notes_lines(results):
        out.append("- " + line)
    return "\n".join(out).rstrip()


def mixed_md(results):
    """The mixed scenarios: how they were run, their table and notes, issue 14's targets."""
    out = [bench.MIX_HEADER + ".", "", bench.markdown_table(results, mixed=True), ""]
    for line in bench.notes_lines(results, mixed=True):
        out.append("- " + line)
    out += ["", "Issue 14's targets (uwsgi-fast's default mode against gunicorn sync, same run):"]
    for ent in bench.family(results, mixed=True):
        uf, gs = row(results, ent["name"], "uwsgi-fast"), row(results, ent["name"],
                                                              "gunicorn-sync")
        if not (uf and gs and gs["rps"] and gs.get("fast_p99_us")):
            continue
        ratio = uf["rps"] / gs["rps"]
        out.append("- %s: req/s %.2fx gunicorn sync's (target >= 1: %s); fast p99 %s vs %s "
                   "(target at or below: %s)" % (
                       ent["name"], ratio, verdict(ratio >= 1), bench.fmt_ms(uf["fast_p99_us"]),
                       bench.fmt_ms(gs["fast_p99_us"]),
                       verdict(uf["fast_p99_us"] <= gs["fast_p99_us"])))
    return "\n".join(out).rstrip()


def engine_md(results):
    """The engine comparisons: how they were run, the table, what each side did."""
    m, s = results["machine"], results["settings"]
    uf = results.get("uwsgi_fast", {})
    other = [r["summary"]["other_cpu_s"] / s["duration_s"] for e in results["engine"]
             for r in e.get("results", []) if r.get("summary")]
    other.sort()
    lines = [
        "Run %s (`%s`), uwsgi-fast build `%s` (sha256 prefix): %s round(s) per side of %s s "
        "each, side A then side B in every round, after %s s of warm-up per side; %s cores "
        "(`nproc`), kernel %s, wrk `-t1` on the same cores; other processes took a median "
        "of %.2f cores (worst %.2f) during the measured runs." % (
            results["started"], results.get("command", "tests/bench/run"),
            (uf.get("sha256") or "?")[:12], s.get("engine_rounds", s["rounds"]),
            s["duration_s"], s["warmup_s"], m["nproc"], m["kernel"],
            other[len(other) // 2] if other else 0, other[-1] if other else 0),
        "",
    ]
    cols = bench.ENGINE_COLUMNS
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(cols) - 2)) + "|")
    for row in bench.engine_rows(results):
        cells = row + [""] * (len(cols) - len(row))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    for line in bench.engine_notes(results):
        lines.append("- " + line)
    ratios = {e["name"]: e["ratio"] for e in results["engine"] if e.get("ratio")}
    for prefix, what in (("pin-", "--cpu-pin on / off"),
                         ("zc-", "--zerocopy-threshold 0 / default")):
        got = ["%s %.2fx" % (n[len(prefix):], r) for n, r in ratios.items()
               if n.startswith(prefix)]
        if got:
            lines.append("- %s, req/s: %s" % (what, ", ".join(got)))
    return "\n".join(lines).rstrip()


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
    blocks, charts = [], []
    if results["scenarios"]:
        blocks += [("table", table_md(results)), ("machine", machine_md(results)),
                   ("targets", targets_md(results)), ("command", command_md(results))]
        charts.append(([], CHART))
    if bench.family(results, mixed=True):
        blocks.append(("mixed", mixed_md(results)))
    if results.get("engine"):
        blocks.append(("engine", engine_md(results)))
        charts.append((["--engine"], ENGINE_CHART))
    for name, body in blocks:
        text = replace_block(text, name, body)
    with open(DOC, "w") as f:
        f.write(text)
    py = os.path.join(bench.VENV, "bin", "python")
    drawn = []
    for flags, out in charts:
        r = subprocess.run([py, os.path.join(bench.BENCH, "chart.py")] + flags + [path, out])
        if r.returncode == 0:
            drawn.append(os.path.relpath(out, bench.ROOT))
    print("report: updated %s from %s" % (", ".join([os.path.relpath(DOC, bench.ROOT)] + drawn),
                                          os.path.relpath(path, bench.ROOT)))


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    # Without a file: the latest full run, then the latest engine comparisons (which a
    # full run also writes to engine.json, so the second never undoes the first).
    paths = args[:1] or [p for p in (os.path.join(bench.RESULTS, "latest.json"),
                                     bench.ENGINE_RESULTS) if os.path.exists(p)]
    for path in paths:
        if "--publish" in argv:
            publish(path)
            continue
        results = load(path)
        if results["scenarios"]:
            print(table_md(results))
            print()
            print(machine_md(results))
            print()
            print(targets_md(results))
            print()
        if bench.family(results, mixed=True):
            print(mixed_md(results))
            print()
        if results.get("engine") and (args or path == bench.ENGINE_RESULTS
                                      or not os.path.exists(bench.ENGINE_RESULTS)):
            print(engine_md(results))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
