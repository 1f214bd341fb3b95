"""Serves one large file through wsgi.file_wrapper (for the zero-copy tests)."""
import os

PATH = os.environ["UF_TEST_BIGFILE"]


def app(environ, start_response):
    f = open(PATH, "rb")
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](f, 1 << 20)


def chunks(environ, start_response):
    """The same bytes produced by Python, in 1 MiB chunks (zero-copy from their memory)."""
    size = os.path.getsize(PATH)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])

    def gen():
        with open(PATH, "rb") as f:
            while True:
                block = f.read(1 << 20)
                if not block:
                    return
                yield block
    return gen()


def whole(environ, start_response):
    """All of it as one bytes object in a list: its only chunk is also its last."""
    with open(PATH, "rb") as f:
        data = f.read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(data)))])
    return [data]
