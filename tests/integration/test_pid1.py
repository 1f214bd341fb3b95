"""The master as PID 1, as a container runs it: `unshare --pid --fork --mount-proc` makes
it the first process of a new pid namespace, where the kernel gives PID 1 every orphan to
reap and delivers a signal sent from inside only if PID 1 has asked for it.

Checked: orphans an application leaves behind are reaped (no zombie stays), TERM drains
and exits 0, INT stops at once and exits 0 (gunicorn's meanings), a worker killed with -9
from inside the namespace is replaced, and an application that cannot be imported ends
the master (and so the namespace) with a non-zero status. Signals are sent from inside
the namespace with nsenter, as `docker kill -s` and the kubelet do through the runtime.
"""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from urllib.parse import quote

import pytest

from conftest import (APPS, IO_TIMEOUT, START_TIMEOUT, STOP_TIMEOUT, children, clean_env,
                      free_port, require_binary, wait_until)

pytestmark = pytest.mark.skipif(
    not (shutil.which("unshare") and shutil.which("nsenter")) or os.geteuid() != 0,
    reason="needs util-linux's unshare and nsenter, and root for a new pid namespace")


class Pid1Server:
    """uwsgi-fast as PID 1 of a pid namespace of its own; `unshare` is its parent outside,
    and --kill-child ends the whole namespace if the test dies first."""

    def __init__(self, tmp_path, app, workers=2, args=()):
        self.port = free_port()
        self.dir = tmp_path / "orphans"
        self.dir.mkdir(exist_ok=True)
        self.log_path = tmp_path / f"pid1-{self.port}.log"
        self.cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--",
                    str(require_binary()), "-b", f"127.0.0.1:{self.port}", "-w", str(workers),
                    "--pythonpath", str(APPS), *args, app]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, cwd=APPS, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True,
                                         env=clean_env({"PID1_TEST_DIR": str(self.dir)}))
        # its pid outside the namespace; a master that fails at start (the import test) may
        # be gone before it is seen, which is no failure here: unshare's status says it
        wait_until(lambda: self._find_master() or self.proc.poll() is not None, 5)
        self.master = self._find_master()
        if not self.master and self.proc.poll() is None:
            self.fail("unshare started no master")

    def _find_master(self):
        pids = children(self.proc.pid)
        return pids[0] if pids else None

    def log(self):
        return self.log_path.read_text(errors="replace")

    def fail(self, message):
        pytest.fail(f"{message}\ncommand: {' '.join(self.cmd)}\n--- log ---\n{self.log()}",
                    pytrace=False)

    def get(self, path, timeout=IO_TIMEOUT):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                    timeout=timeout) as resp:
            return resp.status, resp.read()

    def get_json(self, path):
        status, body = self.get(path)
        assert status == 200, (status, body)
        return json.loads(body)

    def wait_ready(self):
        def answered():
            try:
                return self.get("/whoami", timeout=2)[0] == 200
            except OSError:
                return self.proc.poll() is not None   # ends the wait; checked below
        if not wait_until(answered, START_TIMEOUT, 0.1) or self.proc.poll() is not None:
            self.fail("the server did not answer as PID 1")
        return self

    def inside(self, *argv):
        """Runs argv in the namespace (its pids, its /proc)."""
        return subprocess.run(["nsenter", "--target", str(self.master), "--pid", "--mount",
                               "--", *argv], capture_output=True, text=True, timeout=10)

    def signal(self, sig, pid=1):
        res = self.inside("kill", f"-{sig.name[3:]}", str(pid))
        assert res.returncode == 0, res.stderr

    def workers(self):
        """The master's live children, in the namespace's pids."""
        res = self.inside("ps", "-o", "pid=,stat=", "--ppid", "1")
        return sorted(int(pid) for pid, state in map(str.split, res.stdout.splitlines())
                      if not state.startswith("Z"))

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        if self.proc.poll() is None:
            # unshare's death takes the master (--kill-child), and PID 1's the namespace
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@pytest.fixture
def pid1(tmp_path):
    started = []

    def start(app="pid1_app:app", **kw):
        srv = Pid1Server(tmp_path, app, **kw)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()


def test_master_is_pid_1(pid1):
    srv = pid1().wait_ready()
    me = srv.get_json("/whoami")
    assert me["ppid"] == 1, me
    assert me["pid"] in srv.workers()


