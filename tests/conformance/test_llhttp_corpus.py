"""llhttp's own request tests (../shared/conformance/llhttp/test/request/*.md, llhttp 9.4.2)
replayed against the real uwsgi-fast binary.

Every case in a strict mode (`request`, and the three `request-finish` cases, which are
strict too) is sent whole, split in two at every byte boundary, and byte by byte. The
expectation comes from llhttp's log (see conformance_wire.Expect): a case llhttp parses
must be served (one 2xx per `message complete`), a case it rejects must get a 4xx and a
closed connection. Where our answer rightly differs from llhttp's log, DEVIATIONS says
what we do and why; where the server is wrong today, KNOWN_BUGS marks the case xfail
(strict: fixing the server turns it into a failure that asks for the mark's removal).

uwsgi-fast finds request lines, field lines and chunks itself and gives llhttp (Debian's
8.1) only the field lines of each head (see src/http.c), so the answers below are ours,
not llhttp 8.1's.
"""
import re

import pytest

from conformance_cases import llhttp_cases
from conformance_wire import (Expect, check_bytewise, check_splits, check_whole,
                              conformance_server, problems, split_pool)  # noqa: F401

# llhttp error codes that are not "this request is malformed" for a server
DATA_AFTER_CLOSE = 5        # HPE_CLOSED_CONNECTION: bytes after a Connection: close message
PAUSED_UPGRADE = 22         # HPE_PAUSED_UPGRADE: CONNECT or Upgrade, llhttp hands over

# Cases where uwsgi-fast's right answer differs from what llhttp's log implies.
DEVIATIONS = {
    "sample:317": Expect("reject", 0, "HTTP/0.9 (no version) is refused: only HTTP/1.0 and "
                         "1.1 are served (issue 8); llhttp parses it"),
    "method:375": Expect("reject", 0, "ICE/1.0 is not HTTP: a WSGI server must not serve it "
                         "as HTTP/1.0; llhttp parses SOURCE over ICE"),
    "method:405": Expect("reject", 0, "RTSP/1.0 is not HTTP; llhttp parses it"),
    "method:433": Expect("reject", 0, "RTSP/1.0 is not HTTP; llhttp parses it"),
    "method:138": Expect("reject", 0, "M-SEARCH * (SSDP): the asterisk-form is for OPTIONS "
                         "only (RFC 9112 3.2.4); llhttp parses it"),
    "invalid:69": Expect("served-close", 1, "ANNOUNCE over HTTP/1.0: any token is a method (RFC "
                         "9110 9.1), the application answers 405/501; llhttp refuses RTSP "
                         "methods over HTTP"),
    "invalid:359": Expect("served", 1, "MKCOLA: any token is a method (RFC 9110 9.1); "
                          "llhttp knows only the methods in its table"),
    "uri:151": Expect("served", 1, "raw bytes >= 0x80 in the target are passed on (issue "
                      "15: nginx and gunicorn do; PATH_INFO carries them as latin-1, PEP "
                      "3333); control bytes are refused; llhttp's strict mode refuses both"),
}

KNOWN_BUGS = {
}

# Cases served correctly when sent whole but not when split.
SPLIT_BUGS = {
}

SKIPS = {
    "content-length:447": "skipBody: tests llhttp's on_headers_complete returning 1 (skip "
                          "the body); a server always reads a declared body",
}


def key(case):
    return ":".join(case.ident.split(":")[:2])


def _flags_of_last_message(case):
    heads = [ln for ln in case.log if " headers complete " in ln]
    if not heads:
        return None
    m = re.search(r"v=(\d+)/(\d+) flags=([0-9a-fA-F]+)", heads[-1])
    return (int(m.group(1)), int(m.group(2)), int(m.group(3), 16)) if m else None


def expectation(case):
    if key(case) in DEVIATIONS:
        return DEVIATIONS[key(case)]
    if case.error:
        code = int(re.match(r"code=(\d+)", case.error).group(1))
        if code == DATA_AFTER_CLOSE:
            return Expect("served-close", case.completes,
                          "answer the Connection: close message, close, ignore the rest")
        if code == PAUSED_UPGRADE:
            return Expect("upgrade", case.completes,
                          "no Upgrade/CONNECT support: served like any request")
        return Expect("reject", case.completes)
    if case.ends_incomplete:
        return Expect("incomplete", case.completes)
    flags = _flags_of_last_message(case)
    close = flags is not None and (flags[2] & 0x2 or ((flags[0], flags[1]) == (1, 0)
                                                      and not flags[2] & 0x1))
    return Expect("served-close" if close else "served", case.completes)


def methods_of(case):
    return re.findall(r'span\[method\]="([^"]*)"', "\n".join(case.log)) or ["GET"]


def _params(bugs):
    out = []
    for case in llhttp_cases():
        marks = []
        if case.mode.startswith("request-lenient"):
            marks.append(pytest.mark.skip(reason=f"lenient mode not enabled ({case.mode})"))
        elif case.mode not in ("request", "request-finish"):
            marks.append(pytest.mark.skip(reason=f"not a request case ({case.mode})"))
        elif key(case) in SKIPS:
            marks.append(pytest.mark.skip(reason=SKIPS[key(case)]))
        elif key(case) in bugs:
            marks.append(pytest.mark.xfail(strict=True, reason=bugs[key(case)]))
        out.append(pytest.param(case, marks=marks, id=case.ident))
    return out


_whole = {}   # key -> (outcome, seconds): the reference the split runs are compared with


def _reference(srv, case):
    if key(case) not in _whole:
        _whole[key(case)] = check_whole(srv.port, case.data, methods_of(case),
                                        expectation(case))
    return _whole[key(case)]


@pytest.mark.parametrize("case", _params(KNOWN_BUGS))
def test_llhttp_case(case, conformance_server):
    expect = expectation(case)
    out, _ = _reference(conformance_server, case)
    bad = problems(expect, out)
    assert not bad, (f"{case.file}:{case.line} {case.name!r}\nrequest: {case.data!r}\n"
                     f"llhttp: {case.error or 'message complete x%d' % case.completes}\n"
                     f"expected: {expect.kind} n={expect.n} {expect.why}\n"
                     f"got: {out}\nproblems: {bad}")


@pytest.mark.parametrize("case", _params(SPLIT_BUGS))
def test_llhttp_case_split(case, conformance_server, split_pool):
    """Split in two at each byte: the outcome is the same as sent whole."""
    out, secs = _reference(conformance_server, case)
    bad = check_splits(conformance_server.port, case.data, methods_of(case), expectation(case),
                       out, secs > 0.5, split_pool)
    assert not bad, f"whole: {out}\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("case", _params(SPLIT_BUGS))
def test_llhttp_case_bytewise(case, conformance_server):
    """Byte by byte: the outcome is the same as sent whole."""
    ref, _ = _reference(conformance_server, case)
    out, sends = check_bytewise(conformance_server.port, case.data, methods_of(case),
                                expectation(case), ref)
    assert out.same_as(ref), f"whole: {ref}\n{sends} sends: {out}"
