/* The WSGI environ: built per request from a template of what every request shares. */
#include "python_bridge/wsgi_environ.h"

#include "python_bridge/reqtext.h"

#include "common/mem.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

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

static struct {
    PyObject *keys[K_COUNT];
    PyObject *header_keys[UF_ARRAY_LEN(common_headers)];
    PyObject *proto10, *proto11; /* "HTTP/1.0", "HTTP/1.1" */
    PyObject *comma;             /* "," for joining repeated headers */
    PyObject *https;             /* "https" for wsgi.url_scheme ("http" is in the template) */
    PyObject *template;          /* the constant part of every environ, see wsgi_environ_new */
    /* Texts that repeat from request to request on one worker, kept with their objects */
    char server_name[64];
    int server_port;
    PyObject *server_name_obj, *server_port_obj;
    char remote_addr[64];
    PyObject *remote_addr_obj;
    char script_name[256];
    PyObject *script_name_obj;
} cache;

/* Scratch for percent-decoding paths, one per thread: wsgi_environ_new keeps a pointer
 * into it across calls that may run a collection, and so other threads. */
static _Thread_local buf_t scratch;

/* a[0, alen) equals `lower` (a lower-case text starting with a letter) ignoring case;
 * the length and first letter are compared first because this runs for every request
 * header against every name in common_headers. */
static inline bool eq_nocase(const char *a, size_t alen, text_t lower)
{
    return alen == lower.len && (a[0] | 0x20) == lower.s[0] && strncasecmp(a, lower.s, alen) == 0;
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
        rc = reqtext_set_new(env, cache.keys[K_CONTENT_TYPE], value);
    } else if (eq_nocase(h->name.ptr, h->name.len, (text_t)T("content-length"))) {
        rc = reqtext_set_new(env, cache.keys[K_CONTENT_LENGTH], value);
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
            rc = reqtext_set_new(env, key, joined);
        }
        Py_DECREF(key);
        Py_DECREF(value);
    }
    return rc;
}

/* SERVER_PORT, from the last request's object while the port stays the same. */
static int server_port(PyObject *env, int port)
{
    if (!cache.server_port_obj || cache.server_port != port) {
        PyObject *o = str_of_int(port);
        if (!o)
            return -1;
        Py_XSETREF(cache.server_port_obj, o); /* the cache owns it */
        cache.server_port = port;
    }
    return PyDict_SetItem(env, cache.keys[K_SERVER_PORT], cache.server_port_obj);
}

/* A request over a unix socket, as gunicorn builds it: no REMOTE_PORT (the peer has no
 * port), and SERVER_NAME and SERVER_PORT from the Host header, since a socket's path
 * names no server: "example.com:8080" gives both, "example.com" the scheme's port
 * (80 or 443), "[::1]:8080" splits after the bracket. Without Host, SERVER_NAME is the
 * socket's path and SERVER_PORT is empty (the template's ""). */
static int unix_socket_keys(PyObject *env, const py_request_t *req)
{
    PyObject **k = cache.keys;
    if (PyDict_DelItem(env, k[K_REMOTE_PORT]) < 0)
        return -1;
    const py_slice_t *host = NULL;
    for (size_t i = 0; i < req->header_count && !host; i++)
        if (req->headers[i].name.len == 4 && strncasecmp(req->headers[i].name.ptr, "host", 4) == 0)
            host = &req->headers[i].value;
    if (!host || host->len == 0)
        return reqtext_set_new(
            env, k[K_SERVER_NAME],
            PyUnicode_DecodeLatin1(req->server_name, (Py_ssize_t)strlen(req->server_name), NULL));
    const char *v = host->ptr, *colon = NULL;
    const char *from = v[0] == '[' ? memchr(v, ']', host->len) : v;
    if (from)
        colon = memchr(from, ':', host->len - (size_t)(from - v));
    size_t name_len = colon ? (size_t)(colon - v) : host->len;
    PyObject *port =
        colon ? PyUnicode_DecodeLatin1(colon + 1, (Py_ssize_t)(host->len - name_len - 1), NULL)
              : PyUnicode_FromString(req->https ? "443" : "80");
    if (reqtext_set_new(env, k[K_SERVER_PORT], port) < 0)
        return -1;
    return reqtext_set_new(env, k[K_SERVER_NAME],
                           PyUnicode_DecodeLatin1(v, (Py_ssize_t)name_len, NULL));
}

