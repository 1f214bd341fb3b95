/* start_response and write, and the reply object's life: reuse, close(), release. */
#include "python_bridge/wsgi_reply.h"

#include "python_bridge/errors.h"

#include <stdint.h>
#include <string.h>

struct wsgi_writer {
    PyObject ob_base;
    wsgi_reply_t *owner; /* borrowed: the reply detaches us before it can go away */
    uint32_t gen;        /* owner->gen when we were handed out */
};

/* Made by wsgi_reply_setup. */
static PyTypeObject *reply_type, *writer_type;
static PyObject *close_name; /* "close" */

#define FREE_REPLIES_MAX 16
static wsgi_reply_t *free_replies[FREE_REPLIES_MAX];
static int free_reply_count;

PyObject *wsgi_as_bytes(PyObject *o, const char *what)
{
    if (PyBytes_Check(o))
        return Py_NewRef(o);
    if (!PyUnicode_Check(o) && PyObject_CheckBuffer(o))
        return PyBytes_FromObject(o);
    PyErr_Format(PyExc_TypeError, "%s must be bytes, not %.100s", what, Py_TYPE(o)->tp_name);
    return NULL;
}

/* Hands out the write() callable for r (new reference), reusing the one r keeps. */
static PyObject *get_writer(wsgi_reply_t *r)
{
    if (!r->writer) {
        r->writer = PyObject_New(wsgi_writer_t, writer_type); /* owned by r */
        if (!r->writer)
            return NULL;
    }
    r->writer->owner = r;
    r->writer->gen = r->gen;
    return Py_NewRef(r->writer);
}

/* start_response(status, response_headers, exc_info=None) -> write */
static PyObject *start_response(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"status", "headers", "exc_info", NULL};
    wsgi_reply_t *r = (wsgi_reply_t *)self;
    PyObject *status, *headers, *exc_info = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:start_response", kwlist, &status, &headers,
                                     &exc_info))
        return NULL;
    if (!r->active) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called after the response ended");
        return NULL;
    }
    if (exc_info != Py_None) {
        if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
            PyErr_SetString(PyExc_TypeError, "exc_info must be a (type, value, traceback) tuple");
            return NULL;
        }
        if (r->headers_final) {
            /* PEP 3333: the headers may be on the wire already, so the error cannot become
             * a different response; re-raise it so the application's own handling (or
             * ours: drop the connection) takes over. PyErr_Restore steals all three. */
            PyErr_Restore(Py_NewRef(PyTuple_GET_ITEM(exc_info, 0)),
                          Py_NewRef(PyTuple_GET_ITEM(exc_info, 1)),
                          Py_NewRef(PyTuple_GET_ITEM(exc_info, 2)));
            return NULL;
        }
        /* otherwise the new status and headers replace the ones not yet sent */
    } else if (r->headers_set) {
        PyErr_SetString(PyExc_RuntimeError,
                        "start_response() called a second time without exc_info");
        return NULL;
    }
    r->headers_set = false;
    if (wsgi_headers_set(&r->headers, status, headers, &r->pub) < 0)
        return NULL;
    r->headers_set = true;
    return get_writer(r);
}

/* write(data): PEP 3333's imperative body API. We cannot block the worker until the bytes
 * are sent, so they queue on the reply and go out before anything the iterable yields
 * after them (the order the application expects). */
