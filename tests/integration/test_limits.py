"""Request limits at their exact edge: a request exactly at a limit is served, one byte (or
one field) over is refused with the limit's status and a closed connection.

What each limit measures, as --help states it:
  --limit-request-line N        the request line without its CRLF (method SP target SP
                                version) -> 414
  --limit-request-fields N      header fields, Host included -> 431
  --limit-request-field_size N  one field's name plus value (no colon, OWS or CRLF) -> 431
  --limit-request-body N        the body (declared Content-Length, or the de-chunked
                                total) -> 413, for a declared length before any body byte
  --limit-request-head N         the whole head: request line, field lines and every
                                CRLF (default 0: 64 KiB while the field size limit is at
                                most 32 KiB) -> 431

Each limit is checked twice: with the defaults (4094, 100, 8190; the 1 GiB body default is
not worth sending) and with small values given on the command line.
"""
import pytest

from conftest import (ConnectionClosed, _start, _teardown, build_request, expect_eof,
                      read_response)

DEFAULTS = {"line": 4094, "fields": 100, "field_size": 8190, "body": None,
            "header_bytes": 64 * 1024}
CUSTOM = {"line": 200, "fields": 12, "field_size": 300, "body": 1000, "header_bytes": 2048}
CUSTOM_ARGS = ["--limit-request-line", "200", "--limit-request-fields", "12",
               "--limit-request-field_size", "300", "--limit-request-body", "1000",
               "--limit-request-head", "2048"]



@pytest.fixture(scope="module", params=["defaults", "custom"])
def limited(request, tmp_path_factory):
    """(server, limits): one basic:app server per configuration for the whole module."""
    servers = []
    args = CUSTOM_ARGS if request.param == "custom" else []
    srv = _start(servers, tmp_path_factory.mktemp(request.param), "basic:app", args=args)
    yield srv, (CUSTOM if request.param == "custom" else DEFAULTS)
    _teardown(servers)


def exchange(srv, data, method="GET"):
    """Sends data on a new connection; returns (status, closed_after) where closed_after
    says whether the server then closed the connection (checked only for errors)."""
    sock = srv.connect()
    try:
        sock.sendall(data)
        rfile = sock.makefile("rb")
        try:
            resp = read_response(rfile, method)
        except ConnectionClosed:
            return None, True
        if resp.status < 400:
            return resp, False
        return resp, expect_eof(sock, timeout=3)
    finally:
        sock.close()


def served(srv, data, method="GET"):
    resp, _ = exchange(srv, data, method)
    assert resp is not None and resp.status == 200, f"not served: {resp}"
    return resp


def refused(srv, data, status, method="GET"):
    resp, closed = exchange(srv, data, method)
    assert resp is not None, "connection closed without an answer"
    assert resp.status == status, f"expected {status}, got {resp}"
    assert closed, f"connection left open after {resp.status}"


# ---- request line ----------------------------------------------------------------------

def line_request(length):
    """A GET whose request line (without CRLF) is exactly `length` bytes."""
    pad = length - len("GET /env?p= HTTP/1.1")
    assert pad >= 0
    return f"GET /env?p={'a' * pad} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()


def test_request_line_at_limit_is_served(limited):
    srv, lim = limited
    served(srv, line_request(lim["line"]))


def test_request_line_one_over_is_414(limited):
    srv, lim = limited
    refused(srv, line_request(lim["line"] + 1), 414)


def test_request_target_longer_than_line_limit_is_414(limited):
    """Whatever the line limit measures, a target alone longer than it is refused."""
    srv, lim = limited
    refused(srv, f"GET /{'a' * lim['line']} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 414)


# ---- header count ----------------------------------------------------------------------

def fields_request(count):
    """A GET with exactly `count` header fields, Host included."""
    extra = "".join(f"X-F{i}: v\r\n" for i in range(count - 1))
    return f"GET / HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode()


def test_fields_at_limit_are_served(limited):
    srv, lim = limited
    served(srv, fields_request(lim["fields"]))


def test_fields_one_over_is_431(limited):
    srv, lim = limited
    refused(srv, fields_request(lim["fields"] + 1), 431)


# ---- one field's size ------------------------------------------------------------------

def field_size_request(size):
    """A GET with one field whose name + value is exactly `size` bytes."""
    name = "X-Long"
    return (f"GET / HTTP/1.1\r\nHost: localhost\r\n{name}: {'v' * (size - len(name))}\r\n\r\n"
            .encode())


def test_field_size_at_limit_is_served(limited):
    srv, lim = limited
    served(srv, field_size_request(lim["field_size"]))


def test_field_size_one_over_is_431(limited):
    srv, lim = limited
    refused(srv, field_size_request(lim["field_size"] + 1), 431)


def test_long_field_name_counts_towards_field_size(limited):
    srv, lim = limited
    name = "X-" + "n" * (lim["field_size"] - 2)
    refused(srv, f"GET / HTTP/1.1\r\nHost: x\r\n{name}: v\r\n\r\n".encode(), 431)


# ---- all header bytes together ---------------------------------------------------------

def header_bytes_request(total, field_size):
    """A GET whose head (request line, field lines, their CRLFs and the final CRLF) is
    exactly `total` bytes, in fields no larger than field_size."""
    head = "GET / HTTP/1.1\r\nHost: localhost\r\n"
    left = total - len(head) - 2
    lines = []
    i = 0
    while left > 0:
        name = f"X-B{i:03d}"
        over = len(name) + 4   # ": " and CRLF
        size = min(field_size - len(name), left - over)
        rest = left - over - size
        if 0 < rest <= over:   # leave room for one more line with a value
            size -= over + 1 - rest
        lines.append(f"{name}: {'v' * size}\r\n")
        left -= over + size
        i += 1
    raw = (head + "".join(lines) + "\r\n").encode()
    assert len(raw) == total
    return raw


def test_header_bytes_at_cap_are_served(limited):
    srv, lim = limited
    served(srv, header_bytes_request(lim["header_bytes"], lim["field_size"]))


def test_header_bytes_one_over_cap_is_431(limited):
    srv, lim = limited
    refused(srv, header_bytes_request(lim["header_bytes"] + 1, lim["field_size"]), 431)


# ---- body --------------------------------------------------------------------------------

def body_limit(lim):
    if not lim["body"]:
        pytest.skip("the 1 GiB default body limit is not worth sending")
    return lim["body"]


def test_body_at_limit_is_served(limited):
    srv, lim = limited
    n = body_limit(lim)
    resp = served(srv, build_request("POST", "/echo", body=b"b" * n), "POST")
    assert resp.body == b"b" * n


def test_body_one_over_is_413_before_the_body(limited):
    """The declared length alone is refused: no body byte is sent, the answer comes."""
    srv, lim = limited
    n = body_limit(lim)
    head = build_request("POST", "/echo", headers=[("Content-Length", str(n + 1))])
    refused(srv, head, 413, "POST")


def chunked(total, piece=64):
    out = b""
    while total > 0:
        k = min(piece, total)
        out += b"%x\r\n" % k + b"c" * k + b"\r\n"
        total -= k
    return out + b"0\r\n\r\n"


def test_chunked_body_at_limit_is_served(limited):
    srv, lim = limited
    n = body_limit(lim)
    req = build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]) + chunked(n)
    resp = served(srv, req, "POST")
    assert resp.body == b"c" * n


def test_chunked_body_one_over_is_413(limited):
    srv, lim = limited
    n = body_limit(lim)
    req = build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
    refused(srv, req + chunked(n + 1), 413, "POST")


def test_server_serves_after_refusals(limited):
    srv, lim = limited
    assert srv.request("GET", "/").status == 200
