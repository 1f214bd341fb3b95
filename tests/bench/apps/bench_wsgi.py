"""Plain WSGI applications for the side-by-side benchmark (tests/bench/run.py).

One module, one callable per scenario, so every server imports the same code the same
way (`bench_wsgi:hello`, `bench_wsgi:stream_1m`, ...). Every response carries a
Content-Length so that each server can keep the connection alive without chunking;
the bodies are built once at import so the handlers measure the server, not the app.
"""

import os
import tempfile
import time

HELLO = b"Hello, World!"  # 13 bytes
BODY_10K = b"x" * 10240
CHUNK = 64 * 1024
CHUNKS_1M = 16  # 16 x 64 KiB = 1 MiB
CHUNK_64K = bytes(range(256)) * (CHUNK // 256)


def _file_1m_path():
    """The 1 MiB file served through wsgi.file_wrapper.

    The harness creates it and passes its path in BENCH_FILE_1M; when the module is used
    on its own the file is made here (written to a temporary name and renamed, because
    several workers may import this module at the same moment).
    """
    path = os.environ.get("BENCH_FILE_1M")
    if path and os.path.exists(path):
        return path
    path = os.path.join(tempfile.gettempdir(), "uwsgi-fast-bench-1m.bin")
    if not os.path.exists(path) or os.path.getsize(path) != CHUNK * CHUNKS_1M:
        tmp = "%s.%d" % (path, os.getpid())
        with open(tmp, "wb") as f:
            f.write(CHUNK_64K * CHUNKS_1M)
        os.replace(tmp, path)
    return path


FILE_1M = _file_1m_path()


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", "13")])
    return [HELLO]


def body_10k(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", "10240")])
    return [BODY_10K]


def _chunks():
    for _ in range(CHUNKS_1M):
        yield CHUNK_64K


def stream_1m(environ, start_response):
    """1 MiB produced by a generator in 64 KiB chunks (the server must iterate it)."""
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(CHUNK * CHUNKS_1M))])
    return _chunks()


def _file_iter(f):
    try:
        while True:
            block = f.read(CHUNK)
            if not block:
                return
            yield block
    finally:
        f.close()


def file_1m(environ, start_response):
    """1 MiB file through wsgi.file_wrapper when the server offers one.

    A server without file_wrapper gets the PEP 3333 fallback (the app reads the file in
    64 KiB blocks); the X-File-Wrapper header tells the harness which path was taken.
    """
    f = open(FILE_1M, "rb")
    wrapper = environ.get("wsgi.file_wrapper")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(CHUNK * CHUNKS_1M)),
                              ("X-File-Wrapper", "yes" if wrapper else "no")])
    if wrapper is not None:
        return wrapper(f, CHUNK)
    return _file_iter(f)


def echo(environ, start_response):
    """Returns the request body (the harness POSTs 64 KiB)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]


def sleep_10ms(environ, start_response):
    """Stands in for a 10 ms database call: blocks the calling thread, not the CPU."""
    time.sleep(0.010)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", "13")])
    return [HELLO]


def _burn_cpu(seconds):
    """Keeps this thread on the CPU for `seconds` of its own CPU time (not wall time: on
    a busy machine a request still costs the same work, however long it waits for a core)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        sum(range(200))


def mixed(environ, start_response):
    """The mixed scenarios' app: the client decides what each request costs.

    /cpu?ms=N keeps the CPU busy for N ms (the view's own work), /wait?ms=N sleeps N ms
    (a database query: the thread waits, the CPU does not), any other path answers at once.
    """
    path = environ.get("PATH_INFO", "")
    ms = 0
    for pair in environ.get("QUERY_STRING", "").split("&"):
        key, _, value = pair.partition("=")
        if key == "ms" and value.isdigit():
            ms = int(value)
    if path == "/cpu":
        _burn_cpu(ms / 1000)
    elif path == "/wait":
        time.sleep(ms / 1000)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", "13")])
    return [HELLO]
