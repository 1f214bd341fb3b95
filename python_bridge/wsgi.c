/* WSGI (PEP 3333): environ, start_response/write, and pulling the response body. */
#include "python_bridge/wsgi.h"

#include "python_bridge/compat.h"
#include "common/mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef UF_VERSION
#define UF_VERSION "dev" /* build.zig passes the VERSION file's text */
#endif

/* ---- objects created once and reused by every request ------------------------------
 *
 * Keys are interned so the application's environ lookups hit the pointer-equality fast
 * path of dict lookups; constant values (wsgi.version, "http", the protocol strings, the
 * common methods) are shared by every environ. All of this is created on the first
 * call and dropped by py_wsgi_release_cache before the interpreter finalises. Everything
 * runs under the GIL, in the worker's loop thread or (--threads) in its application
 * threads. The GIL is the statics' lock: they are only read or swapped in steps that run
 * no Python code, since Python code may let another thread in. What a step keeps across
 * Python calls (the percent-decoding scratch) is per thread.
 */
enum {
    K_REQUEST_METHOD,
    K_SCRIPT_NAME,
    K_PATH_INFO,
    K_QUERY_STRING,
    K_RAW_URI,
    K_SERVER_NAME,
    K_SERVER_PORT,
    K_SERVER_PROTOCOL,
    K_REMOTE_ADDR,
    K_REMOTE_PORT,
    K_WSGI_VERSION,
    K_WSGI_URL_SCHEME,
    K_WSGI_INPUT,
    K_WSGI_ERRORS,
    K_WSGI_MULTITHREAD,
    K_WSGI_MULTIPROCESS,
    K_WSGI_RUN_ONCE,
    K_WSGI_INPUT_TERMINATED,
    K_WSGI_FILE_WRAPPER,
    K_SERVER_SOFTWARE,
    K_CONTENT_TYPE, /* the two below are not in the template: only set when sent */
    K_CONTENT_LENGTH,
    K_COUNT,
    K_TEMPLATE_COUNT = K_CONTENT_TYPE,
};

static const char *const key_names[K_COUNT] = {
    "REQUEST_METHOD", "SCRIPT_NAME",           "PATH_INFO",         "QUERY_STRING",
    "RAW_URI",        "SERVER_NAME",           "SERVER_PORT",       "SERVER_PROTOCOL",
    "REMOTE_ADDR",    "REMOTE_PORT",           "wsgi.version",      "wsgi.url_scheme",
    "wsgi.input",     "wsgi.errors",           "wsgi.multithread",  "wsgi.multiprocess",
    "wsgi.run_once",  "wsgi.input_terminated", "wsgi.file_wrapper", "SERVER_SOFTWARE",
    "CONTENT_TYPE",   "CONTENT_LENGTH",
};

typedef struct text {
    const char *s;
    size_t len;
} text_t;
/* clang-format off */
#define T(lit) {(lit), sizeof(lit) - 1}
/* clang-format on */

/* Request headers browsers and proxies send on nearly every request: their environ keys
 * are interned once instead of being built per request. Lower case, for matching. */
static const text_t common_headers[] = {
    T("host"),
    T("user-agent"),
    T("accept"),
    T("accept-encoding"),
    T("accept-language"),
    T("connection"),
    T("cookie"),
    T("referer"),
    T("cache-control"),
    T("pragma"),
    T("origin"),
    T("authorization"),
    T("upgrade-insecure-requests"),
    T("if-none-match"),
    T("if-modified-since"),
    T("x-forwarded-for"),
    T("x-forwarded-proto"),
    T("x-forwarded-host"),
    T("x-real-ip"),
    T("x-request-id"),
    T("x-requested-with"),
    T("sec-fetch-dest"),
    T("sec-fetch-mode"),
    T("sec-fetch-site"),
    T("sec-fetch-user"),
    T("dnt"),
    T("te"),
    T("range"),
    T("keep-alive"),
};

static const text_t common_methods[] = {
    T("GET"),     T("POST"),  T("HEAD"),    T("PUT"),   T("DELETE"),
    T("OPTIONS"), T("PATCH"), T("CONNECT"), T("TRACE"),
};

static struct {
    bool ready;
    PyObject *keys[K_COUNT];
    PyObject *header_keys[UF_ARRAY_LEN(common_headers)];
    PyObject *methods[UF_ARRAY_LEN(common_methods)];
    PyObject *proto10, *proto11; /* "HTTP/1.0", "HTTP/1.1" */
    PyObject *comma;             /* "," for joining repeated headers */
    PyObject *empty_bytes;
    PyObject *https;      /* "https" for wsgi.url_scheme ("http" is in the template) */
    PyObject *close_name; /* "close" */
    PyObject *fileno_name, *tell_name, *read_name;
    PyObject *template; /* the constant part of every environ, see new_environ */
    PyTypeObject *reply_type, *writer_type, *input_type, *filewrapper_type;
    /* Texts that repeat from request to request on one worker, kept with their objects */
    char server_name[64];
    int server_port;
    PyObject *server_name_obj, *server_port_obj;
    char remote_addr[64];
    PyObject *remote_addr_obj;
    char script_name[256];
    PyObject *script_name_obj;
} cache;

/* ---- wsgi.input ----------------------------------------------------------------------
 *
 * A small C type rather than io.BytesIO: it reads the body where the C side keeps it
 * (the connection's memory, or the spool file with pread) without a copy into a bytes
 * object first, and one instance is reused with its reply. The C side guarantees the
 * body stays put until py_wsgi_finish; then the stream is detached (`open` false) and
 * every call raises ValueError, as on a closed file, because an application may keep
 * it beyond the response.
 */
typedef struct input {
    PyObject ob_base;
    const char *data; /* body in memory (borrowed), or NULL */
    int fd;           /* or the spool file (borrowed), -1 */
    int64_t len, pos;
    bool open;
    buf_t line; /* readline scratch for the file case */
} input_t;

