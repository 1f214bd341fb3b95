/* wsgi.input: reads the request body in place, from memory or the spool file. */
#include "python_bridge/wsgi_input.h"

#include "common/mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

struct wsgi_input {
    PyObject ob_base;
    const char *data; /* body in memory (borrowed), or NULL */
    int fd;           /* or the spool file (borrowed), -1 */
    int64_t len, pos;
    bool open;
    buf_t line; /* readline scratch for the file case */
};
typedef wsgi_input_t input_t;

static PyTypeObject *input_type; /* made by wsgi_input_setup */
static PyObject *empty_bytes;    /* b"": what a read at the end returns */

static PyObject *input_closed(void)
{
    PyErr_SetString(PyExc_ValueError, "I/O operation on wsgi.input after the response ended");
    return NULL;
}

/* A size argument: an int (negative means "all") or None. Returns 0 and sets *out, or -1
 * with a TypeError. */
static int size_arg(PyObject *const *args, Py_ssize_t nargs, const char *fn, Py_ssize_t *out)
{
    *out = -1;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (%zd given)", fn, nargs);
        return -1;
    }
    if (nargs == 0 || args[0] == Py_None)
        return 0;
    if (!PyIndex_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "%s() argument must be int or None, not %.100s", fn,
                     Py_TYPE(args[0])->tp_name);
        return -1;
    }
    Py_ssize_t n = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred())
        return -1;
    *out = n;
    return 0;
}

/* pread until `n` bytes or the end of the file; returns the count or -1 with OSError. */
static Py_ssize_t pread_full(int fd, char *p, Py_ssize_t n, int64_t off)
{
    Py_ssize_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, (size_t)(n - got), (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        if (r == 0)
            break;
        got += r;
    }
    return got;
}

/* The next n body bytes (n <= what is left) as bytes; advances the position. */
static PyObject *input_take(input_t *in, Py_ssize_t n)
{
    if (n <= 0)
        return Py_NewRef(empty_bytes);
    if (in->data) {
        PyObject *b = PyBytes_FromStringAndSize(in->data + in->pos, n);
        if (b)
            in->pos += n;
        return b;
    }
    PyObject *b = PyBytes_FromStringAndSize(NULL, n);
    if (!b)
        return NULL;
    Py_ssize_t got = pread_full(in->fd, PyBytes_AS_STRING(b), n, in->pos);
    if (got < 0) {
        Py_DECREF(b);
        return NULL;
    }
    in->pos += got;
    if (got < n && _PyBytes_Resize(&b, got) < 0) /* the file shrank under us */
        return NULL;
    return b;
}

static Py_ssize_t input_left(const input_t *in)
{
    int64_t left = in->len - in->pos;
    return left > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)left;
}

static PyObject *input_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    input_t *in = (input_t *)self;
    Py_ssize_t n;
    if (size_arg(args, nargs, "read", &n) < 0)
        return NULL;
    if (!in->open)
        return input_closed();
    Py_ssize_t left = input_left(in);
    return input_take(in, n < 0 || n > left ? left : n);
}

/* One line of at most `limit` bytes (negative: no limit), newline included. */
static PyObject *input_line(input_t *in, Py_ssize_t limit)
{
    Py_ssize_t left = input_left(in);
    if (limit < 0 || limit > left)
        limit = left;
    if (in->data) {
        const char *p = in->data + in->pos;
        const char *nl = memchr(p, '\n', (size_t)limit);
        return input_take(in, nl ? nl - p + 1 : limit);
    }
    /* The spool file: read ahead in blocks and keep the line; what was read past the
     * newline is read again next time (lines are short, and the page cache has it). */
    enum { BLOCK = 8192 };
    buf_t *b = &in->line;
    b->len = 0;
    while ((Py_ssize_t)b->len < limit) {
        Py_ssize_t want = limit - (Py_ssize_t)b->len;
        if (want > BLOCK)
            want = BLOCK;
        char *dst = buf_reserve(b, (size_t)want);
        Py_ssize_t got = pread_full(in->fd, dst, want, in->pos + (int64_t)b->len);
        if (got < 0)
            return NULL;
        const char *nl = memchr(dst, '\n', (size_t)got);
        if (nl) {
            b->len += (size_t)(nl - dst + 1);
            break;
        }
        b->len += (size_t)got;
        if (got < want)
            break;
    }
    PyObject *line = PyBytes_FromStringAndSize(b->data, (Py_ssize_t)b->len);
    if (line)
        in->pos += (int64_t)b->len;
    buf_reset(b, 65536);
    return line;
}

