"""Unit tests of the behind-nginx group's pure parts (nginx_front.py): the nginx
configuration, the servers' commands on each transport, which rows run, and the choice
of transport with its ratios. No nginx, no server, no wrk:

    python3 -m unittest discover -s tests/bench -p 'test_*.py'     (under a second)
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nginx_front as nf  # noqa: E402
import peers  # noqa: E402
import run  # noqa: E402
import tables  # noqa: E402
from scenarios import SCENARIO, SCENARIOS  # noqa: E402

SC = SCENARIO["nginx-hello-2w"]
CTX = peers.Ctx("/opt/uwsgi-fast", {"--backlog", "--worker-connections", "--protocol"},
                "/venv/site-packages")


class Config(unittest.TestCase):
    def conf(self, key, addr="127.0.0.1:9000"):
        return nf.render_conf("/tmp/p", 18080, nf.TRANSPORT[key], addr, "tok")

    def test_the_same_for_every_row_but_the_upstream_and_the_pass(self):
        for t in nf.TRANSPORTS:
            c = self.conf(t.key)
            self.assertIn("worker_processes 1;", c)
            self.assertIn("access_log off;", c)
            self.assertIn("daemon off;", c)
            self.assertIn("listen 127.0.0.1:18080 backlog=1024;", c)
            self.assertIn("pid /tmp/p/nginx.pid;", c)
            self.assertIn("uwsgi_temp_path /tmp/p/uwsgi;", c)
            self.assertIn('return 200 "tok";', c)
        strip = lambda c: "\n".join(ln for ln in c.splitlines()  # noqa: E731
                                    if "written by" not in ln)
        self.assertEqual(strip(self.conf("nginx-uwsgi-fast-tcp")),
                         strip(self.conf("nginx-granian")))
        self.assertEqual(strip(self.conf("nginx-uwsgi-fast-uwsgi")),
                         strip(self.conf("nginx-uwsgi-socket")))

    def test_http_keeps_upstream_connections_alive(self):
        c = self.conf("nginx-gunicorn-gthread")
        self.assertIn("keepalive %d;" % nf.UPSTREAM_KEEPALIVE, c)
        self.assertIn("proxy_pass http://app;", c)
        self.assertIn("proxy_http_version 1.1;", c)
        self.assertIn('proxy_set_header Connection "";', c)
        self.assertNotIn("uwsgi_pass", c)

    def test_uwsgi_pass_has_no_keepalive(self):
        c = self.conf("nginx-uwsgi-unix", "unix:/tmp/p/app.sock")
        self.assertIn("uwsgi_pass app;", c)
        self.assertIn("include uwsgi_params;", c)
        self.assertIn("server unix:/tmp/p/app.sock;", c)
        self.assertNotIn("keepalive", c)
        self.assertNotIn("proxy_pass", c)

    def test_root_runs_its_worker_as_root(self):
        c = nf.render_conf("/tmp/p", 1, nf.TRANSPORTS[0], "127.0.0.1:2", "t")
        self.assertEqual("user root;" in c, os.geteuid() == 0)

    def test_upstream_address(self):
        self.assertEqual(nf.upstream_address(nf.TRANSPORT["nginx-uwsgi-fast-tcp"], 9000,
                                             None), "127.0.0.1:9000")
        self.assertEqual(nf.upstream_address(nf.TRANSPORT["nginx-uwsgi-fast-unix"], None,
                                             "/s/app.sock"), "unix:/s/app.sock")


class Commands(unittest.TestCase):
    def cmd(self, key):
        t = nf.TRANSPORT[key]  # a unix row has no port, a TCP row no socket
        return nf.backend_command(t, SC, CTX, None if t.unix else 9000,
                                  "/s/app.sock" if t.unix else None)[0]

    def test_uwsgi_fast_binds_and_protocol(self):
        tcp = self.cmd("nginx-uwsgi-fast-tcp")
        self.assertEqual(tcp[tcp.index("-b") + 1], "127.0.0.1:9000")
        self.assertNotIn("--protocol", tcp)
        unix = self.cmd("nginx-uwsgi-fast-unix")
        self.assertEqual(unix[unix.index("-b") + 1], "unix:/s/app.sock")
        for key, bind in (("nginx-uwsgi-fast-uwsgi", "127.0.0.1:9000"),
                          ("nginx-uwsgi-fast-uwsgi-unix", "unix:/s/app.sock")):
            argv = self.cmd(key)
            self.assertEqual(argv[argv.index("-b") + 1], bind)
            self.assertEqual(argv[-3:], ["--protocol", "uwsgi", SC.app])
        self.assertEqual(tcp[tcp.index("-w") + 1], "2")

    def test_uwsgi_speaks_its_protocol_on_socket(self):
        for key, addr in (("nginx-uwsgi-socket", "127.0.0.1:9000"),
                          ("nginx-uwsgi-unix", "/s/app.sock")):
            argv = self.cmd(key)
            self.assertEqual(argv[argv.index("--socket") + 1], addr)
            self.assertNotIn("--http", argv)
            self.assertEqual(argv[argv.index("--processes") + 1], "2")

    def test_peers_keep_their_side_by_side_command(self):
        for key, backend in (("nginx-gunicorn-sync", "gunicorn-sync"),
                             ("nginx-gunicorn-gthread", "gunicorn-gthread"),
                             ("nginx-granian", "granian")):
            want, _ = peers.server_command(backend, SC, 9000, CTX,
                                           peers.candidates(backend, SC)[0])
            self.assertEqual(self.cmd(key), want)

    def test_every_row_registered_with_its_backends_package(self):
        for t in nf.TRANSPORTS:
            self.assertEqual(peers.SPEC[t.key].package, peers.SPEC[t.backend].package)
            self.assertNotIn(t.key, peers.SERVER_KEYS)


class Selection(unittest.TestCase):
    def test_rows_follow_servers_and_flags(self):
        keys, omitted = nf.rows_for(peers.SERVER_KEYS, {"--protocol"})
        self.assertEqual(keys, [t.key for t in nf.TRANSPORTS])
        self.assertEqual(omitted, [])
        keys, omitted = nf.rows_for(["uwsgi-fast", "uwsgi"], set())
        self.assertEqual(keys, ["nginx-uwsgi-fast-tcp", "nginx-uwsgi-fast-unix",
                                "nginx-uwsgi-socket", "nginx-uwsgi-unix"])
        self.assertEqual(len(omitted), 2)
        self.assertTrue(all("--protocol" in m for m in omitted))
        self.assertEqual(nf.TRANSPORTS[0].key, nf.BASE_ROW)

    def test_uwsgi_fasts_rows_fail_the_run_as_uwsgi_fast(self):
        self.assertTrue(run.ours("nginx-uwsgi-fast-unix"))
        self.assertTrue(run.ours("uwsgi-fast"))
        self.assertFalse(run.ours("nginx-uwsgi-unix"))
        self.assertFalse(run.ours("granian"))

    def test_only_by_name_or_only_nginx(self):
        fronted = [s.name for s in SCENARIOS if s.front]
        self.assertTrue(fronted)
        for argv in ([], ["--quick"], ["--only", "peers"]):
            picked = [s.name for s in run.parse_args(argv).scenario_list]
            self.assertFalse(set(picked) & set(fronted), argv)
        self.assertEqual([s.name for s in run.parse_args(["--only", "nginx"]).scenario_list],
                         fronted)
        args = run.parse_args(["--only", "nginx", "--scenarios", "nginx-flask-json"])
        self.assertEqual([s.name for s in args.scenario_list], ["nginx-flask-json"])
        self.assertEqual(args.comparison_list, [])
        args = run.parse_args(["--scenarios", "hello-2w,nginx-hello-2w"])
        self.assertEqual([s.name for s in args.scenario_list], ["hello-2w", "nginx-hello-2w"])
        keys, _ = run.scenario_servers(SC, ["uwsgi-fast", "granian"], {"--protocol"}, None)
        self.assertEqual(keys, ["nginx-uwsgi-fast-tcp", "nginx-uwsgi-fast-unix",
                                "nginx-uwsgi-fast-uwsgi", "nginx-uwsgi-fast-uwsgi-unix",
                                "nginx-granian"])


def rep(rnd, block, rps):
    return {"round": rnd, "block": block, "rps": rps, "requests": int(rps * 2),
            "server_cpu_s": 1.0, "sidecar_cpu_s": {"nginx": 0.5}}


def entry(rows):
    """A scenario entry of 6 rounds; rows: {key: [(block, rps) per round]}."""
    results = []
    for key, runs in rows.items():
        reps = [rep(i, b, x) for i, (b, x) in enumerate(runs)]
        results.append({"server": key, "label": key, "rounds": reps})
    return {"name": "nginx-hello-2w", "results": results}


class Choice(unittest.TestCase):
    def setUp(self):
        # the base runs once in block 0 and once in block 1 of every round; every row's
        # ratio to the base of its own block is what counts
        base = nf.BASE_ROW
        self.ent = entry({
            base: [(0, 1000.0)] * 6,
            "nginx-uwsgi-fast-unix": [(0, 1200.0), (0, 1180.0), (0, 1220.0), (0, 1210.0),
                                      (0, 1190.0), (0, 1200.0)],
            "nginx-uwsgi-fast-uwsgi": [(0, 900.0)] * 6,
            "nginx-gunicorn-sync": [(0, 500.0)] * 6,
            "nginx-uwsgi-socket": [(0, 600.0), (0, 610.0), (0, 590.0), (0, 600.0),
                                   (0, 605.0), (0, 600.0)],
            "nginx-uwsgi-unix": [(0, 598.0), (0, 612.0), (0, 599.0), (0, 596.0),
                                 (0, 606.0), (0, 601.0)],
        })

    def test_round_ratios_pair_with_the_base_of_the_block(self):
        ent = entry({nf.BASE_ROW: [(0, 1000.0), (0, 500.0)],
                     "nginx-granian": [(0, 800.0), (1, 400.0)]})
        ent["results"][0]["rounds"].append(rep(1, 1, 800.0))
        got = nf.round_ratios(ent)
        self.assertEqual(got[nf.BASE_ROW], {0: 1.0, 1: 1.0})
        self.assertEqual(got["nginx-granian"], {0: 0.8, 1: 0.5})

    def test_best_transport_per_server(self):
        ch = nf.choose(self.ent)
        self.assertEqual(ch["best"], {"uwsgi-fast": "nginx-uwsgi-fast-unix",
                                      "gunicorn-sync": "nginx-gunicorn-sync",
                                      "uwsgi": "nginx-uwsgi-socket"})
        words = {t["server"]: nf.choice_word(t) for t in ch["transports"]}
        self.assertEqual(words["nginx-uwsgi-fast-unix"], "best")
        self.assertEqual(words[nf.BASE_ROW], "no")
        self.assertEqual(words["nginx-uwsgi-fast-uwsgi"], "no")
        self.assertEqual(words["nginx-uwsgi-unix"], "tie with best")

    def test_peers_best_against_uwsgi_fasts_best(self):
        ch = nf.choose(self.ent)
        vs = {v["backend"]: v for v in ch["best_vs_best"]}
        self.assertEqual(set(vs), {"gunicorn-sync", "uwsgi"})
        self.assertEqual(vs["uwsgi"]["uwsgi_fast"], "nginx-uwsgi-fast-unix")
        self.assertAlmostEqual(vs["gunicorn-sync"]["ratio"]["median"], 500 / 1200, 2)
        self.assertEqual(vs["gunicorn-sync"]["ratio"]["verdict"], "lower")
        self.assertEqual(vs["gunicorn-sync"]["ratio"]["n"], 6)
        self.assertEqual(nf.choose(self.ent), ch)  # seeded: the same interval every time

    def test_relative_skips_rounds_one_side_lacks(self):
        rs = nf.relative({0: 0.5, 1: 0.6, 2: 0.7}, {0: 1.0, 2: 0.5}, seed=1)
        self.assertEqual(rs["per_round"], [0.5, 1.4])

    def test_tables_render(self):
        ent = dict(self.ent, front="nginx")
        for r in ent["results"]:
            r["summary"] = {"rps": 1000.0, "p99_us": 2500, "socket_errors": 0,
                            "http_errors": 0, "cpu_s_per_10k": 1.5,
                            "front_cpu_s_per_10k": 0.7, "starved": 0, "watched": 8}
        ent["choice"] = nf.choose(ent)
        results = {"scenarios": [ent]}
        text = tables.nginx_text_tables(results)
        self.assertIn("HTTP over a unix socket, upstream keep-alive", text)
        self.assertIn("tie with best", text)
        self.assertIn("Each server's best transport", text)
        md = tables.nginx_markdown(results)
        self.assertEqual(md.count("| scenario |"), 2)
        self.assertEqual(tables.family(results, False), [])
        import report  # noqa: E402
        results.update(started="T", command="tests/bench/run --only nginx",
                       settings={"rounds": 6, "duration_s": 2, "warmup_s": 1},
                       machine={"nproc": 2, "kernel": "k", "loadavg_start": ["0.1"] * 3},
                       versions={"nginx": "1.22.1"}, uwsgi_fast={"sha256": "ab" * 32})
        md = report.nginx_md(results)
        self.assertIn("nginx 1.22.1", md)
        self.assertIn("| uWSGI | uwsgi protocol over TCP |", md)


class HelpFlags(unittest.TestCase):
    def test_a_description_saying_refused_does_not_end_the_options(self):
        import benchenv  # noqa: E402
        text = """options:
      --proxy-protocol off|v1|v2|auto
                                every connection from --proxy-allow-from starts with a PROXY
                                others are refused; the flag alone means auto (default: off)
      --protocol http|uwsgi     what every bind speaks
      --health-path PATH        answered in C
gunicorn flags that are refused with a reason (see docs/settings.md):
      --paste                   refused
"""
        self.assertEqual(benchenv.help_flags(text),
                         {"--proxy-protocol", "--protocol", "--health-path"})


if __name__ == "__main__":
    unittest.main()
