"""Unit tests of the ASGI group's pure parts: which scenarios and servers run, the
servers' commands, the raw ASGI apps, the tables, issue 20's targets and publishing the
group's block alone. No server, no wrk:

    python3 -m unittest discover -s tests/bench -p 'test_*.py'     (under a second)
"""

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "apps"))

import bench_asgi  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import stats  # noqa: E402
import tables  # noqa: E402
import server  # noqa: E402
from scenarios import BODY_1M, HELLO, SCENARIO, SCENARIOS, split_cpus  # noqa: E402

ASGI_SCENARIOS = ["asgi-hello", "asgi-hello-1core", "asgi-fastapi-json", "asgi-stream-1m",
                  "asgi-file-1m", "asgi-keepalive-5k", "asgi-io-10ms"]
CTX = peers.Ctx("/opt/uwsgi-fast", {"--backlog", "--worker-connections", "--engine",
                                    "--health-path", "--threads"}, "/venv/site-packages")


def keys_of(name):
    return run.scenario_servers(SCENARIO[name], peers.SERVER_KEYS, CTX.uf_features, None)[0]


class Selection(unittest.TestCase):
    def test_only_asgi_runs_the_group_and_no_comparison(self):
        args = run.parse_args(["--only", "asgi"])
        self.assertEqual([s.name for s in args.scenario_list], ASGI_SCENARIOS)
        self.assertEqual(args.comparison_list, [])

    def test_not_in_a_full_run_nor_in_quick(self):
        for argv in ([], ["--quick"], ["--only", "peers"], ["--only", "nginx"]):
            names = [s.name for s in run.parse_args(argv).scenario_list]
            self.assertFalse([n for n in names if n.startswith("asgi-")], argv)

    def test_scenarios_narrow_the_group(self):
        args = run.parse_args(["--only", "asgi", "--scenarios", "asgi-io-10ms,hello-2w"])
        self.assertEqual([s.name for s in args.scenario_list], ["asgi-io-10ms"])
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
            run.parse_args(["--only", "asgi", "--scenarios", "hello-2w"])  # none of it

    def test_asgi_servers_only_in_asgi_scenarios(self):
        self.assertEqual(keys_of("asgi-hello"), list(peers.ASGI_KEYS) + [
            "uwsgi-fast", "uwsgi-fast-epoll"])
        for name in ASGI_SCENARIOS[1:]:
            self.assertEqual(keys_of(name), list(peers.ASGI_KEYS) + ["uwsgi-fast"], name)
        for sc in SCENARIOS:
            if sc.interface == "wsgi" and not sc.front:
                self.assertFalse(set(keys_of(sc.name)) & set(peers.ASGI_KEYS), sc.name)

    def test_servers_option_takes_the_asgi_keys(self):
        args = run.parse_args(["--only", "asgi", "--servers", "uvicorn,uwsgi-fast"])
        self.assertEqual(args.server_list, ["uvicorn", "uwsgi-fast"])


class SplitCpus(unittest.TestCase):
    def test_the_last_cpu_for_the_server_the_rest_for_the_client(self):
        sc = SCENARIO["asgi-hello-1core"]
        self.assertEqual(sc.workers, 1)
        self.assertEqual(split_cpus(sc, {0, 1}), ({1}, {0}))
        self.assertEqual(split_cpus(sc, {2, 5, 7}), ({7}, {2, 5}))

    def test_one_cpu_or_an_unsplit_scenario_shares(self):
        self.assertEqual(split_cpus(SCENARIO["asgi-hello-1core"], {3}), (None, None))
        self.assertEqual(split_cpus(SCENARIO["asgi-hello"], {0, 1}), (None, None))

    def test_a_confined_child_and_its_children_run_on_those_cpus(self):
        cpu = max(os.sched_getaffinity(0))
        out = subprocess.run(["sh", "-c", "grep Cpus_allowed_list /proc/self/status"],
                             capture_output=True, text=True,
                             preexec_fn=server.confine_to({cpu})).stdout
        self.assertEqual(out.split(), ["Cpus_allowed_list:", str(cpu)])
        self.assertIsNone(server.confine_to(None))


