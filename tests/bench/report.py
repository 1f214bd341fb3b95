#!/usr/bin/env python3
"""Renders a benchmark results file (tests/bench/run.py's JSON) as Markdown.

    python3 tests/bench/report.py [RESULTS.json]             print table, notes, targets
    python3 tests/bench/report.py [RESULTS.json] --publish   also rewrite the generated
                                                             parts of docs/benchmarks.md
                                                             and docs/benchmarks.png

RESULTS.json defaults to tests/bench/results/latest.json. docs/benchmarks.md keeps its
prose; only the blocks between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers
(table, machine, targets, command) are replaced.
"""

import json
import os
import re
import subprocess
import sys

import run as bench

DOC = os.path.join(bench.ROOT, "docs", "benchmarks.md")
CHART = os.path.join(bench.ROOT, "docs", "benchmarks.png")


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


def command_md(results):
    return "```\n%s\n```" % results.get("command", "tests/bench/run")


def replace_block(text, name, body):
    pat = re.compile(r"(<!-- bench:%s -->\n).*?(\n<!-- /bench:%s -->)" % (name, name), re.S)
    if not pat.search(text):
        raise SystemExit("docs/benchmarks.md has no <!-- bench:%s --> block" % name)
    return pat.sub(lambda m: m.group(1) + body + m.group(2), text)


def publish(path):
    results = load(path)
    with open(DOC) as f:
        text = f.read()
    for name, body in (("table", table_md(results)), ("machine", machine_md(results)),
                       ("targets", targets_md(results)), ("command", command_md(results))):
        text = replace_block(text, name, body)
    with open(DOC, "w") as f:
        f.write(text)
    py = os.path.join(bench.VENV, "bin", "python")
    r = subprocess.run([py, os.path.join(bench.BENCH, "chart.py"), path, CHART])
    print("report: updated %s%s" % (os.path.relpath(DOC, bench.ROOT),
                                    "" if r.returncode else " and " +
                                    os.path.relpath(CHART, bench.ROOT)))


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    path = args[0] if args else os.path.join(bench.RESULTS, "latest.json")
    if "--publish" in argv:
        publish(path)
        return 0
    results = load(path)
    print(table_md(results))
    print()
    print(machine_md(results))
    print()
    print(targets_md(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
