/* ASGI receive() and send() in C, and the awaitables they return.
 *
 * Why an awaitable of our own: most calls can answer at once (the body is there, the
 * output is below the high-water mark). Returning an asyncio Future for those would cost
 * a Future, a callback and a loop iteration per call; an object whose __await__ finishes
 * immediately costs one small allocation (none for send(), which shares one). Only a call
 * that must wait gets a Future from the loop, which the worker resolves from C
 * (asgi_io_resolve) when the body arrives or the output drains.
 *
 * send() keeps http.response.start until the first http.response.body: a response whose
 * body is one message then gets Content-Length instead of chunked framing, and a start
 * message with bad headers becomes a RuntimeError in the application, never bytes on the
 * wire.
 */
#include "python_bridge/asgi_req.h"

#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    T_TYPE,
    T_BODY,
    T_MORE_BODY,
    T_STATUS,
    T_HEADERS,
    T_HTTP_REQUEST,
    T_HTTP_DISCONNECT,
    T_DONE,
    T_SET_RESULT,
    T_SET_EXCEPTION,
    T_PATH,
    T_TRAILERS,
    T_MORE_TRAILERS,
    T_COUNT,
};

static const char *const text_names[T_COUNT] = {
    "type", "body",       "more_body",     "status", "headers",  "http.request",  "http.disconnect",
    "done", "set_result", "set_exception", "path",   "trailers", "more_trailers",
};

static struct {
    PyObject *t[T_COUNT];
    PyObject *status_lines[1000]; /* bytes "200 OK", made on first use */
    PyObject *done;               /* the shared awaitable that returns None */
    PyObject *http_status;        /* http.HTTPStatus, for reason phrases */
    py_header_t *headers;         /* the head's headers as slices, reused */
    size_t headers_cap;
} io;

/* ---- the awaitable that is ready at once ------------------------------------------------ */

typedef struct ready {
    PyObject ob_base; /* PyObject_HEAD, spelled out for clang-format */
    PyObject *value;  /* what `await` returns; NULL: None */
} ready_t;

static PyObject *ready_await(PyObject *self)
{
    return Py_NewRef(self);
}

/* The value, once: awaiting the same object again gives None. */
static PyObject *ready_take(ready_t *r)
{
    PyObject *v = r->value ? r->value : Py_NewRef(Py_None);
    r->value = NULL;
    return v;
}

static PyObject *ready_next(PyObject *self)
{
    PyObject *v = ready_take((ready_t *)self);
    if (v == Py_None)
        PyErr_SetNone(PyExc_StopIteration);
    else
        PyErr_SetObject(PyExc_StopIteration, v); /* (a dict is never a tuple: no unpacking) */
    Py_DECREF(v);
    return NULL;
}

#if PY_VERSION_HEX >= 0x030A0000
static PySendResult ready_send(PyObject *self, PyObject *arg, PyObject **result)
{
    (void)arg;
    *result = ready_take((ready_t *)self);
    return PYGEN_RETURN;
}
#endif

static PyObject *ready_send_method(PyObject *self, PyObject *arg)
{
    (void)arg;
    return ready_next(self);
}

static PyObject *ready_throw(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *type, *value = NULL, *tb = NULL;
    if (!PyArg_UnpackTuple(args, "throw", 1, 3, &type, &value, &tb))
        return NULL;
    PyErr_SetObject(PyExceptionInstance_Check(type) ? (PyObject *)Py_TYPE(type) : type,
                    PyExceptionInstance_Check(type) ? type : value);
    return NULL;
}

static void ready_dealloc(PyObject *self)
{
    Py_XDECREF(((ready_t *)self)->value);
    Py_TYPE(self)->tp_free(self);
}