class Commands(unittest.TestCase):
    def cmd(self, key, name="asgi-hello"):
        return peers.server_command(key, SCENARIO[name], 9000, CTX)[0]

    def test_every_server_the_same_app_and_worker_count_on_uvloop(self):
        for name in ASGI_SCENARIOS:
            sc = SCENARIO[name]
            for key in keys_of(name):
                argv = self.cmd(key, name)
                self.assertEqual(argv[-1], sc.app, key)
                flag = "--workers" if "--workers" in argv else "-w"
                self.assertEqual(argv[argv.index(flag) + 1], str(sc.workers), key)
                self.assertIn("uvloop", argv, key)

    def test_uvicorn_with_httptools_uvloop_and_no_access_log(self):
        argv = self.cmd("uvicorn")
        for pair in (["--http", "httptools"], ["--loop", "uvloop"], ["--backlog", "1024"]):
            i = argv.index(pair[0])
            self.assertEqual(argv[i:i + 2], pair)
        self.assertIn("--no-access-log", argv)

    def test_granian_and_gunicorn_in_their_asgi_modes(self):
        g = self.cmd("granian-asgi")
        self.assertEqual(g[g.index("--interface") + 1], "asgi")
        self.assertEqual(g[g.index("--loop") + 1], "uvloop")
        gu = self.cmd("gunicorn-asgi")
        self.assertEqual(gu[gu.index("-k") + 1], "asgi")
        self.assertEqual(gu[gu.index("--asgi-loop") + 1], "uvloop")
        self.assertEqual(gu[gu.index("--http-parser") + 1], "fast")

    def test_uwsgi_fast_runs_asgi_only_in_the_group(self):
        argv = self.cmd("uwsgi-fast")
        self.assertEqual(argv[argv.index("-k") + 1], "asgi")
        self.assertEqual(argv[argv.index("--loop") + 1], "uvloop")
        self.assertIn("--engine", self.cmd("uwsgi-fast-epoll"))
        self.assertNotIn("-k", peers.server_command("uwsgi-fast", SCENARIO["hello-2w"],
                                                    9000, CTX)[0])

    def test_tuned_variants(self):
        sc = SCENARIO["asgi-hello"]
        for key, first in (("granian-asgi", "default"), ("hypercorn", "uvloop")):
            names = [v.name for v in peers.candidates(key, sc)]
            self.assertEqual(names[0], first)
            self.assertEqual(len(names), len(set(names)))
            self.assertGreater(len(names), 1)
        # hypercorn's loop is its variant: the base command names none
        self.assertEqual(peers.server_command("hypercorn", sc, 9000, CTX,
                                              peers.candidates("hypercorn", sc)[1])[0][-3:],
                         ["-k", "asyncio", sc.app])
        for key in ("uvicorn", "gunicorn-asgi"):
            self.assertEqual(len(peers.candidates(key, sc)), 1)


def drive(app, scope_type="http", inbox=None):
    """Runs an ASGI app on one scope; returns the messages it sent."""
    sent = []
    inbox = list(inbox or [{"type": "http.request", "body": b"", "more_body": False}])

    async def receive():
        return inbox.pop(0)

    async def send(msg):
        sent.append(msg)

    asyncio.run(app({"type": scope_type, "path": "/"}, receive, send))
    return sent


class Apps(unittest.TestCase):
    def body(self, sent):
        self.assertEqual(sent[0]["status"], 200)
        head = dict(sent[0]["headers"])
        data = b"".join(m["body"] for m in sent[1:])
        self.assertEqual(int(head[b"content-length"]), len(data))
        self.assertFalse(sent[-1].get("more_body"))
        return data

    def test_hello_and_sleep(self):
        self.assertEqual(self.body(drive(bench_asgi.hello)), HELLO)
        self.assertEqual(self.body(drive(bench_asgi.sleep_10ms)), HELLO)

    def test_stream_sends_the_1m_pattern_in_64k_chunks(self):
        sent = drive(bench_asgi.stream_1m)
        self.assertEqual(self.body(sent), BODY_1M)
        self.assertEqual([len(m["body"]) for m in sent[1:]], [65536] * 16)
        self.assertTrue(all(m["more_body"] for m in sent[1:-1]))

    def test_lifespan_completes(self):
        for app in (bench_asgi.hello, bench_asgi.stream_1m, bench_asgi.sleep_10ms):
            sent = drive(app, "lifespan", [{"type": "lifespan.startup"},
                                           {"type": "lifespan.shutdown"}])
            self.assertEqual([m["type"] for m in sent], ["lifespan.startup.complete",
                                                         "lifespan.shutdown.complete"])


def summary(rps, p99_ms=10.0, rss=30.0, starved=0):
    return {"rps": rps, "p50_us": 1000, "p99_us": p99_ms * 1000, "max_us": 50000,
            "socket_errors": 0, "http_errors": 0, "requests": int(rps * 2),
            "cpu_s_per_10k": 0.5, "rss_mb_per_worker": rss, "starved": starved,
            "watched": 8, "canary_max_wait_s": 0.1}


