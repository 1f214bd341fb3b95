/* The embedded CPython interpreter: setup, application loading, fork hooks.
 *
 * The interpreter is initialised with PyConfig (PEP 587) in the process that will run
 * the application: each worker, or with --preload the master, once, before it forks
 * (py_preload; the workers then find the application with py_app_preloaded). Python's
 * own signal handlers are not installed: the server owns signals; faulthandler is on, so
 * a fatal signal (the master's SIGABRT for a request past --timeout) dumps every
 * thread's Python stack to the error log. After py_interp_init the calling thread holds
 * the GIL; py_interp_release/acquire hand it back and forth at the one boundary where the
 * worker waits for I/O, so application threads can run meanwhile.
 *
 * A process with an interpreter that forks calls py_before_fork just before fork(2),
 * then py_after_fork_parent or py_after_fork_child on each side (CPython's own
 * PyOS_*Fork hooks: locks, threads, os.register_at_fork callbacks). All three do nothing
 * when no interpreter was started, so the master may call them unconditionally.
 *
 * Nothing here knows about io_uring or sockets.
 */
#ifndef UF_PY_INTERP_H
#define UF_PY_INTERP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct py_app py_app_t;

typedef struct py_interp_options {
    const char *chdir;             /* NULL = stay; applied before sys.path is built */
    const char *virtualenv;        /* NULL = none; its site-packages become importable */
    const char *const *pythonpath; /* extra sys.path entries, first has priority */
    size_t pythonpath_count;
    const char *program_name; /* argv[0] for sys.argv / sys.executable hints */
    const char *const *env;   /* "KEY=VALUE" entries put into the process environment
                                 before Python starts (--env): os.environ has them */
    size_t env_count;
} py_interp_options_t;

/* Initialises the interpreter. Returns 0, or -1 with a one-line reason in err. */
int py_interp_init(const py_interp_options_t *opts, char *err, size_t errlen);

/* Imports "MODULE:CALLABLE" (MODULE alone means MODULE:application). On failure prints
 * the Python traceback to stderr, writes a one-line summary into err and returns NULL.
 * The current directory is on sys.path, as with gunicorn. */
py_app_t *py_app_load(const char *spec, char *err, size_t errlen);

/* Releases what py_app_load returned (with the GIL held). */
void py_app_free(py_app_t *app);

/* --preload: py_interp_init then py_app_load, in the master before the first fork; the
 * application is kept for py_app_preloaded. Returns 0, or -1 with the reason in err (the
 * traceback of an import error has been printed). */
int py_preload(const py_interp_options_t *opts, const char *spec, char *err, size_t errlen);

/* The application py_preload loaded (inherited across fork), or NULL without --preload. */
py_app_t *py_app_preloaded(void);

/* Around fork(2) in a process that may hold an interpreter (see above). py_before_fork
 * also runs gc.freeze(), so the collector of each worker leaves the objects the master
 * made alone and their pages stay shared copy-on-write. */
void py_before_fork(void);
void py_after_fork_parent(void);
void py_after_fork_child(void);

/* Releases the GIL before the worker blocks in the kernel, takes it back afterwards. */
void py_interp_release(void);
void py_interp_acquire(void);

/* Whether this process runs an interpreter (started here, or inherited across fork). */
bool py_interp_running(void);

/* For a call into Python from the thread that parks the GIL with py_interp_release,
 * whichever state it is in: py_interp_enter takes the GIL back if it was parked and says
 * so; py_interp_leave(that answer) parks it again. */
bool py_interp_enter(void);
void py_interp_leave(bool was_parked);

/* An application thread of a worker (--threads): an OS thread the worker started, which
 * runs Python only between py_thread_enter and py_thread_leave and never holds the GIL
 * otherwise. py_thread_attach is its first call (the GIL must be obtainable: the loop
 * thread has released it), py_thread_detach its last. */
typedef struct py_thread py_thread_t;
py_thread_t *py_thread_attach(const char *name); /* threading's name for the thread */
void py_thread_enter(py_thread_t *t);
void py_thread_leave(py_thread_t *t);
void py_thread_detach(py_thread_t *t);

/* The embedded Python's version ("3.11.7"), without the build details; needs no running
 * interpreter. The string is static. */
const char *py_version(void);

/* Finalises the interpreter (calls atexit handlers). Safe to call once at worker exit. */
void py_interp_finalize(void);

#endif