static PyMethodDef ready_methods[] = {
    {"send", ready_send_method, METH_O, NULL},
    {"throw", ready_throw, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods ready_async = {.am_await = ready_await, COMPAT_AM_SEND(ready_send)};

static PyTypeObject ready_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uwsgi_fast.ASGIReady",
    .tp_basicsize = sizeof(ready_t),
    .tp_dealloc = ready_dealloc,
    .tp_as_async = &ready_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_iter = ready_await,
    .tp_iternext = ready_next,
    .tp_methods = ready_methods,
};

/* An awaitable returning `value` (stolen; NULL for None). */
static PyObject *ready_new(PyObject *value)
{
    if (!value)
        return Py_NewRef(io.done);
    ready_t *r = PyObject_New(ready_t, &ready_type);
    if (!r) {
        Py_DECREF(value);
        return NULL;
    }
    r->value = value;
    return (PyObject *)r;
}

PyObject *asgi_io_ready(PyObject *value)
{
    return ready_new(value);
}

/* ---- waiting ------------------------------------------------------------------------------ */

PyObject *asgi_io_new_waiter(PyObject **slot)
{
    PyObject *fut = PyObject_CallNoArgs(asgi_shared.create_future);
    if (!fut)
        return NULL;
    Py_XSETREF(*slot, Py_NewRef(fut));
    return fut;
}

bool asgi_io_waiting(PyObject **waiter)
{
    if (!*waiter)
        return false;
    PyObject *done = PyObject_CallMethodNoArgs(*waiter, io.t[T_DONE]);
    int d = done ? PyObject_IsTrue(done) : -1;
    Py_XDECREF(done);
    if (d < 0)
        PyErr_WriteUnraisable(*waiter);
    if (d != 0)
        Py_CLEAR(*waiter);
    return d == 0;
}

void asgi_io_resolve(PyObject **waiter, PyObject *value, PyObject *exc_type)
{
    if (!asgi_io_waiting(waiter))
        return;
    PyObject *fut = *waiter;
    *waiter = NULL;
    PyObject *r = value ? PyObject_CallMethodOneArg(fut, io.t[T_SET_RESULT], value)
                        : PyObject_CallMethodOneArg(fut, io.t[T_SET_EXCEPTION], exc_type);
    if (!r)
        PyErr_WriteUnraisable(fut);
    Py_XDECREF(r);
    Py_DECREF(fut);
}

/* ---- receive ------------------------------------------------------------------------------ */

PyObject *asgi_io_disconnect_message(void)
{
    PyObject *m = PyDict_New();
    if (m && PyDict_SetItem(m, io.t[T_TYPE], io.t[T_HTTP_DISCONNECT]) < 0)
        Py_CLEAR(m);
    return m;
}

PyObject *asgi_io_next_message(py_asgi_req_t *r)
{
    if (r->disconnected || !r->owner)
        return asgi_io_disconnect_message();
    if (r->body_done)
        return NULL; /* the whole body was given: wait for the disconnect */
    const py_asgi_ops_t *ops = asgi_shared.ops;
    py_slice_t data;
    bool more;
    int got = ops->take_body(ops->ctx, r->owner, &data, &more);
    asgi_round_soon(); /* a "100 Continue" or a resumed receive may be queued */
    if (!got)
        return NULL;
    PyObject *body = PyBytes_FromStringAndSize(data.ptr, (Py_ssize_t)data.len);
    if (!body)
        return NULL;
    ops->body_taken(ops->ctx, r->owner);
    if (!more)
        r->body_done = true;
    PyObject *m = PyDict_New();
    if (!m || PyDict_SetItem(m, io.t[T_TYPE], io.t[T_HTTP_REQUEST]) < 0 ||
        PyDict_SetItem(m, io.t[T_BODY], body) < 0 ||
        PyDict_SetItem(m, io.t[T_MORE_BODY], more ? Py_True : Py_False) < 0)
        Py_CLEAR(m);
    Py_DECREF(body);
    return m;
}

static PyObject *asgi_receive(PyObject *self, PyObject *unused)
{
    (void)unused;
    py_asgi_req_t *r = (py_asgi_req_t *)self;
    /* a second receive() while one waits (a disconnect listener beside a body reader)
     * shares its Future: both learn of the same event */
    if (asgi_io_waiting(&r->recv_waiter))
        return Py_NewRef(r->recv_waiter);
    PyObject *m = r->websocket ? asgi_ws_next_message(r) : asgi_io_next_message(r);
    if (m)
        return ready_new(m);
    if (PyErr_Occurred())
        return NULL;
    return asgi_io_new_waiter(&r->recv_waiter);
}

/* ---- send --------------------------------------------------------------------------------- */

static bool is_type(PyObject *type, const char *name)
{
    return PyUnicode_Check(type) && PyUnicode_CompareWithASCIIString(type, name) == 0;
}

/* "200 OK" as bytes (borrowed, cached), from http.HTTPStatus; "299 " for a code it does
 * not know (the reason phrase may be empty, RFC 9112 4). */
static PyObject *status_line(int code)
{
    if (io.status_lines[code])
        return io.status_lines[code];
    PyObject *st = PyObject_CallFunction(io.http_status, "i", code);
    PyObject *phrase = st ? PyObject_GetAttrString(st, "phrase") : NULL;
    if (!phrase)
        PyErr_Clear();
    const char *p = phrase ? PyUnicode_AsUTF8(phrase) : "";
    if (!p) {
        PyErr_Clear();
        p = "";
    }
    io.status_lines[code] = PyBytes_FromFormat("%d %s", code, p);
    Py_XDECREF(phrase);
    Py_XDECREF(st);
    return io.status_lines[code];
}

/* RFC 9110 token characters. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* One header of http.response.start: a pair of bytes, a token name, a value without CR,
 * LF or NUL. Returns a new (name, value) tuple, or NULL with an exception set; a
 * Content-Length header's value goes into *length. */
static PyObject *check_header(PyObject *item, int64_t *length)
{
    PyObject *seq = PySequence_Fast(item, "each ASGI header must be a [name, value] pair");
    if (!seq)
        return NULL;
    PyObject *pair = NULL;
    if (PySequence_Fast_GET_SIZE(seq) != 2) {
        PyErr_SetString(PyExc_TypeError, "each ASGI header must be a [name, value] pair");
        goto out;
    }
    PyObject *name = PySequence_Fast_GET_ITEM(seq, 0), *value = PySequence_Fast_GET_ITEM(seq, 1);
    if (!PyBytes_Check(name) || !PyBytes_Check(value)) {
        PyErr_Format(PyExc_TypeError, "ASGI header names and values must be bytes, not %.50s",
                     Py_TYPE(PyBytes_Check(name) ? value : name)->tp_name);
        goto out;
    }
    const char *n = PyBytes_AS_STRING(name), *v = PyBytes_AS_STRING(value);
    Py_ssize_t nlen = PyBytes_GET_SIZE(name), vlen = PyBytes_GET_SIZE(value);
    for (Py_ssize_t i = 0; i < nlen; i++)
        if (!is_tchar((unsigned char)n[i]))
            nlen = -1;
    if (nlen <= 0 || memchr(v, '\r', (size_t)vlen) || memchr(v, '\n', (size_t)vlen) ||
        memchr(v, 0, (size_t)vlen)) {
        PyErr_Format(PyExc_RuntimeError, "invalid ASGI response header %R: %R", name, value);
        goto out;
    }
    if (nlen == 14 && strncasecmp(n, "content-length", 14) == 0) {
        int64_t cl = 0;
        bool ok = vlen > 0 && vlen <= 18;
        for (Py_ssize_t i = 0; ok && i < vlen; i++) {
            ok = v[i] >= '0' && v[i] <= '9';
            cl = cl * 10 + (v[i] - '0');
        }
        if (!ok || (*length >= 0 && *length != cl)) {
            PyErr_Format(PyExc_RuntimeError, "invalid Content-Length in the ASGI response: %R",
                         value);
            goto out;
        }
        *length = cl;
    }
    pair = PyTuple_Pack(2, name, value);
out:
    Py_DECREF(seq);
    return pair;
}

/* Appends each header of the iterable `given` (NULL: none), checked, to `list`. Returns
 * 0, or -1 with an exception set. */
static int add_headers(PyObject *list, PyObject *given, int64_t *length)
{
    PyObject *it = given ? PyObject_GetIter(given) : NULL, *item;
    if (given && !it)
        return -1;
    while (it && (item = PyIter_Next(it))) {
        PyObject *pair = check_header(item, length);
        Py_DECREF(item);
        if (!pair || PyList_Append(list, pair) < 0) {
            Py_XDECREF(pair);
            break;
        }
        Py_DECREF(pair);
    }
    Py_XDECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

PyObject *asgi_io_send_start(py_asgi_req_t *r, PyObject *msg)
{
    if (r->phase != ASGI_NONE) {
        PyErr_SetString(PyExc_RuntimeError, "Unexpected ASGI message 'http.response.start' sent, "
                                            "after the response already started.");
        return NULL;
    }
    PyObject *st = PyDict_GetItemWithError(msg, io.t[T_STATUS]); /* borrowed */
    long code = st && PyLong_Check(st) ? PyLong_AsLong(st) : -1;
    if (code < 200 || code > 999) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_RuntimeError,
                         "http.response.start needs an int status from 200 to 999, not %R",
                         st ? st : Py_None);
        return NULL;
    }
    PyObject *given = PyDict_GetItemWithError(msg, io.t[T_HEADERS]); /* borrowed */
    if (!given && PyErr_Occurred())
        return NULL;
    PyObject *headers = PyList_New(0);
    int64_t length = -1;
    if (!headers || add_headers(headers, given, &length) < 0) {
        Py_XDECREF(headers);
        return NULL;
    }
    PyObject *line = status_line((int)code);
    if (!line) {
        Py_XDECREF(headers);
        return NULL;
    }
    PyObject *tr = PyDict_GetItemWithError(msg, io.t[T_TRAILERS]); /* borrowed */
    int with_trailers = tr ? PyObject_IsTrue(tr) : 0;
    if (with_trailers < 0) {
        Py_DECREF(headers);
        return NULL;
    }
    r->with_trailers = with_trailers;
    r->status = (int)code;
    r->status_line = Py_NewRef(line);
    r->headers = headers;
    r->content_length = length;
    r->phase = ASGI_STARTED;
    return ready_new(NULL);
}

