"""An application for the --threads tests (test_threads.py): `threads_app:app`, and
`threads_app:validated`, the same behind wsgiref.validate.validator with its warnings
made errors.

Every process keeps, under one lock, how many requests are inside the application right
now and the most there ever were, and which OS threads have run it: that is how the tests
see that at most N requests run at once per worker, and that N is reached. /stats and
/objects, the tests' own probes, are left out of those counts.

Bodies are deterministic functions of the query, so the client can check every byte:
  /stream?n=N&size=S&seed=K   N chunks, chunk i is S bytes of (K + i) % 256; with
                              &fail=TAG it raises after the first chunk instead
  /slow?s=SEC&size=S&mark=DIR creates DIR/<pid>-<tid> on entry, sleeps, S bytes of b"s"
  /upload                     "<sha256 hex> <length>" of the request body (chunked too)
  /file?path=P                P through wsgi.file_wrapper
"""
import gc
import hashlib
import json
import os
import sys
import threading
import time
import warnings
from urllib.parse import parse_qs
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)

_lock = threading.Lock()
_inflight = 0
_max_inflight = 0
_served = 0
_tids = set()   # native ids of the threads that ran the application

# The types whose live instances /objects counts: a request that leaks its environ, its
# start_response, its generator, or an exception's traceback shows up in one of these.
_WATCHED = ("dict", "list", "tuple", "function", "cell", "frame", "generator",
            "traceback", "RuntimeError", "BufferedReader", "method", "builtin_function_or_method")


def query(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def respond(start_response, body, status="200 OK", ctype="text/plain", extra=()):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body))),
                            ("X-Pid", str(os.getpid())), *extra])
    return [body]


def read_body(environ, size=65536):
    """The whole of wsgi.input, read with a size every time (the validator wants one)."""
    stream = environ["wsgi.input"]
    # without CONTENT_LENGTH (a chunked request) the stream ends where the body does
    length = environ.get("CONTENT_LENGTH")
    remaining = int(length) if length else None
    h = hashlib.sha256()
    n = 0
    while remaining is None or remaining > 0:
        part = stream.read(size if remaining is None else min(size, remaining))
        if not part:
            break
        h.update(part)
        n += len(part)
        if remaining is not None:
            remaining -= len(part)
    return h.hexdigest(), n


def objects():
    """What a leak would make grow, measured after full collections."""
    for _ in range(3):
        gc.collect()
    live = gc.get_objects()
    counts = dict.fromkeys(_WATCHED, 0)
    for o in live:
        name = type(o).__name__
        if name in counts:
            counts[name] += 1
    doc = {
        "pid": os.getpid(),
        "gc_objects": len(live),
        "blocks": sys.getallocatedblocks(),
        "types": counts,
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": tasks(),
    }
    if hasattr(sys, "gettotalrefcount"):   # debug builds of CPython only
        doc["refcount"] = sys.gettotalrefcount()
    del live
    return doc


def tasks():
    """The process's own threads; the kernel's io_uring workers (iou-*) come and go."""
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return len([n for n in names if not n.startswith("iou-")])


def stats(reset):
    global _max_inflight
    with _lock:
        doc = {"pid": os.getpid(), "inflight": _inflight, "max_inflight": _max_inflight,
               "served": _served, "tids": len(_tids), "tasks": tasks()}
        if reset:
            _max_inflight = _inflight
    return doc


def dispatch(environ, start_response, path, q):
    if path == "/sleep":
        time.sleep(int(q.get("ms", "50")) / 1000)
        return respond(start_response, b"ok")

    if path == "/slow":
        mark = q.get("mark")
        if mark:
            with open(os.path.join(mark, f"{os.getpid()}-{threading.get_native_id()}"), "w"):
                pass
        time.sleep(float(q.get("s", "1")))
        return respond(start_response, b"s" * int(q.get("size", "5")))

    if path == "/stream":
        n, size, seed = int(q.get("n", "5")), int(q.get("size", "100")), int(q.get("seed", "0"))
        fail = q.get("fail")

        def gen():
            for i in range(n):
                # a short pause between chunks lets the other threads interleave with this one
                time.sleep(0.0005)
                yield bytes([(seed + i) % 256]) * size
                if fail:
                    raise RuntimeError(f"threads-boom-sentinel {fail}")

        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return gen()

    if path == "/upload":
        digest, n = read_body(environ)
        return respond(start_response, f"{digest} {n}".encode())

    if path == "/file":
        f = open(q["path"], "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(os.fstat(f.fileno()).st_size))])
        return environ["wsgi.file_wrapper"](f, 65536)

    if path == "/error":
        raise RuntimeError(f"threads-boom-sentinel {q.get('tag', '-')}")

    if path == "/hang":
        while True:      # a request that never ends, for --timeout; sleeping keeps the GIL free
            time.sleep(0.05)

    if path == "/env":
        doc = {k: environ[k] for k in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once")}
        doc["pid"] = os.getpid()
        doc["tid"] = threading.get_native_id()
        doc["main_thread"] = threading.current_thread() is threading.main_thread()
        doc["thread_name"] = threading.current_thread().name
        return respond(start_response, json.dumps(doc).encode(), ctype="application/json")

    return respond(start_response, b"not found", status="404 Not Found")


def app(environ, start_response):
    global _inflight, _max_inflight, _served
    path = environ.get("PATH_INFO", "")
    q = query(environ)
    if path == "/stats":
        return respond(start_response, json.dumps(stats("reset" in q)).encode(),
                       ctype="application/json")
    if path == "/objects":
        return respond(start_response, json.dumps(objects()).encode(), ctype="application/json")
    with _lock:
        _inflight += 1
        _max_inflight = max(_max_inflight, _inflight)
        _tids.add(threading.get_native_id())
    try:
        return dispatch(environ, start_response, path, q)
    finally:
        with _lock:
            _inflight -= 1
            _served += 1


validated = validator(app)
