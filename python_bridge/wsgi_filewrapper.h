/* wsgi.file_wrapper (PEP 3333 "Optional Platform-Specific File Handling"): a file-like
 * object offered as the response body.
 *
 * Iterating one reads blocks through filelike.read(), which is what a server without a
 * faster path does; py_wsgi_call recognises an instance returned as the response and,
 * when the object behind it is a regular file with a descriptor, hands the C side the
 * descriptor, offset and length instead (wsgi_filewrapper_file), so those bytes never
 * pass through Python.
 *
 * Internal to python_bridge; everything here runs with the GIL held. The type is made by
 * wsgi_filewrapper_setup and dropped by wsgi_filewrapper_teardown (live instances keep it
 * alive).
 */
#ifndef UF_PY_WSGI_FILEWRAPPER_H
#define UF_PY_WSGI_FILEWRAPPER_H

#include "python_bridge/compat.h"

#include <stdint.h>

/* Makes the type and the method names it looks up. Returns 0, or -1 with a Python
 * exception set. */
int wsgi_filewrapper_setup(void);

/* Drops the module's references. */
void wsgi_filewrapper_teardown(void);

/* The type, for environ["wsgi.file_wrapper"] (borrowed; NULL before setup). */
PyObject *wsgi_filewrapper_type(void);

/* When `obj` (borrowed) is a file_wrapper around a file object whose fileno() is a
 * regular file, returns 1 with the descriptor (the application's, not ours), the file
 * object's current position and the length from there to the end of the file; returns
 * 0 for anything else, which is iterated as usual. Never leaves an exception set. */
int wsgi_filewrapper_file(PyObject *obj, int *fd, int64_t *offset, int64_t *length);

#endif
