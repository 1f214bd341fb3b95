"""gunicorn's server hooks: called at gunicorn's moments, with objects that behave like
gunicorn's for what hooks use, and failures handled as documented.

The sequence test drives uwsgi-fast through start, a request, HUP, TTIN, TTOU, kill -9 of
a worker, INT to a worker and TERM with apps/hooks_conf.py (each hook appends a line to a
file) and compares, phase by phase, which hooks ran where with what gunicorn 27.0.1 did
for the same script and the same steps (tests/fixtures/gunicorn-27.0.1-hooks.txt).
Re-record that fixture with:  python tests/integration/test_hooks.py record GUNICORN_BIN
"""
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import APPS, ROOT, VENV, clean_env, children, free_port, require_binary, wait_until

FIXTURE = ROOT / "tests" / "fixtures" / "gunicorn-27.0.1-hooks.txt"
HOOKS_CONF = APPS / "hooks_conf.py"
PHASES = ["start", "request", "hup", "ttin", "ttou", "kill9", "int-worker", "term"]


def _settle(path, timeout=15.0, quiet=1.0):
    """Waits until the hook log has not grown for `quiet` seconds (bounded)."""
    end = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < end:
        size = path.stat().st_size if path.exists() else 0
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


def drive(cmd, workdir, port):
    """Runs a server command through the phases; returns the hook log's lines with each
    phase's end marked "--- PHASE"."""
    log = Path(workdir) / "hooks.log"
    env = clean_env({"HOOK_LOG": str(log)})
    out = open(Path(workdir) / "server.log", "wb")
    proc = subprocess.Popen(cmd, cwd=APPS, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)

    def mark(phase):
        _settle(log)
        with open(log, "a") as f:
            f.write("--- %s\n" % phase)

    def request():
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/x")
        conn.getresponse().read()
        conn.close()

    try:
        assert wait_until(lambda: len(children(proc.pid)) == 2, 15), "workers did not start"
        mark("start")
        wait_until(lambda: _try(request), 10)
        mark("request")
        # each phase ends when the workers it changes are there or gone (a scale-down
        # waits for steering to settle before its worker drains), then the log is quiet
        old = set(children(proc.pid))
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: len(children(proc.pid)) == 2
                          and not old & set(children(proc.pid)), 20)
        mark("hup")
        proc.send_signal(signal.SIGTTIN)
        assert wait_until(lambda: len(children(proc.pid)) == 3, 15)
        mark("ttin")
        proc.send_signal(signal.SIGTTOU)
        assert wait_until(lambda: len(children(proc.pid)) == 2, 15)
        mark("ttou")
        os.kill(sorted(children(proc.pid))[0], signal.SIGKILL)
        mark("kill9")
        assert wait_until(lambda: len(children(proc.pid)) == 2, 15)
        os.kill(sorted(children(proc.pid))[0], signal.SIGINT)
        mark("int-worker")
        assert wait_until(lambda: len(children(proc.pid)) == 2, 15)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        mark("term")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()
    return log.read_text().splitlines(), proc.pid


def _try(fn):
    try:
        fn()
        return True
    except OSError:
        return False


def normalise(lines, master_pid):
    """Each hook line as "hook role args" without pids (hooks_conf.py writes the pid of
    the process it ran in second, and worker pids among the arguments)."""
    out = []
    for line in lines:
        if line.startswith("---"):
            out.append(line)
            continue
        name, pid, *args = line.split()
        role = "master" if int(pid) == master_pid else "worker"
        args = [a for a in args if not a.isdigit() or name in ("nworkers_changed",
                                                                  "on_starting")]
        out.append(" ".join([name, role] + args))
    return out


def by_phase(lines):
    phases, current = {}, []
    for line in lines:
        if line.startswith("--- "):
            phases[line[4:]] = collections.Counter(current)
            current = []
        else:
            current.append(line)
    return phases


