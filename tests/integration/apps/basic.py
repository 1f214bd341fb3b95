"""Plain WSGI test application for the integration suite (`basic:app`).

Each path exercises one piece of the server; the tests in this folder say which.
Query parameters are plain `key=value` pairs.
"""
import hashlib
import json
import os
import sys
import time
from urllib.parse import parse_qs

CHUNK = 65536


def read_body(environ):
    """Reads all of wsgi.input in bounded reads, whether or not CONTENT_LENGTH is set."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        remaining = int(length)
        parts = []
        while remaining > 0:
            part = stream.read(min(CHUNK, remaining))
            if not part:
                break
            parts.append(part)
            remaining -= len(part)
        return b"".join(parts)
    parts = []
    while True:
        part = stream.read(CHUNK)
        if not part:
            return b"".join(parts)
        parts.append(part)


def query(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def respond(start_response, body, status="200 OK", content_type="text/plain"):
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class ClosingIterable:
    """An iterable whose close() leaves a marker file: PEP 3333 says the server calls it."""

    def __init__(self, parts, marker):
        self.parts = parts
        self.marker = marker

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        with open(self.marker, "w") as f:
            f.write("closed")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = query(environ)

    if path == "/":
        return respond(start_response, b"Hello, World!")

    if path == "/echo":
        body = read_body(environ)
        ctype = environ.get("CONTENT_TYPE") or "application/octet-stream"
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body))),
                                  ("X-Method", environ["REQUEST_METHOD"])])
        return [body]

    if path == "/sha256":
        h = hashlib.sha256()
        n = 0
        stream = environ["wsgi.input"]
        remaining = int(environ["CONTENT_LENGTH"]) if environ.get("CONTENT_LENGTH") else None
        while remaining is None or remaining > 0:
            part = stream.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not part:
                break
            h.update(part)
            n += len(part)
            if remaining is not None:
                remaining -= len(part)
        return respond(start_response, f"{h.hexdigest()} {n}".encode())

    if path == "/stream":
        count = int(q.get("n", "5"))
        size = int(q.get("size", "0"))

        def gen():
            for i in range(count):
                if size:
                    yield bytes([97 + i % 26]) * size
                else:
                    yield b"chunk-%d\n" % i

        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()

    if path == "/big":
        n = int(q.get("n", "1000000"))
        pattern = b"0123456789abcdef"
        body = (pattern * (n // len(pattern) + 1))[:n]
        return respond(start_response, body, content_type="application/octet-stream")

    if path == "/pid":
        return respond(start_response, str(os.getpid()).encode())

    if path == "/error":
        raise RuntimeError("boom-integration-sentinel")

    if path == "/error-after-start":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"partial"
            raise RuntimeError("boom-in-iterator-sentinel")

        return gen()

    if path == "/slow":
        marker = q.get("mark")
        if marker:
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
        time.sleep(float(q.get("s", "1")))
        return respond(start_response, b"slept")

    if path == "/close-marker":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return ClosingIterable([b"o", b"k"], q["mark"])

    if path.startswith("/env"):
        keys = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE",
                "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
                "REMOTE_ADDR", "HTTP_HOST", "HTTP_X_CUSTOM", "wsgi.url_scheme")
        doc = {k: environ[k] for k in keys if k in environ and isinstance(environ[k], str)}
        doc["wsgi.version"] = list(environ.get("wsgi.version", ()))
        doc["wsgi.multiprocess"] = environ.get("wsgi.multiprocess")
        doc["wsgi.run_once"] = environ.get("wsgi.run_once")
        doc["has_errors"] = hasattr(environ.get("wsgi.errors"), "write")
        return respond(start_response, json.dumps(doc).encode(), content_type="application/json")

    if path == "/log":
        # Both kinds of application output should reach the error log.
        environ["wsgi.errors"].write("wsgi-errors-sentinel\n")
        environ["wsgi.errors"].flush()
        print("stderr-print-sentinel", file=sys.stderr, flush=True)
        return respond(start_response, b"logged")

    return respond(start_response, b"Not Found", status="404 Not Found")
