"""Serves one large file through wsgi.file_wrapper (for the zero-copy tests)."""
import os

PATH = os.environ["UF_TEST_BIGFILE"]


def app(environ, start_response):
    f = open(PATH, "rb")
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](f, 1 << 20)
