"""Raw ASGI 3 WebSocket applications (no framework) for tests/integration/test_websocket.py.

`app` routes on the path. HTTP requests get a plain answer (the test harness probes "/").
Each WebSocket route speaks the protocol by hand so the tests see exactly what the server
does with each message; what a route learns (the scope, the disconnect's code) it reports
over the socket or into $WS_MARKER files.
"""
import asyncio
import json
import os


def _mark(name, text):
    marker = os.environ.get("WS_MARKER")
    if marker:
        with open(marker + "." + name, "a") as f:
            f.write(text + "\n")


async def echo(scope, receive, send):
    """Accepts, echoes every message as it came (text as text, bytes as bytes), reports
    the disconnect's code and reason into the marker."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        m = await receive()
        if m["type"] == "websocket.disconnect":
            _mark("disconnect", json.dumps([m["code"], m.get("reason", "")]))
            return
        if m.get("text") is not None:
            await send({"type": "websocket.send", "text": m["text"]})
        else:
            await send({"type": "websocket.send", "bytes": m["bytes"]})


async def scope_route(scope, receive, send):
    await receive()
    offered = scope["subprotocols"]
    await send({"type": "websocket.accept", "subprotocol": offered[-1] if offered else None,
                "headers": [(b"x-accepted", b"yes")]})
    shown = {k: v for k, v in scope.items() if k not in ("state", "app")}
    shown["headers"] = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
    shown["raw_path"] = scope["raw_path"].decode("latin-1")
    shown["query_string"] = scope["query_string"].decode("latin-1")
    await send({"type": "websocket.send", "text": json.dumps(shown)})
    await send({"type": "websocket.close", "code": 1000})


async def close_with(scope, receive, send):
    """Accepts, waits for one text message "CODE REASON", closes with them."""
    await receive()
    await send({"type": "websocket.accept"})
    m = await receive()
    code, _, reason = m["text"].partition(" ")
    await send({"type": "websocket.close", "code": int(code), "reason": reason})
    m = await receive()
    _mark("after_close", json.dumps([m["type"], m.get("code")]))


async def refuse(scope, receive, send):
    await receive()
    await send({"type": "websocket.close", "code": 1008})


async def deny(scope, receive, send):
    await receive()
    await send({"type": "websocket.http.response.start", "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"x-denied", b"1")]})
    await send({"type": "websocket.http.response.body", "body": b"go away", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b"!"})


async def returns(scope, receive, send):
    """Accepts, sends one message, returns without closing (the server closes with 1000)."""
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "bye"})


async def raises(scope, receive, send):
    await receive()
    if scope["query_string"] == b"accepted":
        await send({"type": "websocket.accept"})
    raise RuntimeError("boom (expected by the test)")


async def flood(scope, receive, send):
    """Accepts and sends 64 KiB messages as fast as send() lets it, for about 3 s or
    until the client goes; marks how many went."""
    await receive()
    await send({"type": "websocket.accept"})
    chunk, sent = b"x" * 65536, 0
    loop = asyncio.get_running_loop()
    end = loop.time() + float(scope["query_string"] or b"3")
    try:
        while loop.time() < end:
            await send({"type": "websocket.send", "bytes": chunk})
            sent += 1
    except OSError:
        pass
    _mark("flood", str(sent))


async def slow_reader(scope, receive, send):
    """Accepts, then reads nothing for a while (the client floods it), then counts."""
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.sleep(float(scope["query_string"] or b"2"))
    count = 0
    while True:
        m = await receive()
        if m["type"] == "websocket.disconnect":
            break
        count += 1
        if m.get("text") == "last":
            await send({"type": "websocket.send", "text": str(count)})
    _mark("slow_reader", str(count))


async def hold(scope, receive, send):
    """Accepts and waits for the disconnect, marking its code (drain tests)."""
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "ready"})
    m = await receive()
    _mark("hold", json.dumps([m["type"], m.get("code")]))


async def unoffered(scope, receive, send):
    """Accepts with a subprotocol the client did not offer: the server refuses it; the
    error's text goes to the marker, then the route refuses the connection itself."""
    await receive()
    try:
        await send({"type": "websocket.accept", "subprotocol": "not-offered"})
    except RuntimeError as e:
        _mark("unoffered", str(e))
        await send({"type": "websocket.close", "code": 1008})


ROUTES = {"/unoffered": unoffered, "/echo": echo, "/scope": scope_route, "/close": close_with, "/refuse": refuse,
          "/deny": deny, "/returns": returns, "/raises": raises, "/flood": flood,
          "/slow": slow_reader, "/hold": hold}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            await send({"type": m["type"] + ".complete"})
            if m["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"http " + scope["path"].encode()})
        return
    route = ROUTES.get(scope["path"].split("/ws", 1)[-1] or "/echo", echo)
    await route(scope, receive, send)
