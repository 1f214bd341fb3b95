"""aws/http-desync-guardian's request-smuggling cases (../shared/conformance/desync-guardian/
tests/*.yaml) replayed against the real uwsgi-fast binary.

desync-guardian classifies requests for a proxy: `Severe` must be refused (400 and a
closed connection), `Compliant` must pass, `Ambiguous` and `Acceptable` are left to the
implementation. For every Ambiguous and Acceptable case DECISIONS records what uwsgi-fast
does and why, and the test asserts exactly that; docs/conformance.md shows the same table
(print it with `python tests/conformance/test_desync_corpus.py`). Each case is also sent
split at every byte boundary and byte by byte, and must come out the same.

The request is built from the case as conformance_cases.build_desync_request describes
(Host added when absent, a body matching the declared framing).
"""
import sys

import pytest

from conformance_cases import DESYNC_DIR, desync_cases
from conformance_wire import (Expect, check_bytewise, check_splits, check_whole,
                              conformance_server, problems, split_pool)  # noqa: F401

R, S = "reject", "served"

# What we do with every Ambiguous and Acceptable case, and why.
DECISIONS = {
    "acceptable:0": (R, "space before the colon (`name :`): RFC 9112 5.1 MUST reject"),
    "acceptable:1": (R, "space before the colon in another field: refused like any"),
    "acceptable:2": (R, "control byte \\x01 in a field name: not a token"),
    "acceptable:3": (R, "space before the colon: RFC 9112 5.1 MUST reject"),
    "acceptable:4": (S, "GET with Content-Length: 0 is plain HTTP"),
    "acceptable:5": (S, "HEAD with Content-Length: 0 is plain HTTP"),
    "acceptable:6": (R, "HTTP/0.9 is not served (only 1.0 and 1.1)"),
    "acceptable:7": (R, "no version (HTTP/0.9 form) is not served"),
    "acceptable:8": (R, "HTTP/1.2 is refused: issue 8 serves 1.0 and 1.1 only (RFC 9112 2.3 "
                        "would allow treating it as 1.1)"),
    "ambiguous:0": (R, "whitespace between field name and colon: RFC 9112 5.1 MUST reject"),
    "ambiguous:1": (R, "HTAB between field name and colon: RFC 9112 5.1 MUST reject"),
    "ambiguous:2": (R, "control byte in a field name: not a token"),
    "ambiguous:3": (R, "control bytes in a field name: not a token"),
    "ambiguous:4": (R, "control bytes in a field name: not a token"),
    "ambiguous:5": (R, "control byte in a field name: not a token"),
    "ambiguous:6": (R, "space inside a field name: not a token"),
    "ambiguous:7": (S, "`Transfer_Encoding` is a valid token naming an unknown field; it does "
                       "not frame the body, and names with `_` are dropped from the environ"),
    "ambiguous:8": (S, "`Content_Length`: an unknown field, dropped from the environ"),
    "ambiguous:9": (R, "duplicate Content-Length (even equal): refused, not merged"),
    "ambiguous:10": (R, "Transfer-Encoding with Content-Length: refused (RFC 9112 6.1 allows)"),
    "ambiguous:11": (R, "Transfer-Encoding with Content-Length: refused"),
    "ambiguous:12": (S, "GET with a Content-Length body: framed, read, handed to the app"),
    "ambiguous:13": (S, "GET with a chunked body: framed, read, handed to the app"),
    "ambiguous:14": (S, "HEAD with a Content-Length body: framed and read"),
    "ambiguous:15": (S, "HEAD with a chunked body: framed and read"),
    "ambiguous:16": (R, "whitespace before the colon: RFC 9112 5.1 MUST reject"),
    "ambiguous:17": (R, "line starting with SP is obs-fold: refused"),
    "ambiguous:18": (R, "lines starting with SP are obs-fold: refused"),
    "ambiguous:19": (R, "whitespace before the colon: RFC 9112 5.1 MUST reject"),
    "ambiguous:20": (R, "empty field name"),
    "ambiguous:21": (R, "field name starting with `:`: not a token"),
    "ambiguous:22": (R, "whitespace-only field name (an obs-fold line): refused"),
    "ambiguous:23": (R, "chunked on HTTP/1.0: refused (issue 8)"),
    "ambiguous:24": (R, "HTTP/0.9 is not served"),
    "ambiguous:25": (R, "HTTP/0.9 is not served"),
    "ambiguous:26": (R, "no version (HTTP/0.9 form) is not served"),
    "ambiguous:27": (R, "no version (HTTP/0.9 form) is not served"),
    "ambiguous:28": (R, "non-ASCII letter in a field name: not a token"),
    "ambiguous:29": (R, "non-ASCII letter in a field name: not a token"),
    "ambiguous:30": (S, "`Transfer---Encoding` is a valid token naming an unknown field"),
    "ambiguous:31": (S, "`Transfer___Encoding`: unknown field, dropped from the environ"),
    "ambiguous:32": (R, "line starting with SP is obs-fold: refused"),
    "ambiguous:33": (R, "whitespace before the colon: RFC 9112 5.1 MUST reject"),
    "ambiguous:34": (R, "non-ASCII byte in a field name: not a token"),
    "ambiguous:35": (R, "non-ASCII byte in a field name: not a token"),
    "ambiguous:36": (R, "non-ASCII byte in a field name: not a token"),
    "bad-header-characters:0": (R, "control byte in a field name: not a token"),
    "bad-header-characters:5": (R, "control byte in a field name: not a token"),
    "bad-header-characters:6": (R, "control byte in a field name: not a token"),
    "bad-header-characters:7": (R, "control byte in a field name: not a token"),
    "bad-header-characters:11": (R, "control byte in a field name: not a token"),
    "bad-header-characters:12": (R, "control byte in a field name: not a token"),
    "bad-header-characters:13": (R, "control byte in a field value (RFC 9110 5.5)"),
    "bad-header-characters:14": (R, "control byte in a field value (RFC 9110 5.5)"),
    "edge-cases:3": (R, "control byte in a field value"),
    "edge-cases:4": (R, "control byte in a field value"),
    "edge-cases:7": (R, "HTAB inside the request-target and a control byte in a value"),
    "real-life-test-cases:0": (S, "GET with a Content-Length body: framed, read"),
    "real-life-test-cases:1": (S, "GET with a chunked body: framed, read"),
    "real-life-test-cases:2": (R, "chunked on HTTP/1.0: refused (issue 8)"),
    "real-life-test-cases:3": (R, "duplicate Content-Length: refused"),
    "real-life-test-cases:5": (R, "Transfer-Encoding with Content-Length: refused"),
    "real-life-test-cases:9": (R, "HTAB before the colon: RFC 9112 5.1 MUST reject"),
    "real-life-test-cases:14": (R, "Transfer-Encoding (deflate) with Content-Length"),
    "real-life-test-cases:16": (R, "Transfer-Encoding with Content-Length"),
    "real-life-test-cases:17": (R, "parameters on chunked and Content-Length"),
    "real-life-test-cases:19": (R, "Transfer-Encoding (mixed case) with Content-Length"),
    "real-life-test-cases:23": (R, "Transfer-Encoding (mixed case) with Content-Length"),
    "single-case:0": (R, "Transfer-Encoding with Content-Length: refused"),
    "uri-specific-test-cases:0": (R, "HTAB inside the request-target: refused (a proxy "
                                     "splitting on whitespace reads another target)"),
    "uri-specific-test-cases:1": (R, "trailing space after the version"),
    "uri-specific-test-cases:2": (R, "control byte in the request-target"),
    "uri-specific-test-cases:3": (R, "unescaped spaces in the request-target"),
}

