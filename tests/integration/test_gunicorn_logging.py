"""gunicorn's logging settings: syslog (--log-syslog and friends), DogStatsD tags,
logconfig_dict, logger_class and --capture-output, against the real binary.

Collectors are sockets the test binds (UDP on loopback, a unix datagram socket in the
test's directory); each message is parsed, not searched for a substring.
"""
import json
import os
import re
import select
import signal
import socket
import threading
import time

import pytest

from conftest import run_binary, wait_until
from test_config import one_line_error

# RFC 3164: <PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG
RFC3164 = re.compile(r"^<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^\s\[]+)\[(\d+)\]: (.*)$",
                     re.S)
# RFC 5424: <PRI>1 TIME HOST APP-NAME PROCID MSGID - MSG
RFC5424 = re.compile(r"^<(\d+)>1 (\S+) (\S+) (\S+) (\d+) (access|error) - (.*)$", re.S)

SEVERITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class Collector:
    """A datagram socket bound by the test (UDP on loopback, or a unix socket path), read
    on a thread: a unix datagram queue holds only net.unix.max_dgram_qlen messages (10),
    and a reader that falls behind makes the senders drop lines, as it should."""

    def __init__(self, path=None):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(str(path))
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.messages = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            if select.select([self.sock], [], [], 0.05)[0]:
                self.messages.append(self.sock.recv(65536).decode())

    def drain(self, timeout=0.2):
        time.sleep(timeout)
        return list(self.messages)

    def wait_for(self, predicate, timeout=10):
        return wait_until(lambda: [m for m in self.messages if predicate(m)], timeout)

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def collector(tmp_path):
    """Factory: collector() on UDP, collector("name") on a unix socket in tmp_path; each is
    closed after the test."""
    made = []

    def make(name=None):
        made.append(Collector(tmp_path / name if name else None))
        return made[-1]

    yield make
    for c in made:
        c.close()


# ---- syslog ------------------------------------------------------------------------------

def syslog_server(server, to, *more):
    """A server with --log-syslog to `to`, once it has answered one request."""
    srv = server("basic:app", args=["--log-syslog", "--log-syslog-to", to, *more])
    assert srv.request("GET", "/").status == 200
    return srv


def test_syslog_udp_rfc3164(server, collector):
    col = collector()
    srv = syslog_server(server, f"udp://127.0.0.1:{col.port}", "--log-syslog-facility", "local3")
    access = col.wait_for(lambda m: ".access[" in m)
    assert access, col.messages
    m = RFC3164.match(access[0])
    assert m, access[0]
    pri, _, _, tag, pid, msg = m.groups()
    assert int(pri) == 19 * 8 + SEVERITY["INFO"]   # local3, info
    assert tag == "gunicorn.basic.app.access"
    assert '"GET / HTTP/1.1" 200' in msg
    assert int(pid) in srv.worker_pids()
    first = RFC3164.match(col.messages[0])
    assert first and first.group(4) == "gunicorn.basic.app.error"
    assert int(first.group(1)) == 19 * 8 + SEVERITY["INFO"]
    assert first.group(6) == "Starting uwsgi-fast 0.1.0"
    assert int(first.group(5)) == srv.pid


def test_syslog_unix_dgram_rfc5424_prefix_no_access(server, collector, tmp_path):
    col = collector("log.sock")
    path = tmp_path / "log.sock"
    srv = syslog_server(server, f"unix://{path}", "--log-syslog-format", "rfc5424",
                        "--log-syslog-prefix", "shop", "--disable-redirect-access-to-syslog",
                        "--access-logfile", "-")
    errors = col.wait_for(lambda m: "Listening at" in m)
    assert errors, col.messages
    m = RFC5424.match(errors[0])
    assert m, errors[0]
    pri, _, _, app, _, msgid, msg = m.groups()
    assert int(pri) == 1 * 8 + SEVERITY["INFO"]   # user (gunicorn's default), info
    assert (app, msgid) == ("gunicorn.shop.error", "error")
    srv.stop()
    col.drain()
    assert not [x for x in col.messages if "access" in x.split(" - ")[0]], col.messages
    assert '"GET / HTTP/1.1" 200' in srv.log()   # the access log itself still has it