static void grow_headers(size_t n)
{
    if (io.headers_cap < n) {
        io.headers_cap = n * 2;
        io.headers = uf_realloc(io.headers, io.headers_cap * sizeof(py_header_t));
    }
}

/* A checked (name, value) pair as slices; they borrow from the pair. */
static py_header_t header_slices(PyObject *pair)
{
    PyObject *name = PyTuple_GET_ITEM(pair, 0), *value = PyTuple_GET_ITEM(pair, 1);
    return (py_header_t){
        {PyBytes_AS_STRING(name), (size_t)PyBytes_GET_SIZE(name)},
        {PyBytes_AS_STRING(value), (size_t)PyBytes_GET_SIZE(value)},
    };
}

PyObject *asgi_io_check_headers(PyObject *given, int64_t *length)
{
    PyObject *headers = PyList_New(0);
    if (headers && add_headers(headers, given == Py_None ? NULL : given, length) < 0)
        Py_CLEAR(headers);
    return headers;
}

const py_header_t *asgi_io_header_slices(PyObject *headers, size_t *count)
{
    size_t n = (size_t)PyList_GET_SIZE(headers);
    grow_headers(n);
    for (size_t i = 0; i < n; i++)
        io.headers[i] = header_slices(PyList_GET_ITEM(headers, (Py_ssize_t)i));
    *count = n;
    return io.headers;
}