def test_hook_sequence_matches_gunicorn(tmp_path):
    port = free_port()
    cmd = [str(require_binary()), "-c", str(HOOKS_CONF), "-b", f"127.0.0.1:{port}",
           "--pythonpath", str(APPS), "basic:app"]
    lines, master = drive(cmd, tmp_path, port)
    ours = normalise(lines, master)
    want = [l for l in FIXTURE.read_text().splitlines() if l and not l.startswith("#")]
    got_phases, want_phases = by_phase(ours), by_phase(want)
    assert list(got_phases) == PHASES, ours
    for phase in PHASES:
        assert got_phases[phase] == want_phases[phase], (phase, ours)
    # the order that matters within the phases: start as gunicorn starts
    start = ours[:ours.index("--- start")]
    assert start[:3] == ["nworkers_changed master 2 None", "on_starting master 2",
                         "when_ready master"]
    # per worker: post_fork, then post_worker_init; worker_exit before the master's
    # child_exit for it (pids are kept here)
    seen = {}
    for i, line in enumerate(lines):
        parts = line.split()
        if parts[0] in ("post_fork", "post_worker_init", "worker_exit", "worker_int",
                        "pre_request", "post_request"):
            seen.setdefault(parts[1], []).append(parts[0])
        if parts[0] == "child_exit":
            events = seen.get(parts[2], [])
            assert events and events[0] == "post_fork" and events[1] == "post_worker_init"
            if "worker_exit" in events:  # a SIGKILLed worker has none
                assert events[-1] == "worker_exit", events
    server_log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in server_log, server_log


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_hook_objects_and_request_timing(server, tmp_path):
    """server.cfg/.log/.pid/.num_workers/.app, worker.pid/.ppid/.age/.alive/.slot, and
    the timing use of pre_request/post_request (an attribute set on req survives)."""
    out = tmp_path / "out.txt"
    conf = _write(tmp_path, "gunicorn.conf.py", f"""
import os, time
OUT = {str(out)!r}
def note(*a):
    with open(OUT, "a") as f:
        f.write(" ".join(str(x) for x in a) + "\\n")
def when_ready(server):
    note("ready", server.pid == os.getpid(), server.num_workers, server.cfg.workers,
         server.cfg.timeout, server.app.app_uri, server.cfg.bind[0].startswith("127.0.0.1:"))
    server.log.info("hook says %s", "hello-from-when-ready")
def post_fork(server, worker):
    note("post_fork", worker.pid == os.getpid(), worker.ppid == server.pid == os.getppid(),
         worker.age, worker.slot, worker.alive, worker.tmp)
def pre_request(worker, req):
    req.started = time.monotonic()
def post_request(worker, req, environ, resp):
    note("took", req.method, req.path, req.query, resp.status_code, resp.sent,
         environ["PATH_INFO"], time.monotonic() - req.started >= 0, worker.nr,
         dict(req.headers).get("X-TEST"))
def child_exit(server, worker):
    note("child_exit", worker.pid not in server.WORKERS, worker.age)
""")
    srv = server("basic:app", workers=1, args=["-c", str(conf), "--timeout", "30"])
    resp = srv.request("GET", "/echo?a=1", body=b"12345", headers={"X-Test": "yes"})
    assert resp.status == 200
    srv.stop()
    text = out.read_text()
    assert "ready True 1 1 30 basic:app True" in text, text
    assert "post_fork True True 1 0 True None" in text, text
    assert "took GET /echo a=1 200 5 /echo True 2 yes" in text, text  # after the ready probe
    assert "child_exit True 1" in text, text
    log = srv.log()
    assert "hook says hello-from-when-ready" in log


def test_hook_failures_as_gunicorn(server, tmp_path):
    """A failing when_ready is logged and the server serves; a failing post_fork ends
    that worker (its successor boots); a failing pre_request answers 500 and
    post_request still runs; a failing post_request is logged and the response stands."""
    flag = tmp_path / "post_fork_failed"
    out = tmp_path / "out.txt"
    conf = _write(tmp_path, "gunicorn.conf.py", f"""
import os
def when_ready(server):
    raise RuntimeError("when-ready-sentinel")
def post_fork(server, worker):
    if not os.path.exists({str(flag)!r}):
        open({str(flag)!r}, "w").close()
        raise RuntimeError("post-fork-sentinel")
def pre_request(worker, req):
    if req.path == "/error":
        return
    if "boom" in req.query:
        raise ValueError("pre-request-sentinel")
def post_request(worker, req, environ, resp):
    with open({str(out)!r}, "a") as f:
        f.write("%s %s\\n" % (req.query, resp.status_code))
    if "late" in req.query:
        raise KeyError("post-request-sentinel")
""")
    srv = server("basic:app", workers=1, args=["-c", str(conf)])
    assert srv.request("GET", "/?boom").status == 500
    assert srv.request("GET", "/?late").status == 200
    assert srv.request("GET", "/?fine").status == 200
    log = srv.log()
    for sentinel in ("when-ready-sentinel", "post-fork-sentinel", "pre-request-sentinel",
                     "post-request-sentinel"):
        assert sentinel in log, sentinel
    assert "Exception in when_ready hook" in log
    assert "Exception in post_fork hook" in log
    assert "Traceback (most recent call last)" in log
    assert "Worker failed to boot: the post_fork hook raised" in log
    assert out.read_text().splitlines() == [" 200", "boom 500", "late 200", "fine 200"]  # probe first


