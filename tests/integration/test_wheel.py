"""`pip install uwsgi-fast` (issue 22): the wheel built from this checkout, installed into a
fresh venv, serving the Flask and Django test applications with that venv's packages.

The wheel is built once per run with pip (build isolation on, as `pip install .` does; the
Zig cache in the checkout is reused), then installed into a new venv together with Flask
and Django at tests/requirements.txt's pins. The servers are started through the venv's
`uwsgi-fast` console script with no --virtualenv, no PYTHONPATH and no VIRTUAL_ENV in
their environment: the launcher alone must point the server at the venv. The sdist is
built with the backend's own hook and built again into a wheel with no index and no
Debian llhttp in reach, from a wheelhouse holding only the build requirements.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests

from conftest import APPS, BINARY, ROOT, VENV, clean_env, free_port, wait_until

BUILD_TIMEOUT = 900  # a cold Zig cache compiles every source (a few minutes on 2 cores)
PIP_TIMEOUT = 300
TAG = "cp%d%d" % sys.version_info[:2]
# what a binary may need from the loader: glibc's libraries and the embedded libpython
LIBC_FAMILY = re.compile(r"^(linux-vdso\.so|ld-linux[-\w.]*\.so|lib(c|m|dl|rt|pthread)\.so"
                         r"|libpython\d\.\d+\.so)")


def run(cmd, timeout=PIP_TIMEOUT, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


def pins(*names):
    """tests/requirements.txt's pins of these packages, so the venv matches the suite's."""
    lines = (ROOT / "tests" / "requirements.txt").read_text().split()
    return [line for line in lines if line.split("==")[0] in names]


def server_env():
    env = clean_env()
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheelhouse")
    run([VENV / "bin" / "python", "-m", "pip", "wheel", "--no-deps", "-w", out, ROOT],
        timeout=BUILD_TIMEOUT)
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel):
    """A new venv (from the interpreter the wheel was built with) holding the wheel,
    Flask and Django; returns (venv dir, files it had before the wheel went in)."""
    d = tmp_path_factory.mktemp("venv") / "app-venv"
    run([VENV / "bin" / "python", "-m", "venv", d])
    before = {p.relative_to(d) for p in d.rglob("*")}
    run([d / "bin" / "pip", "install", "-q", wheel, *pins("Flask", "Django")])
    return d, before


class Served:
    """`uwsgi-fast` from the venv, run as a person would: the console script on PATH."""

    def __init__(self, venv_dir, app, cwd, tmp_path, extra=()):
        self.port = free_port()
        self.log_path = tmp_path / f"served-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(venv_dir / "bin" / "uwsgi-fast"), "-w", "1", "-b",
                 f"127.0.0.1:{self.port}", *extra, app],
                cwd=cwd, env=server_env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self):
        return self.log_path.read_text(errors="replace")

    def get(self, path):
        def attempt():
            try:
                return requests.get(self.url(path), timeout=5)
            except requests.ConnectionError:
                assert self.proc.poll() is None, f"server exited:\n{self.log()}"
                return None
        r = wait_until(attempt, 30, interval=0.2)
        assert r is not None, f"no answer on {path}:\n{self.log()}"
        return r

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@pytest.fixture
def served(venv, tmp_path):
    started = []

    def start(app, cwd, extra=()):
        s = Served(venv[0], app, cwd, tmp_path, extra)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


def test_wheel_name_contents_and_linkage(wheel, venv):
    assert wheel.name == f"uwsgi_fast-{(ROOT / 'VERSION').read_text().strip()}-{TAG}-{TAG}-linux_" \
        f"{os.uname().machine}.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        exe = z.getinfo("uwsgi_fast/bin/uwsgi-fast")
        assert exe.external_attr >> 16 & 0o111, "the binary is not executable in the wheel"
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
        record = z.read(info + "/RECORD").decode()
        assert z.read(info + "/entry_points.txt").decode() == \
            "[console_scripts]\nuwsgi-fast = uwsgi_fast:main\n"
    assert {f"{info}/licenses/{n}" for n in ("LICENSE", "llhttp.txt", "mimalloc.txt",
                                             "liburing.txt", "zlib.txt")} <= names
    assert all(n in record for n in names - {info + "/RECORD"})
    # only libc's family and libpython (and what libpython itself needs: Debian's needs
    # libz and libexpat); liburing, mimalloc and llhttp are inside
    binary = next(venv[0].glob("lib/python*/site-packages/uwsgi_fast/bin/uwsgi-fast"))
    needed = ldd(binary)
    libpython = [path for name, path in needed.items() if name.startswith("libpython")]
    assert len(libpython) == 1, needed
    ours = set(needed) - (set(ldd(libpython[0])) - {"libc.so.6", "libm.so.6"})
    assert all(LIBC_FAMILY.match(n) for n in ours), ours
    assert "libc.so.6" in ours, ours


def test_starts_with_liburing_and_mimalloc_out_of_reach(venv):
    """The wheel's binary runs where Debian's liburing and mimalloc are absent: in a mount
    namespace with /dev/null over each of their shared libraries (the -dev symlinks too),
    where the standalone binary, linked against them, cannot load."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    masks = sorted({str(p) for d in ("/usr/lib", "/usr/lib/" + multiarch)
                    for p in Path(d).glob("lib*.so*")
                    if p.name.startswith(("liburing.so", "libmimalloc.so"))})
    if not masks or not shutil.which("unshare"):
        pytest.skip("no liburing/mimalloc shared library to hide, or no unshare(1)")

    def hidden(cmd):
        script = "".join(f"mount --bind /dev/null {m} && " for m in masks) + "exec " + cmd
        return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                              text=True, timeout=30, env=server_env(), cwd=APPS)
    r = hidden(f"{venv[0]}/bin/uwsgi-fast --version")
    if "unshare failed" in r.stderr or "mount:" in r.stderr:
        pytest.skip(f"no mount namespace here: {r.stderr.strip()}")
    assert r.returncode == 0 and "linked in statically" in r.stdout, r.stdout + r.stderr
    if BINARY.is_file() and "shared" in run([BINARY, "--version"], cwd=APPS).stdout:
        r = hidden(f"{BINARY} --version")  # the masks do hide what a shared build needs
        assert r.returncode != 0 and "error while loading shared libraries" in r.stderr, r


