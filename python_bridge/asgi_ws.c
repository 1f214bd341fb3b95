/* A websocket scope's receive() and send() (ASGI WebSocket spec 2.4), and the queue of
 * messages between the worker and the application.
 *
 * The worker hands each whole message over as it arrives (py_asgi_ws_message); a
 * receive() waiting gets it at once, otherwise it is queued here as the dict receive()
 * will return. The queue lives on the Python side so that messages that arrived before
 * the client closed are still returned, in order, after the worker has let the
 * connection go; websocket.disconnect comes after them. Its bound (PY_ASGI_WS_QUEUE_MAX
 * messages, PY_ASGI_WS_QUEUE_BYTES bytes) is the worker's signal to stop reading: a
 * slow application holds at most that, plus one message, plus what one receive brought.
 *
 * send() turns websocket.send into one frame (the worker frames it), websocket.accept
 * into the 101, websocket.close into a close frame or, before accept, a 403; the denial
 * extension's websocket.http.response.start/body are an http response's start and body.
 */
#include "python_bridge/asgi_req.h"

#include <string.h>

enum {
    W_TYPE,
    W_CONNECT,
    W_RECEIVE,
    W_DISCONNECT,
    W_TEXT,
    W_BYTES,
    W_CODE,
    W_REASON,
    W_SUBPROTOCOL,
    W_HEADERS,
    W_COUNT,
};

static const char *const names[W_COUNT] = {
    "type",
    "websocket.connect",
    "websocket.receive",
    "websocket.disconnect",
    "text",
    "bytes",
    "code",
    "reason",
    "subprotocol",
    "headers",
};

static struct {
    PyObject *t[W_COUNT];
    PyObject *empty; /* "" */
} ws;

/* {"type": <type>} plus one pair (key NULL for none). New reference. */
static PyObject *message(PyObject *type, PyObject *key, PyObject *value)
{
    PyObject *m = PyDict_New();
    if (m &&
        (PyDict_SetItem(m, ws.t[W_TYPE], type) < 0 || (key && PyDict_SetItem(m, key, value) < 0)))
        Py_CLEAR(m);
    return m;
}

static PyObject *disconnect_message(py_asgi_req_t *r)
{
    PyObject *code = PyLong_FromLong(r->ws_code ? r->ws_code : 1006);
    PyObject *m = code ? message(ws.t[W_DISCONNECT], ws.t[W_CODE], code) : NULL;
    Py_XDECREF(code);
    if (m && PyDict_SetItem(m, ws.t[W_REASON], r->ws_reason ? r->ws_reason : ws.empty) < 0)
        Py_CLEAR(m);
    return m;
}

/* What a queued message counts against the bound: its bytes, or its text's characters
 * (as cheap to find as the length, and within 4x of the bytes). */
static size_t message_size(PyObject *m)
{
    PyObject *v = PyDict_GetItem(m, ws.t[W_BYTES]);
    if (v && PyBytes_Check(v))
        return (size_t)PyBytes_GET_SIZE(v);
    v = PyDict_GetItem(m, ws.t[W_TEXT]);
    return v && PyUnicode_Check(v) ? (size_t)PyUnicode_GET_LENGTH(v) : 0;
}

static bool queue_within_bounds(const py_asgi_req_t *r)
{
    size_t count = r->ws_queue ? (size_t)PyList_GET_SIZE(r->ws_queue) - r->ws_head : 0;
    return count < PY_ASGI_WS_QUEUE_MAX && r->ws_queued < PY_ASGI_WS_QUEUE_BYTES;
}

/* The oldest queued message (new reference), or NULL when none is. */
static PyObject *queue_pop(py_asgi_req_t *r)
{
    if (!r->ws_queue || r->ws_head >= (size_t)PyList_GET_SIZE(r->ws_queue))
        return NULL;
    bool was_full = !queue_within_bounds(r);
    PyObject *m = PyList_GET_ITEM(r->ws_queue, (Py_ssize_t)r->ws_head);
    PyList_SET_ITEM(r->ws_queue, (Py_ssize_t)r->ws_head, Py_NewRef(Py_None));
    r->ws_head++;
    r->ws_queued -= message_size(m);
    if (r->ws_head == (size_t)PyList_GET_SIZE(r->ws_queue)) {
        /* emptied: start over rather than let the list grow behind the head */
        if (PyList_SetSlice(r->ws_queue, 0, PyList_GET_SIZE(r->ws_queue), NULL) < 0)
            PyErr_WriteUnraisable(r->ws_queue);
        r->ws_head = 0;
        r->ws_queued = 0;
    }
    if (was_full && queue_within_bounds(r) && r->owner) {
        const py_asgi_ops_t *ops = asgi_shared.ops;
        ops->ws_resume(ops->ctx, r->owner);
        asgi_round_soon();
    }
    return m;
}

PyObject *asgi_ws_next_message(py_asgi_req_t *r)
{
    if (r->ws_state == ASGI_WS_CONNECTING) {
        r->ws_state = ASGI_WS_HANDSHAKE;
        return message(ws.t[W_CONNECT], NULL, NULL);
    }
    PyObject *m = queue_pop(r);
    if (m)
        return m;
    if (r->ws_code || !r->owner)
        return disconnect_message(r);
    return NULL;
}

