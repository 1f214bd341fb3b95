"""Unit tests of the benchmark harness's pure parts: the round order and ratio pairing
(schedule.py), the bootstrap interval and verdicts (stats.py), the tuning choice
(tuning.pick_best / judge) and the peers' variants (peers.py). No server, no wrk:

    python3 -m unittest discover -s tests/bench -p 'test_*.py'     (under a second)
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peers  # noqa: E402
import schedule  # noqa: E402
import stats  # noqa: E402
import tuning  # noqa: E402
from scenarios import SCENARIO  # noqa: E402

BASE = "uwsgi-fast"
PEERS = ["gunicorn-sync", "gunicorn-gthread", "granian", "uwsgi", "bjoern", "fastwsgi"]


class RoundOrder(unittest.TestCase):
    def test_every_server_once_and_next_to_the_base(self):
        for n in range(1, 8):
            others = PEERS[:n] if n <= len(PEERS) else PEERS + ["uwsgi-fast-health"]
            for rnd in range(7):
                order = schedule.round_order(others, rnd, 24, BASE)
                keys = [k for k, _ in order]
                self.assertEqual(sorted(k for k in keys if k != BASE), sorted(others))
                self.assertEqual(keys.count(BASE), (len(others) + 1) // 2)
                for i, (k, b) in enumerate(order):
                    if k == BASE:
                        continue
                    # the base run of its block is right before or right after it
                    near = [order[j] for j in (i - 1, i + 1) if 0 <= j < len(order)]
                    self.assertIn((BASE, b), near, (rnd, order))

    def test_seeded_and_varies_by_round(self):
        a = [schedule.round_order(PEERS, r, 24, BASE) for r in range(7)]
        self.assertEqual(a, [schedule.round_order(PEERS, r, 24, BASE) for r in range(7)])
        self.assertGreater(len({tuple(o) for o in a}), 1)
        self.assertNotEqual(a, [schedule.round_order(PEERS, r, 25, BASE) for r in range(7)])

    def test_single_other_alternates_sides(self):
        firsts = [schedule.round_order(["uwsgi-fast-pin"], r, 24, BASE)[0][0]
                  for r in range(6)]
        self.assertEqual(firsts.count(BASE), 3)
        self.assertNotEqual(firsts[0], firsts[1])

    def test_every_peer_before_and_after_the_base_over_rounds(self):
        sides = {k: set() for k in PEERS}
        for rnd in range(7):
            order = schedule.round_order(PEERS, rnd, 24, BASE)
            keys = [k for k, _ in order]
            for i, k in enumerate(keys):
                if k != BASE:
                    sides[k].add("before" if i + 1 < len(keys) and keys[i + 1] == BASE
                                 else "after")
        self.assertEqual([k for k, s in sides.items() if len(s) < 2], [])

    def test_quick_block_runs_the_base_once_first(self):
        order = schedule.round_order(PEERS, 0, 24, BASE, block=0)
        self.assertEqual(order[0], (BASE, 0))
        self.assertEqual([k for k, _ in order[1:]], PEERS)
        self.assertEqual([k for k, _ in schedule.round_order(PEERS, 1, 24, BASE, 0)][1],
                         PEERS[1])


class Pairing(unittest.TestCase):
    def test_ratio_against_the_base_run_of_the_same_block(self):
        rounds = [[("a", 0, 50.0), (BASE, 0, 100.0), ("b", 0, 300.0),
                   ("c", 1, 80.0), (BASE, 1, 200.0)],
                  [(BASE, 0, 100.0), ("c", 0, 100.0), ("a", 1, 60.0), (BASE, 1, 120.0)]]
        got = schedule.paired_ratios(rounds, BASE)
        self.assertEqual(got, {"a": [0.5, 0.5], "b": [3.0], "c": [0.4, 1.0]})

    def test_missing_or_zero_base_gives_no_ratio(self):
        got = schedule.paired_ratios([[("a", 0, 50.0), (BASE, 0, 0.0), ("b", 1, 5.0)]], BASE)
        self.assertEqual(got, {})


class Bootstrap(unittest.TestCase):
    def test_reproducible_and_brackets_the_median(self):
        xs = [0.91, 0.95, 0.97, 1.0, 1.02, 1.04, 1.2]
        a = stats.bootstrap_ci(xs, seed=7)
        self.assertEqual(a, stats.bootstrap_ci(xs, seed=7))
        self.assertLessEqual(a[0], 1.0)
        self.assertGreaterEqual(a[1], 1.0)
        self.assertGreaterEqual(a[0], min(xs))
        self.assertLessEqual(a[1], max(xs))

    def test_too_few_values(self):
        self.assertIsNone(stats.bootstrap_ci([1.0], seed=1))
        self.assertEqual(stats.ratio_summary([1.3], 1)["verdict"], "few")
        self.assertIsNone(stats.ratio_summary([], 1))

    def test_verdicts(self):
        self.assertEqual(stats.verdict((1.02, 1.3)), "higher")
        self.assertEqual(stats.verdict((0.5, 0.98)), "lower")
        self.assertEqual(stats.verdict((0.9, 1.1)), "tie")
        self.assertEqual(stats.verdict((1.1, 1.3), n=3), "few")
        self.assertEqual(stats.verdict(None), "few")

    def test_lead_only_when_the_interval_excludes_one(self):
        clear = stats.ratio_summary([0.5, 0.52, 0.49, 0.51, 0.55, 0.5, 0.48], seed=3)
        self.assertEqual(clear["verdict"], "lower")
        self.assertLess(clear["ci"][1], 1.0)
        noisy = stats.ratio_summary([0.7, 1.3, 0.9, 1.1, 0.8, 1.2, 1.0], seed=3)
        self.assertEqual(noisy["verdict"], "tie")
        self.assertEqual(noisy["median"], 1.0)

    def test_seed_for_is_stable(self):
        self.assertEqual(stats.seed_for("hello-1w", "granian", seed=24),
                         stats.seed_for("hello-1w", "granian", seed=24))
        self.assertNotEqual(stats.seed_for("hello-1w", "granian"),
                            stats.seed_for("hello-1w", "bjoern"))


class Reference(unittest.TestCase):
    def test_spread_and_flags(self):
        ref = stats.reference_check([100.0, 102.0, 98.0, 80.0, 101.0], 0.10)
        self.assertEqual(ref["median"], 100.0)
        self.assertEqual(ref["flagged"], [3])
        self.assertAlmostEqual(ref["spread"], 0.22)


def report(rps, http=0, sock=0, starved=0, requests=1000, p99=1000):
    return {"rps": rps, "requests": requests, "http_errors": http, "socket_errors": sock,
            "latency_us": {"p99": p99}, "canary": {"starved": starved}}


class Tuning(unittest.TestCase):
    def test_highest_rps_wins(self):
        judged = [("default", tuning.judge([report(100)])),
                  ("st-bt1", tuning.judge([report(200)])),
                  ("mt-bt1", tuning.judge([report(150)]))]
        name, why = tuning.pick_best(judged)
        self.assertEqual(name, "st-bt1")
        self.assertIn("next mt-bt1 150", why)

    def test_ruled_out_variants(self):
        judged = [("starves", tuning.judge([report(900, starved=8)])),
                  ("errors", tuning.judge([report(800, http=3)])),
                  ("sockets", tuning.judge([report(700, sock=50)])),
                  ("few-sockets", tuning.judge([report(600, sock=5)])),
                  ("dead", {"rps": 0.0, "out": "exited at start"})]
        name, why = tuning.pick_best(judged)
        self.assertEqual(name, "few-sockets")
        for word in ("starved 8", "3 HTTP errors", "50 socket errors", "exited at start"):
            self.assertIn(word, why)

    def test_all_ruled_out_keeps_the_first(self):
        judged = [("a", tuning.judge([])), ("b", tuning.judge([report(0, requests=0)]))]
        self.assertEqual(tuning.pick_best(judged)[0], "a")

    def test_tie_keeps_the_earlier_candidate(self):
        judged = [("a", tuning.judge([report(100)])), ("b", tuning.judge([report(100)]))]
        self.assertEqual(tuning.pick_best(judged)[0], "a")

    def test_median_of_passes(self):
        self.assertEqual(tuning.judge([report(100), report(300), report(200)])["rps"], 200)


class Variants(unittest.TestCase):
    def test_candidates_have_unique_names_and_the_old_shape_first(self):
        for sc in SCENARIO.values():
            for key in peers.SERVER_KEYS:
                names = [v.name for v in peers.candidates(key, sc)]
                self.assertEqual(len(names), len(set(names)), (key, sc.name))
        hello = SCENARIO["hello-2w"]
        self.assertEqual(peers.candidates("granian", hello)[0].flags, [])
        self.assertIn(["--runtime-mode", "st", "--blocking-threads", "1", "--backpressure",
                       "128"], [v.flags for v in peers.candidates("granian", hello)])
        self.assertEqual(len(peers.candidates("bjoern", SCENARIO["hello-1w"])), 1)

    def test_equal_worker_counts(self):
        ctx = peers.Ctx("/bin/uwsgi-fast", {"--backlog"}, "/site")
        for sc in (SCENARIO["hello-2w"], SCENARIO["io-10ms"], SCENARIO["slow5-ka"]):
            for key in peers.SERVER_KEYS:
                if key in peers.DOCS_ROWS:
                    continue
                for v in peers.candidates(key, sc):
                    argv, _ = peers.server_command(key, sc, 8000, ctx, v)
                    n = str(sc.workers)
                    self.assertTrue(
                        any(argv[i] in ("-w", "--workers", "--processes") and argv[i + 1] == n
                            for i in range(len(argv) - 1)), (key, v.name, argv))

    def test_uwsgi_runs_its_http_router_with_keepalive(self):
        ctx = peers.Ctx("/bin/uwsgi-fast", set(), "/site")
        argv, _ = peers.server_command("uwsgi", SCENARIO["hello-1w"], 8000, ctx)
        self.assertIn("--http", argv)
        self.assertIn("--http-keepalive", argv)
        self.assertNotIn("--http11-socket", argv)


class ZeroCopyLog(unittest.TestCase):
    def test_sums_every_worker_exit_line(self):
        import tempfile
        import rounds
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            f.write(b"x\nWorker exiting: 10 zero-copy sends, 4 of them copied\n"
                    b"Worker exiting: 5 zero-copy sends, 5 of them copied\n")
        try:
            self.assertEqual(rounds.zero_copy_sends(f.name), {"sends": 15, "copied": 9})
        finally:
            os.unlink(f.name)
        self.assertEqual(rounds.zero_copy_sends("/nonexistent"), {"sends": 0, "copied": 0})


class ServerLists(unittest.TestCase):
    def test_docs_row_only_in_hello_2w_and_never_in_quick(self):
        import run
        from scenarios import SCENARIO as S
        feats = {"--health-path", "--threads"}
        keys = peers.SERVER_KEYS
        self.assertIn("gunicorn-sync-docs", run.scenario_servers(S["hello-2w"], keys, feats,
                                                                 None)[0])
        self.assertNotIn("gunicorn-sync-docs", run.scenario_servers(S["hello-1w"], keys, feats,
                                                                    None)[0])
        self.assertNotIn("gunicorn-sync-docs", run.scenario_servers(S["hello-2w"], keys, feats,
                                                                    None, quick=True)[0])
        self.assertIn("gunicorn-sync-docs", run.scenario_servers(
            S["hello-1w"], ["gunicorn-sync-docs", BASE], feats, None, named=True)[0])

    def test_quick_and_full_shapes(self):
        import run
        q = run.parse_args(["--quick"])
        self.assertEqual((q.rounds, q.duration, q.block, q.tune, q.reference),
                         (1, 2, 0, False, False))
        f = run.parse_args([])
        self.assertEqual((f.rounds, f.duration, f.warmup, f.block, f.tune, f.reference),
                         (7, 2, 1, schedule.PAIR, True, True))


def cpu_run(rnd, block, secs, requests):
    return {"round": rnd, "block": block, "requests": requests,
            "worker_cpu_s": {"101": secs}}


class ThreadClock(unittest.TestCase):
    def test_cpu_ns_of_this_process_moves_with_work(self):
        from procstat import cpu_ns
        before = cpu_ns(os.getpid())
        sum(i * i for i in range(200000))
        after = cpu_ns(os.getpid())
        self.assertIsNotNone(before)
        self.assertGreater(after, before)
        self.assertIsNone(cpu_ns(2 ** 22 + 1))  # above the largest pid_max: no such process


class InstrumentsComparison(unittest.TestCase):
    """instr-hello-1w: side B is another build (no flag), judged by req/s and by the
    workers' CPU per request paired round by round."""

    def test_version_text_says_whether_the_build_has_instruments(self):
        from benchenv import instruments_of
        head = "uwsgi-fast 0.1.0\npython 3.11.7\nengines: io_uring and epoll\n"
        self.assertTrue(instruments_of(head + "instruments: request phases, ring counters "
                                       "and USDT probes\n"))
        self.assertFalse(instruments_of(head + "instruments: none (built with "
                                        "-Dinstruments=false)\n"))
        self.assertIsNone(instruments_of(head))

    def test_side_b_runs_the_bare_binary_with_side_a_flags(self):
        ctx = peers.Ctx("/bin/uwsgi-fast", {"--backlog"}, "/site", uf_bare="/tmp/bare")
        sc = SCENARIO["hello-1w"]
        a, _ = peers.server_command("uwsgi-fast", sc, 8000, ctx)
        b, _ = peers.server_command("uwsgi-fast-bare", sc, 8000, ctx)
        self.assertEqual(b[0], "/tmp/bare")
        self.assertEqual(a[1:], b[1:])

    def test_selected_by_name_and_in_a_full_run(self):
        import run
        one = run.parse_args(["--only", "engine", "--scenarios", "instr-hello-1w"])
        self.assertEqual([c.name for c in one.comparison_list], ["instr-hello-1w"])
        self.assertEqual(one.comparison_list[0].build, "bare")
        self.assertEqual(one.comparison_list[0].flag, "")
        self.assertIn("instr-hello-1w", [c.name for c in run.parse_args([]).comparison_list])
        # a side-by-side scenario never runs it as a peer
        feats = {"--health-path", "--threads"}
        self.assertNotIn("uwsgi-fast-bare", run.scenario_servers(
            SCENARIO["hello-1w"], peers.SERVER_KEYS, feats, None)[0])

    def test_workers_cpu_per_10k_leaves_out_small_runs(self):
        self.assertAlmostEqual(stats.worker_cpu_per_10k(cpu_run(0, 0, 2.0, 40000)), 0.5)
        self.assertIsNone(stats.worker_cpu_per_10k(cpu_run(0, 0, 2.0, 99)))
        self.assertIsNone(stats.worker_cpu_per_10k({"requests": 5000}))
        # the nanosecond clocks win over the ticks when the run has them
        fine = dict(cpu_run(0, 0, 2.0, 40000), worker_cpu_ns={"101": 1990000000})
        self.assertAlmostEqual(stats.worker_cpu_per_10k(fine), 0.4975)
        s = stats.summarize([dict(cpu_run(0, 0, 2.0, 40000), rps=20000, server_cpu_s=2.1,
                                  other_cpu_s=0, wall_s=2, socket_errors=0, http_errors=0,
                                  latency_us={"p50": 1, "p99": 2, "max": 3})], [])
        self.assertEqual(s["worker_cpu_s_per_10k"], 0.5)

    def test_paired_by_round_and_block(self):
        # side B spends 1% less CPU per request than the A run next to it, while the
        # host slows both down by 10% in round 2: the pairing cancels the host out
        a = [cpu_run(r, 0, 2.0 * f, 40000) for r, f in enumerate([1, 1.1, 1, 1, 1])]
        b = [cpu_run(r, 0, 1.98 * f, 40000) for r, f in enumerate([1, 1.1, 1, 1, 1])]
        rows = {BASE: {"rounds": a}, "uwsgi-fast-bare": {"rounds": b}}
        rs = stats.paired_worker_cpu(rows, BASE, "uwsgi-fast-bare", seed=1)
        self.assertEqual(rs["n"], 5)
        self.assertAlmostEqual(rs["median"], 0.99, places=4)
        self.assertEqual(rs["verdict"], "lower")
        # a round where one side served (almost) nothing gives no pair
        b[2]["requests"] = 10
        self.assertEqual(stats.paired_worker_cpu(rows, BASE, "uwsgi-fast-bare", 1)["n"], 4)
        self.assertIsNone(stats.paired_worker_cpu({}, BASE, "uwsgi-fast-bare", 1))

    def test_note_gives_both_sides_and_the_ratio(self):
        import tables
        sides = [{"summary": {"worker_cpu_s_per_10k": 0.5}},
                 {"summary": {"worker_cpu_s_per_10k": 0.495}}]
        ent = {"worker_cpu_ratio": {"median": 0.99, "ci": [0.985, 0.995], "verdict": "lower"}}
        self.assertEqual(tables.worker_cpu_note(ent, sides),
                         "workers' CPU s/10k req: A 0.500, B 0.495; B/A 0.990x "
                         "(95% CI 0.985-0.995, B less)")
        self.assertIsNone(tables.worker_cpu_note(ent, [sides[0], {"summary": {}}]))


if __name__ == "__main__":
    unittest.main()
