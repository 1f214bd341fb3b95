"""HTTP/1.x behaviour over real sockets: methods, framing, keep-alive, pipelining, bodies."""
import hashlib
import json
import os
import socket
import time

from conftest import ConnectionClosed, build_request, expect_eof, read_response, wait_until


def test_get(basic):
    resp = basic.request("GET", "/")
    assert resp.status == 200
    assert resp.body == b"Hello, World!"
    assert resp.header("Content-Length") == "13"
    assert resp.header("Content-Type") == "text/plain"


def test_response_head_is_well_formed(basic):
    (resp,), sock, _ = basic.raw(build_request("GET", "/"))
    sock.close()
    assert resp.version == "HTTP/1.1"
    assert resp.status == 200 and resp.reason == "OK"
    assert resp.header("Date"), "responses should carry a Date header"
    assert resp.header("Server"), "responses should carry a Server header"
    names = [k.lower() for k, _ in resp.headers]
    assert names.count("content-length") == 1
    assert names.count("content-type") == 1


def test_head_has_length_but_no_body(basic):
    # GET after HEAD on the same connection: a stray body after HEAD would corrupt it.
    data = build_request("HEAD", "/") + build_request("GET", "/")
    (head, get), sock, rfile = basic.raw(data, method=["HEAD", "GET"])
    assert head.status == 200
    assert head.header("Content-Length") == "13"
    assert head.body == b""
    assert get.status == 200 and get.body == b"Hello, World!"
    sock.close()


def test_head_of_streamed_response(basic):
    data = build_request("HEAD", "/stream") + build_request("GET", "/")
    (head, get), sock, _ = basic.raw(data, method=["HEAD", "GET"])
    assert head.status == 200
    assert get.body == b"Hello, World!"
    sock.close()


def test_post_echo(basic):
    body = b"some posted bytes \x00\xff" * 100
    resp = basic.request("POST", "/echo", body=body,
                          headers={"Content-Type": "application/x-test"})
    assert resp.status == 200
    assert resp.body == body
    assert resp.header("Content-Length") == str(len(body))
    assert resp.header("Content-Type") == "application/x-test"
    assert resp.header("X-Method") == "POST"


def test_empty_post(basic):
    resp = basic.request("POST", "/echo", body=b"", headers={"Content-Length": "0"})
    assert resp.status == 200 and resp.body == b""


def test_keep_alive_reuses_connection(basic):
    conn = basic.connection()
    try:
        conn.request("GET", "/")
        first = conn.getresponse()
        assert first.read() == b"Hello, World!"
        sock = conn.sock
        assert sock is not None, "server closed a keep-alive connection"
        for i in range(5):
            body = f"request {i}".encode()
            conn.request("POST", "/echo", body=body)
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.read() == body
            assert conn.sock is sock, f"connection was not reused for request {i + 2}"
    finally:
        conn.close()


def test_keep_alive_raw_sequential(basic):
    sock = basic.connect()
    rfile = sock.makefile("rb")
    try:
        for i in range(5):
            sock.sendall(build_request("GET", f"/env?i={i}"))
            resp = read_response(rfile)
            assert resp.status == 200
            assert json.loads(resp.body)["QUERY_STRING"] == f"i={i}"
            assert (resp.header("Connection") or "").lower() != "close"
    finally:
        sock.close()


def test_pipelined_requests_answered_in_order(basic):
    n = 8
    data = b"".join(build_request("GET", f"/env?seq={i}") for i in range(n))
    resps, sock, _ = basic.raw(data, count=n)
    sock.close()
    assert [r.status for r in resps] == [200] * n
    assert [json.loads(r.body)["QUERY_STRING"] for r in resps] == [f"seq={i}" for i in range(n)]


def test_pipelined_mixed_methods_and_bodies(basic):
    reqs = [
        ("POST", "/echo", b"first-body"),
        ("GET", "/", b""),
        ("HEAD", "/", b""),
        ("POST", "/echo", b"x" * 5000),
        ("GET", "/stream?n=3", b""),
        ("POST", "/echo", b"last"),
    ]
    data = b"".join(build_request(m, p, body=b) for m, p, b in reqs)
    resps, sock, _ = basic.raw(data, method=[m for m, _, _ in reqs])
    sock.close()
    assert resps[0].body == b"first-body"
    assert resps[1].body == b"Hello, World!"
    assert resps[2].body == b"" and resps[2].header("Content-Length") == "13"
    assert resps[3].body == b"x" * 5000
    assert resps[4].body == b"chunk-0\nchunk-1\nchunk-2\n"
    assert resps[5].body == b"last"


def test_pipelined_requests_split_at_odd_places(basic):
    data = b"".join(build_request("POST", "/echo", body=b"%d" % i * 10) for i in range(4))
    sock = basic.connect()
    rfile = sock.makefile("rb")
    try:
        for i in range(0, len(data), 7):  # tiny writes cut through lines and bodies
            sock.sendall(data[i:i + 7])
            time.sleep(0.001)
        for i in range(4):
            assert read_response(rfile).body == b"%d" % i * 10
    finally:
        sock.close()


