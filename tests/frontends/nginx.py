"""One nginx in front of a server under test: its configuration, start, readiness and stop.

Used by the integration tests (tests/integration/nginx_fixture.py, a pytest fixture) and
by the behind-nginx benchmark group (tests/bench/nginx_front.py); each wraps these calls
in its own way of failing (a test fails or skips, a benchmark row records an error), so
nothing here raises pytest's exceptions or prints.

Every instance runs from its own directory: nginx.conf, the pid file, the error log and
every *_temp_path live there, and it runs as `nginx -p DIR -c DIR/nginx.conf -e
DIR/error.log` in the foreground, in a session of its own, so the system's nginx service
is never touched and /etc/nginx is only read (its params files are copied next to our
nginx.conf, so a relative `include uwsgi_params;` finds them). Standard library only.
"""
import http.client
import os
import shutil
import signal
import subprocess

NGINX = "/usr/sbin/nginx"
PACKAGES = ("nginx-light", "nginx")
PARAMS_FILES = ("uwsgi_params", "fastcgi_params", "scgi_params", "mime.types")

# The reverse-proxy location of docs/deployment.md: HTTP/1.1 upstream with keep-alive
# (an empty Connection header, or nginx sends "close"), the client's address and scheme
# forwarded. $host, not $http_host: nginx's own uwsgi_params explains why (a client's
# raw Host can disagree with an absolute-form request target).
PROXY_LOCATION = """            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
"""
UWSGI_LOCATION = """            include uwsgi_params;
            uwsgi_pass app;
"""

# nginx's uwsgi_params as Debian ships it, for a machine without /etc/nginx/uwsgi_params
UWSGI_PARAMS = """uwsgi_param  QUERY_STRING       $query_string;
uwsgi_param  REQUEST_METHOD     $request_method;
uwsgi_param  CONTENT_TYPE       $content_type;
uwsgi_param  CONTENT_LENGTH     $content_length;
uwsgi_param  REQUEST_URI        $request_uri;
uwsgi_param  PATH_INFO          $document_uri;
uwsgi_param  DOCUMENT_ROOT      $document_root;
uwsgi_param  SERVER_PROTOCOL    $server_protocol;
uwsgi_param  REQUEST_SCHEME     $scheme;
uwsgi_param  HTTPS              $https if_not_empty;
uwsgi_param  REMOTE_ADDR        $remote_addr;
uwsgi_param  REMOTE_PORT        $remote_port;
uwsgi_param  SERVER_PORT        $server_port;
uwsgi_param  SERVER_NAME        $server_name;
uwsgi_param  HTTP_HOST          $host;
"""


def upstream(servers, keepalive=16, name="app", extra=""):
    """An upstream block: servers are nginx's spellings ("127.0.0.1:8000",
    "unix:/path"); keepalive is the idle connections each nginx worker keeps (0: none)."""
    lines = ["        server %s;" % s for s in servers]
    if keepalive:
        lines.append("        keepalive %d;" % keepalive)
    if extra:
        lines.append(extra)
    return "    upstream %s {\n" % name + "\n".join(lines) + "\n    }\n"


def render(prefix, port, upstream_block, location, ready_path, token, *, written_by,
           access_log="off", log_format="", error_level="info", worker_connections=1024,
           backlog=None, http_extra=""):
    """nginx.conf for an instance in `prefix` listening on 127.0.0.1:port: one worker,
    `upstream_block` verbatim in the http block, `location` verbatim in `location /`, and
    `ready_path` answered by nginx itself with `token` (so a caller knows it reached this
    instance, not whatever else took the port). access_log is "off" or a format name that
    log_format (a whole `log_format` line) defines."""
    # a root master's workers would otherwise run as nobody, who cannot enter the
    # caller's temporary directory (its unix sockets, the request body temp files)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "\n".join("    %s_temp_path %s;" % (kind, os.path.join(prefix, kind))
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    if access_log == "off":
        logging = "    access_log off;\n"
    else:
        logging = "    %s\n    access_log %s %s;\n" % (
            log_format, os.path.join(prefix, "access.log"), access_log)
    listen = "127.0.0.1:%d" % port + (" backlog=%d" % backlog if backlog else "")
    return """# written by %(written_by)s
daemon off;
master_process on;
worker_processes 1;
%(user)spid %(prefix)s/nginx.pid;
error_log %(prefix)s/error.log %(error_level)s;
events {
    worker_connections %(worker_connections)d;
}
http {
    default_type application/octet-stream;
%(logging)s%(temps)s
    client_max_body_size 100m;
%(http_extra)s
%(upstream)s
    server {
        listen %(listen)s;
        server_name localhost;
        location / {
%(location)s
        }
        location = %(ready)s {
            access_log off;
            return 200 "%(token)s";
        }
    }
}
""" % {"written_by": written_by, "user": user, "prefix": prefix, "error_level": error_level,
       "worker_connections": worker_connections, "logging": logging, "temps": temps,
       "http_extra": http_extra, "upstream": upstream_block, "listen": listen,
       "location": location.rstrip("\n"), "ready": ready_path, "token": token}


def write_config(prefix, text):
    """Writes nginx.conf and the params files into prefix; returns nginx's argv."""
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(text)
    for name in PARAMS_FILES:
        if os.path.isfile("/etc/nginx/" + name):
            shutil.copyfile("/etc/nginx/" + name, os.path.join(prefix, name))
    if not os.path.isfile(os.path.join(prefix, "uwsgi_params")):
        with open(os.path.join(prefix, "uwsgi_params"), "w") as f:
            f.write(UWSGI_PARAMS)
    return [NGINX, "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "error.log")]


def refusal(cmd):
    """None when `nginx -t` accepts the configuration, else what it said."""
    check = subprocess.run(cmd + ["-t", "-q"], capture_output=True, text=True, timeout=30)
    return None if check.returncode == 0 else (check.stdout + check.stderr).strip()


def launch(cmd, out):
    """Starts nginx in the foreground in a session of its own (stop() kills the group),
    its stdout and stderr into the open file `out`."""
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)


def answers_token(port, ready_path, token, timeout=1.0):
    """Whether the nginx on `port` answers ready_path with this instance's token."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request("GET", ready_path)
            return conn.getresponse().read() == token.encode()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return False


def error_log(prefix):
    try:
        with open(os.path.join(prefix, "error.log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def stop(proc, timeout=10.0):
    """QUIT (graceful: open requests finish), then KILL the process group after
    `timeout` seconds, whatever happened to the master. Returns what looked wrong."""
    problems = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            problems.append("nginx %d did not exit within %ss of QUIT" % (proc.pid, timeout))
    try:  # its workers too
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        problems.append("nginx %d survived SIGKILL" % proc.pid)
    return problems


def version():
    try:
        r = subprocess.run([NGINX, "-v"], capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().split("/")[-1]
    except (OSError, subprocess.TimeoutExpired):
        return None
