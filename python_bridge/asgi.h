/* ASGI 3 (HTTP spec 2.4, lifespan 2.0) as seen from the C side: the worker's asyncio loop,
 * one task per request, receive/send implemented in C.
 *
 * The worker (src/) owns the connections and the ring; this module owns the event loop,
 * the request tasks and every Python object. They meet through two narrow interfaces:
 *   - py_asgi_host_t, given to py_asgi_run: the descriptor the loop watches and the
 *     worker's round (reap completions without waiting, dispatch, deadlines), which the
 *     loop runs when that descriptor is readable, when a task step queued work, and at
 *     the next deadline;
 *   - py_asgi_ops_t, given to py_asgi_open: what receive() and send() ask of the
 *     connection a request belongs to (`owner`, an opaque pointer the worker chose).
 * In the other direction the worker tells a request that body bytes arrived, that its
 * output drained, that the client went away, or that it is done with it
 * (py_asgi_body_ready ... py_asgi_detach).
 *
 * Ownership: py_asgi_start returns a request the worker holds (one reference) until it
 * calls py_asgi_detach, which also clears the request's owner pointer: from then on no
 * call reaches the connection, however long the task (or a background task the
 * application started) runs. The task holds its own reference.
 *
 * Threads: everything here runs on the worker's one thread with the GIL held (an ASGI
 * worker holds it always, except while its loop waits in the selector). Nothing here
 * knows about io_uring or sockets.
 */
#ifndef UF_PY_ASGI_H
#define UF_PY_ASGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "python_bridge/interp.h"
#include "python_bridge/wsgi.h"

typedef struct py_asgi_req py_asgi_req_t;

/* What a request asks of its connection (owner). Each is called only while the request is
 * attached (between py_asgi_start and py_asgi_detach). */
typedef struct py_asgi_ops {
    void *ctx; /* passed to each call, before the owner */
    /* receive(): the body bytes that have arrived and are not yet taken, as *data (valid
     * until body_taken), *more false when they end the body. Returns 1 with a message to
     * give, 0 when nothing is there yet (the worker now wants more: it sends "100
     * Continue" if the client waits for it, resumes a paused receive, and calls
     * py_asgi_body_ready when bytes come). */
    int (*take_body)(void *ctx, void *owner, py_slice_t *data, bool *more);
    /* The bytes take_body gave have been copied: the worker may drop them. */
    void (*body_taken)(void *ctx, void *owner);
    /* send(): a piece of the response. `head` is non-NULL with the first piece only (its
     * status, headers, content_length; body_length = len and done set when this piece is
     * the whole body). `more` false ends the body. Returns 0, 1 when the output is above
     * the high-water mark (the task waits for py_asgi_send_ready), or -1 with `why` set
     * to an application error (more bytes than its Content-Length, fewer at the end). */
    int (*body)(void *ctx, void *owner, const py_reply_t *head, const char *data, size_t len,
                bool more, const char **why);
    /* send() of http.response.pathsend: the whole body is the `length` bytes of the
     * regular file open as `fd`, which the worker owns from here on (it closes it); `head`
     * as for body (body_length = length). Returns 0, or -1 with `why` set (the descriptor
     * is then still the caller's). */
    int (*pathsend)(void *ctx, void *owner, const py_reply_t *head, int fd, int64_t length,
                    const char **why);
    /* send() of the last http.response.trailers (or the task's end without one, count
     * 0), after a last body piece given with `more` true because the response was to end
     * with trailers: ends the response, with the fields when its framing can carry them.
     * Returns as body does (-1: fewer bytes than its Content-Length). */
    int (*trailers)(void *ctx, void *owner, const py_header_t *fields, size_t count,
                    const char **why);
    /* The task ended: `failed` when the application raised (the traceback is logged).
     * The worker answers 500 if no byte of the response went out, closes the connection
     * if the response had started without ending, and does nothing if it had ended. */
    void (*done)(void *ctx, void *owner, bool failed);

    /* ---- a websocket scope (its denial response goes through body like an http one) ---- */
    /* websocket.accept: the 101 with `subprotocol` (ptr NULL for none) and the extra
     * headers (validated). Returns 0, or -1 with `why` set. */
    int (*ws_accept)(void *ctx, void *owner, py_slice_t subprotocol, const py_header_t *headers,
                     size_t count, const char **why);
    /* websocket.send: one message, text (UTF-8) or binary. Returns 0, 1 when the output
     * is above the high-water mark (the task waits for py_asgi_send_ready), or -1 with
     * `why` set (the connection is closing). */
    int (*ws_send)(void *ctx, void *owner, bool text, const char *data, size_t len,
                   const char **why);
    /* websocket.close: before websocket.accept the handshake is refused (403); after it,
     * the close frame with code and reason (UTF-8, cut to fit) goes out and the worker
     * waits, bounded, for the client's. Returns 0, or -1 with `why` set for a code an
     * endpoint may not send (nothing is sent then). */
    int (*ws_close)(void *ctx, void *owner, long code, const char *reason, size_t len,
                    const char **why);
    /* receive() took messages and the queue is below its bound again: reading resumes. */
    void (*ws_resume)(void *ctx, void *owner);
} py_asgi_ops_t;

