"""Fixtures for the integration suite: start the real uwsgi-fast binary, talk real HTTP.

Nothing here builds anything: the binary must already exist at zig-out/bin/uwsgi-fast
(override with $UF_TEST_BINARY). Every wait is bounded, so a wedged server fails a test
instead of hanging the suite:

    def test_something(server):
        srv = server("basic:app", workers=2)
        resp = srv.request("GET", "/")
        assert resp.status == 200

A Server's error log (stdout and stderr of the master and its workers, in one file) is
read with srv.log(). Raw-socket helpers (connect, read_response) exist for framing
tests that http.client would hide: pipelining, HEAD, chunked bodies, HTTP/1.0.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# pytest-free helpers shared with tests/bench (the front ends: nginx, Debian packages)
sys.path.insert(0, str(ROOT / "tests" / "frontends"))
APPS = Path(__file__).resolve().parent / "apps"
EXAMPLES = ROOT / "examples"
VENV = ROOT / ".venv"
BINARY = Path(os.environ.get("UF_TEST_BINARY", ROOT / "zig-out" / "bin" / "uwsgi-fast"))
# $UF_TEST_ENGINE (auto, io_uring or epoll) runs every server started here on that
# engine: clean_env() passes it on as UWSGI_FAST_ENGINE (--engine, which a test's own
# --engine overrides), and a Server checks the banner's engine line once it answers.
# scripts/test runs a subset of the suite with UF_TEST_ENGINE=epoll.
ENGINE = os.environ.get("UF_TEST_ENGINE")

START_TIMEOUT = 15.0   # binary started -> first HTTP response (Python import included)
STOP_TIMEOUT = 10.0    # signal sent -> master gone
IO_TIMEOUT = 10.0      # any single socket operation

# Log text that means something crashed rather than failed politely. SIGABRT and SIGKILL
# are not in it: the master sends them itself to hung workers (whose Python stack the
# fault handler then prints as "Fatal Python error: Aborted"), and tests send SIGKILL.
CRASH_MARKERS = re.compile(
    r"crashed: SIG(SEGV|BUS|FPE|ILL|SYS)|Segmentation fault|Fatal Python error: (?!Aborted)"
    r"|AddressSanitizer|runtime error:|assertion failed|out of memory|double free"
    r"|free\(\): invalid|malloc\(\): |corrupted (size|double-linked)|stack smashing")


def require_binary():
    if not BINARY.is_file() or not os.access(BINARY, os.X_OK):
        pytest.fail(f"uwsgi-fast binary not found at {BINARY}: run `scripts/zig build` first "
                    "(or point $UF_TEST_BINARY at a built binary)", pytrace=False)
    return BINARY


def built_with_instruments():
    """Whether the binary under test has the research instruments (phases, ring counters,
    USDT probes): `scripts/zig build -Dinstruments=false` leaves them out, and --version
    says so. True when there is no binary yet (require_binary reports that)."""
    if not BINARY.is_file():
        return True
    out = subprocess.run([str(BINARY), "--version"], capture_output=True, text=True,
                         timeout=10).stdout
    return "instruments: none" not in out


NO_INSTRUMENTS = "this binary was built with -Dinstruments=false"


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port that nothing listens on right now (the usual small race is accepted)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback_works():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def clean_env(extra=None):
    """The test runner's environment without settings the server would pick up from it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("UWSGI_FAST_") and k not in ("VIRTUAL_ENV", "PORT",
                                                            "WEB_CONCURRENCY")}
    env["PYTHONUNBUFFERED"] = "1"
    if ENGINE:
        env["UWSGI_FAST_ENGINE"] = ENGINE
    env.update(extra or {})
    return env


def run_binary(args, timeout=STOP_TIMEOUT, cwd=APPS, env=None):
    """Runs the binary to completion (for --help, bad flags, failing imports)."""
    cmd = [str(require_binary()), *args]
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, start_new_session=True,
                              env=clean_env(env))
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} did not exit within {timeout}s; output so far:\n"
                    f"{e.stdout}\n{e.stderr}")


# ---- /proc helpers -------------------------------------------------------------------

