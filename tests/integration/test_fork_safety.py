"""A process the application forks must not inherit a usable io_uring ring (nor, on the
epoll engine, the worker's epoll instance)."""
import os

import pytest

from conftest import ENGINE

# how the worker's engine descriptor reads in /proc/PID/fd
RING_KIND = "[eventpoll]" if ENGINE == "epoll" else "io_uring"


@pytest.mark.parametrize("threads", ["1", "4"])
def test_forked_child_holds_no_ring(server, threads):
    """Also when an application thread forks (--threads): nor the pool's eventfd."""
    srv = server("forking:app", args=["--threads", threads])
    (worker,) = srv.worker_pids()
    parent_fds = [os.readlink(f"/proc/{worker}/fd/{fd}") for fd in os.listdir(f"/proc/{worker}/fd")]
    assert any(RING_KIND in kind for kind in parent_fds), parent_fds
    resp = srv.request("GET", "/")
    assert resp.status == 200
    child_fds = resp.body.decode().splitlines()
    assert child_fds, "the child reported nothing"
    assert not any(RING_KIND in kind for kind in child_fds), child_fds
    assert not any("eventfd" in kind for kind in child_fds), child_fds
    # and the worker itself still serves
    assert srv.request("GET", "/").status == 200