/* What the loop needs from the worker (py_asgi_run). */
typedef struct py_asgi_host {
    int fd; /* readable when the worker has completions to reap */
    void *ctx;
    /* One round without waiting. Returns the milliseconds until the worker's next
     * deadline; sets *again when completions are already waiting (run another round
     * soon) and *finished when the worker has nothing left to serve (drained, or told to
     * stop now: the loop stops). */
    int (*round)(void *ctx, bool *again, bool *finished);
    /* A step of a request's task starts (line: "METHOD TARGET") or ends (line NULL):
     * what --timeout measures. */
    void (*step)(void *ctx, const char *line);
} py_asgi_host_t;

/* The settings the loop and the requests need. */
typedef struct py_asgi_config {
    const char *loop;     /* "auto", "asyncio" or "uvloop" */
    const char *lifespan; /* "auto", "on" or "off" */
    const char *root_path;
    size_t root_path_len;
    double disconnect_grace; /* seconds a task may run on after its client left */
} py_asgi_config_t;

/* How `app` is called (after py_app_load): `want` is "auto", "wsgi" or "asgi" (tunables'
 * enum as text). Returns 1 for ASGI (an ASGI 2 double callable is wrapped in place),
 * 0 for WSGI, or -1 with one line in err (--interface asgi with something that is not
 * ASGI). `how` receives a few words for the start-up line ("ASGI 3, auto-detected"). */
int py_asgi_detect(py_app_t *app, const char *want, char *how, size_t howlen, char *err,
                   size_t errlen);

/* Creates the worker's event loop and the objects every request shares. Returns 0, or -1
 * with one line in err (uvloop asked for and missing). `how` receives the loop's name. */
int py_asgi_open(py_app_t *app, const py_asgi_config_t *cfg, const py_asgi_ops_t *ops, char *how,
                 size_t howlen, char *err, size_t errlen);

/* Lifespan startup, run to its end on the loop. Returns 0 (done, or not supported under
 * auto, or off), or -1 with the application's message in err (startup.failed, or an
 * exception with lifespan on). */
int py_asgi_startup(char *err, size_t errlen);

/* Runs the loop until host->finished; returns 0, or -1 when the loop failed (logged). */
int py_asgi_run(const py_asgi_host_t *host);

/* After py_asgi_run: waits up to `seconds` for tasks still running, then runs lifespan
 * shutdown within what is left, then cancels what still runs, closes the loop and drops
 * what the bridge made. */
void py_asgi_shutdown(double seconds);

/* ---- per request ---------------------------------------------------------------------- */

/* Builds the scope for `req` (slices borrowed for the call only) and starts the
 * application's task; `line` names the request for --timeout ("GET /x"). Returns the
 * request (the caller's reference), or NULL when the scope could not be built (logged;
 * the caller answers 500). https, client and server come from req as for WSGI. */
py_asgi_req_t *py_asgi_start(const py_request_t *req, void *owner, const char *line);

/* Body bytes arrived (or the body ended): a receive() waiting for them gets them now. */
void py_asgi_body_ready(py_asgi_req_t *r);
/* The output went below the high-water mark: a send() waiting for it returns. */
void py_asgi_send_ready(py_asgi_req_t *r);
/* The client went away (EOF, reset): receive() returns http.disconnect from now on. */
void py_asgi_disconnect(py_asgi_req_t *r);
/* ---- a websocket scope's news ------------------------------------------------------------ */

/* Messages receive() returns unread beyond which the worker stops reading (with the bytes
 * bound below, whichever comes first); it resumes when receive() takes them (ws_resume). */
#define PY_ASGI_WS_QUEUE_MAX   64
#define PY_ASGI_WS_QUEUE_BYTES (1024 * 1024)

/* A whole message arrived (text: valid UTF-8). Returns true while the queue of messages
 * receive() has not returned is within its bounds; false: the worker pauses reading. */
bool py_asgi_ws_message(py_asgi_req_t *r, bool text, const char *data, size_t len);
/* The WebSocket closed: the client's close frame (its code, 1005 when it gave none, and
 * reason), the close the worker sent for a protocol error (1002, 1007, 1009), or the
 * connection lost (1006). receive() returns websocket.disconnect with them once the
 * queued messages are taken; send() raises from now on. */
void py_asgi_ws_closed(py_asgi_req_t *r, int code, const char *reason, size_t len);

/* The worker is done with r: `gone` when the connection closed (send() raises an OSError
 * from now on, receive() returns http.disconnect), else the response is complete (send()
 * raises RuntimeError, receive() returns http.disconnect). Drops the worker's
 * reference. */
void py_asgi_detach(py_asgi_req_t *r, bool gone);

#endif
