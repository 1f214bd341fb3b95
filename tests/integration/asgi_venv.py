"""The second virtualenv the ASGI framework tests run their applications from.

FastAPI (with Starlette and pydantic), Django and Quart from PyPI, and uvloop, installed
with pip into .deps/asgi-venv, made with an interpreter of the version the binary embeds
(the libpython it links says which). Made once: a stamp file holds the requirements it was
made from, so later sessions pay a file read. Without network or pip the tests that need
it are skipped with the reason, never failed.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, require_binary

VENV = ROOT / ".deps" / "asgi-venv"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements-asgi.txt"
STAMP = VENV / ".asgi-requirements"


def embedded_python():
    """'3.11', from the libpython the binary links, or None."""
    try:
        out = subprocess.run(["ldd", str(require_binary())], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"libpython(\d+\.\d+)", out)
    return m.group(1) if m else None


def asgi_venv():
    """The venv's path, made (or found made) for the embedded CPython; skips the test
    when it cannot be made here."""
    wanted = REQUIREMENTS.read_text()
    if STAMP.is_file() and STAMP.read_text() == wanted:
        return VENV
    version = embedded_python()
    mine = "%d.%d" % sys.version_info[:2]
    if version and version != mine:
        pytest.skip(f"the binary embeds CPython {version}, the tests run on {mine}")
    if not (VENV / "bin" / "python").exists():
        VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
    try:
        r = subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
                           capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip("pip install of the ASGI frameworks took longer than 15 minutes")
    if r.returncode != 0:
        pytest.skip("cannot install the ASGI frameworks: " + (r.stderr.strip().splitlines()
                                                              or ["pip failed"])[-1])
    STAMP.write_text(wanted)
    return VENV
