"""The USDT probes (common/probes.h) and the bpftrace scripts in flamegraphs/ that use
them: the binary lists every probe in its notes, and where this machine can run bpftrace
(root, BPF allowed) each script attaches to a real server and sees its requests."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import ENGINE, NO_INSTRUMENTS, ROOT, built_with_instruments, require_binary

pytestmark = pytest.mark.skipif(not built_with_instruments(), reason=NO_INSTRUMENTS)

PROBES = {"accept", "request__start", "headers__done", "app__call", "app__return",
          "send__done", "request__done", "conn__close", "worker__busy", "worker__idle",
          "ring__enter", "ring__exit", "recycle"}
SCRIPTS = ROOT / "flamegraphs"


def test_readelf_lists_every_probe():
    if not shutil.which("readelf"):
        pytest.skip("readelf (binutils) is not installed")
    notes = subprocess.run(["readelf", "-n", str(require_binary())], capture_output=True,
                           text=True, check=True).stdout
    providers = set(re.findall(r"Provider: (\S+)", notes))
    names = set(re.findall(r"Name: (\S+)", notes))
    assert providers == {"uwsgi_fast"}, providers
    assert PROBES <= names, PROBES - names


def bpftrace_works():
    """Why bpftrace cannot attach here, or None: it needs root and a kernel that lets it
    load programs (a container without CAP_BPF/CAP_SYS_ADMIN does not)."""
    if not shutil.which("bpftrace"):
        return "bpftrace is not installed"
    if os.geteuid() != 0:
        return "bpftrace needs root"
    res = subprocess.run(["bpftrace", "-e", "BEGIN { printf(\"ok\\n\"); exit(); }"],
                         capture_output=True, text=True, timeout=60)
    return None if "ok" in res.stdout else f"bpftrace cannot run here: {res.stderr.strip()}"


@pytest.fixture(scope="module")
def bpftrace():
    why = bpftrace_works()
    if why:
        pytest.skip(why)


TRACEFS = "/sys/kernel/tracing"


@pytest.fixture(scope="module")
def syscall_tracepoints(bpftrace):
    """The syscalls:sys_enter_* tracepoints live in tracefs, which a fresh machine or a
    container may not have mounted (bpftrace then reports "tracepoints not found"):
    mount it as root would, or say why the script cannot run here."""
    events = os.path.join(TRACEFS, "events", "syscalls")
    if not os.path.isdir(events):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], capture_output=True)
    if not os.path.isdir(events):
        pytest.skip(f"no syscall tracepoints: {events} is missing even after mounting tracefs "
                    "(a kernel without CONFIG_FTRACE_SYSCALLS, or no right to mount)")


class Trace:
    """A bpftrace script running against the binary until stop() (SIGINT), which returns
    everything it printed."""

    def __init__(self, script, *args):
        self.proc = subprocess.Popen(["bpftrace", str(SCRIPTS / script),
                                      str(require_binary()), *map(str, args)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 90
        # each script's BEGIN line: bpftrace runs BEGIN once every probe is in place
        while not any(line.startswith(("Tracing", "Counting")) for line in self.lines):
            assert self.proc.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, "".join(self.lines)
            time.sleep(0.1)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self):
        """SIGINT, then what it printed. A bpftrace that has not exited 30 s later (seen
        once on a loaded machine, detaching its probes) is killed: what a script prints as
        it goes is all there; a script that prints at its end then shows nothing, and the
        test fails on that."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        return "".join(self.lines)


def value(text, name):
    m = re.search(rf"^@{re.escape(name)}: (\d+)$", text, re.M)
    assert m, text
    return int(m.group(1))


def get(srv, path, n=1):
    for _ in range(n):
        with urllib.request.urlopen(srv.url(path), timeout=30) as r:
            assert r.status == 200


def test_phases_script_sees_each_request(server, bpftrace):
    """phases.bt: every request counted once, and a request with a 0.2 s sleep in the
    application shows it in the app phase (the bucket from 128 ms to 256 ms)."""
    srv = server("basic:app")
    trace = Trace("phases.bt")
    get(srv, "/", 20)
    get(srv, "/slow?s=0.2")
    # request__done fires when the worker reaps the last send's completion, which may
    # come a moment after the client has read the response
    time.sleep(0.3)
    out = trace.stop()
    assert value(out, "requests") == 21, out
    app = out[out.index("@app_us:"):]
    assert re.search(r"^\[128K, 256K\)\s+1 ", app, re.M), out
    for phase in ("parse_us", "waited_us", "send_us"):
        assert f"@{phase}:" in out, out


def test_hol_waits_script_names_the_request_that_waited(server, bpftrace):
    """hol-waits.bt: three 0.3 s requests at once to one worker with two application
    threads: the third waits for a thread, and the script names it."""
    srv = server("basic:app", args=["--threads", "2", "--work-sharing=false"])
    trace = Trace("hol-waits.bt", 100000)
    clients = [threading.Thread(target=get, args=(srv, "/slow?s=0.3")) for _ in range(3)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    out = trace.stop()
    waits = [int(m) for m in re.findall(r"^waited (\d+) us: worker 0 conn \d+ request 1 ",
                                        out, re.M)]
    assert waits and all(w > 100000 for w in waits), out


def test_syscalls_per_request_script(server, syscall_tracepoints):
    """syscalls-per-request.bt over 300 keep-alive requests: the requests are all counted,
    and on io_uring the ring is entered at most a few times per request."""
    srv = server("basic:app")
    trace = Trace("syscalls-per-request.bt", srv.pid)
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    for _ in range(300):
        conn.request("GET", "/")
        assert conn.getresponse().read()
    conn.close()
    out = trace.stop()
    assert value(out, "requests") == 300, out
    total = value(out, "total")
    assert total >= 300, out
    if ENGINE != "epoll":
        enters = int(re.search(r"sys_enter_io_uring_enter\]: (\d+)", out).group(1))
        assert enters / 300 <= 4, out