/* Fills in env, a copy of the template, for req. Returns 0, or -1 with an exception set. */
static int fill(PyObject *env, const py_request_t *req, PyObject *input)
{
    PyObject **k = cache.keys;
    py_slice_t path, query;
    reqtext_split_target(req->target, &path, &query);
    char *dec =
        buf_reserve(&scratch, (path.len > req->path_info.len ? path.len : req->path_info.len) + 1);
    size_t declen;
    if (req->path_info.ptr) {
        memcpy(dec, req->path_info.ptr, req->path_info.len);
        declen = req->path_info.len;
    } else {
        declen = reqtext_percent_decode(dec, path.ptr, path.len);
    }

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
        if (reqtext_set_new(env, k[K_SCRIPT_NAME], cached_slice(sn)) < 0)
            return -1;
    }
    if (req->https && PyDict_SetItem(env, k[K_WSGI_URL_SCHEME], cache.https) < 0)
        return -1;

    if (reqtext_set_new(env, k[K_REQUEST_METHOD], reqtext_method(req->method)) < 0 ||
        reqtext_set_new(env, k[K_PATH_INFO],
                        PyUnicode_DecodeLatin1(dec, (Py_ssize_t)declen, NULL)) < 0 ||
        reqtext_set_new(env, k[K_QUERY_STRING],
                        PyUnicode_DecodeLatin1(query.ptr, (Py_ssize_t)query.len, NULL)) < 0 ||
        reqtext_set_new(
            env, k[K_RAW_URI],
            PyUnicode_DecodeLatin1(req->target.ptr, (Py_ssize_t)req->target.len, NULL)) < 0 ||
        PyDict_SetItem(env, k[K_SERVER_PROTOCOL],
                       req->version_minor == 0 ? cache.proto10 : cache.proto11) < 0 ||
        reqtext_set_new(env, k[K_REMOTE_ADDR],
                        cached_text(cache.remote_addr, sizeof(cache.remote_addr),
                                    &cache.remote_addr_obj, req->remote_addr)) < 0)
        return -1;
    if (req->unix_socket) {
        if (unix_socket_keys(env, req) < 0)
            return -1;
    } else if (reqtext_set_new(env, k[K_SERVER_NAME],
                               cached_text(cache.server_name, sizeof(cache.server_name),
                                           &cache.server_name_obj, req->server_name)) < 0 ||
               reqtext_set_new(env, k[K_REMOTE_PORT], str_of_int(req->remote_port)) < 0 ||
               server_port(env, req->server_port) < 0) {
        return -1;
    }

    if (PyDict_SetItem(env, k[K_WSGI_INPUT], input) < 0)
        return -1;
    /* looked up per request: the application may have replaced sys.stderr */
    PyObject *errors = PySys_GetObject("stderr"); /* borrowed */
    if (PyDict_SetItem(env, k[K_WSGI_ERRORS], errors ? errors : Py_None) < 0)
        return -1;

    for (size_t i = 0; i < req->header_count; i++)
        if (add_header(env, &req->headers[i]) < 0)
            return -1;
    for (size_t i = 0; i < req->cgi_count; i++) {
        const py_header_t *v = &req->cgi[i];
        PyObject *key = PyUnicode_DecodeLatin1(v->name.ptr, (Py_ssize_t)v->name.len, NULL);
        if (!key || reqtext_set_new(
                        env, key,
                        PyUnicode_DecodeLatin1(v->value.ptr, (Py_ssize_t)v->value.len, NULL)) < 0) {
            Py_XDECREF(key);
            return -1;
        }
        Py_DECREF(key);
    }
    return 0;
}

