/* The ASGI http and websocket scopes, built per request from a template of what every
 * request shares.
 *
 * ASGI's path is the decoded path *including* root_path (spec 2.x; Starlette and
 * FastAPI mount on that reading): a request whose path already starts with the mount
 * point (at a segment boundary) keeps it, one that does not (a proxy that strips the
 * prefix) gets it put in front, in `path` and in `raw_path`. Header names are lower-cased
 * bytes in the order received, repeats kept apart.
 *
 * A websocket scope is the http one with its own type and scheme ("ws", "wss"), no
 * method, the offered subprotocols, and the denial-response extension in place of
 * pathsend.
 */
#include "python_bridge/asgi_req.h"

#include "python_bridge/reqtext.h"
#include "common/mem.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    S_TYPE,
    S_ASGI,
    S_HTTP_VERSION,
    S_METHOD,
    S_SCHEME,
    S_PATH,
    S_RAW_PATH,
    S_QUERY_STRING,
    S_ROOT_PATH,
    S_HEADERS,
    S_CLIENT,
    S_SERVER,
    S_STATE,
    S_EXTENSIONS,
    S_SUBPROTOCOLS,
    S_COUNT,
};

static const char *const key_names[S_COUNT] = {
    "type",   "asgi",     "http_version", "method",     "scheme",
    "path",   "raw_path", "query_string", "root_path",  "headers",
    "client", "server",   "state",        "extensions", "subprotocols",
};

static struct {
    PyObject *keys[S_COUNT];
    PyObject *template;            /* the constant part of every scope */
    PyObject *asgi;                /* {"version": "3.0", "spec_version": "2.4"}, copied per scope */
    PyObject *extensions;          /* {"http.response.pathsend": {}}, copied per scope */
    PyObject *extensions_trailers; /* ... with "http.response.trailers": {} */
    PyObject *v10, *v11;           /* "1.0", "1.1" */
    PyObject *http, *https;        /* the schemes */
    PyObject *ws_extensions;       /* {"websocket.http.response": {}}, likewise */
    PyObject *websocket;           /* "websocket" */
    PyObject *ws, *wss;            /* a websocket scope's schemes */
    PyObject *root_path;           /* --root-path as str */
    PyObject *server;              /* the last (host, port) tuple, while the listener is the same */
    char server_host[128];
    int server_port;
} cache;

/* Scratch for the decoded path and the lower-cased header names. */
static buf_t scratch;

/* [(name, value), ...]: names lower-cased (the parser let only tokens through). */
static PyObject *headers_list(const py_request_t *req)
{
    PyObject *list = PyList_New((Py_ssize_t)req->header_count);
    if (!list)
        return NULL;
    for (size_t i = 0; i < req->header_count; i++) {
        const py_header_t *h = &req->headers[i];
        char *low = buf_reserve(&scratch, h->name.len);
        for (size_t j = 0; j < h->name.len; j++) {
            unsigned char ch = (unsigned char)h->name.ptr[j];
            low[j] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        PyObject *pair = Py_BuildValue("(y#y#)", low, (Py_ssize_t)h->name.len, h->value.ptr,
                                       (Py_ssize_t)h->value.len);
        if (!pair) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
    }
    return list;
}

/* "server": (host, port), or (path, None) for a unix socket; the same tuple while the
 * listening address stays the same. New reference. */
static PyObject *server_tuple(const py_request_t *req)
{
    const char *host = req->server_name ? req->server_name : "";
    int port = req->unix_socket ? -1 : req->server_port;
    if (cache.server && cache.server_port == port && strcmp(cache.server_host, host) == 0)
        return Py_NewRef(cache.server);
    PyObject *t =
        port < 0 ? Py_BuildValue("(sO)", host, Py_None) : Py_BuildValue("(si)", host, port);
    if (t && strlen(host) < sizeof(cache.server_host)) {
        Py_XSETREF(cache.server, Py_NewRef(t));
        snprintf(cache.server_host, sizeof(cache.server_host), "%s", host);
        cache.server_port = port;
    }
    return t;
}

/* path and raw_path: the decoded path as UTF-8 (undecodable bytes replaced, as uvicorn's
 * unquote does) and the path as sent, both with root_path in front unless already there. */
static int set_paths(PyObject *scope, const py_request_t *req)
{
    py_slice_t path, query;
    reqtext_split_target(req->target, &path, &query);
    py_slice_t root = req->script_name;
    while (root.len && root.ptr[root.len - 1] == '/')
        root.len--;
    size_t cap = root.len + (path.len > req->path_info.len ? path.len : req->path_info.len);
    char *dec = buf_reserve(&scratch, cap + 1);
    if (root.len)
        memcpy(dec, root.ptr, root.len);
    char *p = dec + root.len;
    size_t n = req->path_info.ptr
                   ? (memcpy(p, req->path_info.ptr, req->path_info.len), req->path_info.len)
                   : reqtext_percent_decode(p, path.ptr, path.len);
    bool has_root = root.len && n >= root.len && memcmp(p, root.ptr, root.len) == 0 &&
                    (n == root.len || p[root.len] == '/');
    const char *from = has_root || !root.len ? p : dec;
    size_t len = has_root || !root.len ? n : root.len + n;
    if (reqtext_set_new(scope, cache.keys[S_PATH],
                        PyUnicode_DecodeUTF8(from, (Py_ssize_t)len, "replace")) < 0)
        return -1;
    PyObject *raw;
    if (has_root || !root.len) {
        raw = PyBytes_FromStringAndSize(path.ptr, (Py_ssize_t)path.len);
    } else {
        raw = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(root.len + path.len));
        if (raw) {
            memcpy(PyBytes_AS_STRING(raw), root.ptr, root.len);
            memcpy(PyBytes_AS_STRING(raw) + root.len, path.ptr, path.len);
        }
    }
    if (reqtext_set_new(scope, cache.keys[S_RAW_PATH], raw) < 0 ||
        reqtext_set_new(scope, cache.keys[S_QUERY_STRING],
                        PyBytes_FromStringAndSize(query.ptr, (Py_ssize_t)query.len)) < 0)
        return -1;
    if (root.len != req->script_name.len || root.len != asgi_shared.root_path.len ||
        memcmp(root.ptr, asgi_shared.root_path.ptr, root.len) != 0)
        return reqtext_set_new(scope, cache.keys[S_ROOT_PATH],
                               PyUnicode_DecodeLatin1(root.ptr, (Py_ssize_t)root.len, NULL));
    return 0;
}

