"""Unix sockets, inherited sockets (fd://N, systemd socket activation) and sd_notify.

Each test starts the real binary with a TCP bind (the fixture's, used to know when it is
up) plus the sockets under test, and talks HTTP over them with http.client on an AF_UNIX
socket. Socket activation and sd_notify run without systemd: the test binds the sockets
itself and starts the server through a small Python launcher that sets LISTEN_PID to the
server's own pid before exec, as systemd does.
"""
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from conftest import APPS, clean_env, free_port, require_binary, wait_until

APP = "sockets_app:app"


class UnixConnection(http.client.HTTPConnection):
    """http.client over a unix socket: a path, or "@name" for the abstract namespace."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect("\0" + self.path[1:] if self.path.startswith("@") else self.path)


def get(path, target="/", headers=None, timeout=10):
    """One GET over the unix socket at path; returns (status, body)."""
    conn = UnixConnection(path, timeout)
    try:
        conn.request("GET", target, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def get_json(path, target="/", headers=None):
    status, body = get(path, target, headers)
    assert status == 200, body
    return json.loads(body)


def unix_listener(path):
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(16)
    return s


def test_unix_socket_serves(server, tmp_path):
    sock = str(tmp_path / "app.sock")
    srv = server(APP, args=["-b", f"unix:{sock}", "--access-logfile", "-",
                            "--stats-bind", f"127.0.0.1:{free_port()}"])
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    # gunicorn's environ for a unix peer: REMOTE_ADDR "", no REMOTE_PORT, SERVER_* from Host
    doc = get_json(sock, headers={"Host": "example.com:8080"})
    assert doc["REMOTE_ADDR"] == "" and "REMOTE_PORT" not in doc
    assert (doc["SERVER_NAME"], doc["SERVER_PORT"]) == ("example.com", "8080")
    doc = get_json(sock, headers={"Host": "example.com"})
    assert (doc["SERVER_NAME"], doc["SERVER_PORT"]) == ("example.com", "80")
    # a unix peer is trusted with the scheme headers, as gunicorn trusts it
    doc = get_json(sock, headers={"Host": "h", "X-Forwarded-Proto": "https"})
    assert doc["wsgi.url_scheme"] == "https"
    assert (doc["SERVER_NAME"], doc["SERVER_PORT"]) == ("h", "443")
    # without Host: the socket's path and an empty port
    conn = UnixConnection(sock)
    conn.putrequest("GET", "/", skip_host=True)
    conn.endheaders()
    resp = conn.getresponse()
    doc = json.loads(resp.read())
    conn.close()
    assert (doc["SERVER_NAME"], doc["SERVER_PORT"]) == (sock, "")
    # TCP beside it is unchanged
    resp = srv.request("GET", "/")
    assert resp.status == 200
    assert resp.json()["REMOTE_ADDR"] == "127.0.0.1" and "REMOTE_PORT" in resp.json()
    assert f"Listening at: unix:{sock} ({srv.pid}), one listener shared by every worker" in srv.log()
    # the access log and the metrics take unix peers and listeners
    assert wait_until(lambda: srv.log().count('"GET / HTTP/1.1" 200') >= 5, 5), srv.log()
    stats_port = int(srv.cmd[srv.cmd.index("--stats-bind") + 1].rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", stats_port, timeout=5)
    c.request("GET", "/metrics")
    metrics = c.getresponse().read().decode()
    c.close()
    assert f'listener="unix:{sock}"' in metrics
    assert srv.stop() == 0
    assert not os.path.exists(sock), "the socket file outlived a clean exit"


def test_abstract_socket(server):
    name = f"@uwsgi-fast-test-{os.getpid()}-{time.monotonic_ns()}"
    srv = server(APP, args=["-b", f"unix:{name}"])
    doc = get_json(name, headers={"Host": "a"})
    assert doc["REMOTE_ADDR"] == "" and doc["SERVER_NAME"] == "a"
    assert f"Listening at: unix:{name} " in srv.log()
    assert srv.stop() == 0


def test_umask_sets_the_socket_mode(server, tmp_path):
    sock = str(tmp_path / "app.sock")
    server(APP, args=["-b", f"unix:{sock}", "--umask", "007"])
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o770


def test_mixed_binds_two_workers_share_the_unix_listener(server, tmp_path):
    """Both workers accept on the one unix listener: a request is not stuck behind a slow
    one while the other worker is free; TTOU leaves the shared listener open."""
    sock = str(tmp_path / "app.sock")
    srv = server(APP, workers=2, args=["-b", f"unix:{sock}", "--threads", "1"])
    pids = set()
    assert wait_until(lambda: pids.add(get_json(sock)["pid"]) or len(srv.worker_pids()) == 2, 20)
    slow = {}
    t = threading.Thread(target=lambda: slow.update(r=get(sock, "/sleep?ms=3000")))
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    for _ in range(5):
        assert get(sock, "/")[0] == 200
    assert time.monotonic() - started < 2.0, "requests waited behind the slow one"
    t.join()
    assert slow["r"][0] == 200
    # TTOU: one worker leaves; the unix listener stays with the other
    srv.send_signal(signal.SIGTTOU)
    assert wait_until(lambda: len(srv.worker_pids()) == 1, 15)
    for _ in range(10):
        assert get(sock, "/")[0] == 200
    assert srv.request("GET", "/").status == 200


def test_stale_socket_file_is_replaced(server, tmp_path):
    sock = str(tmp_path / "app.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock)
    s.close()  # the file stays, nothing listens: a crashed server's leftover
    srv = server(APP, args=["-b", f"unix:{sock}"])
    assert f"Removed the stale socket file {sock}" in srv.log()
    assert get(sock)[0] == 200


def run_refused(tmp_path, bind):
    res = subprocess.run([str(require_binary()), "-b", bind, "--pythonpath", str(APPS), APP],
                         cwd=APPS, env=clean_env(), capture_output=True, text=True, timeout=30)
    return res.returncode, res.stdout + res.stderr


def test_live_socket_is_refused(tmp_path):
    sock = str(tmp_path / "app.sock")
    s = unix_listener(sock)
    try:
        code, out = run_refused(tmp_path, f"unix:{sock}")
        assert code == 2, out
        assert f"cannot listen on unix:{sock}: another server is listening on it" in out
        assert os.path.exists(sock)  # the other server's file is left alone
    finally:
        s.close()
    (tmp_path / "plain").write_text("x")
    code, out = run_refused(tmp_path, f"unix:{tmp_path}/plain")
    assert code == 2 and "exists and is not a socket" in out, out


def test_socket_file_kept_across_hup_removed_on_term(server, tmp_path):
    sock = str(tmp_path / "app.sock")
    srv = server(APP, args=["-b", f"unix:{sock}"])
    inode = os.stat(sock).st_ino
    before = get_json(sock)["pid"]
    srv.send_signal(signal.SIGHUP)
    assert wait_until(lambda: get_json(sock)["pid"] != before, 20), "no new worker after HUP"
    assert os.stat(sock).st_ino == inode
    assert srv.stop() == 0
    assert not os.path.exists(sock)


# ---- sockets handed over: fd://N and systemd socket activation -------------------------

# What systemd does between fork and exec: the sockets onto descriptors 3, 4, ... (argv[1]
# lists where they are now), LISTEN_PID set to the pid of the process that execs.
LAUNCHER = """
import fcntl, os, sys
fds = [int(f) for f in sys.argv[1].split(",")]
moved = [fcntl.fcntl(f, fcntl.F_DUPFD_CLOEXEC, 100) for f in fds]  # out of 3.. first
for i, f in enumerate(moved):
    os.dup2(f, 3 + i)
    os.close(f)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


