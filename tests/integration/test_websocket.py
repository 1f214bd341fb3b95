"""WebSockets for ASGI applications through the real binary (apps/asgi_ws.py): the
`websockets` client for echo, close codes, subprotocols and load; raw sockets for what a
well-behaved client never sends (unmasked frames, bad UTF-8 split across fragments,
oversized control frames, reserved bits) and for the handshake's refusals.
"""
import asyncio
import base64
import json
import os
import socket
import struct
import time

import pytest

from conftest import read_response, wait_until
from test_asgi import rss_kb

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect as ws_connect  # noqa: E402

APP = "asgi_ws:app"


def read_marker(path, name, timeout=5.0):
    p = f"{path}.{name}"
    wait_until(lambda: os.path.exists(p) and open(p).read().endswith("\n"), timeout)
    return open(p).read().splitlines()


@pytest.fixture
def ws_server(server, tmp_path):
    marker = tmp_path / "m"

    def start(args=(), **kw):
        srv = server(APP, args=["--lifespan", "off", *args], env={"WS_MARKER": str(marker)},
                     **kw)
        srv.marker = marker
        return srv
    return start


# ---- a raw client ---------------------------------------------------------------------------

KEY = base64.b64encode(b"0123456789abcdef").decode()
MASK = b"\x12\x34\x56\x78"


def handshake(srv, path="/echo", extra=b""):
    sock = srv.connect()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
                 f"Sec-WebSocket-Version: 13\r\n".encode() + extra + b"\r\n")
    rfile = sock.makefile("rb")
    status = rfile.readline()
    headers = {}
    while True:
        line = rfile.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    return sock, rfile, status, headers


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    return head + MASK + bytes(c ^ MASK[i % 4] for i, c in enumerate(payload))


def read_frame(rfile):
    """(fin, opcode, payload) of the next server frame; the server never masks."""
    b0, b1 = rfile.read(2)
    assert not b1 & 0x80, "a server frame is never masked"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", rfile.read(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", rfile.read(8))[0]
    return bool(b0 & 0x80), b0 & 0x0F, rfile.read(n)


def read_close(rfile):
    """The server's close frame, skipping data frames before it: (code, reason)."""
    while True:
        _, op, payload = read_frame(rfile)
        if op == 8:
            if not payload:
                return 1005, ""
            return struct.unpack(">H", payload[:2])[0], payload[2:].decode()


def expect_eof(sock, rfile):
    sock.settimeout(5)
    assert rfile.read() == b""


# ---- echo ---------------------------------------------------------------------------------