/* Why a template: PyDict_Copy of a compact dict clones its hash table with one memcpy
 * (capacity included), so starting from a dict that already holds every fixed key
 * (constants as values, the per-request ones as placeholders) turns ~19 insertions into
 * 10 value replacements, and leaves room for the headers. */
PyObject *wsgi_environ_new(const py_request_t *req, PyObject *input)
{
    PyObject *env = PyDict_Copy(cache.template);
    if (env && fill(env, req, input) < 0)
        Py_CLEAR(env);
    buf_reset(&scratch, 65536); /* one long path must not pin its memory */
    return env;
}

static PyObject *intern(const char *s)
{
    return PyUnicode_InternFromString(s);
}

/* The keys (interned: the application's environ lookups then hit the pointer-equality
 * fast path of dict lookups) and the constant values. Returns 0 or -1 with an exception
 * set. */
static int make_texts(void)
{
    if (reqtext_setup() < 0)
        return -1;
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
    if (!(cache.proto10 = intern("HTTP/1.0")) || !(cache.proto11 = intern("HTTP/1.1")) ||
        !(cache.comma = intern(",")) || !(cache.https = intern("https")))
        return -1;
    return 0;
}

int wsgi_environ_setup(PyObject *file_wrapper, bool multithread, bool multiprocess)
{
    if (make_texts() < 0)
        return -1;
    /* The template: fixed values for the constant keys, "" as placeholder for the ones
     * wsgi_environ_new fills in, so filling them in never inserts. Presized so that its copies
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
    if (reqtext_set_new(t, k[K_WSGI_VERSION], Py_BuildValue("(ii)", 1, 0)) < 0 ||
        reqtext_set_new(t, k[K_WSGI_URL_SCHEME], intern("http")) < 0 ||
        PyDict_SetItem(t, k[K_WSGI_MULTITHREAD], multithread ? Py_True : Py_False) < 0 ||
        PyDict_SetItem(t, k[K_WSGI_MULTIPROCESS], multiprocess ? Py_True : Py_False) < 0 ||
        PyDict_SetItem(t, k[K_WSGI_RUN_ONCE], Py_False) < 0 ||
        PyDict_SetItem(t, k[K_WSGI_INPUT_TERMINATED], Py_True) < 0 ||
        PyDict_SetItem(t, k[K_WSGI_FILE_WRAPPER], file_wrapper) < 0 ||
        reqtext_set_new(t, k[K_SERVER_SOFTWARE], PyUnicode_FromString("uwsgi-fast/" UF_VERSION)) <
            0)
        return -1;
    return 0;
}

int wsgi_environ_set_flags(bool multithread, bool multiprocess)
{
    PyObject *t = cache.template, **k = cache.keys;
    return PyDict_SetItem(t, k[K_WSGI_MULTITHREAD], multithread ? Py_True : Py_False) < 0 ||
                   PyDict_SetItem(t, k[K_WSGI_MULTIPROCESS], multiprocess ? Py_True : Py_False) < 0
               ? -1
               : 0;
}

void wsgi_environ_teardown(void)
{
    for (size_t i = 0; i < K_COUNT; i++)
        Py_CLEAR(cache.keys[i]);
    for (size_t i = 0; i < UF_ARRAY_LEN(common_headers); i++)
        Py_CLEAR(cache.header_keys[i]);
    Py_CLEAR(cache.proto10);
    Py_CLEAR(cache.proto11);
    Py_CLEAR(cache.comma);
    Py_CLEAR(cache.https);
    Py_CLEAR(cache.template);
    Py_CLEAR(cache.script_name_obj);
    Py_CLEAR(cache.server_name_obj);
    Py_CLEAR(cache.server_port_obj);
    Py_CLEAR(cache.remote_addr_obj);
}
