/* wsgi.input: the request body as PEP 3333's input stream (read, readline, readlines,
 * iteration).
 *
 * A small C type rather than io.BytesIO: it reads the body where the C side keeps it
 * (the connection's memory, or the spool file with pread) without a copy into a bytes
 * object first, and one instance is reused with its reply. The C side guarantees the
 * body stays put until py_wsgi_finish; then the stream is detached and every call raises
 * ValueError, as on a closed file, because an application may keep it beyond the
 * response.
 *
 * Internal to python_bridge; everything here runs with the GIL held. The type is made by
 * wsgi_input_setup and dropped by wsgi_input_teardown (live instances keep it alive).
 */
#ifndef UF_PY_WSGI_INPUT_H
#define UF_PY_WSGI_INPUT_H

#include "python_bridge/compat.h"
#include "python_bridge/wsgi.h"

typedef struct wsgi_input wsgi_input_t;

/* Makes the type. Returns 0, or -1 with a Python exception set. */
int wsgi_input_setup(void);

/* Drops the module's references (the type, its constants). */
void wsgi_input_teardown(void);

/* Points the stream kept in *slot (made when *slot is NULL; the slot owns it) at req's
 * body, from its start. Returns it as a new reference for the environ, or NULL with a
 * Python exception (MemoryError) set. */
PyObject *wsgi_input_bind(wsgi_input_t **slot, const py_request_t *req);

/* Closes the stream in *slot (NULL allowed): the body's memory or file is about to be
 * reused by the C side. When the application still holds the stream, the slot's
 * reference is dropped (*slot becomes NULL) so it is never rebound under the
 * application's feet; it stays closed. */
void wsgi_input_detach(wsgi_input_t **slot);

#endif
