#!/usr/bin/env python3
"""Turns a py-spy raw profile of a uwsgi-fast worker into a flame graph SVG and a summary.

    flame.py RAW --maps MAPS --svg OUT.svg [--summary OUT.txt] [--title TEXT] [--note TEXT]

RAW is `py-spy record --native --format raw` output: one collapsed stack per line, root
first, frames joined by ';', then a sample count. py-spy names Python frames and the
frames of libraries with symbol tables, but leaves the frames of the uwsgi-fast binary as
bare addresses ("0x100eaef (?)"); MAPS (a copy of the worker's /proc/PID/maps taken while
it ran) lets this script name them: addr2line with inlining for objects with DWARF (our
binary is built with debug info), the symbol table (nm) for the others. What cannot be
named becomes "[object]".

The SVG is drawn here (no third-party renderer): one rectangle per frame, width in
proportion to samples, root at the bottom; hover shows the frame, its object and its
share. Colours: Python code green, uwsgi-fast C red, libpython yellow, other shared
objects blue. The summary lists where samples end (self time) by kind and by frame, and
the frames that carry the most samples (inclusive time).
"""

import argparse
import bisect
import collections
import html
import os
import re
import subprocess
import sys
import zlib

HEX_FRAME = re.compile(r"^0x([0-9a-fA-F]+) \((.*)\)$")
NAMED_FRAME = re.compile(r"^(.*) \(([^()]*)\)$")


# ---------------------------------------------------------------------------------------
# Symbolization


class Mapping:
    def __init__(self, start, end, offset, path):
        self.start, self.end, self.offset, self.path = start, end, offset, path


def read_maps(path):
    maps = []
    with open(path) as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) < 6 or not parts[5].startswith("/"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            maps.append(Mapping(lo, hi, int(parts[2], 16), parts[5].strip()))
    maps.sort(key=lambda m: m.start)
    return maps


def elf_is_exec(path):
    """True for a non-PIE executable (ET_EXEC): its addresses are used as they are."""
    try:
        with open(path, "rb") as f:
            head = f.read(18)
        return head[:4] == b"\x7fELF" and int.from_bytes(head[16:18], "little") == 2
    except OSError:
        return False


def has_dwarf(path):
    try:
        out = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True,
                             timeout=30).stdout
        return ".debug_info" in out
    except (OSError, subprocess.TimeoutExpired):
        return False


class SymbolTable:
    """Function symbols of one object from nm (sizes included), for address lookups."""

    def __init__(self, path):
        self.starts, self.entries = [], []
        rows = []
        for args in (["nm", "-S", "--defined-only", path],
                     ["nm", "-S", "-D", "--defined-only", path]):
            try:
                out = subprocess.run(args, capture_output=True, text=True, timeout=60).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            for line in out.splitlines():
                p = line.split()
                if len(p) == 4 and p[2] in "tTwWiI":
                    rows.append((int(p[0], 16), int(p[1], 16), p[3]))
            if rows:
                break
        rows.sort()
        for start, size, name in rows:
            self.starts.append(start)
            self.entries.append((start, size, name.split("@")[0]))

    def lookup(self, addr):
        i = bisect.bisect_right(self.starts, addr) - 1
        if i >= 0:
            start, size, name = self.entries[i]
            if start <= addr < start + max(size, 1):
                return name
        return None


class Symbolizer:
    def __init__(self, maps):
        self.maps = maps
        self.starts = [m.start for m in maps]
        self.tables = {}
        self.pending = collections.defaultdict(set)  # object -> {address}
        self.resolved = {}  # (object, address) -> [(name, file)] innermost first

    def locate(self, addr):
        i = bisect.bisect_right(self.starts, addr) - 1
        if i >= 0 and self.maps[i].start <= addr < self.maps[i].end:
            m = self.maps[i]
            vaddr = addr if elf_is_exec_cached(m.path) else addr - m.start + m.offset
            return m.path, vaddr
        return None, None

    def want(self, addr, leaf):
        path, vaddr = self.locate(addr)
        if path:
            # A caller's address is a return address: step back into the call.
            self.pending[path].add(vaddr if leaf else vaddr - 1)
        return path, (vaddr if leaf else vaddr - 1) if path else None

    def run(self):
        for path, addrs in self.pending.items():
            addrs = sorted(addrs)
            if has_dwarf(path):
                self.resolved.update(addr2line(path, addrs))
                missing = [a for a in addrs if (path, a) not in self.resolved]
            else:
                missing = addrs
            if missing:
                table = self.tables.setdefault(path, SymbolTable(path))
                for a in missing:
                    name = table.lookup(a)
                    if name:
                        self.resolved[(path, a)] = [(name, "")]

    def names(self, path, vaddr):
        return self.resolved.get((path, vaddr))