class Launched:
    """A server started the way systemd starts an activated service, with sockets the
    test bound. Stopped, and its exit code checked, by the fixture below."""

    def __init__(self, tmp_path, socks, args=(), env=None, names=None, workers=1):
        self.log_path = tmp_path / f"launched-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        env = clean_env(env)
        env["LISTEN_FDS"] = str(len(socks))
        if names:
            env["LISTEN_FDNAMES"] = ":".join(names)
        fds = [s.fileno() for s in socks]
        self.cmd = [sys.executable, "-c", LAUNCHER, ",".join(map(str, fds)),
                    str(require_binary()), "-w", str(workers), "--pythonpath", str(APPS),
                    *args, APP]
        self.proc = subprocess.Popen(self.cmd, cwd=APPS, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, pass_fds=fds)
        self.pid = self.proc.pid

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def launch(tmp_path):
    started = []

    def start(*a, **kw):
        srv = Launched(tmp_path, *a, **kw)
        started.append(srv)
        return srv
    yield start
    for srv in started:
        code = srv.stop()
        assert code == 0, f"exit {code}\n{srv.log()}"


def tcp_listener(reuseport=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def http_get(port, target="/", timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", target)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wait_http(srv, port):
    def up():
        try:
            return http_get(port, timeout=2)[0] == 200
        except OSError:
            return False
    assert wait_until(up, 20), srv.log()


def test_fd_bind_with_a_socket_the_test_passes(tmp_path):
    """fd://N beside a unix bind: a TCP and a unix socket bound by the test and passed."""
    tcp = tcp_listener()
    port = tcp.getsockname()[1]
    handed = str(tmp_path / "handed.sock")
    u = unix_listener(handed)
    ufd = u.fileno()
    ours = str(tmp_path / "ours.sock")
    log = open(tmp_path / "fd.log", "wb")
    proc = subprocess.Popen([str(require_binary()), "-w", "2", "--pythonpath", str(APPS),
                             "-b", f"fd://{tcp.fileno()}", "-b", f"fd://{u.fileno()}",
                             "-b", f"unix:{ours}", APP],
                            cwd=APPS, env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
                            pass_fds=(tcp.fileno(), u.fileno()), start_new_session=True)
    tcp.close()  # the server holds its own copies
    u.close()
    try:
        assert wait_until(lambda: os.path.exists(ours), 20)
        assert wait_until(lambda: get(ours)[0] == 200, 20)
        assert http_get(port)[0] == 200
        assert get_json(handed)["REMOTE_ADDR"] == ""
        text = (tmp_path / "fd.log").read_text()
        assert f"from fd://{ufd}, one listener shared by every worker" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log.close()
    assert os.path.exists(handed), "a socket file handed over is not ours to remove"
    assert not os.path.exists(ours)


def test_fd_bind_refuses_what_is_not_a_listening_socket(tmp_path):
    code, out = run_refused(tmp_path, "fd://250")
    assert code == 2 and "cannot listen on fd://250: no such descriptor is open" in out, out


def test_socket_activation_shared(launch, tmp_path):
    """Two activated sockets (TCP without SO_REUSEPORT, unix) with names: the workers share
    both, --bind is not used, LISTEN_* do not reach the application."""
    tcp = tcp_listener()
    port = tcp.getsockname()[1]
    path = str(tmp_path / "act.sock")
    u = unix_listener(path)
    srv = launch([tcp, u], names=["web", "local"], workers=2, args=["-b", "127.0.0.1:1"])
    tcp.close()
    u.close()
    wait_http(srv, port)
    assert get_json(path)["REMOTE_ADDR"] == ""
    log = srv.log()
    assert "Socket activation: 2 sockets from systemd (LISTEN_FDS); --bind is not used" in log
    assert "from fd://3 (systemd: web), one listener shared by every worker" in log
    assert "from fd://4 (systemd: local), one listener shared by every worker" in log
    assert json.loads(http_get(port)[1])["inherited"] == {}
    srv.proc.send_signal(signal.SIGHUP)  # a reload keeps systemd's sockets
    time.sleep(1)
    assert http_get(port)[0] == 200
    assert "--bind changes need a restart" not in srv.log()
    assert srv.stop() == 0
    assert os.path.exists(path), "systemd's socket file is systemd's to remove"


def test_socket_activation_reuseport_group(launch):
    """An activated TCP socket with SO_REUSEPORT: each worker gets a listener of its own
    in its group, and connections reach both workers."""
    tcp = tcp_listener(reuseport=True)
    port = tcp.getsockname()[1]
    srv = launch([tcp], workers=2, args=["--no-work-sharing"])
    tcp.close()
    wait_http(srv, port)
    assert "each worker a listener of its own in its SO_REUSEPORT group" in srv.log()
    pids = set()
    assert wait_until(lambda: pids.add(json.loads(http_get(port)[1])["pid"]) or len(pids) == 2,
                      20), f"one worker only: {pids}\n{srv.log()}"


def test_socket_activation_for_another_process_is_ignored(server):
    srv = server(APP, env={"LISTEN_PID": "1", "LISTEN_FDS": "1"})
    assert "Socket activation" not in srv.log()
    assert srv.request("GET", "/").json()["inherited"] == {}


# ---- sd_notify --------------------------------------------------------------------------

class Manager:
    """The service manager's end of NOTIFY_SOCKET: a datagram socket the test binds."""

    def __init__(self, tmp_path, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.address = f"@uf-notify-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + self.address[1:])
        else:
            self.address = str(tmp_path / "notify.sock")
            self.sock.bind(self.address)
        self.messages = []

    def wait_for(self, predicate, timeout=20):
        """Reads datagrams until one satisfies predicate; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.messages.append(msg)
            if predicate(msg):
                return msg
        pytest.fail(f"no such notification within {timeout}s; got {self.messages}")


def fields(msg):
    return dict(line.split("=", 1) for line in msg.splitlines())


def test_sd_notify_ready_reload_stop(server, tmp_path):
    mgr = Manager(tmp_path)
    srv = server(APP, workers=2, env={"NOTIFY_SOCKET": mgr.address})
    ready = fields(mgr.wait_for(lambda m: "READY=1" in m))
    assert ready["MAINPID"] == str(srv.pid)
    assert ready["STATUS"].startswith("2 workers, ")
    # the workers and the application do not see NOTIFY_SOCKET
    assert srv.request("GET", "/").json()["inherited"] == {}
    old = set(srv.worker_pids())
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    srv.send_signal(signal.SIGHUP)
    reloading = fields(mgr.wait_for(lambda m: "RELOADING=1" in m))
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert before <= int(reloading["MONOTONIC_USEC"]) <= after
    mgr.wait_for(lambda m: "READY=1" in m)
    # READY=1 came once the new generation serves: no old worker answers any more
    for _ in range(6):
        assert srv.request("GET", "/").json()["pid"] not in old
    srv.stop()
    mgr.wait_for(lambda m: m == "STOPPING=1")
    order = [m.split("\n")[0] for m in mgr.messages if not m.startswith(("STATUS", "WATCHDOG"))]
    assert order == ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], mgr.messages


def test_sd_notify_watchdog_and_status(server, tmp_path):
    mgr = Manager(tmp_path, abstract=True)
    srv = server(APP, env={"NOTIFY_SOCKET": mgr.address, "WATCHDOG_USEC": "400000"})
    mgr.wait_for(lambda m: "READY=1" in m)
    started = time.monotonic()
    mgr.wait_for(lambda m: m == "WATCHDOG=1")
    mgr.wait_for(lambda m: m == "WATCHDOG=1")
    # half of 400 ms: two pings well within a second
    assert time.monotonic() - started < 1.5
    for _ in range(20):
        srv.request("GET", "/")
    status = fields(mgr.wait_for(lambda m: m.startswith("STATUS="), timeout=12))
    assert status["STATUS"].startswith("1 worker, ") and status["STATUS"].endswith("requests/s")
    assert "sd_notify: reporting to @uf-notify-" in srv.log()
    assert "watchdog on" in srv.log()


def test_sd_notify_watchdog_for_another_process(server, tmp_path):
    mgr = Manager(tmp_path)
    server(APP, env={"NOTIFY_SOCKET": mgr.address, "WATCHDOG_USEC": "200000",
                     "WATCHDOG_PID": "1"})
    mgr.wait_for(lambda m: "READY=1" in m)
    time.sleep(0.5)
    mgr.sock.setblocking(False)
    try:
        while True:
            mgr.messages.append(mgr.sock.recv(4096).decode())
    except BlockingIOError:
        pass
    assert "WATCHDOG=1" not in mgr.messages


def test_sd_notify_manager_gone_does_not_block(server, tmp_path):
    mgr = Manager(tmp_path)
    address = mgr.address
    mgr.sock.close()
    os.unlink(address)
    srv = server(APP, env={"NOTIFY_SOCKET": address})
    assert srv.request("GET", "/").status == 200
    assert wait_until(lambda: "sd_notify: cannot report to NOTIFY_SOCKET" in srv.log(), 5)
    assert srv.stop() == 0
    assert srv.log().count("sd_notify: cannot report") == 1