def peer_row(key, per_round, **kw):
    """A peer's result row whose per-round ratios to uwsgi-fast are `per_round`."""
    return {"server": key, "label": peers.SPEC[key].label, "config_notes": [],
            "summary": summary(10000 * per_round[0], **kw),
            "ratio": stats.ratio_summary(per_round, 1)}


def entry(name, rows, uf_p99=10.0, uf_rss=30.0):
    sc = SCENARIO[name]
    uf = {"server": "uwsgi-fast", "label": "uwsgi-fast", "config_notes": [],
          "summary": summary(10000, uf_p99, uf_rss)}
    return {"name": name, "title": sc.title, "app": sc.app, "kind": sc.kind,
            "interface": sc.interface, "front": sc.front, "mix": sc.mix,
            "results": rows + [uf], "rounds": []}


def results(entries):
    return {"started": "T", "command": "tests/bench/run --only asgi", "version": 2,
            "settings": {"rounds": 7, "duration_s": 2, "warmup_s": 1, "tuning": False},
            "machine": {"nproc": 2, "kernel": "k", "loadavg_start": ["1", "1", "1"],
                        "loadavg_end": ["1", "1", "1"]},
            "versions": {"uvicorn": "0.55.0"}, "uwsgi_fast": {"sha256": "ab" * 32},
            "tuning": {}, "scenarios": entries, "engine": [], "elapsed_s": 1}


SEVEN = lambda x: [x * f for f in (0.97, 0.98, 0.99, 1.0, 1.01, 1.02, 1.03)]  # noqa: E731


class Targets(unittest.TestCase):
    def lines(self, entries):
        return "\n".join(report.asgi_targets(results(entries)))

    def test_hello_against_granian_and_uvicorn(self):
        text = self.lines([entry("asgi-hello", [peer_row("granian-asgi", SEVEN(0.5)),
                                                peer_row("uvicorn", SEVEN(0.5))])])
        self.assertRegex(text, r"granian asgi = 2\.00x .*target >= 1\.5x: met\)")
        self.assertRegex(text, r"uvicorn .* = 2\.00x .*target >= 3\.0x: \*\*missed\*\*\)")

    def test_hello_on_a_core_of_its_own_when_it_was_run(self):
        shared = entry("asgi-hello", [peer_row("uvicorn", SEVEN(0.5))])
        self.assertNotIn("asgi-hello-1core", self.lines([shared]))
        text = self.lines([shared, entry("asgi-hello-1core", [peer_row("uvicorn", SEVEN(0.3))])])
        self.assertRegex(text, r"- asgi-hello: uwsgi-fast / uvicorn .* = 2\.00x .*\*\*missed")
        self.assertRegex(text, r"- asgi-hello-1core: uwsgi-fast / uvicorn .* = 3\.33x .*: met\)")
        self.assertIn("asgi-hello-1core, uwsgi-fast / granian asgi >= 1.5x: not measured", text)

    def test_too_few_rounds_establish_nothing(self):
        text = self.lines([entry("asgi-hello", [peer_row("granian-asgi", [0.5])])])
        self.assertIn("not established (too few rounds)", text)
        self.assertIn("uvicorn (httptools, uvloop) >= 3.0x: not measured (not in this run)",
                      text)

    def test_fastapi_ahead_of_every_peer(self):
        ahead = [peer_row(k, SEVEN(0.6)) for k in peers.ASGI_KEYS]
        self.assertIn("ahead of every peer: met",
                      self.lines([entry("asgi-fastapi-json", ahead)]))
        tie = ahead[:3] + [peer_row("hypercorn", SEVEN(1.0))]
        self.assertIn("ahead of every peer: not established",
                      self.lines([entry("asgi-fastapi-json", tie)]))
        behind = ahead[:3] + [peer_row("hypercorn", SEVEN(1.3))]
        self.assertIn("ahead of every peer: **missed**",
                      self.lines([entry("asgi-fastapi-json", behind)]))

    def test_io_against_the_best_peer_and_the_lowest_p99(self):
        rows = [peer_row("uvicorn", SEVEN(0.9), p99_ms=50.0),
                peer_row("granian-asgi", SEVEN(0.6), p99_ms=20.0)]
        text = self.lines([entry("asgi-io-10ms", rows, uf_p99=30.0)])
        self.assertIn("best peer (uvicorn (httptools, uvloop)) = 1.11x", text)
        self.assertIn("lowest peer's 20.0 ms (granian asgi): **missed**", text)
        # a peer that starved canaries has no say on the lowest p99
        rows[1] = peer_row("granian-asgi", SEVEN(0.6), p99_ms=20.0, starved=3)
        text = self.lines([entry("asgi-io-10ms", rows, uf_p99=30.0)])
        self.assertIn("uwsgi-fast 30.0 ms, the lowest peer's 50.0 ms", text)

    def test_rss_within_10_mb_of_uvicorn(self):
        text = self.lines([entry("asgi-hello", [peer_row("uvicorn", SEVEN(0.5), rss=28.0)],
                                 uf_rss=39.0),
                           entry("asgi-io-10ms", [peer_row("uvicorn", SEVEN(0.5), rss=35.0)],
                                 uf_rss=30.0)])
        self.assertIn("**missed** in asgi-hello 39.0 vs 28.0 MB (+11.0)", text)
        self.assertIn("met in asgi-io-10ms 30.0 vs 35.0 MB (-5.0)", text)

    def test_a_peer_that_failed_is_said_not_crashed_on(self):
        failed = {"server": "uvicorn", "label": peers.SPEC["uvicorn"].label,
                  "error": "exited at start (status 1): boom"}
        res = results([entry("asgi-hello", [failed])])
        self.assertIn("not measured (exited at start (status 1): boom)",
                      "\n".join(report.asgi_targets(res)))
        self.assertIn("| asgi-hello | uvicorn (httptools, uvloop) | exited at start",
                      report.asgi_md(res))


