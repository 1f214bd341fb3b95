"""--user, --group, --initgroups and --umask with the real binary started as root.

The workers must drop to the user (uid, gid and supplementary groups, read from
/proc/PID/status) while the master stays root; requests are served; the log files stay
writable by the workers across a USR1 reopen after rotation; a file the application
creates carries --umask; bad values stop the server with one line and exit 2.

A worker running as another user must read Python's standard library. Where Python lives
below a directory that user cannot enter (this machine's /root, mode 700, holds pyenv's
interpreter), the module fixture grants search permission (o+x, never read) on exactly the
directories on the way and restores their previous modes afterwards; when even that is
not enough it skips with the reason. The applications are served from a fresh directory
of mode 755, never from below root's home.
"""
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest

from conftest import run_binary, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")

TEST_USER = "ufprivs"
EXTRA_GROUP = "ufprivsx"

APP = r'''
import os

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/create":
        name = os.path.join(os.path.dirname(__file__), "created-by-app")
        with open(name, "w") as f:
            f.write("x")
        body = oct(os.stat(name).st_mode & 0o777)
    elif path == "/err":
        environ["wsgi.errors"].write("line-from-the-worker\n")
        environ["wsgi.errors"].flush()
        body = "ok"
    else:
        body = f"{os.getuid()} {os.getgid()} {sorted(os.getgroups())}"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
'''


def ids_of(pid):
    """(real uid, effective uid, real gid, effective gid, supplementary groups) of pid."""
    lines = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                 .splitlines() if ":" in line)
    uid = [int(x) for x in lines["Uid"].split()]
    gid = [int(x) for x in lines["Gid"].split()]
    groups = sorted(int(x) for x in lines["Groups"].split())
    return uid[0], uid[1], gid[0], gid[1], groups


def _needed_dirs():
    """The directories a worker passes through to reach Python's standard library."""
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    dirs = [stdlib, *stdlib.parents]
    exe = Path(sys.executable).resolve().parent
    return dirs + [d for d in [exe, *exe.parents] if d not in dirs], stdlib


def _as_user_can_read(uid, gid, path):
    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    r = subprocess.run(["/bin/cat", str(path)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, preexec_fn=drop)
    return r.returncode == 0


@pytest.fixture(scope="module")
def python_reachable():
    """Search permission for others on the way to the standard library, restored after."""
    nobody = pwd.getpwnam("nobody")
    dirs, stdlib = _needed_dirs()
    changed = []
    try:
        for d in dirs:
            mode = stat.S_IMODE(os.stat(d).st_mode)
            if not mode & stat.S_IXOTH:
                os.chmod(d, mode | stat.S_IXOTH)
                changed.append((d, mode))
        if not _as_user_can_read(nobody.pw_uid, nobody.pw_gid, stdlib / "os.py"):
            pytest.skip(f"the user nobody cannot read {stdlib}/os.py even with search "
                        "permission on the directories above it")
        yield
    finally:
        for d, mode in reversed(changed):
            os.chmod(d, mode)


@pytest.fixture(scope="module")
def test_user():
    """A user of our own with a supplementary group, for --initgroups; removed after."""
    if not shutil.which("useradd"):
        pytest.skip("useradd is not installed")
    for name, kind in ((TEST_USER, pwd.getpwnam), (EXTRA_GROUP, grp.getgrnam)):
        try:
            kind(name)
            pytest.skip(f"{name} exists already: not touching someone else's account")
        except KeyError:
            pass
    subprocess.run(["groupadd", EXTRA_GROUP], check=True)
    try:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "--user-group", "--groups", EXTRA_GROUP, TEST_USER], check=True)
        try:
            yield pwd.getpwnam(TEST_USER), grp.getgrnam(EXTRA_GROUP)
        finally:
            subprocess.run(["userdel", TEST_USER], check=False)
    finally:
        subprocess.run(["groupdel", EXTRA_GROUP], check=False)


@pytest.fixture
def app_dir():
    """A directory every user can read, with the application in it."""
    d = Path(tempfile.mkdtemp(prefix="uf-privs-"))
    try:
        d.chmod(0o755)
        (d / "privapp.py").write_text(APP)
        (d / "privapp.py").chmod(0o644)
        yield d
    finally:
        for log in sorted(d.glob("error.log*")):  # shown by pytest when the test failed
            print(f"--- {log.name} ---\n{log.read_text(errors='replace')}")
        shutil.rmtree(d, ignore_errors=True)


def start(server, app_dir, *args, workers=2):
    return server("privapp:app", workers=workers, cwd=app_dir,
                  args=["--error-logfile", str(app_dir / "error.log"),
                        "--access-logfile", str(app_dir / "access.log"), *args])


def test_workers_drop_and_master_keeps_root(server, app_dir, python_reachable):
    srv = start(server, app_dir, "--user", "nobody", "--group", "nogroup")
    nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    r = srv.request("GET", "/")
    assert r.status == 200
    assert r.body.decode() == f"{nobody} {nogroup} [{nogroup}]"
    workers = srv.wait_workers(2)
    assert len(workers) == 2
    for pid in workers:
        # real and effective ids, and root's supplementary groups gone
        assert ids_of(pid) == (nobody, nobody, nogroup, nogroup, [nogroup]), pid
    assert ids_of(srv.pid)[:4] == (0, 0, 0, 0)
    # the master still reaches the workers: their /proc files and signals (TTOU/TTIN)
    assert Path(f"/proc/{workers[0]}/smaps_rollup").read_text()
    srv.send_signal(signal.SIGTTIN)
    assert wait_until(lambda: len(srv.worker_pids()) == 3, 10)
    # a child is the master's copy, root, for the moment between fork and its drop
    assert wait_until(lambda: all(ids_of(pid)[:4] == (nobody, nobody, nogroup, nogroup)
                                  for pid in srv.worker_pids()), 5), \
        [ids_of(pid) for pid in srv.worker_pids()]
    log = (app_dir / "error.log").read_text()
    assert "Workers run as nobody (uid %d), gid %d" % (nobody, nogroup) in log


