"""Readings from /proc: process trees and their CPU time, peak RSS, allowed CPUs, the
machine's busy time, and the connections still open on a port. Linux only."""

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_table():
    """{pid: (ppid, cpu ticks)} for every process; cpu = utime+stime+cutime+cstime, so a
    child that exited and was reaped inside the tree keeps counting through its parent."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(")") + 2:].split()
        try:
            table[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
        except (IndexError, ValueError):
            continue
    return table


def tree_pids(root, table=None):
    table = table if table is not None else proc_table()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def tree_cpu(root):
    return sum(tree_cpu_by_pid(root).values())


def tree_cpu_by_pid(root):
    """{pid: CPU seconds} of each process in the tree under `root`."""
    table = proc_table()
    return {p: table[p][1] / CLK_TCK for p in tree_pids(root, table)}


def cpu_ns(pid):
    """CPU time of every thread of `pid` in nanoseconds: the sum of each thread's
    sum_exec_runtime (/proc/PID/task/TID/schedstat, first field), the clock the kernel
    scales utime+stime to, without their 10 ms ticks (which on a 2 s run are a 0.5%
    step). None when the process is gone. A thread that exits between two readings takes
    its time with it: compare readings only across a run where the threads stay."""
    total, seen = 0, False
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
            seen = True
        except (OSError, IndexError, ValueError):
            continue
    return total if seen else None


def cpus_allowed(pid):
    """The CPUs `pid` may run on, as the kernel lists them ("0-1", "1"), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def system_busy():
    """Seconds of busy CPU on the whole machine so far (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


# /proc/net/tcp states that mean a client connection still occupies the server.
BUSY_TCP_STATES = {"01", "03", "08"}  # ESTABLISHED, SYN_RECV, CLOSE_WAIT


def open_connections(port):
    """Server-side connections on `port` not yet closed by the server, plus the length of
    its accept queue (rx_queue of the LISTEN socket)."""
    count = 0
    hexport = ":%04X" % port
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if not parts[1].endswith(hexport):
                        continue
                    if parts[3] in BUSY_TCP_STATES:
                        count += 1
                    elif parts[3] == "0A":
                        count += int(parts[4].split(":")[1], 16)
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return count
