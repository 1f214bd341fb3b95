"""Raw ASGI 3 applications for the ASGI scenarios of the side-by-side benchmark
(tests/bench/run.py --only asgi): no framework, so the figures are the server's.

One module, one callable per scenario (`bench_asgi:hello`, `bench_asgi:stream_1m`,
`bench_asgi:sleep_10ms`), the same file for every server. Each callable answers the
lifespan protocol (startup and shutdown complete at once) so that no server logs a
refused lifespan or runs without it; every response carries a Content-Length, so each
server keeps the connection alive without chunking. The bodies are built at import, as
in bench_wsgi.py, and are the same bytes (tests/bench/scenarios.py checks them).
"""

import asyncio

HELLO = b"Hello, World!"  # 13 bytes
CHUNK = 64 * 1024
CHUNKS_1M = 16  # 16 x 64 KiB = 1 MiB
CHUNK_64K = bytes(range(256)) * (CHUNK // 256)

HELLO_START = {"type": "http.response.start", "status": 200,
               "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")]}
HELLO_BODY = {"type": "http.response.body", "body": HELLO}
STREAM_START = {"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"),
                            (b"content-length", str(CHUNK * CHUNKS_1M).encode())]}


async def lifespan(receive, send):
    """Startup and shutdown complete at once: the app holds no resources."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def hello(scope, receive, send):
    """13 bytes of plain text: the per-request cost of the server and its loop."""
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    await send(HELLO_START)
    await send(HELLO_BODY)


async def stream_1m(scope, receive, send):
    """1 MiB in 16 sends of 64 KiB with more_body (the server must stream them)."""
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    await send(STREAM_START)
    for i in range(CHUNKS_1M):
        await send({"type": "http.response.body", "body": CHUNK_64K,
                    "more_body": i < CHUNKS_1M - 1})


async def sleep_10ms(scope, receive, send):
    """Stands in for a 10 ms database call on the event loop: the task waits, the loop
    serves the other connections meanwhile."""
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    await asyncio.sleep(0.010)
    await send(HELLO_START)
    await send(HELLO_BODY)
