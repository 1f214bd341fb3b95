"""One server under test and one load run against it: start, probe, settle, stop; wrk
(or mixload.py in the mixed scenarios) with the server's CPU time read from /proc; the
canary connections that catch a server starving the clients it did not accept.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from benchenv import APPS, MIXLOAD, WRK_SCRIPT, server_env
from peers import SPEC, server_command
from procstat import (cpu_ns, open_connections, system_busy, tree_cpu, tree_cpu_by_pid,
                      tree_pids)
from scenarios import BODY_1M, HELLO, split_cpus

_ports_given = set()


def free_port():
    """A loopback port no server of this run has been given yet: the kernel may hand the
    same free port out twice once the probing socket is closed, and two servers started
    side by side would then race for it."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


class Server:
    """One server process tree on one scenario: its argv (from peers.server_command with
    `variant`, default tuning's choice), its log file, its state across the runs."""

    def __init__(self, key, sc, ctx, log_dir, variant=None, name=None):
        self.key = key
        self.name = name or key  # distinct per process: tuning runs several of one key
        self.variant = variant
        self.spec = SPEC[key]
        self.sc = sc
        self.port = free_port()
        # config_notes: how this server is set up (printed once per server under the
        # table); notes: what happened in this scenario.
        self.argv, self.config_notes = self.build_command(ctx)
        self.wsload = ctx.wsload  # the WebSocket scenarios' client (wsload.c)
        self.notes = []
        self.log_path = server_log_path(log_dir, sc, self.name)
        self.proc = None
        self.error = None
        self.keepalive = None
        self.rss_kb = []
        self.worker_cpus = []  # each worker's allowed CPUs, read at the end of the scenario
        self.worker_exits = 0
        self.discarded = []  # runs of rounds measured again (the reference moved)

    def build_command(self, ctx):
        """(argv, config notes) of this server on its port; nginx_front.NginxServer builds
        the backend behind nginx instead."""
        return server_command(self.key, self.sc, self.port, ctx, self.variant)

    def sidecars(self):
        """{name: root pid} of processes that serve this row's requests besides the server
        (the nginx in front): their CPU is measured apart, never added to the server's."""
        return {}

    @property
    def path(self):
        return "/health" if self.key in ("uwsgi-fast-health", "reference") else self.sc.path

    def start(self):
        self.log = open(self.log_path, "wb")
        cpus, _ = split_cpus(self.sc)
        shared = "one CPU only: the server and the load generator share it"
        if self.sc.split_cpus and not cpus and shared not in self.notes:
            self.notes.append(shared)
        try:
            self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=server_env(),
                                         cwd=APPS, start_new_session=True,
                                         preexec_fn=confine_to(cpus))
        except OSError as e:
            self.error = "failed to start: %s" % e

    def restart_on_new_port(self, ctx):
        self.notes.append("port %d was taken at start; started again on another" % self.port)
        self.log.close()
        self.port = free_port()
        self.argv, _ = self.build_command(ctx)
        self.error = None
        self.start()

    def log_tail(self, n=3):
        try:
            with open(self.log_path, "rb") as f:
                lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines()
                         if ln.strip()]
            # The line that says why a server stopped is usually its last
            # error, not its first banner line: show errors first, and cut
            # from the front so the end survives.
            errors = [ln for ln in lines if re.search(r"\b(ERROR|CRITICAL|Error|Traceback)\b", ln)]
            return " | ".join((errors or lines)[-n:])[-400:]
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, deadline):
        """Polls the port until it accepts, then checks one response by hand."""
        if self.error:
            return False
        while time.monotonic() < deadline:
            if not self.alive():
                self.error = "exited at start (status %s): %s" % (self.proc.returncode,
                                                                 self.log_tail())
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.error = "not listening after start timeout: %s" % self.log_tail()
            return False
        return self.probe()

    def probe(self):
        """One request by hand (then a second on the same connection): right status, right
        body, and whether the server keeps the connection alive. In the WebSocket group:
        one connection of wsload.c for a moment, which upgrades, echoes and checks."""
        if self.sc.interface == "ws":
            return self.probe_ws()
        body = b"b" * self.sc.body_bytes if self.sc.body_bytes else None
        method = "POST" if body else "GET"
        headers = {"Content-Type": "application/octet-stream"} if body else {}
        last_err = None
        for _attempt in range(20):  # workers may still be importing the app
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            try:
                conn.request(method, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                will_close = resp.will_close
                ok, why = probe_ok(self.check_kind(), resp.status, data, body)
                if not ok:
                    self.error = "wrong response: %s" % why
                    return False
                if resp.getheader("X-File-Wrapper") == "no":
                    self.notes.append("no wsgi.file_wrapper: the app read the file itself")
                self.keepalive = False
                if not will_close:
                    conn.request(method, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    self.keepalive = resp.status == 200
                if not self.keepalive:
                    self.config_notes.append("closes the connection after each response")
                return True
            except (OSError, http.client.HTTPException) as e:
                last_err = e
                if not self.alive():
                    break
                time.sleep(0.25)
            finally:
                conn.close()
        self.error = "no answer: %r %s" % (last_err, self.log_tail())
        return False

    def probe_ws(self):
        """The upgrade and a few echoes on one connection (wsload.c checks the 101, the
        accept key and every echo); tried again while the workers import the app."""
        why = ""
        for _attempt in range(20):
            argv = ws_client_argv(self.wsload, self.sc, self.port, PROBE_S, connections=1)
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=15)
                rep = parse_report(r.stdout)
            except (OSError, subprocess.TimeoutExpired) as e:
                rep, why = None, str(e)
            if rep is not None:
                ok, why = ws_probe_ok(rep)
                if ok:
                    self.keepalive = True  # one connection for all of its messages
                    return True
            if not self.alive():
                break
            time.sleep(0.25)
        self.error = "no WebSocket echo: %s %s" % (why, self.log_tail())
        return False

    def check_kind(self):
        return "status" if self.key in ("uwsgi-fast-health", "reference") else self.sc.check

    def stop(self):
        t0 = time.monotonic()
        try:
            self._stop()
        finally:
            self.stop_s = round(time.monotonic() - t0, 2)

    def _stop(self):
        if self.proc is None:
            return
        pids = tree_pids(self.proc.pid) if self.alive() else []
        # INT goes to the master alone (it stops its workers; a second INT sent straight to
        # a gunicorn or Granian worker makes it linger); KILL goes to the whole group.
        for sig, grace in ((signal.SIGINT, self.spec.stop_grace), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            try:
                if sig == signal.SIGKILL or grace <= 0:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace if grace > 0 else 0.001)
            except subprocess.TimeoutExpired:
                pass
        # A worker that left the process group must not outlive the run.
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()

    def workers(self):
        """Worker pids: every process under the root, or the root when it works alone."""
        pids = tree_pids(self.proc.pid)
        return [p for p in pids if p != self.proc.pid] or pids

    def settle(self, limit):
        """Waits (up to `limit` s) until the server is idle: no CPU use and no connection
        left on its port. When wrk stops, a server may still hold requests from the
        connections wrk closed (read but unanswered, or waiting in the accept queue); an
        app that sleeps uses no CPU while it drains them, hence the socket check. Without
        the wait, that backlog would run during the next measurement. Returns whether
        the server became idle."""
        end = time.monotonic() + limit
        prev = tree_cpu(self.proc.pid)
        while time.monotonic() < end:
            time.sleep(0.1)
            cur = tree_cpu(self.proc.pid)
            if cur - prev < 0.015 and open_connections(self.port) == 0:
                return True
            prev = cur
        return False


def server_log_path(log_dir, sc, key):
    return os.path.join(log_dir, "%s-%s.log" % (sc.name, key))




def probe_ok(kind, status, data, sent):
    if status != 200:
        return False, "HTTP %d: %r" % (status, data[:120])
    if kind == "status":
        return True, ""
    if kind == "hello":
        return data == HELLO, "body %r" % data[:40]
    if kind.startswith("len:"):
        n = int(kind[4:])
        return len(data) == n, "body of %d bytes, want %d" % (len(data), n)
    if kind == "body1m":
        return data == BODY_1M, "body of %d bytes differs from the 1 MiB pattern" % len(data)
    if kind == "echo":
        return data == sent, "echo of %d bytes, sent %d" % (len(data), len(sent or b""))
    if kind == "json":
        try:
            doc = json.loads(data)
        except ValueError:
            return False, "not JSON: %r" % data[:60]
        return doc.get("status") == "ok" and doc.get("count") == 10, "JSON %r" % data[:60]
    raise KeyError(kind)


# ---------------------------------------------------------------------------------------
# Canary connections: does the server answer every client, or only those it accepted?
#
# A server whose workers each hold one keep-alive connection until the client closes it
# (uWSGI's sync workers, for one) serves the first N connections wrk opens and leaves the
# rest in the accept queue for the whole run. wrk's latency only covers answered requests
# and its timeout check runs every 2 s, so such a server looks fast. Half a second after
# wrk starts, the harness opens CANARIES connections of its own, each sending one request
# every CANARY_PERIOD seconds (keep-alive; reconnecting when the server closes). A canary
# that once waited far longer than wrk's p99 (see count_starved) is "starved": the server
# answers the connections it holds and lets the others wait. Their load (~30 req/s) is
# noise.

CANARIES = 8
CANARY_PERIOD = 0.25


class Canary(threading.Thread):
    def __init__(self, port, path, body, stop):
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % ("POST" if body else "GET", path)
        if body:
            head += "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n" % len(body)
        self.request = head.encode() + b"\r\n" + (body or b"")
        self.answered = 0
        self.max_wait = 0.0
        self.error = None

    def run(self):
        sock = None
        try:
            while not self.stop.is_set():
                sent = time.monotonic()
                while sock is None:
                    try:
                        sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                    except socket.timeout:  # a full accept queue drops SYNs
                        if self.stop.is_set():
                            self.max_wait = max(self.max_wait, time.monotonic() - sent)
                            return
                        continue
                    sock.settimeout(0.1)
                sock.sendall(self.request)
                keep = self.read_response(sock, sent)
                if keep is None:
                    return  # stopped while waiting: max_wait already holds the wait
                self.answered += 1
                self.max_wait = max(self.max_wait, time.monotonic() - sent)
                if not keep:
                    sock.close()
                    sock = None
                self.stop.wait(max(0.0, CANARY_PERIOD - (time.monotonic() - sent)))
        except OSError as e:
            self.error = str(e)
        finally:
            if sock is not None:
                sock.close()

    def read_response(self, sock, sent):
        """Reads one response; returns whether the connection stays open, None if stopped."""
        buf = b""
        need = None
        keep = True
        while True:
            if need is None and b"\r\n\r\n" in buf:
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                hdrs = {}
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    hdrs[k.strip().lower()] = v.strip().lower()
                keep = lines[0].startswith("HTTP/1.1") and hdrs.get("connection") != "close"
                if "content-length" in hdrs:
                    need = int(hdrs["content-length"])
                elif hdrs.get("transfer-encoding") == "chunked":
                    need = -1
                else:
                    need, keep = -2, False  # body ends when the server closes
            if need is not None and need >= 0 and len(buf) >= need:
                return keep
            if need == -1 and buf.endswith(b"0\r\n\r\n"):
                return keep
            try:
                data = sock.recv(1 << 20)
            except socket.timeout:
                if self.stop.is_set():
                    self.max_wait = max(self.max_wait, time.monotonic() - sent)
                    return None
                continue
            if not data:
                if need == -2:
                    return False
                raise ConnectionError("closed by the server before a full response")
            buf += data


def start_canaries(server):
    stop = threading.Event()
    body = b"b" * server.sc.body_bytes if server.sc.body_bytes else None
    canaries = [Canary(server.port, server.path, body, stop) for _ in range(CANARIES)]
    for c in canaries:
        c.start()
    return stop, canaries


def stop_canaries(stop, canaries):
    stop.set()
    for c in canaries:
        c.join(timeout=5)
    return {
        "canaries": len(canaries),
        "answered": sum(c.answered for c in canaries),
        "max_waits_s": [round(c.max_wait, 3) for c in canaries],
        "errors": [c.error for c in canaries if c.error][:3],
    }


def count_starved(canary, p99_us):
    """Canaries whose longest wait exceeded max(1 s, 10 x wrk's p99): far beyond what the
    clients wrk measured saw, so the server was not serving every connection in turn."""
    limit = max(1.0, 10 * p99_us / 1e6)
    canary["starve_limit_s"] = round(limit, 3)
    # When wrk got no answer either, everyone waited alike: slow, not unfair.
    canary["starved"] = sum(1 for w in canary["max_waits_s"] if w > limit) if p99_us else 0
    canary["max_wait_s"] = max(canary["max_waits_s"], default=0.0)


def starved_clients(clients):
    """mixload.py's own clients, judged for starvation in the canaries' terms. Not by their
    rule: when the clients a server leaves in its accept queue are more than 1% of the
    requests (12 of 16 clients for a whole 2 s slow5 run on uWSGI), their wait is the p99
    and the limit grows with the starvation; and the starved may be most clients. A
    client is starved when it was answered fewer than a tenth as often as the best-served
    client and once waited over a second."""
    answered = [c["answered"] for c in clients]
    floor = max(answered, default=0) / 10
    waits = [c["max_wait_s"] for c in clients]
    return {"canaries": len(clients), "answered": sum(answered), "max_waits_s": waits,
            "errors": [], "max_wait_s": max(waits, default=0.0),
            "starved": sum(1 for c in clients if c["answered"] < floor and c["max_wait_s"] > 1)}


# ---------------------------------------------------------------------------------------
# The WebSocket group's client: tests/bench/wsload.c

PROBE_S = 0.2  # seconds of echoes on the probe's one connection


def ws_client_argv(wsload, sc, port, seconds, connections=None):
    """argv of wsload.c for one run of a WebSocket scenario (text or binary messages of
    sc.ws_bytes, sc.connections closed loops unless `connections`)."""
    argv = [wsload, "--port", str(port), "--path", sc.path,
            "--connections", str(connections or sc.connections), "--duration", str(seconds),
            "--size", str(sc.ws_bytes), "--timeout", str(sc.timeout)]
    return argv + (["--binary"] if sc.ws_binary else [])


def parse_report(text):
    """The last "@@WRK_JSON {...}" line of a client's output (wrk's report.lua, mixload.py
    and wsload.c print the same shape), or None."""
    report = None
    for line in text.splitlines():
        if line.startswith("@@WRK_JSON "):
            report = json.loads(line[len("@@WRK_JSON "):])
    return report


def ws_probe_ok(rep):
    """(ok, why) of a probe's wsload report: upgraded, echoed, nothing wrong."""
    ws = rep.get("ws", {})
    e = rep["errors"]
    if e["connect"]:
        return False, "connection refused"
    if ws.get("handshake_failed"):
        return False, "the upgrade failed (no 101, a wrong Sec-WebSocket-Accept, or an " \
            "extension nobody offered)"
    wrong = {k: ws.get(k) for k in ("bad_frames", "mismatched", "closed_by_server", "eof",
                                    "read_errors") if ws.get(k)}
    if wrong or e["write"] or e["timeout"]:
        return False, "errors %s" % (wrong or e)
    if not rep["requests"]:
        return False, "no echo"
    return True, ""


def confine_to(cpus):
    """A preexec_fn that confines the child (and all it starts) to `cpus`, or None."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


# ---------------------------------------------------------------------------------------
# wrk


def client_command(server, seconds):
    """argv and environment of the load generator for one run: wrk, in the mixed
    scenarios tests/bench/mixload.py, in the WebSocket group tests/bench/wsload.c. Each
    prints one "@@WRK_JSON {...}" line."""
    sc = server.sc
    if sc.interface == "ws":
        return ws_client_argv(server.wsload, sc, server.port, seconds), dict(os.environ)
    if sc.mix:
        argv = [sys.executable, MIXLOAD, "--port", str(server.port), "--mix", sc.mix,
                "--connections", str(sc.connections), "--duration", str(seconds),
                "--timeout", str(sc.timeout)] + (["--close"] if sc.close else [])
        return argv, dict(os.environ)
    argv = ["wrk", "-t%d" % sc.wrk_threads, "-c%d" % sc.connections, "-d%ds" % seconds,
            "--timeout", "%ds" % sc.timeout, "-s", WRK_SCRIPT,
            "http://127.0.0.1:%d%s" % (server.port, server.path)]
    return argv, dict(os.environ, BENCH_BODY_BYTES=str(sc.body_bytes))


def run_client(server, seconds, out_path, canaries=False):
    """One run of the load generator against `server`. Returns the parsed report plus
    the server's CPU seconds, the client's own CPU seconds (wrk_cpu_s) and the whole
    machine's busy CPU during the run (and, with canaries=True, how the canary connections
    fared). The mixed scenarios have no canaries: mixload.py reports how often each of
    its own clients was answered, and starved_clients() judges them."""
    argv, env = client_command(server, seconds)
    root = server.proc.pid
    sides = server.sidecars()
    with open(out_path, "wb") as out:
        side0 = {name: tree_cpu(pid) for name, pid in sides.items()}
        by0, busy0, t0 = tree_cpu_by_pid(root), system_busy(), time.monotonic()
        ns0 = {p: cpu_ns(p) for p in by0 if p != root}
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL,
                                preexec_fn=confine_to(split_cpus(server.sc)[1]))
        canary = None
        # no HTTP canaries beside WebSockets: wsload.c's clients are all the load
        if canaries and seconds >= 2 and not server.sc.mix and server.sc.interface != "ws":
            time.sleep(0.5)
            canary = start_canaries(server)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        by1, busy1, t1 = tree_cpu_by_pid(root), system_busy(), time.monotonic()
        ns1 = {p: cpu_ns(p) for p in ns0}
        side1 = {name: tree_cpu(pid) for name, pid in sides.items()}
        if canary:
            canary = stop_canaries(*canary)
    with open(out_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    report = parse_report(text)
    if report is None:
        raise RuntimeError("%s printed no report (exit %s): %s"
                           % (os.path.basename(argv[1] if server.sc.mix else argv[0]),
                              proc.returncode, text.strip()[-300:]))
    server_cpu = sum(by1.values()) - sum(by0.values())
    wrk_cpu = ru.ru_utime + ru.ru_stime
    report["server_cpu_s"] = round(server_cpu, 3)
    # How the work spread over the workers: SO_REUSEPORT hashing, or a steering program,
    # may hand one worker most connections.
    workers = [p for p in by1 if p in by0 and p != root] or [root]
    report["worker_cpu_s"] = {str(p): round(by1[p] - by0.get(p, 0.0), 3) for p in workers}
    # the same in nanoseconds, where every worker could be read before and after (the
    # engine comparisons' per-request CPU: finer than the ticks above)
    ns = {str(p): ns1[p] - ns0[p] for p in workers
          if ns0.get(p) is not None and ns1.get(p) is not None and ns1[p] >= ns0[p]}
    if len(ns) == len(workers):
        report["worker_cpu_ns"] = ns
    report["wrk_cpu_s"] = round(wrk_cpu, 3)
    report["wall_s"] = round(t1 - t0, 3)
    side_cpu = {name: max(0.0, side1[name] - side0[name]) for name in sides}
    if sides:
        report["sidecar_cpu_s"] = {name: round(v, 3) for name, v in side_cpu.items()}
    # Busy CPU that was neither the server (nor its nginx) nor wrk: other engineers'
    # builds, the kernel's softirq work on others' behalf... A large value marks a noisy
    # measurement.
    report["other_cpu_s"] = round(max(0.0, (busy1 - busy0) - server_cpu - wrk_cpu
                                      - sum(side_cpu.values())), 3)
    dur = report["duration_us"] / 1e6
    report["rps"] = round(report["requests"] / dur, 1) if dur > 0 else 0.0
    e = report["errors"]
    report["socket_errors"] = e["connect"] + e["read"] + e["write"] + e["timeout"]
    report["http_errors"] = e["status"]
    if canary:
        count_starved(canary, report["latency_us"]["p99"])
        report["canary"] = canary
    elif canaries and server.sc.mix:
        report["canary"] = starved_clients(report["clients"])
    return report