static PyObject *writer_call(PyObject *self, PyObject *args, PyObject *kw)
{
    wsgi_writer_t *w = (wsgi_writer_t *)self;
    wsgi_reply_t *r = w->owner;
    PyObject *data;
    if (kw && PyDict_GET_SIZE(kw)) {
        PyErr_SetString(PyExc_TypeError, "write() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "write", 1, 1, &data))
        return NULL;
    if (!r || r->gen != w->gen || !r->active) {
        PyErr_SetString(PyExc_RuntimeError, "write() called after the response ended");
        return NULL;
    }
    if (!r->headers_set) {
        PyErr_SetString(PyExc_RuntimeError, "write() called before start_response()");
        return NULL;
    }
    PyObject *b = wsgi_as_bytes(data, "write() argument");
    if (!b)
        return NULL;
    int rc = 0;
    if (PyBytes_GET_SIZE(b)) {
        if (!r->pending)
            r->pending = PyList_New(0);
        rc = r->pending ? PyList_Append(r->pending, b) : -1; /* the list takes its own ref */
        r->headers_final = true; /* PEP 3333: written data means the headers went out */
    }
    Py_DECREF(b);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- the reply's life ----------------------------------------------------------------- */

static void writer_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(tp); /* instances of heap types own a reference to their type */
}

static void reply_dealloc(PyObject *self)
{
    wsgi_reply_t *r = (wsgi_reply_t *)self;
    if (r->writer) {
        r->writer->owner = NULL; /* it may outlive us in the application's hands */
        Py_CLEAR(r->writer);
    }
    Py_CLEAR(r->input);
    /* an active reply is never deallocated (we hold a reference); these are for safety */
    Py_CLEAR(r->chunk);
    Py_CLEAR(r->pending);
    Py_CLEAR(r->iter);
    Py_CLEAR(r->result);
    wsgi_headers_free(&r->headers);
    buf_free(&r->reqline);
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyType_Slot reply_slots[] = {
    {Py_tp_call, (void *)start_response},
    {Py_tp_dealloc, (void *)reply_dealloc},
    {Py_tp_doc, (void *)"start_response(status, headers, exc_info=None) -> write"},
    {0, NULL},
};
static PyType_Spec reply_spec = {
    .name = "uwsgi_fast.start_response",
    .basicsize = sizeof(wsgi_reply_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = reply_slots,
};

static PyType_Slot writer_slots[] = {
    {Py_tp_call, (void *)writer_call},
    {Py_tp_dealloc, (void *)writer_dealloc},
    {Py_tp_doc, (void *)"write(data): queue response body bytes (PEP 3333)"},
    {0, NULL},
};
static PyType_Spec writer_spec = {
    .name = "uwsgi_fast.write",
    .basicsize = sizeof(wsgi_writer_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = writer_slots,
};

/* A reply ready for a new request (our reference), from the free list when possible. */
wsgi_reply_t *wsgi_reply_get(const py_request_t *req)
{
    wsgi_reply_t *r;
    if (free_reply_count) {
        r = free_replies[--free_reply_count]; /* the list's reference becomes ours */
    } else {
        r = PyObject_New(wsgi_reply_t, reply_type);
        if (!r)
            return NULL;
        memset((char *)r + sizeof(PyObject), 0, sizeof(*r) - sizeof(PyObject));
    }
    r->gen++;
    r->active = true;
    r->pub = (py_reply_t){.content_length = -1, .body_length = -1, .file_fd = -1};
    r->reqline.len = 0;
    buf_append(&r->reqline, req->method.ptr, req->method.len);
    buf_append(&r->reqline, " ", 1);
    buf_append(&r->reqline, req->target.ptr, req->target.len);
    return r;
}

/* Logs the pending exception as the failure of r's request. The status and headers stay
 * readable: the C side may still log them once the response is cut short. */
void wsgi_reply_log_error(wsgi_reply_t *r)
{
    PyObject *exc = compat_err_take();
    static const char prefix[] = "Error handling request ";
    char msg[2048];
    size_t n = sizeof(prefix) - 1, rl = r->reqline.len;
    memcpy(msg, prefix, n);
    if (rl > sizeof(msg) - n)
        rl = sizeof(msg) - n; /* the log line is truncated at about this length anyway */
    memcpy(msg + n, r->reqline.data, rl);
    py_log_error(msg, n + rl, exc);
    Py_XDECREF(exc);
}

/* close() on the application's iterable, at most once; an exception there is logged. */
void wsgi_reply_close(wsgi_reply_t *r)
{
    if (r->closed || !r->result)
        return;
    r->closed = true;
    if (r->seq_mode)
        return; /* an exact list or tuple has no close() */
    PyObject *close;
    int found = compat_getattr_optional(r->result, close_name, &close);
    if (found > 0) {
        PyObject *res = PyObject_CallNoArgs(close);
        Py_DECREF(close);
        if (res)
            Py_DECREF(res);
        else
            found = -1;
    }
    if (found < 0)
        wsgi_reply_log_error(r);
}

/* Drops every Python object of the response and recycles r (consumes our reference). */
void wsgi_reply_release(wsgi_reply_t *r)
{
    /* Clearing may run arbitrary code (a generator's finally, __del__), which may drop
     * the last other references to r; ours keeps it alive until the end. */
    Py_CLEAR(r->chunk);
    Py_CLEAR(r->pending);
    Py_CLEAR(r->iter);
    Py_CLEAR(r->result);
    Py_CLEAR(r->hook_req);
    Py_CLEAR(r->hook_environ);
    r->active = false;
    r->gen++; /* any write() still around now refuses */
    if (r->writer && Py_REFCNT(r->writer) > 1) {
        /* the application kept write(): it must not become the next request's */
        r->writer->owner = NULL;
        Py_CLEAR(r->writer);
    }
    wsgi_input_detach(&r->input); /* the C side reuses the body's memory or file next */
    r->pending_pos = r->seq_pos = 0;
    r->seq_last = -1;
    r->seq_mode = r->exhausted = r->headers_set = r->headers_final = false;
    r->closed = r->failed = false;
    r->pub = (py_reply_t){.content_length = -1, .body_length = -1, .file_fd = -1};
    /* one huge response must not pin its header memory in the free list */
    wsgi_headers_reset(&r->headers, 16384);
    buf_reset(&r->reqline, 16384);
    if (Py_REFCNT(r) == 1 && free_reply_count < FREE_REPLIES_MAX && reply_type)
        free_replies[free_reply_count++] = r; /* our reference moves to the list */
    else
        Py_DECREF(r); /* the application still holds start_response, or the list is full */
}

int wsgi_reply_setup(void)
{
    if (!(close_name = PyUnicode_InternFromString("close")) ||
        !(reply_type = (PyTypeObject *)PyType_FromSpec(&reply_spec)) ||
        !(writer_type = (PyTypeObject *)PyType_FromSpec(&writer_spec)))
        return -1;
    return 0;
}

void wsgi_reply_teardown(void)
{
    while (free_reply_count)
        Py_DECREF(free_replies[--free_reply_count]);
    Py_CLEAR(close_name);
    /* live replies (held by the application) keep their types alive by reference */
    Py_CLEAR(reply_type);
    Py_CLEAR(writer_type);
}
