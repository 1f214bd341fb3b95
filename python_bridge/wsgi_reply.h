/* The reply: start_response and write (PEP 3333), and the object behind a py_reply_t.
 *
 * One Python object serves as start_response (tp_call) and holds the public py_reply_t
 * that the C side gets a pointer to; container_of leads back. It is reused through a
 * small free list, so a steady stream of requests allocates none. Reuse is only safe when
 * nobody else holds it: an application may keep start_response (or write) after the
 * response ended, so wsgi_reply_release recycles a reply only when its reference is the
 * last one; otherwise the object is left inactive (every call on it raises) and dies with
 * the application's reference. `gen` tells the write callable whether the response it
 * was handed out for is still the current one.
 *
 * Pulling the body (wsgi.c) reads and advances the fields below directly; this module
 * owns their life: wsgi_reply_get sets up, wsgi_reply_release drops every Python object.
 * Internal to python_bridge; everything here runs with the GIL held.
 */
#ifndef UF_PY_WSGI_REPLY_H
#define UF_PY_WSGI_REPLY_H

#include "python_bridge/compat.h"
#include "python_bridge/wsgi.h"
#include "python_bridge/wsgi_headers.h"
#include "python_bridge/wsgi_input.h"
#include "common/mem.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct wsgi_writer wsgi_writer_t;

typedef struct wsgi_reply {
    PyObject ob_base; /* PyObject_HEAD, spelled out for clang-format */
    py_reply_t pub;
    PyObject *result;  /* the application's return value (owned); close() goes here */
    PyObject *iter;    /* iter(result) (owned); NULL in sequence mode */
    PyObject *chunk;   /* bytes behind pub.chunk (owned) */
    PyObject *pending; /* list of bytes given to write() and not yet handed out (owned) */
    Py_ssize_t pending_pos;
    Py_ssize_t seq_pos;     /* sequence mode: next index into result */
    Py_ssize_t seq_last;    /* sequence mode: index of the last non-empty item, -1 if none */
    wsgi_writer_t *writer;  /* write() callable kept for reuse (owned), or NULL */
    wsgi_input_t *input;    /* wsgi.input kept for reuse (owned), or NULL */
    wsgi_headers_t headers; /* status and headers as given to start_response; pub points in */
    buf_t reqline;          /* "METHOD TARGET" for error-log lines after the request is gone */
    PyObject *hook_req;     /* pre_request's `req`, for post_request (owned), or NULL */
    PyObject *hook_environ; /* the environ, for post_request (owned), or NULL */
    uint32_t gen;
    bool active;        /* between wsgi_reply_get and wsgi_reply_release */
    bool seq_mode;      /* result is an exact list/tuple of bytes: indexed, not iterated */
    bool exhausted;     /* the iterable has nothing more (pending may still hold data) */
    bool headers_set;   /* start_response succeeded */
    bool headers_final; /* the C side has (or may have) sent them: exc_info re-raises */
    bool closed;        /* close() was called (or result had none) */
    bool failed;        /* iteration raised; py_wsgi_next keeps returning -1 */
} wsgi_reply_t;

/* Makes the start_response and write types. Returns 0, or -1 with a Python exception
 * set. */
int wsgi_reply_setup(void);

/* Empties the free list and drops the types (live replies keep them alive). */
void wsgi_reply_teardown(void);

/* A reply ready for req (the caller's reference; req's method and target are copied for
 * the error log), from the free list when possible. NULL with MemoryError set. */
wsgi_reply_t *wsgi_reply_get(const py_request_t *req);

/* Drops every Python object of the response, closes its wsgi.input and recycles r when
 * nobody else holds it. Consumes the caller's reference. */
void wsgi_reply_release(wsgi_reply_t *r);

/* Calls close() on the application's iterable, at most once; an exception there is
 * logged. */
void wsgi_reply_close(wsgi_reply_t *r);

/* Logs the pending exception (taken out of the error indicator) as the failure of r's
 * request: "Error handling request METHOD TARGET" and the traceback. The status and
 * headers stay readable: the C side may still log them once the response is cut short. */
void wsgi_reply_log_error(wsgi_reply_t *r);

/* A body chunk as bytes (new reference). bytes pass through; other buffer objects are
 * copied, since a bytearray could change while the chunk waits to be sent; str and
 * everything else is a TypeError naming `what` (NULL returned). */
PyObject *wsgi_as_bytes(PyObject *o, const char *what);

#endif