def ldd(path):
    """{library name: resolved path} as the loader would find them."""
    out = {}
    for line in run(["ldd", path]).stdout.splitlines():
        parts = line.split()
        out[os.path.basename(parts[0])] = parts[2] if len(parts) > 2 and parts[1] == "=>" \
            else parts[0]
    return out


def test_version_names_the_venv(venv):
    d = venv[0]
    version = (ROOT / "VERSION").read_text().strip()
    for cmd in ([d / "bin" / "uwsgi-fast", "--version"],
                [d / "bin" / "python", "-m", "uwsgi_fast", "--version"]):
        out = run(cmd, env=server_env(), cwd=APPS).stdout
        lines = out.splitlines()
        assert lines[0] == f"uwsgi-fast {version}", out
        assert lines[1].startswith("python %d.%d." % sys.version_info[:2]), out
        assert lines[1].endswith(f"virtualenv: {d}"), out
        assert "linked in statically" in lines[2], out


def test_imports_come_from_the_venv(venv, served, tmp_path):
    app = tmp_path / "whereami.py"
    app.write_text(
        "import json, sys, flask, django\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'application/json')])\n"
        "    return [json.dumps({'prefix': sys.prefix, 'executable': sys.executable,\n"
        "                        'flask': flask.__file__, 'django': django.__file__}).encode()]\n")
    srv = served("whereami:app", tmp_path)
    where = srv.get("/").json()
    d = str(venv[0])
    assert where["prefix"] == d and where["executable"].startswith(d + "/bin/python")
    assert where["flask"].startswith(d + "/") and where["django"].startswith(d + "/")
    assert f"virtualenv: {d}" in srv.log()


def test_flask_app(served):
    srv = served("flask_site:app", APPS / "wsgi_flask")
    assert srv.get("/api/notes").json() == {"notes": [], "count": 0}
    r = requests.post(srv.url("/api/notes"), json={"text": "from a wheel"}, timeout=10)
    assert r.status_code == 201 and r.json()["text"] == "from a wheel"
    assert srv.get("/api/notes").json()["count"] == 1


