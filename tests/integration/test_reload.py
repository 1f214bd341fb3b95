"""--reload: workers replaced when a file they imported (or an extra file) changes.

Each test writes a small WSGI module into its own directory, starts the real binary there
and edits the files: the answer must change within a bounded time, from a new worker of
the same master; a syntax error answers 500 and a fix brings the application back;
unrelated files and editor leftovers change nothing; without --reload nothing reloads.
"""
import os
import time

from conftest import run_binary, wait_until
from test_config import one_line_error

APP = '''\
import os
TEXT = open(os.path.join(os.path.dirname(__file__), "greeting.txt")).read().strip()

def app(environ, start_response):
    if environ["PATH_INFO"] == "/lazy":
        import helper  # imported by a request, not at start
        body = helper.WORD
    else:
        body = "%s %s" % ({version!r}, TEXT)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s %d" % (body, os.getpid())).encode()]
'''

# A worker that takes longer than this to notice a change and be replaced fails the test.
CHANGE_WITHIN = 15


def write_app(d, version):
    # a new file renamed into place, as most editors save
    tmp = d / ".app.py.new"
    tmp.write_text(APP.format(version=version))
    os.replace(tmp, d / "app.py")


def project(tmp_path):
    d = tmp_path / "proj"
    d.mkdir()
    (d / "greeting.txt").write_text("hello\n")
    (d / "helper.py").write_text('WORD = "lazy-one"\n')
    write_app(d, "one")
    return d


def start(server, d, *args, workers=2):
    srv = server("app:app", workers=workers, cwd=d, pythonpath=str(d),
                 args=("--reload", *args))
    # the second worker starts once the first one's footprint is measured: let every
    # worker import the first version before the test edits it
    assert wait_until(lambda: srv.log().count("Booting worker") >= workers, 10), srv.log()
    time.sleep(0.5)
    return srv


def get(srv, path="/"):
    r = srv.request("GET", path)
    text = r.body.decode()
    word, _, pid = text.rpartition(" ")
    return r.status, word, int(pid) if pid.isdigit() else None


def wait_body(srv, want, path="/"):
    """Waits until path answers 200 with `want` (pid aside); returns the answering pid."""
    got = {}

    def ok():
        status, word, pid = get(srv, path)
        got["last"] = (status, word)
        return pid if status == 200 and word == want else None
    pid = wait_until(ok, CHANGE_WITHIN, interval=0.1)
    if not pid:
        srv.fail(f"{path} did not answer {want!r} within {CHANGE_WITHIN}s; last {got['last']}")
    return pid


def test_module_change_replaces_the_workers(server, tmp_path):
    d = project(tmp_path)
    srv = start(server, d)
    assert get(srv)[:2] == (200, "one hello")
    old = set(srv.worker_pids())
    write_app(d, "two")
    pid = wait_body(srv, "two hello")
    assert pid not in old
    assert srv.running()
    # every old worker leaves once its successor accepts; the master stays
    assert wait_until(lambda: not (set(srv.worker_pids()) & old), CHANGE_WITHIN), srv.log()
    log = srv.log()
    assert "Reloader is on (--reload, engine auto)" in log
    assert f"Worker reloading: {d / 'app.py'} modified" in log
    assert "Replacing worker" in log and "code change" in log


def test_extra_file_lazy_import_and_unrelated_files(server, tmp_path):
    d = project(tmp_path)
    srv = start(server, d, "--reload-extra-file", str(d / "greeting.txt"), workers=1)
    assert get(srv)[:2] == (200, "one hello")
    (d / "greeting.txt").write_text("bonjour\n")
    wait_body(srv, "one bonjour")

    # a module a request imported is watched from the next listing (a second) on
    assert get(srv, "/lazy")[:2] == (200, "lazy-one")
    time.sleep(2.5)
    (d / "helper.py").write_text('WORD = "lazy-two"\n')
    wait_body(srv, "lazy-two", "/lazy")

    # editor leftovers and other files in the watched directory change nothing (the
    # worker the last change replaced may still be draining: wait until it is gone)
    assert wait_until(lambda: len(srv.worker_pids()) == 1, 10), srv.worker_pids()
    srv_pids = set(srv.worker_pids())
    for name in (".app.py.swp", "app.py~", "4913", "notes.txt", "unused.py"):
        (d / name).write_text("x")
    time.sleep(2.5)
    assert set(srv.worker_pids()) == srv_pids
    assert srv.log().count("Worker reloading") == 2


def test_syntax_error_answers_500_until_fixed(server, tmp_path):
    d = project(tmp_path)
    srv = start(server, d)
    master = srv.pid
    (d / "app.py").write_text("def app(:\n")

    def broken():
        r = srv.request("GET", "/")
        return r if r.status == 500 else None
    r = wait_until(broken, CHANGE_WITHIN, interval=0.1)
    assert r, srv.log()
    assert b"SyntaxError" in r.body and b"--reload" in r.body
    assert srv.running() and srv.pid == master
    assert "The application could not be imported" in srv.log()
    write_app(d, "fixed")
    wait_body(srv, "fixed hello")
    assert srv.running() and srv.pid == master


def test_starting_broken_then_fixed(server, tmp_path):
    d = project(tmp_path)
    (d / "app.py").write_text("import helper\nraise RuntimeError('not yet')\n")
    srv = start(server, d, workers=1)
    r = srv.request("GET", "/")
    assert r.status == 500 and b"RuntimeError: not yet" in r.body
    write_app(d, "now")
    wait_body(srv, "now hello")


def test_poll_engine(server, tmp_path):
    d = project(tmp_path)
    srv = start(server, d, "--reload-engine", "poll", workers=1)
    assert get(srv)[:2] == (200, "one hello")
    time.sleep(1.1)  # a new mtime, whatever the file system's granularity
    write_app(d, "polled")
    wait_body(srv, "polled hello")
    assert "engine poll" in srv.log()


def test_nothing_reloads_without_the_flag(server, tmp_path):
    d = project(tmp_path)
    srv = server("app:app", workers=1, cwd=d, pythonpath=str(d))
    status, word, pid = get(srv)
    assert (status, word) == (200, "one hello")
    write_app(d, "two")
    time.sleep(3)
    assert get(srv) == (200, "one hello", pid)
    assert "Reloader" not in srv.log() and "Worker reloading" not in srv.log()


def test_bad_engine_and_preload_exit_2():
    one_line_error(run_binary(["--reload", "--reload-engine", "fsevents", "basic:app"]),
                   "--reload-engine", "fsevents", "auto, inotify or poll")
    one_line_error(run_binary(["--reload", "--preload", "basic:app"]), "--reload", "--preload")


def test_reload_calls_worker_int_as_gunicorn(server, tmp_path):
    """gunicorn's reloader runs worker_int before the worker leaves; so does ours."""
    d = project(tmp_path)
    out = tmp_path / "hooks.txt"
    (d / "gunicorn.conf.py").write_text(
        "def worker_int(worker):\n"
        f"    open({str(out)!r}, 'a').write('int %d\\n' % worker.pid)\n")
    srv = start(server, d, "-c", str(d / "gunicorn.conf.py"), workers=1)
    (old,) = srv.worker_pids()
    write_app(d, "two")
    assert wait_until(lambda: out.exists() and f"int {old}" in out.read_text(), CHANGE_WITHIN)
    wait_body(srv, "two hello")
