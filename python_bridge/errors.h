/* The application's errors in the error log: one line saying what failed, the Python
 * traceback below it.
 *
 * Everything goes through common/log, so the lines carry the worker tag ("[worker 3]"),
 * obey --log-level and reach the log sink (--log-target, statsd's error counter) like
 * the server's own lines; a line logged by an application thread is queued for the sink
 * by common/log. Internal to python_bridge; call with the GIL held.
 */
#ifndef UF_PY_ERRORS_H
#define UF_PY_ERRORS_H

#include "python_bridge/compat.h"

#include <stddef.h>

/* Logs msg[0, len) (any bytes: escaped by log_text, so a request target cannot forge log
 * lines) at ERROR, with the traceback of `exc` (borrowed; NULL for none) below it in the
 * same write. Flushes sys.stderr first, so that what the application printed without a
 * newline comes out before our line rather than inside it. When the traceback cannot be
 * formatted, Python prints it to sys.stderr its own way after the line. Must not be
 * called with an exception pending; leaves none. */
void py_log_error(const char *msg, size_t len, PyObject *exc);

/* Writes "ExcType: message" of the exception `exc` (NULL: "unknown error") into buf as
 * UTF-8, NUL-terminated, truncated to buflen, newlines made spaces. Never raises. */
void py_exc_summary(PyObject *exc, char *buf, size_t buflen);

#endif
