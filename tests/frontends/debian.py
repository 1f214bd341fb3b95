"""Real front ends the tests and benchmarks need (nginx, HAProxy), from Debian's packages.

A tool is installed with apt-get only when its binary is missing. Nothing installed is
configured or started as a service: each caller runs its own instance from a temporary
directory. Callers decide what a missing tool means (a skipped test, a benchmark row that
says why), so this module only reports. Standard library only.
"""
import os
import shutil
import subprocess


def installed(package):
    """Whether dpkg lists `package` as installed."""
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and "install ok installed" in r.stdout


def install_binary(path, packages):
    """Makes `path` (e.g. /usr/sbin/nginx) executable by installing the first of
    `packages` that provides it. Returns None when it is there, else why it is not."""
    if os.access(path, os.X_OK):
        return None
    name = os.path.basename(path)
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return "%s is not installed and apt-get cannot install it here" % name
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for package in packages:
        if installed(package):
            continue
        try:
            # the lock timeout: another test session may be installing something too
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                            "-o", "DPkg::Lock::Timeout=120", package], env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if os.access(path, os.X_OK):
            return None
    return "apt-get install %s did not give %s" % (" / ".join(packages), path)