/* ---- wsgi.file_wrapper (PEP 3333 "Optional Platform-Specific File Handling") ----------
 *
 * Iterating one reads blocks through filelike.read(), which is what a server without a
 * faster path does; py_wsgi_call recognises an instance returned as the response and,
 * when the object behind it is a regular file with a descriptor, hands the C side the
 * descriptor, offset and length instead (see file_reply).
 */
typedef struct filewrapper {
    PyObject ob_base;
    PyObject *filelike; /* owned */
    Py_ssize_t blksize;
} filewrapper_t;

/* ---- the reply: start_response's state, and the C side's view of it ----------------
 *
 * One Python object serves as start_response (tp_call) and holds the public py_reply_t
 * that the C side gets a pointer to; container_of leads back. It is reused through a small
 * free list, so a steady stream of requests allocates none. Reuse is only safe when
 * nobody else holds it: an application may keep start_response (or write) after the
 * response ended, so py_wsgi_finish recycles a reply only when its reference is the last
 * one; otherwise the object is left inactive (every call on it raises) and dies with the
 * application's reference. `gen` tells the write callable whether the response it was
 * handed out for is still the current one.
 */
typedef struct writer writer_t;

typedef struct reply {
    PyObject ob_base; /* PyObject_HEAD, spelled out for clang-format */
    py_reply_t pub;
    PyObject *result;  /* the application's return value (owned); close() goes here */
    PyObject *iter;    /* iter(result) (owned); NULL in sequence mode */
    PyObject *chunk;   /* bytes behind pub.chunk (owned) */
    PyObject *pending; /* list of bytes given to write() and not yet handed out (owned) */
    Py_ssize_t pending_pos;
    Py_ssize_t seq_pos;  /* sequence mode: next index into result */
    Py_ssize_t seq_last; /* sequence mode: index of the last non-empty item, -1 if none */
    writer_t *writer;    /* write() callable kept for reuse (owned), or NULL */
    input_t *input;      /* wsgi.input kept for reuse (owned), or NULL */
    buf_t meta;          /* latin-1 status then header names and values; pub points here */
    py_header_t *hdrs;
    size_t hdrs_cap;
    buf_t reqline; /* "METHOD TARGET" for error-log lines after the request is gone */
    uint32_t gen;
    bool active;        /* between py_wsgi_call and py_wsgi_finish */
    bool seq_mode;      /* result is an exact list/tuple of bytes: indexed, not iterated */
    bool exhausted;     /* the iterable has nothing more (pending may still hold data) */
    bool headers_set;   /* start_response succeeded */
    bool headers_final; /* the C side has (or may have) sent them: exc_info re-raises */
    bool closed;        /* close() was called (or result had none) */
    bool failed;        /* iteration raised; py_wsgi_next keeps returning -1 */
} reply_t;

struct writer {
    PyObject ob_base;
    reply_t *owner; /* borrowed: the reply detaches us before it can go away */
    uint32_t gen;   /* owner->gen when we were handed out */
};

/* wsgi.multithread (--threads > 1) and wsgi.multiprocess (more than one worker), as
 * py_wsgi_prepare was told. */
static bool multithread, multiprocess = true;

#define FREE_REPLIES_MAX 16
static reply_t *free_replies[FREE_REPLIES_MAX];
static int free_reply_count;

/* ---- small helpers ------------------------------------------------------------------ */

/* RFC 9110 tchar: what a header field name may consist of. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-value and reason-phrase octets: HTAB, SP, VCHAR, obs-text. CR, LF and NUL are the
 * response-splitting ones; the other controls are refused too because no recipient is
 * required to accept them. */
