"""WSGI applications exercised by tests/unit/python_bridge/wsgi_test.c.

Each one pins down one behaviour of the bridge; module globals record what happened
(close() calls, the last environ) so the C test can assert on them.
"""
import sys
import warnings
from wsgiref.validate import WSGIWarning, validator

# The validator only warns about some violations; make every warning a failure.
warnings.simplefilter("error", WSGIWarning)

closes = 0          # close() calls on Counted iterables, all apps together
generator_exits = 0  # generators that were closed before they finished
last_environ = None
kept = {}           # start_response / write kept beyond the response
unraisable = []     # exceptions raised where nobody could catch them (e.g. __del__)


def _hook(info):
    unraisable.append("%s: %s" % (type(info.exc_value).__name__, info.exc_value))


sys.unraisablehook = _hook


class Counted:
    """An iterable with close() that counts the calls and forwards them."""

    def __init__(self, iterable):
        self.it = iter(iterable)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.it)

    def close(self):
        global closes
        closes += 1
        close = getattr(self.it, "close", None)
        if close:
            close()


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, ", b"world!", b""]


application = hello


def hello_tuple(environ, start_response):
    start_response("201 Created", [("Content-Type", "text/plain")])
    return (b"", b"abc", b"de", b"", b"")


def lazy(environ, start_response):
    """start_response is only called inside the generator's first step."""

    def body():
        global generator_exits
        try:
            yield b""
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b""
            yield b"one"
            yield b""
            yield b"two"
            yield b"three"
        except GeneratorExit:
            generator_exits += 1
            raise

    return Counted(body())


def empty(environ, start_response):
    start_response("204 No Content", [])
    return Counted([])


def writer(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"A")
    write(b"")
    write(bytearray(b"B"))
    return Counted([b"C"])


def write_in_generator(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])

    def body():
        yield b"1"
        write(b"2")
        yield b"3"

    return body()


def raise_before(environ, start_response):
    raise ValueError("boom")


def raise_midway(environ, start_response):
    def body():
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"a"
        raise RuntimeError("midway")

    return Counted(body())


def raise_in_close(environ, start_response):
    class Body(Counted):
        def close(self):
            super().close()
            raise KeyError("in close")

    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body([b"x"])


def system_exit(environ, start_response):
    sys.exit(3)


def _headers_app(status, headers):
    def app(environ, start_response):
        start_response(status, headers)
        return Counted([b"never sent"])

    return app


bad_crlf = _headers_app("200 OK", [("X-Bad", "a\r\nSet-Cookie: x=1")])
bad_lf = _headers_app("200 OK", [("X-Bad", "a\nb")])
bad_nul = _headers_app("200 OK", [("X-Bad", "a\0b")])
bad_name = _headers_app("200 OK", [("Bad Name", "x")])
bad_name_colon = _headers_app("200 OK", [("X:Y", "x")])
bad_latin1 = _headers_app("200 OK", [("X-Euro", "\u20ac")])
bad_status = _headers_app("OK", [])
bad_status_crlf = _headers_app("200 OK\r\nX: y", [])
bad_headers_dict = _headers_app("200 OK", {"X": "y"})
bad_header_item = _headers_app("200 OK", [("X", "y", "z")])
bad_header_bytes = _headers_app("200 OK", [(b"X", "y")])
bad_content_length = _headers_app("200 OK", [("Content-Length", "12a")])
bad_content_length_neg = _headers_app("200 OK", [("Content-Length", "-1")])
bad_content_length_twice = _headers_app(
    "200 OK", [("Content-Length", "1"), ("content-length", "2")]
)
ok_latin1 = _headers_app("200 OK", [("X-Cafe", "caf\xe9"), ("X-Tab", "a\tb")])
ok_bare_status = _headers_app("299", [("Content-Length", "10")])


def str_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["text"]


def str_in_generator(environ, start_response):
    def body():
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"ok"
        yield "text"

    return Counted(body())