/* The head send() hands over with the first body: slices of the held start message. */
static void fill_head(py_asgi_req_t *r, py_reply_t *head, size_t len, bool more)
{
    size_t n = (size_t)PyList_GET_SIZE(r->headers);
    grow_headers(n);
    for (size_t i = 0; i < n; i++)
        io.headers[i] = header_slices(PyList_GET_ITEM(r->headers, (Py_ssize_t)i));
    *head = (py_reply_t){
        .status = {PyBytes_AS_STRING(r->status_line), (size_t)PyBytes_GET_SIZE(r->status_line)},
        .status_code = r->status,
        .headers = io.headers,
        .header_count = n,
        .content_length = r->content_length,
        .body_length = more ? -1 : (int64_t)len,
        .done = !more,
        .file_fd = -1,
    };
}

PyObject *asgi_io_send_body(py_asgi_req_t *r, PyObject *msg)
{
    if (r->phase == ASGI_NONE || r->phase == ASGI_ENDED) {
        PyErr_SetString(PyExc_RuntimeError,
                        r->phase == ASGI_NONE ? "Expected ASGI message 'http.response.start', but "
                                                "got 'http.response.body'."
                                              : "Unexpected ASGI message 'http.response.body' "
                                                "sent, after the response already completed.");
        return NULL;
    }
    PyObject *body = PyDict_GetItemWithError(msg, io.t[T_BODY]);          /* borrowed */
    PyObject *more_obj = PyDict_GetItemWithError(msg, io.t[T_MORE_BODY]); /* borrowed */
    if (PyErr_Occurred())
        return NULL;
    int more = more_obj ? PyObject_IsTrue(more_obj) : 0;
    Py_buffer view = {.buf = (void *)"", .len = 0};
    bool have_view = false;
    if (more < 0)
        return NULL;
    if (body && body != Py_None) {
        if (PyUnicode_Check(body)) {
            PyErr_SetString(PyExc_TypeError, "http.response.body's body must be bytes, not str");
            return NULL;
        }
        if (PyObject_GetBuffer(body, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        have_view = true;
    }
    /* a response that ends with trailers (where they can be sent) keeps its framing open
     * after the last body: chunked, unless the application gave a Content-Length */
    bool hold = !more && r->with_trailers && r->trailers_ok;
    py_reply_t head;
    bool first = r->phase == ASGI_STARTED;
    if (first)
        fill_head(r, &head, (size_t)view.len, more || hold);
    const py_asgi_ops_t *ops = asgi_shared.ops;
    const char *why = NULL;
    int rc = ops->body(ops->ctx, r->owner, first ? &head : NULL, view.buf, (size_t)view.len,
                       more || hold, &why);
    if (have_view)
        PyBuffer_Release(&view);
    asgi_round_soon();
    if (first) {
        Py_CLEAR(r->status_line);
        Py_CLEAR(r->headers);
    }
    r->phase = more ? ASGI_BODY : r->with_trailers ? ASGI_TRAILERS : ASGI_ENDED;
    if (rc < 0) {
        r->phase = ASGI_ENDED;
        PyErr_SetString(PyExc_RuntimeError, why ? why : "the response could not be sent");
        return NULL;
    }
    if (rc == 1 && r->owner)
        return asgi_io_new_waiter(&r->send_waiter);
    return ready_new(NULL);
}

/* http.response.pathsend (the extension the scope advertises): the file is opened here,
 * so that a missing one is the application's FileNotFoundError, and handed to the worker
 * open, which sends it through the ring without Python. */
static PyObject *send_path(py_asgi_req_t *r, PyObject *msg)
{
    if (r->phase != ASGI_STARTED) {
        PyErr_SetString(PyExc_RuntimeError, "http.response.pathsend must follow "
                                            "http.response.start, in place of a body");
        return NULL;
    }
    PyObject *path = PyDict_GetItemWithError(msg, io.t[T_PATH]), *bytes = NULL; /* borrowed */
    if (!path) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "http.response.pathsend needs a 'path'");
        return NULL;
    }
    if (!PyUnicode_FSConverter(path, &bytes))
        return NULL;
    int fd = open(PyBytes_AS_STRING(bytes), O_RDONLY | O_CLOEXEC);
    struct stat st;
    int failed = fd < 0 || fstat(fd, &st) < 0 ? errno : 0;
    if (failed || !S_ISREG(st.st_mode)) {
        errno = failed;
        if (failed)
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        else
            PyErr_Format(PyExc_ValueError, "http.response.pathsend: %R is not a regular file",
                         path);
        if (fd >= 0)
            close(fd);
        Py_DECREF(bytes);
        return NULL;
    }
    Py_DECREF(bytes);
    py_reply_t head;
    fill_head(r, &head, (size_t)st.st_size, false);
    const py_asgi_ops_t *ops = asgi_shared.ops;
    const char *why = NULL;
    int rc = ops->pathsend(ops->ctx, r->owner, &head, fd, (int64_t)st.st_size, &why);
    asgi_round_soon();
    Py_CLEAR(r->status_line);
    Py_CLEAR(r->headers);
    r->phase = ASGI_ENDED;
    if (rc < 0) {
        close(fd);
        PyErr_SetString(PyExc_RuntimeError, why ? why : "the file could not be sent");
        return NULL;
    }
    return ready_new(NULL);
}