@pytest.mark.parametrize("compression", [None, "deflate"])
def test_echo_sizes(ws_server, compression):
    srv = ws_server()
    with ws_connect(srv.url("/echo").replace("http", "ws"), max_size=None,
                    compression=compression) as ws:
        agreed = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert agreed == ("permessage-deflate" if compression else None)
        for size in (0, 125, 126, 65535, 65536, 10 << 20):
            ws.send(b"\x00\xff" * (size // 2) + b"b" * (size % 2))
            assert ws.recv() == b"\x00\xff" * (size // 2) + b"b" * (size % 2)
            text = ("é" * (size // 2)) + ("t" * (size % 2))
            ws.send(text)
            assert ws.recv() == text


def test_fragments_with_interleaved_pings(ws_server):
    srv = ws_server()
    sock, rfile, status, headers = handshake(srv)
    assert status.startswith(b"HTTP/1.1 101")
    # "héllo" cut inside the two-byte character, pings between the fragments
    sock.sendall(frame(1, b"h\xc3", fin=False) + frame(9, b"p1") + frame(0, b"\xa9l", fin=False)
                 + frame(9, b"p2") + frame(0, b"lo"))
    assert read_frame(rfile) == (True, 10, b"p1")
    assert read_frame(rfile) == (True, 10, b"p2")
    assert read_frame(rfile) == (True, 1, "héllo".encode())
    # binary in three fragments, sent a byte at a time
    for b in frame(2, b"ab", fin=False) + frame(0, b"", fin=False) + frame(0, b"c"):
        sock.sendall(bytes([b]))
    assert read_frame(rfile) == (True, 2, b"abc")
    sock.sendall(frame(8, struct.pack(">H", 1000)))
    assert read_close(rfile) == (1000, "")
    expect_eof(sock, rfile)
    assert json.loads(read_marker(srv.marker, "disconnect")[0]) == [1000, ""]


@pytest.mark.parametrize("name,frames,code", [
    ("utf-8 split over fragments", [frame(1, b"ok\xed", fin=False), frame(0, b"\xa0\x80")], 1007),
    ("text ending mid-character", [frame(1, b"ok\xe2\x82")], 1007),
    ("unmasked", [frame(1, b"hi", mask=False)], 1002),
    ("126-byte ping", [frame(9, b"p" * 126)], 1002),
    ("fragmented ping", [frame(9, b"p", fin=False)], 1002),
    ("rsv1 without deflate", [frame(1, b"hi", rsv=0x40)], 1002),
    ("rsv2", [frame(2, b"hi", rsv=0x20)], 1002),
    ("reserved opcode", [frame(3, b"")], 1002),
    ("continuation first", [frame(0, b"x")], 1002),
    ("close code 1005 on the wire", [frame(8, struct.pack(">H", 1005))], 1002),
])
def test_protocol_errors_close_with_their_code(ws_server, name, frames, code):
    srv = ws_server()
    sock, rfile, status, _ = handshake(srv)
    assert status.startswith(b"HTTP/1.1 101")
    sock.sendall(b"".join(frames))
    got, _ = read_close(rfile)
    assert got == code, name
    expect_eof(sock, rfile)
    assert json.loads(read_marker(srv.marker, "disconnect")[0])[0] == code


def test_message_size_limit(ws_server):
    srv = ws_server(args=["--ws-max-message-size", "1000"])
    sock, rfile, _, _ = handshake(srv)
    sock.sendall(frame(2, b"a" * 1000))
    assert read_frame(rfile) == (True, 2, b"a" * 1000)
    # over the limit across fragments: refused at the second header
    sock.sendall(frame(2, b"a" * 600, fin=False) + frame(0, b"a" * 600))
    assert read_close(rfile)[0] == 1009
    expect_eof(sock, rfile)


# ---- closing ------------------------------------------------------------------------------

def test_client_close_code_and_reason_reach_the_app(ws_server):
    srv = ws_server()
    with ws_connect(srv.url("/echo").replace("http", "ws")) as ws:
        ws.send("x")
        assert ws.recv() == "x"
        ws.close(4001, "bye now")
        assert ws.close_code == 4001  # echoed back
    assert json.loads(read_marker(srv.marker, "disconnect")[0]) == [4001, "bye now"]


@pytest.mark.parametrize("code,reason", [(1000, ""), (1001, "going"), (4999, "é" * 20)])
def test_app_close_code_and_reason_reach_the_client(ws_server, code, reason):
    srv = ws_server()
    with ws_connect(srv.url("/close").replace("http", "ws")) as ws:
        ws.send(f"{code} {reason}")
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            ws.recv()
        assert ws.close_code == code and ws.close_reason == reason
    # after its close, receive() gives the disconnect with the client's answer
    assert json.loads(read_marker(srv.marker, "after_close")[0]) == ["websocket.disconnect", code]


def test_app_close_waits_for_the_client_close_bounded(ws_server):
    srv = ws_server()
    sock, rfile, _, _ = handshake(srv, "/close")
    sock.sendall(frame(1, b"4000 x"))
    assert read_close(rfile) == (4000, "x")
    t = time.monotonic()
    expect_eof(sock, rfile)  # we never answer: the server gives up after the linger time
    assert time.monotonic() - t < 4.5


def test_app_return_and_raise(ws_server):
    srv = ws_server()
    sock, rfile, _, _ = handshake(srv, "/returns")
    assert read_frame(rfile) == (True, 1, b"bye")
    assert read_close(rfile)[0] == 1000
    sock, rfile, _, _ = handshake(srv, "/raises?accepted")
    assert read_close(rfile)[0] == 1011
    sock, rfile, status, _ = handshake(srv, "/raises")
    assert status.startswith(b"HTTP/1.1 500")
    assert "boom (expected by the test)" in srv.log()


def test_client_vanishing_is_1006(ws_server):
    srv = ws_server()
    sock, rfile, _, _ = handshake(srv)
    sock.sendall(frame(1, b"partial", fin=False))
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    assert json.loads(read_marker(srv.marker, "disconnect")[0])[0] == 1006


# ---- the handshake ------------------------------------------------------------------------

def test_scope_and_subprotocol(ws_server):
    srv = ws_server()
    with ws_connect(srv.url("/scope?a=1").replace("http", "ws"),
                    subprotocols=["chat", "v2.json"]) as ws:
        assert ws.subprotocol == "v2.json"
        assert ws.response.headers["x-accepted"] == "yes"
        s = json.loads(ws.recv())
    assert s["type"] == "websocket" and s["scheme"] == "ws" and "method" not in s
    assert s["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert s["path"] == "/scope" and s["query_string"] == "a=1" and s["http_version"] == "1.1"
    assert s["subprotocols"] == ["chat", "v2.json"]
    assert s["extensions"] == {"websocket.http.response": {}}
    assert ["upgrade", "websocket"] in s["headers"]


@pytest.mark.parametrize("offer", [None, ["chat"]])
def test_a_subprotocol_the_client_did_not_offer_is_refused(ws_server, offer):
    """RFC 6455 4.1: a client fails the connection when the 101 names a subprotocol it did
    not offer, so the server does not send such a 101: websocket.accept raises."""
    srv = ws_server()
    extra = b"Sec-WebSocket-Protocol: %s\r\n" % ", ".join(offer).encode() if offer else b""
    sock, rfile, status, headers = handshake(srv, "/unoffered", extra)
    assert status.startswith(b"HTTP/1.1 403"), (status, headers)
    assert "not one the client offered" in read_marker(srv.marker, "unoffered")[0]
    sock.close()


def test_close_before_accept_is_403(ws_server):
    srv = ws_server()
    sock, rfile, status, headers = handshake(srv, "/refuse")
    assert status.startswith(b"HTTP/1.1 403")
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        ws_connect(srv.url("/refuse").replace("http", "ws"))
    assert e.value.response.status_code == 403


def test_denial_response(ws_server):
    srv = ws_server()
    sock = srv.connect()
    sock.sendall(f"GET /deny HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    resp = read_response(sock.makefile("rb"))
    assert resp.status == 401 and resp.body == b"go away!"
    assert resp.header("x-denied") == "1"


@pytest.mark.parametrize("headers,status", [
    (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
     b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n", 426),
    (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
     b"Sec-WebSocket-Key: c2hvcnQ=\r\n", 400),
    (b"Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\n"
     b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n", 400),
])
def test_bad_handshakes_never_reach_the_app(ws_server, headers, status):
    srv = ws_server()
    sock = srv.connect()
    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    resp = read_response(sock.makefile("rb"))
    assert resp.status == status
    if status == 426:
        assert resp.header("Sec-WebSocket-Version") == "13"
    assert not os.path.exists(f"{srv.marker}.disconnect")


def test_plain_http_still_served(ws_server):
    srv = ws_server()
    r = srv.request("GET", "/echo")
    assert r.status == 200 and r.body == b"http /echo"


# ---- flow control and load ----------------------------------------------------------------

def test_client_that_stops_reading_does_not_grow_rss(ws_server):
    srv = ws_server()
    pid = srv.worker_pids()[0]
    sock, rfile, _, _ = handshake(srv, "/flood?2")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    before = rss_kb(pid)
    time.sleep(2.5)  # the application tries to send for 2 s; we read nothing
    grown = rss_kb(pid) - before
    sock.shutdown(socket.SHUT_RDWR)
    rfile.close()
    sock.close()
    sent = int(read_marker(srv.marker, "flood")[0])
    # send() waited above the high-water mark: a few socket buffers' worth, not 2 s of it
    assert grown < 16 * 1024, grown
    assert sent < 200, sent


def test_app_that_stops_reading_pauses_the_client(ws_server):
    srv = ws_server()
    pid = srv.worker_pids()[0]
    before = rss_kb(pid)
    with ws_connect(srv.url("/slow?3").replace("http", "ws"), compression=None,
                    open_timeout=10, close_timeout=10) as ws:
        msg = b"m" * 65536
        sent, t = 0, time.monotonic()
        # the app sleeps 3 s: we send until the server stops reading (send blocks)
        while time.monotonic() - t < 2:
            ws.send(msg)
            sent += 1
            if sent >= 2000:
                break
        grown = rss_kb(pid) - before
        ws.send("last")
        assert int(ws.recv(timeout=30)) == sent + 1  # nothing lost
    assert grown < 24 * 1024, grown
    assert sent < 2000  # the client was held back


def test_thousand_connections_hundred_messages_each(ws_server):
    srv = ws_server(args=["--worker-connections", "1500"])
    url = srv.url("/echo").replace("http", "ws")
    from websockets.asyncio.client import connect as aconnect

    async def one(i):
        async with aconnect(url, compression=None, open_timeout=30) as ws:
            for k in range(100):
                await ws.send(f"{i}:{k}")
            got = [await ws.recv() for _ in range(100)]
            assert got == [f"{i}:{k}" for k in range(100)]
            return len(got)

    async def main():
        sem = asyncio.Semaphore(1000)

        async def limited(i):
            async with sem:
                return await one(i)
        return await asyncio.wait_for(asyncio.gather(*(limited(i) for i in range(1000))), 120)

    t = time.monotonic()
    counts = asyncio.run(main())
    assert sum(counts) == 100_000
    assert time.monotonic() - t < 120


# ---- drain ----------------------------------------------------------------------------------

def test_drain_closes_with_1001(ws_server):
    srv = ws_server()
    ws = ws_connect(srv.url("/hold").replace("http", "ws"))
    assert ws.recv() == "ready"
    t = time.monotonic()
    srv.send_signal(15)
    with pytest.raises(websockets.exceptions.ConnectionClosed):
        ws.recv(timeout=10)
    assert ws.close_code == 1001
    assert json.loads(read_marker(srv.marker, "hold")[0]) == ["websocket.disconnect", 1001]
    assert srv.wait_exit() == 0
    assert time.monotonic() - t < 5


# ---- operations -----------------------------------------------------------------------------

def test_metrics_and_access_log(ws_server, tmp_path):
    import urllib.request
    from conftest import free_port
    port = free_port()
    log = tmp_path / "access.log"
    srv = ws_server(args=["--stats-bind", f"127.0.0.1:{port}", "--access-logfile", str(log),
                          "--access-logformat", '"%(r)s" %(s)s %(b)s %(ws_close)s'])

    def scrape():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.read().decode()

    def sample(text, line_start):
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(line_start)

    ws = ws_connect(srv.url("/echo").replace("http", "ws"), compression=None)
    for i in range(3):
        ws.send("x" * 10)
        ws.recv()
    assert wait_until(lambda: sample(scrape(), "uwsgi_fast_worker_websockets{") == 1, 5)
    text = scrape()
    assert sample(text, 'uwsgi_fast_websocket_messages_total{direction="in"}') == 3
    assert sample(text, 'uwsgi_fast_websocket_messages_total{direction="out"}') == 3
    assert sample(text, 'uwsgi_fast_websocket_payload_bytes_total{direction="in"}') == 30
    ws.close(4003)
    assert wait_until(lambda: sample(scrape(), "uwsgi_fast_worker_websockets{") == 0, 5)
    # one access-log line, at the close: the 101, the payload bytes sent, the close code
    assert wait_until(lambda: log.exists() and '"GET /echo HTTP/1.1" 101' in log.read_text(), 5)
    assert '"GET /echo HTTP/1.1" 101 30 4003' in log.read_text()


def test_ping_keepalive_and_timeout(ws_server):
    srv = ws_server(args=["--ws-ping-interval", "0.5", "--ws-ping-timeout", "0.5",
                          "--keep-alive", "1"])
    sock, rfile, _, _ = handshake(srv, "/hold")
    assert read_frame(rfile) == (True, 1, b"ready")
    t = time.monotonic()
    assert read_frame(rfile) == (True, 9, b"")  # silence: a ping
    assert 0.3 < time.monotonic() - t < 3
    sock.sendall(frame(10, b""))  # answered: the connection lives on, past --keep-alive
    assert read_frame(rfile) == (True, 9, b"")
    time.sleep(0.3)
    sock.sendall(frame(10, b""))
    assert read_frame(rfile) == (True, 9, b"")
    # not answered this time: closed with 1011
    assert read_close(rfile)[0] == 1011
    assert time.monotonic() - t > 1.2
    assert json.loads(read_marker(srv.marker, "hold")[0]) == ["websocket.disconnect", 1011]


# ---- permessage-deflate ---------------------------------------------------------------------

def deflate(data):
    import zlib
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


@pytest.mark.parametrize("params,answer", [
    (dict(server_no_context_takeover=True, client_no_context_takeover=True),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    (dict(server_max_window_bits=9, client_max_window_bits=10),
     "permessage-deflate; server_max_window_bits=9"),
    (dict(), "permessage-deflate"),
])
def test_deflate_parameters_honoured(ws_server, params, answer):
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    srv = ws_server()
    with ws_connect(srv.url("/echo").replace("http", "ws"), compression=None,
                    extensions=[ClientPerMessageDeflateFactory(**params)]) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"] == answer
        for i in range(30):
            m = json.dumps({"n": i, "text": "hello " * i})
            ws.send(m)
            assert ws.recv() == m
            ws.send(m.encode())
            assert ws.recv() == m.encode()


def test_deflate_on_the_wire(ws_server):
    srv = ws_server()
    sock, rfile, status, headers = handshake(
        srv, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    assert headers["sec-websocket-extensions"] == "permessage-deflate"
    text = ("all work and no play " * 50).encode()
    sock.sendall(frame(1, deflate(text), rsv=0x40))
    b0, b1 = rfile.read(2)
    assert b0 == 0x80 | 0x40 | 1  # compressed back: RSV1 set
    payload = rfile.read(b1 & 0x7F if b1 & 0x7F < 126 else struct.unpack(">H", rfile.read(2))[0])
    import zlib
    assert zlib.decompressobj(wbits=-15).decompress(payload + b"\x00\x00\xff\xff") == text
    assert len(payload) < len(text) // 10
    sock.sendall(frame(1, b"tiny"))  # uncompressed frames stay allowed
    assert read_frame(rfile) == (True, 1, b"tiny")  # and small answers go uncompressed


@pytest.mark.parametrize("name,payload,code", [
    ("bomb", deflate(bytes(64 << 20)), 1009),
    ("not deflate", b"\xff\xfe\xfd\xfc", 1007),
    ("inflates to bad utf-8", deflate(b"ok\xed\xa0\x80"), 1007),
])
def test_deflate_refusals(ws_server, name, payload, code):
    srv = ws_server(args=["--ws-max-message-size", str(1 << 20)])
    pid = srv.worker_pids()[0]
    before = rss_kb(pid)
    sock, rfile, _, headers = handshake(
        srv, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    sock.sendall(frame(1, payload, rsv=0x40))
    assert read_close(rfile)[0] == code, name
    assert rss_kb(pid) - before < 16 * 1024


def test_deflate_off(ws_server):
    srv = ws_server(args=["--ws-per-message-deflate=false"])
    sock, rfile, status, headers = handshake(
        srv, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    assert status.startswith(b"HTTP/1.1 101") and "sec-websocket-extensions" not in headers
    sock.sendall(frame(1, deflate(b"x" * 100), rsv=0x40))
    assert read_close(rfile)[0] == 1002


def test_hup_closes_with_1001_and_the_successor_serves(ws_server):
    import signal
    srv = ws_server(args=["--graceful-timeout", "30"])
    (old,) = srv.wait_workers()
    ws = ws_connect(srv.url("/hold").replace("http", "ws"))
    assert ws.recv() == "ready"
    t = time.monotonic()
    srv.send_signal(signal.SIGHUP)
    with pytest.raises(websockets.exceptions.ConnectionClosed):
        ws.recv(timeout=10)
    assert ws.close_code == 1001
    # the open WebSocket did not hold the old worker until --graceful-timeout
    assert wait_until(lambda: old not in srv.worker_pids(), 10)
    assert time.monotonic() - t < 8
    with ws_connect(srv.url("/echo").replace("http", "ws")) as ws2:
        ws2.send("after")
        assert ws2.recv() == "after"