_exec_cache = {}


def elf_is_exec_cached(path):
    if path not in _exec_cache:
        _exec_cache[path] = elf_is_exec(path)
    return _exec_cache[path]


def addr2line(path, addrs):
    """{(path, addr): [(function, file:line), ...]} innermost inlined frame first."""
    out = {}
    for i in range(0, len(addrs), 500):
        chunk = addrs[i:i + 500]
        try:
            text = subprocess.run(["addr2line", "-a", "-f", "-i", "-C", "-e", path]
                                  + ["0x%x" % a for a in chunk], capture_output=True,
                                  text=True, timeout=120).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        cur = None
        lines = text.splitlines()
        j = 0
        while j < len(lines):
            ln = lines[j]
            if ln.startswith("0x") and re.fullmatch(r"0x[0-9a-f]+", ln):
                cur = int(ln, 16)
                out[(path, cur)] = []
                j += 1
                continue
            func = ln
            loc = lines[j + 1] if j + 1 < len(lines) else ""
            j += 2
            if cur is not None and func != "??":
                out[(path, cur)].append((func, loc))
        for key in [k for k, v in out.items() if not v]:
            del out[key]
    return out


# ---------------------------------------------------------------------------------------
# Stacks


def kind_of(obj, binary):
    if obj.endswith(".py") or obj == "<frozen>" or obj.startswith("<"):
        return "py"
    if binary and os.path.basename(obj) == os.path.basename(binary):
        return "uf"
    if "libpython" in obj:
        return "libpython"
    return "lib"


def parse_raw(path):
    stacks = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            stack, _, count = line.rpartition(" ")
            try:
                stacks.append((stack.split(";"), int(count)))
            except ValueError:
                continue
    return stacks


def resolve(stacks, maps_path, binary):
    """Rewrites each frame as (name, object, kind); drops the unwinder's garbage below main."""
    sym = Symbolizer(read_maps(maps_path)) if maps_path else None
    staged = []
    for frames, count in stacks:
        out = []
        for i, fr in enumerate(frames):
            leaf = i == len(frames) - 1
            m = HEX_FRAME.match(fr)
            if m and sym:
                path, vaddr = sym.want(int(m.group(1), 16), leaf)
                out.append(("addr", path, vaddr, m.group(2)))
            else:
                nm = NAMED_FRAME.match(fr)
                name, obj = (nm.group(1), nm.group(2)) if nm else (fr, "")
                out.append(("named", name, obj))
        staged.append((out, count))
    if sym:
        sym.run()
    result = []
    for frames, count in staged:
        rows = []
        for fr in frames:
            if fr[0] == "named":
                _, name, obj = fr
                rows.append((name, obj, kind_of(obj, binary)))
                continue
            _, path, vaddr, shown = fr
            names = sym.names(path, vaddr) if path else None
            obj = os.path.basename(path) if path else (shown if shown != "?" else "?")
            if names:
                for func, loc in reversed(names):  # outermost first
                    # file name without the line: a function is one frame, not one per line
                    where = os.path.basename(loc.split(" ")[0]).split(":")[0] if loc else obj
                    rows.append((func, where if where and not where.startswith("?") else obj,
                                 kind_of(path, binary)))
            else:
                rows.append(("[%s]" % obj, obj, "lib" if path else "unknown"))
        # Frames below main are the unwinder walking past the C runtime's entry.
        for k in range(len(rows) - 1, -1, -1):
            if rows[k][0] == "main" and rows[k][2] == "uf":
                rows = rows[k:]
                break
        result.append((rows, count))
    return result


# ---------------------------------------------------------------------------------------
# SVG


class Node:
    __slots__ = ("name", "obj", "kind", "count", "children")

    def __init__(self, name, obj, kind):
        self.name, self.obj, self.kind = name, obj, kind
        self.count = 0
        self.children = {}


def build_tree(stacks):
    root = Node("all", "", "root")
    for frames, count in stacks:
        root.count += count
        node = root
        for name, obj, kind in frames:
            key = (name, obj)
            child = node.children.get(key)
            if child is None:
                child = node.children[key] = Node(name, obj, kind)
            child.count += count
            node = child
    return root


def depth_of(node):
    return 1 + max((depth_of(c) for c in node.children.values()), default=0)