def test_django_app(venv, served, tmp_path):
    site = APPS / "wsgi_django"
    db = tmp_path / "db.sqlite3"
    env = dict(server_env(), DJANGO_DB=str(db), DJANGO_SETTINGS_MODULE="djsite.settings",
               PYTHONDONTWRITEBYTECODE="1")
    run([venv[0] / "bin" / "python", "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=site, env=env)
    srv = served("djsite.wsgi:application", site, extra=["-e", f"DJANGO_DB={db}"])
    assert srv.get("/items/").json()["items"] == []
    r = requests.post(srv.url("/items/"), json={"name": "wheel", "price": "1.50"}, timeout=10)
    assert r.status_code == 201, r.text[:2000]
    assert [i["name"] for i in srv.get("/items/").json()["items"]] == ["wheel"]


def test_missing_build_dependencies_name_the_apt_line(monkeypatch):
    sys.path.insert(0, str(ROOT / "build_backend"))
    try:
        from uwsgi_fast_build import prereqs
    finally:
        sys.path.remove(str(ROOT / "build_backend"))
    monkeypatch.setattr(prereqs, "LIBURING_HEADER", "/nonexistent/liburing.h")
    monkeypatch.setattr(prereqs, "LLHTTP_SRC", "/nonexistent")
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with pytest.raises(prereqs.Missing) as e:
        prereqs.find(str(ROOT))
    assert "\n    apt-get install gcc liburing-dev node-llhttp\n" in str(e.value) + "\n"

    # an interpreter without a shared libpython (pyenv's default, say) is told what to use
    real = prereqs.sysconfig.get_config_var
    monkeypatch.setattr(prereqs.sysconfig, "get_config_var",
                        lambda name: 0 if name == "Py_ENABLE_SHARED" else real(name))
    with pytest.raises(prereqs.Missing) as e:
        prereqs.find(str(ROOT))
    v = "%d.%d" % sys.version_info[:2]
    assert "has no shared libpython" in str(e.value)
    assert f"apt-get install python{v}-dev python{v}-venv" in str(e.value)


def test_sdist_builds_offline_from_its_own_llhttp(tmp_path, wheel):
    """The sdist carries llhttp (with its licence) and builds into the same wheel with no
    index, from a wheelhouse that holds only the build requirements, compiling its own
    llhttp (the backend's command line says which)."""
    out = tmp_path / "dist"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "build_backend"))
    name = run([VENV / "bin" / "python", "-c",
                f"import uwsgi_fast_build as b; print(b.build_sdist({str(out)!r}))"],
               cwd=ROOT, env=env).stdout.strip().splitlines()[-1]
    # unpacked at the same place on every run, with a Zig cache kept beside it: the cache
    # knows files by path, so a rerun recompiles only what changed
    where = ROOT / ".zig-cache" / "sdist-check"
    shutil.rmtree(where / "src", ignore_errors=True)
    with tarfile.open(out / name) as t:
        members = set(t.getnames())
        t.extractall(where / "src")
    base = name[:-len(".tar.gz")]
    assert {f"{base}/llhttp/{n}" for n in ("llhttp.c", "api.c", "http.c", "llhttp.h",
                                           "LICENSE")} <= members
    assert {f"{base}/PKG-INFO", f"{base}/build.zig", f"{base}/pyproject.toml"} <= members
    house = tmp_path / "house"
    requires = ["ziglang==0.14.1", "cmeel-mimalloc==3.4.3"]
    run([VENV / "bin" / "python", "-m", "pip", "download", "-q", "-d", house, *requires])
    built = tmp_path / "built"
    r = run([VENV / "bin" / "python", "-m", "pip", "wheel", "-v", "--no-deps", "--no-index",
             "--find-links", house, "-w", built, where / "src" / base],
            timeout=BUILD_TIMEOUT, env=dict(os.environ, ZIG_LOCAL_CACHE_DIR=str(where / "cache")))
    assert f"-Dllhttp-src={where / 'src' / base / 'llhttp'} " in r.stdout + r.stderr
    assert [w.name for w in built.glob("*.whl")] == [wheel.name]


def test_uninstall_leaves_nothing(venv):
    """Last in the module: the venv loses its uwsgi-fast here."""
    d, before = venv
    run([d / "bin" / "pip", "uninstall", "-y", "-q", "uwsgi-fast"])
    left = sorted(str(p.relative_to(d)) for p in d.rglob("*")
                  if p.relative_to(d) not in before and "uwsgi" in str(p.relative_to(d)).lower())
    assert left == []
    assert not (d / "bin" / "uwsgi-fast").exists()