def test_orphans_are_reaped(pid1):
    """Grandchildren whose parent exited are reparented to the master, which reaps each
    when it exits, quietly: not a worker, so no log line about it."""
    srv = pid1(workers=2).wait_ready()
    for _ in range(4):
        assert srv.get_json("/orphans?n=5") == {"left": 5}
    reports = wait_until(lambda: (lambda r: r if len(r) == 20 else None)(
        [p for p in srv.dir.iterdir() if not p.name.endswith(".tmp")]), 10)
    assert reports, f"only {list(srv.dir.iterdir())} of 20 orphans reported"
    assert {p.read_text() for p in reports} == {"1"}, "an orphan was not reparented to PID 1"
    orphans = {int(p.name) for p in reports}

    def none_left():
        alive = srv.inside("sh", "-c", " ".join(f"test -e /proc/{p} && echo {p};"
                                                for p in sorted(orphans)))
        return not alive.stdout.split() and srv.get_json("/zombies") == []
    assert wait_until(none_left, 5, 0.1), (
        f"zombies after 5 s: {srv.get_json('/zombies')}\n{srv.log()}")
    assert len(srv.workers()) == 2
    for pid in orphans:
        assert f"(pid:{pid})" not in srv.log(), srv.log()
    assert srv.get("/")[1] == b"Hello, World!"


def slow_request(srv, seconds, marker):
    """GET /slow in a thread; returns (thread, result list) once the app is inside it."""
    result = []

    def run():
        try:
            result.append(srv.get(f"/slow?s={seconds}&mark={quote(str(marker))}",
                                  timeout=seconds + 10))
        except OSError as e:
            result.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not wait_until(marker.exists, 10):
        srv.fail("the slow request never reached the application")
    return thread, result


def test_term_as_pid1_drains_and_exits_zero(pid1, tmp_path):
    srv = pid1(args=["--graceful-timeout", "10"]).wait_ready()
    thread, result = slow_request(srv, 1.5, tmp_path / "in-app")
    srv.signal(signal.SIGTERM)
    rc = srv.wait_exit()
    thread.join(5)
    assert result == [(200, b"slept")], result
    assert rc == 0, f"exit status {rc} after TERM\n{srv.log()}"
    assert "Handling signal: term" in srv.log()
    assert "Shutting down: Master" in srv.log()


def test_int_as_pid1_stops_at_once_and_exits_zero(pid1, tmp_path):
    srv = pid1(args=["--graceful-timeout", "20"]).wait_ready()
    slow_request(srv, 15, tmp_path / "in-app")
    start = time.monotonic()
    srv.signal(signal.SIGINT)
    rc = srv.wait_exit(5)
    assert rc is not None, f"still running 5 s after INT\n{srv.log()}"
    assert time.monotonic() - start < 5
    assert rc == 0, f"exit status {rc} after INT\n{srv.log()}"
    assert "Handling signal: int" in srv.log()


def test_term_from_outside_the_namespace(pid1):
    """What `docker stop` and the kubelet do: the runtime signals PID 1 from the host."""
    srv = pid1().wait_ready()
    os.kill(srv.master, signal.SIGTERM)
    assert srv.wait_exit() == 0, srv.log()


def test_worker_killed_from_inside_is_replaced(pid1):
    srv = pid1(workers=1).wait_ready()
    old = srv.get_json("/whoami")["pid"]
    srv.signal(signal.SIGKILL, old)

    def replaced():
        try:
            pid = srv.get_json("/whoami")["pid"]
        except OSError:
            return None
        return pid if pid != old else None
    new = wait_until(replaced, START_TIMEOUT, 0.1)
    assert new, f"worker {old} was not replaced\n{srv.log()}"
    assert srv.workers() == [new]
    assert wait_until(lambda: srv.get_json("/zombies") == [], 5), srv.get_json("/zombies")
    assert f"Worker (pid:{old}) was killed by SIGKILL" in srv.log(), srv.log()


def test_import_failure_as_pid1_exits_nonzero(pid1):
    srv = pid1("broken_import:app")
    rc = srv.wait_exit(START_TIMEOUT)
    assert rc is not None, f"still running after a failed import\n{srv.log()}"
    assert rc == 4, f"exit status {rc}, expected 4 (the application failed to load)\n{srv.log()}"
    assert "broken-import-sentinel" in srv.log()