def _stat(pid):
    """(state, ppid, starttime) of a live pid, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def children(pid):
    """Live (non-zombie) child pids of pid, sorted."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _stat(int(entry))
        if st and st[1] == pid and st[0] not in ("Z", "X"):
            out.append(int(entry))
    return sorted(out)


def pid_alive(pid):
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def wait_until(predicate, timeout, interval=0.05):
    """Polls predicate until it returns a truthy value or timeout passes; returns the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---- raw HTTP ------------------------------------------------------------------------

class ConnectionClosed(Exception):
    """The peer closed the connection before a status line arrived."""


class RawResponse:
    def __init__(self, version, status, reason, headers, body, chunked, chunks):
        self.version = version      # "HTTP/1.1"
        self.status = status        # int
        self.reason = reason
        self.headers = headers      # [(name, value)] in wire order
        self.body = body            # de-chunked
        self.chunked = chunked      # body arrived with Transfer-Encoding: chunked
        self.chunks = chunks        # sizes of the chunks as sent (chunked only)

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_list(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<RawResponse {self.version} {self.status} {self.headers} {self.body[:80]!r}>"


def _readline(rfile, limit=65536):
    line = rfile.readline(limit + 1)
    if len(line) > limit:
        raise AssertionError(f"line longer than {limit} bytes from server")
    return line


def _read_exact(rfile, n):
    data = rfile.read(n)
    if len(data) != n:
        raise AssertionError(f"connection closed after {len(data)} of {n} body bytes")
    return data


def read_response(rfile, method="GET"):
    """Reads one full HTTP/1.x response from a binary file made by sock.makefile('rb').

    Body framing follows RFC 9112: none for HEAD/1xx/204/304, chunked, Content-Length, or
    up to EOF. Raises ConnectionClosed if the connection ends before a status line.
    """
    line = _readline(rfile)
    if not line:
        raise ConnectionClosed("connection closed before a response")
    if not line.endswith(b"\r\n"):
        raise AssertionError(f"status line not CRLF terminated: {line!r}")
    parts = line[:-2].decode("latin-1").split(" ", 2)
    assert len(parts) >= 2 and parts[0].startswith("HTTP/"), f"bad status line {line!r}"
    version, status = parts[0], int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    while True:
        h = _readline(rfile)
        if h in (b"\r\n", b""):
            if not h:
                raise AssertionError("connection closed inside the response head")
            break
        assert h.endswith(b"\r\n"), f"header line not CRLF terminated: {h!r}"
        name, sep, value = h[:-2].decode("latin-1").partition(":")
        assert sep and name and name == name.strip(), f"malformed header line {h!r}"
        headers.append((name, value.strip()))
    resp = RawResponse(version, status, reason, headers, b"", False, [])

    te = resp.header("Transfer-Encoding")
    cl = resp.header_list("Content-Length")
    if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
        return resp
    if te is not None:
        assert te.lower() == "chunked", f"unexpected Transfer-Encoding {te!r}"
        assert not cl, "response has both Transfer-Encoding and Content-Length"
        resp.chunked = True
        body = []
        while True:
            size_line = _readline(rfile)
            assert size_line.endswith(b"\r\n"), f"bad chunk size line {size_line!r}"
            size = int(size_line[:-2].split(b";")[0].strip(), 16)
            if size == 0:
                break
            resp.chunks.append(size)
            body.append(_read_exact(rfile, size))
            assert _read_exact(rfile, 2) == b"\r\n", "chunk data not followed by CRLF"
        while True:  # trailers
            t = _readline(rfile)
            assert t, "connection closed inside the chunked trailer"
            if t == b"\r\n":
                break
        resp.body = b"".join(body)
    elif cl:
        assert len(set(cl)) == 1, f"conflicting Content-Length headers {cl}"
        resp.body = _read_exact(rfile, int(cl[0]))
    else:
        resp.body = rfile.read()  # close-delimited
    return resp


def connect(port, host="127.0.0.1", timeout=IO_TIMEOUT):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def build_request(method, path, headers=(), body=b"", version="HTTP/1.1", host="localhost"):
    lines = [f"{method} {path} {version}", f"Host: {host}"]
    names = {k.lower() for k, _ in headers}
    lines += [f"{k}: {v}" for k, v in headers]
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def expect_eof(sock, timeout=5.0):
    """True if the peer closes the connection (or resets it) within timeout."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(1)
    except ConnectionResetError:
        return True
    except (socket.timeout, TimeoutError):
        return False
    assert data == b"", f"unexpected extra bytes after the response: {data!r}"
    return True


