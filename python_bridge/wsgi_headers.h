/* start_response's status and headers: validated and copied out of Python.
 *
 * What an application passes to start_response becomes latin-1 bytes in memory the reply
 * owns, so the C side can send them without the GIL and after the Python objects are
 * gone. Validation is strict where a mistake would corrupt the response: a status
 * "NNN reason", header names of RFC 9110 token characters, values without CR, LF, NUL or
 * other controls (response splitting), one Content-Length of digits only.
 *
 * Internal to python_bridge; runs with the GIL held, calls no Python code.
 */
#ifndef UF_PY_WSGI_HEADERS_H
#define UF_PY_WSGI_HEADERS_H

#include "python_bridge/compat.h"
#include "python_bridge/wsgi.h"
#include "common/mem.h"

/* The memory behind a reply's status and headers; zeroed is empty. */
typedef struct wsgi_headers {
    buf_t meta;        /* latin-1 status, then each header's name and value */
    py_header_t *hdrs; /* slices into meta (uf_malloc'ed, cap entries) */
    size_t cap;
} wsgi_headers_t;

/* Validates `status` (str) and `headers` (list or tuple of (name, value) str pairs) and
 * copies them into h; on success sets out's status, status_code, headers, header_count
 * and content_length (-1 without the header) to point into h, and returns 0. Returns -1
 * with TypeError or ValueError set, and out->header_count 0, out->content_length -1. */
int wsgi_headers_set(wsgi_headers_t *h, PyObject *status, PyObject *headers, py_reply_t *out);

/* Forgets the contents; keeps at most keep_cap bytes of memory for the next use, so one
 * huge response does not pin its header memory in a reused reply. */
void wsgi_headers_reset(wsgi_headers_t *h, size_t keep_cap);

/* Frees the memory. */
void wsgi_headers_free(wsgi_headers_t *h);

#endif
