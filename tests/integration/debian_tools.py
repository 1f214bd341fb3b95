"""Real front ends the tests need (nginx, HAProxy), from Debian's packages.

A tool is installed with apt-get only when its binary is missing; without apt-get, root or
a reachable package registry the test is skipped with the reason, never failed. Nothing
installed is configured or started as a service: each test runs its own instance from a
temporary directory.
"""
import os
import shutil
import subprocess

import pytest


def debian_binary(path, packages):
    """`path` (e.g. /usr/sbin/nginx), installing the first of `packages` that provides it
    when it is missing; skips the test when none can be installed here."""
    if os.access(path, os.X_OK):
        return path
    name = os.path.basename(path)
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip(f"{name} is not installed and apt-get cannot install it here")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for package in packages:
        try:
            # the lock timeout: another test session may be installing something too
            subprocess.run(["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=120",
                            package], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if os.access(path, os.X_OK):
            return path
    pytest.skip(f"apt-get install {' / '.join(packages)} did not give {path}")
