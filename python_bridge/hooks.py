"""gunicorn's server hooks, called the way gunicorn calls them.

python_bridge/hooks.c embeds this file as the module _uwsgi_fast_hooks and calls the
functions at the bottom with the GIL held, from the master (when a hook that runs there is
defined) or from a worker. The objects handed to hooks offer what hooks use of gunicorn's
Arbiter, Worker, Request and Response; what has no meaning here is said on the class.

Invariants: a hook's exception never escapes into C. It is logged with its traceback and
reported as False, and the caller applies gunicorn's rule for that moment (a failing
post_fork or post_worker_init ends the worker; any other failure is logged and the server
goes on). Nothing here runs when no hook is defined: the C side checks first.
"""
import faulthandler
import importlib
import importlib.machinery
import importlib.util
import os
import re
import signal
import sys
import tomllib
import traceback

_emit = None  # set by hooks.c: _emit(level, message, detail) writes one error-log record

DEBUG, INFO, WARNING, ERROR, CRITICAL = range(5)  # common/log.h's levels


class Log:
    """server.log and worker.log: gunicorn's logger methods, into uwsgi-fast's error log
    (with the worker tag in a worker, shipped to --log-target like every line)."""

    def _write(self, level, msg, args, exc_info=False):
        try:
            text = (str(msg) % args) if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join([str(msg)] + [repr(a) for a in args])
        detail = ""
        if exc_info and sys.exc_info()[0] is not None:
            detail = traceback.format_exc()
        _emit(level, text, detail)

    def debug(self, msg, *args, **kw):
        self._write(DEBUG, msg, args, kw.get("exc_info"))

    def info(self, msg, *args, **kw):
        self._write(INFO, msg, args, kw.get("exc_info"))

    def warning(self, msg, *args, **kw):
        self._write(WARNING, msg, args, kw.get("exc_info"))

    warn = warning

    def error(self, msg, *args, **kw):
        self._write(ERROR, msg, args, kw.get("exc_info"))

    def critical(self, msg, *args, **kw):
        self._write(CRITICAL, msg, args, kw.get("exc_info"))

    def exception(self, msg, *args, **kw):
        self._write(ERROR, msg, args, True)

    def log(self, lvl, msg, *args, **kw):
        if isinstance(lvl, str):
            lvl = {"debug": 10, "info": 20, "warning": 30, "error": 40}.get(lvl.lower(), 50)
        level = DEBUG if lvl < 20 else INFO if lvl < 30 else WARNING if lvl < 40 else \
            ERROR if lvl < 50 else CRITICAL
        self._write(level, msg, args, kw.get("exc_info"))

    def access(self, *args, **kw):
        """The access log is written by the C core, for every request."""

    def reopen_files(self):
        """USR1 reopens the log files in every process already."""

    def close_on_exec(self):
        """The C core's log descriptors are close-on-exec already."""


LOG = Log()


class Config:
    """server.cfg and worker.cfg: every setting's effective value by its gunicorn name
    (what --print-config prints), read-only. An unset setting reads as None."""

    def __init__(self, text):
        values = {m.group(1): None for m in re.finditer(r"^# (\w+) = ", text, re.M)}
        values.update(tomllib.loads(text))
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError("uwsgi-fast has no setting %r" % name) from None

    def __setattr__(self, name, value):
        raise AttributeError("settings cannot be changed from a hook (%s)" % name)

    def get(self, name, default=None):
        return self._values.get(name, default)

    @property
    def settings(self):
        """gunicorn's cfg.settings: name -> an object whose .value is the setting's."""
        return {k: _Setting(k, v) for k, v in self._values.items()}

    @property
    def address(self):
        return list(self._values.get("bind") or [])

    @property
    def proc_name(self):
        return self._values.get("proc_name") or self._values.get("wsgi_app")

    @property
    def worker_class_str(self):
        return "sync"

    @property
    def uid(self):
        return os.geteuid()

    @property
    def gid(self):
        return os.getegid()


