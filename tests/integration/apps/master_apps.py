"""Applications for the master's churn tests (test_master.py)."""
import os
import time

# Touched at import so that every worker really costs this much memory (PSS/RSS).
_BALLAST_MB = int(os.environ.get("UF_TEST_BALLAST_MB", "0"))
_ballast = bytearray(_BALLAST_MB << 20)
for _i in range(0, len(_ballast), 4096):
    _ballast[_i] = 1

_leaked = []


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/spin":
        while True:          # a request that never ends, for --timeout
            pass
    if path == "/leak":
        chunk = bytearray(4 << 20)
        for i in range(0, len(chunk), 4096):
            chunk[i] = 1
        _leaked.append(chunk)
    if path == "/segv":      # a fault in native code
        import ctypes
        ctypes.string_at(0)
    if path == "/exit1":     # an application that ends its process itself
        os._exit(1)
    if path == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or "1"))
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
