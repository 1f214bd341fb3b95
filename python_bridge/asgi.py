# The Python side of an ASGI worker (python_bridge/asgi.c runs it as _uwsgi_fast_asgi):
# what happens once per worker and reads better in Python than in C API calls: telling
# an ASGI application from a WSGI one, choosing the event loop, the lifespan protocol,
# and the end of the worker. Everything per request is in C.
import asyncio
import collections.abc
import inspect

ASGI_LIFESPAN = {"version": "3.0", "spec_version": "2.0"}


def register_coroutine(cls):
    """The request object is the task's coroutine: asyncio accepts it as one."""
    collections.abc.Coroutine.register(cls)


# ---- which interface -----------------------------------------------------------------

def _is_coroutine_function(fn):
    # asyncio's check also honours the marker older asgiref and Django set on callables
    # that return awaitables without being `async def` themselves
    return inspect.iscoroutinefunction(fn) or asyncio.iscoroutinefunction(fn)


def _positionals(fn):
    """How many positional parameters fn takes (None when it takes *args or cannot be
    inspected): ASGI 2 takes the scope alone, WSGI takes two."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def _kind(app):
    """'asgi3', 'asgi2' or 'wsgi'. ASGI 3 is a coroutine function taking (scope, receive,
    send), or an object whose __call__ is one. ASGI 2 is a callable taking the scope alone
    and returning the coroutine function (a class instantiated with the scope, as a rule);
    WSGI takes (environ, start_response)."""
    if inspect.isclass(app):
        init = _positionals(app)
        return "asgi2" if init == 1 else "wsgi"
    if _is_coroutine_function(app):
        return "asgi3"
    call = getattr(app, "__call__", None)
    if call is not None and _is_coroutine_function(call):
        return "asgi3"
    return "asgi2" if _positionals(app) == 1 else "wsgi"


def _wrap_asgi2(app):
    async def asgi3(scope, receive, send):
        instance = app(scope)
        await instance(receive, send)

    return asgi3


def detect(app, want):
    """(callable, is_asgi, how) for --interface `want` ('auto', 'wsgi' or 'asgi')."""
    kind = _kind(app)
    if want == "wsgi":
        return app, False, "WSGI (--interface wsgi)"
    why = "--interface asgi" if want == "asgi" else "auto-detected"
    if kind == "asgi2":
        return _wrap_asgi2(app), True, "ASGI 2, called as ASGI 3 (%s)" % why
    if kind == "asgi3" or want == "asgi":
        return app, True, "ASGI 3 (%s)" % why
    return app, False, "WSGI (auto-detected)"


# ---- the event loop ------------------------------------------------------------------

def make_loop(which):
    """(loop, name) for --loop `which`; the loop is made current for this thread."""
    if which in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if which == "uvloop":
                raise RuntimeError("--loop uvloop: uvloop is not installed in the "
                                   "application's environment (pip install uvloop)") from None
        else:
            loop = uvloop.new_event_loop()
            asyncio.set_event_loop(loop)
            return loop, "uvloop %s" % getattr(uvloop, "__version__", "")
    loop = asyncio.SelectorEventLoop()
    asyncio.set_event_loop(loop)
    return loop, "asyncio"


# ---- lifespan ------------------------------------------------------------------------

class Lifespan:
    """The lifespan protocol for one worker. startup() and shutdown() run on the loop."""

    def __init__(self, app, mode):
        self.app = app
        self.mode = mode
        self.state = {}
        self.task = None
        self.used = False           # the application speaks it: scopes get `state`
        self.exc = None             # what the application raised, if it did
        self.failed = None          # the message of startup.failed / shutdown.failed
        self.started = False
        self.stopped = False

    async def _main(self):
        scope = {"type": "lifespan", "asgi": dict(ASGI_LIFESPAN), "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:  # the application's own: reported, never re-raised
            self.exc = exc
        finally:
            self.startup_event.set()
            self.shutdown_event.set()

    async def _receive(self):
        return await self.inbox.get()

    async def _send(self, message):
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "lifespan.startup.complete":
            self.started = True
            self.startup_event.set()
        elif kind == "lifespan.startup.failed":
            self.failed = str(message.get("message", ""))
            self.startup_event.set()
        elif kind == "lifespan.shutdown.complete":
            self.stopped = True
            self.shutdown_event.set()
        elif kind == "lifespan.shutdown.failed":
            self.failed = str(message.get("message", ""))
            self.shutdown_event.set()
        else:
            raise RuntimeError("unexpected ASGI lifespan message %r" % (kind,))

    async def startup(self):
        """('ok' | 'unsupported' | 'failed', message, exception or None)."""
        self.inbox = asyncio.Queue()
        self.startup_event = asyncio.Event()
        self.shutdown_event = asyncio.Event()
        self.task = asyncio.ensure_future(self._main())
        await self.inbox.put({"type": "lifespan.startup"})
        await self.startup_event.wait()
        if self.started:
            self.used = True
            return "ok", "", None
        if self.failed is not None:
            return "failed", self.failed or "lifespan.startup.failed without a message", None
        if self.mode == "auto":
            # raised or returned before startup.complete: the protocol is not spoken
            return "unsupported", "", self.exc
        what = repr(self.exc) if self.exc is not None else "returned before startup.complete"
        return "failed", what, self.exc

    async def shutdown(self):
        """None, or why the shutdown did not complete cleanly."""
        if not self.used or self.task is None or self.task.done():
            return None
        self.failed = None
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.shutdown_event.wait()
        if self.failed is not None:
            return "lifespan shutdown failed: %s" % (self.failed or "lifespan.shutdown.failed")
        if self.exc is not None:
            return "lifespan shutdown raised %r" % (self.exc,)
        return None


def startup(loop, lifespan):
    return loop.run_until_complete(lifespan.startup())


def finish(loop, lifespan, seconds):
    """The end of a drained worker: tasks still running get up to `seconds`, then lifespan
    shutdown runs within what is left, then whatever still runs is cancelled. Returns
    None, or a message for the error log."""
    deadline = loop.time() + max(seconds, 0.0)

    async def main():
        me = asyncio.current_task()
        life = lifespan.task if lifespan is not None else None
        running = [t for t in asyncio.all_tasks() if t is not me and t is not life]
        if running:
            await asyncio.wait(running, timeout=max(deadline - loop.time(), 0.0))
        message = None
        if lifespan is not None:
            try:
                message = await asyncio.wait_for(lifespan.shutdown(),
                                                 max(deadline - loop.time(), 0.05))
            except asyncio.TimeoutError:
                message = "lifespan shutdown did not complete within --graceful-timeout"
        rest = [t for t in asyncio.all_tasks() if t is not me]
        for t in rest:
            t.cancel()
        if rest:
            await asyncio.wait(rest, timeout=1.0)
        return message

    try:
        return loop.run_until_complete(main())
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