bool py_asgi_ws_message(py_asgi_req_t *r, bool text, const char *data, size_t len)
{
    PyObject *v = text ? PyUnicode_DecodeUTF8(data, (Py_ssize_t)len, "strict")
                       : PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    PyObject *m = v ? message(ws.t[W_RECEIVE], ws.t[text ? W_TEXT : W_BYTES], v) : NULL;
    Py_XDECREF(v);
    if (!m) {
        PyErr_WriteUnraisable((PyObject *)r);
        return true;
    }
    bool queued_before = r->ws_queue && (size_t)PyList_GET_SIZE(r->ws_queue) > r->ws_head;
    if (!queued_before && r->ws_state != ASGI_WS_CONNECTING && asgi_io_waiting(&r->recv_waiter)) {
        asgi_io_resolve(&r->recv_waiter, m, NULL);
        Py_DECREF(m);
        return true;
    }
    if (!r->ws_queue && !(r->ws_queue = PyList_New(0))) {
        PyErr_WriteUnraisable((PyObject *)r);
        Py_DECREF(m);
        return true;
    }
    if (PyList_Append(r->ws_queue, m) < 0)
        PyErr_WriteUnraisable((PyObject *)r);
    else
        r->ws_queued += message_size(m);
    Py_DECREF(m);
    return queue_within_bounds(r);
}

void py_asgi_ws_closed(py_asgi_req_t *r, int code, const char *reason, size_t len)
{
    if (r->ws_code)
        return;
    r->ws_code = code;
    r->ws_reason = PyUnicode_DecodeUTF8(reason, (Py_ssize_t)len, "replace");
    if (!r->ws_reason)
        PyErr_Clear();
    if (!asgi_io_waiting(&r->recv_waiter))
        return;
    PyObject *m = asgi_ws_next_message(r);
    if (m) {
        asgi_io_resolve(&r->recv_waiter, m, NULL);
        Py_DECREF(m);
    } else if (PyErr_Occurred()) {
        PyErr_WriteUnraisable((PyObject *)r);
    }
}

/* ---- send ---------------------------------------------------------------------------------- */

static bool is_type(PyObject *type, const char *name)
{
    return PyUnicode_Check(type) && PyUnicode_CompareWithASCIIString(type, name) == 0;
}

static PyObject *fail(PyObject *exc, const char *text)
{
    PyErr_SetString(exc, text);
    return NULL;
}

static PyObject *send_accept(py_asgi_req_t *r, PyObject *msg)
{
    if (r->ws_state != ASGI_WS_CONNECTING && r->ws_state != ASGI_WS_HANDSHAKE)
        return fail(PyExc_RuntimeError,
                    "Unexpected ASGI message 'websocket.accept': the handshake is over");
    PyObject *sub = PyDict_GetItemWithError(msg, ws.t[W_SUBPROTOCOL]); /* borrowed */
    PyObject *given = PyDict_GetItemWithError(msg, ws.t[W_HEADERS]);   /* borrowed */
    if (PyErr_Occurred())
        return NULL;
    py_slice_t subprotocol = {NULL, 0};
    if (sub && sub != Py_None) {
        Py_ssize_t n;
        const char *p = PyUnicode_Check(sub) ? PyUnicode_AsUTF8AndSize(sub, &n) : NULL;
        if (!p) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "websocket.accept's subprotocol must be a str");
            return NULL;
        }
        subprotocol = (py_slice_t){p, (size_t)n};
    }
    int64_t length = -1;
    PyObject *headers = asgi_io_check_headers(given, &length);
    if (!headers)
        return NULL;
    size_t n;
    const py_header_t *slices = asgi_io_header_slices(headers, &n);
    const py_asgi_ops_t *ops = asgi_shared.ops;
    const char *why = NULL;
    int rc = ops->ws_accept(ops->ctx, r->owner, subprotocol, slices, n, &why);
    Py_DECREF(headers);
    asgi_round_soon();
    if (rc < 0)
        return fail(PyExc_RuntimeError, why ? why : "the WebSocket could not be accepted");
    r->ws_state = ASGI_WS_OPEN;
    return asgi_io_ready(NULL);
}

