"""The benchmark's environment: paths, the Debian tools and the peers' venv, what the
uwsgi-fast binary documents, and a description of the machine.

Installing is idempotent: apt-get runs only for missing packages, pip once per pinned
requirement (a stamp file remembers what installed), so a second run costs a file read.
Standard library only.
"""

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(BENCH))
# the front ends' helpers, shared with the integration tests (tests/frontends)
sys.path.insert(0, os.path.join(ROOT, "tests", "frontends"))
import debian  # noqa: E402
APPS = os.path.join(BENCH, "apps")
RESULTS = os.path.join(BENCH, "results")
TMP = os.path.join(RESULTS, "tmp")
VENV = os.path.join(ROOT, ".deps", "bench-venv")
REQUIREMENTS = os.path.join(BENCH, "requirements-peers.txt")
WRK_SCRIPT = os.path.join(BENCH, "wrk", "report.lua")
MIXLOAD = os.path.join(BENCH, "mixload.py")
LAUNCHER = os.path.join(BENCH, "launchers", "serve_peer.py")
DEFAULT_UF = os.path.join(ROOT, "zig-out", "bin", "uwsgi-fast")
INSTALL_STAMP = os.path.join(VENV, ".bench-install.json")
LATEST_RESULTS = os.path.join(RESULTS, "latest.json")
# latest.json as it was before the last full run replaced it: what docs/benchmarks.md's
# "What changed" block compares the new run with
PREVIOUS_RESULTS = os.path.join(RESULTS, "previous.json")
ENGINE_RESULTS = os.path.join(RESULTS, "engine.json")
# the latest run of the behind-nginx group (tests/bench/run --only nginx)
NGINX_RESULTS = os.path.join(RESULTS, "nginx.json")
# the latest run of the ASGI group (tests/bench/run --only asgi)
ASGI_RESULTS = os.path.join(RESULTS, "asgi.json")

# the latest run of the WebSocket group (tests/bench/run --only ws)
WS_RESULTS = os.path.join(RESULTS, "ws.json")
# The WebSocket group's load generator, in C (wsload.c), built with the pinned Zig into
# .deps under a name that carries the source's hash: a changed source builds anew, an
# unchanged one never rebuilds, and two worktrees never overwrite each other's binary.
# It takes the server's SHA-1 and base64 (for Sec-WebSocket-Accept) from src/.
WSLOAD_SRC = os.path.join(BENCH, "wsload.c")
WSLOAD_SOURCES = [WSLOAD_SRC] + [os.path.join(ROOT, "src", f) for f in
                                 ("sha1.c", "sha1.h", "base64.c", "base64.h")]
WSLOAD_DIR = os.path.join(ROOT, ".deps", "wsload")
ZIG = os.path.join(ROOT, "scripts", "zig")

# Debian packages: the load generator, and libev's headers for building bjoern.
APT_PACKAGES = ["wrk", "libev-dev"]


def server_env():
    """The environment every server runs in: the bench venv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.path.join(VENV, "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = VENV
    env["BENCH_FILE_1M"] = os.path.join(TMP, "file-1m.bin")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_apt():
    """Installs the Debian packages the harness needs, only those missing."""
    if not shutil.which("dpkg-query"):
        return
    missing = [p for p in APT_PACKAGES if not debian.installed(p)]
    if not shutil.which("gcc") or not shutil.which("make"):
        missing.append("build-essential")
    if not missing:
        return
    if os.geteuid() != 0:
        log("bench: missing Debian packages %s (not root: install them by hand)"
            % " ".join(missing))
        return
    log("bench: apt-get install %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                   env=env, check=False, stdout=subprocess.DEVNULL)


def read_requirements():
    reqs = []
    with open(REQUIREMENTS) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                reqs.append(line)
    return reqs


def req_name(req):
    return re.split(r"[=<>!~\[ ;]", req, 1)[0].lower()


def pip_failure_reason(output):
    """The most telling line of a failed pip install (a compiler error beats pip's summary)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for pat in (r"fatal error: .*", r"error: command .* failed.*", r"No matching distribution.*",
                r"Could not find a version.*", r"ERROR: .*", r"error: .*"):
        for ln in lines:
            m = re.search(pat, ln)
            if m and "subprocess-exited-with-error" not in ln:
                return m.group(0)[:160]
    return (lines[-1] if lines else "pip failed")[:160]


def ensure_venv():
    """Creates .deps/bench-venv and installs each pinned requirement on its own.

    Returns {package name: None if installed, else "failed to build: <reason>"}. A stamp
    file remembers what installed, so a second run costs one file read; a requirement that
    failed is tried again on the next run."""
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        log("bench: creating %s" % os.path.relpath(VENV, ROOT))
        os.makedirs(os.path.dirname(VENV), exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    try:
        with open(INSTALL_STAMP) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        stamp = {}
    status = {}
    for req in read_requirements():
        name = req_name(req)
        if stamp.get(req) == "ok":
            status[name] = None
            continue
        log("bench: pip install %s" % req)
        r = subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                            req], capture_output=True, text=True)
        if r.returncode == 0:
            stamp[req] = "ok"
            status[name] = None
        else:
            reason = pip_failure_reason(r.stdout + "\n" + r.stderr)
            stamp[req] = "failed"
            status[name] = "failed to build: " + reason
            log("bench: %s failed: %s" % (req, reason))
    with open(INSTALL_STAMP, "w") as f:
        json.dump(stamp, f, indent=1)
    return status


