"""Raw ASGI 3 applications (no framework) for tests/integration/test_asgi.py.

`app` routes on the path; every route speaks the protocol by hand so the tests see
exactly what the server does with each message. The lifespan startup puts the worker's
pid into the state; shutdown writes $ASGI_MARKER (when set) so a test can see it ran.
"""
import asyncio
import json
import os
import time


def _text(data):
    return data.decode("latin-1") if isinstance(data, (bytes, bytearray)) else data


async def _reply(send, status, body, headers=(), content_type=b"text/plain"):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), *headers]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive):
    chunks, messages = [], 0
    while True:
        m = await receive()
        assert m["type"] == "http.request", m
        messages += 1
        chunks.append(m["body"])
        if not m.get("more_body"):
            return b"".join(chunks), messages


def _mark(name, text):
    marker = os.environ.get("ASGI_MARKER")
    if marker:
        with open(marker + "." + name, "a") as f:
            f.write(text + "\n")


async def lifespan(scope, receive, send):
    while True:
        m = await receive()
        if m["type"] == "lifespan.startup":
            scope["state"]["started_by"] = os.getpid()
            scope["state"]["items"] = ["shared"]
            await send({"type": "lifespan.startup.complete"})
        elif m["type"] == "lifespan.shutdown":
            _mark("shutdown", str(os.getpid()))
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    if path == "/":
        return await _reply(send, 200, b"Hello, ASGI!\n")
    if path == "/task":
        task = asyncio.current_task()
        await asyncio.sleep(0)  # the task outlives a suspension
        same = asyncio.current_task() is task
        return await _reply(send, 200, json.dumps({
            "name": task.get_name(), "same": same,
            "made_by": getattr(task, "made_by", "asyncio")}).encode())
    if path.startswith("/scope"):
        shown = {k: v for k, v in scope.items() if k not in ("state",)}
        shown["headers"] = [[_text(n), _text(v)] for n, v in scope["headers"]]
        shown["raw_path"] = _text(scope["raw_path"])
        shown["query_string"] = _text(scope["query_string"])
        shown["state"] = dict(scope.get("state", {}))
        shown["client"] = list(scope["client"]) if scope["client"] else None
        shown["server"] = list(scope["server"]) if scope["server"] else None
        return await _reply(send, 200, json.dumps(shown).encode(),
                            content_type=b"application/json")
    if path == "/echo":
        body, messages = await _read_body(receive)
        return await _reply(send, 200, body, [(b"x-messages", str(messages).encode())])
    if path == "/count":
        # reads the body slowly: the server must not buffer it all meanwhile
        total = 0
        while True:
            m = await receive()
            total += len(m.get("body", b""))
            if not m.get("more_body"):
                break
            await asyncio.sleep(0.001)
        return await _reply(send, 200, str(total).encode())
    if path == "/stream":
        n = int(_text(scope["query_string"]) or "5")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        for i in range(n):
            await send({"type": "http.response.body", "body": b"chunk %d\n" % i,
                        "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/big":
        # size and chunk in the query: 'SIZE,CHUNK'
        size, chunk = (int(x) for x in _text(scope["query_string"]).split(","))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(size).encode())]})
        block = b"x" * chunk
        sent = 0
        while sent < size:
            n = min(chunk, size - sent)
            sent += n
            await send({"type": "http.response.body", "body": block[:n],
                        "more_body": sent < size})
        return
    if path == "/forever":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"tick\n" * 100,
                            "more_body": True})
                await asyncio.sleep(0.01)
        except OSError as e:
            _mark("forever", type(e).__name__)
            raise
    if path == "/wait-disconnect":
        await _read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"started\n", "more_body": True})
        t0 = time.monotonic()
        m = await receive()
        _mark("disconnect", "%s %.3f" % (m["type"], time.monotonic() - t0))
        return
    if path == "/ignore-disconnect":
        # ?cleanup: waits for http.disconnect, then takes 0.3 s to clean up; else it
        # awaits something unrelated to the client for a minute
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"started\n", "more_body": True})
        t0 = time.monotonic()
        try:
            if scope["query_string"] == b"cleanup":
                await _read_body(receive)
                assert (await receive())["type"] == "http.disconnect"
                await asyncio.sleep(0.3)
                _mark("grace", "cleaned %.3f" % (time.monotonic() - t0))
            else:
                await asyncio.sleep(60)
        except asyncio.CancelledError:
            _mark("grace", "cancelled %.3f" % (time.monotonic() - t0))
            raise
        return
    if path == "/raise":
        raise ValueError("raised before the response")
    if path == "/raise-after-start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ValueError("raised in the middle of the response")
    if path == "/no-response":
        return
    if path == "/incomplete":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"half", "more_body": True})
        return
    if path == "/bad-header":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-bad", b"a\r\nInjected: yes")]})
        return
    if path == "/too-long":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"3")]})
        await send({"type": "http.response.body", "body": b"abcdef"})
        return
    if path == "/sleep":
        await asyncio.sleep(float(_text(scope["query_string"]) or "0.1"))
        return await _reply(send, 200, b"slept\n")
    if path == "/block":
        time.sleep(float(_text(scope["query_string"]) or "5"))
        return await _reply(send, 200, b"blocked\n")
    if path == "/after-response":
        await _reply(send, 200, b"done\n")
        m = await receive()
        if m["type"] == "http.request":  # the (empty) body had not been asked for yet
            m = await receive()
        await asyncio.sleep(0.05)
        _mark("after", m["type"])
        try:
            await send({"type": "http.response.body", "body": b"late"})
        except RuntimeError as e:
            _mark("after", "RuntimeError")
        return
    if path.startswith("/pathsend"):
        assert "http.response.pathsend" in scope["extensions"]
        name = os.environ["ASGI_FILE"] + ("" if path == "/pathsend" else ".missing")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        await send({"type": "http.response.pathsend", "path": name})
        return
    if path == "/trailers":
        # ?cl: a Content-Length; ?split: the fields in two messages; ?skip: none sent;
        # ?early: a trailers message before the body has ended
        q = _text(scope["query_string"]).split("&")
        offered = "http.response.trailers" in scope["extensions"]
        headers = [(b"content-type", b"text/plain"), (b"trailer", b"x-checksum, x-count")]
        if "cl" in q:
            headers.append((b"content-length", b"10"))
        await send({"type": "http.response.start", "status": 200, "headers": headers,
                    "trailers": True})
        if "early" in q:
            await send({"type": "http.response.trailers", "headers": []})
        await send({"type": "http.response.body", "body": b"hello", "more_body": True})
        await send({"type": "http.response.body", "body": b"world"})
        fields = [(b"x-checksum", b"abc123"), (b"content-length", b"99"),
                  (b"x-count", b"offered" if offered else b"not offered")]
        if "skip" in q:
            return
        if "split" in q:
            await send({"type": "http.response.trailers", "headers": fields[:1],
                        "more_trailers": True})
            fields = fields[1:]
        await send({"type": "http.response.trailers", "headers": fields})
        return
    if path == "/head":
        return await _reply(send, 200, b"body of a GET\n")
    return await _reply(send, 404, b"not found\n")


class Asgi2App:
    """ASGI 2: instantiated with the scope, then awaited with (receive, send)."""

    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        if self.scope["type"] != "http":
            return
        await _reply(send, 200, b"asgi2 " + self.scope["path"].encode())


async def failing_lifespan(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database is unreachable"})
        return
    await _reply(send, 200, b"never\n")


async def raising_lifespan(scope, receive, send):
    if scope["type"] == "lifespan":
        raise RuntimeError("this application has no lifespan")
    await _reply(send, 200, b"no lifespan here\n")


class FactoryTask(asyncio.Task):
    made_by = "factory"


async def factory_app(scope, receive, send):
    """`app`, with a task factory installed at lifespan startup, as an application that
    wants its own Task class (or asyncio.eager_task_factory) does."""
    if scope["type"] == "lifespan":
        asyncio.get_running_loop().set_task_factory(
            lambda loop, coro, **kw: FactoryTask(coro, loop=loop, **kw))
    return await app(scope, receive, send)


def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi\n"]
