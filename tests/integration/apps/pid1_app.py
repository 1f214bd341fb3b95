"""An application for tests/integration/test_pid1.py, run with the master as PID 1 of its
own pid namespace (`pid1_app:app`).

    GET /orphans?n=N   leaves N orphans behind: each request forks a child that forks a
                       grandchild and exits at once, so the grandchild is reparented to
                       PID 1, the master. A grandchild writes its ppid (after the
                       reparenting) to $PID1_TEST_DIR/<its pid> and exits 0.3 s later.
    GET /zombies       the zombies of this pid namespace as JSON [[pid, ppid], ...],
                       read from its /proc (unshare --mount-proc)
    GET /whoami        {"pid": ..., "ppid": ...} of the worker, as the namespace sees them
    anything else      basic:app (/slow, /pid, ...)
"""
import json
import os
import time

from basic import app as basic_app


def leave_orphan(out_dir):
    child = os.fork()
    if child:
        os.waitpid(child, 0)   # the application reaps its own child, as subprocess would
        return
    try:
        if os.fork() == 0:
            time.sleep(0.3)    # the child has exited by now: the grandchild is an orphan
            path = os.path.join(out_dir, str(os.getpid()))
            with open(path + ".tmp", "w") as f:
                f.write(str(os.getppid()))
            os.rename(path + ".tmp", path)
            time.sleep(0.3)
    finally:
        os._exit(0)


def zombies():
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        state, ppid = data[data.rindex(")") + 2:].split()[:2]
        if state == "Z":
            found.append([int(entry), int(ppid)])
    return found


def as_json(start_response, doc):
    body = json.dumps(doc).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/orphans":
        n = int(environ.get("QUERY_STRING", "n=1").partition("=")[2] or 1)
        for _ in range(n):
            leave_orphan(os.environ["PID1_TEST_DIR"])
        return as_json(start_response, {"left": n})
    if path == "/zombies":
        return as_json(start_response, zombies())
    if path == "/whoami":
        return as_json(start_response, {"pid": os.getpid(), "ppid": os.getppid()})
    return basic_app(environ, start_response)