def venv_site_packages():
    lib = os.path.join(VENV, "lib")
    if os.path.isdir(lib):
        for d in sorted(os.listdir(lib)):
            sp = os.path.join(lib, d, "site-packages")
            if d.startswith("python") and os.path.isdir(sp):
                return sp
    return os.path.join(lib, "python%d.%d" % sys.version_info[:2], "site-packages")


def venv_versions():
    py = os.path.join(VENV, "bin", "python")
    code = ("import importlib.metadata as m, json, sys\n"
            "out = {}\n"
            "for n in sys.argv[1:]:\n"
            "    try: out[n] = m.version(n)\n"
            "    except Exception: pass\n"
            "out['python'] = sys.version.split()[0]\n"
            "print(json.dumps(out))\n")
    names = [req_name(r) for r in read_requirements()] + ["werkzeug"]
    try:
        r = subprocess.run([py, "-c", code] + names, capture_output=True, text=True,
                           timeout=60)
        return json.loads(r.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}


def wsload_binary():
    """Builds tests/bench/wsload.c once per version of its sources (scripts/zig cc -O2).
    Returns (path, None), or (None, why) when it does not build."""
    h = hashlib.sha256()
    for path in WSLOAD_SOURCES:
        with open(path, "rb") as f:
            h.update(f.read())
    digest = h.hexdigest()[:12]
    out = os.path.join(WSLOAD_DIR, "wsload-" + digest)
    if os.access(out, os.X_OK):
        return out, None
    os.makedirs(WSLOAD_DIR, exist_ok=True)
    tmp = "%s.%d.tmp" % (out, os.getpid())
    log("bench: building %s" % os.path.relpath(out, ROOT))
    r = subprocess.run([ZIG, "cc", "-O2", "-Wall", "-Wextra", "-Werror", "-I", ROOT, "-o", tmp]
                       + [p for p in WSLOAD_SOURCES if p.endswith(".c")] + ["-lm"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, "wsload.c did not build: %s" % (r.stderr.strip()[-300:] or r.returncode)
    os.replace(tmp, out)
    return out, None


def uf_probe(path):
    """Runs `uwsgi-fast --help`: returns (set of flags it mentions, error or None)."""
    if not os.path.exists(path):
        shown = os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path
        return set(), "not built (%s missing; run scripts/zig build)" % shown
    try:
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return set(), "cannot run %s --help: %s" % (path, e)
    return help_flags(r.stdout + r.stderr), None


def instruments_of(version_text):
    """Whether a `uwsgi-fast --version` text says the build has the research instruments:
    True, False (built with -Dinstruments=false), or None when it says neither (a build
    older than the option, which always had them... or not: unknown)."""
    for line in version_text.splitlines():
        if line.startswith("instruments:"):
            return not line.startswith("instruments: none")
    return None


def uf_instruments(path):
    """instruments_of() the binary at `path`; None when it cannot be run."""
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return instruments_of(r.stdout)


BARE_PREFIX = os.path.join(TMP, "zout-bare")


def build_bare():
    """Builds uwsgi-fast from this tree without its instruments (scripts/zig build
    -Dinstruments=false) into results/tmp/zout-bare (zig's cache makes a second build
    quick). Returns (binary path, None) or (None, why)."""
    cmd = [os.path.join(ROOT, "scripts", "zig"), "build", "-Dinstruments=false",
           "-p", BARE_PREFIX]
    log("bench: building uwsgi-fast without instruments: %s" % " ".join(cmd[1:]))
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "cannot build it: %s" % e
    if r.returncode != 0:
        return None, "its build failed: %s" % (r.stderr.strip()[-300:] or r.returncode)
    return os.path.join(BARE_PREFIX, "bin", "uwsgi-fast"), None


def help_flags(text):
    """Flags that `--help` documents as options: the ones opening an option line
    ("  -w, --workers INT  ..." or "      --chdir DIR ..."), up to a section that lists
    flags it refuses (gunicorn flags uwsgi-fast names only to reject)."""
    flags = set()
    for line in text.splitlines():
        # the section heading (not indented), not an option's description that says
        # "refused" (--proxy-protocol's does, and stopping there lost every flag after it)
        if "refuse" in line.lower() and not line[:1].isspace():
            break
        m = re.match(r"^\s+(?:-\w,\s+)?(--[a-z][\w-]*)(?:,\s+(--[a-z][\w-]*))?", line)
        if m:
            flags.update(g for g in m.groups() if g)
    return flags


def bare_rss_kb(module):
    """Peak RSS of a bare interpreter that has imported `module` (the RSS target's base)."""
    py = os.path.join(VENV, "bin", "python")
    code = ("import sys; sys.path.insert(0, %r); import %s\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
            % (APPS, module))
    try:
        r = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=60,
                           env=server_env())
        return int(r.stdout.strip())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def machine_description():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    distro = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    wrk_version = ""
    try:
        r = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        wrk_version = (r.stdout + r.stderr).splitlines()[0].split(" Copyright")[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1048576, 1),
        "kernel": platform.release(),
        "distro": distro,
        "python": platform.python_version(),
        "wrk": wrk_version,
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
    }
