"""WSGI app for the conformance harness (`conformance_app:app`).

Answers every request, whatever its method or path, with 200 and one line naming what
the server handed over: method, PATH_INFO and the length of the body it read. The
harness only needs to know that a request was served and how many; the line helps
when reading a failure.
"""


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    line = "%s %s %d\n" % (environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), len(body))
    data = line.encode("latin-1", "replace")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
