"""Unit tests of the WebSocket group: which scenarios and servers run, the servers'
commands, the echo app, the load generator wsload.c against small echo servers in this
process (one that answers right, others that answer wrong), its report in the tables,
issue 21's target and publishing the group's block alone. No benchmark server:

    python3 -m unittest discover -s tests/bench -p 'test_*.py'

wsload.c is built once per version of its source (benchenv.wsload_binary, the pinned Zig);
without the Zig the tests that run it are skipped.
"""

import asyncio
import base64
import hashlib
import socket
import struct
import subprocess
import threading
import unittest

import benchenv
import peers
import report
import run
import server
import tables
from scenarios import SCENARIO, SCENARIOS
from test_asgi import SEVEN, drive, entry, peer_row, publish_alone, results

import bench_ws  # noqa: E402  (tests/bench/apps, on sys.path through test_asgi)

WS_SCENARIOS = ["ws-echo-1w", "ws-echo-4k-1w"]
CTX = peers.Ctx("/opt/uwsgi-fast", {"--backlog", "--worker-connections"}, "/venv/sp")


def keys_of(name):
    return run.scenario_servers(SCENARIO[name], peers.SERVER_KEYS, CTX.uf_features, None)[0]


def cmd(key, name="ws-echo-1w"):
    return peers.server_command(key, SCENARIO[name], 18000, CTX)[0]


class Selection(unittest.TestCase):
    def test_only_ws_runs_the_group_and_nothing_else(self):
        args = run.parse_args(["--only", "ws"])
        self.assertEqual([s.name for s in args.scenario_list], WS_SCENARIOS)
        self.assertEqual(args.comparison_list, [])
        for argv in ([], ["--quick"], ["--only", "asgi"], ["--only", "peers"]):
            names = [s.name for s in run.parse_args(argv).scenario_list]
            self.assertFalse([n for n in names if n.startswith("ws-")], argv)

    def test_the_scenarios_of_the_issue(self):
        one, big = SCENARIO["ws-echo-1w"], SCENARIO["ws-echo-4k-1w"]
        self.assertEqual((one.workers, one.connections, one.ws_bytes, one.ws_binary),
                         (1, 100, 32, False))
        self.assertEqual((big.workers, big.connections, big.ws_bytes, big.ws_binary),
                         (1, 100, 4096, True))
        self.assertTrue(all(s.kind == "ws" for s in SCENARIOS if s.interface == "ws"))

    def test_ws_servers_only_in_ws_scenarios(self):
        self.assertEqual(keys_of("ws-echo-1w"), [k for k in peers.SERVER_KEYS
                                                 if k in peers.WS_KEYS or k == "uwsgi-fast"])
        self.assertNotIn("uvicorn", keys_of("ws-echo-1w"))
        for name in ("asgi-hello", "hello-2w"):
            self.assertFalse(set(keys_of(name)) & {"uvicorn-websockets", "uvicorn-wsproto"})
        self.assertIn("granian-asgi", keys_of("asgi-hello"))
        self.assertNotIn("granian-asgi", keys_of("hello-2w"))

    def test_servers_option_takes_the_ws_keys(self):
        args = run.parse_args(["--only", "ws", "--servers", "uvicorn-wsproto,uwsgi-fast"])
        self.assertEqual(args.server_list, ["uvicorn-wsproto", "uwsgi-fast"])


