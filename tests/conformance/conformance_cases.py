"""Readers for the two public conformance corpora in ../shared/conformance/.

Nothing here talks to a server: it turns the upstream files into raw request bytes and
an expectation, for the pytest harness beside it and for the fuzz seed-corpus builder
(tests/fuzz/make_seeds.py). The data is read in place and never copied into the repo.

llhttp (test/request/*.md): each test is a heading, a `<!-- meta={...} -->` comment,
an ```http block and a ```log block. The http block is decoded exactly as upstream's
test/md-test.ts does it (trailing newline dropped, backslash-newline joins lines, every
newline becomes CRLF, then the escapes \\r \\n \\t \\f \\xHH and octal \\NNN, and finally
the whole string is encoded as UTF-8 -- so `\\xff` is the two bytes C3 BF, as upstream).
The log block gives the outcome: how many `message complete` lines, and whether it ends
in `error code=N reason="..."`.

desync-guardian (tests/*.yaml): a method, uri, version and header list with the tier a
smuggling-aware proxy should assign. We build the request line and headers as written
(UTF-8, like the Rust strings upstream) and add what a server needs to answer at all:
a Host header when the case has none, and the body its framing headers announce.
"""
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "conformance"
LLHTTP_DIR = SHARED / "llhttp" / "test" / "request"
DESYNC_DIR = SHARED / "desync-guardian" / "tests"


# ---- llhttp ----------------------------------------------------------------------------

@dataclass
class LlhttpCase:
    file: str                 # "content-length.md"
    line: int                 # 1-based line of the ```http block
    name: str                 # heading text
    meta: dict
    data: bytes               # the request bytes
    completes: int            # `message complete` lines in the log
    error: str | None         # 'code=N reason="..."' when the log ends in an error
    log: list = field(default_factory=list)

    @property
    def mode(self):
        return self.meta.get("type", "")

    @property
    def ident(self):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-").lower()[:60]
        return f"{self.file[:-3]}:{self.line}:{slug}"

    @property
    def ends_incomplete(self):
        """The log stops in the middle of a message (no final complete, no error)."""
        if self.error:
            return False
        tail = [ln for ln in self.log if not ln.endswith(" pause") and " reset" not in ln
                and not ln.startswith("off=NULL finish=")]
        return not tail or not tail[-1].endswith("message complete")


def decode_llhttp_input(text):
    """The request bytes of one ```http block, decoded the way upstream's md-test.ts does."""
    s = re.sub(r"\n\Z", "", text)  # JS `$`: the very end only
    s = re.sub(r"\\(\r\n|\r|\n)", "", s)
    s = re.sub(r"\r\n|\r|\n", "\r\n", s)
    s = s.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t").replace("\\f", "\f")
    s = re.sub(r"\\x([0-9a-fA-F]+)", lambda m: chr(int(m.group(1), 16)), s)
    s = re.sub(r"\\([0-7]{1,3})", lambda m: chr(int(m.group(1), 8)), s)
    if "${" in s:
        raise ValueError("inline JavaScript in an http block is not supported")
    return s.encode("utf-8")


_META = re.compile(r"<!--\s*meta=(\{.*?\})\s*-->")
_ERROR = re.compile(r"^off=\S+ error (code=\d+ reason=.*)$")


def read_llhttp_file(path):
    cases = []
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    heading, meta, i = "", None, 0
    http = None  # (line, text) of the pending http block
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("#"):
            heading = ln.lstrip("#").strip()
        elif _META.search(ln):
            meta = json.loads(_META.search(ln).group(1))
        elif ln.startswith("```"):
            kind = ln[3:].strip()
            start = i
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            text = "\n".join(body) + "\n"
            if kind == "http":
                http = (start + 1, text)
            elif kind == "log" and http is not None:
                log = [x.rstrip() for x in body if x.strip()]
                error = None
                if log:
                    m = _ERROR.match(log[-1])
                    error = m.group(1) if m else None
                cases.append(LlhttpCase(
                    file=Path(path).name, line=http[0], name=heading, meta=meta or {},
                    data=decode_llhttp_input(http[1]),
                    completes=sum(1 for x in log if x.endswith(" message complete")),
                    error=error, log=log))
                http, meta = None, None
        i += 1
    return cases


def llhttp_cases():
    out = []
    for path in sorted(LLHTTP_DIR.glob("*.md")):
        out += read_llhttp_file(path)
    return out


# ---- desync-guardian -------------------------------------------------------------------

@dataclass
class DesyncCase:
    file: str
    index: int                # position in its file
    name: str
    tier: str                 # Compliant, Acceptable, Ambiguous, Severe
    reason: str
    method: str
    uri: str
    version: str
    headers: list             # [(name, value)] as strings
    data: bytes               # the request bytes as sent
    body_kind: str            # "none", "chunked", "length"

    @property
    def ident(self):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-").lower()[:60]
        return f"{self.file[:-5]}:{self.index}:{slug}"


def _chunked_last(value):
    """True if the last transfer coding named in value is chunked (parameters ignored)."""
    codings = [c.split(";")[0].strip(" \t").lower() for c in value.split(",")]
    return bool(codings) and codings[-1] == "chunked"


def build_desync_request(method, uri, version, headers):
    """(bytes, body_kind) for one case: request line, Host when absent, the headers as
    given (`name: value`), and a body matching the framing a strict reader would find
    (a terminating chunk for a final chunked coding, else Content-Length bytes)."""
    line = f"{method} {uri}" + (f" {version}" if version else "")
    head = [line]
    if not any(n.lower() == "host" for n, _ in headers):
        head.append("Host: localhost")
    head += [f"{n}: {v}" for n, v in headers]
    raw = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8")
    te = [v for n, v in headers if n.lower() == "transfer-encoding"]
    cl = [v.strip(" \t") for n, v in headers if n.lower() == "content-length"]
    if te and _chunked_last(te[-1]):
        return raw + b"0\r\n\r\n", "chunked"
    if cl and all(v.isdigit() for v in cl) and len(set(cl)) == 1 and int(cl[0]) <= 8 << 20:
        return raw + b"x" * int(cl[0]), "length"
    return raw, "none"


def desync_cases():
    import yaml  # PyYAML, from tests/requirements.txt

    out = []
    for path in sorted(DESYNC_DIR.glob("*.yaml")):
        for idx, t in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or []):
            headers = [(str(h["name"]), str(h["value"])) for h in t.get("headers") or []]
            method, uri = str(t["method"]), str(t["uri"])
            version = str(t.get("version") or "")
            data, body_kind = build_desync_request(method, uri, version, headers)
            out.append(DesyncCase(
                file=path.name, index=idx, name=str(t["name"]), tier=t["expected"]["tier"],
                reason=str(t["expected"].get("reason", "")), method=method, uri=uri,
                version=version, headers=headers, data=data, body_kind=body_kind))
    return out


if __name__ == "__main__":  # a quick census: python3 tests/conformance/conformance_cases.py
    from collections import Counter

    ll = llhttp_cases()
    print("llhttp:", Counter(c.mode for c in ll))
    print("  strict request:", Counter(
        ("error" if c.error else "incomplete" if c.ends_incomplete else "ok")
        for c in ll if c.mode == "request"))
    ds = desync_cases()
    print("desync-guardian:", Counter(c.tier for c in ds))