def test_http10_closes_by_default(basic):
    (resp,), sock, _ = basic.raw(build_request("GET", "/", version="HTTP/1.0"))
    try:
        assert resp.status == 200
        assert resp.body == b"Hello, World!"
        assert resp.version in ("HTTP/1.0", "HTTP/1.1")
        assert expect_eof(sock), "HTTP/1.0 connection without keep-alive was not closed"
    finally:
        sock.close()


def test_http10_keep_alive_when_asked(basic):
    req = build_request("GET", "/", version="HTTP/1.0", headers=[("Connection", "keep-alive")])
    sock = basic.connect()
    rfile = sock.makefile("rb")
    try:
        for _ in range(3):
            sock.sendall(req)
            resp = read_response(rfile)
            assert resp.status == 200 and resp.body == b"Hello, World!"
            assert (resp.header("Connection") or "").lower() == "keep-alive"
    finally:
        sock.close()


def test_http11_connection_close(basic):
    req = build_request("GET", "/", headers=[("Connection", "close")])
    (resp,), sock, _ = basic.raw(req)
    try:
        assert resp.body == b"Hello, World!"
        assert (resp.header("Connection") or "").lower() == "close"
        assert expect_eof(sock), "Connection: close was not honoured"
    finally:
        sock.close()


def chunked(parts):
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_chunked_upload(basic):
    parts = [b"hello ", b"chunked ", b"world" * 1000, b"!"]
    req = build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")],
                        body=chunked(parts))
    (resp,), sock, _ = basic.raw(req)
    sock.close()
    assert resp.status == 200
    assert resp.body == b"".join(parts)


def test_chunked_upload_with_extensions_and_trailer(basic):
    body = b"5;ext=1\r\nabcde\r\n3\r\nfgh\r\n0\r\nX-Trailer: yes\r\n\r\n"
    req = build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=body)
    (resp, after), sock, _ = basic.raw(req + build_request("GET", "/"), count=2)
    sock.close()
    assert resp.body == b"abcdefgh"
    assert after.body == b"Hello, World!"


def test_chunked_upload_sha256(basic):
    blob = os.urandom(2 * 1024 * 1024)
    parts = [blob[i:i + 100_000] for i in range(0, len(blob), 100_000)]
    req = build_request("POST", "/sha256", headers=[("Transfer-Encoding", "chunked")],
                        body=chunked(parts))
    (resp,), sock, _ = basic.raw(req, timeout=30)
    sock.close()
    assert resp.status == 200
    assert resp.body.decode() == f"{hashlib.sha256(blob).hexdigest()} {len(blob)}"


def test_10mb_upload_hashed(basic):
    blob = os.urandom(10 * 1024 * 1024)
    resp = basic.request("POST", "/sha256", body=blob, timeout=30,
                          headers={"Content-Type": "application/octet-stream"})
    assert resp.status == 200
    assert resp.body.decode() == f"{hashlib.sha256(blob).hexdigest()} {len(blob)}"


def test_10mb_upload_echoed(basic):
    blob = os.urandom(10 * 1024 * 1024)
    # Send and receive at the same time would be polite; the server reads the whole body
    # before calling the app, so sending first and then reading cannot deadlock.
    resp = basic.request("POST", "/echo", body=blob, timeout=30)
    assert resp.status == 200
    assert len(resp.body) == len(blob)
    assert resp.body == blob


def test_generator_response_is_chunked_on_http11(basic):
    (resp,), sock, _ = basic.raw(build_request("GET", "/stream?n=5"))
    sock.close()
    assert resp.status == 200
    assert resp.header("Content-Length") is None
    assert resp.chunked, f"expected Transfer-Encoding: chunked, got {resp.headers}"
    assert resp.body == b"".join(b"chunk-%d\n" % i for i in range(5))


def test_generator_response_close_delimited_on_http10(basic):
    (resp,), sock, _ = basic.raw(build_request("GET", "/stream?n=5", version="HTTP/1.0"))
    try:
        assert resp.status == 200
        assert not resp.chunked, "HTTP/1.0 clients must not get chunked encoding"
        assert resp.body == b"".join(b"chunk-%d\n" % i for i in range(5))
    finally:
        sock.close()


def test_large_streamed_response(basic):
    # 40 chunks of 256 KiB: more than any socket buffer, so the server must wait for sends.
    (resp,), sock, _ = basic.raw(build_request("GET", "/stream?n=40&size=262144"), timeout=30)
    sock.close()
    assert resp.chunked
    assert len(resp.body) == 40 * 262144
    assert resp.body[:262144] == b"a" * 262144
    assert resp.body[-262144:] == bytes([97 + 39 % 26]) * 262144


