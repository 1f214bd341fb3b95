"""Uneven request times, the normal case for a Django or Flask API: most requests answer
at once, some wait (a slow query). The client decides which by the path, so it can tell
fast requests' latency apart:

    GET /fast              answers at once
    GET /sleep?ms=N        waits N ms (time.sleep: the GIL is released, as in a DB call)
    GET /cpu?ms=N          burns N ms of CPU
    GET /pid               the worker's pid (which worker served the request)
    GET /hang              sleeps far past any test's --timeout
"""
import os
import time
from urllib.parse import parse_qs


def _ms(environ):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    return int(q.get("ms", ["0"])[0])


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
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
