"""uwsgi-fast's PEP 517 build backend: `pip install .`, `pip wheel .`, `python -m build`.

Why a backend of our own (docs/architecture.md, "Packaging"): the build is build.zig's,
and what a wheel adds to it is small (find the inputs, run Zig once, zip the binary with
its launcher). scikit-build-core and meson-python drive CMake and Meson, which would put
a second build description beside build.zig; a few hundred lines of stdlib do not.

The wheel holds uwsgi_fast/ (the launcher, the binary in uwsgi_fast/bin/, and _build.py,
written here, which records what the binary was built against) and a .dist-info with
the licences of what is linked in. The sdist holds the checkout's build inputs and
llhttp's sources, so that it builds with no -dev package for llhttp.
"""
import os
import tempfile

from . import archives, prereqs, zigbuild

SOURCE_DIR = os.getcwd()  # PEP 517: hooks run in the source tree


def get_requires_for_build_wheel(config_settings=None):
    return []  # pyproject.toml's build-system.requires is all


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    """The .dist-info without building: pip resolves before it compiles, and a missing
    -dev package is reported by build_wheel, under pip's "Building wheel" line."""
    info, files = archives.dist_info(archives.Project(SOURCE_DIR))
    for path, data in files:
        target = os.path.join(metadata_directory, info, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(data)
    return info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    """config_settings: cpu=native (pip's -C cpu=native) builds for this machine's CPU.
    The default is the architecture's baseline, so that the wheel runs on any machine of
    its platform tag; the standalone build is native."""
    project = archives.Project(SOURCE_DIR)
    inputs = prereqs.find(SOURCE_DIR)
    cpu = (config_settings or {}).get("cpu", "baseline")
    with tempfile.TemporaryDirectory(prefix="uwsgi-fast-wheel-") as prefix:
        binary = zigbuild.build(SOURCE_DIR, prefix, inputs, cpu)
        with open(binary, "rb") as f:
            exe = f.read()
    files = [("uwsgi_fast/bin/uwsgi-fast", exe, True),
             ("uwsgi_fast/_build.py", _build_info(project, inputs).encode(), False)]
    pkg = os.path.join(SOURCE_DIR, "uwsgi_fast")
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py") and name != "_build.py":
            with open(os.path.join(pkg, name), "rb") as f:
                files.append(("uwsgi_fast/" + name, f.read(), False))
    return archives.write_wheel(wheel_directory, project, files)


def build_sdist(sdist_directory, config_settings=None):
    project = archives.Project(SOURCE_DIR)
    vendored = os.path.join(SOURCE_DIR, "llhttp")
    if os.path.isdir(vendored):  # an sdist of an sdist keeps its llhttp/
        extra = {"llhttp/" + n: os.path.join(vendored, n) for n in os.listdir(vendored)}
    else:
        src, inc = prereqs.LLHTTP_SRC, prereqs.LLHTTP_INCLUDE
        if not os.path.exists(os.path.join(src, "llhttp.c")):
            raise prereqs.Missing("uwsgi-fast: the sdist carries llhttp's sources, taken "
                                  "from Debian's node-llhttp: apt-get install node-llhttp")
        extra = archives.llhttp_sources(SOURCE_DIR, src, inc)
    return archives.write_sdist(sdist_directory, project, SOURCE_DIR, extra)


def _build_info(project, inputs):
    return ("# Written by build_backend/uwsgi_fast_build when this wheel was built.\n"
            "VERSION = %r\nPYTHON = %r\nPYTHON_VERSION = %r\nLIBPYTHON = %r\n"
            "LIBPYTHON_PACKAGE = %r\n"
            % (project.version, inputs.python, inputs.python_version, inputs.libpython,
               inputs.libpython_package))
