"""Access log, metrics, health and readiness (issue 7), against the real binary.

The access log is checked field by field for a set of requests (text and JSON, hostile
header values included), across a logrotate-style rename + USR1, and at graceful stop;
/metrics is parsed with prometheus_client's text-format parser and its counters compared
with the requests sent; readiness must flip to 503 while draining and when saturated.
"""
import base64
import json
import re
import signal
import socket
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import APPS, build_request, free_port, read_response, run_binary, wait_until

DEFAULT_LINE = re.compile(
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\S+) (\S+) '
    r'"((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$')

HOSTILE_UA = 'evil" 200 1 "-" "forged\\ line\té'   # quote, backslash, tab, latin-1
HOSTILE_REF = '"-'


def unescape(text):
    """Undoes the text escaping: \\" \\\\ and \\xHH, back to the bytes sent (latin-1)."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            n = text[i + 1]
            if n == "x":
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
            out.append(ord(n))
            i += 2
            continue
        out.append(ord(c))
        i += 1
    return out.decode("latin-1")


def send(srv, method, path, headers=(), body=b"", version="HTTP/1.1"):
    resps, sock, _ = srv.raw(build_request(method, path, headers, body, version), method=method)
    sock.close()
    return resps[0]


# (method, path, headers, body, version, expected status, expected body bytes)
REQUESTS = [
    ("GET", "/?a=1", [("Referer", "http://ref.example/"), ("User-Agent", "ua/1"),
                      ("X-Req-Id", "r1")], b"", "HTTP/1.1", 200, 5),
    ("POST", "/status/201", [("X-Req-Id", "r2")], b"abc", "HTTP/1.1", 201, 6),
    ("GET", "/status/404?x=%41", [("X-Req-Id", "r3")], b"", "HTTP/1.1", 404, 6),
    ("HEAD", "/", [("X-Req-Id", "r4")], b"", "HTTP/1.1", 200, 0),
    ("GET", "/", [("X-Req-Id", "r5")], b"", "HTTP/1.0", 200, 5),
    ("GET", "/header?v=tr%22ace", [("Authorization", "Basic " +
                                    base64.b64encode(b"alice:pw").decode()),
                                   ("X-Req-Id", "r6")], b"", "HTTP/1.1", 200, 2),
    ("GET", "/", [("User-Agent", HOSTILE_UA), ("Referer", HOSTILE_REF), ("X-Req-Id", "r7")],
     b"", "HTTP/1.1", 200, 5),
]


def send_all(srv):
    for method, path, headers, body, version, status, _ in REQUESTS:
        assert send(srv, method, path, headers, body, version).status == status


def header(headers, name, default=None):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return default


def test_access_log_default_format_field_by_field(server, tmp_path):
    log = tmp_path / "access.log"
    srv = server("observe:app", args=["--access-logfile", str(log)])
    send_all(srv)
    assert srv.stop() == 0
    lines = log.read_text(encoding="latin-1").splitlines()
    # the first line is the readiness probe of the fixture; then ours, in order
    assert len(lines) == 1 + len(REQUESTS), lines
    for line, (method, path, headers, body, version, status, nbytes) in zip(lines[1:], REQUESTS):
        m = DEFAULT_LINE.match(line)
        assert m, f"line does not parse as gunicorn's default format: {line!r}"
        h, ident, user, when, request, s, b, referer, agent = m.groups()
        assert h == "127.0.0.1" and ident == "-"
        assert re.fullmatch(r"\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}", when), when
        assert unescape(request) == f"{method} {path} {version}"
        assert int(s) == status
        assert int(b) == nbytes
        assert unescape(referer) == header(headers, "Referer", "-")
        assert unescape(agent) == header(headers, "User-Agent", "-")
        assert user == ("alice" if header(headers, "Authorization") else "-")
    # the hostile values are escaped, so the line still has exactly its nine fields
    assert '\\"forged\\\\ line\\x09\\xe9' in lines[-1]


ALL_ATOMS = ("%(h)s|%(l)s|%(u)s|%(t)s|%(r)s|%(s)s|%(m)s|%(U)s|%(q)s|%(H)s|%(b)s|%(B)s|%(f)s|"
             "%(a)s|%(T)s|%(D)s|%(M)s|%(L)s|%(p)s|%(w)s|%(c)s|%({x-req-id}i)s|%({x-trace}o)s|"
             "%({REMOTE_PORT}e)s|%({SERVER_PORT}e)s")


def test_access_log_json_every_atom(server, tmp_path):
    log = tmp_path / "access.json"
    srv = server("observe:app", args=["--access-logfile", str(log), "--access-log-json",
                                      "--access-logformat", ALL_ATOMS])
    send_all(srv)
    worker = srv.worker_pids()[0]
    assert srv.stop() == 0
    lines = log.read_bytes().splitlines()
    assert len(lines) == 1 + len(REQUESTS)
    conn_ids = []
    for raw, (method, path, headers, body, version, status, nbytes) in zip(lines[1:], REQUESTS):
        assert max(raw) < 0x80, "a JSON line must be ASCII"
        rec = json.loads(raw)
        assert list(rec) == [
            "remote_addr", "ident", "user", "time", "request", "status", "method", "path",
            "query", "protocol", "bytes", "body_bytes", "referer", "user_agent", "duration_s",
            "duration_us", "duration_ms", "duration", "pid", "worker", "connection",
            "req_header.x-req-id", "resp_header.x-trace", "env.REMOTE_PORT", "env.SERVER_PORT"]
        assert rec["remote_addr"] == "127.0.0.1" and rec["ident"] is None
        assert rec["user"] == ("alice" if header(headers, "Authorization") else None)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["time"]), rec["time"]
        assert rec["request"] == f"{method} {path} {version}"
        assert rec["status"] == status and rec["method"] == method
        assert rec["path"] == path.split("?")[0]
        assert rec["query"] == (path.split("?", 1)[1] if "?" in path else "")
        assert rec["protocol"] == version
        assert rec["bytes"] == rec["body_bytes"] == nbytes
        assert rec["referer"] == header(headers, "Referer")
        assert rec["user_agent"] == header(headers, "User-Agent")
        us = rec["duration_us"]
        assert isinstance(us, int) and 0 <= us < 5_000_000
        assert rec["duration_ms"] == us // 1000 and rec["duration_s"] == us // 1_000_000
        assert abs(rec["duration"] - us / 1e6) < 1e-6
        assert rec["pid"] == worker and rec["worker"] == 0
        assert rec["req_header.x-req-id"] == header(headers, "X-Req-Id")
        assert rec["resp_header.x-trace"] == ('tr"ace' if path.startswith("/header") else None)
        assert 1 <= int(rec["env.REMOTE_PORT"]) <= 65535
        assert rec["env.SERVER_PORT"] == str(srv.port)
        conn_ids.append(rec["connection"])
    # one connection per request here: the ids grow
    assert conn_ids == sorted(conn_ids) and len(set(conn_ids)) == len(conn_ids)
    # the hostile user agent comes back exactly as sent (latin-1)
    assert json.loads(lines[-1])["user_agent"] == HOSTILE_UA


def test_access_log_keepalive_pipelined_and_errors(server, tmp_path):
    """Pipelined requests on one connection each get their line; a request the parser
    refuses is logged with its status; the connection id is shared."""
    log = tmp_path / "access.json"
    srv = server("observe:app", args=["--access-logfile", str(log), "--access-log-json",
                                      "--access-logformat", "%(r)s %(s)s %(c)s %(b)s"])
    data = b"".join(build_request("GET", f"/?n={i}") for i in range(3))
    resps, sock, _ = srv.raw(data, count=3)
    sock.close()
    assert [r.status for r in resps] == [200] * 3
    resps, sock, _ = srv.raw(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    sock.close()
    assert resps[0].status == 400
    assert srv.stop() == 0
    recs = [json.loads(l) for l in log.read_text().splitlines()[1:]]
    assert [r["request"] for r in recs[:3]] == [f"GET /?n={i} HTTP/1.1" for i in range(3)]
    assert len({r["connection"] for r in recs[:3]}) == 1
    assert recs[3]["status"] == 400 and recs[3]["bytes"] == 0


def test_access_log_rotation_usr1_loses_nothing(server, tmp_path):
    log = tmp_path / "access.log"
    rotated = tmp_path / "access.log.1"
    srv = server("observe:app", workers=2, args=["--access-logfile", str(log),
                                                 "--access-logformat", "%(U)s %(q)s"])
    total = 1 + 2 * 150   # the fixture's probe, then ours
    conn = srv.connection()
    for i in range(150):
        conn.request("GET", f"/?before={i}")
        conn.getresponse().read()
    log.rename(rotated)                 # logrotate's default: rename, then signal
    srv.send_signal(signal.SIGUSR1)
    for i in range(150):
        conn.request("GET", f"/?after={i}")
        conn.getresponse().read()
        if i == 75:
            time.sleep(0.2)             # let the reopen happen while requests go on
    conn.close()
    assert wait_until(log.exists, 5), "the access log was not reopened after USR1"
    assert srv.stop() == 0
    lines = rotated.read_text().splitlines() + log.read_text().splitlines()
    assert len(lines) == total, (len(lines), total)
    seen = {l.split(" ", 1)[1] for l in lines if " " in l}
    assert all(f"before={i}" in seen and f"after={i}" in seen for i in range(150))
    assert any("after=149" in l for l in log.read_text().splitlines()), \
        "nothing reached the new file"


def test_access_log_relative_path_and_hup_reload(server, tmp_path):
    """A relative path is the start directory's, whatever --chdir says; a HUP reload
    (old workers drain, new ones open the file) loses no line."""
    start_dir = tmp_path / "start"
    start_dir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    srv = server("observe:app", cwd=start_dir, pythonpath=str(APPS),
                 args=["--access-logfile", "rel.log", "--chdir", str(elsewhere),
                       "--access-logformat", "%(q)s"])
    old = srv.worker_pids()
    for i in range(20):
        srv.request("GET", f"/?a={i}")
    srv.send_signal(signal.SIGHUP)
    assert wait_until(lambda: set(srv.worker_pids()) - set(old), 10), "no new worker after HUP"
    for i in range(20):
        srv.request("GET", f"/?b={i}")
    assert srv.stop() == 0
    assert not (elsewhere / "rel.log").exists()
    lines = (start_dir / "rel.log").read_text().splitlines()
    assert {f"a={i}" for i in range(20)} | {f"b={i}" for i in range(20)} <= set(lines)


def test_access_log_flushed_within_a_bounded_delay(server, tmp_path):
    log = tmp_path / "access.log"
    srv = server("observe:app", args=["--access-logfile", str(log)])
    srv.request("GET", "/?late=1")
    assert wait_until(lambda: "late=1" in log.read_text(), 2), \
        "a line did not reach the file within 2 s (the batch delay is 100 ms)"


def test_access_log_to_stdout(server):
    srv = server("observe:app", args=["--access-logfile", "-"])
    srv.request("GET", "/?to=stdout")
    assert wait_until(lambda: '"GET /?to=stdout HTTP/1.1" 200 5' in srv.log(), 3), srv.log()


def test_error_log_has_worker_id_and_banner(server):
    srv = server("observe:app", workers=2, probe=None,
                 args=["--stats-bind", f"127.0.0.1:{free_port()}", "--worker-connections", "1"])
    srv.wait_workers(2)
    wait_until(lambda: "Stats: http" in srv.log(), 5)
    log = srv.log()
    assert re.search(r"\[INFO\] Python 3\.\d+\.\d+, virtualenv: ", log), log
    assert "Worker placement: " in log and "Stats: http://127.0.0.1:" in log
    # a worker over its connection limit says so, with its id after the level
    held = [srv.connect() for _ in range(4)]
    assert wait_until(lambda: re.search(r"\[\d+\] \[WARNING\] \[worker [01]\] worker "
                                        r"connection limit", srv.log()), 5), srv.log()
    for s in held:
        s.close()


@pytest.mark.parametrize("args,setting", [
    (["--log-target", "http://x"], "--log-target"),
    (["--log-target", "udp://127.0.0.1:99999"], "--log-target"),
    (["--log-target-format", "xml"], "--log-target-format"),
    (["--access-logformat", "%(h"], "access-logformat"),
    (["--access-logformat", "%(h)x"], "access-logformat"),
    (["--stats-bind", "nohostport"], "--stats-bind"),
    (["--health-path", "healthz"], "--health-path"),
    (["--health-path", "/h", "--ready-path", "/h"], "--ready-path"),
    (["--access-logfile", "/nonexistent-dir/a.log"], "--access-logfile"),
])
def test_bad_settings_exit_2_with_one_line(args, setting):
    res = run_binary([*args, "-b", f"127.0.0.1:{free_port()}", "observe:app"])
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0], res.stderr


def test_unknown_atom_is_a_warning_and_renders_dash(server, tmp_path):
    log = tmp_path / "a.log"
    srv = server("observe:app", args=["--access-logfile", str(log), "--access-logformat",
                                      "%(s)s %(zz)s"])
    assert "%(zz)s is not an atom" in srv.log()
    srv.stop()
    assert log.read_text().splitlines()[0] == "200 -"


# ---- metrics ------------------------------------------------------------------------------

def scrape(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status, r.headers, r.read().decode()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams, family, sample=None, **labels):
    for s in fams[family].samples:
        if (sample is None or s.name == sample) and all(s.labels.get(k) == v
                                                        for k, v in labels.items()):
            return s.value
    raise KeyError(f"{family} {sample} {labels}")


def test_metrics_parse_and_match_requests(server):
    port = free_port()
    srv = server("observe:app", workers=2, args=["--stats-bind", f"127.0.0.1:{port}"])
    srv.wait_workers(2)
    assert wait_until(lambda: value(families(scrape(port)[2]), "uwsgi_fast_workers",
                                    state="ready") == 2, 10)
    status, headers, text = scrape(port)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    before = families(text)
    base = value(before, "uwsgi_fast_requests", "uwsgi_fast_requests_total")
    sent = {"2xx": 0, "4xx": 0, "5xx": 0}
    conn = srv.connection()
    for path, cls in [("/", "2xx")] * 7 + [("/status/404", "4xx")] * 3 + \
                     [("/status/503", "5xx")] * 2 + [("/status/204", "2xx")]:
        conn.request("GET", path)
        conn.getresponse().read()
        sent[cls] += 1
    conn.close()
    total = sum(sent.values())

    def settled():
        f = families(scrape(port)[2])
        return f if value(f, "uwsgi_fast_requests", "uwsgi_fast_requests_total") >= base + total \
            else None
    fams = wait_until(settled, 5)
    assert fams, "requests_total never reached the number of requests sent"
    assert value(fams, "uwsgi_fast_requests", "uwsgi_fast_requests_total") == base + total
    for cls, n in sent.items():
        assert value(fams, "uwsgi_fast_responses", code=cls) - \
            value(before, "uwsgi_fast_responses", code=cls) == n
    # the histogram: cumulative buckets, +Inf == _count == requests_total, a sum
    h = fams["uwsgi_fast_request_duration_seconds"]
    assert h.type == "histogram"
    buckets = [(s.labels["le"], s.value) for s in h.samples if s.name.endswith("_bucket")]
    assert buckets[-1][0] == "+Inf" and len(buckets) == 15
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    count = value(fams, "uwsgi_fast_request_duration_seconds",
                  "uwsgi_fast_request_duration_seconds_count")
    assert buckets[-1][1] == count == base + total
    assert value(fams, "uwsgi_fast_request_duration_seconds",
                 "uwsgi_fast_request_duration_seconds_sum") > 0
    assert value(fams, "uwsgi_fast_received_bytes", "uwsgi_fast_received_bytes_total") > 0
    assert value(fams, "uwsgi_fast_sent_bytes", "uwsgi_fast_sent_bytes_total") > 0
    assert value(fams, "uwsgi_fast_workers", state="ready") == 2
    assert fams["uwsgi_fast_accept_queue_limit"].type == "gauge"
    limits = [s.value for s in fams["uwsgi_fast_accept_queue_limit"].samples]
    assert len(limits) == 2 and all(v > 0 for v in limits)
    per_worker = sum(s.value for s in fams["uwsgi_fast_worker_requests"].samples
                     if s.name == "uwsgi_fast_worker_requests_total")
    assert per_worker == base + total
    assert all(s.value > 0 for s in fams["uwsgi_fast_worker_rss_bytes"].samples)
    # /stats says the same in JSON
    stats = json.loads(scrape(port, "/stats")[2])
    assert stats["requests"] == base + total and stats["ready"] is True
    assert stats["responses"]["4xx"] == value(fams, "uwsgi_fast_responses", code="4xx")
    assert len(stats["workers"]) == 2 and stats["workers"][0]["accept_queue"][0]["limit"] > 0
    assert scrape(port, "/health")[0] == 200


def test_metrics_survive_recycling(server):
    """Counters of a recycled worker are kept: nothing goes backwards, and the recycle is
    counted with its reason."""
    port = free_port()
    srv = server("observe:app", args=["--stats-bind", f"127.0.0.1:{port}",
                                      "--max-requests", "5"])
    first = srv.worker_pids()
    for i in range(12):
        srv.request("GET", "/")
    assert wait_until(lambda: set(srv.worker_pids()) - set(first), 10), "no recycle happened"

    def settled():
        f = families(scrape(port)[2])
        return f if value(f, "uwsgi_fast_worker_recycles",
                          "uwsgi_fast_worker_recycles_total", reason="max_requests") >= 1 \
            and value(f, "uwsgi_fast_requests", "uwsgi_fast_requests_total") >= 13 else None
    fams = wait_until(settled, 10)
    assert fams, scrape(port)[2]
    assert value(fams, "uwsgi_fast_requests", "uwsgi_fast_requests_total") == 13
    # per-worker series are labelled by slot, so a recycle continues them: the pids are
    # in uwsgi_fast_worker_info, the new worker's among them
    for name in ("uwsgi_fast_worker_requests", "uwsgi_fast_worker_connections",
                 "uwsgi_fast_worker_rss_bytes"):
        assert all(set(s.labels) == {"worker"} for s in fams[name].samples), fams[name]
    info = fams["uwsgi_fast_worker_info"].samples
    assert {int(s.labels["pid"]) for s in info} & set(srv.worker_pids()), (info, srv.worker_pids())
    assert all(s.labels["worker"] == "0" and s.value == 1 for s in info)


# ---- health and readiness ---------------------------------------------------------------

def test_health_and_ready_answered_without_python(server):
    srv = server("observe:app", args=["--health-path", "/healthz", "--ready-path", "/readyz"])
    r = srv.request("GET", "/healthz")
    assert (r.status, r.body) == (200, b"ok\n")   # observe:app would answer 404
    r = srv.request("GET", "/readyz?verbose=1")
    assert (r.status, r.body) == (200, b"ready\n")
    r = srv.request("HEAD", "/readyz")
    assert r.status == 200 and r.body == b""
    assert srv.request("POST", "/healthz", body=b"x").status == 405
    assert srv.request("GET", "/healthz/more").status == 404   # the app's answer
    # keep-alive: many probes on one connection
    conn = srv.connection()
    for _ in range(5):
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b"ok\n"
    conn.close()


def slow_reader(srv, n=2000):
    """A request whose response (n x 64 KiB, streamed; far more than loopback's socket
    buffers hold even fully grown) the client does not read: it stays in flight without
    blocking the worker."""
    sock = srv.connect(timeout=30)
    sock.sendall(build_request("GET", f"/stream?n={n}"))
    return sock


def probe(srv, path="/readyz"):
    resps, sock, _ = srv.raw(build_request("GET", path))
    sock.close()
    return resps[0]


def test_ready_503_when_saturated(server):
    port = free_port()
    srv = server("observe:app", args=["--ready-path", "/readyz", "--ready-saturation", "2",
                                      "--stats-bind", f"127.0.0.1:{port}"])
    assert probe(srv).status == 200
    slow = [slow_reader(srv) for _ in range(3)]

    def in_flight():
        f = families(scrape(port)[2])
        return sum(s.value for s in f["uwsgi_fast_worker_requests_in_flight"].samples) >= 3
    assert wait_until(in_flight, 5), scrape(port)[2]
    r = probe(srv)
    assert r.status == 503 and b"saturated" in r.body, r
    assert wait_until(lambda: scrape_status(port, "/ready") == 503, 5), scrape(port)[2]
    for s in slow:
        s.close()
    assert wait_until(lambda: probe(srv).status == 200, 5), "readiness did not come back"
    assert scrape_status(port, "/ready") == 200


def scrape_status(port, path):
    try:
        return scrape(port, path)[0]
    except urllib.error.HTTPError as e:
        return e.code


def test_ready_503_when_accept_queue_is_deep(server):
    """A worker stuck in the application cannot answer, but the master's /ready sees its
    accept queue grow past the threshold."""
    port = free_port()
    # without work sharing the loop itself runs the application: while it sleeps nothing
    # accepts, so the queue grows (with sharing the loop accepts and parks them instead)
    srv = server("observe:app", args=["--ready-saturation", "2", "--stats-bind",
                                      f"127.0.0.1:{port}", "--timeout", "0",
                                      "--no-work-sharing"])
    assert scrape_status(port, "/ready") == 200
    blocker = srv.connect()
    blocker.sendall(build_request("GET", "/sleep?s=3"))
    time.sleep(0.3)
    waiting = [srv.connect() for _ in range(5)]
    for s in waiting:
        s.sendall(build_request("GET", "/"))

    # /ready and /metrics sample the queue at different moments: the verdict is read in
    # the same round as the queue it should follow
    seen = {"deepest": 0}

    def saturated():
        status = scrape_status(port, "/ready")
        f = families(scrape(port)[2])
        depth = max(s.value for s in f["uwsgi_fast_accept_queue_length"].samples)
        seen["deepest"] = max(seen["deepest"], depth)
        return status == 503
    assert wait_until(saturated, 2), \
        "the accept queue reached %d but /ready stayed 200" % seen["deepest"]
    assert read_response(blocker.makefile("rb")).status == 200
    for s in waiting:
        assert read_response(s.makefile("rb")).status == 200
        s.close()
    blocker.close()
    assert wait_until(lambda: scrape_status(port, "/ready") == 200, 5)


def test_ready_503_during_drain(server):
    port = free_port()
    srv = server("observe:app", args=["--ready-path", "/readyz", "--graceful-timeout", "20",
                                      "--stats-bind", f"127.0.0.1:{port}"])
    keep = srv.connect()
    rfile = keep.makefile("rb")
    keep.sendall(build_request("GET", "/readyz"))
    assert read_response(rfile).status == 200
    slow = slow_reader(srv, n=200)   # in flight: keeps the worker draining
    time.sleep(0.3)
    srv.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # an idle keep-alive connection may still ask during its grace period: 503, and close
    keep.sendall(build_request("GET", "/readyz"))
    r = read_response(rfile)
    assert r.status == 503 and r.body == b"draining\n" and r.header("Connection") == "close"
    assert scrape_status(port, "/ready") == 503
    keep.close()
    # the slow response still completes, then everything stops
    resp = read_response(slow.makefile("rb"))
    assert resp.status == 200 and len(resp.body) == 200 * 65536
    slow.close()
    assert srv.wait_exit(10) == 0
