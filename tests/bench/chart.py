#!/usr/bin/env python3
"""Draws requests/s and p99 latency per scenario and server from a benchmark results file.

    .deps/bench-venv/bin/python tests/bench/chart.py [RESULTS.json] [OUT.png]
    .deps/bench-venv/bin/python tests/bench/chart.py --engine [RESULTS.json] [OUT.png]

Defaults: tests/bench/results/latest.json -> docs/benchmarks.png; with --engine,
tests/bench/results/engine.json -> docs/benchmarks-engine.png (the median per-round ratio
B/A of each engine comparison, with its 95% bootstrap interval). Needs matplotlib (in
the bench venv). Both panels use a log scale: the scenarios span four orders of magnitude
(80k req/s for hello, 200 req/s for a sleeping app on a single-threaded server). A server
that answered nothing in a scenario has no bar there; a hatched bar marks a server that
starved some connections (its latency covers only the connections it served). In the
mixed scenarios the latency panel shows the p99 of the fast requests.
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

ORDER = ["uwsgi-fast", "uwsgi-fast-health", "uwsgi-fast-accesslog", "uwsgi-fast-threads",
         "uwsgi-fast-epoll", "granian", "fastwsgi", "bjoern", "uwsgi", "gunicorn-gthread", "gunicorn-sync",
         "gunicorn-sync-docs"]
COLORS = {"uwsgi-fast": "#d62728", "uwsgi-fast-health": "#ff9896",
          "uwsgi-fast-accesslog": "#e377c2", "uwsgi-fast-threads": "#ff7f0e",
          "uwsgi-fast-epoll": "#f7b6d2",
          "granian": "#1f77b4",
          "fastwsgi": "#2ca02c", "bjoern": "#9467bd", "uwsgi": "#8c564b",
          "gunicorn-gthread": "#7f7f7f", "gunicorn-sync": "#bcbd22",
          "gunicorn-sync-docs": "#dbdb8d"}


def engine_chart(argv):
    """One horizontal bar per engine comparison: the median of the per-round ratios B/A,
    the whisker its 95% bootstrap interval (the per-round range in results of the older
    method, which have none); the line at 1 is "no difference"."""
    src = argv[0] if argv else os.path.join(HERE, "results", "engine.json")
    out = argv[1] if len(argv) > 1 else os.path.join(ROOT, "docs", "benchmarks-engine.png")
    with open(src) as f:
        results = json.load(f)
    ents = [e for e in results.get("engine", []) if e.get("ratio")]
    if not ents:
        print("chart: %s has no engine comparison with a ratio" % src, file=sys.stderr)
        return 1
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(ents) + 1.6))
    ys = list(range(len(ents)))[::-1]
    ratios = [e["ratio"] for e in ents]
    bounds = [e.get("ci") or [min(e["round_ratios"] or [e["ratio"]]),
                               max(e["round_ratios"] or [e["ratio"]])] for e in ents]
    lo = [max(0.0, e["ratio"] - b[0]) for e, b in zip(ents, bounds)]
    hi = [max(0.0, b[1] - e["ratio"]) for e, b in zip(ents, bounds)]
    colors = ["#1f77b4" if e["name"].startswith("pin-") else "#d62728" for e in ents]
    ax.barh(ys, ratios, color=colors, xerr=[lo, hi], capsize=4, height=0.6)
    ax.axvline(1.0, color="#333333", linewidth=1)
    ax.set_yticks(ys)
    ax.set_yticklabels([e["name"] for e in ents])
    for y, r in zip(ys, ratios):
        ax.text(0.02, y, "%.2fx" % r, va="center", color="white", fontsize=9,
                transform=ax.get_yaxis_transform())
    ax.set_xlabel("req/s, side B / side A (plain uwsgi-fast), median of rounds; "
                  "whiskers: 95% interval")
    m = results.get("machine", {})
    ax.set_title("uwsgi-fast engine settings, %s (%s cores, loopback, wrk on the same cores)"
                 % (results.get("started", ""), m.get("nproc", "?")), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("chart: wrote %s" % os.path.relpath(out, ROOT))
    return 0


def main(argv):
    if argv[:1] == ["--engine"]:
        return engine_chart(argv[1:])
    src = argv[0] if argv else os.path.join(HERE, "results", "latest.json")
    out = argv[1] if len(argv) > 1 else os.path.join(ROOT, "docs", "benchmarks.png")
    with open(src) as f:
        results = json.load(f)
    # the side-by-side WSGI scenarios: not those behind nginx, not the ASGI group
    scenarios = [e for e in results["scenarios"] if not e.get("front")
                 and e.get("interface") != "asgi"]
    labels = {}
    present = set()
    for ent in scenarios:
        for r in ent["results"]:
            labels[r["server"]] = r["label"]
            if r.get("summary"):
                present.add(r["server"])
    servers = [s for s in ORDER if s in present]
    n = len(servers)
    width = 0.8 / max(n, 1)
    fig, axes = plt.subplots(2, 1, figsize=(max(10, 1.5 * len(scenarios)), 9), sharex=True)
    for ax, metric, title in ((axes[0], "rps", "requests/s (higher is better)"),
                              (axes[1], "p99_us", "p99 latency, ms (lower is better; the "
                               "mixed scenarios: of their fast requests)")):
        for i, key in enumerate(servers):
            xs, ys, hatches = [], [], []
            for j, ent in enumerate(scenarios):
                for r in ent["results"]:
                    s = r.get("summary")
                    # the mixed scenarios' point is how long the fast requests wait
                    field = "fast_p99_us" if metric == "p99_us" and ent.get("mix") else metric
                    if r["server"] != key or not s or not s.get(field):
                        continue
                    xs.append(j - 0.4 + width * (i + 0.5))
                    ys.append(s[field] / 1000 if metric == "p99_us" else s[field])
                    hatches.append("//" if s.get("starved") else "")
            bars = ax.bar(xs, ys, width, label=labels[key], color=COLORS.get(key, "#333333"))
            for bar, hatch in zip(bars, hatches):
                bar.set_hatch(hatch)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=11)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[1].set_xticks(range(len(scenarios)))
    axes[1].set_xticklabels([e["name"] for e in scenarios], rotation=20, ha="right")
    handles = [Patch(facecolor=COLORS.get(k, "#333333"), label=labels[k]) for k in servers]
    fig.legend(handles=handles, ncol=min(len(handles), 4), fontsize=9, loc="lower center",
               bbox_to_anchor=(0.5, 0.0))
    m = results.get("machine", {})
    fig.suptitle("uwsgi-fast and peers, %s (%s cores, wrk on the same cores; hatched: "
                 "starved some connections)" % (results.get("started", ""), m.get("nproc", "?")),
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out, dpi=110)
    print("chart: wrote %s" % os.path.relpath(out, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
