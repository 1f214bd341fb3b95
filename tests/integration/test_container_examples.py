"""examples/container's seccomp allowlist applied for real around the server, as a
container runtime would apply it, with no container runtime: the profile becomes a
classic-BPF filter installed before the binary is exec'd.
"""
import json
import signal
import urllib.request

import pytest

from conftest import EXAMPLES, VENV, free_port, wait_until
from seccomp_filter import allow_only, profile_allowlist, x86_64_numbers

PROFILE = EXAMPLES / "container" / "seccomp-io-uring.json"
IO_URING_CALLS = {"io_uring_setup", "io_uring_enter", "io_uring_register"}


# ---- the seccomp profile, applied --------------------------------------------------------

def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.parametrize("without,engine", [((), "io_uring"), (IO_URING_CALLS, "epoll")])
def test_seccomp_profile_applied_serves_flask(server, without, engine):
    """examples/container/seccomp-io-uring.json, made a filter (everything else EPERM, as
    its defaultAction says): a Flask application is served on io_uring, with reloads. The
    same allowlist without the io_uring calls falls back to epoll: the filter is live."""
    numbers = x86_64_numbers()
    if numbers is None:
        pytest.skip("the profile is x86_64's, and needs asm/unistd_64.h to be rebuilt")
    profile, names = profile_allowlist(PROFILE)
    assert "SCMP_ARCH_X86_64" in profile["architectures"]
    unknown = sorted(set(names) - set(numbers))
    assert not unknown, f"not x86_64 system calls: {unknown}"
    assert IO_URING_CALLS <= set(names)
    assert len(names) == len(set(names)), "a call listed twice"

    stats_port = free_port()
    allowed = [numbers[n] for n in names if n not in without]
    srv = server("flask_app:app", workers=2, probe="/api/items",
                 args=["--virtualenv", str(VENV), "--engine", "auto",
                       "--stats-bind", f"127.0.0.1:{stats_port}"],
                 preexec_fn=allow_only(allowed))
    assert stats(stats_port)["engine"] == engine, srv.log()
    for i in range(20):
        resp = srv.request("POST", "/api/sum", body=json.dumps({"numbers": [i, 2, 3]}),
                           headers={"Content-Type": "application/json"})
        assert resp.status == 200 and resp.json()["sum"] == i + 5, resp
    # a reload forks new workers and imports the application again under the filter
    old = set(srv.wait_workers(2))
    srv.send_signal(signal.SIGHUP)
    srv.wait_workers(2, exclude=old)
    wait_until(lambda: not set(srv.worker_pids()) & old, 10)
    assert srv.request("GET", "/api/items").status == 200
    log = srv.log()
    if engine == "io_uring":
        assert "cannot be used" not in log and "Engine: io_uring (--engine auto)" in log, log
    else:
        assert "io_uring cannot be used" in log and "seccomp" in log, log
    # nothing else the server or Flask does was refused: the two lines that say so are
    # the fallback's (io_uring_setup) and the steering program's (bpf, left out of the
    # profile on purpose)
    expected = ("io_uring cannot be used", "Steering to idle workers is off")
    refused = [line for line in log.splitlines() if "Operation not permitted" in line
               and not any(e in line for e in expected)]
    assert not refused and "Traceback" not in log, log
    assert srv.stop() == 0


def exercise(srv):
    resp = srv.request("GET", "/exercise", timeout=60)
    assert resp.status == 200, resp
    return resp.json()


def test_stdlib_exercise_without_a_filter(server):
    """What examples/container/derive-seccomp traces besides the suite's applications:
    an ordinary application's use of the standard library (apps/stdlib_app.py)."""
    srv = server("stdlib_app:app")
    results = exercise(srv)
    assert set(results.values()) == {"ok"}, results


def test_seccomp_profile_covers_the_stdlib_exercise(server):
    """The same, under the profile: files, SQLite, subprocesses, sockets, threads ...
    are all allowed."""
    numbers = x86_64_numbers()
    if numbers is None:
        pytest.skip("the profile is x86_64's, and needs asm/unistd_64.h to be rebuilt")
    _, names = profile_allowlist(PROFILE)
    srv = server("stdlib_app:app",
                 preexec_fn=allow_only([numbers[n] for n in names]))
    results = exercise(srv)
    assert set(results.values()) == {"ok"}, results