static bool is_value_octet(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* a[0, alen) equals `lower` (a lower-case text starting with a letter) ignoring case;
 * the length and first letter are compared first because this runs for every request
 * header against every name in common_headers. */
static inline bool eq_nocase(const char *a, size_t alen, text_t lower)
{
    return alen == lower.len && (a[0] | 0x20) == lower.s[0] && strncasecmp(a, lower.s, alen) == 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes %XX escapes from in[0,n) into out (room for n bytes); a '%' not followed by two
 * hex digits stays as it is, like gunicorn and werkzeug do. Returns the length. */
static size_t percent_decode(char *out, const char *in, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)in[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)in[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

/* A port number as str (snprintf's format parsing showed up in profiles). */
static PyObject *str_of_int(int v)
{
    char tmp[16], *p = tmp + sizeof(tmp);
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return PyUnicode_DecodeLatin1(p, tmp + sizeof(tmp) - p, NULL);
}

/* Returns the cached object for a NUL-terminated text that is usually the same as last
 * time (the listening address, a keep-alive client's address), or a new one; always a new
 * reference. */
static PyObject *cached_text(char *last, size_t lastsize, PyObject **obj, const char *text)
{
    if (!text)
        text = "";
    if (*obj && strcmp(last, text) == 0)
        return Py_NewRef(*obj);
    size_t n = strlen(text);
    PyObject *s = PyUnicode_DecodeLatin1(text, (Py_ssize_t)n, NULL);
    if (s && n < lastsize) {
        Py_XSETREF(*obj, Py_NewRef(s));
        memcpy(last, text, n + 1);
    }
    return s;
}

/* SCRIPT_NAME as str (new reference): the same mount point on every request, as a rule. */
static PyObject *cached_slice(py_slice_t s)
{
    if (cache.script_name_obj && strlen(cache.script_name) == s.len &&
        memcmp(cache.script_name, s.ptr, s.len) == 0)
        return Py_NewRef(cache.script_name_obj);
    PyObject *o = PyUnicode_DecodeLatin1(s.ptr, (Py_ssize_t)s.len, NULL);
    if (o && s.len < sizeof(cache.script_name) && !memchr(s.ptr, 0, s.len)) {
        Py_XSETREF(cache.script_name_obj, Py_NewRef(o));
        memcpy(cache.script_name, s.ptr, s.len);
        cache.script_name[s.len] = 0;
    }
    return o;
}

/* A body chunk as bytes (new reference). bytes pass through; other buffer objects are
 * copied, since a bytearray could change while the chunk waits to be sent; str and
 * everything else is a TypeError naming `what`. */
static PyObject *as_bytes(PyObject *o, const char *what)
{
    if (PyBytes_Check(o))
        return Py_NewRef(o);
    if (!PyUnicode_Check(o) && PyObject_CheckBuffer(o))
        return PyBytes_FromObject(o);
    PyErr_Format(PyExc_TypeError, "%s must be bytes, not %.100s", what, Py_TYPE(o)->tp_name);
    return NULL;
}

/* ---- wsgi.input: implementation ------------------------------------------------------ */

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
        return Py_NewRef(cache.empty_bytes);
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

static PyObject *input_iter(PyObject *self)
{
    return Py_NewRef(self);
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
    {Py_tp_iter, (void *)input_iter},
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

/* Points r's wsgi.input (reused when nobody else holds it) at req's body; returns it as a
 * new reference, or NULL with an exception set. */
static PyObject *input_for(reply_t *r, const py_request_t *req)
{
    if (!r->input) {
        r->input = PyObject_New(input_t, cache.input_type); /* owned by r */
        if (!r->input)
            return NULL;
        memset(&r->input->line, 0, sizeof(r->input->line));
    }
    input_t *in = r->input;
    in->data = req->body ? req->body : (req->body_len ? NULL : "");
    in->fd = in->data ? -1 : req->body_fd;
    in->len = (int64_t)req->body_len;
    in->pos = 0;
    in->open = true;
    return Py_NewRef(in);
}

/* ---- wsgi.file_wrapper: implementation ----------------------------------------------- */

static PyObject *filewrapper_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"filelike", "block_size", NULL};
    PyObject *filelike;
    Py_ssize_t blksize = 8192;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n:file_wrapper", kwlist, &filelike, &blksize))
        return NULL;
    filewrapper_t *fw = (filewrapper_t *)type->tp_alloc(type, 0);
    if (!fw)
        return NULL;
    fw->filelike = Py_NewRef(filelike);
    fw->blksize = blksize > 0 ? blksize : 8192;
    return (PyObject *)fw;
}

static PyObject *filewrapper_iternext(PyObject *self)
{
    filewrapper_t *fw = (filewrapper_t *)self;
    if (!fw->filelike)
        return NULL;
    PyObject *n = PyLong_FromSsize_t(fw->blksize);
    if (!n)
        return NULL;
    PyObject *data = PyObject_CallMethodObjArgs(fw->filelike, cache.read_name, n, NULL);
    Py_DECREF(n);
    if (!data)
        return NULL;
    Py_ssize_t len = PyObject_Length(data);
    if (len < 0)
        PyErr_Clear(); /* not sized: the body loop names the wrong type */
    else if (len == 0)
        Py_CLEAR(data); /* end of file: StopIteration */
    return data;
}

/* close() is the filelike's (PEP 3333: the server calls the wrapper's close(), which
 * must close the file; Django routes its response's close() through it). */
static PyObject *filewrapper_close(PyObject *self, PyObject *unused)
{
    (void)unused;
    filewrapper_t *fw = (filewrapper_t *)self;
    PyObject *close;
    if (!fw->filelike)
        Py_RETURN_NONE;
    int found = compat_getattr_optional(fw->filelike, cache.close_name, &close);
    if (found < 0)
        return NULL;
    if (found == 0)
        Py_RETURN_NONE;
    PyObject *r = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    return r;
}

static int filewrapper_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((filewrapper_t *)self)->filelike);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int filewrapper_clear(PyObject *self)
{
    Py_CLEAR(((filewrapper_t *)self)->filelike);
    return 0;
}

static void filewrapper_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    filewrapper_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *filewrapper_getfilelike(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *f = ((filewrapper_t *)self)->filelike;
    return Py_NewRef(f ? f : Py_None);
}

/* seekable(), seek() and tell() forward to the file when it has them, so that
 * middleware cutting a range out of the response (werkzeug's _RangeWrapper) can seek
 * instead of reading its way to the start. */
static PyObject *forward(PyObject *self, const char *name, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *fallback)
{
    PyObject *f = ((filewrapper_t *)self)->filelike, *meth;
    int found = f ? compat_getattr_optional_str(f, name, &meth) : 0;
    if (found < 0)
        return NULL;
    if (found == 0)
        return Py_NewRef(fallback);
    PyObject *r = PyObject_Vectorcall(meth, args, (size_t)nargs, NULL);
    Py_DECREF(meth);
    return r;
}

static PyObject *filewrapper_seekable(PyObject *self, PyObject *unused)
{
    (void)unused;
    PyObject *f = ((filewrapper_t *)self)->filelike, *meth;
    int found = f ? compat_getattr_optional_str(f, "seekable", &meth) : 0;
    if (found < 0)
        return NULL;
    if (found > 0) {
        PyObject *r = PyObject_CallNoArgs(meth);
        Py_DECREF(meth);
        return r;
    }
    found = f ? compat_getattr_optional_str(f, "seek", &meth) : 0;
    if (found < 0)
        return NULL;
    Py_XDECREF(meth);
    return PyBool_FromLong(found > 0);
}

static PyObject *filewrapper_seek(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return forward(self, "seek", args, nargs, Py_None);
}

static PyObject *filewrapper_tell(PyObject *self, PyObject *unused)
{
    (void)unused;
    return forward(self, "tell", NULL, 0, Py_None);
}

static PyMethodDef filewrapper_methods[] = {
    {"close", filewrapper_close, METH_NOARGS, "close(): closes the wrapped file"},
    {"seekable", filewrapper_seekable, METH_NOARGS, "seekable(): whether seek() works"},
    {"seek", (PyCFunction)(void (*)(void))filewrapper_seek, METH_FASTCALL,
     "seek(offset, whence=0): the wrapped file's seek()"},
    {"tell", filewrapper_tell, METH_NOARGS, "tell(): the wrapped file's position"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef filewrapper_getset[] = {
    {"filelike", filewrapper_getfilelike, NULL, "the wrapped file-like object", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot filewrapper_slots[] = {
    {Py_tp_new, (void *)filewrapper_new},
    {Py_tp_iter, (void *)input_iter},
    {Py_tp_iternext, (void *)filewrapper_iternext},
    {Py_tp_methods, filewrapper_methods},
    {Py_tp_getset, filewrapper_getset},
    {Py_tp_traverse, (void *)filewrapper_traverse},
    {Py_tp_clear, (void *)filewrapper_clear},
    {Py_tp_dealloc, (void *)filewrapper_dealloc},
    {Py_tp_doc, (void *)"wsgi.file_wrapper(filelike, block_size=8192): a file as a response "
                        "body, sent by the server without passing through Python"},
    {0, NULL},
};
static PyType_Spec filewrapper_spec = {
    .name = "uwsgi_fast.FileWrapper",
    .basicsize = sizeof(filewrapper_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = filewrapper_slots,
};

/* ---- environ ---------------------------------------------------------------------- */

/* PyDict_SetItem that takes ownership of `value` (which may be NULL after a failed
 * constructor: then it just reports the pending error). */
static int set_new(PyObject *d, PyObject *key, PyObject *value)
{
    if (!value)
        return -1;
    int rc = PyDict_SetItem(d, key, value);
    Py_DECREF(value);
    return rc;
}

static PyObject *method_obj(py_slice_t m)
{
    for (size_t i = 0; i < UF_ARRAY_LEN(common_methods); i++)
        if (common_methods[i].len == m.len && memcmp(common_methods[i].s, m.ptr, m.len) == 0)
            return Py_NewRef(cache.methods[i]);
    return PyUnicode_DecodeLatin1(m.ptr, (Py_ssize_t)m.len, NULL);
}

/* Splits a request-target into its path and query. An absolute-form target
 * ("http://host:80/p?q", sent to proxies and allowed to servers) contributes only its
 * path, "/" when empty. A fragment never reaches a server, but one sent anyway is dropped
 * rather than passed on as part of the query. */
static void split_target(py_slice_t t, py_slice_t *path, py_slice_t *query)
{
    if (!t.len || !t.ptr) {
        *path = *query = (py_slice_t){"", 0};
        return;
    }
    const char *p = t.ptr, *end = t.ptr + t.len;
    bool absolute = false;
    if (t.ptr[0] != '/' && t.ptr[0] != '*') {
        const char *s = memmem(t.ptr, t.len, "://", 3);
        if (s) {
            absolute = true;
            for (p = s + 3; p < end && *p != '/' && *p != '?' && *p != '#'; p++)
                ;
        }
    }
    const char *frag = memchr(p, '#', (size_t)(end - p));
    const char *limit = frag ? frag : end;
    const char *q = memchr(p, '?', (size_t)(limit - p));
    const char *pend = q ? q : limit;
    *path = (py_slice_t){p, (size_t)(pend - p)};
    if (absolute && path->len == 0)
        *path = (py_slice_t){"/", 1};
    *query = q ? (py_slice_t){q + 1, (size_t)(limit - q - 1)} : (py_slice_t){"", 0};
}

/* The environ key for a request header: "HTTP_" + upper case, '-' → '_'. Interned for
 * the common names, a new string otherwise (never interned: the names come from clients,
 * and interned strings would let them grow the interpreter without bound). New ref. */
static PyObject *header_key(const char *name, size_t len)
{
    for (size_t i = 0; i < UF_ARRAY_LEN(common_headers); i++)
        if (eq_nocase(name, len, common_headers[i]))
            return Py_NewRef(cache.header_keys[i]);
    /* The parser only lets tokens through, so the name is ASCII and the key can be
     * written straight into a new compact ASCII string; latin-1 is the fallback. */
    Py_UCS4 maxchar = 127;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] > 127)
            maxchar = 255;
    PyObject *key = PyUnicode_New((Py_ssize_t)(5 + len), maxchar);
    if (!key)
        return NULL;
    Py_UCS1 *d = PyUnicode_1BYTE_DATA(key);
    memcpy(d, "HTTP_", 5);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        d[5 + i] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (Py_UCS1)(c - 32) : c;
    }
    return key;
}

static int add_header(PyObject *env, const py_header_t *h)
{
    /* A header named with '_' would land on the same key as its '-' twin, letting a
     * client forge e.g. X_Forwarded_For past a proxy that only filters the '-' spelling;
     * drop them (nginx and gunicorn do the same). */
    if (memchr(h->name.ptr, '_', h->name.len))
        return 0;
    PyObject *value = PyUnicode_DecodeLatin1(h->value.ptr, (Py_ssize_t)h->value.len, NULL);
    if (!value)
        return -1;
    int rc;
    if (eq_nocase(h->name.ptr, h->name.len, (text_t)T("content-type"))) {
        rc = set_new(env, cache.keys[K_CONTENT_TYPE], value);
    } else if (eq_nocase(h->name.ptr, h->name.len, (text_t)T("content-length"))) {
        rc = set_new(env, cache.keys[K_CONTENT_LENGTH], value);
    } else {
        PyObject *key = header_key(h->name.ptr, h->name.len);
        if (!key) {
            Py_DECREF(value);
            return -1;
        }
        /* One lookup in the common case: setdefault inserts unless the header repeats. */
        PyObject *have = PyDict_SetDefault(env, key, value); /* borrowed */
        rc = have ? 0 : -1;
        if (have && have != value) {
            PyObject *joined = PyUnicode_Concat(have, cache.comma);
            Py_XSETREF(joined, joined ? PyUnicode_Concat(joined, value) : NULL);
            rc = set_new(env, key, joined);
        }
        Py_DECREF(key);
        Py_DECREF(value);
    }
    return rc;
}

/* Builds the environ (new reference) or returns NULL with an exception set.
 *
 * Why a template: PyDict_Copy of a compact dict clones its hash table with one memcpy
 * (capacity included), so starting from a dict that already holds every fixed key
 * (constants as values, the per-request ones as placeholders) turns ~19 insertions into
 * 10 value replacements, and leaves room for the headers. */
static PyObject *new_environ(reply_t *r, const py_request_t *req, buf_t *scratch)
{
    PyObject *env = PyDict_Copy(cache.template);
    if (!env)
        return NULL;
    PyObject **k = cache.keys;
    py_slice_t path, query;
    split_target(req->target, &path, &query);
    char *dec = buf_reserve(scratch, path.len ? path.len : 1);
    size_t declen = percent_decode(dec, path.ptr, path.len);

    /* SCRIPT_NAME + PATH_INFO is the decoded path. A mount point in front of it is taken
     * off PATH_INFO; a path without it (a proxy that strips the prefix itself) stays
     * whole, and SCRIPT_NAME still tells the application where it is mounted. "/" and a
     * trailing slash name the same mount point as without it. */
    py_slice_t sn = req->script_name;
    while (sn.len && sn.ptr[sn.len - 1] == '/')
        sn.len--;
    if (sn.len) {
        if (declen >= sn.len && memcmp(dec, sn.ptr, sn.len) == 0 &&
            (declen == sn.len || dec[sn.len] == '/')) {
            dec += sn.len;
            declen -= sn.len;
        }
        if (set_new(env, k[K_SCRIPT_NAME], cached_slice(sn)) < 0)
            goto fail;
    }
    if (req->https && PyDict_SetItem(env, k[K_WSGI_URL_SCHEME], cache.https) < 0)
        goto fail;

    if (set_new(env, k[K_REQUEST_METHOD], method_obj(req->method)) < 0 ||
        set_new(env, k[K_PATH_INFO], PyUnicode_DecodeLatin1(dec, (Py_ssize_t)declen, NULL)) < 0 ||
        set_new(env, k[K_QUERY_STRING],
                PyUnicode_DecodeLatin1(query.ptr, (Py_ssize_t)query.len, NULL)) < 0 ||
        set_new(env, k[K_RAW_URI],
                PyUnicode_DecodeLatin1(req->target.ptr, (Py_ssize_t)req->target.len, NULL)) < 0 ||
        PyDict_SetItem(env, k[K_SERVER_PROTOCOL],
                       req->version_minor == 0 ? cache.proto10 : cache.proto11) < 0 ||
        set_new(env, k[K_SERVER_NAME],
                cached_text(cache.server_name, sizeof(cache.server_name), &cache.server_name_obj,
                            req->server_name)) < 0 ||
        set_new(env, k[K_REMOTE_ADDR],
                cached_text(cache.remote_addr, sizeof(cache.remote_addr), &cache.remote_addr_obj,
                            req->remote_addr)) < 0 ||
        set_new(env, k[K_REMOTE_PORT], str_of_int(req->remote_port)) < 0)
        goto fail;

    if (!cache.server_port_obj || cache.server_port != req->server_port) {
        PyObject *port = str_of_int(req->server_port);
        if (!port)
            goto fail;
        Py_XSETREF(cache.server_port_obj, port); /* the cache owns it */
        cache.server_port = req->server_port;
    }
    if (PyDict_SetItem(env, k[K_SERVER_PORT], cache.server_port_obj) < 0)
        goto fail;

    if (set_new(env, k[K_WSGI_INPUT], input_for(r, req)) < 0)
        goto fail;
    /* looked up per request: the application may have replaced sys.stderr */
    PyObject *errors = PySys_GetObject("stderr"); /* borrowed */
    if (PyDict_SetItem(env, k[K_WSGI_ERRORS], errors ? errors : Py_None) < 0)
        goto fail;

    for (size_t i = 0; i < req->header_count; i++)
        if (add_header(env, &req->headers[i]) < 0)
            goto fail;
    return env;
fail:
    Py_DECREF(env);
    return NULL;
}

/* ---- start_response and write ------------------------------------------------------ */

/* Validates status and headers and copies them, latin-1, into r->meta with r->pub
 * pointing at them. Returns 0, or -1 with an exception set (and no headers recorded). */
static int set_headers(reply_t *r, PyObject *status, PyObject *headers)
{
    r->headers_set = false;
    r->pub.header_count = 0;
    r->pub.content_length = -1;

    if (!PyUnicode_Check(status) || compat_unicode_ready(status) < 0) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "status must be str, not %.100s",
                         Py_TYPE(status)->tp_name);
        return -1;
    }
    if (!PyList_Check(headers) && !PyTuple_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "response headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return -1;
    }

    /* Pass 1: types and total size, so that pass 2 copies into memory that stays put. */
    Py_ssize_t n = PySequence_Fast_GET_SIZE(headers);
    PyObject **items = PySequence_Fast_ITEMS(headers);
    size_t total = (size_t)PyUnicode_GET_LENGTH(status) + 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = items[i];
        if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) != 2) {
            PyErr_Format(PyExc_TypeError, "response header %zd must be a (name, value) tuple", i);
            return -1;
        }
        for (int j = 0; j < 2; j++) {
            PyObject *s = PyTuple_GET_ITEM(h, j);
            if (!PyUnicode_Check(s) || compat_unicode_ready(s) < 0) {
                if (!PyErr_Occurred())
                    PyErr_Format(PyExc_TypeError, "response header %s must be str, not %.100s",
                                 j ? "value" : "name", Py_TYPE(s)->tp_name);
                return -1;
            }
            /* A str holding any character above U+00FF is never stored 1 byte wide. */
            if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
                PyErr_Format(PyExc_ValueError, "response header %s %R is not latin-1",
                             j ? "value" : "name", s);
                return -1;
            }
            total += (size_t)PyUnicode_GET_LENGTH(s);
        }
    }
    if (PyUnicode_KIND(status) != PyUnicode_1BYTE_KIND) {
        PyErr_Format(PyExc_ValueError, "status %R is not latin-1", status);
        return -1;
    }

    /* Status: "NNN reason"; a bare "NNN" is taken as "NNN " so the status line stays valid. */
    r->meta.len = 0;
    char *m = buf_reserve(&r->meta, total);
    const unsigned char *st = PyUnicode_1BYTE_DATA(status);
    size_t stlen = (size_t)PyUnicode_GET_LENGTH(status);
    bool ok = stlen >= 3 && st[0] >= '1' && st[0] <= '9' && st[1] >= '0' && st[1] <= '9' &&
              st[2] >= '0' && st[2] <= '9' && (stlen == 3 || st[3] == ' ');
    for (size_t i = 4; ok && i < stlen; i++)
        ok = is_value_octet(st[i]);
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "invalid status %R: expected \"NNN reason\"", status);
        return -1;
    }
    memcpy(m, st, stlen);
    if (stlen == 3)
        m[stlen++] = ' ';
    r->pub.status = (py_slice_t){m, stlen};
    r->pub.status_code = (st[0] - '0') * 100 + (st[1] - '0') * 10 + (st[2] - '0');
    m += stlen;

    if ((size_t)n > r->hdrs_cap) {
        r->hdrs_cap = (size_t)n < 16 ? 16 : (size_t)n;
        r->hdrs = uf_realloc(r->hdrs, r->hdrs_cap * sizeof(*r->hdrs));
    }
    /* Pass 2: octets, copy, Content-Length. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(items[i], 0);
        PyObject *value = PyTuple_GET_ITEM(items[i], 1);
        const unsigned char *np = PyUnicode_1BYTE_DATA(name), *vp = PyUnicode_1BYTE_DATA(value);
        size_t nl = (size_t)PyUnicode_GET_LENGTH(name), vl = (size_t)PyUnicode_GET_LENGTH(value);
        ok = nl > 0;
        for (size_t j = 0; ok && j < nl; j++)
            ok = is_tchar(np[j]);
        if (!ok) {
            PyErr_Format(PyExc_ValueError, "invalid response header name %R", name);
            return -1;
        }
        for (size_t j = 0; j < vl; j++) {
            if (!is_value_octet(vp[j])) {
                PyErr_Format(PyExc_ValueError,
                             "invalid character \\x%02x in the value of response header %R",
                             (unsigned)vp[j], name);
                return -1;
            }
        }
        r->hdrs[i].name = (py_slice_t){m, nl};
        memcpy(m, np, nl);
        m += nl;
        r->hdrs[i].value = (py_slice_t){m, vl};
        memcpy(m, vp, vl);
        m += vl;

        if (eq_nocase((const char *)np, nl, (text_t)T("content-length"))) {
            /* Strict: digits only and no overflow; two different values are as
             * broken as an unparsable one (the C side frames the body by it). */
            int64_t cl = 0;
            ok = vl > 0 && vl <= 18;
            for (size_t j = 0; ok && j < vl; j++) {
                ok = vp[j] >= '0' && vp[j] <= '9';
                cl = cl * 10 + (vp[j] - '0');
            }
            if (!ok || (r->pub.content_length >= 0 && r->pub.content_length != cl)) {
                PyErr_Format(PyExc_ValueError, "invalid response Content-Length %R", value);
                r->pub.content_length = -1;
                return -1;
            }
            r->pub.content_length = cl;
        }
    }
    r->meta.len = (size_t)(m - r->meta.data);
    r->pub.headers = r->hdrs;
    r->pub.header_count = (size_t)n;
    r->headers_set = true;
    return 0;
}

