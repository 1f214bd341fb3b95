"""uwsgi-fast as installed by pip: the server binary, and the launcher that runs it.

The binary (bin/uwsgi-fast beside this file) embeds the shared libpython of the
installation that built the wheel; _build.py, written by the build, says which. What it
cannot know by itself is which environment it serves: the launcher (the `uwsgi-fast`
console script and `python -m uwsgi_fast`) tells it, by setting VIRTUAL_ENV to the venv
it is installed in, which the server takes as --virtualenv's default. So
`.venv/bin/uwsgi-fast app:app` imports from that venv with no flag and no PYTHONPATH.
An explicit --virtualenv still wins (the command line beats the environment).
"""
import os
import sys

try:
    from . import _build
except ImportError:  # _build.py is written into the wheel, never into the checkout
    raise ImportError("uwsgi_fast was imported from a source checkout, which has no built "
                      "server: pip install the checkout (README, \"Running your "
                      "application\"), or run the command from another directory") from None

__version__ = _build.VERSION


def binary() -> str:
    """The path of the packaged server binary."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "uwsgi-fast")


def environment(env=None) -> dict:
    """env (default os.environ) with VIRTUAL_ENV naming this interpreter's venv. Outside
    a venv, env is left as it is: the embedded interpreter then finds this installation's
    site-packages by itself, and a VIRTUAL_ENV the caller set still applies."""
    env = dict(os.environ if env is None else env)
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
    return env


def main(argv=None):
    """Replaces this process with the server (same pid, so signals from a supervisor
    reach the master directly)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not os.path.exists(_build.LIBPYTHON):
        how = ("apt-get install " + _build.LIBPYTHON_PACKAGE if _build.LIBPYTHON_PACKAGE
               else "reinstall Python %s with its shared library" % _build.PYTHON_VERSION)
        sys.exit("uwsgi-fast: %s is missing (the server embeds the libpython of %s): %s"
                 % (_build.LIBPYTHON, _build.PYTHON, how))
    exe = binary()
    os.execve(exe, [exe] + args, environment())