/* Ends the response with the trailer fields held so far (none: without trailers). */
int asgi_io_end_trailers(py_asgi_req_t *r, const char **why)
{
    size_t n = r->trailers ? (size_t)PyList_GET_SIZE(r->trailers) : 0;
    r->phase = ASGI_ENDED;
    if (!r->owner || !r->trailers_ok) /* (ended already, without them: see send_body) */
        return 0;
    grow_headers(n);
    for (size_t i = 0; i < n; i++)
        io.headers[i] = header_slices(PyList_GET_ITEM(r->trailers, (Py_ssize_t)i));
    const py_asgi_ops_t *ops = asgi_shared.ops;
    int rc = ops->trailers(ops->ctx, r->owner, io.headers, n, why);
    Py_CLEAR(r->trailers);
    asgi_round_soon();
    return rc;
}

/* http.response.trailers (the extension the scope advertises when the client sent TE:
 * trailers), after a start with trailers: True and the last body. Fields are held until
 * the message without more_trailers; where the scope did not advertise the extension
 * the body has ended already and they are dropped. */
static PyObject *send_trailers(py_asgi_req_t *r, PyObject *msg)
{
    if (r->phase != ASGI_TRAILERS) {
        PyErr_SetString(PyExc_RuntimeError,
                        "Unexpected ASGI message 'http.response.trailers': it must follow the "
                        "last http.response.body of a response started with trailers: True");
        return NULL;
    }
    PyObject *given = PyDict_GetItemWithError(msg, io.t[T_HEADERS]);          /* borrowed */
    PyObject *more_obj = PyDict_GetItemWithError(msg, io.t[T_MORE_TRAILERS]); /* borrowed */
    if (PyErr_Occurred())
        return NULL;
    int more = more_obj ? PyObject_IsTrue(more_obj) : 0;
    if (more < 0 || (!r->trailers && !(r->trailers = PyList_New(0))))
        return NULL;
    int64_t ignored = -1;
    if (add_headers(r->trailers, given, &ignored) < 0)
        return NULL;
    if (more)
        return ready_new(NULL);
    const char *why = NULL;
    if (asgi_io_end_trailers(r, &why) < 0) {
        PyErr_SetString(PyExc_RuntimeError, why ? why : "the response could not be sent");
        return NULL;
    }
    return ready_new(NULL);
}