static PyObject *input_readline(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    input_t *in = (input_t *)self;
    Py_ssize_t n;
    if (size_arg(args, nargs, "readline", &n) < 0)
        return NULL;
    if (!in->open)
        return input_closed();
    return input_line(in, n);
}

/* readlines(hint): lines until their total length reaches hint (all when hint <= 0). */
static PyObject *input_readlines(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    input_t *in = (input_t *)self;
    Py_ssize_t hint;
    if (size_arg(args, nargs, "readlines", &hint) < 0)
        return NULL;
    if (!in->open)
        return input_closed();
    PyObject *lines = PyList_New(0);
    Py_ssize_t total = 0;
    while (lines) {
        PyObject *line = input_line(in, -1);
        if (!line) {
            Py_CLEAR(lines);
            break;
        }
        Py_ssize_t len = PyBytes_GET_SIZE(line);
        if (len == 0) {
            Py_DECREF(line);
            break;
        }
        int rc = PyList_Append(lines, line);
        Py_DECREF(line);
        if (rc < 0)
            Py_CLEAR(lines);
        total += len;
        if (hint > 0 && total >= hint)
            break;
    }
    return lines;
}

static PyObject *input_iternext(PyObject *self)
{
    input_t *in = (input_t *)self;
    if (!in->open)
        return input_closed();
    PyObject *line = input_line(in, -1);
    if (line && PyBytes_GET_SIZE(line) == 0)
        Py_CLEAR(line); /* NULL without an exception: StopIteration */
    return line;
}

static void input_dealloc(PyObject *self)
{
    input_t *in = (input_t *)self;
    buf_free(&in->line);
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyMethodDef input_methods[] = {
    {"read", (PyCFunction)(void (*)(void))input_read, METH_FASTCALL,
     "read(size=-1) -> bytes: up to size bytes of the request body, all when negative"},
    {"readline", (PyCFunction)(void (*)(void))input_readline, METH_FASTCALL,
     "readline(size=-1) -> bytes: one line, newline included, of at most size bytes"},
    {"readlines", (PyCFunction)(void (*)(void))input_readlines, METH_FASTCALL,
     "readlines(hint=-1) -> list: lines until their total size reaches hint"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot input_slots[] = {
    {Py_tp_methods, input_methods},
    {Py_tp_iter, (void *)PyObject_SelfIter},
    {Py_tp_iternext, (void *)input_iternext},
    {Py_tp_dealloc, (void *)input_dealloc},
    {Py_tp_doc, (void *)"wsgi.input: the request body (PEP 3333)"},
    {0, NULL},
};
static PyType_Spec input_spec = {
    .name = "uwsgi_fast.Input",
    .basicsize = sizeof(input_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = input_slots,
};

int wsgi_input_setup(void)
{
    if (!(empty_bytes = PyBytes_FromStringAndSize("", 0)))
        return -1;
    input_type = (PyTypeObject *)PyType_FromSpec(&input_spec);
    return input_type ? 0 : -1;
}

void wsgi_input_teardown(void)
{
    Py_CLEAR(empty_bytes);
    Py_CLEAR(input_type); /* live instances keep it alive by reference */
}

PyObject *wsgi_input_bind(wsgi_input_t **slot, const py_request_t *req)
{
    if (!*slot) {
        *slot = PyObject_New(input_t, input_type); /* owned by the slot */
        if (!*slot)
            return NULL;
        memset(&(*slot)->line, 0, sizeof((*slot)->line));
    }
    input_t *in = *slot;
    in->data = req->body ? req->body : (req->body_len ? NULL : "");
    in->fd = in->data ? -1 : req->body_fd;
    in->len = (int64_t)req->body_len;
    in->pos = 0;
    in->open = true;
    return Py_NewRef(in);
}

void wsgi_input_detach(wsgi_input_t **slot)
{
    input_t *in = *slot;
    if (!in)
        return;
    in->open = false;
    in->data = NULL;
    in->fd = -1;
    if (Py_REFCNT(in) > 1)
        Py_CLEAR(*slot); /* kept by the application: it stays closed */
}
