"""Log shipping (--log-target) and statsd (--statsd-host), with collectors on loopback.

Every access line must reach a UDP or TCP collector, in JSON or RFC 5424; a collector
that accepts and then never reads must not slow requests down (its lines are dropped and
counted instead).
"""
import json
import re
import select
import socket
import threading
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port, wait_until

SYSLOG = re.compile(r"^<(\d+)>1 (\S+) (\S+) uwsgi-fast (\d+) (access|error) - (.*)$", re.S)


class UdpCollector:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.port = self.sock.getsockname()[1]
        self.messages = []

    def drain(self, timeout=0.2):
        while select.select([self.sock], [], [], timeout)[0]:
            self.messages.append(self.sock.recv(65536))
            timeout = 0.05
        return self.messages

    def close(self):
        self.sock.close()


class TcpCollector:
    """Accepts connections and reads them (unless stalled) on a thread."""

    def __init__(self, read=True):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if not read:   # a small window fills quickly
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.read = read
        self.data = bytearray()
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            socks = [self.listener] + (self.conns if self.read else [])
            ready = select.select(socks, [], [], 0.05)[0]
            for s in ready:
                if s is self.listener:
                    self.conns.append(self.listener.accept()[0])
                    continue
                chunk = s.recv(65536)
                if not chunk:
                    self.conns.remove(s)
                    s.close()
                self.data += chunk

    def lines(self):
        return bytes(self.data).split(b"\n")

    def close(self):
        self.stop = True
        self.thread.join(2)
        for s in self.conns + [self.listener]:
            s.close()


def access_records(messages):
    out = []
    for m in messages:
        if not m:
            continue
        rec = json.loads(m)
        if rec["type"] == "access":
            out.append(rec)
    return out


def test_udp_collector_receives_every_line_as_json(server):
    col = UdpCollector()
    try:
        srv = server("observe:app", workers=2, args=[
            "--log-target", f"udp://127.0.0.1:{col.port}",
            "--access-logformat", "%(r)s %(s)s %({x-n}i)s"])
        srv.wait_workers(2)
        n = 60
        conn = srv.connection()
        for i in range(n):
            conn.request("GET", f"/?i={i}", headers={"X-N": str(i)})
            conn.getresponse().read()
        conn.close()
        wanted = {str(i) for i in range(n)}
        got = {}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not wanted <= set(got):
            for rec in access_records(col.drain()):
                got[rec["req_header.x-n"]] = rec
            col.messages.clear()
        assert wanted <= set(got), f"missing {sorted(wanted - set(got))[:10]}"
        rec = got["7"]
        assert rec["request"] == "GET /?i=7 HTTP/1.1" and rec["status"] == 200
        assert rec["worker"] in (0, 1) and rec["pid"] in srv.worker_pids() and rec["host"]
        srv.stop()
        errors = [json.loads(m) for m in col.drain() if m and json.loads(m)["type"] == "error"]
        # the master's own lines are shipped too (it shipped at least its shutdown)
        assert any("Shutting down" in e["message"] for e in errors), errors
        assert all(e["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") for e in errors)
    finally:
        col.close()


def strict_json(text):
    """json.loads that refuses a repeated key, as Elasticsearch does."""
    def pairs(items):
        keys = [k for k, _ in items]
        assert len(keys) == len(set(keys)), f"repeated key in {text}"
        return dict(items)
    return json.loads(text, object_pairs_hook=pairs)


def test_shipped_lines_have_each_key_once_and_one_time_format(server):
    """An access format that names pid and worker (%(p)s %(w)s) does not make the shipped
    line repeat them; access and error lines carry RFC 3339 UTC times with milliseconds."""
    col = UdpCollector()
    try:
        srv = server("observe:app", workers=1, args=[
            "--log-target", f"udp://127.0.0.1:{col.port}",
            "--access-logformat", "%(t)s %(p)s %(w)s %(r)s %(s)s"])
        (pid,) = srv.worker_pids()
        for i in range(3):
            srv.request("GET", f"/?i={i}")
        recs = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(recs) < 3:
            recs += [r for r in (strict_json(m) for m in col.drain() if m and b'"access"' in m)
                     if "?i=" in r["request"]]  # not the fixture's start-up probe
        assert len(recs) == 3, recs
        for rec in recs:
            assert rec["pid"] == pid and rec["worker"] == 0
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["time"]), rec
        srv.stop()
        errors = [strict_json(m) for m in col.drain() if m and b'"type":"error"' in m]
        assert errors
        for e in errors:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"]), e
    finally:
        col.close()


def test_udp_collector_rfc5424(server):
    col = UdpCollector()
    try:
        srv = server("observe:app", args=["--log-target", f"udp://127.0.0.1:{col.port}",
                                          "--log-target-format", "rfc5424"])
        for i in range(5):
            srv.request("GET", f"/status/404?i={i}")
        msgs = []
        assert wait_until(lambda: len([m for m in msgs + col.drain() if b" access - " in m])
                          >= 6, 5)
        access = [m.decode("latin-1") for m in col.messages if b" access - " in m]
        for i, m in enumerate(access[1:]):
            g = SYSLOG.match(m)
            assert g, m
            pri, ts, host, pid, kind, msg = g.groups()
            assert pri == "14" and kind == "access" and int(pid) == srv.worker_pids()[0]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts)
            assert f'"GET /status/404?i={i} HTTP/1.1" 404 6' in msg
    finally:
        col.close()


