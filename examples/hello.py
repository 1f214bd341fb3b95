"""The smallest useful uwsgi-fast application: plain WSGI, no framework.

    uwsgi-fast --chdir examples hello:app
    curl http://127.0.0.1:8000/

Paths:
    GET  /        "Hello, World!" as text/plain
    POST /echo    the request body back, with the request's Content-Type
    GET  /stream  a few lines from a generator (no Content-Length: sent chunked)
    GET  /json    a small JSON document
"""
import json


def hello(environ):
    return "200 OK", "text/plain", [b"Hello, World!"]


def echo(environ):
    if environ["REQUEST_METHOD"] != "POST":
        return "405 Method Not Allowed", "text/plain", [b"POST only\n"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    return "200 OK", environ.get("CONTENT_TYPE") or "application/octet-stream", [body]


def stream(environ):
    def lines():
        for i in range(1, 6):
            yield b"line %d\n" % i

    return "200 OK", "text/plain", lines()


def json_doc(environ):
    doc = {"message": "Hello, World!", "server": environ.get("SERVER_SOFTWARE", "")}
    return "200 OK", "application/json", [json.dumps(doc).encode()]


ROUTES = {"/": hello, "/echo": echo, "/stream": stream, "/json": json_doc}


def app(environ, start_response):
    handler = ROUTES.get(environ.get("PATH_INFO") or "/")
    if handler is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found\n"]
    status, content_type, body = handler(environ)
    headers = [("Content-Type", content_type)]
    # A list body has a known length; a generator's is unknown, so the server chunks it.
    if isinstance(body, list):
        headers.append(("Content-Length", str(sum(len(part) for part in body))))
    start_response(status, headers)
    return body