def colour(kind, name):
    h = zlib.crc32(name.encode()) % 1000 / 1000.0
    if kind == "py":
        return "rgb(%d,%d,%d)" % (80 + 60 * h, 190 + 40 * h, 80 + 40 * h)
    if kind == "uf":
        return "rgb(%d,%d,%d)" % (225 + 25 * h, 90 + 80 * h, 60 + 30 * h)
    if kind == "libpython":
        return "rgb(%d,%d,%d)" % (220 + 30 * h, 190 + 50 * h, 60 + 40 * h)
    if kind == "lib":
        return "rgb(%d,%d,%d)" % (90 + 50 * h, 150 + 50 * h, 220 + 30 * h)
    if kind == "kernel":
        return "rgb(%d,%d,%d)" % (200 + 40 * h, 140 + 50 * h, 180 + 50 * h)
    return "rgb(190,190,190)"


def render_svg(root, title, subtitle, out):
    width, row, pad = 1200, 17, 10
    # The subtitle is long (build, load, CPU shares): wrap it at "; " to fit the width.
    sub_lines, cur = [], ""
    for piece in subtitle.split("; "):
        if cur and len(cur) + len(piece) > 170:
            sub_lines.append(cur + ";")
            cur = piece
        else:
            cur = piece if not cur else cur + "; " + piece
    sub_lines.append(cur)
    top = 30 + 16 * len(sub_lines)
    depth = depth_of(root)
    height = top + depth * row + pad + 20
    total = root.count or 1
    scale = (width - 2 * pad) / total
    parts = [
        '<?xml version="1.0" standalone="no"?>',
        '<svg version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" '
        'xmlns="http://www.w3.org/2000/svg" font-family="Verdana, sans-serif" font-size="11">'
        % (width, height, width, height),
        '<rect x="0" y="0" width="%d" height="%d" fill="#f8f8f8"/>' % (width, height),
        '<text x="%d" y="20" font-size="15" text-anchor="middle">%s</text>'
        % (width / 2, html.escape(title)),
    ]
    for i, text in enumerate(sub_lines):
        parts.append('<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text>'
                     % (width / 2, 38 + 16 * i, html.escape(text)))

    def draw(node, x, level):
        w = node.count * scale
        if w < 0.3:
            return
        y = height - pad - 20 - (level + 1) * row
        share = 100.0 * node.count / total
        label = node.name if node.kind == "root" else "%s (%s)" % (node.name, node.obj)
        tip = "%s — %d samples, %.2f%%" % (label, node.count, share)
        text = ""
        chars = int((w - 6) / 6.5)
        if chars >= 3:
            shown = node.name if len(node.name) <= chars else node.name[:chars - 2] + ".."
            text = '<text x="%.1f" y="%.1f">%s</text>' % (x + 3, y + row - 5,
                                                          html.escape(shown))
        parts.append('<g><title>%s</title><rect x="%.1f" y="%.1f" width="%.1f" height="%d" '
                     'fill="%s" rx="2"/>%s</g>' % (html.escape(tip), x, y, w, row - 1,
                                                   colour(node.kind, node.name), text))
        cx = x
        for key in sorted(node.children):
            child = node.children[key]
            draw(child, cx, level + 1)
            cx += child.count * scale

    draw(root, pad, 0)
    legend = [("Python code", "py"), ("uwsgi-fast (C)", "uf"), ("libpython", "libpython"),
              ("other shared objects", "lib"), ("kernel", "kernel")]
    lx = pad
    for text, kind in legend:
        parts.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                     '<text x="%d" y="%d">%s</text>' % (lx, height - 16, colour(kind, ""),
                                                        lx + 16, height - 6, text))
        lx += 30 + 7 * len(text)
    parts.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")


# ---------------------------------------------------------------------------------------
# Summary

KIND_NAMES = {"py": "Python code (app and libraries, interpreter time included)",
              "uf": "uwsgi-fast C code", "libpython": "libpython C functions",
              "lib": "other shared objects (libc, liburing: syscalls end here)",
              "kernel": "kernel", "unknown": "unresolved"}