# ---- the server under test -------------------------------------------------------------

class Server:
    """One running uwsgi-fast master with its workers."""

    def __init__(self, app, tmp_dir, workers=1, args=(), host="127.0.0.1", port=None,
                 cwd=APPS, pythonpath=True, env=None, preexec_fn=None):
        self.app = app
        self.host = host
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.port = port or free_port(self.family, host)
        self.workers = workers
        self.log_path = Path(tmp_dir) / f"uwsgi-fast-{self.port}.log"
        self.allow_crash_markers = False  # a test that crashes workers on purpose sets it
        bind = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        # pythonpath=True puts cwd on --pythonpath; False leaves sys.path to the server.
        pp = ["--pythonpath", str(cwd)] if pythonpath is True else (
            ["--pythonpath", str(pythonpath)] if pythonpath else [])
        self.cmd = [str(require_binary()), "-b", bind, "-w", str(workers), *pp, *args, app]
        full_env = clean_env(env)  # tests choose a virtualenv etc. explicitly
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     env=full_env, start_new_session=True,
                                     preexec_fn=preexec_fn)
        self.pid = self.proc.pid
        self._known_workers = {}  # pid -> starttime, to never signal a recycled pid
        self.returncode = None

    # -- introspection --
    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def url(self, path="/"):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def worker_pids(self):
        pids = children(self.pid)
        for p in pids:
            st = _stat(p)
            if st:
                self._known_workers.setdefault(p, st[2])
        return pids

    def wait_workers(self, n=None, timeout=START_TIMEOUT, exclude=()):
        """Waits until n live workers (default: the configured count) not in exclude exist."""
        n = self.workers if n is None else n
        pids = wait_until(lambda: (lambda p: p if len(p) >= n else None)(
            [x for x in self.worker_pids() if x not in exclude]), timeout)
        if not pids:
            self.fail(f"expected {n} workers (excluding {list(exclude)}) within {timeout}s, "
                      f"have {self.worker_pids()}")
        return pids

    def fail(self, message):
        pytest.fail(f"{message}\ncommand: {' '.join(self.cmd)}\n--- server log ---\n"
                    f"{self.log()}", pytrace=False)

    def running(self):
        return self.proc.poll() is None

    # -- lifecycle --
    def wait_ready(self, probe="/"):
        """Waits (bounded) until the port accepts and, with probe, one request is answered."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not self.running():
                if "address already in use" in self.log().lower():
                    raise PortTaken(self.port)
                self.fail(f"server exited with {self.proc.returncode} before accepting")
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.fail(f"port {self.port} did not accept within {START_TIMEOUT}s")
                time.sleep(0.05)
        if probe is None:
            return
        left = max(1.0, deadline - time.monotonic())
        try:
            self.request("GET", probe, timeout=left)
        except (OSError, http.client.HTTPException) as e:
            if not self.running():
                self.fail(f"server exited with {self.proc.returncode} during the first request")
            self.fail(f"first request to {probe} failed within {left:.1f}s: {e!r}")
        self.wait_workers()
        # (unless the log goes elsewhere: --error-logfile, --log-config ...)
        if (ENGINE in ("io_uring", "epoll") and "--engine" not in self.cmd
                and "Starting uwsgi-fast" in self.log()):
            line = f"Engine: {ENGINE} ("
            if not wait_until(lambda: line in self.log(), 5):
                self.fail(f"$UF_TEST_ENGINE is {ENGINE}, but the banner has no '{line}'")

    def send_signal(self, sig):
        self.worker_pids()  # remember the workers so stop() can check they went too
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the master to exit; returns its return code or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signals the master and waits; returns its return code, failing if it hangs."""
        if self.running():
            self.send_signal(sig)
            if self.wait_exit(timeout) is None:
                self.kill()
                self.fail(f"master did not exit within {timeout}s of {sig.name}")
        self.returncode = self.proc.returncode
        return self.returncode

    def leftover_workers(self, timeout=2.0):
        """Workers seen during the run that are still alive (after the master exited)."""
        def alive():
            return [p for p, start in self._known_workers.items()
                    if pid_alive(p) and _stat(p)[2] == start]
        wait_until(lambda: not alive(), timeout)
        return alive()

    def kill(self):
        """Last resort: SIGKILL the master's session (only processes this Server started)."""
        for p in self.leftover_workers(timeout=0):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def close_log(self):
        if not self._log_file.closed:
            self._log_file.close()

    def teardown_problems(self):
        """Stops the server if a test left it running; returns what looked wrong."""
        problems = []
        if self.running():
            self.worker_pids()
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(STOP_TIMEOUT) is None:
                problems.append(f"master {self.pid} did not exit within {STOP_TIMEOUT}s "
                                "of SIGTERM at teardown")
        leftovers = self.leftover_workers()
        if leftovers:
            problems.append(f"workers {leftovers} outlived master {self.pid}")
        if self.running() or leftovers:
            self.kill()
        self.close_log()
        if not self.allow_crash_markers:
            crash = CRASH_MARKERS.search(self.log())
            if crash:
                problems.append(f"server log mentions {crash.group(0)!r}")
        return problems

    # -- HTTP --
    def connection(self, timeout=IO_TIMEOUT):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=IO_TIMEOUT):
        """One request on a fresh connection; returns (status, headers dict, body bytes)."""
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, resp.getheaders(), data)
        finally:
            conn.close()

    def connect(self, timeout=IO_TIMEOUT):
        return connect(self.port, self.host, timeout)

    def raw(self, data, method="GET", count=1, timeout=IO_TIMEOUT):
        """Sends data on a fresh socket and reads `count` responses (or one per method in a
        list); returns (responses, sock, rfile) so the caller can go on or check for EOF."""
        sock = self.connect(timeout)
        sock.sendall(data)
        rfile = sock.makefile("rb")
        methods = method if isinstance(method, (list, tuple)) else [method] * count
        return [read_response(rfile, m) for m in methods], sock, rfile


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:80]!r}>"