class _Setting:
    def __init__(self, name, value):
        self.name, self.value = name, value

    def get(self):
        return self.value


class App:
    """server.app and worker.app: gunicorn's application object as hooks use it."""

    def __init__(self, cfg, app_uri):
        self.cfg = cfg
        self.app_uri = app_uri


class Server:
    """The `server` of master-side hooks: what hooks use of gunicorn's Arbiter. WORKERS is
    kept in the master only (in a worker it is empty). LISTENERS is empty: the listening
    sockets are the C core's, one per worker (SO_REUSEPORT), not Python objects."""

    def __init__(self, cfg, pid, app_uri, num_workers):
        self.cfg = cfg
        self.log = LOG
        self.pid = pid
        self.num_workers = num_workers
        self.app = App(cfg, app_uri)
        self.timeout = cfg.timeout
        self.proc_name = cfg.proc_name
        self.master_name = "Master"
        self.WORKERS = {}
        self.LISTENERS = []
        self.reexec_pid = 0
        self.master_pid = 0


class Worker:
    """The `worker` of hooks: what hooks use of gunicorn's Worker. `age` counts the
    workers the master started, as gunicorn's; `slot` (uwsgi-fast's) is the worker's
    place, 0..workers-1, which a replacement takes over (a stable label for metrics).
    There is no `tmp` heartbeat file (the master reads heart-beats from shared memory)
    and notify() does nothing for the same reason; `nr` counts requests started."""

    def __init__(self, age, slot, ppid, cfg, app):
        self.age = age
        self.slot = slot
        self.ppid = ppid
        self.pid = None
        self.cfg = cfg
        self.app = app
        self.log = LOG
        self.alive = True
        self.booted = False
        self.aborted = False
        self.nr = 0
        self.max_requests = cfg.max_requests or sys.maxsize
        self.timeout = cfg.timeout
        self.tmp = None
        self.sockets = []
        self.wsgi = None

    def notify(self):
        """Heart-beats are the C loop's."""

    def __repr__(self):
        return "<Worker %s>" % self.pid


