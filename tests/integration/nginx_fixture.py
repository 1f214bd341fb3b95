"""A real nginx in front of the server under test: Debian's package, started by the tests.

nginx is installed with apt-get (nginx-light, else nginx) only when /usr/sbin/nginx is
missing; without apt (or root) the test is skipped with the reason. Each Nginx runs from
its own directory: the configuration, pid file, logs and every *_temp_path live there,
and it is started as `nginx -p DIR -c DIR/nginx.conf -e DIR/error.log` in the
foreground, so the system's nginx service is never touched and /etc/nginx is only read
(its params files are copied, below). Teardown sends QUIT
(graceful) and KILLs the process group if it has not gone within a deadline.

    from nginx_fixture import nginx, upstream, PROXY_LOCATION  # noqa: F401 (fixture)

    def test_x(server, nginx):
        srv = server("basic:app")
        ngx = nginx(upstream([f"127.0.0.1:{srv.port}"]), PROXY_LOCATION)
        assert ngx.request("GET", "/").status == 200

The http block gets `upstream_block` verbatim (name the upstream `app`) and the one
location `/` gets `location` verbatim, so a uwsgi_pass test passes its own:

    ngx = nginx(upstream([f"unix:{sock}"]), "uwsgi_pass app; include uwsgi_params;")

(the package's uwsgi_params, fastcgi_params, scgi_params and mime.types are copied next
to nginx.conf, so a relative include finds them).
"""
import http.client
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import IO_TIMEOUT, Response, free_port
from debian_tools import debian_binary

NGINX = "/usr/sbin/nginx"
PARAMS_FILES = ("uwsgi_params", "fastcgi_params", "scgi_params", "mime.types")
READY_PATH = "/.nginx-fixture-ready"  # answered by nginx itself, with the instance's token
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# The reverse-proxy location of docs/deployment.md: HTTP/1.1 upstream with keep-alive
# (an empty Connection header, or nginx sends "close"), the client's address and scheme
# forwarded. $host, not $http_host: nginx's own uwsgi_params explains why (a client's
# raw Host can disagree with an absolute-form request target).
PROXY_LOCATION = """
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
"""

# One line per request: what nginx saw and what the upstream answered. $connection is
# nginx's client connection, $upstream_status lists every upstream try ("502, 200").
LOG_FORMAT = ('$connection $status "$request" up=$upstream_addr '
              'ups=$upstream_status rt=$request_time urt=$upstream_response_time')


def nginx_binary():
    """/usr/sbin/nginx, installing Debian's package when it is missing (or skipping)."""
    return debian_binary(NGINX, ("nginx-light", "nginx"))


def upstream(servers, keepalive=16, name="app", extra=""):
    """An upstream block: servers are nginx's spellings ("127.0.0.1:8000",
    "unix:/path"); keepalive is the idle connections each nginx worker keeps (0: none)."""
    lines = [f"        server {s};" for s in servers]
    if keepalive:
        lines.append(f"        keepalive {keepalive};")
    if extra:
        lines.append(extra)
    return f"    upstream {name} {{\n" + "\n".join(lines) + "\n    }\n"


class PortTaken(Exception):
    """Another process bound the chosen free port before nginx did."""