def bytes_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return b"whole"


def no_start_response(environ, start_response):
    return Counted([])


def body_before_start_response(environ, start_response):
    return Counted([b"early"])


def twice(environ, start_response):
    start_response("200 OK", [])
    start_response("500 Oops", [])
    return [b"x"]


def replace_with_exc_info(environ, start_response):
    """An error after start_response but before any body: the headers may be replaced."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise LookupError("late")
    except LookupError:
        start_response("500 Internal Server Error", [("X-Error", "1")], sys.exc_info())
    return [b"error page"]


def exc_info_after_body(environ, start_response):
    """Headers are final once a chunk went out: start_response(exc_info) re-raises."""

    def body():
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise LookupError("after body")
        except LookupError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        yield b"not reached"

    return Counted(body())


def keep_callables(environ, start_response):
    kept["start_response"] = start_response
    kept["write"] = start_response("200 OK", [])
    return [b"kept"]


def environ_app(environ, start_response):
    global last_environ
    last_environ = dict(environ)
    last_environ["body"] = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def echo(environ, start_response):
    """Reads the body through the validator's input wrapper and sends it back."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
    )
    return [body]


def lazy_plain(environ, start_response):
    def body():
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"x"
        yield b"y"

    return body()


def writer_plain(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"w")
    return [b"z"]


validated_hello = validator(hello)
validated_lazy = validator(lazy_plain)
validated_writer = validator(writer_plain)
validated_echo = validator(echo)
validated_environ = validator(environ_app)


def create_app(greeting=b"hi", suffix=b""):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [greeting + suffix]

    return app


def failing_factory():
    raise RuntimeError("factory broke")


not_callable = 42


# ---- wsgi.input, SCRIPT_NAME, wsgi.file_wrapper ---------------------------------------

kept_input = None   # wsgi.input kept beyond the response
input_log = []      # what input_ops read, one entry per call


def input_ops(environ, start_response):
    """Runs the operations named in QUERY_STRING ("read:3,readline,...") on wsgi.input."""
    global kept_input
    stream = environ["wsgi.input"]
    kept_input = stream
    del input_log[:]
    for op in environ["QUERY_STRING"].split(","):
        name, _, arg = op.partition(":")
        if name == "iter":
            input_log.append(list(stream))
        elif name == "readlines" and arg:
            input_log.append(stream.readlines(int(arg)))
        elif arg == "none":
            input_log.append(getattr(stream, name)(None))
        elif arg:
            input_log.append(getattr(stream, name)(int(arg)))
        else:
            input_log.append(getattr(stream, name)())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def input_in_generator(environ, start_response):
    """Reads the body while the response streams (after py_wsgi_call returned)."""
    start_response("200 OK", [("Content-Type", "text/plain")])

    def body():
        yield b"<"
        yield environ["wsgi.input"].read()
        yield b">"

    return body()


file_path = None    # set by the C test
opened = []         # files handed to the wrapper


class Tracked:
    """A file-like object around a real file whose close() is observable."""

    def __init__(self, f):
        self.f = f
        self.closed = False

    def read(self, n=-1):
        return self.f.read(n)

    def fileno(self):
        return self.f.fileno()

    def tell(self):
        return self.f.tell()

    def close(self):
        self.closed = True
        self.f.close()


def file_app(environ, start_response):
    f = Tracked(open(file_path, "rb"))
    skip = int(environ["QUERY_STRING"] or 0)
    if skip:
        f.read(skip)   # a buffered read: the descriptor is ahead of tell()
    opened.append(f)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f, 4096)


def file_app_bytesio(environ, start_response):
    import io

    start_response("200 OK", [("Content-Type", "text/plain")])
    return environ["wsgi.file_wrapper"](io.BytesIO(b"abcdefghij"), 4)


validated_file = validator(file_app)
validated_input = validator(input_ops)
