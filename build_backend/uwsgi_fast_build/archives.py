"""The wheel and the sdist as files: metadata, tags, RECORD, the archive layouts.

Pure packaging, no building: the wheel takes a finished binary, the sdist takes the
source tree (and llhttp's sources, so that it builds without Debian's node-llhttp).
"""
import base64
import hashlib
import io
import os
import stat
import sys
import sysconfig
import tarfile
import time
import zipfile
from typing import Dict, List, Tuple

try:
    import tomllib
except ImportError:  # Python < 3.11: tomli is a build requirement there
    import tomli as tomllib

# What an sdist holds of a checkout: what build.zig compiles and what the wheel ships.
SDIST_DIRS = ("common", "tunables", "epoll", "uring", "python_bridge", "src", "uwsgi_fast",
              "build_backend")
SDIST_FILES = ("build.zig", "build.zig.zon", "VERSION", "LICENSE", "README.md",
               "pyproject.toml")
LLHTTP_FILES = (("llhttp.c", "src"), ("api.c", "src"), ("http.c", "src"), ("llhttp.h", "inc"))
LICENSES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "licenses")


class Project:
    """pyproject.toml's [project] table and the VERSION file, read once."""

    def __init__(self, source_dir: str):
        with open(os.path.join(source_dir, "pyproject.toml"), "rb") as f:
            self.table = tomllib.load(f)["project"]
        with open(os.path.join(source_dir, "VERSION")) as f:
            self.version = f.read().strip()
        self.name = self.table["name"]
        self.dist = self.name.replace("-", "_")
        with open(os.path.join(source_dir, self.table["readme"]), encoding="utf-8") as f:
            self.readme = f.read()
        with open(os.path.join(source_dir, "LICENSE"), "rb") as f:
            self.license = f.read()

    def metadata(self) -> str:
        t = self.table
        lines = ["Metadata-Version: 2.1", "Name: " + self.name, "Version: " + self.version,
                 "Summary: " + t["description"], "License: " + t["license"],
                 "Requires-Python: " + t["requires-python"]]
        lines += ["Classifier: " + c for c in t.get("classifiers", ())]
        lines.append("Description-Content-Type: text/markdown")
        return "\n".join(lines) + "\n\n" + self.readme

    def entry_points(self) -> str:
        scripts = self.table.get("scripts", {})
        return "[console_scripts]\n" + "".join("%s = %s\n" % kv for kv in scripts.items())


def wheel_tag() -> str:
    """cpXY-cpXY<abiflags>-<platform>: the binary embeds this CPython's libpython, so it is
    bound to its version and ABI; the platform is the build machine's (linux_x86_64 or
    linux_aarch64: docs/architecture.md says why it is no manylinux tag)."""
    ver = "cp%d%d" % sys.version_info[:2]
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "%s-%s%s-%s" % (ver, ver, sys.abiflags, plat)


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(
        b"=").decode()


def dist_info(project: Project) -> Tuple[str, List[Tuple[str, bytes]]]:
    """The .dist-info folder's name and its files but RECORD (path inside it, content):
    what pip reads before it builds (prepare_metadata_for_build_wheel) and the wheel
    carries."""
    info = "%s-%s.dist-info" % (project.dist, project.version)
    files = [
        ("METADATA", project.metadata().encode()),
        ("WHEEL", ("Wheel-Version: 1.0\nGenerator: uwsgi_fast_build\n"
                   "Root-Is-Purelib: false\nTag: %s\n" % wheel_tag()).encode()),
        ("entry_points.txt", project.entry_points().encode()),
        ("licenses/LICENSE", project.license),  # uwsgi-fast's own; then what is linked in
    ]
    for name in sorted(os.listdir(LICENSES)):
        with open(os.path.join(LICENSES, name), "rb") as f:
            files.append(("licenses/" + name, f.read()))
    return info, files


def write_wheel(out_dir: str, project: Project, files: List[Tuple[str, bytes, bool]]) -> str:
    """files: (path in the wheel, content, executable). Adds the .dist-info; returns the
    wheel's file name."""
    info, info_files = dist_info(project)
    meta = [(info + "/" + path, data, False) for path, data in info_files]
    name = "%s-%s-%s.whl" % (project.dist, project.version, wheel_tag())
    record = []
    # a fixed date keeps two builds of the same binary byte-identical
    stamp = time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")))[:6]
    with zipfile.ZipFile(os.path.join(out_dir, name), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data, executable in files + meta:
            zi = zipfile.ZipInfo(path, stamp)
            zi.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
            record.append("%s,%s,%d" % (path, _digest(data), len(data)))
        record.append(info + "/RECORD,,")
        zi = zipfile.ZipInfo(info + "/RECORD", stamp)
        zi.external_attr = (stat.S_IFREG | 0o644) << 16
        z.writestr(zi, "\n".join(record) + "\n")
    return name


def _tree(source_dir: str) -> Dict[str, str]:
    """sdist path (relative) -> file on disk, for the checkout's share of the sdist."""
    out = {}
    for f in SDIST_FILES:
        out[f] = os.path.join(source_dir, f)
    for d in SDIST_DIRS:
        for root, dirs, names in os.walk(os.path.join(source_dir, d)):
            dirs[:] = sorted(x for x in dirs if x != "__pycache__")
            for n in sorted(names):
                if not n.endswith(".pyc"):
                    full = os.path.join(root, n)
                    out[os.path.relpath(full, source_dir)] = full
    return out


def llhttp_sources(source_dir: str, src: str, inc: str) -> Dict[str, str]:
    """llhttp's files and licence for the sdist's llhttp/ folder."""
    out = {}
    for name, where in LLHTTP_FILES:
        out["llhttp/" + name] = os.path.join(src if where == "src" else inc, name)
    out["llhttp/LICENSE"] = os.path.join(LICENSES, "llhttp.txt")
    return out


def write_sdist(out_dir: str, project: Project, source_dir: str, extra: Dict[str, str]) -> str:
    """A .tar.gz of the checkout's build inputs plus extra (sdist path -> file); returns
    its file name."""
    base = "%s-%s" % (project.dist, project.version)
    name = base + ".tar.gz"
    files = _tree(source_dir)
    files.update(extra)
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))

    def add(tar, path, data, mode):
        ti = tarfile.TarInfo(base + "/" + path)
        ti.size, ti.mode, ti.mtime = len(data), mode, mtime
        tar.addfile(ti, io.BytesIO(data))

    with tarfile.open(os.path.join(out_dir, name), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        add(tar, "PKG-INFO", project.metadata().encode(), 0o644)
        for path in sorted(files):
            with open(files[path], "rb") as f:
                data = f.read()
            executable = os.stat(files[path]).st_mode & 0o111
            add(tar, path, data, 0o755 if executable else 0o644)
    return name