/* Whether the comma-separated list `v` holds the token `want` (any case), with or
 * without parameters: "trailers", "deflate;q=0.5, Trailers". */
static bool list_has_token(py_slice_t v, const char *want)
{
    size_t wlen = strlen(want), i = 0;
    while (i < v.len) {
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ','))
            i++;
        size_t start = i;
        while (i < v.len && v.ptr[i] != ',' && v.ptr[i] != ';' && v.ptr[i] != ' ' &&
               v.ptr[i] != '\t')
            i++;
        if (i - start == wlen && strncasecmp(v.ptr + start, want, wlen) == 0)
            return true;
        while (i < v.len && v.ptr[i] != ',')
            i++;
    }
    return false;
}

bool asgi_scope_trailers_allowed(const py_request_t *req)
{
    if (req->version_minor < 1)
        return false;
    for (size_t i = 0; i < req->header_count; i++) {
        py_slice_t name = req->headers[i].name;
        if (name.len == 2 && strncasecmp(name.ptr, "te", 2) == 0 &&
            list_has_token(req->headers[i].value, "trailers"))
            return true;
    }
    return false;
}

/* What a websocket scope has in place of an http one's. */
static int websocket_keys(PyObject *scope, const py_request_t *req)
{
    PyObject **k = cache.keys;
    PyObject *subs = PyList_New((Py_ssize_t)req->subprotocol_count);
    for (size_t i = 0; subs && i < req->subprotocol_count; i++) {
        PyObject *s = PyUnicode_DecodeLatin1(req->subprotocols[i].ptr,
                                             (Py_ssize_t)req->subprotocols[i].len, NULL);
        if (!s)
            Py_CLEAR(subs);
        else
            PyList_SET_ITEM(subs, (Py_ssize_t)i, s);
    }
    if (PyDict_SetItem(scope, k[S_TYPE], cache.websocket) < 0 ||
        PyDict_SetItem(scope, k[S_SCHEME], req->https ? cache.wss : cache.ws) < 0 ||
        PyDict_DelItem(scope, k[S_METHOD]) < 0 ||
        reqtext_set_new(scope, k[S_SUBPROTOCOLS], subs) < 0 ||
        reqtext_set_new(scope, k[S_EXTENSIONS], PyDict_Copy(cache.ws_extensions)) < 0)
        return -1;
    return 0;
}

