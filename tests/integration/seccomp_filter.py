"""Seccomp filters for the integration tests, installed in the child before the server is
exec'd (a subprocess preexec_fn), as a container runtime installs its profile.

Two shapes: one system call answered with a chosen action and everything else allowed
(io_uring blocked the way Docker and containerd block it), and an allowlist that answers
everything not on it with EPERM (examples/container/seccomp-io-uring.json applied for
real). The programs are classic BPF over struct seccomp_data, built in the parent: the
child only makes the two prctl calls.
"""
import ctypes
import json
import platform
import re
from pathlib import Path

NR_IO_URING_SETUP = 425          # the same number on every architecture since 5.1
EPERM = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
BPF_LD_W_ABS = 0x20              # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15                 # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x35                 # BPF_JMP | BPF_JGE | BPF_K
BPF_RET_K = 0x06                 # BPF_RET | BPF_K
SECCOMP_DATA_NR = 0              # offsetof(struct seccomp_data, nr)
SECCOMP_DATA_ARCH = 4            # offsetof(struct seccomp_data, arch)
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000     # x32 ABI calls arrive with the x86_64 arch and this bit
UNISTD_64 = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def preexec(instructions):
    """A preexec_fn that installs the program `instructions` ((code, jt, jf, k) tuples)."""
    program = (SockFilter * len(instructions))(*(SockFilter(*i) for i in instructions))
    prog = SockFprog(len(instructions), program)
    libc = ctypes.CDLL(None, use_errno=True)

    def install():
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")

    install.program = program   # kept alive with the function
    return install


def deny_one(nr, action):
    """Answers system call `nr` with `action` and allows everything else."""
    return preexec([
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR),
        (BPF_JEQ_K, 0, 1, nr),
        (BPF_RET_K, 0, 0, action),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ])


def allow_only(numbers):
    """Allows the x86_64 system calls `numbers` and answers every other call (x32 and
    i386 ones included) with EPERM, a profile's SCMP_ACT_ERRNO default.

    One comparison per call, each jumping forward to the final ALLOW; a jump's offset is
    8 bits, which bounds the list at 255 calls (a profile is far below that)."""
    numbers = sorted(set(numbers))
    if len(numbers) > 255:
        raise ValueError(f"{len(numbers)} calls: more than one jump can reach")
    deny = SECCOMP_RET_ERRNO | EPERM
    program = [
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARCH),
        (BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (BPF_RET_K, 0, 0, deny),
        (BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR),
        (BPF_JGE_K, len(numbers), 0, X32_SYSCALL_BIT),   # to the deny after the list
    ]
    for i, nr in enumerate(numbers):
        program.append((BPF_JEQ_K, len(numbers) - i, 0, nr))
    program += [(BPF_RET_K, 0, 0, deny), (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)]
    return preexec(program)


def x86_64_numbers():
    """{name: number} of the x86_64 system calls, from the kernel's uapi header, or None
    where that header (linux-libc-dev) or the architecture is missing."""
    if platform.machine() != "x86_64" or not UNISTD_64.is_file():
        return None
    pattern = re.compile(r"^#define __NR_(\w+)\s+(\d+)\s*$")
    return {m.group(1): int(m.group(2))
            for m in map(pattern.match, UNISTD_64.read_text().splitlines()) if m}


def profile_allowlist(path):
    """The system call names a Docker/OCI seccomp profile allows unconditionally; checks
    that it is an allowlist with an EPERM default, the shape the tests can rebuild."""
    profile = json.loads(Path(path).read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO", profile["defaultAction"]
    assert profile.get("defaultErrnoRet", EPERM) == EPERM, profile.get("defaultErrnoRet")
    names = []
    for rule in profile["syscalls"]:
        assert rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"), rule
        names += rule["names"]
    return profile, names
