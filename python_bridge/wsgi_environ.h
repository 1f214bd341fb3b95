/* The WSGI environ (PEP 3333): the dict an application gets for each request.
 *
 * Built by copying a template that holds every fixed key (constants as values, the
 * per-request keys as placeholders) and filling in the request: the method, the
 * percent-decoded path split at SCRIPT_NAME, the query, the addresses, the request
 * headers as HTTP_* keys (CONTENT_TYPE and CONTENT_LENGTH without the prefix; repeats
 * joined with ","; names with '_' dropped so they cannot pose as their '-' twins).
 *
 * Owns the objects every request shares: interned keys, constant values, the template,
 * and the texts that repeat from request to request on one worker (the listening
 * address, a keep-alive client's address, SCRIPT_NAME). Internal to python_bridge;
 * everything here runs with the GIL held, which is the statics' lock (they are only read
 * or swapped in steps that run no Python code).
 */
#ifndef UF_PY_WSGI_ENVIRON_H
#define UF_PY_WSGI_ENVIRON_H

#include "python_bridge/compat.h"
#include "python_bridge/wsgi.h"

#include <stdbool.h>

/* Makes the shared objects and the template, whose wsgi.file_wrapper is `file_wrapper`
 * (borrowed; the template keeps its own reference) and whose wsgi.multithread and
 * wsgi.multiprocess are the flags. Returns 0, or -1 with a Python exception set (the
 * caller then calls wsgi_environ_teardown). */
int wsgi_environ_setup(PyObject *file_wrapper, bool multithread, bool multiprocess);

/* Changes wsgi.multithread and wsgi.multiprocess for the environs built from now on.
 * Returns 0, or -1 with a Python exception set. Only after wsgi_environ_setup. */
int wsgi_environ_set_flags(bool multithread, bool multiprocess);

/* Drops every shared object (safe on a half-made setup). */
void wsgi_environ_teardown(void);

/* Builds the environ for req (new reference), with `input` (borrowed; the environ takes
 * its own reference) as wsgi.input and sys.stderr as wsgi.errors. Returns NULL with a
 * Python exception set (MemoryError: every text is decoded as latin-1, which cannot fail). */
PyObject *wsgi_environ_new(const py_request_t *req, PyObject *input);

#endif
