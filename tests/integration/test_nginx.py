"""Real nginx (Debian's package, see nginx_fixture.py) in front of the real binary.

Over TCP with upstream keep-alive and over a unix socket (`-b unix:PATH`): the Flask and
Django integration apps pass through (JSON, form posts, redirects, cookies), nginx's
X-Forwarded-* reach the application as --forwarded-allow-ips says, and nginx reuses its
upstream connections (the server's access log numbers each worker's connections,
%(c)s, so accepts are counted exactly). A 50 MB POST through nginx arrives intact. And
20 HUP reloads during a load run through nginx give no 502/504 and no client error.
"""
import hashlib
import os
import random
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import APPS, VENV, wait_until
from nginx_fixture import PROXY_LOCATION, nginx, upstream  # noqa: F401 (fixture)
from test_wsgi_frameworks import django_admin_login, django_db  # noqa: F401 (fixture)

MiB = 1 << 20
FLASK_DIR = APPS / "wsgi_flask"
DJANGO_DIR = APPS / "wsgi_django"
# pid and connection id (per worker, from 1) name one upstream connection
ACCESS_FORMAT = "%(p)s %(c)s %(s)s %(m)s %(U)s %(h)s %({X-Forwarded-For}i)s"

# Stands in for a TLS listener (`listen 443 ssl` sets $scheme to https) without
# certificates: a client header X-Test-Scheme: https makes nginx say https upstream.
SCHEME_MAP = """
    map $http_x_test_scheme $forwarded_scheme {
        default $scheme;
        https   https;
    }
"""
LOCATION = PROXY_LOCATION.replace("X-Forwarded-Proto $scheme", "X-Forwarded-Proto $forwarded_scheme")


@pytest.fixture(params=["tcp", "unix"])
def transport(request):
    return request.param


def behind_nginx(server, nginx, tmp_path, transport, app, args=(), **kw):
    """Starts app with an access log of (pid, connection) and nginx in front of it, over
    the transport; returns (srv, ngx). The fixture's TCP bind stays for its probe."""
    log = tmp_path / "access.log"
    args = ["--access-logfile", str(log), "--access-logformat", ACCESS_FORMAT, *args]
    if transport == "unix":
        sock = tmp_path / "app.sock"
        args += ["-b", f"unix:{sock}"]
        target = f"unix:{sock}"
    srv = server(app, args=args, **kw)
    if transport == "tcp":
        target = f"127.0.0.1:{srv.port}"
    srv.access_log = log
    ngx = nginx(upstream([target], keepalive=16), LOCATION, http_extra=SCHEME_MAP,
                probe=kw.get("probe", "/"))
    return srv, ngx


def access_lines(srv, n, timeout=5.0):
    """At least n lines of the server's access log (fewer after timeout), split."""
    def lines():
        if not srv.access_log.exists():
            return []
        return [l.split(" ") for l in srv.access_log.read_text().splitlines()]
    wait_until(lambda: len(lines()) >= n, timeout)
    return lines()


# ---- Flask and Django through nginx ------------------------------------------------------