class PortTaken(Exception):
    """Another process bound the chosen free port before the server did."""


def _start(servers, tmp_dir, app, wait=True, probe="/", **kw):
    """Starts a Server (retrying once on a port race), optionally waiting until ready."""
    for attempt in range(2):
        srv = Server(app, tmp_dir, **kw)
        servers.append(srv)
        if not wait:
            return srv
        try:
            srv.wait_ready(probe)
            return srv
        except PortTaken:
            if attempt or kw.get("port"):
                srv.fail("address already in use")
    return srv


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def _teardown(servers, node=None):
    problems = []
    for srv in servers:
        problems += srv.teardown_problems()
    failed = node is not None and getattr(getattr(node, "rep_call", None), "failed", False)
    if failed:  # shown by pytest under "Captured stdout teardown"
        for srv in servers:
            print(f"--- log of {' '.join(srv.cmd)} (pid {srv.pid}) ---\n{srv.log()[-20000:]}")
    if problems:
        pytest.fail("teardown: " + "; ".join(problems) + "\n--- last server log ---\n"
                    + servers[-1].log(), pytrace=False)


@pytest.fixture
def server(tmp_path, request):
    """Factory: server(app, workers=1, args=(), host=..., cwd=APPS, pythonpath=True,
    env=None, wait=True, probe="/") -> a running Server, stopped and checked at teardown."""
    servers = []
    request.addfinalizer(lambda: _teardown(servers, request.node))
    return lambda app, **kw: _start(servers, tmp_path, app, **kw)


@pytest.fixture
def basic(tmp_path, request):
    """A fresh basic:app server with one worker (starting one takes well under a second)."""
    servers = []
    request.addfinalizer(lambda: _teardown(servers, request.node))
    return _start(servers, tmp_path, "basic:app")


@pytest.fixture
def marker(tmp_path):
    """A path for an app to create (see basic.py /slow and /close-marker)."""
    return tmp_path / "marker"
