/* --reload in a worker: which files it watches, when it looks again, and what it does
 * when one of them changed.
 *
 * As in gunicorn, each worker watches the files of the modules it has imported (sys.modules,
 * listed again whenever it has grown, so a module a request imports lazily counts too) and
 * the --reload-extra-file ones (glob patterns expanded again at each listing). On a change
 * it logs "Worker reloading: PATH modified" and raises its scoreboard flag code_changed;
 * the master replaces it as on --max-requests: a successor imports the new code, and this
 * worker keeps serving until the successor accepts, then drains.
 *
 * An application that fails to import is not fatal under --reload: the worker serves a
 * stand-in answering 500 with the error (python_bridge/reload.h) and also watches every
 * *.py file of the application's own directories, since the broken file never reached
 * sys.modules. Saving a fix replaces it like any change.
 *
 * Loop thread only. Without --reload the worker holds NULL and nothing here runs.
 */
#ifndef UF_RELOADER_H
#define UF_RELOADER_H

#include "python_bridge/interp.h"
#include "tunables/tunables.h"

struct worker;
typedef struct reloader reloader_t;

/* Before the application is imported (so that a file edited during the import counts as
 * changed): NULL when --reload is off. Falls back to polling, with a log line, where
 * inotify is unavailable. */
reloader_t *reloader_open(const tun_config_t *cfg);

/* The application could not be imported (`err` says why; the traceback is logged): the
 * stand-in to serve instead, or NULL if even that cannot be made. */
py_app_t *reloader_stand_in(reloader_t *r, const char *spec, const char *err);

/* Once a loop round: lists the modules again when sys.modules grew, expands the extra
 * files, polls (poll engine), keeps the inotify read armed; at most once a second. */
void reloader_tick(struct worker *w);

/* The completion of the inotify read (OP_RELOAD), res as the ring gives it. */
void reloader_complete(struct worker *w, int res);

#endif
