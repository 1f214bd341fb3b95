"""Real front ends the tests need (nginx, HAProxy), from Debian's packages: a test that
cannot have one (no apt-get, not root, no reachable package registry) is skipped with the
reason, never failed. The installing is tests/frontends/debian.py's, shared with the
benchmarks.
"""
import pytest

import debian


def debian_binary(path, packages):
    """`path` (e.g. /usr/sbin/nginx), installing the first of `packages` that provides it
    when it is missing; skips the test when none can be installed here."""
    why_not = debian.install_binary(path, packages)
    if why_not:
        pytest.skip(why_not)
    return path
