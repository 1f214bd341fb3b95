/* WSGI (PEP 3333): calling the application and pulling the response body. */
#include "python_bridge/wsgi.h"

#include "python_bridge/compat.h"
#include "python_bridge/errors.h"
#include "python_bridge/wsgi_environ.h"
#include "python_bridge/reqtext.h"
#include "python_bridge/wsgi_filewrapper.h"
#include "python_bridge/wsgi_input.h"
#include "python_bridge/wsgi_reply.h"
#include "python_bridge/hooks_request.h"
#include "common/mem.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* wsgi.multithread (--threads > 1) and wsgi.multiprocess (more than one worker), as
 * py_wsgi_prepare was told; and whether the modules' shared objects exist. */
static bool multithread, multiprocess = true;
static bool ready;

/* ---- the body ----------------------------------------------------------------------- */

/* Takes the application's return value apart: an exact list or tuple of bytes is read by
 * index (no iterator object, and its total length is known up front, so the C side can
 * send Content-Length); anything else is iterated. A str inside a list is refused here,
 * while the response can still become a 500. Returns 0 or -1 with an exception set. */
static int start_body(wsgi_reply_t *r)
{
    PyObject *res = r->result;
    if (PyList_CheckExact(res) || PyTuple_CheckExact(res)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(res);
        PyObject **items = PySequence_Fast_ITEMS(res);
        int64_t total = 0;
        Py_ssize_t last = -1;
        bool all_bytes = true;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (PyBytes_CheckExact(items[i])) {
                Py_ssize_t len = PyBytes_GET_SIZE(items[i]);
                total += len;
                if (len)
                    last = i;
            } else if (PyUnicode_Check(items[i])) {
                PyErr_Format(PyExc_TypeError, "response body item %zd must be bytes, not str", i);
                return -1;
            } else {
                all_bytes = false; /* bytes-like: converted one by one as we go */
            }
        }
        if (all_bytes) {
            r->seq_mode = true;
            r->seq_pos = 0;
            r->seq_last = last;
            if (r->pending)
                for (Py_ssize_t i = 0; i < PyList_GET_SIZE(r->pending); i++)
                    total += PyBytes_GET_SIZE(PyList_GET_ITEM(r->pending, i));
            r->pub.body_length = total;
            return 0;
        }
    } else if (PyUnicode_Check(res) || PyBytes_Check(res)) {
        /* iterating these would send one character per chunk; PEP 3333 says a list */
        PyErr_Format(PyExc_TypeError,
                     "the application returned %.100s; it must return an iterable of bytes, "
                     "e.g. [body]",
                     Py_TYPE(res)->tp_name);
        return -1;
    }
    r->iter = PyObject_GetIter(res); /* owned */
    return r->iter ? 0 : -1;
}

/* Makes chunk (owned, non-empty bytes; ownership moves in) the current chunk, and says
 * whether it is the last one, where that is known without running application code:
 * nothing queued by write(), and the iterable is either used up or a list whose
 * remaining items are all empty. */
static void set_chunk(wsgi_reply_t *r, PyObject *chunk)
{
    r->chunk = chunk;
    r->pub.chunk = (py_slice_t){PyBytes_AS_STRING(chunk), (size_t)PyBytes_GET_SIZE(chunk)};
    r->pub.done = !r->pending && (r->exhausted || (r->seq_mode && r->seq_pos > r->seq_last));
    r->pub.next_ready = !r->pub.done && (r->pending || r->seq_mode);
}

/* Moves to the next non-empty chunk. Returns 1 (pub.chunk set, pub.done set when it is
 * known to be the last), 0 (nothing more: pub.done set, pub.chunk empty) or -1 (the
 * iterable raised; exception pending). */
static int advance(wsgi_reply_t *r)
{
    Py_CLEAR(r->chunk); /* the C side is done with it */
    r->pub.chunk = (py_slice_t){NULL, 0};
    for (;;) {
        if (r->pending) {
            Py_ssize_t n = PyList_GET_SIZE(r->pending);
            if (r->pending_pos < n) {
                PyObject *b = Py_NewRef(PyList_GET_ITEM(r->pending, r->pending_pos));
                if (++r->pending_pos == n) {
                    /* drained: forget the list's references now rather than at finish */
                    Py_CLEAR(r->pending);
                    r->pending_pos = 0;
                }
                set_chunk(r, b);
                return 1;
            }
        }
        if (r->exhausted) {
            r->pub.done = true;
            return 0;
        }
        PyObject *item;
        if (r->seq_mode) {
            /* re-read the size each time: the application owns the list too */
            if (r->seq_pos >= PySequence_Fast_GET_SIZE(r->result)) {
                r->exhausted = true;
                continue;
            }
            item = Py_NewRef(PySequence_Fast_GET_ITEM(r->result, r->seq_pos));
            r->seq_pos++;
        } else {
            item = PyIter_Next(r->iter); /* new reference */
            if (!item) {
                if (PyErr_Occurred())
                    return -1;
                r->exhausted = true;
                continue;
            }
        }
        PyObject *b = wsgi_as_bytes(item, "response body item");
        Py_DECREF(item);
        if (!b)
            return -1;
        if (PyBytes_GET_SIZE(b) == 0) {
            Py_DECREF(b);
            continue;
        }
        if (r->pending) {
            /* write() was called while the generator ran: that data goes first */
            int rc = PyList_Append(r->pending, b);
            Py_DECREF(b);
            if (rc < 0)
                return -1;
            continue;
        }
        set_chunk(r, b);
        return 1;
    }
}