def test_flask(server, nginx, tmp_path, transport):
    srv, ngx = behind_nginx(server, nginx, tmp_path, transport, "flask_site:app",
                            cwd=FLASK_DIR, probe="/api/notes",
                            args=["--virtualenv", str(VENV), "-e", f"FILES_DIR={tmp_path}"])
    base = ngx.url()
    with requests.Session() as s:
        r = s.post(base + "api/notes", json={"text": "caf\u00e9 \u2615"}, timeout=10)
        assert r.status_code == 201 and r.json() == {"id": 1, "text": "caf\u00e9 \u2615"}
        r = s.get(base + "api/notes", timeout=10)
        assert r.headers["Content-Type"] == "application/json"
        assert r.json() == {"notes": [{"id": 1, "text": "caf\u00e9 \u2615"}], "count": 1}
        r = s.post(base + "form", data={"a": ["1", "2"], "b": "x y"}, timeout=10)
        assert r.json() == {"fields": {"a": ["1", "2"], "b": ["x y"]},
                            "ctype": "application/x-www-form-urlencoded"}
        big = os.urandom(3 * MiB + 5)
        r = s.post(base + "upload", files={"doc": ("doc.bin", big)}, data={"t": "1"},
                   timeout=30)
        assert r.json()["files"]["doc"] == {"filename": "doc.bin", "size": len(big),
                                            "sha256": hashlib.sha256(big).hexdigest()}
        # a streamed (chunked) response comes through nginx whole
        r = s.get(base + "stream?n=4", timeout=10)
        assert r.text == "".join(f"row {i} of 4\n" for i in range(4))
        assert s.get(base + "nope", timeout=10).status_code == 404

        # X-Forwarded-Proto from nginx: the TCP peer 127.0.0.1 is in the default
        # --forwarded-allow-ips, a unix peer always counts as trusted
        r = s.get(base + "urls", timeout=10, headers={"X-Test-Scheme": "https"})
        assert r.json()["scheme"] == "https"
        assert r.json()["external"] == "https://127.0.0.1/api/notes"  # Host: $host
        assert r.json()["remote_addr"] == ("127.0.0.1" if transport == "tcp" else "")
        assert s.get(base + "urls", timeout=10).json()["scheme"] == "http"
    # X-Forwarded-For reached the server: nginx appended the client's address
    # (each worker writes its own lines in batches: the order across workers may differ)
    urls = [l for l in access_lines(srv, 9) if l[4] == "/urls"]
    assert len(urls) == 2 and all(
        l[4:] == ["/urls", "127.0.0.1" if transport == "tcp" else "-", "127.0.0.1"]
        for l in urls), urls
    assert "Traceback" not in srv.log()


