"""--cpu-pin and --numa-pin: where workers run, and the CPU steering of new connections."""
import os
import socket

import pytest

ALLOWED = sorted(os.sched_getaffinity(0))


def _status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    return None


def _cpus(text):
    cpus = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def _ask_pid(port, cpu):
    """Which worker answers a connection made from a process running on `cpu`."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.sched_setaffinity(0, {cpu})
            answers = []
            for _ in range(20):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                s.close()
                answers.append(data.split(b"\r\n\r\n", 1)[1].decode())
            os.write(write_end, " ".join(answers).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    out = b""
    while True:
        chunk = os.read(read_end, 4096)
        if not chunk:
            break
        out += chunk
    os.close(read_end)
    os.waitpid(child, 0)
    return [int(p) for p in out.split()]


@pytest.mark.skipif(len(ALLOWED) < 2, reason="needs two CPUs")
def test_cpu_pin_one_cpu_each_and_steering_by_cpu(server):
    srv = server("master_apps:app", workers=2, args=["--cpu-pin"])
    assert srv.wait_workers(2)
    placed = {}
    for pid in srv.worker_pids():
        cpus = _cpus(_status(pid, "Cpus_allowed_list"))
        assert len(cpus) == 1, cpus
        placed[cpus.pop()] = pid
    assert sorted(placed) == ALLOWED[:2]
    # the reuseport program sends a connection to the worker on the CPU that took it;
    # on loopback the receiving softirq runs on the sender's CPU, so pin the client
    for cpu, pid in placed.items():
        assert set(_ask_pid(srv.port, cpu)) == {pid}


def test_numa_pin_binds_memory_to_the_node(server):
    srv = server("master_apps:app", workers=1, args=["--numa-pin"])
    (pid,) = srv.worker_pids()
    maps = open(f"/proc/{pid}/numa_maps").read()
    assert " bind:" in maps, maps[:500]
    nodes = sorted(int(d[4:]) for d in os.listdir("/sys/devices/system/node") if d.startswith("node"))
    node_cpus = _cpus(open(f"/sys/devices/system/node/node{nodes[0]}/cpulist").read().strip())
    assert _cpus(_status(pid, "Cpus_allowed_list")) <= node_cpus | set(ALLOWED)


def test_unpinned_workers_keep_the_full_affinity(server):
    srv = server("master_apps:app", workers=1)
    (pid,) = srv.worker_pids()
    assert _cpus(_status(pid, "Cpus_allowed_list")) == set(ALLOWED)
    assert " bind:" not in open(f"/proc/{pid}/numa_maps").read()
