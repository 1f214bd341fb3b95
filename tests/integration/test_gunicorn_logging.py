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
    assert wait_until(lambda: all(captured(srv, t) for t in want), 5), srv.log()
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
