"""Statistics of a scenario's rounds: per-server summaries (medians over rounds), the
median of per-round ratios with a seeded 95% bootstrap interval and what it allows us to
say ("lead" only when the interval excludes 1.0), and the noise reference's spread.
Pure functions, unit-tested in test_bench.py.
"""

import random
import statistics
import zlib

import schedule

BOOTSTRAP_SAMPLES = 10000
LEVEL = 0.95
# Below this many rounds a percentile bootstrap of the median is too coarse to call a
# lead (with 2 rounds its interval is the two values and their mean): no verdict.
MIN_ROUNDS = 5


def seed_for(*names, seed=0):
    """A reproducible seed for one ratio (crc32 of its names, mixed with the run's seed)."""
    return zlib.crc32("/".join(names).encode()) ^ seed


def bootstrap_ci(values, seed, samples=BOOTSTRAP_SAMPLES, level=LEVEL):
    """(low, high): the percentile bootstrap interval of the median of `values` (resampled
    with replacement `samples` times by random.Random(seed)); None with fewer than 2."""
    if len(values) < 2:
        return None
    rng = random.Random(seed)
    n = len(values)
    meds = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(samples))
    lo = meds[int((1 - level) / 2 * samples)]
    hi = meds[min(samples - 1, int((1 + level) / 2 * samples))]
    return lo, hi


def verdict(ci, n=MIN_ROUNDS):
    """"higher" when the interval lies above 1.0, "lower" below, "tie" when it holds 1.0;
    "few" without an interval or with fewer than MIN_ROUNDS ratios behind it."""
    if ci is None or n < MIN_ROUNDS:
        return "few"
    if ci[0] > 1.0:
        return "higher"
    if ci[1] < 1.0:
        return "lower"
    return "tie"


def ratio_summary(ratios, seed):
    """The figures of one server's per-round ratios against its uwsgi-fast partner runs."""
    if not ratios:
        return None
    ci = bootstrap_ci(ratios, seed)
    return {"median": round(statistics.median(ratios), 4),
            "ci": [round(ci[0], 4), round(ci[1], 4)] if ci else None,
            "n": len(ratios), "verdict": verdict(ci, len(ratios)),
            "per_round": [round(r, 4) for r in ratios]}


def reference_check(values, limit):
    """The noise reference's req/s of each round: its median, its spread ((max - min) /
    median) and the rounds (indices) that moved more than `limit` (a fraction) from
    the median."""
    if not values:
        return None
    med = statistics.median(values)
    if not med:
        return {"median": 0, "spread": None, "flagged": [], "per_round": values}
    return {"median": round(med, 1),
            "spread": round((max(values) - min(values)) / med, 4),
            "flagged": [i for i, v in enumerate(values) if abs(v / med - 1) > limit],
            "per_round": [round(v, 1) for v in values]}


def summarize(rounds, rss_kb):
    """Medians over the measured runs of one server (max latency: the largest; errors:
    the sum); `rounds` are run_client() reports."""
    rs = rounds
    med = lambda key: statistics.median(r[key] for r in rs)  # noqa: E731
    requests = sum(r["requests"] for r in rs)
    # CPU per request means little when a round answered (almost) nothing.
    cpu = [r["server_cpu_s"] / r["requests"] * 1e4 for r in rs if r["requests"] >= 100]
    wcpu = [v for v in map(worker_cpu_per_10k, rs) if v is not None]
    # the nginx in front (behind-nginx scenarios): its CPU apart from the server's
    front = [sum(r["sidecar_cpu_s"].values()) / r["requests"] * 1e4 for r in rs
             if r["requests"] >= 100 and r.get("sidecar_cpu_s")]
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
        "worker_cpu_s_per_10k": round(statistics.median(wcpu), 4) if wcpu else None,
        "front_cpu_s_per_10k": round(statistics.median(front), 3) if front else None,
        "rss_mb_per_worker": round(max(rss_kb) / 1024, 1) if rss_kb else None,
        "starved": max((r["canary"]["starved"] for r in rs if "canary" in r), default=None),
        "watched": max((r["canary"]["canaries"] for r in rs if "canary" in r), default=None),
        "canary_max_wait_s": max((r["canary"]["max_wait_s"] for r in rs if "canary" in r),
                                 default=None),
        "other_cpu_s": round(med("other_cpu_s"), 2),
        "bg_cores": round(med("other_cpu_s") / statistics.median(r["wall_s"] for r in rs), 2),
        "worker_cpu_share": worker_cpu_share(rs),
    }


def worker_cpu_per_10k(rep):
    """The workers' CPU seconds in one run (the master left out) per 10,000 requests:
    from their threads' nanosecond clocks (worker_cpu_ns) where the run has them, else
    utime+stime (/proc/PID/stat, 10 ms ticks); None when it answered fewer than 100."""
    if rep.get("requests", 0) < 100:
        return None
    if rep.get("worker_cpu_ns"):
        secs = sum(rep["worker_cpu_ns"].values()) / 1e9
    elif rep.get("worker_cpu_s"):
        secs = sum(rep["worker_cpu_s"].values())
    else:
        return None
    return secs / rep["requests"] * 1e4


def paired_worker_cpu(rows, base, other, seed):
    """ratio_summary of `other`'s workers' CPU per 10k requests over `base`'s in the run
    next to it, round by round (`rows`: {server: its result row, whose "rounds" are the
    run reports with "round" and "block"}). With the sides adjacent in each round this
    resolves a 1% difference that req/s, moved by wrk sharing the cores, cannot."""
    by_round = {}
    for key in (base, other):
        for rep in rows.get(key, {}).get("rounds", []):
            v = worker_cpu_per_10k(rep)
            if v:
                by_round.setdefault(rep["round"], []).append((key, rep["block"], v))
    ratios = schedule.paired_ratios([by_round[r] for r in sorted(by_round)], base)
    return ratio_summary(ratios.get(other, []), seed)


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
