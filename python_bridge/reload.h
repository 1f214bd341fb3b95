/* What --reload asks of Python: the files of the modules a worker has imported, where the
 * application's own sources are, and the stand-in application a worker serves when the
 * real one failed to import.
 *
 * Every function needs the GIL and leaves no Python exception set. Nothing here watches
 * anything: src/reloader.c does, and calls these once in a while (never per request).
 */
#ifndef UF_PY_RELOAD_H
#define UF_PY_RELOAD_H

#include <stddef.h>

#include "python_bridge/interp.h"

/* How many modules sys.modules holds: when it has not grown, no module was imported
 * since the last listing. -1 when there is no sys.modules. */
long py_reload_module_count(void);

/* Calls add(path, ctx) with the file of every module in sys.modules that has a
 * `__file__` (as gunicorn: a compiled .pyc/.pyo named as its .py); the path is valid
 * during the call only. Returns how many paths were given, or -1 without sys.modules. */
int py_reload_module_files(void (*add)(const char *path, void *ctx), void *ctx);

/* The directory that holds the application's top-level module or package (for
 * "pkg.app:make()", the directory of pkg/__init__.py), found by the import system
 * without running anything. Returns 0 with it in out, or -1 when it cannot be found. */
int py_reload_app_root(const char *spec, char *out, size_t outlen);

/* A WSGI application that answers every request with 500 and `message` as text/plain:
 * what a worker under --reload serves in place of an application that failed to import,
 * so that the error shows in the browser and the next save brings the real one back
 * (gunicorn does the same for a SyntaxError). The result lives until the process ends.
 * NULL only if Python cannot build it. */
py_app_t *py_reload_stand_in(const char *message);

#endif
