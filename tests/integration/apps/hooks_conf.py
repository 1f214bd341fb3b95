"""A gunicorn.conf.py defining every server hook; each appends one line to $HOOK_LOG."""
import os

workers = 2


def _note(name, *parts):
    with open(os.environ["HOOK_LOG"], "a") as f:
        f.write(" ".join([name, str(os.getpid())] + [str(p) for p in parts]) + "\n")


def on_starting(server):
    _note("on_starting", server.num_workers)


def on_reload(server):
    _note("on_reload")


def when_ready(server):
    _note("when_ready")


def pre_fork(server, worker):
    _note("pre_fork")


def post_fork(server, worker):
    _note("post_fork", worker.pid)


def post_worker_init(worker):
    _note("post_worker_init", worker.pid)


def worker_int(worker):
    _note("worker_int", worker.pid)


def worker_abort(worker):
    _note("worker_abort", worker.pid)


def pre_exec(server):
    _note("pre_exec")


def pre_request(worker, req):
    _note("pre_request", req.method, req.path)


def post_request(worker, req, environ, resp):
    _note("post_request", req.method, req.path, resp.status)


def child_exit(server, worker):
    _note("child_exit", worker.pid)


def worker_exit(server, worker):
    _note("worker_exit", worker.pid)


def nworkers_changed(server, new_value, old_value):
    _note("nworkers_changed", new_value, old_value)


def on_exit(server):
    _note("on_exit")
