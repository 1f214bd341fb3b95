/* The embedded CPython interpreter: setup and application loading.
 *
 * The interpreter is initialised with PyConfig (PEP 587) in the process that will run
 * the application (each worker, or the master with --preload later). Python's own
 * signal handlers are not installed: the server owns signals. After py_interp_init the
 * calling thread holds the GIL; py_interp_release/acquire hand it back and forth at the
 * one boundary where the worker waits for I/O, so application threads can run meanwhile.
 *
 * Nothing here knows about io_uring or sockets.
 */
#ifndef UF_PY_INTERP_H
#define UF_PY_INTERP_H

#include <stddef.h>

typedef struct py_app py_app_t;

typedef struct py_interp_options {
    const char *chdir;            /* NULL = stay; applied before sys.path is built */
    const char *virtualenv;       /* NULL = none; its site-packages become importable */
    const char *const *pythonpath;/* extra sys.path entries, first has priority */
    size_t pythonpath_count;
    const char *program_name;     /* argv[0] for sys.argv / sys.executable hints */
} py_interp_options_t;

/* Initialises the interpreter. Returns 0, or -1 with a one-line reason in err. */
int py_interp_init(const py_interp_options_t *opts, char *err, size_t errlen);

/* Imports "MODULE:CALLABLE" (MODULE alone means MODULE:application). On failure prints
 * the Python traceback to stderr, writes a one-line summary into err and returns NULL.
 * The current directory is on sys.path, as with gunicorn. */
py_app_t *py_app_load(const char *spec, char *err, size_t errlen);

/* Releases the GIL before the worker blocks in the kernel, takes it back afterwards. */
void py_interp_release(void);
void py_interp_acquire(void);

/* Finalises the interpreter (calls atexit handlers). Safe to call once at worker exit. */
void py_interp_finalize(void);

#endif