def test_large_response_with_content_length(basic):
    n = 8 * 1024 * 1024 + 3
    resp = basic.request("GET", f"/big?n={n}", timeout=30)
    assert resp.status == 200
    assert resp.header("Content-Length") == str(n)
    assert len(resp.body) == n
    pattern = b"0123456789abcdef"
    assert resp.body == (pattern * (n // 16 + 1))[:n]


def test_slow_reader_gets_everything(basic):
    n = 8 * 1024 * 1024
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # before connect: window
        sock.connect(("127.0.0.1", basic.port))
        sock.sendall(build_request("GET", f"/big?n={n}"))
        time.sleep(0.5)  # let the server fill every buffer and wait for us
        resp = read_response(sock.makefile("rb"))
        assert len(resp.body) == n
    finally:
        sock.close()


def test_environ(basic):
    resp = basic.request("POST", "/env/a%20b?x=1&y=%20", body=b"abc",
                          headers={"X-Custom": "custom value", "Content-Type": "text/x-t"})
    env = resp.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/env/a b"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["CONTENT_TYPE"] == "text/x-t"
    assert env["CONTENT_LENGTH"] == "3"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["HTTP_X_CUSTOM"] == "custom value"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(basic.port)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.version"] == [1, 0]
    assert env["has_errors"] is True
    assert env["wsgi.run_once"] is False


def test_path_info_is_decoded(basic):
    # WSGI (like CGI) hands the app the percent-decoded path, as latin-1 characters.
    env = basic.request("GET", "/env/a%20b/%C3%A9?q=%20").json()
    assert env["PATH_INFO"] == "/env/a b/\u00c3\u00a9"
    assert env["QUERY_STRING"] == "q=%20"


def test_iterable_close_is_called(basic, marker):
    resp = basic.request("GET", f"/close-marker?mark={marker}")
    assert resp.body == b"ok"
    assert wait_until(marker.exists, 5), "the server never called close() on the iterable"


def test_expect_100_continue(basic):
    body = b"y" * 2000
    sock = basic.connect(timeout=5)
    rfile = sock.makefile("rb")
    try:
        sock.sendall(build_request("POST", "/echo", body=b"",
                                   headers=[("Content-Length", str(len(body))),
                                            ("Expect", "100-continue")]))
        interim = read_response(rfile)
        assert interim.status == 100, f"expected 100 Continue, got {interim}"
        sock.sendall(body)
        final = read_response(rfile)
        assert final.status == 200 and final.body == body
    finally:
        sock.close()


def test_malformed_request_gets_400_and_close(basic):
    (resp,), sock, _ = basic.raw(b"THIS IS NOT HTTP\r\n\r\n")
    try:
        assert resp.status == 400
        assert expect_eof(sock)
    finally:
        sock.close()
    assert basic.request("GET", "/").status == 200


def test_conflicting_framing_rejected(basic):
    req = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
           b"Content-Length: 4\r\n\r\nabcd")
    (resp,), sock, _ = basic.raw(req)
    sock.close()
    assert resp.status == 400


def test_client_closing_early_does_not_hurt(basic):
    for _ in range(5):
        sock = basic.connect()
        sock.sendall(b"GET /big?n=2000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(100)
        sock.close()
        sock = basic.connect()
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
        sock.close()
    assert basic.request("GET", "/").body == b"Hello, World!"


def test_many_sequential_connections(basic):
    for i in range(100):
        try:
            (resp,), sock, _ = basic.raw(build_request("GET", "/",
                                                       headers=[("Connection", "close")]))
        except ConnectionClosed:
            raise AssertionError(f"connection {i + 1} of 100 closed without a response")
        sock.close()
        assert resp.body == b"Hello, World!"


def test_concurrent_connections(basic):
    socks = [basic.connect() for _ in range(50)]
    try:
        for s in socks:
            s.sendall(build_request("GET", "/"))
        for s in socks:
            assert read_response(s.makefile("rb")).body == b"Hello, World!"
    finally:
        for s in socks:
            s.close()


def test_request_line_limit(server):
    srv = server("basic:app", args=["--limit-request-line", "100"])
    (ok,), sock, _ = srv.raw(build_request("GET", "/?" + "a" * 50))
    sock.close()
    assert ok.status == 200
    (resp,), sock, _ = srv.raw(build_request("GET", "/?" + "a" * 200))
    try:
        assert 400 <= resp.status < 500, resp
        assert resp.status in (400, 414)
        assert expect_eof(sock)
    finally:
        sock.close()


def test_header_limits(server):
    srv = server("basic:app", args=["--limit-request-fields", "5",
                                    "--limit-request-field_size", "200"])
    many = [(f"X-H{i}", "v") for i in range(10)]
    (resp,), sock, _ = srv.raw(build_request("GET", "/", headers=many))
    sock.close()
    assert resp.status in (400, 431), resp
    (resp,), sock, _ = srv.raw(build_request("GET", "/", headers=[("X-Big", "v" * 500)]))
    sock.close()
    assert resp.status in (400, 431), resp
    assert srv.request("GET", "/").status == 200


def test_keep_alive_timeout_closes_idle_connection(server):
    srv = server("basic:app", args=["--keep-alive", "1"])
    (resp,), sock, _ = srv.raw(build_request("GET", "/"))
    try:
        assert resp.status == 200
        start = time.monotonic()
        assert expect_eof(sock, timeout=6), "idle keep-alive connection was never closed"
        assert time.monotonic() - start >= 0.5
    finally:
        sock.close()