def summary(stacks, title, note):
    total = sum(c for _, c in stacks) or 1
    by_kind = collections.Counter()
    self_time = collections.Counter()
    inclusive = collections.Counter()
    for frames, count in stacks:
        if not frames:
            continue
        name, obj, kind = frames[-1]
        by_kind[kind] += count
        self_time["%s (%s)" % (name, obj)] += count
        for fr in set("%s (%s)" % (n, o) for n, o, _ in frames):
            inclusive[fr] += count
    lines = [title, "=" * len(title)]
    if note:
        lines.append(note)
    lines += ["", "%d samples" % total, "", "Where samples end (self time), by kind:"]
    for kind, count in by_kind.most_common():
        lines.append("  %5.1f%%  %s" % (100.0 * count / total, KIND_NAMES.get(kind, kind)))
    lines += ["", "Top frames by self time:"]
    for fr, count in self_time.most_common(20):
        lines.append("  %5.1f%%  %s" % (100.0 * count / total, fr))
    lines += ["", "Top frames by inclusive time:"]
    for fr, count in inclusive.most_common(30):
        lines.append("  %5.1f%%  %s" % (100.0 * count / total, fr))
    return "\n".join(lines) + "\n"


def parse_perf_script(path):
    """Stacks from `perf script` text (perf record --call-graph dwarf): kernel frames, our
    C frames (inlined ones included) and libpython's C frames; Python functions appear
    as the interpreter (_PyEval_EvalFrameDefault), which is what py-spy adds. Frames
    below main (the C runtime's start-up) are dropped."""
    stacks = collections.Counter()
    frames = None

    def flush():
        if not frames:
            return
        # An inlined frame belongs to the object of the frame it was inlined into (the
        # next line down).
        objs = [o for _, o in frames]
        for i in range(len(frames) - 2, -1, -1):
            if objs[i] == "(inlined)":
                objs[i] = objs[i + 1]
        rows = []
        for (sym, _), obj in zip(frames, objs):
            if obj == "[kernel.kallsyms]":
                rows.append((sym, "kernel", "kernel"))
                continue
            base = os.path.basename(obj.strip("()[]")) or "?"
            kind = "uf" if obj.startswith("/") and elf_is_exec_cached(obj) else (
                "libpython" if "libpython" in obj else "lib")
            name = sym if sym != "[unknown]" else "[%s]" % base
            if rows and rows[-1][0] == name == "[%s]" % base:
                continue  # one box for a run of unnamed frames of one object
            rows.append((name, base, kind))
        rows.reverse()  # root first
        for k in range(len(rows) - 1, -1, -1):
            if rows[k][0] == "main" and rows[k][2] == "uf":
                rows = rows[k:]
                break
        stacks[tuple(rows)] += 1

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                flush()
                frames = None
                continue
            if not line.startswith((" ", "\t")):
                flush()
                frames = []
                continue
            if frames is None:
                continue
            parts = line.strip().split(" ", 1)
            if len(parts) < 2:
                continue
            sym, _, obj = parts[1].rpartition(" (")
            obj = obj[:-1] if obj.endswith(")") else obj
            if obj == "inlined":
                obj = "(inlined)"
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            frames.append((sym, obj))
    flush()
    return [(list(k), v) for k, v in stacks.items()]


def main(argv):
    ap = argparse.ArgumentParser(description="py-spy raw profile -> flame graph SVG + summary")
    ap.add_argument("raw")
    ap.add_argument("--perf", action="store_true",
                    help="RAW is `perf script` output (perf record --call-graph dwarf) "
                         "instead of py-spy raw")
    ap.add_argument("--maps", help="copy of the profiled process's /proc/PID/maps")
    ap.add_argument("--binary", default="uwsgi-fast", help="the server binary's path")
    ap.add_argument("--svg", required=True)
    ap.add_argument("--summary")
    ap.add_argument("--title", default="uwsgi-fast worker")
    ap.add_argument("--note", default="")
    ap.add_argument("--user-only", action="store_true",
                    help="leave out samples that end inside liburing (a system call)")
    args = ap.parse_args(argv)
    if args.perf:
        stacks = parse_perf_script(args.raw)
    else:
        stacks = resolve(parse_raw(args.raw), args.maps, args.binary)
    if args.user_only:
        # py-spy counts a thread inside io_uring_enter as busy or idle depending on what
        # /proc says at the instant it looks, so the share of those samples swings from
        # run to run. Leaving them out gives a stable picture of user-space time; the
        # kernel's share comes from /proc and perf instead.
        kept = [(f, c) for f, c in stacks if not (f and f[-1][1].startswith("liburing"))]
        dropped = sum(c for _, c in stacks) - sum(c for _, c in kept)
        if dropped:
            args.note += "; %d samples inside io_uring_enter left out (see the -perf " \
                         "graph)" % dropped
        stacks = kept
    total = sum(c for _, c in stacks)
    if not total:
        print("flame: no samples in %s" % args.raw, file=sys.stderr)
        return 1
    render_svg(build_tree(stacks), args.title, "%d samples. %s" % (total, args.note), args.svg)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(summary(stacks, args.title, args.note))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
