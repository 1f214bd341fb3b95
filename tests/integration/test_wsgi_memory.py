"""Bounded memory: a 1 GB streamed download and a 1 GB upload each grow the worker's
resident memory by less than 64 MB (VmHWM after the request against VmRSS before it,
from /proc/PID/status). Both run over loopback in a few seconds: the download comes from
a generator of 1 MiB chunks and is discarded as it arrives; the upload is one repeated
1 MiB buffer, spooled by the server to a temporary file."""
import re
import socket

from conftest import read_response

GiB = 1 << 30
MiB = 1 << 20
LIMIT = 64 * MiB


def memory(pid):
    with open(f"/proc/{pid}/status") as f:
        text = f.read()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", text, re.M).group(1)) * 1024
            for k in ("VmRSS", "VmHWM")}


def read_head(sock):
    head = b""
    while b"\r\n\r\n" not in head:
        part = sock.recv(4096)
        assert part, f"connection closed in the response head: {head!r}"
        head += part
    head, _, rest = head.partition(b"\r\n\r\n")
    return head.decode("latin-1"), len(rest)


def test_1gb_download_keeps_worker_memory_bounded(server):
    srv = server("wsgi_pep3333:app", probe="/pid")
    (pid,) = srv.worker_pids()
    before = memory(pid)["VmRSS"]
    sock = srv.connect(timeout=30)
    sock.sendall(b"GET /generate?mb=1024&length=1 HTTP/1.1\r\nHost: t\r\n\r\n")
    head, got = read_head(sock)
    assert head.startswith("HTTP/1.1 200") and f"Content-Length: {GiB}" in head
    buf = bytearray(4 * MiB)
    view = memoryview(buf)
    while got < GiB:
        n = sock.recv_into(view)
        assert n, f"connection closed after {got} bytes"
        got += n
    assert got == GiB
    growth = memory(pid)["VmHWM"] - before
    sock.close()
    print(f"download: worker grew by {growth / MiB:.1f} MB")
    assert growth < LIMIT, f"worker grew by {growth >> 20} MB serving 1 GB"


def test_1gb_upload_keeps_worker_memory_bounded(server):
    srv = server("wsgi_pep3333:app", probe="/pid")
    (pid,) = srv.worker_pids()
    before = memory(pid)["VmRSS"]
    sock = srv.connect(timeout=60)
    sock.sendall(b"POST /count HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % GiB)
    chunk = b"u" * MiB
    for _ in range(GiB // MiB):
        sock.sendall(chunk)
    resp = read_response(sock.makefile("rb"))
    sock.close()
    assert resp.status == 200 and resp.body == str(GiB).encode()
    growth = memory(pid)["VmHWM"] - before
    print(f"upload: worker grew by {growth / MiB:.1f} MB")
    assert growth < LIMIT, f"worker grew by {growth >> 20} MB receiving 1 GB"
