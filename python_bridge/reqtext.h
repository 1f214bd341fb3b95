/* What the WSGI environ and the ASGI scope builders share: the request-target split into
 * path and query, percent-decoding, the method as a str that is shared between requests
 * for the common methods, and the dict store they both fill with.
 *
 * Internal to python_bridge (the WSGI environ and the ASGI scope use it). GIL held; the
 * method strings are made by reqtext_setup (before the first request, and before any
 * application thread starts) and dropped by reqtext_teardown.
 */
#ifndef UF_PY_REQTEXT_H
#define UF_PY_REQTEXT_H

#include "python_bridge/compat.h"
#include "python_bridge/wsgi.h"

#include <stddef.h>

/* Splits a request-target into its path and query. An absolute-form target
 * ("http://host:80/p?q", sent to proxies and allowed to servers) contributes only its
 * path, "/" when empty. A fragment never reaches a server, but one sent anyway is dropped
 * rather than passed on as part of the query. */
void reqtext_split_target(py_slice_t t, py_slice_t *path, py_slice_t *query);

/* Decodes %XX escapes from in[0,n) into out (room for n bytes); a '%' not followed by two
 * hex digits stays as it is, like gunicorn and werkzeug do. Returns the length. */
size_t reqtext_percent_decode(char *out, const char *in, size_t n);

/* The method as str (new reference): interned for the common methods, a new string
 * otherwise (never interned: the text comes from the client). NULL with an exception. */
PyObject *reqtext_method(py_slice_t m);

/* PyDict_SetItem that takes ownership of `value` (which may be NULL after a failed
 * constructor: then it just reports the pending error). */
static inline int reqtext_set_new(PyObject *d, PyObject *key, PyObject *value)
{
    if (!value)
        return -1;
    int rc = PyDict_SetItem(d, key, value);
    Py_DECREF(value);
    return rc;
}

/* Makes the method strings (idempotent). Returns 0, or -1 with an exception set. */
int reqtext_setup(void);
/* Drops them. */
void reqtext_teardown(void);

#endif