PyObject *asgi_scope_new(const py_request_t *req)
{
    PyObject *scope = PyDict_Copy(cache.template), **k = cache.keys;
    if (!scope)
        return NULL;
    PyObject *client =
        req->unix_socket
            ? Py_NewRef(Py_None)
            : Py_BuildValue("(si)", req->remote_addr ? req->remote_addr : "", req->remote_port);
    if (reqtext_set_new(scope, k[S_ASGI], PyDict_Copy(cache.asgi)) < 0 ||
        PyDict_SetItem(scope, k[S_HTTP_VERSION], req->version_minor ? cache.v11 : cache.v10) < 0 ||
        reqtext_set_new(scope, k[S_METHOD], reqtext_method(req->method)) < 0 ||
        PyDict_SetItem(scope, k[S_SCHEME], req->https ? cache.https : cache.http) < 0 ||
        set_paths(scope, req) < 0 || reqtext_set_new(scope, k[S_HEADERS], headers_list(req)) < 0 ||
        reqtext_set_new(scope, k[S_CLIENT], client) < 0 ||
        reqtext_set_new(scope, k[S_SERVER], server_tuple(req)) < 0 ||
        reqtext_set_new(scope, k[S_EXTENSIONS],
                        PyDict_Copy(asgi_scope_trailers_allowed(req) ? cache.extensions_trailers
                                                                     : cache.extensions)) < 0 ||
        (asgi_shared.state &&
         reqtext_set_new(scope, k[S_STATE], PyDict_Copy(asgi_shared.state)) < 0) ||
        (req->websocket && websocket_keys(scope, req) < 0))
        Py_CLEAR(scope);
    buf_reset(&scratch, 65536);
    return scope;
}

int asgi_scope_setup(void)
{
    for (int i = 0; i < S_COUNT; i++)
        if (!(cache.keys[i] = PyUnicode_InternFromString(key_names[i])))
            return -1;
    if (reqtext_setup() < 0 || !(cache.v10 = PyUnicode_InternFromString("1.0")) ||
        !(cache.v11 = PyUnicode_InternFromString("1.1")) ||
        !(cache.http = PyUnicode_InternFromString("http")) ||
        !(cache.https = PyUnicode_InternFromString("https")) ||
        !(cache.asgi = Py_BuildValue("{ssss}", "version", "3.0", "spec_version", "2.4")) ||
        !(cache.extensions = Py_BuildValue("{s{}}", "http.response.pathsend")) ||
        !(cache.extensions_trailers =
              Py_BuildValue("{s{}s{}}", "http.response.pathsend", "http.response.trailers")) ||
        !(cache.ws_extensions = Py_BuildValue("{s{}}", "websocket.http.response")) ||
        !(cache.websocket = PyUnicode_InternFromString("websocket")) ||
        !(cache.ws = PyUnicode_InternFromString("ws")) ||
        !(cache.wss = PyUnicode_InternFromString("wss")))
        return -1;
    cache.root_path = PyUnicode_DecodeLatin1(asgi_shared.root_path.ptr,
                                             (Py_ssize_t)asgi_shared.root_path.len, NULL);
    cache.template = PyDict_New();
    if (!cache.root_path || !cache.template)
        return -1;
    /* every key in its place, so filling one in never inserts (see wsgi_environ.c) */
    for (int i = 0; i < S_COUNT; i++)
        if (i != S_STATE && i != S_SUBPROTOCOLS &&
            PyDict_SetItem(cache.template, cache.keys[i], Py_None) < 0)
            return -1;
    PyObject *http = PyUnicode_InternFromString("http");
    if (reqtext_set_new(cache.template, cache.keys[S_TYPE], http) < 0 ||
        PyDict_SetItem(cache.template, cache.keys[S_ROOT_PATH], cache.root_path) < 0)
        return -1;
    return 0;
}

void asgi_scope_teardown(void)
{
    for (int i = 0; i < S_COUNT; i++)
        Py_CLEAR(cache.keys[i]);
    Py_CLEAR(cache.template);
    Py_CLEAR(cache.asgi);
    Py_CLEAR(cache.extensions);
    Py_CLEAR(cache.extensions_trailers);
    Py_CLEAR(cache.ws_extensions);
    Py_CLEAR(cache.websocket);
    Py_CLEAR(cache.ws);
    Py_CLEAR(cache.wss);
    Py_CLEAR(cache.v10);
    Py_CLEAR(cache.v11);
    Py_CLEAR(cache.http);
    Py_CLEAR(cache.https);
    Py_CLEAR(cache.root_path);
    Py_CLEAR(cache.server);
    buf_free(&scratch);
}
