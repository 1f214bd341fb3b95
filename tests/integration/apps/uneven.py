"""Uneven request times, the normal case for a Django or Flask API: most requests answer
at once, some wait (a slow query). The client decides which by the path, so it can tell
fast requests' latency apart:

    GET /fast              answers at once
    GET /sleep?ms=N        waits N ms (time.sleep: the GIL is released, as in a DB call)
    GET /cpu?ms=N          burns N ms of CPU
    GET /pid               the worker's pid (which worker served the request)
    GET /hang              sleeps far past any test's --timeout
    GET /thread            the name of the thread that called the application
    GET /flip              the same, answered the way /flip-mode?to=MODE last set in this
                           worker: fast, slow (300 ms first) or stream (three chunks, each
                           the name of the thread that produced it, then ";")
"""
import os
import threading
import time
from urllib.parse import parse_qs

_flip_mode = "fast"


def _flip(mode):
    if mode == "slow":
        time.sleep(0.3)
    if mode != "stream":
        return [threading.current_thread().name.encode()]

    def chunks():
        for _ in range(3):
            yield threading.current_thread().name.encode() + b";"
    return chunks()


def _ms(environ):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    return int(q.get("ms", ["0"])[0])


def app(environ, start_response):
    global _flip_mode
    path = environ.get("PATH_INFO", "/")
    if path in ("/thread", "/flip"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _flip(_flip_mode if path == "/flip" else "fast")
    if path == "/flip-mode":
        _flip_mode = parse_qs(environ.get("QUERY_STRING", ""))["to"][0]
    if path == "/sleep":
        time.sleep(_ms(environ) / 1000)
    elif path == "/cpu":
        end = time.perf_counter() + _ms(environ) / 1000
        while time.perf_counter() < end:
            pass
    elif path == "/hang":
        time.sleep(3600)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