def test_syslog_unix_colon_spelling_and_error_severity(server, collector, tmp_path):
    col = collector("dev-log")
    path = tmp_path / "dev-log"
    srv = syslog_server(server, f"unix:{path}", "--log-syslog-facility", "DAEMON",
                        "--access-logformat", "%(h)s %(s)s")
    # a worker killed from outside: the master's ERROR line keeps its severity
    os.kill(srv.worker_pids()[0], signal.SIGKILL)
    assert col.wait_for(lambda m: "from outside" in m)
    srv.stop()
    msgs = [RFC3164.match(x) for x in col.drain()]
    assert msgs and all(msgs), col.messages
    # every line of the run, master and worker, access and error, came through
    assert {m.group(4) for m in msgs} == {"gunicorn.basic.app.error",
                                           "gunicorn.basic.app.access"}
    assert all(int(m.group(1)) // 8 == 3 for m in msgs)   # daemon
    assert [m for m in msgs if "Shutting down" in m.group(6)], col.messages
    killed = [m for m in msgs if "from outside" in m.group(6)]
    assert int(killed[0].group(1)) == 3 * 8 + SEVERITY["ERROR"], col.messages
    access = [m for m in msgs if m.group(4).endswith(".access")]
    assert access[0].group(6) == "127.0.0.1 200"


def test_syslog_tcp_from_gunicorn_conf(server, tmp_path):
    """tcp://, set in a gunicorn.conf.py as gunicorn spells it: RFC 3164 messages, each
    ending in a newline on the stream, from the master and the worker."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    data, conns, stop = bytearray(), [], threading.Event()

    def serve():
        while not stop.is_set():
            for s in select.select([listener] + conns, [], [], 0.05)[0]:
                if s is listener:
                    conns.append(listener.accept()[0])
                else:
                    data.extend(s.recv(65536))
    reader = threading.Thread(target=serve, daemon=True)
    reader.start()
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(f"syslog = True\nsyslog_addr = 'tcp://127.0.0.1:{port}'\n"
                    "syslog_facility = 'local0'\nsyslog_prefix = 'tcpapp'\n")
    try:
        srv = server("basic:app", args=["-c", str(conf)])
        assert srv.request("GET", "/").status == 200
        assert wait_until(lambda: b".access[" in data, 5), bytes(data)
        srv.stop()
        wait_until(lambda: b"Shutting down" in data, 3)
    finally:
        stop.set()
        reader.join(2)
        listener.close()
        for c in conns:
            c.close()
    lines = bytes(data).decode().split("\n")
    assert lines[-1] == ""   # every message ends in its newline
    msgs = [RFC3164.match(ln) for ln in lines[:-1]]
    assert msgs and all(msgs), lines
    assert {m.group(4) for m in msgs} == {"gunicorn.tcpapp.error", "gunicorn.tcpapp.access"}
    assert all(int(m.group(1)) // 8 == 16 for m in msgs)
    assert {int(m.group(5)) for m in msgs} >= {srv.pid}


def test_syslog_bad_values():
    # checked by the master at start, like --log-target (--check-config reads the table only)
    one_line_error(run_binary(["--log-syslog", "--log-syslog-facility", "local9", "basic:app"]),
                   "--log-syslog-facility", '"local9"', "local0", "daemon")
    one_line_error(run_binary(["--log-syslog", "--log-syslog-to", "http://x:1", "basic:app"]),
                   "--log-syslog-to", "udp://HOST[:PORT]", "unix://PATH")
    one_line_error(run_binary(["--log-syslog", "--log-syslog-to", "udp://127.0.0.1:99999",
                               "basic:app"]),
                   "--log-syslog-to", "port 1 to 65535")
    one_line_error(run_binary(["--log-syslog-format", "rfc9999", "basic:app"]),
                   "--log-syslog-format", "rfc3164 or rfc5424")


# ---- DogStatsD tags ----------------------------------------------------------------------

def test_dogstatsd_tags_on_every_statsd_line(server, collector):
    col = collector()
    srv = server("basic:app", args=["--statsd-host", f"127.0.0.1:{col.port}",
                                    "--statsd-prefix", "shop", "--log-level", "warning",
                                    "--dogstatsd-tags", "env:prod, canary"])
    assert srv.request("GET", "/").status == 200
    lines = lambda: [ln for m in col.messages for ln in m.splitlines()]  # noqa: E731
    assert wait_until(lambda: any(ln.startswith("shop.gunicorn.workers:") for ln in lines()), 5)
    assert wait_until(lambda: any("request.status.200" in ln for ln in lines()), 5)
    got = lines()
    # a worker's per-request lines and the master's gauge, each ends in gunicorn's |#TAGS
    assert "shop.gunicorn.requests:1|c|@1.0|#env:prod,canary" in got
    assert "shop.gunicorn.request.status.200:1|c|@1.0|#env:prod,canary" in got
    assert "shop.gunicorn.workers:1|g|#env:prod,canary" in got
    assert all(re.fullmatch(r"shop\.gunicorn\.[a-z0-9.]+:[\d.]+\|(c|ms|g)(\|@1\.0)?\|#env:prod,canary",
                            ln) for ln in got), got


def test_dogstatsd_tags_bad_value():
    one_line_error(run_binary(["--statsd-host", "127.0.0.1:8125", "--dogstatsd-tags", "a:1,,b",
                               "basic:app"]),
                   "--dogstatsd-tags", '"a:1,,b"', "NAME:VALUE")


# ---- capture_output ----------------------------------------------------------------------

HEAD = r"\[[^\]]+\] \[(\d+)\] \[INFO\] \[worker (\d+)\] "


def captured(srv, text):
    """The error-log lines whose message is exactly `text`: (pid, worker) of each."""
    return [(int(m.group(1)), int(m.group(2)))
            for m in re.finditer("^" + HEAD + re.escape(text) + "$", srv.log(), re.M)]


def test_capture_output_lines_carry_the_worker_tag(server, collector):
    col = collector()
    srv = server("capture_app:app", workers=1,
                 args=["--capture-output", "--log-level", "warning", "--access-logfile", "-",
                       "--log-target", f"udp://127.0.0.1:{col.port}"])
    for path in ("/print", "/fd", "/libc", "/long"):
        assert srv.request("GET", path).status == 200
    pid = srv.worker_pids()[0]
    want = ["hello from print()", "to stderr", "raw fd1 line", "second fd1 line",
            "partial fd2 line", "from C write"]
    assert wait_until(lambda: all(captured(srv, t) for t in want) and
                      captured(srv, "x" * 904), 5), srv.log()
    for t in want:
        # each once, as worker 0 with the worker's pid, whatever --log-level says
        assert captured(srv, t) == [(pid, 0)], (t, srv.log())
    # a line longer than 1 KiB is written in pieces of 1 KiB, none lost (5000 = 4 * 1024 + 904)
    assert captured(srv, "x" * 1024) == [(pid, 0)] * 4
    assert captured(srv, "x" * 904) == [(pid, 0)]
    # the access log "-" is still stdout, not captured as error-log lines
    assert wait_until(lambda: re.search(r'^127\.0\.0\.1 - - \[.*\] "GET /long HTTP/1.1" 200',
                                        srv.log(), re.M), 5), srv.log()
    assert not re.search(HEAD + r"127\.0\.0\.1 - -", srv.log())
    # shipped to --log-target like the worker's other lines
    assert wait_until(lambda: [m for m in col.messages if "from C write" in m], 5)
    line = json.loads([m for m in col.messages if "from C write" in m][0])
    assert (line["type"], line["pid"], line["worker"], line["level"]) == ("error", pid, 0, "INFO")
    assert line["message"] == "from C write"


def test_without_capture_output_nothing_changes(server):
    srv = server("capture_app:app", workers=1)
    assert srv.request("GET", "/fd").status == 200
    assert wait_until(lambda: "raw fd1 line" in srv.log(), 5)
    # the bytes as the application wrote them, no head added
    assert re.search(r"^raw fd1 line$", srv.log(), re.M)
    assert not captured(srv, "raw fd1 line")


# ---- logconfig_dict, logconfig_json, logconfig, logger_class ------------------------------

JSON_LOGCONFIG = """
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "pythonjsonlogger.jsonlogger.JsonFormatter",
                 "format": "%(asctime)s %(levelname)s %(message)s"},
    },
    "handlers": {
        "out": {"class": "logging.StreamHandler", "formatter": "json",
                "stream": "ext://sys.stdout"},
        "file": {"class": "logging.handlers.WatchedFileHandler", "formatter": "json",
                 "filename": ACCESS},
    },
    "loggers": {
        "gunicorn.error": {"level": "WARNING", "handlers": ["out"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["file"], "propagate": False},
    },
}
"""


def test_logconfig_dict_json_to_stdout_is_honoured(server, tmp_path):
    access = tmp_path / "access.json"
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(f"ACCESS = {str(access)!r}\nerrorlog = '/nonexistent/ignored.log'\n"
                    + JSON_LOGCONFIG)
    srv = server("basic:app", args=["-c", str(conf)])
    assert srv.request("GET", "/").status == 200
    assert wait_until(lambda: access.exists() and access.read_text(), 5)
    os.kill(srv.worker_pids()[0], signal.SIGKILL)   # an ERROR line of the master
    assert wait_until(lambda: "from outside" in srv.log(), 5)
    srv.stop()
    records = [json.loads(ln) for ln in srv.log().splitlines() if ln.startswith("{")]
    # the error log is JSON on stdout, at the logger's level (WARNING: no INFO lines)
    assert records, srv.log()
    assert all(set(r) >= {"time", "level", "pid", "message"} for r in records)
    assert all(r["level"] in ("WARNING", "ERROR", "CRITICAL") for r in records)
    assert [r for r in records if r["level"] == "ERROR" and "from outside" in r["message"]]
    assert not [ln for ln in srv.log().splitlines() if "[INFO]" in ln], srv.log()
    # and the access log went to the WatchedFileHandler's file, as JSON objects
    lines = [json.loads(ln) for ln in access.read_text().splitlines()]
    assert lines and lines[0]["request"] == "GET / HTTP/1.1" and lines[0]["status"] == 200


def test_logconfig_dict_error_json_at_info_with_worker(server, tmp_path):
    errfile = tmp_path / "error.log"
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(
        "logconfig_dict = {'version': 1,\n"
        "  'formatters': {'j': {'class': 'pythonjsonlogger.json.JsonFormatter'}},\n"
        f"  'handlers': {{'f': {{'class': 'logging.FileHandler', 'filename': {str(errfile)!r},\n"
        "                       'formatter': 'j'}},\n"
        "  'loggers': {'gunicorn.error': {'level': 'info', 'handlers': ['f']}},\n"
        "  'root': {'level': 'INFO', 'handlers': ['console']}}\n")
    srv = server("capture_app:app", args=["-c", str(conf), "--capture-output"])
    assert srv.request("GET", "/print").status == 200
    srv.stop()
    records = [json.loads(ln) for ln in errfile.read_text().splitlines()]
    started = [r for r in records if r["message"].startswith("Starting uwsgi-fast")]
    assert started and started[0]["pid"] == srv.pid and "worker" not in started[0]
    printed = [r for r in records if r["message"] == "hello from print()"]
    assert printed and printed[0]["worker"] == 0 and printed[0]["level"] == "INFO"
    # root is not configured by uwsgi-fast: said at start, before the error log is open
    assert re.search(r"^uwsgi-fast: warning: \S*gunicorn\.conf\.py: logconfig_dict: loggers other "
                     r"than gunicorn\.error and gunicorn\.access \(root\) are not configured",
                     srv.log(), re.M), srv.log()


def write_conf(tmp_path, text):
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(text)
    return ["--check-config", "-c", str(conf), "basic:app"]


def test_logconfig_that_cannot_be_honoured_is_refused(tmp_path):
    rot = ("logconfig_dict = {'version': 1, 'handlers': {'r': {'class': "
           "'logging.handlers.RotatingFileHandler', 'filename': '/tmp/x.log'}},\n"
           "  'loggers': {'gunicorn.error': {'handlers': ['r']}}}\n")
    one_line_error(run_binary(write_conf(tmp_path, rot)), "gunicorn.conf.py: logconfig_dict",
                   "RotatingFileHandler", "logrotate", "WatchedFileHandler")
    http = ("logconfig_dict = {'version': 1, 'handlers': {'h': {'class': "
            "'logging.handlers.HTTPHandler', 'host': 'x', 'url': '/'}},\n"
            "  'loggers': {'gunicorn.error': {'handlers': ['h']}}}\n")
    one_line_error(run_binary(write_conf(tmp_path, http)), "HTTPHandler", "--log-target")
    two = ("logconfig_dict = {'version': 1,\n"
           "  'loggers': {'gunicorn.error': {'handlers': ['console', 'error_console']}}}\n")
    one_line_error(run_binary(write_conf(tmp_path, two)), "2 handlers", "one destination")
    level = ("logconfig_dict = {'version': 1, 'loggers': {'gunicorn.error': {'level': 'LOUD'}}}\n")
    one_line_error(run_binary(write_conf(tmp_path, level)), "'LOUD'", "DEBUG, INFO")
    # logconfig_json: the same mapping, from the file it names
    js = tmp_path / "log.json"
    js.write_text('{"version": 1, "handlers": {"s": {"class": "logging.handlers.SysLogHandler"}},'
                  ' "loggers": {"gunicorn.error": {"handlers": ["s"]}}}')
    one_line_error(run_binary(write_conf(tmp_path, f"logconfig_json = {str(js)!r}\n")),
                   "logconfig_json", "SysLogHandler", "syslog = True")
    # what has no mapping at all, on the command line and in a native config
    one_line_error(run_binary(["--log-config", "logging.ini", "basic:app"]), "--log-config",
                   "logconfig_dict")
    one_line_error(run_binary(["--log-config-json", "log.json", "basic:app"]),
                   "--log-config-json", "gunicorn.conf.py", "--error-log-json")
    toml = tmp_path / "u.toml"
    toml.write_text('logconfig_dict = "x"\n')
    one_line_error(run_binary(["-c", str(toml), "basic:app"]), "logconfig_dict",
                   "--error-logfile")


def test_logger_class(tmp_path):
    for ok in ("gunicorn.glogging.Logger", "simple"):
        res = run_binary(["--check-config", "-c", "", "--logger-class", ok, "basic:app"])
        assert res.returncode == 0, res.stderr
    one_line_error(run_binary(["--logger-class", "myapp.logging.JsonLogger", "basic:app"]),
                   "--logger-class", "logconfig_dict", "--error-log-json", "--log-syslog")
    res = run_binary(write_conf(tmp_path, "logger_class = 'gunicorn.glogging.Logger'\n"))
    assert res.returncode == 0, res.stderr
