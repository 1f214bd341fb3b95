"""Zero-copy file bodies: SEND_ZC from registered buffers, and what happens without them.

On the epoll engine ($UF_TEST_ENGINE=epoll) zero-copy is skipped quietly: the same bytes
go out by plain sends, and no zero-copy send is counted."""
import ctypes
import hashlib
import os
import re
import resource
import socket

import pytest

from conftest import ENGINE

PR_CAPBSET_DROP = 24
CAP_IPC_LOCK = 14


@pytest.fixture(scope="module")
def bigfile(tmp_path_factory):
    path = tmp_path_factory.mktemp("zc") / "big.bin"
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(100):
            f.write(block)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    digest, head, size = hashlib.sha256(), b"", 0
    while b"\r\n\r\n" not in head:
        head += s.recv(65536)
    head, _, body = head.partition(b"\r\n\r\n")
    digest.update(body)
    size += len(body)
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    s.close()
    return head, size, digest.hexdigest()


def zero_copy_sends(srv):
    srv.stop()
    m = re.search(r"(\d+) zero-copy sends", srv.log())
    return int(m.group(1)) if m else 0


def check_zero_copy(srv, at_least):
    """At least that many zero-copy sends on io_uring; none on epoll."""
    n = zero_copy_sends(srv)
    if ENGINE == "epoll":
        assert n == 0
    else:
        assert n >= at_least


def test_forced_zero_copy_sends_identical_bytes(server, bigfile):
    path, want = bigfile
    srv = server("bigfile:app", args=["--zerocopy-threshold", "0"],
                 env={"UF_TEST_BIGFILE": str(path)})
    head, size, got = fetch(srv.port)
    assert b"200 OK" in head and size == 100 << 20 and got == want
    check_zero_copy(srv, (100 << 20) // (256 << 10))


def test_loopback_is_sent_the_ordinary_way_with_identical_bytes(server, bigfile):
    path, want = bigfile
    srv = server("bigfile:app", env={"UF_TEST_BIGFILE": str(path)})
    head, size, got = fetch(srv.port)
    assert size == 100 << 20 and got == want
    assert zero_copy_sends(srv) == 0   # the kernel would copy towards loopback anyway


def test_too_small_memlock_is_reported_and_serving_goes_on(server, bigfile):
    path, want = bigfile

    def small_memlock():
        # root keeps CAP_IPC_LOCK across exec unless it leaves the bounding set
        ctypes.CDLL(None, use_errno=True).prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0)
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (1 << 20, 1 << 20))

    srv = server("bigfile:app", args=["--zerocopy-threshold", "0"],
                 env={"UF_TEST_BIGFILE": str(path)}, preexec_fn=small_memlock)
    log = srv.log()
    if ENGINE == "epoll":   # nothing is pinned: nothing to say
        assert "RLIMIT_MEMLOCK" not in log, log
    else:
        assert "RLIMIT_MEMLOCK is 1024 KiB" in log, log
        assert "ulimit -l" in log and "LimitMEMLOCK=" in log
    head, size, got = fetch(srv.port)
    assert size == 100 << 20 and got == want
    assert zero_copy_sends(srv) == 0


@pytest.mark.parametrize("app", ["bigfile:chunks", "bigfile:whole"])
@pytest.mark.parametrize("threads", ["1", "4"])
def test_python_chunks_go_zero_copy_from_their_own_memory(server, bigfile, app, threads):
    """Large chunks the application produces are sent by SEND_ZC straight from the bytes
    object (kept alive until the kernel's notification), also from application threads."""
    path, want = bigfile
    srv = server(app, args=["--zerocopy-threshold", "0", "--threads", threads],
                 env={"UF_TEST_BIGFILE": str(path)})
    for _ in range(2):
        head, size, got = fetch(srv.port)
        assert b"200 OK" in head and size == 100 << 20 and got == want
    check_zero_copy(srv, 2 * (1 if app == "bigfile:whole" else 100))


def test_python_chunks_to_loopback_are_copied_the_ordinary_way(server, bigfile):
    path, want = bigfile
    srv = server("bigfile:chunks", env={"UF_TEST_BIGFILE": str(path)})
    head, size, got = fetch(srv.port)
    assert size == 100 << 20 and got == want
    assert zero_copy_sends(srv) == 0