class Request:
    """`req` of pre_request and post_request: gunicorn's request fields, read from the
    WSGI environ. An attribute a hook sets in pre_request is there in post_request."""

    def __init__(self, environ):
        self.method = environ.get("REQUEST_METHOD", "")
        self.uri = environ.get("RAW_URI", "")
        self.path, _, self.query = self.uri.partition("?")
        self.fragment = ""
        proto = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
        self.version = (1, 0) if proto == "HTTP/1.0" else (1, 1)
        self.scheme = environ.get("wsgi.url_scheme", "http")
        self.remote_addr = (environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT"))
        self._environ = environ

    @property
    def headers(self):
        """(NAME, value) pairs, names upper-case as gunicorn gives them."""
        out = []
        for key, value in self._environ.items():
            if key.startswith("HTTP_"):
                out.append((key[5:].replace("_", "-"), value))
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                out.append((key.replace("_", "-"), value))
        return out


class Response:
    """`resp` of post_request: status, headers and the body bytes sent."""

    def __init__(self, status, headers, sent):
        self.status = status
        try:
            self.status_code = int(status.split(None, 1)[0])
        except (ValueError, IndexError):
            self.status_code = None
        self.headers = headers
        self.sent = sent
        self.response_length = sent


hooks = {}
server = None
worker = None
_age = 0


def _load_file(path):
    # as gunicorn loads a config: a module named __config__ from the file, with a source
    # loader forced for names that do not end in .py
    if path.endswith((".py", ".pyc")):
        spec = importlib.util.spec_from_file_location("__config__", path)
    else:
        loader = importlib.machinery.SourceFileLoader("__config__", path)
        spec = importlib.util.spec_from_file_location("__config__", path, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["__config__"] = mod
    spec.loader.exec_module(mod)
    return mod


def _resolve(spec):
    module, sep, name = spec.partition(":")
    if not sep:
        module, _, name = spec.rpartition(".")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError("%s is not callable" % spec)
    return obj


def load(config_path, specs, names, settings_text, master_pid, app_uri, num_workers):
    """Loads the hooks named in `names`: from the gunicorn.conf.py at config_path (run
    again here, so its functions have their module globals), or from TOML's specs
    ({name: "MODULE:FUNCTION"}). Replaces what an earlier load found (a reload). Raises
    on failure; the C side logs the traceback."""
    global server
    found = {}
    mod = _load_file(config_path) if config_path else None
    for name in names:
        found[name] = _resolve(specs[name]) if name in specs else getattr(mod, name)
    cfg = Config(settings_text)
    if server is None:
        server = Server(cfg, master_pid, app_uri, num_workers)
    else:
        server.cfg = server.app.cfg = cfg
        server.timeout, server.proc_name = cfg.timeout, cfg.proc_name
    hooks.clear()
    hooks.update(found)


def call(name, *args):
    """Runs hook `name`; False when it raised (logged with its traceback)."""
    fn = hooks.get(name)
    if fn is None:
        return True
    try:
        fn(*args)
        return True
    except BaseException:
        LOG.exception("Exception in %s hook", name)
        return False


# ---- the moments, as the C side reports them ----

def num_workers_changed(new, old):
    server.num_workers = new
    return call("nworkers_changed", server, new, old)


def server_event(name):
    return call(name, server)


def before_fork(slot, num_workers):
    """Master, before fork(): the Worker both sides will know (the child inherits it)."""
    global worker, _age
    _age += 1
    server.num_workers = num_workers
    worker = Worker(_age, slot, server.pid, server.cfg, server.app)
    return call("pre_fork", server, worker)


def forked(pid):
    """Master, after fork(): the new worker joins server.WORKERS."""
    worker.pid = pid
    server.WORKERS[pid] = worker


def child_exited(pid):
    w = server.WORKERS.pop(pid, None)
    if w is None:
        return True
    w.alive = False
    return call("child_exit", server, w)


def worker_started(slot, age, ppid):
    """In the worker, before the application is imported: post_fork. The Worker comes
    from the master's before_fork, or is made here when the master runs no Python."""
    global worker
    if worker is None or worker.slot != slot or worker.age != age:
        worker = Worker(age, slot, ppid, server.cfg, server.app)
    worker.pid = os.getpid()
    server.WORKERS.clear()  # the master's list, not this process's business
    return call("post_fork", server, worker)


def worker_ready(wsgi):
    worker.wsgi = wsgi
    ok = call("post_worker_init", worker)
    worker.booted = True
    return ok


def worker_interrupted():
    worker.alive = False
    return call("worker_int", worker)


def worker_exiting():
    worker.alive = False
    return call("worker_exit", server, worker)


def _on_abort(signum, frame):
    # the master's SIGABRT for a request past --timeout: the stacks first (what the
    # fault handler printed before worker_abort was defined), then the hooks, then the
    # death the master expects
    faulthandler.dump_traceback(all_threads=True)
    worker.alive = False
    worker.aborted = True
    call("worker_abort", worker)
    call("worker_exit", server, worker)
    signal.signal(signal.SIGABRT, signal.SIG_DFL)
    os.abort()


def arm_abort():
    """worker_abort is defined: SIGABRT gets a Python handler (run by the main thread,
    which the C loop makes check for it) instead of the fault handler's."""
    signal.signal(signal.SIGABRT, _on_abort)


def request_started(environ):
    """(req, whether pre_request went well): a raising pre_request fails the request
    with a 500, as in gunicorn, and post_request still sees it."""
    req = Request(environ)
    worker.nr += 1
    return req, call("pre_request", worker, req)


def request_finished(req, environ, status, headers, sent):
    return call("post_request", worker, req, environ, Response(status, headers, sent))
