#!/usr/bin/env bash
# Installs what building and testing uwsgi-fast needs, and nothing twice:
#   Debian packages (compiler deps, liburing, mimalloc, llhttp sources, wrk),
#   a project-local venv .venv with the pinned Zig and the test dependencies.
# Usage: scripts/setup.sh [--tests]      (idempotent; fast when all is present)
set -euo pipefail
cd "$(dirname "$0")/.."

ZIG_VERSION=0.14.1
want_tests=0
[ "${1:-}" = "--tests" ] && want_tests=1

# gcc: Zig's C compiler finds the system's include directories by asking the system's cc;
# systemtap-sdt-dev: <sys/sdt.h>, the USDT probes (common/probes.h); zlib1g-dev: WebSocket
# permessage-deflate (src/wsdeflate.c)
apt_packages=(gcc liburing-dev libmimalloc-dev node-llhttp systemtap-sdt-dev zlib1g-dev wrk
              ca-certificates)
# the format check (scripts/check-format) pins the formatter Debian 12 ships; the epoll
# engine's sendfile test watches a worker's system calls with strace; the probes' test
# lists them with readelf and attaches to them with bpftrace
[ "$want_tests" = 1 ] && apt_packages+=(clang-format-14 strace binutils bpftrace)
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3 python3-venv python3-dev)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_packages+=(python3-venv)
python3 - <<'PY' >/dev/null 2>&1 || apt_packages+=(python3-dev)
import sysconfig, os, sys
inc = sysconfig.get_paths()['include']
sys.exit(0 if os.path.exists(os.path.join(inc, 'Python.h')) and sysconfig.get_config_var('Py_ENABLE_SHARED') else 1)
PY

missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
if ! .venv/bin/python -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION"; then
    echo "setup: installing ziglang==$ZIG_VERSION into .venv"
    .venv/bin/pip install -q "ziglang==$ZIG_VERSION"
fi
if [ "$want_tests" = 1 ] && ! cmp -s tests/requirements.txt .venv/.tests-installed 2>/dev/null; then
    echo "setup: installing test dependencies into .venv"
    .venv/bin/pip install -q -r tests/requirements.txt
    cp tests/requirements.txt .venv/.tests-installed
fi
