"""WSGI application for the observability tests (`observe:app`).

/                 "hello"
/status/NNN       answers NNN
/header?v=TEXT    sets the response header X-Trace: TEXT
/stream?n=N       N chunks of 64 KiB from a generator (a client that does not read keeps
                  the response in flight without blocking the worker)
/sleep?s=S        sleeps S seconds (blocks the worker)
anything else     404
"""
import time
from urllib.parse import parse_qs


def app(environ, start_response):
    path = environ["PATH_INFO"]
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"hello"]
    if path.startswith("/status/"):
        code = int(path[len("/status/"):])
        body = b"" if code in (204, 304) else b"status"
        start_response(f"{code} Whatever", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/header":
        start_response("200 OK", [("X-Trace", q.get("v", "")), ("Content-Length", "2")])
        return [b"ok"]
    if path == "/stream":
        n = int(q.get("n", "100"))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])

        def chunks():
            for _ in range(n):
                yield b"x" * 65536
        return chunks()
    if path == "/sleep":
        time.sleep(float(q.get("s", "1")))
        start_response("200 OK", [("Content-Length", "5")])
        return [b"slept"]
    start_response("404 Not Found", [("Content-Length", "9")])
    return [b"not found"]