/* When the application returned a wsgi.file_wrapper around a regular file, and nothing
 * else is queued for the body, the C side sends the file itself, from the file object's
 * current position to its end. Anything else (BytesIO, a pipe, a socket, a file object
 * whose fileno() raises) is iterated as usual, through read(). Returns 1 for a file reply
 * (headers final, pub.file_* set), 0 to iterate. */
static int file_reply(wsgi_reply_t *r)
{
    if (!r->headers_set || r->pending)
        return 0;
    int fd;
    int64_t off, len;
    if (!wsgi_filewrapper_file(r->result, &fd, &off, &len))
        return 0;
    r->pub.file_fd = fd;
    r->pub.file_offset = off;
    r->pub.file_length = len;
    r->pub.body_length = len;
    r->pub.done = true;
    r->exhausted = true;
    r->headers_final = true;
    return 1;
}

/* ---- setup and teardown of the shared objects --------------------------------------- */

void py_wsgi_release_cache(void)
{
    /* replies first: free-listed ones hold inputs and writers */
    wsgi_reply_teardown();
    wsgi_environ_teardown();
    reqtext_teardown();
    wsgi_input_teardown();
    wsgi_filewrapper_teardown();
    ready = false;
}

/* Made on the first call. Returns 0, or -1 with an exception set (and nothing half-made
 * left behind). */
static int ensure_ready(void)
{
    if (ready)
        return 0;
    if (wsgi_filewrapper_setup() == 0 && wsgi_input_setup() == 0 && wsgi_reply_setup() == 0 &&
        wsgi_environ_setup(wsgi_filewrapper_type(), multithread, multiprocess) == 0) {
        ready = true;
        return 0;
    }
    py_wsgi_release_cache(); /* plain deallocations: fine with the exception pending */
    return -1;
}

/* ---- the public calls --------------------------------------------------------------- */

int py_wsgi_prepare(bool threads, bool processes)
{
    multithread = threads;
    multiprocess = processes;
    if (!ready)
        return ensure_ready();
    return wsgi_environ_set_flags(threads, processes);
}

/* Logs `what` with the pending exception, which it clears; returns NULL. */
static py_reply_t *log_failure(const char *what)
{
    PyObject *exc = compat_err_take(); /* owned */
    py_log_error(what, strlen(what), exc);
    Py_XDECREF(exc);
    return NULL;
}

/* pre_request, with the request's `req` and environ kept for post_request. Returns -1
 * with a Python exception set when the request must fail (pre_request raised). */
static int start_hooks(wsgi_reply_t *r, PyObject *env)
{
    bool ok = false;
    r->hook_req = hooks_request_started(env, &ok);
    if (!r->hook_req)
        return -1;
    r->hook_environ = Py_NewRef(env);
    if (!ok)
        PyErr_SetString(PyExc_RuntimeError, "the pre_request hook raised (traceback above)");
    return ok ? 0 : -1;
}

py_reply_t *py_wsgi_call(py_app_t *app, const py_request_t *req)
{
    if (ensure_ready() < 0)
        return log_failure("cannot set up the WSGI bridge");
    wsgi_reply_t *r = wsgi_reply_get(req);
    if (!r)
        return log_failure("cannot allocate a WSGI reply");
    PyObject *input = wsgi_input_bind(&r->input, req);
    PyObject *env = input ? wsgi_environ_new(req, input) : NULL;
    Py_XDECREF(input); /* the environ and the reply hold their own references */
    if (!env)
        goto fail;
    if (hooks_for_requests() && start_hooks(r, env) < 0) {
        Py_DECREF(env);
        goto fail;
    }
    PyObject *argv[2] = {env, (PyObject *)r};
    r->result = PyObject_Vectorcall(app->callable, argv, 2, NULL); /* owned by r */
    Py_DECREF(env); /* the application keeps its own reference if it wants one */
    if (!r->result)
        goto fail;
    if (file_reply(r))
        return &r->pub;
    if (start_body(r) < 0)
        goto fail;

    /* Why advance before returning: start_response may be called lazily, from inside a
     * generator's first step, and may even be called again with exc_info while the
     * generator has yielded nothing but empty strings. Only the first non-empty chunk (or
     * the end of the iterable) makes the headers final; from then on they are the C
     * side's to send. */
    int rc = advance(r);
    if (rc < 0)
        goto fail;
    if (!r->headers_set) {
        PyErr_SetString(PyExc_RuntimeError,
                        rc ? "the application produced body data before calling "
                             "start_response()"
                           : "the application returned without calling start_response()");
        goto fail;
    }
    r->headers_final = true;
    return &r->pub;
fail:
    wsgi_reply_log_error(r);
    wsgi_reply_close(r);
    if (r->hook_req)
        hooks_request_finished(r->hook_req, r->hook_environ, NULL);
    wsgi_reply_release(r);
    return NULL;
}

int py_wsgi_next(py_reply_t *reply)
{
    wsgi_reply_t *r = container_of(reply, wsgi_reply_t, pub);
    UF_ASSERT(r->active);
    if (r->failed)
        return -1;
    if (r->pub.done) {
        Py_CLEAR(r->chunk);
        r->pub.chunk = (py_slice_t){NULL, 0};
        return 0;
    }
    int rc = advance(r);
    if (rc < 0) {
        r->failed = true;
        wsgi_reply_log_error(r);
    }
    return rc;
}

void py_wsgi_finish(py_reply_t *reply)
{
    wsgi_reply_t *r = container_of(reply, wsgi_reply_t, pub);
    UF_ASSERT(r->active);
    wsgi_reply_close(r);
    if (r->hook_req)
        hooks_request_finished(r->hook_req, r->hook_environ, &r->pub);
    wsgi_reply_release(r);
}
