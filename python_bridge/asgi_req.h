/* The ASGI bridge's own pieces, shared by asgi.c (the loop, the request's task), asgi_io.c
 * (receive and send) and asgi_scope.c (the scope): the request object, and the objects
 * every request of the worker shares.
 *
 * A request object is three things at once: the task's coroutine (it wraps the
 * application's coroutine, so every step of the task passes through asgi.c), the `self`
 * of the request's receive and send callables, and the worker's handle on the request
 * (py_asgi_req_t). Internal to python_bridge; GIL held, one thread.
 */
#ifndef UF_PY_ASGI_REQ_H
#define UF_PY_ASGI_REQ_H

#include "python_bridge/asgi.h"
#include "python_bridge/compat.h"

#include <stdbool.h>
#include <stdint.h>

/* Where the response is, as send() has seen it. */
enum asgi_phase {
    ASGI_NONE = 0, /* no http.response.start yet */
    ASGI_STARTED,  /* the start message is held: the head goes out with the first body */
    ASGI_BODY,     /* the head has been handed to the worker */
    ASGI_TRAILERS, /* the last body message is out; the response ends with trailers */
    ASGI_ENDED,    /* the response is complete as far as the worker is concerned */
};

struct py_asgi_req {
    PyObject ob_base;       /* PyObject_HEAD, spelled out for clang-format */
    void *owner;            /* the worker's connection; NULL once detached */
    PyObject *coro;         /* the application's coroutine (owned), NULL when it ended */
    PyObject *task;         /* the asyncio task running it (owned) until it ends */
    PyObject *recv_waiter;  /* the Future a receive() waits on, or NULL */
    PyObject *send_waiter;  /* the Future a send() waits on, or NULL */
    PyObject *status_line;  /* bytes "200 OK" from http.response.start, until the head */
    PyObject *headers;      /* its validated headers: a list of (bytes, bytes) */
    PyObject *trailers;     /* http.response.trailers fields held until the last one */
    int64_t content_length; /* from those headers, -1 without */
    int status;
    uint8_t phase;      /* enum asgi_phase */
    bool body_done;     /* the last http.request message was given */
    bool disconnected;  /* the client went away: receive() says http.disconnect */
    bool gone;          /* detached because the connection closed: send() raises */
    bool ended;         /* the task is over (the worker was told) */
    bool cancel_set;    /* the client left: the task's cancellation is scheduled */
    bool trailers_ok;   /* the scope advertises http.response.trailers (TE: trailers) */
    bool with_trailers; /* http.response.start said trailers: True */
    char line[128];     /* "METHOD TARGET", what --timeout names */
    /* a websocket scope (asgi_ws.c) */
    bool websocket;
    uint8_t ws_state;    /* enum asgi_ws_state */
    int ws_code;         /* the close code websocket.disconnect gives, 0 until closed */
    PyObject *ws_reason; /* ... and its reason (str), NULL until then */
    PyObject *ws_queue;  /* messages receive() has not returned (a list), or NULL */
    size_t ws_head;      /* the first of them not yet returned */
    size_t ws_queued;    /* their payload bytes */
};

/* Where a websocket scope is, as receive() and send() have seen it. */
enum asgi_ws_state {
    ASGI_WS_CONNECTING = 0, /* websocket.connect not yet returned by receive() */
    ASGI_WS_HANDSHAKE,      /* it was: the application accepts, closes or denies */
    ASGI_WS_OPEN,           /* accepted */
    ASGI_WS_DENIED,         /* a websocket.http.response began */
    ASGI_WS_CLOSED,         /* the application sent websocket.close, or the peer left */
};

/* What every request of the worker shares; made by py_asgi_open. */
typedef struct asgi_shared {
    PyObject *loop;
    PyObject *create_future;  /* loop.create_future, bound */
    PyObject *state;          /* lifespan's state dict when the application uses it */
    PyObject *disconnect_exc; /* the OSError subclass send() raises once the client left */
    PyTypeObject *req_type;
    const py_asgi_ops_t *ops;
    py_slice_t root_path; /* --root-path, "" for none */
} asgi_shared_t;

