"""The command line and application loading: --help, --version, bad flags, bad apps."""
import os
import signal
import subprocess
import time

import pytest

from conftest import ROOT, free_port, run_binary


def test_help_lists_flags():
    res = run_binary(["--help"])
    assert res.returncode == 0, res.stderr
    for flag in ("--workers", "--bind", "--chdir", "--pythonpath", "--virtualenv",
                 "--keep-alive", "--graceful-timeout", "--error-logfile", "--log-level"):
        assert flag in res.stdout, f"--help does not mention {flag}"
    assert "-w" in res.stdout and "-b" in res.stdout


def test_version():
    res = run_binary(["--version"])
    assert res.returncode == 0, res.stderr
    version = (ROOT / "VERSION").read_text().strip()
    assert version in res.stdout, f"--version printed {res.stdout!r}, VERSION is {version}"
    assert "uwsgi-fast" in res.stdout.lower()


@pytest.mark.parametrize("args, names", [
    (["--no-such-flag", "basic:app"], ["no-such-flag"]),
    (["--workers", "abc", "basic:app"], ["workers"]),
    (["-w", "-3", "basic:app"], ["workers", "-w"]),
    (["--bind", "not-an-address:port", "basic:app"], ["bind"]),
    (["-b", "127.0.0.1:99999", "basic:app"], ["bind", "-b"]),
    (["--keep-alive", "soon", "basic:app"], ["keep-alive"]),
    (["--graceful-timeout", "-1", "basic:app"], ["graceful-timeout"]),
    (["--log-level", "loud", "basic:app"], ["log-level"]),
    (["--limit-request-line", "x", "basic:app"], ["limit-request-line"]),
    (["--workers"], ["workers"]),
])
def test_bad_flag_exits_2_with_one_line(args, names):
    res = run_binary(args)
    assert res.returncode == 2, f"exit {res.returncode}; stderr: {res.stderr!r}"
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {res.stderr!r}"
    assert any(n in lines[0] for n in names), f"{lines[0]!r} does not name {names}"
    assert res.stdout == ""


def test_missing_app_argument_exits_2():
    res = run_binary([])
    assert res.returncode == 2, f"exit {res.returncode}; stderr: {res.stderr!r}"
    assert res.stderr.strip(), "no message for a missing MODULE:CALLABLE"


def _app_failure(app, tmp_path):
    port = free_port()
    res = run_binary(["-b", f"127.0.0.1:{port}", "-w", "1", "--pythonpath",
                      str(ROOT / "tests" / "integration" / "apps"), app], timeout=20)
    return res, res.stdout + res.stderr


def test_unknown_module_exits_nonzero_with_traceback(tmp_path):
    res, out = _app_failure("no_such_module_xyz:app", tmp_path)
    assert res.returncode > 0, out
    assert "Traceback" in out, out
    assert "ModuleNotFoundError" in out and "no_such_module_xyz" in out, out


def test_module_raising_at_import_exits_nonzero_with_traceback(tmp_path):
    res, out = _app_failure("broken_import:app", tmp_path)
    assert res.returncode > 0, out
    assert "Traceback" in out and "broken-import-sentinel" in out, out
    assert "broken_import.py" in out, out


def test_missing_callable_exits_nonzero(tmp_path):
    res, out = _app_failure("basic:no_such_callable", tmp_path)
    assert res.returncode > 0, out
    assert "no_such_callable" in out, out


def test_error_logfile_receives_import_traceback(tmp_path):
    log = tmp_path / "error.log"
    res = run_binary(["-b", f"127.0.0.1:{free_port()}", "--error-logfile", str(log),
                      "--pythonpath", str(ROOT / "tests" / "integration" / "apps"),
                      "broken_import:app"], timeout=20)
    assert res.returncode > 0
    text = log.read_text() if log.exists() else ""
    assert "broken-import-sentinel" in text, (
        f"traceback not in --error-logfile; file: {text!r}; stderr: {res.stderr!r}")


def test_serve_example_takes_a_bind_instead_of_its_own(tmp_path):
    """scripts/serve-example's 127.0.0.1:8000 gives way to a -b of the user's: one
    listener, on the user's address."""
    port = free_port()
    proc = subprocess.Popen([str(ROOT / "scripts" / "serve-example"), "-b", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        lines = []
        deadline = time.monotonic() + 120  # it may build first
        while time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            if not line:
                break
            lines.append(line)
            if "Using " in line:  # after every "Listening at" line
                break
        listening = [ln for ln in lines if "Listening at:" in ln]
        assert len(listening) == 1 and f"127.0.0.1:{port}" in listening[0], "".join(lines)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
