/* The request hooks (pre_request, post_request) as wsgi.c calls them; implemented in
 * hooks.c beside the other hooks. Internal to python_bridge; GIL held, by whichever
 * thread serves the request. */
#ifndef UF_PY_HOOKS_REQUEST_H
#define UF_PY_HOOKS_REQUEST_H

#include <stdbool.h>

#include "python_bridge/compat.h"
#include "python_bridge/wsgi.h"

/* Whether pre_request or post_request is defined: otherwise a request costs nothing. */
bool hooks_for_requests(void);

/* Makes the request's `req` and runs pre_request(worker, req). Returns req (new
 * reference; NULL with a Python error when the glue itself failed), *ok false when the
 * hook raised (logged): the request then fails with a 500, as in gunicorn. */
PyObject *hooks_request_started(PyObject *environ, bool *ok);

/* post_request(worker, req, environ, resp), resp made from reply (NULL: the request
 * failed, resp says 500). Logs whatever fails; leaves no exception set. */
void hooks_request_finished(PyObject *req, PyObject *environ, const py_reply_t *reply);

#endif
