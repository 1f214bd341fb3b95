"""The one Zig run behind a wheel: build.zig with the wheel's options, into a scratch prefix.

The wheel's binary is the standalone one (same build.zig, same sources) with three
options set (and the CPU model: baseline unless asked): -Dpython names the installation whose libpython it embeds, -Dstatic-deps
links liburing and mimalloc from archives, and llhttp comes from the sdist when it has
it. The Zig cache stays where `scripts/zig build` keeps it (.zig-cache in the source
tree; pip builds a checkout in place), so a rebuild recompiles only what changed.
"""
import os
import subprocess
import sys

from .prereqs import Inputs


def build(source_dir: str, prefix: str, inputs: Inputs, cpu: str) -> str:
    """Builds into prefix for the CPU model cpu (Zig's names: "baseline", "native", ...);
    returns the binary's path. Zig's output goes to stderr, which pip shows when the
    build fails (and with -v)."""
    cmd = [
        sys.executable, "-m", "ziglang", "build", "--summary", "none",
        "-p", prefix,
        "-Dcpu=" + cpu,
        "-Dpython=" + inputs.python,
        "-Dstatic-deps=true",
        "-Dmimalloc-archive=" + inputs.mimalloc_archive,
        "-Dmimalloc-include=" + inputs.mimalloc_include,
        "-Dllhttp-src=" + inputs.llhttp_src,
        "-Dllhttp-include=" + inputs.llhttp_include,
    ]
    print("uwsgi-fast: " + " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, cwd=source_dir, stdout=sys.stderr, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit("uwsgi-fast: zig build failed (exit %d); its messages are above"
                         % r.returncode)
    return os.path.join(prefix, "bin", "uwsgi-fast")
