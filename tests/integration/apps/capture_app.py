"""WSGI application that writes to its stdout and stderr in every way an application
does (`capture_app:app`), for --capture-output."""
import ctypes
import os
import sys


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/print":
        print("hello from print()", flush=True)
        print("to stderr", file=sys.stderr, flush=True)
    elif path == "/fd":
        os.write(1, b"raw fd1 line\nsecond fd1 line\n")
        os.write(2, b"partial ")
        os.write(2, b"fd2 line\r\n")
    elif path == "/libc":
        # a C extension's write(2), below Python's sys.stdout
        msg = b"from C write\n"
        ctypes.CDLL(None).write(1, msg, len(msg))
    elif path == "/long":
        os.write(1, b"x" * 5000 + b"\n")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
