"""io_uring blocked the way container runtimes block it: a seccomp filter on io_uring_setup.

Docker >= 25 and containerd 2 ship default seccomp profiles that refuse io_uring_setup with
EPERM; stricter profiles kill the process. With --engine io_uring the server must say so
at start, in one clear line naming the cause and the fix, and exit non-zero without serving
anything. With --engine auto (the default) it serves on epoll instead and says, in one
line, why and what would bring io_uring back.
"""
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import BINARY, STOP_TIMEOUT, free_port
from seccomp_filter import (NR_IO_URING_SETUP, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS,
                            deny_one)


def deny_io_uring_setup(action):
    """A preexec_fn installing a filter that answers io_uring_setup with `action`."""
    return deny_one(NR_IO_URING_SETUP, action)


def blocked_cmd(tmp_path, engine):
    port = free_port()
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "tiny.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'served']\n")
    cmd = [str(BINARY), "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", str(app_dir),
           "--engine", engine, "tiny:app"]
    return cmd, port


def run_blocked(action, tmp_path):
    cmd, _ = blocked_cmd(tmp_path, "io_uring")
    return subprocess.run(cmd, preexec_fn=deny_io_uring_setup(action), capture_output=True,
                          text=True, timeout=30)


@pytest.mark.parametrize("action,words", [
    (SECCOMP_RET_ERRNO | 1, ["seccomp", "io_uring_setup", "Operation not permitted"]),
    (SECCOMP_RET_KILL_PROCESS, ["seccomp", "killed", "io_uring_setup"]),
])
def test_blocked_io_uring_is_reported_at_start(tmp_path, action, words):
    proc = run_blocked(action, tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "CRITICAL" in line]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "allow io_uring_setup" in lines[0] or "allows io_uring_setup" in lines[0]
    # nothing was started: no worker booted, nothing listens
    assert "Booting worker" not in proc.stderr


def first_body(port):
    """The body of GET / once the server answers (within 15 s), or None."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
        except OSError:
            time.sleep(0.1)
    return None


@pytest.mark.parametrize("action,words", [
    (SECCOMP_RET_ERRNO | 1, ["seccomp", "io_uring_setup", "Operation not permitted"]),
    (SECCOMP_RET_KILL_PROCESS, ["seccomp", "killed", "io_uring_setup"]),
])
def test_blocked_io_uring_falls_back_to_epoll(tmp_path, action, words):
    """--engine auto under the same filters: served on epoll, one line says why and how
    to get io_uring back; /metrics and /stats name the engine."""
    env = dict(os.environ)
    env.pop("UWSGI_FAST_ENGINE", None)   # the default, auto, whatever the suite runs on
    cmd, port = blocked_cmd(tmp_path, "auto")
    stats_port = free_port()
    cmd[1:1] = ["--stats-bind", f"127.0.0.1:{stats_port}"]
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, preexec_fn=deny_io_uring_setup(action), stdout=out,
                                stderr=subprocess.STDOUT, env=env)
    try:
        body = first_body(port)
        assert body == b"served", log.read_text()
        # both workers answer: a few requests over fresh connections
        for _ in range(10):
            assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() == body
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/metrics",
                                         timeout=5).read().decode()
        assert 'engine="epoll"' in metrics
        stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/stats",
                                                  timeout=5).read())
        assert stats["engine"] == "epoll"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOP_TIMEOUT)
    text = log.read_text()
    lines = [line for line in text.splitlines() if "cannot be used" in line]
    assert len(lines) == 1, text
    assert "WARNING" in lines[0] and "run on epoll" in lines[0], lines[0]
    assert "Engine: epoll (--engine auto" in text, text   # the banner
    for word in words:
        assert word in lines[0], lines[0]
    assert "allow io_uring_setup" in lines[0] or "allows io_uring_setup" in lines[0]
    assert "CRITICAL" not in text and "Traceback" not in text, text
    assert proc.returncode == 0, text


def test_epoll_named_needs_no_probe(tmp_path):
    """--engine epoll does not touch io_uring at all: a filter that kills on
    io_uring_setup does not matter, and the start line says epoll was asked for."""
    cmd, port = blocked_cmd(tmp_path, "epoll")
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, preexec_fn=deny_io_uring_setup(SECCOMP_RET_KILL_PROCESS),
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        body = first_body(port)
        assert body == b"served", log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOP_TIMEOUT)
    text = log.read_text()
    assert "Engine: epoll (--engine epoll" in text, text
    assert "io_uring features" not in text and "cannot be used" not in text
    assert proc.returncode == 0, text


BLOCK_IN_WORKER_HOOK = """\
import sys
sys.path.insert(0, {testdir!r})
from seccomp_filter import NR_IO_URING_SETUP, SECCOMP_RET_ERRNO, deny_one

def post_fork(server, worker):
    # after the master's probe passed: only this worker's own io_uring_setup fails
    if worker.slot == 1:
        deny_one(NR_IO_URING_SETUP, SECCOMP_RET_ERRNO | 1)()
"""


@pytest.mark.parametrize("engine", ["auto", "io_uring"])
def test_a_workers_own_io_uring_failure(tmp_path, engine):
    """The master's probe succeeds, but one worker's io_uring_setup fails (its post_fork
    hook installs the filter; in real life a --user the kernel does not admit, or a
    profile applied late). With auto that worker serves on epoll beside its io_uring
    sibling and says why, and /stats and /metrics name each worker's engine; with
    --engine io_uring the worker refuses to boot, with the reason, and so does the server."""
    env = dict(os.environ)
    env.pop("UWSGI_FAST_ENGINE", None)
    cmd, port = blocked_cmd(tmp_path, engine)
    hooks = tmp_path / "hooks.py"
    hooks.write_text(BLOCK_IN_WORKER_HOOK.format(testdir=os.path.dirname(__file__)))
    stats_port = free_port()
    cmd[1:1] = ["-c", str(hooks), "--stats-bind", f"127.0.0.1:{stats_port}"]
    log = tmp_path / "server.log"
    if engine == "io_uring":
        with open(log, "w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                  timeout=60)
        text = log.read_text()
        assert proc.returncode != 0, text
        assert "Worker failed to boot" in text and "Operation not permitted" in text, text
        assert "epoll" not in text.replace("--engine io_uring", ""), text
        return
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        assert first_body(port) == b"served", log.read_text()
        deadline = time.monotonic() + 15
        while True:
            stats = json.loads(urllib.request.urlopen(
                f"http://127.0.0.1:{stats_port}/stats", timeout=5).read())
            engines = {w["worker"]: w["engine"] for w in stats["workers"]
                       if w["state"] == "ready"}
            if len(engines) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert engines == {0: "io_uring", 1: "epoll"}, stats
        assert stats["engine"] == "io_uring"   # the master's choice
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/metrics",
                                         timeout=5).read().decode()
        assert 'worker="1",' in metrics and 'engine="epoll"} 1' in metrics, metrics
        # both workers serve: their listeners take new connections in turn
        served = {w["worker"]: w["requests"] for w in stats["workers"]}
        for _ in range(40):
            assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() \
                == b"served"
        stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/stats",
                                                  timeout=5).read())
        grew = {w["worker"] for w in stats["workers"] if w["requests"] > served[w["worker"]]}
        assert grew == {0, 1}, stats
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOP_TIMEOUT)
    text = log.read_text()
    lines = [line for line in text.splitlines() if "since its ring failed" in line]
    assert len(lines) == 1 and "Operation not permitted" in lines[0], text
    assert "WARNING" in lines[0], lines[0]
    assert "Traceback" not in text and "CRITICAL" not in text, text
    assert proc.returncode == 0, text
