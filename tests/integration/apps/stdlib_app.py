"""What an ordinary pure-Python application does besides answering HTTP, in one request
(`stdlib_app:app`, GET /exercise): files and directories, SQLite, subprocesses and
multiprocessing, sockets and selectors, threads, sleeps and time zones, randomness,
compression, logging, memory maps, name lookups. Each step's outcome is in the JSON
answer ("ok", or the exception), so one request shows what a seccomp profile refuses.

examples/container/derive-seccomp traces it to build the io_uring profile's allowlist,
and tests/integration/test_container_examples.py runs it again under that profile.
"""
import concurrent.futures
import datetime
import fcntl
import getpass
import gzip
import hashlib
import json
import logging
import mmap
import multiprocessing
import os
import pathlib
import resource
import secrets
import selectors
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
import zoneinfo


def files(tmp):
    d = pathlib.Path(tmp, "a", "b")
    d.mkdir(parents=True)
    p = d / "f.txt"
    with open(p, "w") as f:
        f.write("x" * 70000)
        f.flush()
        os.fsync(f.fileno())
    os.rename(p, d / "g.txt")
    os.replace(d / "g.txt", d / "h.txt")
    shutil.copyfile(d / "h.txt", d / "i.txt")
    shutil.copy2(d / "i.txt", d / "j.txt")
    os.chmod(d / "j.txt", 0o600)
    os.utime(d / "j.txt", (1, 1))
    os.symlink(d / "j.txt", d / "k")
    os.link(d / "j.txt", d / "l")
    assert os.readlink(d / "k") == str(d / "j.txt")
    assert sorted(e.name for e in os.scandir(d)) == ["h.txt", "i.txt", "j.txt", "k", "l"]
    assert len(list(pathlib.Path(tmp).rglob("*.txt"))) == 3
    with open(d / "h.txt", "rb+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        with mmap.mmap(f.fileno(), 0) as m:
            assert m[:1] == b"x"
        os.truncate(f.fileno(), 10)
    os.stat(d).st_mtime
    shutil.rmtree(pathlib.Path(tmp, "a"))
    os.makedirs(pathlib.Path(tmp, "c"))
    os.rmdir(pathlib.Path(tmp, "c"))


def database(tmp):
    db = sqlite3.connect(os.path.join(tmp, "db.sqlite"))
    db.execute("create table t (k integer primary key, v text)")
    with db:
        db.executemany("insert into t (v) values (?)", [(str(i),) for i in range(100)])
    assert db.execute("select count(*) from t").fetchone() == (100,)
    db.close()


def child(queue):
    queue.put(os.getpid())


def processes(tmp):
    assert subprocess.run(["true"], check=True).returncode == 0
    out = subprocess.run(["sh", "-c", "echo $0", "hi"], capture_output=True, check=True)
    assert out.stdout == b"hi\n", out
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(queue,))
    proc.start()
    assert queue.get(timeout=10) == proc.pid
    # Forked from the server's application thread, which the threading module did not
    # start: before 3.12 such a child failed an assertion in threading._shutdown and
    # exited 1 after its work, unless the server gives it a real main thread.
    proc.join(10)
    assert proc.exitcode == 0, proc.exitcode


def sockets(tmp):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve():
            conn, _ = server.accept()
            with conn:
                conn.sendall(conn.recv(100).upper())
        t = threading.Thread(target=serve)
        t.start()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"ping")
            sel = selectors.DefaultSelector()
            sel.register(c, selectors.EVENT_READ)
            assert sel.select(5)
            assert c.recv(100) == b"PING"
            sel.close()
        t.join(5)
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"x")
        assert b.recv(1) == b"x"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        u.sendto(b"d", u.getsockname())
        assert u.recvfrom(10)[0] == b"d"
    socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    socket.gethostname()


def threads_and_time(tmp):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda n: n * n, range(8))) == [n * n for n in range(8)]
    event = threading.Event()
    event.wait(0.01)
    time.sleep(0.01)
    datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Paris"))
    time.monotonic(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
    os.cpu_count(), os.getloadavg(), getpass.getuser()


def bytes_and_logs(tmp):
    secrets.token_hex(16), uuid.uuid4(), os.urandom(8)
    hashlib.sha256(b"x").hexdigest()
    with gzip.open(os.path.join(tmp, "z.gz"), "wb") as f:
        f.write(b"y" * 100000)
    with gzip.open(os.path.join(tmp, "z.gz"), "rb") as f:
        assert len(f.read()) == 100000
    log = logging.getLogger("stdlib_app")
    handler = logging.FileHandler(os.path.join(tmp, "app.log"))
    log.addHandler(handler)
    log.warning("written")
    handler.close()
    log.removeHandler(handler)
    json.dumps({"big": "z" * (1 << 20)})   # a large allocation, grown and freed


STEPS = [files, database, processes, sockets, threads_and_time, bytes_and_logs]


def app(environ, start_response):
    if environ.get("PATH_INFO") != "/exercise":
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for step in STEPS:
            try:
                step(tmp)
                results[step.__name__] = "ok"
            except Exception as e:   # the answer names it; the server must not 500
                results[step.__name__] = f"{type(e).__name__}: {e}"
    body = json.dumps(results).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