# Compliant cases where our answer differs, with the reason.
DEVIATIONS = {
    "rfc-compliant:10": (R, "`chunked;custom_param`: RFC 9112 7.1, chunked defines no "
                            "parameters and their presence SHOULD be treated as an error "
                            "(llhttp agrees)"),
    "more-compliant-tests:9": (R, "`chunked;custom_param;`: as above"),
    "rfc-compliant:13": (R, "empty request-target: not origin-form (RFC 9112 3.2)"),
}

KNOWN_BUGS = {
}

CASES = desync_cases()


def key(case):
    return f"{case.file[:-5]}:{case.index}"


def expectation(case):
    k = key(case)
    if case.tier == "Severe":
        return Expect("reject", 0, "Severe: 400 and close")
    if k in DEVIATIONS:
        kind, why = DEVIATIONS[k]
    elif case.tier == "Compliant":
        kind, why = S, "Compliant: served"
    else:
        kind, why = DECISIONS[k]
    if kind == S and case.version == "HTTP/1.0":
        kind = "served-close"
    return Expect(kind, 0 if kind == R else 1, why)


def _params(bugs):
    out = []
    for case in CASES:
        marks = []
        if key(case) in bugs:
            marks.append(pytest.mark.xfail(strict=True, reason=bugs[key(case)]))
        out.append(pytest.param(case, marks=marks, id=case.ident))
    return out


def test_every_ambiguous_case_has_a_decision():
    assert CASES, f"no cases under {DESYNC_DIR}: the shared corpora sit beside the checkout"
    open_cases = {key(c) for c in CASES if c.tier in ("Ambiguous", "Acceptable")}
    assert open_cases - set(DECISIONS) == set(), "add these to DECISIONS"
    assert set(DECISIONS) - open_cases == set(), "stale DECISIONS entries"


_whole = {}


def _reference(srv, case):
    if key(case) not in _whole:
        _whole[key(case)] = check_whole(srv.port, case.data, [case.method], expectation(case))
    return _whole[key(case)]


@pytest.mark.parametrize("case", _params(KNOWN_BUGS))
def test_desync_case(case, conformance_server):
    expect = expectation(case)
    out, _ = _reference(conformance_server, case)
    bad = problems(expect, out)
    assert not bad, (f"{case.file}[{case.index}] {case.name!r} ({case.tier})\n"
                     f"request: {case.data[:600]!r}\nexpected: {expect.kind} {expect.why}\n"
                     f"got: {out}\nproblems: {bad}")


@pytest.mark.parametrize("case", _params({}))
def test_desync_case_split(case, conformance_server, split_pool):
    out, secs = _reference(conformance_server, case)
    bad = check_splits(conformance_server.port, case.data, [case.method], expectation(case),
                       out, secs > 0.5, split_pool)
    assert not bad, f"whole: {out}\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("case", _params({}))
def test_desync_case_bytewise(case, conformance_server):
    ref, _ = _reference(conformance_server, case)
    out, sends = check_bytewise(conformance_server.port, case.data, [case.method],
                                expectation(case), ref)
    assert out.same_as(ref), f"whole: {ref}\n{sends} sends: {out}"


def markdown_table():
    """The Ambiguous/Acceptable/deviation table of docs/conformance.md."""
    rows = ["| case | tier | request (what is odd) | uwsgi-fast | why |",
            "|---|---|---|---|---|"]
    for case in CASES:
        k = key(case)
        if k not in DECISIONS and k not in DEVIATIONS:
            continue
        kind, why = DEVIATIONS.get(k) or DECISIONS[k]
        what = "400 + close" if kind == R else "served"
        if k in KNOWN_BUGS:
            what += " (today: served — open bug)"
        name = case.name.replace("|", "\\|")
        rows.append(f"| `{k}` | {case.tier} | {name} | {what} | {why.replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