extern asgi_shared_t asgi_shared;

/* A round of the worker is due soon (something a task did queued work): once per loop
 * iteration however many ask. */
void asgi_round_soon(void);

/* ---- asgi_io.c: receive, send -------------------------------------------------------- */

/* Makes the shared objects of receive/send (interned texts, the awaitable type). Returns
 * 0 or -1 with an exception set. */
int asgi_io_setup(void);
void asgi_io_teardown(void);

/* The request's receive and send callables (new references), or NULL with an exception. */
PyObject *asgi_io_receive(struct py_asgi_req *r);
PyObject *asgi_io_send(struct py_asgi_req *r);

/* The message receive() would return now (new reference), NULL with no exception when it
 * must wait, NULL with an exception on failure. */
PyObject *asgi_io_next_message(struct py_asgi_req *r);

/* Whether *waiter is a Future nobody has resolved or cancelled; drops one that is done. */
bool asgi_io_waiting(PyObject **waiter);

/* Resolves *waiter (and clears it) with `value` (borrowed), or with the exception
 * `exc_type` when value is NULL; a waiter already done (cancelled) is only dropped. */
void asgi_io_resolve(PyObject **waiter, PyObject *value, PyObject *exc_type);

/* Ends a response left waiting for its trailers (phase ASGI_TRAILERS) with those held
 * so far, none when the task ended without sending them. Returns 0, or -1 with `why` set
 * (fewer body bytes than its Content-Length). */
int asgi_io_end_trailers(struct py_asgi_req *r, const char **why);

/* {"type": "http.disconnect"} (new reference). */
PyObject *asgi_io_disconnect_message(void);

/* What asgi_ws.c shares with receive() and send(): an awaitable returning value (stolen;
 * NULL for None); a new Future in *slot; the http.response.start and .body handlers,
 * which websocket.http.response.* reuse. */
PyObject *asgi_io_ready(PyObject *value);
PyObject *asgi_io_new_waiter(PyObject **slot);
/* A message's headers (an iterable of [name, value] pairs of bytes; NULL or None for
 * none) validated into a new list of (name, value) tuples, a Content-Length's value in
 * *length; NULL with an exception set. */
PyObject *asgi_io_check_headers(PyObject *given, int64_t *length);
/* Slices of such a list (*count of them), in an array every call reuses. */
const py_header_t *asgi_io_header_slices(PyObject *headers, size_t *count);
PyObject *asgi_io_send_start(struct py_asgi_req *r, PyObject *msg);
PyObject *asgi_io_send_body(struct py_asgi_req *r, PyObject *msg);

/* ---- asgi_ws.c: a websocket scope's receive and send --------------------------------------- */

int asgi_ws_setup(void);
void asgi_ws_teardown(void);

/* What receive() returns now for a websocket scope (new reference), NULL with no
 * exception when it must wait, NULL with an exception on failure. */
PyObject *asgi_ws_next_message(struct py_asgi_req *r);
/* send() of a websocket scope (msg a dict, type its borrowed 'type'). */
PyObject *asgi_ws_send(struct py_asgi_req *r, PyObject *msg, PyObject *type);
/* The request's websocket objects dropped (tp_clear) and visited (tp_traverse). */
void asgi_ws_clear(struct py_asgi_req *r);
int asgi_ws_traverse(struct py_asgi_req *r, visitproc visit, void *arg);

/* ---- asgi_scope.c ---------------------------------------------------------------------- */

int asgi_scope_setup(void);
void asgi_scope_teardown(void);

/* The http scope for req (new reference), or NULL with an exception set. */
PyObject *asgi_scope_new(const py_request_t *req);

/* Whether the response to `req` may end with trailer fields: HTTP/1.1 (chunked framing
 * exists) and a TE header naming "trailers" (RFC 9110 6.5.1: otherwise the client may
 * not read them). The scope advertises http.response.trailers exactly then. */
bool asgi_scope_trailers_allowed(const py_request_t *req);

#endif
