"""Raw ASGI 3 WebSocket echo for the WebSocket group of the side-by-side benchmark
(tests/bench/run.py --only ws): no framework, so the figures are the server's.

`bench_ws:echo` accepts every WebSocket, then sends back each message as it came (text as
text, bytes as bytes) until the client disconnects (a send() the close overtook
ends the loop too); tests/bench/wsload.c checks every echo
byte for byte. An HTTP request gets a 13-byte answer (nothing in the benchmark sends one;
it keeps a stray probe from hanging), and the lifespan protocol completes at once, so that
no server logs a refused lifespan. The same file runs unchanged on every server.
"""

# the lifespan and the stray HTTP answer are the ASGI group's (the same directory)
from bench_asgi import HELLO, HELLO_BODY, HELLO_START, lifespan  # noqa: F401  (HELLO: tests)

ACCEPT = {"type": "websocket.accept"}


async def echo(scope, receive, send):
    """Accepts, then echoes every message until websocket.disconnect."""
    kind = scope["type"]
    if kind == "lifespan":
        return await lifespan(receive, send)
    if kind == "http":
        await send(HELLO_START)
        await send(HELLO_BODY)
        return
    message = await receive()  # websocket.connect
    if message["type"] != "websocket.connect":
        return
    await send(ACCEPT)
    try:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return  # websocket.disconnect
            text = message.get("text")
            if text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes")})
    except OSError:
        # The client closed while an echo was on its way (the load generator ends its
        # run with a close handshake, not waiting for the last echo): ASGI servers raise
        # an OSError subclass from send() then; nothing is left to do.
        return