class Nginx:
    """One nginx master (worker_processes 1) listening on a free loopback port."""

    def __init__(self, binary, prefix, upstream_block, location, http_extra="",
                 error_level="info"):
        self.prefix = Path(prefix)
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.prefix / "nginx.conf"
        self.error_log = self.prefix / "error.log"
        self.access_log = self.prefix / "access.log"
        self.pid_file = self.prefix / "nginx.pid"
        self.token = os.urandom(8).hex().encode()
        # a root master's workers would otherwise run as nobody, who cannot enter the
        # test's temporary directory (its unix sockets, the request body temp files)
        user = "user root;\n" if os.geteuid() == 0 else ""
        temps = "\n".join(f"    {kind}_temp_path {self.prefix / kind};"
                          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.conf.write_text(f"""# written by tests/integration/nginx_fixture.py
daemon off;
master_process on;
worker_processes 1;
{user}pid {self.pid_file};
error_log {self.error_log} {error_level};
events {{
    worker_connections 1024;
}}
http {{
    default_type application/octet-stream;
    log_format test '{LOG_FORMAT}';
    access_log {self.access_log} test;
{temps}
    client_max_body_size 100m;
{http_extra}
{upstream_block}
    server {{
        listen 127.0.0.1:{self.port};
        server_name localhost;
        location / {{
{location}
        }}
        location = {READY_PATH} {{
            access_log off;
            return 200 "{self.token.decode()}";
        }}
    }}
}}
""")
        # `include uwsgi_params;` is read relative to our nginx.conf: copy the package's
        # (only read from /etc/nginx, never changed)
        for name in PARAMS_FILES:
            if os.path.isfile(f"/etc/nginx/{name}"):
                shutil.copyfile(f"/etc/nginx/{name}", self.prefix / name)
        self.cmd = [binary, "-p", str(self.prefix), "-c", str(self.conf),
                    "-e", str(self.error_log)]
        check = subprocess.run([*self.cmd, "-t", "-q"], capture_output=True, text=True,
                               timeout=30)
        if check.returncode != 0:
            pytest.fail(f"nginx -t refused {self.conf}:\n{check.stdout}{check.stderr}\n"
                        f"{self.conf.read_text()}", pytrace=False)
        self._out = open(self.prefix / "stdout.log", "wb")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    # -- introspection --
    def error_log_text(self):
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def access_lines(self):
        if not self.access_log.exists():
            return []
        return self.access_log.read_text(errors="replace").splitlines()

    def fail(self, message):
        pytest.fail(f"{message}\n--- nginx.conf ---\n{self.conf.read_text()}\n"
                    f"--- nginx error log ---\n{self.error_log_text()[-8000:]}", pytrace=False)

    def running(self):
        return self.proc.poll() is None

    # -- lifecycle --
    def wait_ready(self, probe="/"):
        """Waits (bounded) until this nginx answers and, with probe (a path passed
        upstream), answers that below 500."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not self.running():
                if "Address already in use" in self.error_log_text():
                    raise PortTaken(self.port)
                self.fail(f"nginx exited with {self.proc.returncode} at start")
            # this nginx's own token, not whatever else may have taken the port
            try:
                if self.request("GET", READY_PATH, timeout=1.0).body == self.token:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                self.fail(f"nginx did not accept on {self.port} within {START_TIMEOUT}s")
            time.sleep(0.05)
        if probe is None:
            return
        while True:
            try:
                status = self.request("GET", probe).status
            except (OSError, http.client.HTTPException) as e:
                status = repr(e)
            if isinstance(status, int) and status < 500:
                return
            if time.monotonic() > deadline:
                self.fail(f"nginx answered {probe} with {status} within {START_TIMEOUT}s")
            time.sleep(0.1)

    def stop(self):
        """QUIT (graceful: open requests finish), then KILL the process group after
        STOP_TIMEOUT. Returns what looked wrong, for the fixture's teardown."""
        problems = []
        if self.running():
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append(f"nginx {self.proc.pid} did not exit within {STOP_TIMEOUT}s "
                                "of QUIT")
        try:  # its workers too, whatever happened to the master
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            problems.append(f"nginx {self.proc.pid} survived SIGKILL")
        self._out.close()
        return problems

    # -- HTTP --
    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def connection(self, timeout=IO_TIMEOUT):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=IO_TIMEOUT):
        """One request on a fresh connection; returns a conftest.Response."""
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Response(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()


@pytest.fixture
def nginx(tmp_path, request):
    """Factory: nginx(upstream_block, location, http_extra="", probe="/",
    error_level="info") -> a running Nginx in front of whatever upstream_block names;
    stopped at teardown. Start the upstream first: the probe goes through it."""
    binary = nginx_binary()
    started = []

    def teardown():
        problems = []
        for ngx in started:
            problems += ngx.stop()
        failed = getattr(getattr(request.node, "rep_call", None), "failed", False)
        if failed:
            for ngx in started:
                print(f"--- nginx error log ({ngx.prefix}) ---\n{ngx.error_log_text()[-8000:]}")
        if problems:
            pytest.fail("nginx teardown: " + "; ".join(problems), pytrace=False)

    request.addfinalizer(teardown)

    def start(upstream_block, location, http_extra="", probe="/", error_level="info"):
        for attempt in range(2):  # once more if the free port was taken meanwhile
            ngx = Nginx(binary, tmp_path / f"nginx-{len(started)}", upstream_block, location,
                        http_extra, error_level)
            started.append(ngx)
            try:
                ngx.wait_ready(probe)
                return ngx
            except PortTaken:
                if attempt:
                    ngx.fail(f"port {ngx.port} was taken, twice")

    return start
