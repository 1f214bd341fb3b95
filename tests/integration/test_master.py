"""The master under churn: reloads, recycling, deaths, hung workers and memory limits.

Every test here drives real load over loopback while the master changes its workers, and
counts every request: churn must never drop one that the kernel already accepted.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import APPS, BINARY, clean_env, free_port, read_response, wait_until


def _get(port, path, sock=None, close=False, timeout=10.0):
    """One GET; returns (status, body, sock or None if the server closes)."""
    own = sock is None
    if own:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    extra = b"Connection: close\r\n" if close else b""
    sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"EOF before the response ({data[:60]!r})")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("EOF in the body")
        body += chunk
    status = int(head.split(b" ", 2)[1])
    if close or re.search(rb"(?i)connection: *close", head):
        sock.close()
        sock = None
    return status, body, sock


class Load:
    """Keep-alive and Connection: close clients hammering a port until stopped."""

    def __init__(self, port, keepalive=4, close=4, path="/"):
        self.port, self.path = port, path
        self.ok = 0
        self.errors = []
        self.stopping = False
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(False,)) for _ in range(keepalive)]
        self.threads += [threading.Thread(target=self._run, args=(True,)) for _ in range(close)]
        for t in self.threads:
            t.start()

    def _run(self, close):
        sock = None
        while not self.stopping:
            try:
                status, _, sock = _get(self.port, self.path, sock=sock, close=close)
                with self.lock:
                    if status == 200:
                        self.ok += 1
                    else:
                        self.errors.append(f"status {status}")
            except Exception as e:  # every failure counts: this is what the test is about
                with self.lock:
                    self.errors.append(repr(e))
                if sock:
                    sock.close()
                sock = None
        if sock:
            sock.close()

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(timeout=15)
        return self.ok, self.errors


def test_hup_every_second_under_load_drops_nothing(server):
    srv = server("master_apps:app", workers=2)
    before = set(srv.worker_pids())
    load = Load(srv.port)
    for _ in range(30):
        time.sleep(1)
        srv.send_signal(signal.SIGHUP)
    time.sleep(1)
    ok, errors = load.stop()
    print(f"HUP test: {ok} requests served during 30 reloads, {len(errors)} failed")
    assert errors == []
    assert ok > 1000
    assert srv.log().count("Handling signal: hup") == 30
    assert not before & set(srv.worker_pids()), "HUP did not replace the workers"


def test_max_requests_with_jitter_drops_nothing(server):
    srv = server("master_apps:app", workers=2,
                 args=["--max-requests", "200", "--max-requests-jitter", "50"])
    load = Load(srv.port)
    # Recycling is one worker at a time, each waiting for its successor to accept, so
    # under heavy load a worker serves more than its limit before its turn comes.
    wait_until(lambda: load.ok >= 3000 and srv.log().count("): max-requests") >= 4, timeout=60)
    ok, errors = load.stop()
    assert errors == []
    assert srv.log().count("): max-requests") >= 4, srv.log()


def test_killed_worker_loses_only_its_request(server, tmp_path):
    srv = server("master_apps:app", workers=1)
    (victim,) = srv.worker_pids()
    slow = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    slow.sendall(b"GET /slow?5 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.3)   # the worker is inside the application now
    # these wait in the listener's accept queue: the busy worker cannot take them
    queued = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(5)]
    for s in queued:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.2)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    first_answer = None
    answers = set()
    for s in queued:
        status, body, _ = _get_response(s)
        first_answer = first_answer or time.monotonic()
        assert status == 200
        answers.add(int(body))
    latency_ms = (first_answer - killed_at) * 1000
    print(f"replacement served its first queued request {latency_ms:.0f} ms after the kill")
    assert answers and victim not in answers
    assert latency_ms < 1000   # the 100 ms target is reported by the benchmark note
    slow.settimeout(5)
    assert slow.recv(100) == b""     # only the slow request was lost
    slow.close()


def _get_response(sock):
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("EOF")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), body, sock


def test_hung_request_is_killed_at_timeout(server):
    srv = server("master_apps:app", workers=2, args=["--timeout", "2"])
    # a keep-alive connection that will keep being answered by whichever worker took it
    status, body, keep = _get(srv.port, "/")
    other = int(body)
    spin = None
    for _ in range(20):   # land /spin on the other worker (SO_REUSEPORT hashes by port)
        spin = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        spin.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n")
        _, who, spin = _get_response(spin)
        if int(who) != other:
            break
        spin.close()
    else:
        pytest.skip("could not reach the second worker")
    hung = int(who)
    started = time.monotonic()
    spin.sendall(b"GET /spin HTTP/1.1\r\nHost: t\r\n\r\n")
    # the other worker keeps answering meanwhile
    for _ in range(10):
        status, body, keep = _get(srv.port, "/", sock=keep)
        assert status == 200 and int(body) == other
        time.sleep(0.1)
    # its client is answered 500 before the worker is killed, as gunicorn answers it
    spin.settimeout(10)
    resp = read_response(spin.makefile("rb"))
    assert resp.status == 500 and resp.header("Connection") == "close", resp
    elapsed = time.monotonic() - started
    assert 1.95 <= elapsed <= 3.5, elapsed
    assert wait_until(lambda: hung not in srv.worker_pids() and len(srv.worker_pids()) == 2, 5)
    log = srv.log()
    assert log.count("WORKER TIMEOUT") == 1
    assert '"GET /spin"' in log
    status, _, _ = _get(srv.port, "/", close=True)
    assert status == 200


# ---- memory limits, inside a child memory cgroup of our own ----------------------------

def _memory_cgroup():
    """(directory to create cgroups in, limit file, version) for the memory controller."""
    own = dict(line.split(":", 2)[1:] for line in Path("/proc/self/cgroup").read_text().split("\n") if line)
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    for line in mounts:
        fields = line.split(" - ")
        mnt = line.split()[4]
        fstype, _, options = fields[1].split()[:3]
        if fstype == "cgroup2" and "memory" in Path(mnt, "cgroup.controllers").read_text() \
                if Path(mnt, "cgroup.controllers").exists() else False:
            return Path(mnt + own.get("", "/")), "memory.max", 2
    for line in mounts:
        fields = line.split(" - ")
        fstype, _, options = fields[1].split()[:3]
        if fstype == "cgroup" and "memory" in options.split(","):
            mnt = line.split()[4]
            key = next(k for k in own if "memory" in k.split(","))
            return Path(mnt + own[key]), "memory.limit_in_bytes", 1
    return None


@pytest.fixture
def memory_cgroup():
    found = _memory_cgroup()
    if not found or os.geteuid() != 0:
        pytest.skip("no memory cgroup controller we can create children in")
    parent, limit_file, version = found
    path = parent / f"uwsgi-fast-test-{os.getpid()}"
    try:
        path.mkdir()
    except OSError as e:
        pytest.skip(f"cannot create a memory cgroup: {e}")
    if version == 2 and "memory" not in (parent / "cgroup.subtree_control").read_text():
        path.rmdir()
        pytest.skip("memory controller not delegated to children")
    yield path, limit_file, version
    for _ in range(50):
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.1)


def _oom_kills(path, version):
    if version == 2:
        text = (path / "memory.events").read_text()
        return int(re.search(r"oom_kill (\d+)", text).group(1))
    text = (path / "memory.oom_control").read_text()
    m = re.search(r"oom_kill (\d+)", text)
    return int(m.group(1)) if m else 0


def _start_in_cgroup(path, args, env, tmp_path):
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    procs = path / "cgroup.procs"
    proc = subprocess.Popen(
        [str(BINARY), "-b", f"127.0.0.1:{port}", "--pythonpath", str(APPS), *args,
         "master_apps:app"],
        cwd=APPS, env=clean_env(env), stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=lambda: procs.write_text(str(os.getpid())), start_new_session=True)

    def up():
        try:
            _get(port, "/", close=True, timeout=2)
            return True
        except OSError:
            return False

    assert wait_until(up, 20), (tmp_path / "server.log").read_text()
    return proc, port, tmp_path / "server.log"


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_workers_never_exceed_the_memory_budget(memory_cgroup, tmp_path):
    path, limit_file, version = memory_cgroup
    (path / limit_file).write_text(str(400 << 20))
    proc, port, log = _start_in_cgroup(
        path, ["-w", "8", "--memory-reserve", "64"], {"UF_TEST_BALLAST_MB": "60"}, tmp_path)
    try:
        time.sleep(2)
        text = log.read_text()
        workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        assert 1 <= len(workers) <= 336 // 60, text
        assert "instead of 8" in text and "memory budget" in text, text
        assert _oom_kills(path, version) == 0
    finally:
        _stop(proc)


def test_leaking_app_is_recycled_before_the_oom_killer(memory_cgroup, tmp_path):
    path, limit_file, version = memory_cgroup
    (path / limit_file).write_text(str(300 << 20))
    proc, port, log = _start_in_cgroup(
        path, ["-w", "1", "--reload-on-rss", "100", "--memory-reserve", "32"], {}, tmp_path)
    try:
        served = 0
        sock = None
        for _ in range(150):          # 150 x 4 MB = 600 MB leaked in total, twice the limit
            status, _, sock = _get(port, "/leak", sock=sock)
            assert status == 200
            served += 1
            time.sleep(0.03)
        text = log.read_text()
        assert served == 150
        assert "reload-on-rss" in text, text
        assert _oom_kills(path, version) == 0, text
    finally:
        if sock:
            sock.close()
        _stop(proc)


def test_ttin_ttou_under_load_drop_nothing(server):
    """TTIN adds a worker with its own listener; TTOU drains the top one. New connections
    must stop going to a listener whose worker is leaving (its queue would be reset when
    it closes, since net.ipv4.tcp_migrate_req is off by default), so nothing fails."""
    srv = server("master_apps:app", workers=2)
    load = Load(srv.port, keepalive=2, close=8)
    for _ in range(4):
        srv.send_signal(signal.SIGTTIN)
        wait_until(lambda: len(srv.worker_pids()) == 3, timeout=15)
        time.sleep(0.5)
        srv.send_signal(signal.SIGTTOU)
        wait_until(lambda: len(srv.worker_pids()) == 2, timeout=15)
        time.sleep(0.5)
    ok, errors = load.stop()
    print(f"TTIN/TTOU test: {ok} requests served during 4 scale-ups and downs, "
          f"{len(errors)} failed")
    assert errors == []
    assert ok > 500
    assert srv.log().count("Handling signal: ttou") == 4


def test_worker_deaths_are_named_for_what_happened(server):
    """A fault is a crash, not "was sent"; a non-zero exit is an error; a SIGKILL from
    outside says it came from outside. Each worker is replaced."""
    srv = server("master_apps:app", workers=1)
    srv.allow_crash_markers = True  # the SIGSEGV is on purpose

    def die(path, line):
        (pid,) = srv.worker_pids()
        try:
            srv.request("GET", path)
        except (OSError, Exception):
            pass  # the connection dies with the worker
        srv.wait_workers(1, timeout=10, exclude=[pid])
        assert wait_until(lambda: line % pid in srv.log(), 5), srv.log()
        return pid

    pid = die("/segv", "[ERROR] Worker (pid:%d) crashed: SIGSEGV")
    assert "Worker (pid:%d) was sent" % pid not in srv.log()
    die("/exit1", "[ERROR] Worker (pid:%d) exited with code 1")
    (pid,) = srv.worker_pids()
    os.kill(pid, signal.SIGKILL)
    srv.wait_workers(1, timeout=10, exclude=[pid])
    assert wait_until(lambda: "[ERROR] Worker (pid:%d) was killed by SIGKILL from outside" % pid
                      in srv.log(), 5), srv.log()
    assert srv.request("GET", "/").status == 200


def test_workers_leave_when_the_master_is_killed(server):
    """kill -9 of the master (or the OOM killer choosing it) must not leave workers
    serving on without anyone to supervise them: they drain and exit, as gunicorn's do
    when their parent changes."""
    srv = server("basic:app", workers=2)
    workers = srv.wait_workers(2)
    assert srv.request("GET", "/").status == 200
    os.kill(srv.pid, signal.SIGKILL)
    srv.wait_exit()
    assert wait_until(lambda: not any(os.path.exists(f"/proc/{w}") and
                                      "zombie" not in Path(f"/proc/{w}/status").read_text()
                                      for w in workers), 10), workers
    srv.allow_crash_markers = True