class ShownCommands(unittest.TestCase):
    def test_paths_from_the_checkout_the_run_was_made_in(self):
        argv = ["/elsewhere/wt/.deps/bench-venv/bin/uvicorn", "--port", "18001",
                "--app-dir", "/elsewhere/wt/tests/bench/apps", "-b", "127.0.0.1:9",
                "/tmp/zout/bin/uwsgi-fast", "bench_asgi:hello"]
        self.assertEqual(report.show_argv(argv),
                         "uvicorn --port PORT --app-dir tests/bench/apps -b 127.0.0.1:PORT "
                         "/tmp/zout/bin/uwsgi-fast bench_asgi:hello")


BLOCKS = ["status", "table", "machine", "targets", "command", "tuning", "changes", "mixed",
          "engine", "nginx", "asgi", "ws"]


def publish_alone(test, res, block):
    """Publishes `res` into a document of every block, each holding "old NAME"; asserts
    that only `block` changed and returns the new text."""
    doc = "".join("<!-- bench:%s -->\nold %s\n<!-- /bench:%s -->\n" % (b, b, b)
                  for b in BLOCKS)
    with tempfile.TemporaryDirectory() as d:
        path, md = os.path.join(d, block + ".json"), os.path.join(d, "benchmarks.md")
        with open(path, "w") as f:
            json.dump(res, f)
        with open(md, "w") as f:
            f.write(doc)
        saved = report.DOC
        report.DOC = md
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                report.publish(path)
        finally:
            report.DOC = saved
        with open(md) as f:
            text = f.read()
    for b in BLOCKS:
        if b != block:
            test.assertIn("<!-- bench:%s -->\nold %s\n" % (b, b), text)
    test.assertNotIn("old %s" % block, text)
    return text


class Groups(unittest.TestCase):
    def test_tables_partition_the_groups(self):
        asgi = entry("asgi-hello", [])
        wsgi = dict(entry("asgi-hello", []), name="hello-2w", interface="wsgi")
        mixed = dict(wsgi, name="slow5-ka", mix="slow5")
        front = dict(wsgi, name="nginx-hello-2w", front="nginx")
        res = results([asgi, wsgi, mixed, front])
        self.assertEqual(tables.family(res, False, asgi=True), [asgi])
        self.assertEqual(tables.side_by_side(res), [wsgi, mixed])
        self.assertEqual(tables.fronted(res), [front])
        self.assertNotIn("asgi-hello", tables.markdown_table(res))
        self.assertIn("asgi-hello", tables.markdown_table(res, asgi=True))

    def test_publish_rewrites_the_asgi_block_alone(self):
        res = results([entry("asgi-hello", [peer_row("uvicorn", SEVEN(0.5))])])
        text = publish_alone(self, res, "asgi")
        self.assertIn("| asgi-hello | uvicorn (httptools, uvloop) | 4850 |", text)
        self.assertIn("Against issue 20's targets", text)


if __name__ == "__main__":
    unittest.main()