def test_worker_abort_runs_on_timeout(server, tmp_path):
    out = tmp_path / "out.txt"
    conf = _write(tmp_path, "gunicorn.conf.py", f"""
def worker_abort(worker):
    with open({str(out)!r}, "a") as f:
        f.write("abort %s %s\\n" % (worker.pid, worker.alive))
def worker_exit(server, worker):
    with open({str(out)!r}, "a") as f:
        f.write("exit %s\\n" % worker.pid)
""")
    srv = server("basic:app", workers=1, args=["-c", str(conf), "--timeout", "1"])
    srv.allow_crash_markers = True
    pid = srv.worker_pids()[0]
    try:
        srv.request("GET", "/slow?s=6", timeout=10)
    except Exception:
        pass  # the timeout answers 500 or cuts the connection
    assert wait_until(lambda: out.exists() and "exit" in out.read_text(), 10)
    assert out.read_text().splitlines() == [f"abort {pid} False", f"exit {pid}"]
    assert wait_until(lambda: "was sent SIGABRT" in srv.log(), 5), srv.log()
    assert "Most recent call first" in srv.log() or "most recent call first" in srv.log()


def test_toml_hooks_by_dotted_path(server, tmp_path):
    out = tmp_path / "out.txt"
    pkg = tmp_path / "myhooks.py"
    pkg.write_text(f"""
def post_fork(server, worker):
    open({str(out)!r}, "a").write("post_fork %s\\n" % server.cfg.workers)
def on_exit(server):
    open({str(out)!r}, "a").write("on_exit\\n")
""")
    conf = _write(tmp_path, "uwsgi-fast.toml",
                  'post_fork = "myhooks:post_fork"\non_exit = "myhooks.on_exit"\n')
    srv = server("basic:app", workers=1, args=["-c", str(conf), "--pythonpath", str(tmp_path)])
    assert srv.request("GET", "/").status == 200
    srv.stop()
    assert out.read_text().splitlines() == ["post_fork 1", "on_exit"]


def test_toml_hook_that_cannot_import_stops_the_server(tmp_path):
    conf = _write(tmp_path, "uwsgi-fast.toml", 'on_starting = "no_such_module:on_starting"\n')
    res = subprocess.run([str(require_binary()), "-c", str(conf), "-b",
                          f"127.0.0.1:{free_port()}", "--pythonpath", str(APPS), "basic:app"],
                         capture_output=True, text=True, timeout=30, env=clean_env())
    assert res.returncode == 4, res.stderr
    assert "cannot load the server hooks from" in res.stderr
    assert "No module named 'no_such_module'" in res.stderr


def test_prometheus_multiprocess_child_exit(server, tmp_path):
    """prometheus_client's multiprocess mode: each worker writes its files; child_exit
    calls mark_process_dead(worker.pid), which removes the dead worker's gauge files."""
    pytest.importorskip("prometheus_client")
    mp = tmp_path / "prom"
    mp.mkdir()
    app = _write(tmp_path, "promapp.py", """
from prometheus_client import Gauge
LIVE = Gauge("live_things", "things", multiprocess_mode="livesum")
def app(environ, start_response):
    LIVE.inc()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
""")
    conf = _write(tmp_path, "gunicorn.conf.py", """
from prometheus_client import multiprocess
def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
""")
    srv = server("promapp:app", workers=1, cwd=tmp_path,
                 args=["-c", str(conf)],
                 env={"PROMETHEUS_MULTIPROC_DIR": str(mp), "VIRTUAL_ENV": str(VENV)})
    assert srv.request("GET", "/").status == 200
    pid = srv.worker_pids()[0]
    assert list(mp.glob(f"gauge_livesum_{pid}.db"))
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not list(mp.glob(f"gauge_livesum_{pid}.db")), 10)
    srv.wait_workers(1, exclude=(pid,))


def record(gunicorn):
    """Writes the fixture from a real gunicorn run of the same steps."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        lines, master = drive([gunicorn, "-c", str(HOOKS_CONF), "-b", f"127.0.0.1:{port}",
                               "basic:app"], d, port)
    header = ("# The server hooks gunicorn 27.0.1 called for tests/integration/apps/hooks_conf.py\n"
              "# driven by tests/integration/test_hooks.py (start, a request, HUP, TTIN, TTOU,\n"
              "# kill -9 of a worker, INT to a worker, TERM): hook, where it ran, its arguments\n"
              "# other than pids; each phase ends with its --- line. Recorded with:\n"
              "#   python tests/integration/test_hooks.py record GUNICORN_BIN\n")
    FIXTURE.write_text(header + "\n".join(normalise(lines, master)) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "record":
        sys.path.insert(0, str(Path(__file__).parent))
        record(sys.argv[2])
    else:
        sys.exit(__doc__)
