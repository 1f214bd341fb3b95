/* gunicorn's server hooks: loaded into the interpreter of the process that runs them, and
 * called at the moments the master and the workers report.
 *
 * Where each runs, as in gunicorn: nworkers_changed, on_starting, when_ready, pre_fork,
 * on_reload, child_exit and on_exit in the master; post_fork, post_worker_init,
 * pre_request, post_request, worker_int, worker_abort and worker_exit in the worker.
 * pre_exec is loaded but never called: there is no USR2 re-exec to precede.
 *
 * The master runs Python only when one of its hooks is defined (py_hooks_need_master):
 * it then starts the interpreter before its first hook, and the workers inherit it
 * across fork with the hooks already loaded, as gunicorn's workers inherit its Python.
 * Otherwise each worker loads the hooks itself after its interpreter starts. The Python
 * side (the objects hooks get, the calls, the logging of a hook's exception) is
 * python_bridge/hooks.py, embedded in hooks.c.
 *
 * Every function here is called by the process's main thread, holding the GIL or having
 * parked it with py_interp_release (they take it back for the call). Each does nothing
 * when its hook is not defined, and costs a bit test then. A hook that raises has its
 * traceback in the error log; the return value says whether it raised where gunicorn
 * gives that a consequence.
 */
#ifndef UF_PY_HOOKS_H
#define UF_PY_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include "python_bridge/interp.h"
#include "tunables/tunables.h"

/* Whether cfg defines a hook that runs in the master. */
bool py_hooks_need_master(const tun_config_t *cfg);

/* Whether hook h was loaded (and so will be called). */
bool py_hooks_defined(enum tun_hook h);

/* Loads the hooks cfg defines into the running interpreter (again on a reload: the new
 * definitions replace the old). master_pid and num_workers are what `server` reports.
 * Returns 0, or -1 with a one-line reason in err (the traceback has been logged). */
int py_hooks_load(const tun_config_t *cfg, int master_pid, unsigned num_workers, char *err,
                  size_t errlen);

/* ---- master ---- */
void py_hooks_nworkers_changed(unsigned now, int before); /* before < 0: None (at start) */
void py_hooks_server_event(enum tun_hook h); /* on_starting, when_ready, on_reload, on_exit */
void py_hooks_pre_fork(unsigned slot, unsigned num_workers);
void py_hooks_forked(int pid);     /* in the master after fork: server.WORKERS */
void py_hooks_child_exit(int pid); /* after the master reaped it */

/* ---- worker ---- */
/* Loads the hooks unless the worker inherited them from the master, then runs
 * post_fork(server, worker), before the application is imported. `age` counts the
 * workers the master started, this one included. Returns 0; -1 when the hooks could not
 * be loaded (err says why: the application's code is broken, as with an import error);
 * -2 when post_fork raised (the worker does not boot, as in gunicorn). */
int py_hooks_post_fork(const tun_config_t *cfg, unsigned slot, unsigned age, int master_pid,
                       char *err, size_t errlen);
/* post_worker_init(worker), once the application is loaded; -1 when it raised. */
int py_hooks_post_worker_init(py_app_t *app);
/* A fast stop (INT or QUIT): worker_int(worker). */
void py_hooks_worker_int(void);
/* The worker is about to end, whatever the reason it can still act on. */
void py_hooks_worker_exit(void);
/* With worker_abort defined, SIGABRT (the master's --timeout kill) runs it: the handler
 * is Python's, run by the main thread, so a loop that does not run Python calls
 * py_hooks_check_signals when SIGABRT woke it. Returns whether it armed the handler. */
bool py_hooks_arm_abort(void);
void py_hooks_check_signals(void);

#endif