class Commands(unittest.TestCase):
    def test_uvicorn_once_per_implementation(self):
        for impl in ("websockets", "wsproto"):
            argv = cmd("uvicorn-" + impl)
            self.assertEqual(argv[argv.index("--ws") + 1], impl)
            self.assertEqual(argv[argv.index("--loop") + 1], "uvloop")
            self.assertEqual(argv[argv.index("--http") + 1], "httptools")
            self.assertEqual(argv[argv.index("--workers") + 1], "1")
            self.assertEqual(argv[-1], "bench_ws:echo")
        self.assertNotIn("--ws", cmd("uvicorn", "asgi-hello"))

    def test_granian_serves_websockets_here_only(self):
        self.assertNotIn("--no-ws", cmd("granian-asgi"))
        self.assertIn("--no-ws", cmd("granian-asgi", "asgi-hello"))

    def test_uwsgi_fast_as_in_the_asgi_group_with_one_worker(self):
        argv = cmd("uwsgi-fast", "ws-echo-4k-1w")
        self.assertEqual(argv[argv.index("-k") + 1], "asgi")
        self.assertEqual(argv[argv.index("--loop") + 1], "uvloop")
        self.assertEqual(argv[argv.index("-w") + 1], "1")

    def test_the_client_is_wsload_with_the_scenarios_message(self):
        srv = type("S", (), {"sc": SCENARIO["ws-echo-4k-1w"], "port": 9, "wsload": "/w"})()
        argv, _ = server.client_command(srv, 2)
        self.assertEqual(argv[:3], ["/w", "--port", "9"])
        self.assertEqual(argv[argv.index("--size") + 1], "4096")
        self.assertEqual(argv[argv.index("--connections") + 1], "100")
        self.assertIn("--binary", argv)
        srv.sc = SCENARIO["ws-echo-1w"]
        self.assertNotIn("--binary", server.client_command(srv, 2)[0])


class EchoApp(unittest.TestCase):
    def test_accepts_then_echoes_text_and_bytes_until_disconnect(self):
        inbox = [{"type": "websocket.connect"},
                 {"type": "websocket.receive", "text": "héllo"},
                 {"type": "websocket.receive", "bytes": b"\x00\xff"},
                 {"type": "websocket.disconnect", "code": 1000}]
        sent = drive(bench_ws.echo, "websocket", inbox)
        self.assertEqual(sent, [{"type": "websocket.accept"},
                                {"type": "websocket.send", "text": "héllo"},
                                {"type": "websocket.send", "bytes": b"\x00\xff"}])

    def test_a_send_the_close_overtook_ends_quietly(self):
        async def receive():
            return inbox.pop(0)

        async def send(msg):
            if msg["type"] == "websocket.send":
                raise ConnectionResetError("closed")

        inbox = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "x"}]
        asyncio.run(bench_ws.echo({"type": "websocket"}, receive, send))

    def test_lifespan_and_a_stray_http_request(self):
        sent = drive(bench_ws.echo, "lifespan", [{"type": "lifespan.startup"},
                                                 {"type": "lifespan.shutdown"}])
        self.assertEqual([m["type"] for m in sent], ["lifespan.startup.complete",
                                                     "lifespan.shutdown.complete"])
        sent = drive(bench_ws.echo)
        self.assertEqual(sent[1]["body"], bench_ws.HELLO)


# ---------------------------------------------------------------------------------------
# wsload.c against echo servers in this process

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("eof")
        data += chunk
    return data


def read_frame(sock):
    """(opcode, payload, masked) of one client frame."""
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(sock, 8))[0]
    mask = recv_exact(sock, 4) if b1 & 0x80 else b"\0\0\0\0"
    data = recv_exact(sock, n)
    return b0 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data)), bool(b1 & 0x80)


def frame(opcode, payload):
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


class EchoServer:
    """A WebSocket echo on loopback, one thread per connection; `fault` makes it answer
    wrong: "accept" (a wrong Sec-WebSocket-Accept), "deflate" (an extension nobody
    offered), "corrupt" (every echo with one byte changed), "close" (closes with 1011
    after the first echo). It records what it saw of the clients."""

    def __init__(self, fault=None):
        self.fault = fault
        self.requests, self.opcodes, self.unmasked, self.utf8_errors = [], set(), 0, 0
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        with s:
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += s.recv(4096)
                self.requests.append(head.decode("latin-1"))
                key = next(ln.split(":", 1)[1].strip() for ln in head.decode().split("\r\n")
                           if ln.lower().startswith("sec-websocket-key:"))
                accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
                if self.fault == "accept":
                    accept = base64.b64encode(b"x" * 20)
                extra = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" \
                    if self.fault == "deflate" else b""
                s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                          b"\r\n" + extra + b"\r\n")
                echoes = 0
                while True:
                    op, data, masked = read_frame(s)
                    self.opcodes.add(op)
                    self.unmasked += not masked
                    if op == 8:
                        s.sendall(frame(8, data[:2]))
                        return
                    if op == 1:
                        try:
                            data.decode("utf-8")
                        except UnicodeDecodeError:
                            self.utf8_errors += 1
                    if self.fault == "corrupt" and data:
                        data = bytes([data[0] ^ 1]) + data[1:]
                    if self.fault == "close" and echoes:
                        s.sendall(frame(8, struct.pack("!H", 1011)))
                        return
                    s.sendall(frame(op, data))
                    echoes += 1
            except (OSError, StopIteration):
                return

    def close(self):
        self.lsock.close()


