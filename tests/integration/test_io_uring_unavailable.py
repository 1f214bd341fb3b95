"""io_uring blocked the way container runtimes block it: a seccomp filter on io_uring_setup.

Docker >= 25 and containerd 2 ship default seccomp profiles that refuse io_uring_setup with
EPERM; stricter profiles kill the process. The server must say so at start, in one clear
line naming the cause and the fix, and exit non-zero without serving anything.
"""
import ctypes
import os
import subprocess

import pytest

from conftest import BINARY, free_port

NR_IO_URING_SETUP = 425          # the same number on every architecture since 5.1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
BPF_LD_W_ABS = 0x20              # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15                 # BPF_JMP | BPF_JEQ | BPF_K
BPF_RET_K = 0x06                 # BPF_RET | BPF_K


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def deny_io_uring_setup(action):
    """A preexec_fn installing a filter that answers io_uring_setup with `action`."""

    def install():
        libc = ctypes.CDLL(None, use_errno=True)
        program = (SockFilter * 4)(
            SockFilter(BPF_LD_W_ABS, 0, 0, 0),                     # A = seccomp_data.nr
            SockFilter(BPF_JEQ_K, 0, 1, NR_IO_URING_SETUP),
            SockFilter(BPF_RET_K, 0, 0, action),
            SockFilter(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        )
        prog = SockFprog(len(program), program)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")

    return install


def run_blocked(action, tmp_path):
    port = free_port()
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "tiny.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'unreachable']\n")
    return subprocess.run(
        [str(BINARY), "-w", "1", "-b", f"127.0.0.1:{port}", "--chdir", str(app_dir), "tiny:app"],
        preexec_fn=deny_io_uring_setup(action), capture_output=True, text=True, timeout=30)


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