def test_application_error_is_shipped_with_its_traceback(server):
    """The application's failure reaches the collector as one error record from its
    worker: the request line and the whole traceback in the message."""
    col = UdpCollector()
    try:
        srv = server("basic:app", args=["--log-target", f"udp://127.0.0.1:{col.port}"])
        assert srv.request("GET", "/error").status == 500
        found = []

        def shipped():
            for m in col.drain():
                rec = json.loads(m) if m else {}
                if rec.get("type") == "error" and "Error handling request" in rec["message"]:
                    found.append(rec)
            col.messages.clear()
            return found

        assert wait_until(shipped, 5), srv.log()
        rec = found[0]
        assert rec["level"] == "ERROR" and rec["pid"] in srv.worker_pids() and rec["worker"] == 0
        msg = rec["message"]
        assert msg.startswith("Error handling request GET /error\nTraceback (most recent call last):\n")
        assert "basic.py" in msg and "RuntimeError: boom-integration-sentinel" in msg, msg
    finally:
        col.close()


def test_tcp_collector_receives_every_line(server):
    col = TcpCollector()
    try:
        srv = server("observe:app", workers=2,
                     args=["--log-target", f"tcp://127.0.0.1:{col.port}",
                           "--access-logformat", "%({x-n}i)s"])
        srv.wait_workers(2)
        n = 300
        conn = srv.connection()
        for i in range(n):
            conn.request("GET", "/", headers={"X-N": str(i)})
            conn.getresponse().read()
        conn.close()

        def received():
            recs = [json.loads(l) for l in col.lines() if l.strip()]
            return {r["req_header.x-n"] for r in recs if r["type"] == "access"}
        assert wait_until(lambda: {str(i) for i in range(n)} <= received(), 5), \
            f"missing {sorted({str(i) for i in range(n)} - received())[:10]}"
        assert srv.stop() == 0
    finally:
        col.close()


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                return s.value
    raise KeyError(name)


def test_stalled_tcp_collector_does_not_slow_requests(server):
    """The collector accepts and never reads: once the socket buffers and our bounded
    queue are full, lines are dropped and counted, and requests go on at full speed."""
    col = TcpCollector(read=False)
    stats = free_port()
    try:
        srv = server("observe:app", args=[
            "--log-target", f"tcp://127.0.0.1:{col.port}", "--stats-bind", f"127.0.0.1:{stats}",
            "--access-logformat", "%(a)s"])   # long user agents: big lines fill it fast
        agent = "x" * 8000
        conn = srv.connection()
        worst = 0.0
        start = time.monotonic()
        n = 1500
        for i in range(n):
            t = time.monotonic()
            conn.request("GET", "/", headers={"User-Agent": agent})
            assert conn.getresponse().read() == b"hello"
            worst = max(worst, time.monotonic() - t)
        elapsed = time.monotonic() - start
        conn.close()
        assert wait_until(lambda: metric(stats, "uwsgi_fast_log_target_dropped_total") > 0, 5), \
            "the stalled collector never made us drop a line (did it take everything?)"
        # 1500 requests of 8 KB on loopback take well under a second here; a server that
        # waited for the collector would not finish at all
        assert elapsed < 15 and worst < 1.0, (elapsed, worst)
        assert wait_until(lambda: "dropped (the collector is slow or unreachable" in srv.log(),
                          12), "the drops were not reported in the error log"
        # a stalled collector does not hold up a graceful stop for long either
        t = time.monotonic()
        assert srv.stop() == 0
        assert time.monotonic() - t < 8
    finally:
        col.close()


def test_statsd_like_gunicorn(server):
    col = UdpCollector()
    try:
        srv = server("observe:app", args=["--statsd-host", f"127.0.0.1:{col.port}",
                                          "--statsd-prefix", "myapp"])
        srv.request("GET", "/")
        srv.request("GET", "/status/404")
        lines = []

        def have():
            lines.extend(l for m in col.drain() for l in m.decode().splitlines())
            col.messages.clear()
            return "myapp.gunicorn.request.status.404:1|c|@1.0" in lines and \
                any(l.startswith("myapp.gunicorn.workers:") for l in lines)
        assert wait_until(have, 5), "\n".join(lines)
        assert lines.count("myapp.gunicorn.requests:1|c|@1.0") >= 3   # the probe, and ours
        assert "myapp.gunicorn.request.status.200:1|c|@1.0" in lines
        durations = [l for l in lines if l.startswith("myapp.gunicorn.request.duration:")]
        assert durations and all(re.fullmatch(r"myapp\.gunicorn\.request\.duration:\d+\.\d{3}\|ms",
                                              d) for d in durations)
        assert "myapp.gunicorn.workers:1|g" in lines
    finally:
        col.close()


def test_unix_datagram_collector(server, tmp_path):
    """unix:/PATH to a datagram socket, as /dev/log is."""
    path = tmp_path / "log.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        srv = server("observe:app", args=["--log-target", f"unix:{path}",
                                          "--log-target-format", "rfc5424"])
        srv.request("GET", "/?via=unix")
        got = []

        def seen():
            while select.select([sock], [], [], 0.05)[0]:
                got.append(sock.recv(65536).decode("latin-1"))
            return any('"GET /?via=unix HTTP/1.1" 200 5' in m for m in got)
        assert wait_until(seen, 5), got
        assert all(SYSLOG.match(m) for m in got), got
    finally:
        sock.close()