static PyObject *send_message(py_asgi_req_t *r, PyObject *msg)
{
    if (r->ws_state != ASGI_WS_OPEN)
        return fail(PyExc_RuntimeError, r->ws_state == ASGI_WS_CLOSED
                                            ? "Unexpected ASGI message 'websocket.send', after "
                                              "sending 'websocket.close'."
                                            : "Expected ASGI message 'websocket.accept' before "
                                              "'websocket.send'.");
    PyObject *bytes = PyDict_GetItemWithError(msg, ws.t[W_BYTES]); /* borrowed */
    PyObject *text = PyDict_GetItemWithError(msg, ws.t[W_TEXT]);   /* borrowed */
    if (PyErr_Occurred())
        return NULL;
    if (bytes == Py_None)
        bytes = NULL;
    if (text == Py_None)
        text = NULL;
    if ((bytes != NULL) == (text != NULL))
        return fail(PyExc_TypeError, "websocket.send needs exactly one of 'bytes' and 'text'");
    const char *p;
    Py_ssize_t n;
    Py_buffer view = {.buf = NULL};
    if (text) {
        p = PyUnicode_Check(text) ? PyUnicode_AsUTF8AndSize(text, &n) : NULL;
        if (!p) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "websocket.send's 'text' must be a str");
            return NULL;
        }
    } else {
        if (PyUnicode_Check(bytes))
            return fail(PyExc_TypeError, "websocket.send's 'bytes' must be bytes, not str");
        if (PyObject_GetBuffer(bytes, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        p = view.buf;
        n = view.len;
    }
    const py_asgi_ops_t *ops = asgi_shared.ops;
    const char *why = NULL;
    int rc = ops->ws_send(ops->ctx, r->owner, text != NULL, p, (size_t)n, &why);
    if (view.buf)
        PyBuffer_Release(&view);
    asgi_round_soon();
    if (rc < 0) {
        PyErr_SetString(asgi_shared.disconnect_exc, why ? why : "the WebSocket is closing");
        return NULL;
    }
    if (rc == 1)
        return asgi_io_new_waiter(&r->send_waiter);
    return asgi_io_ready(NULL);
}

static PyObject *send_close(py_asgi_req_t *r, PyObject *msg)
{
    if (r->ws_state == ASGI_WS_CLOSED || r->ws_state == ASGI_WS_DENIED)
        return fail(PyExc_RuntimeError, "Unexpected ASGI message 'websocket.close', after "
                                        "the WebSocket closed or its denial began.");
    PyObject *code = PyDict_GetItemWithError(msg, ws.t[W_CODE]);     /* borrowed */
    PyObject *reason = PyDict_GetItemWithError(msg, ws.t[W_REASON]); /* borrowed */
    if (PyErr_Occurred())
        return NULL;
    long c = code && code != Py_None ? PyLong_AsLong(code) : 1000;
    if (c == -1 && PyErr_Occurred())
        return NULL;
    const char *p = "";
    Py_ssize_t n = 0;
    if (reason && reason != Py_None) {
        p = PyUnicode_Check(reason) ? PyUnicode_AsUTF8AndSize(reason, &n) : NULL;
        if (!p) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "websocket.close's 'reason' must be a str");
            return NULL;
        }
    }
    const py_asgi_ops_t *ops = asgi_shared.ops;
    const char *why = NULL;
    if (ops->ws_close(ops->ctx, r->owner, c, p, (size_t)n, &why) < 0) {
        PyErr_Format(PyExc_ValueError, "websocket.close: %s", why);
        return NULL;
    }
    asgi_round_soon();
    r->ws_state = ASGI_WS_CLOSED;
    return asgi_io_ready(NULL);
}

PyObject *asgi_ws_send(py_asgi_req_t *r, PyObject *msg, PyObject *type)
{
    if (r->gone || r->ws_code || !r->owner) {
        PyErr_SetString(asgi_shared.disconnect_exc, "the WebSocket is closed");
        return NULL;
    }
    if (is_type(type, "websocket.send"))
        return send_message(r, msg);
    if (is_type(type, "websocket.accept"))
        return send_accept(r, msg);
    if (is_type(type, "websocket.close"))
        return send_close(r, msg);
    bool start = is_type(type, "websocket.http.response.start");
    if (start || is_type(type, "websocket.http.response.body")) {
        if (r->ws_state != ASGI_WS_CONNECTING && r->ws_state != ASGI_WS_HANDSHAKE &&
            r->ws_state != ASGI_WS_DENIED)
            return fail(PyExc_RuntimeError, "websocket.http.response only answers a handshake "
                                            "that was neither accepted nor closed");
        r->ws_state = ASGI_WS_DENIED;
        return start ? asgi_io_send_start(r, msg) : asgi_io_send_body(r, msg);
    }
    PyErr_Format(PyExc_RuntimeError, "Unexpected ASGI message type %R for a websocket scope", type);
    return NULL;
}

/* ---- the request's objects, setup ------------------------------------------------------------ */

void asgi_ws_clear(py_asgi_req_t *r)
{
    Py_CLEAR(r->ws_queue);
    Py_CLEAR(r->ws_reason);
}

int asgi_ws_traverse(py_asgi_req_t *r, visitproc visit, void *arg)
{
    Py_VISIT(r->ws_queue);
    Py_VISIT(r->ws_reason);
    return 0;
}

int asgi_ws_setup(void)
{
    for (int i = 0; i < W_COUNT; i++)
        if (!(ws.t[i] = PyUnicode_InternFromString(names[i])))
            return -1;
    ws.empty = PyUnicode_InternFromString("");
    return ws.empty ? 0 : -1;
}

void asgi_ws_teardown(void)
{
    for (int i = 0; i < W_COUNT; i++)
        Py_CLEAR(ws.t[i]);
    Py_CLEAR(ws.empty);
}
