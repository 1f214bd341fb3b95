"""Real applications from PyPI, unmodified, over HTTP through the real binary: a Flask
application (JSON, form posts, file upload, a streamed response, send_file) and a Django
project (ORM on SQLite, admin login with CSRF, file upload, FileResponse,
StreamingHttpResponse). Each runs plain and behind wsgiref.validate.validator.

A 100 MB send_file / FileResponse must go through wsgi.file_wrapper: the worker's read(2)
byte count (/proc/PID/io rchar) stays far below the file's size, because the file is read
through the ring, not by Python. (Not on the epoll engine, whose sendfile(2) of the
file counts in rchar too.)
"""
import hashlib
from concurrent.futures import ThreadPoolExecutor
import os
import re
import subprocess

import pytest
import requests

from conftest import APPS, ENGINE, VENV

MiB = 1 << 20
FLASK_DIR = APPS / "wsgi_flask"
DJANGO_DIR = APPS / "wsgi_django"
VALIDATOR_COMPLAINTS = ("AssertionError", "WSGIWarning", "garbage collected without being")


@pytest.fixture(params=[False, True], ids=["plain", "validated"])
def validated(request):
    return request.param


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    block = os.urandom(MiB)
    with open(d / "big.bin", "wb") as f:
        for i in range(100):
            f.write(block[i:] + block[:i])
    (d / "small.txt").write_bytes(b"small file\n")
    h = hashlib.sha256()
    with open(d / "big.bin", "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return d, h.hexdigest()


def rchar(pid):
    with open(f"/proc/{pid}/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def assert_quiet(srv):
    log = srv.log()
    for word in VALIDATOR_COMPLAINTS + ("Traceback",):
        assert word not in log, f"{word} in the log:\n{log}"


def sha_of_download(url, **kw):
    h = hashlib.sha256()
    n = 0
    with requests.get(url, stream=True, timeout=30, **kw) as r:
        assert r.status_code == 200, r.text[:500]
        for chunk in r.iter_content(MiB):
            h.update(chunk)
            n += len(chunk)
        return r, h.hexdigest(), n


# ---- Flask -------------------------------------------------------------------------------

def flask_server(server, files_dir, validated, *args):
    return server("flask_site:" + ("validated" if validated else "app"), cwd=FLASK_DIR,
                  args=["--virtualenv", str(VENV), "-e", f"FILES_DIR={files_dir}", *args],
                  probe="/api/notes")


def test_flask(server, files_dir, validated):
    d, big_sha = files_dir
    srv = flask_server(server, d, validated)
    base = srv.url()
    # JSON in and out
    r = requests.post(base + "api/notes", json={"text": "caf\u00e9 \u2615"}, timeout=10)
    assert r.status_code == 201 and r.json() == {"id": 1, "text": "caf\u00e9 \u2615"}
    assert requests.get(base + "api/notes", timeout=10).json()["count"] == 1
    # a form post, urlencoded and multipart
    r = requests.post(base + "form", data={"a": ["1", "2"], "b": "x y"}, timeout=10)
    assert r.json() == {"fields": {"a": ["1", "2"], "b": ["x y"]},
                        "ctype": "application/x-www-form-urlencoded"}
    # file upload: small, and one large enough to be spooled by the server
    big = os.urandom(3 * MiB + 5)
    r = requests.post(base + "upload", files={"doc": ("doc.bin", big), "note": ("n.txt", b"hi")},
                      data={"title": "t"}, timeout=30)
    assert r.status_code == 200
    doc = r.json()
    assert doc["fields"] == {"title": "t"}
    assert doc["files"]["doc"] == {"filename": "doc.bin", "size": len(big),
                                   "sha256": hashlib.sha256(big).hexdigest()}
    assert doc["files"]["note"]["size"] == 2
    # a streamed response (chunked), with the request context kept alive in it
    r = requests.get(base + "stream?n=4", timeout=10)
    assert r.text == "".join(f"row {i} of 4\n" for i in range(4))
    assert r.headers.get("Transfer-Encoding") == "chunked"
    # send_file of 100 MB: through wsgi.file_wrapper, not through Python
    (pid,) = srv.worker_pids()
    before = rchar(pid)
    r, sha, n = sha_of_download(base + "download/big.bin")
    assert (sha, n) == (big_sha, 100 * MiB)
    assert r.headers["Content-Length"] == str(100 * MiB)
    if not validated and ENGINE != "epoll":  # epoll's sendfile(2) counts in rchar too
        assert rchar(pid) - before < 10 * MiB, "send_file did not use wsgi.file_wrapper"
    # a range request (werkzeug answers it with its own iterable over the wrapper)
    r = requests.get(base + "download/big.bin", headers={"Range": "bytes=10-19"}, timeout=10)
    assert r.status_code == 206 and len(r.content) == 10
    r = requests.get(base + "download/small.txt", timeout=10)
    assert r.content == b"small file\n"
    assert requests.get(base + "download/nope.txt", timeout=10).status_code == 404
    assert_quiet(srv)


def test_flask_streams_from_threads(server, files_dir):
    """With --threads, every step of a request runs in the thread that called the
    application: Flask's request context (a context variable, so per thread) is still
    there when the streamed body's generator resumes, and when the iterable is closed."""
    srv = flask_server(server, files_dir[0], False, "--threads", "4")
    want = "".join(f"row {i} of 6\n" for i in range(6))

    def fetch(_):
        with requests.Session() as s:
            return [s.get(srv.url("/stream?n=6"), timeout=10).text for _ in range(5)]

    with ThreadPoolExecutor(max_workers=12) as pool:
        bodies = [b for batch in pool.map(fetch, range(12)) for b in batch]
    assert bodies == [want] * 60
    assert_quiet(srv)


def test_flask_behind_a_proxy(server, files_dir):
    srv = flask_server(server, files_dir[0], False, "--root-path", "/notes-app")
    r = requests.get(srv.url("/notes-app/urls"), timeout=10,
                     headers={"X-Forwarded-Proto": "https", "Host": "example.org"})
    assert r.json() == {"external": "https://example.org/notes-app/api/notes",
                        "script_root": "/notes-app", "scheme": "https",
                        "remote_addr": "127.0.0.1"}


# ---- Django ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def django_db(tmp_path_factory):
    """A migrated SQLite database with a superuser (admin / s3cret-pass)."""
    db = tmp_path_factory.mktemp("django") / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("UWSGI_FAST_")}
    env.update(DJANGO_DB=str(db), DJANGO_SETTINGS_MODULE="djsite.settings",
               DJANGO_SUPERUSER_PASSWORD="s3cret-pass", PYTHONDONTWRITEBYTECODE="1")
    py = str(VENV / "bin" / "python")
    for cmd in (["migrate", "--noinput", "-v", "0"],
                ["createsuperuser", "--noinput", "--username", "admin",
                 "--email", "admin@example.org"]):
        r = subprocess.run([py, "manage.py", *cmd], cwd=DJANGO_DIR, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    return db


def django_server(server, db, files_dir, validated):
    return server("djsite.wsgi:" + ("validated" if validated else "application"),
                  cwd=DJANGO_DIR,
                  args=["--virtualenv", str(VENV), "-e", f"DJANGO_DB={db}",
                        "-e", f"FILES_DIR={files_dir}"],
                  probe="/items/")


def csrf_token(html):
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert m, html[:2000]
    return m.group(1)


def django_admin_login(s, base):
    """Logs the requests session `s` into the test project's admin at `base` (ending in
    "/"): the login page sets csrftoken, the post with it redirects to the admin."""
    r = s.get(base + "admin/login/?next=/admin/", timeout=10)
    assert r.status_code == 200 and "csrftoken" in s.cookies
    r = s.post(base + "admin/login/?next=/admin/", timeout=10, allow_redirects=False,
               data={"csrfmiddlewaretoken": csrf_token(r.text), "username": "admin",
                     "password": "s3cret-pass", "next": "/admin/"})
    assert r.status_code == 302 and r.headers["Location"] == "/admin/", r.text[:2000]


def test_django(server, django_db, files_dir, validated):
    d, big_sha = files_dir
    srv = django_server(server, django_db, d, validated)
    base = srv.url()
    # the ORM on SQLite, through JSON views
    name = "validated" if validated else "plain"
    r = requests.post(base + "items/", json={"name": f"widget-{name}", "price": "9.50"},
                      timeout=10)
    assert r.status_code == 201, r.text[:2000]
    assert f"widget-{name}" in [i["name"] for i in requests.get(base + "items/").json()["items"]]

    # the admin: login with CSRF, then a form post that writes through the ORM
    s = requests.Session()
    django_admin_login(s, base)
    r = s.get(base + "admin/", timeout=10)
    assert r.status_code == 200 and "Site administration" in r.text
    assert s.get(base + "whoami/", timeout=10).json()["user"] == "admin"
    r = s.get(base + "admin/shop/item/add/", timeout=10)
    r = s.post(base + "admin/shop/item/add/", timeout=10, allow_redirects=False,
               data={"csrfmiddlewaretoken": csrf_token(r.text), "name": f"admin-{name}",
                     "price": "1.25", "_save": "Save"})
    assert r.status_code == 302, r.text[:3000]
    assert f"admin-{name}" in [i["name"] for i in requests.get(base + "items/").json()["items"]]
    # without the token: 403 from the CSRF middleware
    r = s.post(base + "admin/shop/item/add/", data={"name": "x", "price": "1"}, timeout=10)
    assert r.status_code == 403

    # file upload: one kept in memory by Django, one it writes to a temporary file
    big = os.urandom(3 * MiB + 1)
    r = requests.post(base + "upload/", files={"a": ("a.bin", big), "b": ("b.txt", b"bee")},
                      data={"k": "v"}, timeout=30)
    doc = r.json()
    assert doc["fields"] == {"k": "v"}
    assert doc["files"]["a"] == {"name": "a.bin", "size": len(big),
                                 "sha256": hashlib.sha256(big).hexdigest()}
    assert doc["files"]["b"]["size"] == 3

    # StreamingHttpResponse
    r = requests.get(base + "stream/?n=3", timeout=10)
    assert r.text == "line 0\nline 1\nline 2\n"

    # FileResponse of 100 MB: through wsgi.file_wrapper
    (pid,) = srv.worker_pids()
    before = rchar(pid)
    r, sha, n = sha_of_download(base + "download/big.bin")
    assert (sha, n) == (big_sha, 100 * MiB)
    assert r.headers["Content-Length"] == str(100 * MiB)
    assert "attachment" in r.headers["Content-Disposition"]
    if not validated and ENGINE != "epoll":  # epoll's sendfile(2) counts in rchar too
        assert rchar(pid) - before < 10 * MiB, "FileResponse did not use wsgi.file_wrapper"
    assert_quiet(srv)


def test_django_mounted_below_root_and_https(server, django_db, files_dir):
    srv = server("djsite.wsgi:application", cwd=DJANGO_DIR,
                 args=["--virtualenv", str(VENV), "-e", f"DJANGO_DB={django_db}",
                       "--root-path", "/shop"], probe="/shop/items/")
    r = requests.get(srv.url("/shop/whoami/"), headers={"X-Forwarded-Proto": "https"},
                     timeout=10)
    assert r.json() == {"user": "", "secure": True, "script_name": "/shop",
                        "path": "/shop/whoami/"}