def wsload():
    try:
        path, why = benchenv.wsload_binary()
    except OSError as e:
        path, why = None, str(e)
    if path is None:
        raise unittest.SkipTest("wsload.c not built: %s" % why)
    return path


class Wsload(unittest.TestCase):
    def run_against(self, fault=None, extra=()):
        srv = EchoServer(fault)
        try:
            argv = [wsload(), "--port", str(srv.port), "--connections", "4", "--duration",
                    "0.2", "--timeout", "2"] + list(extra)
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
        finally:
            srv.close()
        return server.parse_report(out), srv

    def test_echoes_are_counted_and_timed(self):
        rep, srv = self.run_against()
        self.assertGreater(rep["requests"], 10)
        self.assertEqual(rep["errors"], {"connect": 0, "read": 0, "write": 0, "status": 0,
                                         "timeout": 0})
        self.assertEqual(rep["ws"]["opened"], 4)
        self.assertEqual(rep["ws"]["close_replies"], 4)
        self.assertGreater(rep["latency_us"]["p99"], 0)
        self.assertLessEqual(rep["latency_us"]["p50"], rep["latency_us"]["p99"])
        self.assertEqual(rep["bytes"], 32 * rep["requests"])
        self.assertEqual(server.ws_probe_ok(rep), (True, ""))
        # text frames, every one masked and valid UTF-8; the close at the end
        self.assertEqual(srv.opcodes, {1, 8})
        self.assertEqual((srv.unmasked, srv.utf8_errors), (0, 0))

    def test_no_extension_is_offered(self):
        _, srv = self.run_against()
        self.assertEqual(len(srv.requests), 4)
        for req in srv.requests:
            self.assertIn("Sec-WebSocket-Version: 13", req)
            self.assertNotIn("extensions", req.lower())

    def test_binary_messages(self):
        rep, srv = self.run_against(extra=["--size", "4096", "--binary"])
        self.assertGreater(rep["requests"], 0)
        self.assertEqual(rep["errors"]["read"], 0)
        self.assertEqual(srv.opcodes, {2, 8})

    def test_a_wrong_accept_or_an_unoffered_extension_fails_the_upgrade(self):
        for fault in ("accept", "deflate"):
            rep, _ = self.run_against(fault)
            self.assertEqual((rep["requests"], rep["ws"]["handshake_failed"],
                              rep["errors"]["status"]), (0, 4, 4), fault)
            ok, why = server.ws_probe_ok(rep)
            self.assertFalse(ok)
            self.assertIn("upgrade failed", why)

    def test_a_changed_echo_is_caught_not_counted(self):
        rep, _ = self.run_against("corrupt")
        self.assertEqual(rep["requests"], 0)
        self.assertEqual(rep["ws"]["mismatched"], 4)
        self.assertEqual(rep["errors"]["read"], 4)
        self.assertIn("mismatched", server.ws_probe_ok(rep)[1])

    def test_a_close_by_the_server_is_counted(self):
        rep, _ = self.run_against("close")
        self.assertEqual(rep["ws"]["closed_by_server"], 4)

    def test_refused_connections(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # bound, not listening: connect is refused
            out = subprocess.run([wsload(), "--port", str(port), "--connections", "3",
                                  "--duration", "0.2"], capture_output=True, text=True,
                                 timeout=20).stdout
        rep = server.parse_report(out)
        self.assertEqual((rep["requests"], rep["errors"]["connect"]), (0, 3))
        self.assertEqual(server.ws_probe_ok(rep), (False, "connection refused"))


# ---------------------------------------------------------------------------------------
# tables, target, publishing

def ws_results(rows, name="ws-echo-1w"):
    return dict(results([entry(name, rows)]), command="tests/bench/run --only ws")


class Tables(unittest.TestCase):
    def test_the_ws_table_counts_messages(self):
        res = ws_results([peer_row("uvicorn-websockets", SEVEN(0.4))])
        md = tables.markdown_table(res, ws=True)
        self.assertIn("| scenario | server | msg/s |", md)
        self.assertIn("CPU s/10k msg", md)
        self.assertNotIn("starved", md)
        self.assertIn("| ws-echo-1w | uvicorn --ws websockets | 3880 |", md)
        self.assertIn("0.40x", md)

    def test_groups_partition(self):
        ws, asgi = entry("ws-echo-1w", []), entry("asgi-hello", [])
        res = results([ws, asgi])
        self.assertEqual(tables.family(res, False, ws=True), [ws])
        self.assertEqual(tables.family(res, False, asgi=True), [asgi])
        self.assertEqual(tables.side_by_side(res), [])

    def test_websocket_errors_in_the_notes(self):
        row = peer_row("hypercorn", SEVEN(0.3))
        row["rounds"] = [{"errors": {"timeout": 2}, "ws": {"mismatched": 3, "eof": 1}},
                         {"errors": {"timeout": 0}, "ws": {"mismatched": 1}}]
        notes = "\n".join(tables.notes_lines(ws_results([row]), ws=True))
        self.assertIn("Hypercorn: WebSocket errors over its runs: 4 echoes that differ, "
                      "1 connections dropped, 2 echoes not back within the timeout", notes)

    def test_the_clients_cpu_in_the_notes(self):
        row = peer_row("granian-asgi", SEVEN(0.4))
        row["rounds"] = [{"wrk_cpu_s": c, "wall_s": 2.0} for c in (0.5, 1.0, 1.9)]
        notes = "\n".join(tables.notes_lines(ws_results([row]), ws=True))
        self.assertIn("wsload.c's CPU, share of one core (median over runs): granian asgi 50%",
                      notes)

    def test_a_peer_without_websockets_shows_why(self):
        row = {"server": "gunicorn-asgi", "label": "gunicorn asgi",
               "error": "no WebSocket echo: the upgrade failed"}
        self.assertIn("| ws-echo-1w | gunicorn asgi | no WebSocket echo: the upgrade failed",
                      tables.markdown_table(ws_results([row]), ws=True))


class Target(unittest.TestCase):
    def text(self, rows):
        return "\n".join(report.ws_targets(ws_results(rows)))

    def test_against_the_best_peer(self):
        text = self.text([peer_row("uvicorn-websockets", SEVEN(0.25)),
                          peer_row("granian-asgi", SEVEN(0.4))])
        self.assertRegex(text, r"ws-echo-1w: .*best peer \(granian asgi\) = 2\.50x .*"
                               r"target >= 2\.0x: met\)")
        text = self.text([peer_row("granian-asgi", SEVEN(0.6))])
        self.assertIn("= 1.67x", text)
        self.assertIn("**missed**", text)
        self.assertIn("not established (too few rounds)",
                      self.text([peer_row("granian-asgi", [0.4])]))

    def test_without_peers(self):
        self.assertIn("not measured", self.text([]))


class Publish(unittest.TestCase):
    def test_publish_rewrites_the_ws_block_alone(self):
        res = ws_results([peer_row("uvicorn-wsproto", SEVEN(0.4))])
        text = publish_alone(self, res, "ws")
        self.assertIn("| ws-echo-1w | uvicorn --ws wsproto | 3880 |", text)
        self.assertIn("Against issue 21's target", text)

    def test_the_tuning_table_counts_messages(self):
        res = ws_results([peer_row("granian-asgi", SEVEN(0.4))])
        res["tuning"] = {"ws": {"granian-asgi": {
            "label": "granian asgi", "scenario": "ws-echo-1w", "chosen": "st",
            "reason": "highest", "candidates": [{"variant": "st", "flags": [], "rps": 9.0,
                                                 "p99_us": 1000}]}}}
        text = report.ws_md(res)
        self.assertIn("| server | variant | flags | msg/s | p99 | kept |", text)


if __name__ == "__main__":
    unittest.main()