static PyObject *asgi_send(PyObject *self, PyObject *msg)
{
    py_asgi_req_t *r = (py_asgi_req_t *)self;
    if (!PyDict_Check(msg)) {
        PyErr_Format(PyExc_TypeError, "an ASGI message must be a dict, not %.50s",
                     Py_TYPE(msg)->tp_name);
        return NULL;
    }
    PyObject *type = PyDict_GetItemWithError(msg, io.t[T_TYPE]); /* borrowed */
    if (!type) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "an ASGI message needs a 'type'");
        return NULL;
    }
    if (r->websocket)
        return asgi_ws_send(r, msg, type);
    if (r->gone) {
        PyErr_SetString(asgi_shared.disconnect_exc, "the client has disconnected");
        return NULL;
    }
    if (is_type(type, "http.response.trailers")) /* (also once the body ended without them) */
        return send_trailers(r, msg);
    if (!r->owner) {
        PyErr_Format(PyExc_RuntimeError,
                     "Unexpected ASGI message %R sent, after the response already completed.",
                     type);
        return NULL;
    }
    if (is_type(type, "http.response.body"))
        return asgi_io_send_body(r, msg);
    if (is_type(type, "http.response.start"))
        return asgi_io_send_start(r, msg);
    if (is_type(type, "http.response.pathsend"))
        return send_path(r, msg);
    PyErr_Format(PyExc_RuntimeError, "Unexpected ASGI message type %R for an http scope", type);
    return NULL;
}

static PyMethodDef receive_def = {"receive", asgi_receive, METH_NOARGS, NULL};
static PyMethodDef send_def = {"send", asgi_send, METH_O, NULL};

PyObject *asgi_io_receive(py_asgi_req_t *r)
{
    return PyCFunction_New(&receive_def, (PyObject *)r);
}

PyObject *asgi_io_send(py_asgi_req_t *r)
{
    return PyCFunction_New(&send_def, (PyObject *)r);
}

/* ---- setup -------------------------------------------------------------------------------- */

int asgi_io_setup(void)
{
    for (int i = 0; i < T_COUNT; i++)
        if (!(io.t[i] = PyUnicode_InternFromString(text_names[i])))
            return -1;
    if (PyType_Ready(&ready_type) < 0)
        return -1;
    ready_t *done = PyObject_New(ready_t, &ready_type);
    if (!done)
        return -1;
    done->value = NULL;
    io.done = (PyObject *)done;
    PyObject *http = PyImport_ImportModule("http");
    io.http_status = http ? PyObject_GetAttrString(http, "HTTPStatus") : NULL;
    Py_XDECREF(http);
    return io.http_status ? 0 : -1;
}

void asgi_io_teardown(void)
{
    for (int i = 0; i < T_COUNT; i++)
        Py_CLEAR(io.t[i]);
    for (size_t i = 0; i < UF_ARRAY_LEN(io.status_lines); i++)
        Py_CLEAR(io.status_lines[i]);
    Py_CLEAR(io.done);
    Py_CLEAR(io.http_status);
    uf_free(io.headers);
    io.headers = NULL;
    io.headers_cap = 0;
}
