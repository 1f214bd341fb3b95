"""A real nginx in front of the server under test, as a pytest fixture.

The instance itself (its own directory, configuration, start and stop, the Debian package)
is tests/frontends/nginx.py's, shared with the behind-nginx benchmarks; here it becomes a
fixture that fails the test with nginx's configuration and error log when nginx does, and
skips it when nginx cannot be installed. Teardown sends QUIT (graceful) and KILLs the
process group if it has not gone within a deadline.

    from nginx_fixture import nginx, upstream, PROXY_LOCATION  # noqa: F401 (fixture)

    def test_x(server, nginx):
        srv = server("basic:app")
        ngx = nginx(upstream([f"127.0.0.1:{srv.port}"]), PROXY_LOCATION)
        assert ngx.request("GET", "/").status == 200

The http block gets `upstream_block` verbatim (name the upstream `app`) and the one
location `/` gets `location` verbatim, so a uwsgi_pass test passes its own:

    ngx = nginx(upstream([f"unix:{sock}"]), "uwsgi_pass app; include uwsgi_params;")
"""
import http.client
import os
import time
from pathlib import Path

import pytest

import nginx as front
from conftest import IO_TIMEOUT, Response, free_port
from debian_tools import debian_binary

READY_PATH = "/.nginx-fixture-ready"  # answered by nginx itself, with the instance's token
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
PROXY_LOCATION = front.PROXY_LOCATION
upstream = front.upstream

# One line per request: what nginx saw and what the upstream answered. $connection is
# nginx's client connection, $upstream_status lists every upstream try ("502, 200").
LOG_FORMAT = ("log_format test '$connection $status \"$request\" up=$upstream_addr "
              "ups=$upstream_status rt=$request_time urt=$upstream_response_time';")


def nginx_binary():
    """/usr/sbin/nginx, installing Debian's package when it is missing (or skipping)."""
    return debian_binary(front.NGINX, front.PACKAGES)


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
        self.token = os.urandom(8).hex()
        text = front.render(str(self.prefix), self.port, upstream_block, location,
                            READY_PATH, self.token,
                            written_by="tests/integration/nginx_fixture.py",
                            access_log="test", log_format=LOG_FORMAT,
                            error_level=error_level, http_extra=http_extra)
        self.cmd = front.write_config(str(self.prefix), text)
        self.cmd[0] = binary
        refused = front.refusal(self.cmd)
        if refused:
            pytest.fail(f"nginx -t refused {self.conf}:\n{refused}\n{self.conf.read_text()}",
                        pytrace=False)
        self._out = open(self.prefix / "stdout.log", "wb")
        self.proc = front.launch(self.cmd, self._out)

    # -- introspection --
    def error_log_text(self):
        return front.error_log(str(self.prefix))

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
            if front.answers_token(self.port, READY_PATH, self.token):
                break
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
        """QUIT, then KILL the process group after STOP_TIMEOUT. Returns what looked
        wrong, for the fixture's teardown."""
        problems = front.stop(self.proc, STOP_TIMEOUT)
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