def test_django(server, nginx, tmp_path, transport, django_db):
    srv, ngx = behind_nginx(server, nginx, tmp_path, transport, "djsite.wsgi:application",
                            cwd=DJANGO_DIR, probe="/items/",
                            args=["--virtualenv", str(VENV), "-e", f"DJANGO_DB={django_db}"])
    base = ngx.url()
    name = f"nginx-{transport}"
    r = requests.post(base + "items/", json={"name": name, "price": "9.50"}, timeout=10)
    assert r.status_code == 201, r.text[:2000]
    assert name in [i["name"] for i in requests.get(base + "items/", timeout=10).json()["items"]]
    # CommonMiddleware's APPEND_SLASH redirect, passed through unchanged
    r = requests.get(base + "items", timeout=10, allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/items/"

    # the admin: cookies (csrftoken, then sessionid) and a login redirect through nginx
    with requests.Session() as s:
        r = s.get(base + "admin/", timeout=10, allow_redirects=False)
        assert r.status_code == 302 and r.headers["Location"].startswith("/admin/login/")
        django_admin_login(s, base)
        assert "sessionid" in s.cookies
        assert s.get(base + "whoami/", timeout=10).json()["user"] == "admin"
        # nginx's X-Forwarded-Proto makes request.is_secure() true
        doc = s.get(base + "whoami/", timeout=10, headers={"X-Test-Scheme": "https"}).json()
        assert doc == {"user": "admin", "secure": True, "script_name": "", "path": "/whoami/"}
    r = requests.get(base + "stream/?n=3", timeout=10)
    assert r.text == "line 0\nline 1\nline 2\n"
    assert "Traceback" not in srv.log()


def test_untrusted_proxy_scheme_ignored(server, nginx, tmp_path):
    """An nginx outside --forwarded-allow-ips may not set the scheme; X-Forwarded-For
    still reaches the application as a plain header."""
    srv, ngx = behind_nginx(server, nginx, tmp_path, "tcp", "flask_site:app", cwd=FLASK_DIR,
                            probe="/api/notes",
                            args=["--virtualenv", str(VENV), "--forwarded-allow-ips", "10.9.9.9"])
    r = requests.get(ngx.url("/urls"), headers={"X-Test-Scheme": "https"}, timeout=10)
    assert r.json()["scheme"] == "http"
    # each worker writes its own lines in batches: the probe's may land after this one
    urls = [l for l in access_lines(srv, 2) if l[4] == "/urls"]
    assert [l[4:] for l in urls] == [["/urls", "127.0.0.1", "127.0.0.1"]], urls


# ---- upstream keep-alive ------------------------------------------------------------------

def upstream_connections(srv, ngx, label):
    """Sends 500 requests from 8 clients, each on a new client connection to nginx;
    returns how many upstream connections (worker pid, connection id) carried them."""
    def one(i):  # the probes went to "/": these paths are the run's own
        if i % 2:
            return ngx.request("POST", "/echo", body=b"x" * (i % 900)).status
        return ngx.request("GET", "/pid").status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(pool.map(one, range(500)))
    assert statuses == {200: 500}
    lines = [l for l in access_lines(srv, 502) if l[4] in ("/pid", "/echo")]
    assert len(lines) == 500
    conns = {(pid, conn) for pid, conn, *_ in lines}
    print(f"{label}: 500 requests over {len(conns)} upstream connections "
          f"({len({c[0] for c in conns})} workers)")
    return len(conns)


def test_upstream_connections_reused(server, nginx, tmp_path, transport):
    """The requests reach the server over a handful of upstream connections (nginx's
    keepalive 16)."""
    srv, ngx = behind_nginx(server, nginx, tmp_path, transport, "basic:app", workers=2)
    assert upstream_connections(srv, ngx, transport) <= 24


def test_without_upstream_keepalive_every_request_connects(server, nginx, tmp_path):
    """The control: without `keepalive` nginx opens one upstream connection per request,
    and the count above sees each of them."""
    log = tmp_path / "access.log"
    srv = server("basic:app", workers=2,
                 args=["--access-logfile", str(log), "--access-logformat", ACCESS_FORMAT])
    srv.access_log = log
    ngx = nginx(upstream([f"127.0.0.1:{srv.port}"], keepalive=0), LOCATION,
                http_extra=SCHEME_MAP)
    assert upstream_connections(srv, ngx, "tcp, no keepalive") == 500


# ---- a large body -------------------------------------------------------------------------

@pytest.mark.parametrize("buffering", ["buffered", "streamed"])
def test_50mb_post_arrives_intact(server, nginx, tmp_path, transport, buffering):
    """nginx's default spools the body to its temp path and sends it with Content-Length;
    with proxy_request_buffering off it streams a chunked client body on, still chunked."""
    log = tmp_path / "access.log"
    sock = tmp_path / "app.sock"
    srv = server("basic:app", args=["--access-logfile", str(log), "--access-logformat",
                                    "%(U)s %({Transfer-Encoding}i)s %({Content-Length}i)s",
                                    *(["-b", f"unix:{sock}"] if transport == "unix" else [])])
    target = f"unix:{sock}" if transport == "unix" else f"127.0.0.1:{srv.port}"
    location = LOCATION + ("proxy_request_buffering off;\n" if buffering == "streamed" else "")
    ngx = nginx(upstream([target]), location, http_extra=SCHEME_MAP)
    block = os.urandom(MiB)
    body = b"".join(block[i:] + block[:i] for i in range(50))
    want = f"{hashlib.sha256(body).hexdigest()} {len(body)}"
    if buffering == "buffered":
        r = requests.post(ngx.url("/sha256"), data=body, timeout=60)
    else:
        r = requests.post(ngx.url("/sha256"), timeout=60,
                          data=(body[i:i + MiB] for i in range(0, len(body), MiB)))
    assert r.status_code == 200 and r.text == want
    srv.access_log = log
    lines = wait_until(lambda: [l for l in log.read_text().splitlines()
                                if l.startswith("/sha256")], 5)
    assert lines == (["/sha256 - 52428800"] if buffering == "buffered" else ["/sha256 chunked -"])


# ---- reloads under load ---------------------------------------------------------------------

HUPS = 20
HUP_INTERVAL = 0.5
BUSY_CLIENTS = 8     # back to back
SPARSE_CLIENTS = 8   # about one request a second, so that nginx's pool also holds idle
                     # upstream connections when a worker drains (it closes them after
                     # a 1 s grace) and some requests come just as it does


def test_hup_reloads_under_load_give_no_502(server, nginx, tmp_path, transport):
    """Keep-alive clients send GETs and POSTs through nginx, 8 back to back and 8 about
    once a second, while the server is told to reload 20 times, every 0.5 s: every
    response is the application's 200, and every reload really replaced the workers. nginx's own view (its access log's upstream
    statuses, its error log) is printed, so a retry nginx hid is seen too."""
    srv, ngx = behind_nginx(server, nginx, tmp_path, transport, "basic:app", workers=2)
    stop = threading.Event()
    t0 = time.monotonic()
    lock = threading.Lock()
    statuses, pids, bad, errors = Counter(), set(), [], []
    sparse = Counter()  # requests of the sparse clients, by status

    def client(k):
        conn = ngx.connection()
        rnd = random.Random(k)
        n = 0
        while not stop.is_set():
            if k >= BUSY_CLIENTS:
                stop.wait(rnd.uniform(0.9, 1.1))
            n += 1
            post = n % 3 == 0
            body = f"client {k} request {n}".encode()
            try:
                if post:
                    conn.request("POST", "/echo", body=body,
                                 headers={"Content-Type": "text/plain"})
                else:
                    conn.request("GET", "/pid")
                resp = conn.getresponse()
                data = resp.read()
            except Exception as e:  # noqa: BLE001 (every failure is the finding)
                with lock:
                    errors.append((round(time.monotonic() - t0, 3), k, repr(e)))
                conn.close()
                conn = ngx.connection()
                continue
            with lock:
                statuses[resp.status] += 1
                if k >= BUSY_CLIENTS:
                    sparse[resp.status] += 1
                ok = resp.status == 200 and (data == body if post else data.isdigit())
                if not ok:
                    bad.append((round(time.monotonic() - t0, 3), k, resp.status, data[:200]))
                elif not post:
                    pids.add(int(data))
        conn.close()

    threads = [threading.Thread(target=client, args=(k,))
               for k in range(BUSY_CLIENTS + SPARSE_CLIENTS)]
    for t in threads:
        t.start()
    hups = []
    try:
        time.sleep(HUP_INTERVAL)
        for _ in range(HUPS):
            hups.append(round(time.monotonic() - t0, 3))
            srv.send_signal(signal.SIGHUP)
            time.sleep(HUP_INTERVAL)
        time.sleep(1.5)  # the last generation serves too
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    total = sum(statuses.values())
    retried = [l for l in ngx.access_lines() if "," in l.split(" ups=")[1].split(" ")[0]]
    upstream_errors = [l for l in ngx.error_log_text().splitlines()
                       if "[error]" in l or "[crit]" in l or "[alert]" in l]
    print(f"{transport}: {total} requests through nginx in {time.monotonic() - t0:.1f} s, "
          f"{len(hups)} HUPs, statuses {dict(statuses)} (sparse clients {dict(sparse)}), "
          f"{len(errors)} client errors, "
          f"{len(pids)} worker pids answered; nginx retried {len(retried)} requests, "
          f"{len(upstream_errors)} error log lines")
    for line in retried[:20] + upstream_errors[:20]:
        print("  nginx:", line)
    assert not errors, errors[:20]
    assert not bad, bad[:20]
    assert statuses[200] == total and total > 1000 and sum(sparse.values()) > 50
    # each HUP replaced both workers: far more pids answered than one generation's two
    assert len(pids) >= HUPS, f"only {len(pids)} worker pids answered {HUPS} reloads"
    assert not upstream_errors, upstream_errors[:20]
