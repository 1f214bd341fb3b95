"""What building the wheel needs from the machine, found or reported as one install line.

Everything is looked up before Zig runs, so that a machine missing three -dev packages
hears about all three at once, as one `apt-get install` line it can paste, rather than
one compiler error at a time. build.zig checks the same files (it is also run by hand);
this module adds what only the wheel needs: static archives and a shared libpython.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from importlib import metadata
from typing import List, Optional


# Where Debian's -dev packages put what the build takes (module-level, so that a test can
# point one at nothing and read the message).
LIBURING_HEADER = "/usr/include/liburing.h"
ZLIB_HEADER = "/usr/include/zlib.h"
SDT_HEADERS = ("/usr/include/%s/sys/sdt.h" % (sysconfig.get_config_var("MULTIARCH") or ""),
               "/usr/include/sys/sdt.h")
LIBURING_DIRS = ("/usr/lib/" + (sysconfig.get_config_var("MULTIARCH") or ""), "/usr/lib",
                 "/usr/local/lib")
LLHTTP_SRC = "/usr/share/llhttp"
LLHTTP_INCLUDE = "/usr/share/include/llhttp"


class Missing(SystemExit):
    """The build cannot go on; the message says what to install."""


@dataclass
class Inputs:
    python: str             # the installation's own interpreter (not a venv's): -Dpython
    python_version: str     # "3.11.7"
    libpython: str          # the shared libpython the binary will load at run time
    libpython_package: Optional[str]  # the Debian package that ships it, if it is Debian's
    llhttp_src: str
    llhttp_include: str
    mimalloc_archive: str
    mimalloc_include: str


def find(source_dir: str) -> Inputs:
    """The build's inputs, or Missing naming every absent one and how to get it."""
    apt: List[str] = []
    other: List[str] = []
    python, libpython, package = _python(apt, other)
    _c_compiler(apt)
    _liburing(apt)
    _zlib(apt)
    _sdt(apt)
    llhttp_src, llhttp_inc = _llhttp(source_dir, apt)
    archive, mi_inc = _mimalloc(other)
    if apt or other:
        lines = ["uwsgi-fast cannot be built here yet:"] + ["  " + o for o in other]
        if apt:
            lines.append("  install the missing Debian packages:")
            lines.append("    apt-get install " + " ".join(dict.fromkeys(apt)))
        raise Missing("\n".join(lines))
    version = "%d.%d.%d" % sys.version_info[:3]
    return Inputs(python, version, libpython, package, llhttp_src, llhttp_inc, archive, mi_inc)


def _debian_package(path: str) -> Optional[str]:
    """The Debian package that owns path (dpkg's answer), or None off Debian."""
    if not shutil.which("dpkg-query"):
        return None
    r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
    if r.returncode != 0 or ":" not in r.stdout:
        return None
    return r.stdout.split(":", 1)[0].strip()


def _python(apt: List[str], other: List[str]):
    """The interpreter's installation: headers, and a shared libpython to link and load.

    A venv's python stands for its base installation (sys._base_executable): the
    binary links the base's libpython and reaches the venv through VIRTUAL_ENV, set by
    the launcher (uwsgi_fast/__init__.py)."""
    exe = getattr(sys, "_base_executable", None) or sys.executable
    if sys.implementation.name != "cpython":
        other.append("uwsgi-fast embeds CPython; %s is %s" % (exe, sys.implementation.name))
        return exe, "", None
    ver = sysconfig.get_python_version()
    debian = os.path.realpath(exe).startswith("/usr/bin/python")
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    soname = sysconfig.get_config_var("INSTSONAME") or ""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        other.append(
            "%s has no shared libpython (it was built without --enable-shared), and the "
            "uwsgi-fast binary embeds one. Build with an interpreter that has it: Debian's "
            "python%s (apt-get install python%s-dev python%s-venv, which bring "
            "libpython%s), or pyenv with PYTHON_CONFIGURE_OPTS=--enable-shared"
            % (exe, ver, ver, ver, ver))
        return exe, "", None
    include = sysconfig.get_paths()["include"]
    link_name = os.path.join(libdir, "libpython%s.so" % sysconfig.get_config_var("LDVERSION"))
    if not os.path.exists(os.path.join(include, "Python.h")) or not os.path.exists(link_name):
        if debian:
            apt.append("python%s-dev" % ver)
        else:
            other.append("%s lacks its development files (%s/Python.h or %s): reinstall it "
                         "with them" % (exe, include, link_name))
    libpython = os.path.join(libdir, soname)
    return exe, libpython, _debian_package(libpython) if debian else None


def _c_compiler(apt: List[str]):
    """Zig compiles with its own clang, but asks the system's cc where the system's headers
    are (/usr/include: liburing.h, Python's multiarch pyconfig.h). Without a cc it uses
    only its bundled libc headers, and the build fails on the first system header (a
    minimal Debian 12 has no cc)."""
    if not shutil.which(os.environ.get("CC") or "cc"):
        apt.append("gcc")


def _liburing(apt: List[str]):
    archive = any(os.path.exists(os.path.join(d, "liburing.a")) for d in LIBURING_DIRS)
    if not archive or not os.path.exists(LIBURING_HEADER):
        apt.append("liburing-dev")


def _zlib(apt: List[str]):
    """libz.a and zlib.h: WebSocket permessage-deflate (src/wsdeflate.c), linked in."""
    archive = any(os.path.exists(os.path.join(d, "libz.a")) for d in LIBURING_DIRS)
    if not archive or not os.path.exists(ZLIB_HEADER):
        apt.append("zlib1g-dev")


def _sdt(apt: List[str]):
    """<sys/sdt.h>: the USDT probes (common/probes.h), a header only: nothing is linked."""
    if not any(os.path.exists(h) for h in SDT_HEADERS):
        apt.append("systemtap-sdt-dev")


def _llhttp(source_dir: str, apt: List[str]):
    """An sdist carries llhttp's sources in llhttp/; a checkout takes Debian's."""
    vendored = os.path.join(source_dir, "llhttp")
    if os.path.exists(os.path.join(vendored, "llhttp.c")):
        return vendored, vendored
    src, inc = LLHTTP_SRC, LLHTTP_INCLUDE
    if not (os.path.exists(os.path.join(src, "llhttp.c")) and
            os.path.exists(os.path.join(inc, "llhttp.h"))):
        apt.append("node-llhttp")
    return src, inc


def _mimalloc(other: List[str]):
    """libmimalloc.a and its header from the cmeel-mimalloc build requirement."""
    try:
        dist = metadata.distribution("cmeel-mimalloc")
    except metadata.PackageNotFoundError:
        other.append("cmeel-mimalloc is not installed (a build requirement in pyproject.toml: "
                     "pip installs it, except with --no-build-isolation: then pip install "
                     "cmeel-mimalloc first)")
        return "", ""
    archive = header = ""
    for f in dist.files or ():
        if f.name == "libmimalloc.a":
            archive = str(f.locate())
        elif f.name == "mimalloc.h":
            header = str(f.locate())
    if not archive or not header:
        other.append("cmeel-mimalloc %s has no libmimalloc.a and mimalloc.h" % dist.version)
    return archive, os.path.dirname(header)