/* Hands out the write() callable for r (new reference), reusing the one r keeps. */
static PyObject *get_writer(reply_t *r)
{
    if (!r->writer) {
        r->writer = PyObject_New(writer_t, cache.writer_type); /* owned by r */
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
    reply_t *r = (reply_t *)self;
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
    if (set_headers(r, status, headers) < 0)
        return NULL;
    return get_writer(r);
}

/* write(data): PEP 3333's imperative body API. We cannot block the worker until the bytes
 * are sent, so they queue on the reply and go out before anything the iterable yields
 * after them (the order the application expects). */
static PyObject *writer_call(PyObject *self, PyObject *args, PyObject *kw)
{
    writer_t *w = (writer_t *)self;
    reply_t *r = w->owner;
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
    PyObject *b = as_bytes(data, "write() argument");
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
    reply_t *r = (reply_t *)self;
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
    buf_free(&r->meta);
    buf_free(&r->reqline);
    uf_free(r->hdrs);
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
    .basicsize = sizeof(reply_t),
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
    .basicsize = sizeof(writer_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = writer_slots,
};

/* A reply ready for a new request (our reference), from the free list when possible. */
static reply_t *reply_get(const py_request_t *req)
{
    reply_t *r;
    if (free_reply_count) {
        r = free_replies[--free_reply_count]; /* the list's reference becomes ours */
    } else {
        r = PyObject_New(reply_t, cache.reply_type);
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
static void log_app_error(reply_t *r)
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
static void close_result(reply_t *r)
{
    if (r->closed || !r->result)
        return;
    r->closed = true;
    if (r->seq_mode)
        return; /* an exact list or tuple has no close() */
    PyObject *close;
    int found = compat_getattr_optional(r->result, cache.close_name, &close);
    if (found > 0) {
        PyObject *res = PyObject_CallNoArgs(close);
        Py_DECREF(close);
        if (res)
            Py_DECREF(res);
        else
            found = -1;
    }
    if (found < 0)
        log_app_error(r);
}

/* Drops every Python object of the response and recycles r (consumes our reference). */
static void reply_release(reply_t *r)
{
    /* Clearing may run arbitrary code (a generator's finally, __del__), which may drop
     * the last other references to r; ours keeps it alive until the end. */
    Py_CLEAR(r->chunk);
    Py_CLEAR(r->pending);
    Py_CLEAR(r->iter);
    Py_CLEAR(r->result);
    r->active = false;
    r->gen++; /* any write() still around now refuses */
    if (r->writer && Py_REFCNT(r->writer) > 1) {
        /* the application kept write(): it must not become the next request's */
        r->writer->owner = NULL;
        Py_CLEAR(r->writer);
    }
    if (r->input) {
        /* the body's memory or file is about to be reused by the C side */
        r->input->open = false;
        r->input->data = NULL;
        r->input->fd = -1;
        if (Py_REFCNT(r->input) > 1)
            Py_CLEAR(r->input); /* kept by the application: it stays closed */
    }
    r->pending_pos = r->seq_pos = 0;
    r->seq_last = -1;
    r->seq_mode = r->exhausted = r->headers_set = r->headers_final = false;
    r->closed = r->failed = false;
    r->pub = (py_reply_t){.content_length = -1, .body_length = -1, .file_fd = -1};
    /* one huge response must not pin its header memory in the free list */
    buf_reset(&r->meta, 16384);
    buf_reset(&r->reqline, 16384);
    if (Py_REFCNT(r) == 1 && free_reply_count < FREE_REPLIES_MAX && cache.ready)
        free_replies[free_reply_count++] = r; /* our reference moves to the list */
    else
        Py_DECREF(r); /* the application still holds start_response, or the list is full */
}

/* ---- the body ----------------------------------------------------------------------- */

/* Takes the application's return value apart: an exact list or tuple of bytes is read by
 * index (no iterator object, and its total length is known up front, so the C side can
 * send Content-Length); anything else is iterated. A str inside a list is refused here,
 * while the response can still become a 500. Returns 0 or -1 with an exception set. */
static int start_body(reply_t *r)
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

/* When the application returned a wsgi.file_wrapper around a regular file (one with a
 * descriptor), and nothing else is queued for the body, the C side sends the file itself:
 * from the file object's current position (PEP 3333: "begin at the current position"),
 * to its end. tell() rather than lseek: a buffered file's descriptor may be ahead of
 * what the application has consumed. Anything else (BytesIO, a pipe, a socket, a file
 * object whose fileno() raises) is iterated as usual, through read(). Returns 1 for a
 * file reply (headers final, pub.file_* set), 0 to iterate, -1 with an exception set. */
static int file_reply(reply_t *r)
{
    if (Py_TYPE(r->result) != cache.filewrapper_type || !r->headers_set || r->pending)
        return 0;
    PyObject *f = ((filewrapper_t *)r->result)->filelike;
    if (!f)
        return 0;
    PyObject *meth;
    int found = compat_getattr_optional(f, cache.fileno_name, &meth);
    if (found <= 0) {
        PyErr_Clear();
        return 0;
    }
    PyObject *res = PyObject_CallNoArgs(meth);
    Py_DECREF(meth);
    long fd = res && PyLong_Check(res) ? PyLong_AsLong(res) : -1;
    Py_XDECREF(res);
    PyErr_Clear(); /* io.UnsupportedOperation and friends: not a real file */
    struct stat st;
    if (fd < 0 || fd > INT32_MAX || fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;

    int64_t off = -1;
    found = compat_getattr_optional(f, cache.tell_name, &meth);
    if (found > 0) {
        res = PyObject_CallNoArgs(meth);
        Py_DECREF(meth);
        off = res && PyLong_Check(res) ? PyLong_AsLongLong(res) : -1;
        Py_XDECREF(res);
    }
    PyErr_Clear();
    if (off < 0)
        off = (int64_t)lseek((int)fd, 0, SEEK_CUR);
    if (off < 0)
        return 0;
    int64_t len = (int64_t)st.st_size > off ? (int64_t)st.st_size - off : 0;
    r->pub.file_fd = (int)fd;
    r->pub.file_offset = off;
    r->pub.file_length = len;
    r->pub.body_length = len;
    r->pub.done = true;
    r->exhausted = true;
    r->headers_final = true;
    return 1;
}

/* Makes chunk (owned, non-empty bytes; ownership moves in) the current chunk, and says
 * whether it is the last one, where that is known without running application code:
 * nothing queued by write(), and the iterable is either used up or a list whose
 * remaining items are all empty. */
static void set_chunk(reply_t *r, PyObject *chunk)
{
    r->chunk = chunk;
    r->pub.chunk = (py_slice_t){PyBytes_AS_STRING(chunk), (size_t)PyBytes_GET_SIZE(chunk)};
    r->pub.done = !r->pending && (r->exhausted || (r->seq_mode && r->seq_pos > r->seq_last));
    r->pub.next_ready = !r->pub.done && (r->pending || r->seq_mode);
}

/* Moves to the next non-empty chunk. Returns 1 (pub.chunk set, pub.done set when it is
 * known to be the last), 0 (nothing more: pub.done set, pub.chunk empty) or -1 (the
 * iterable raised; exception pending). */
static int advance(reply_t *r)
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
        PyObject *b = as_bytes(item, "response body item");
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

/* ---- setup and teardown of the cached objects --------------------------------------- */

static PyObject *intern(const char *s)
{
    return PyUnicode_InternFromString(s);
}

static int create_cache(void);

/* Returns 0, or -1 with an exception set (and nothing half-made left behind). */
static int ensure_cache(void)
{
    if (cache.ready)
        return 0;
    if (create_cache() == 0)
        return 0;
    py_wsgi_release_cache(); /* plain deallocations: fine with the exception pending */
    return -1;
}

static int create_cache(void)
{
    for (size_t i = 0; i < K_COUNT; i++)
        if (!(cache.keys[i] = intern(key_names[i])))
            return -1;
    for (size_t i = 0; i < UF_ARRAY_LEN(common_headers); i++) {
        char key[64] = "HTTP_";
        for (size_t j = 0; j < common_headers[i].len; j++) {
            char c = common_headers[i].s[j];
            key[5 + j] = c == '-' ? '_' : (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
        }
        if (!(cache.header_keys[i] = intern(key)))
            return -1;
    }
    for (size_t i = 0; i < UF_ARRAY_LEN(common_methods); i++)
        if (!(cache.methods[i] = intern(common_methods[i].s)))
            return -1;
    if (!(cache.proto10 = intern("HTTP/1.0")) || !(cache.proto11 = intern("HTTP/1.1")) ||
        !(cache.comma = intern(",")) || !(cache.close_name = intern("close")) ||
        !(cache.fileno_name = intern("fileno")) || !(cache.tell_name = intern("tell")) ||
        !(cache.read_name = intern("read")) || !(cache.https = intern("https")) ||
        !(cache.empty_bytes = PyBytes_FromStringAndSize("", 0)))
        return -1;
    if (!(cache.reply_type = (PyTypeObject *)PyType_FromSpec(&reply_spec)) ||
        !(cache.writer_type = (PyTypeObject *)PyType_FromSpec(&writer_spec)) ||
        !(cache.input_type = (PyTypeObject *)PyType_FromSpec(&input_spec)) ||
        !(cache.filewrapper_type = (PyTypeObject *)PyType_FromSpec(&filewrapper_spec)))
        return -1;

    /* The template: fixed values for the constant keys, "" as placeholder for the ones
     * new_environ fills in, so filling them in never inserts. Presized so that its copies
     * also take a typical set of request headers without growing (a resize rebuilds the
     * whole hash table: measurable per request). */
    PyObject *t = cache.template = compat_dict_presized(K_TEMPLATE_COUNT + 24);
    if (!t)
        return -1;
    PyObject *empty = PyUnicode_FromStringAndSize("", 0);
    if (!empty)
        return -1;
    for (int i = 0; i < K_TEMPLATE_COUNT; i++)
        if (PyDict_SetItem(t, cache.keys[i], empty) < 0) {
            Py_DECREF(empty);
            return -1;
        }
    Py_DECREF(empty);
    PyObject **k = cache.keys;
    if (set_new(t, k[K_WSGI_VERSION], Py_BuildValue("(ii)", 1, 0)) < 0 ||
        set_new(t, k[K_WSGI_URL_SCHEME], intern("http")) < 0 ||
        PyDict_SetItem(t, k[K_WSGI_MULTITHREAD], multithread ? Py_True : Py_False) < 0 ||
        PyDict_SetItem(t, k[K_WSGI_MULTIPROCESS], multiprocess ? Py_True : Py_False) < 0 ||
        PyDict_SetItem(t, k[K_WSGI_RUN_ONCE], Py_False) < 0 ||
        PyDict_SetItem(t, k[K_WSGI_INPUT_TERMINATED], Py_True) < 0 ||
        PyDict_SetItem(t, k[K_WSGI_FILE_WRAPPER], (PyObject *)cache.filewrapper_type) < 0 ||
        set_new(t, k[K_SERVER_SOFTWARE], PyUnicode_FromString("uwsgi-fast/" UF_VERSION)) < 0)
        return -1;
    cache.ready = true;
    return 0;
}

void py_wsgi_release_cache(void)
{
    /* free-listed replies hold no Python objects; their dealloc needs the types alive */
    while (free_reply_count)
        Py_DECREF(free_replies[--free_reply_count]);
    for (size_t i = 0; i < K_COUNT; i++)
        Py_CLEAR(cache.keys[i]);
    for (size_t i = 0; i < UF_ARRAY_LEN(common_headers); i++)
        Py_CLEAR(cache.header_keys[i]);
    for (size_t i = 0; i < UF_ARRAY_LEN(common_methods); i++)
        Py_CLEAR(cache.methods[i]);
    Py_CLEAR(cache.proto10);
    Py_CLEAR(cache.proto11);
    Py_CLEAR(cache.comma);
    Py_CLEAR(cache.close_name);
    Py_CLEAR(cache.empty_bytes);
    Py_CLEAR(cache.https);
    Py_CLEAR(cache.fileno_name);
    Py_CLEAR(cache.tell_name);
    Py_CLEAR(cache.read_name);
    Py_CLEAR(cache.script_name_obj);
    Py_CLEAR(cache.template);
    Py_CLEAR(cache.server_name_obj);
    Py_CLEAR(cache.server_port_obj);
    Py_CLEAR(cache.remote_addr_obj);
    /* live replies (held by the application) keep their types alive by reference */
    Py_CLEAR(cache.reply_type);
    Py_CLEAR(cache.writer_type);
    Py_CLEAR(cache.input_type);
    Py_CLEAR(cache.filewrapper_type);
    cache.ready = false;
}

/* ---- the public calls --------------------------------------------------------------- */

/* Scratch for percent-decoding paths, one per thread: new_environ keeps a pointer into it
 * across calls that may run a collection, and so other threads. */
static _Thread_local buf_t scratch;

int py_wsgi_prepare(bool threads, bool processes)
{
    multithread = threads;
    multiprocess = processes;
    if (!cache.ready)
        return ensure_cache() < 0 ? -1 : 0;
    PyObject *t = cache.template, **k = cache.keys;
    return PyDict_SetItem(t, k[K_WSGI_MULTITHREAD], threads ? Py_True : Py_False) < 0 ||
                   PyDict_SetItem(t, k[K_WSGI_MULTIPROCESS], processes ? Py_True : Py_False) < 0
               ? -1
               : 0;
}

py_reply_t *py_wsgi_call(py_app_t *app, const py_request_t *req)
{
    if (ensure_cache() < 0) {
        PyObject *exc = compat_err_take();
        static const char msg[] = "cannot set up the WSGI bridge";
        py_log_error(msg, sizeof(msg) - 1, exc);
        Py_XDECREF(exc);
        return NULL;
    }
    reply_t *r = reply_get(req);
    if (!r) {
        PyObject *exc = compat_err_take();
        static const char msg[] = "cannot allocate a WSGI reply";
        py_log_error(msg, sizeof(msg) - 1, exc);
        Py_XDECREF(exc);
        return NULL;
    }
    PyObject *env = new_environ(r, req, &scratch);
    buf_reset(&scratch, 65536);
    if (!env)
        goto fail;
    PyObject *argv[2] = {env, (PyObject *)r};
    r->result = PyObject_Vectorcall(app->callable, argv, 2, NULL); /* owned by r */
    Py_DECREF(env); /* the application keeps its own reference if it wants one */
    if (!r->result)
        goto fail;
    int file = file_reply(r);
    if (file < 0)
        goto fail;
    if (file > 0)
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
    log_app_error(r);
    close_result(r);
    reply_release(r);
    return NULL;
}

int py_wsgi_next(py_reply_t *reply)
{
    reply_t *r = container_of(reply, reply_t, pub);
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
        log_app_error(r);
    }
    return rc;
}

void py_wsgi_finish(py_reply_t *reply)
{
    reply_t *r = container_of(reply, reply_t, pub);
    UF_ASSERT(r->active);
    close_result(r);
    reply_release(r);
}
