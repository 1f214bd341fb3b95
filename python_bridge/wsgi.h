/* WSGI (PEP 3333) calls into the application, as seen from the C side.
 *
 * The worker hands a fully received request (py_request_t, all slices borrowed from the
 * connection's buffers until py_wsgi_finish) to py_wsgi_call, which builds the environ,
 * calls the application and advances its iterable until the first non-empty chunk (PEP
 * 3333: headers are not final before that). The returned py_reply_t owns every Python
 * object involved; its status, headers and current chunk are latin-1/bytes slices valid
 * until the next py_wsgi_next or py_wsgi_finish on it. The C side pulls further chunks
 * only when the previous one has been sent (backpressure), and always ends with
 * py_wsgi_finish, which calls the iterable's close() exactly once.
 *
 * The request body stays readable through wsgi.input until py_wsgi_finish (a generator
 * may read it while the response streams), so the C side keeps the body's memory or file
 * untouched until then; after it, wsgi.input raises as a closed file would.
 *
 * When the application returns a wsgi.file_wrapper around a regular file, the reply
 * names the file (file_fd, file_offset, file_length) instead of producing chunks: the C
 * side sends those bytes itself, never through Python.
 *
 * Every function here must be called with the GIL held: by the worker loop, which holds it
 * except while it waits for completions, or (--threads) by the application thread working
 * on the request; one reply is only ever used by one thread at a time. Nothing here knows
 * about io_uring or sockets.
 *
 * wsgi.c implements these calls and pulls the body; the pieces it uses live beside it,
 * each with its own internal header: wsgi_environ (the environ and the objects every
 * request shares), wsgi_input (wsgi.input), wsgi_filewrapper (wsgi.file_wrapper),
 * wsgi_headers (start_response's status and headers), wsgi_reply (start_response, write
 * and the reply object's life); errors.h logs the application's failures.
 */
#ifndef UF_PY_WSGI_H
#define UF_PY_WSGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "python_bridge/interp.h"

typedef struct py_slice {
    const char *ptr;
    size_t len;
} py_slice_t;

typedef struct py_header {
    py_slice_t name;
    py_slice_t value;
} py_header_t;

typedef struct py_request {
    py_slice_t method;          /* "GET" */
    py_slice_t target;          /* raw request-target: "/a%20b?x=1" (RAW_URI) */
    int version_minor;          /* HTTP/1.<minor>: 0 or 1 */
    const py_header_t *headers; /* as received; duplicates possible, names any case */
    size_t header_count;
    const char *body; /* the whole de-chunked body, in memory; or NULL with... */
    size_t body_len;
    int body_fd;             /* ...body_len > 0: the body is bytes [0, body_len) of this
                                file (spooled); read with pread, never closed here */
    py_slice_t script_name;  /* SCRIPT_NAME (--root-path or a trusted proxy's header);
                                stripped from the front of PATH_INFO when it is there */
    bool https;              /* wsgi.url_scheme is "https" (a trusted proxy said so) */
    const char *remote_addr; /* numeric text, NUL-terminated */
    int remote_port;
    const char *server_name; /* listening address text (a unix socket's path), NUL-terminated */
    int server_port;
    bool unix_socket; /* over a unix socket: no REMOTE_PORT; SERVER_NAME and SERVER_PORT
                         from the Host header, server_name without one (as gunicorn) */
    /* The uwsgi protocol: the front end gives PATH_INFO already decoded (path_info; ptr
     * NULL: PATH_INFO is the target's path, percent-decoded), and its other CGI variables
     * (cgi: name = the variable's name) are set in the environ as they came, over what
     * the fields above made (SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL, QUERY_STRING,
     * DOCUMENT_ROOT, a custom uwsgi_param, ...). */
    py_slice_t path_info;
    const py_header_t *cgi;
    size_t cgi_count;
    /* ASGI: the request is a valid WebSocket handshake (src/wshandshake.h) and gets a
     * websocket scope; subprotocols are the ones it offers, in order. */
    bool websocket;
    const py_slice_t *subprotocols;
    size_t subprotocol_count;
} py_request_t;

typedef struct py_reply {
    py_slice_t status;          /* "200 OK" */
    int status_code;            /* 200 */
    const py_header_t *headers; /* as given to start_response, validated */
    size_t header_count;
    int64_t content_length; /* from the app's Content-Length header, else -1 */
    int64_t body_length;    /* known total when the iterable is a list/tuple (or a file,
                               file_length), else -1 */
    py_slice_t chunk;       /* current body chunk; len 0 when there is none */
    bool done;              /* true when the iterable is exhausted (chunk may be last) */
    bool next_ready;        /* the next chunk comes without running application code (a
                               list's next item, bytes queued by write()); otherwise
                               py_wsgi_next may block in the application, so PEP 3333
                               wants what the C side holds sent first */
    int file_fd;            /* >= 0: the body is file_length bytes of this file from
                               file_offset (wsgi.file_wrapper); no chunks follow. The fd
                               is the application's: valid until py_wsgi_finish, which
                               may close it, so the C side sends from a dup of it */
    int64_t file_offset;
    int64_t file_length;
    int64_t body_sent; /* set by the C side before py_wsgi_finish: the body bytes it
                          wrote (post_request's resp.sent) */
} py_reply_t;

/* Makes the objects every request shares, before the first request, and says whether the
 * application runs in several threads of this process (wsgi.multithread) and in several
 * processes (wsgi.multiprocess; true until told otherwise). A worker with application
 * threads calls it before they start, so they never race to make them. Returns 0, or -1
 * with a Python exception set. */
int py_wsgi_prepare(bool multithread, bool multiprocess);

/* Calls the application. Returns a reply (never NULL) with done/chunk set, or NULL when
 * the application failed before its headers were final: the traceback, with the
 * request line, has been written to the error log and the caller answers 500. */
py_reply_t *py_wsgi_call(py_app_t *app, const py_request_t *req);

/* Advances to the next non-empty chunk. Returns 1 with reply->chunk set, 0 at the end
 * (reply->done set), -1 if the iterable raised (traceback logged; the caller closes the
 * connection since headers are already out). */
int py_wsgi_next(py_reply_t *reply);

/* Calls close() on the iterable if it has one (exactly once; an exception there is
 * logged), releases everything. */
void py_wsgi_finish(py_reply_t *reply);

#endif
