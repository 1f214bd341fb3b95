"""A plain WSGI application that exercises PEP 3333 over HTTP (`wsgi_pep3333:app`).

`wsgi_pep3333:validated` is the same application behind wsgiref.validate.validator, whose
warnings are made errors: every test in test_wsgi_*.py runs against both, and the
validated one must neither fail a request nor leave a validator complaint in the log.
Both sides of the protocol are checked that way: the server's environ, input stream and
handling of the iterable, and (incidentally) this application.

The application only ever calls wsgi.input.read with a size, because the validator
insists on one.
"""
import hashlib
import io
import json
import os
import sys
import time
import warnings
from urllib.parse import parse_qs
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)

MiB = 1 << 20
IMPORTED_IN = os.getpid()   # with --preload: the master's pid


def query(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def respond(start_response, body, status="200 OK", ctype="text/plain", extra=()):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body))),
                            *extra])
    return [body]


def read_all(stream, size=64 * 1024):
    parts = []
    while True:
        part = stream.read(size)
        if not part:
            return b"".join(parts)
        parts.append(part)


class Closing:
    """An iterable whose close() writes a marker file, or raises."""

    def __init__(self, parts, marker=None, fail=False):
        self.parts = parts
        self.marker = marker
        self.fail = fail

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        if self.marker:
            with open(self.marker, "a") as f:
                f.write("closed\n")
        if self.fail:
            raise RuntimeError("close-failed-sentinel")


def app(environ, start_response):
    path = environ["PATH_INFO"]
    q = query(environ)

    if path in ("/", "/pid"):
        return respond(start_response, str(os.getpid()).encode())

    if path.startswith("/env") or path.endswith("/env"):
        doc = {k: v for k, v in environ.items() if isinstance(v, str)}
        doc["wsgi.version"] = list(environ["wsgi.version"])
        for k in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
                  "wsgi.input_terminated"):
            doc[k] = environ[k]
        doc["input_type"] = type(environ["wsgi.input"]).__name__
        doc["has_file_wrapper"] = callable(environ.get("wsgi.file_wrapper"))
        doc["imported_in"] = IMPORTED_IN
        doc["pid"] = os.getpid()
        doc["env_var"] = os.environ.get(q.get("var", "UF_TEST_VAR"))
        return respond(start_response, json.dumps(doc).encode(), ctype="application/json")

    if path == "/input":
        # the stream operations named in ?ops=read:3,readline,readlines,iter
        stream = environ["wsgi.input"]
        out = []
        for op in q.get("ops", "read:65536").split(","):
            name, _, arg = op.partition(":")
            if name == "iter":
                out.append([x.hex() for x in stream])
            elif name == "readlines":
                out.append([x.hex() for x in (stream.readlines(int(arg)) if arg
                                              else stream.readlines())])
            else:
                fn = getattr(stream, name)
                out.append((fn(int(arg)) if arg else fn()).hex())
        return respond(start_response, json.dumps(out).encode(), ctype="application/json")

    if path == "/sha256":
        h = hashlib.sha256()
        n = 0
        stream = environ["wsgi.input"]
        while True:
            part = stream.read(MiB)
            if not part:
                break
            h.update(part)
            n += len(part)
        return respond(start_response, f"{h.hexdigest()} {n}".encode())

    if path == "/count":
        # reads and forgets: what a 1 GB upload costs the server, not the application
        n = 0
        stream = environ["wsgi.input"]
        while True:
            part = stream.read(MiB)
            if not part:
                break
            n += len(part)
        return respond(start_response, str(n).encode())

    if path == "/echo":
        body = read_all(environ["wsgi.input"])
        return respond(start_response, body, ctype=environ.get("CONTENT_TYPE") or "text/plain")

    if path == "/generate":
        # ?mb=N chunks of 1 MiB from a generator: bounded memory needs backpressure
        count = int(q.get("mb", "1"))
        chunk = b"z" * MiB

        def gen():
            for _ in range(count):
                yield chunk

        headers = [("Content-Type", "application/octet-stream")]
        if q.get("length"):
            headers.append(("Content-Length", str(count * MiB)))
        start_response("200 OK", headers)
        return gen()

    if path == "/events":
        # a block, then a pause: the block must reach the client during the pause
        start_response("200 OK", [("Content-Type", "text/event-stream")])

        def gen():
            yield b"data: first\n\n"
            time.sleep(float(q.get("pause", "1.5")))
            yield b"data: second\n\n"

        return gen()

    if path == "/file":
        f = open(q["path"], "rb")
        if q.get("skip"):
            f.read(int(q["skip"]))
        headers = [("Content-Type", "application/octet-stream")]
        if q.get("length"):
            headers.append(("Content-Length", q["length"]))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 65536)

    if path == "/file-bytesio":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"from-a-bytesio" * 3), 5)

    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written-")
        return [b"returned"]

    if path == "/exc-info":
        # an error page replaces the headers before any body was sent
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Before", "1")])
        try:
            raise ValueError("handled-sentinel")
        except ValueError:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")],
                           sys.exc_info())
        return [b"error page"]

    if path == "/exc-info-late":
        # after the first chunk the headers are out: start_response re-raises
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"partial"
            try:
                raise KeyError("late-sentinel")
            except KeyError:
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                               sys.exc_info())
            yield b"never"

        return gen()

    if path == "/close-marker":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"a", b"b"], marker=q["mark"])

    if path == "/slow-stream":
        # a stream the client abandons: close() must still run exactly once
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Closing((b"s" * MiB for _ in range(64)), marker=q["mark"])

    if path == "/close-fails":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return Closing([b"o", b"k"], fail=True)

    if path == "/raise":
        raise RuntimeError("app-raised-sentinel")

    if path == "/raise-in-iter":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"first"
            raise RuntimeError("iter-raised-sentinel")

        return gen()

    if path == "/raise-before-body":
        # start_response called, but the generator fails before its first chunk: the
        # headers were never final, so this is still a clean 500
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            raise RuntimeError("early-iter-sentinel")
            yield b""

        return gen()

    if path == "/bad-header":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-Injected", "a\r\nSet-Cookie: evil=1")])
        return [b"never"]

    if path == "/head-body":
        return respond(start_response, b"body that HEAD must not carry")

    if path == "/no-content":
        start_response("204 No Content", [])
        return [b""]

    return respond(start_response, b"not found", status="404 Not Found")


validated = validator(app)
