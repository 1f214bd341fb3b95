"""What tests/integration/test_sockets_systemd.py asks of a request: the environ keys
that depend on the listener, the environment the workers inherited, the worker's pid;
/sleep?ms=N first waits N ms."""
import json
import os
import time
from urllib.parse import parse_qs


def app(environ, start_response):
    if environ["PATH_INFO"] == "/sleep":
        ms = int(parse_qs(environ["QUERY_STRING"]).get("ms", ["0"])[0])
        time.sleep(ms / 1000)
    keys = ("REMOTE_ADDR", "REMOTE_PORT", "SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme")
    doc = {k: environ[k] for k in keys if k in environ}
    doc["pid"] = os.getpid()
    doc["inherited"] = {k: v for k, v in os.environ.items()
                        if k.startswith("LISTEN_") or k in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    body = json.dumps(doc).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