def test_logs_stay_writable_after_usr1(server, app_dir, python_reachable):
    srv = start(server, app_dir, "--user", "nobody")
    nobody = pwd.getpwnam("nobody")
    access, error = app_dir / "access.log", app_dir / "error.log"
    for f in (access, error):
        assert (f.stat().st_uid, f.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid), f
    srv.request("GET", "/before")
    # logrotate without copytruncate: move both away, then USR1; the master (root)
    # creates the new files and gives them to the user before the workers reopen them
    access.rename(app_dir / "access.log.1")
    error.rename(app_dir / "error.log.1")
    srv.send_signal(signal.SIGUSR1)
    assert wait_until(lambda: access.exists() and error.exists(), 5)
    time.sleep(0.5)  # the workers reopen at the end of their loop round
    srv.request("GET", "/after-rotation")
    assert wait_until(lambda: "/after-rotation" in access.read_text(), 5), access.read_text()
    assert access.stat().st_uid == nobody.pw_uid
    assert error.stat().st_uid == nobody.pw_uid
    # a worker's own line lands in the new error log: it reopened it as the user
    srv.request("GET", "/err")
    assert wait_until(lambda: "line-from-the-worker" in error.read_text(), 5), error.read_text()
    assert "cannot reopen" not in error.read_text() + (app_dir / "error.log.1").read_text()


def test_initgroups_adds_supplementary_groups(server, app_dir, python_reachable, test_user):
    user, extra = test_user
    srv = start(server, app_dir, "--user", TEST_USER, "--initgroups", workers=1)
    assert srv.request("GET", "/").status == 200
    (pid,) = srv.wait_workers(1)
    uid, euid, gid, egid, groups = ids_of(pid)
    assert (uid, euid, gid, egid) == (user.pw_uid, user.pw_uid, user.pw_gid, user.pw_gid)
    assert groups == sorted({user.pw_gid, extra.gr_gid})
    srv.stop()
    # without --initgroups: the primary group alone
    srv = start(server, app_dir, "--user", TEST_USER, workers=1)
    (pid,) = srv.wait_workers(1)
    assert ids_of(pid)[4] == [user.pw_gid]


def test_umask_applies_to_files_the_app_creates(server, app_dir, python_reachable):
    app_dir.chmod(0o777)  # the worker (nobody) creates its file here
    try:
        srv = start(server, app_dir, "--user", "nobody", "--umask", "027", workers=1)
        r = srv.request("GET", "/create")
        assert (r.status, r.body) == (200, b"0o640")
        assert (app_dir / "created-by-app").stat().st_uid == pwd.getpwnam("nobody").pw_uid
        srv.stop()
        (app_dir / "created-by-app").unlink()
        srv = start(server, app_dir, "-m", "0o077", workers=1)  # and without --user
        assert srv.request("GET", "/create").body == b"0o600"
    finally:
        app_dir.chmod(0o755)


def test_gunicorn_conf_py_and_toml(server, app_dir, python_reachable):
    nobody = pwd.getpwnam("nobody").pw_uid
    (app_dir / "gunicorn.conf.py").write_text('user = "nobody"\ngroup = 65534\numask = 0o022\n')
    srv = start(server, app_dir, "-c", str(app_dir / "gunicorn.conf.py"), workers=1)
    (pid,) = srv.wait_workers(1)
    assert ids_of(pid)[:2] == (nobody, nobody)
    srv.stop()
    (app_dir / "uwsgi-fast.toml").write_text('user = "nobody"\numask = 0o022\n')
    srv = start(server, app_dir, "-c", str(app_dir / "uwsgi-fast.toml"), workers=1)
    (pid,) = srv.wait_workers(1)
    assert ids_of(pid)[:2] == (nobody, nobody)


@pytest.mark.parametrize("args, line", [
    (["--user", "no-such-user-here"],
     'uwsgi-fast: --user: "no-such-user-here" is not a user on this system (accepted: a user '
     'name (getent passwd) or a numeric user id)'),
    (["-g", "no-such-group-here"],
     'uwsgi-fast: --group: "no-such-group-here" is not a group on this system (accepted: a '
     'group name (getent group) or a numeric group id)'),
    (["--umask", "0o1000"],
     'uwsgi-fast: --umask: "0o1000" is not a mode from 0 to 0o777 (accepted: 0 to 0o777, in '
     'octal (0o22 or 022), hex (0x12) or decimal (18))'),
])
def test_bad_values_exit_2_with_one_line(args, line):
    r = run_binary([*args, "basic:app"])
    assert r.returncode == 2
    assert r.stderr.strip() == line
    assert r.stdout == ""


def test_unknown_uid_needs_a_group(tmp_path):
    """A uid the user database does not know has no primary group: refused at start rather
    than leaving the workers in root's group."""
    r = run_binary(["--user", "3999999", "-b", "127.0.0.1:1", "basic:app"])
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if "CRITICAL" in ln]
    assert len(lines) == 1 and lines[0].endswith(
        "--user: uid 3999999 is not in the user database, so it has no primary group: give "
        "--group too"), r.stderr
