/* --reload in a worker: listing what to watch, noticing a change, asking to be replaced. */
#include "src/reloader.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "python_bridge/hooks.h"
#include "python_bridge/reload.h"
#include "src/filewatch.h"
#include "src/worker.h"

/* How often the module list, the extra files' patterns and (polling) the mtimes are
 * looked at again. inotify events themselves wake the loop at once. */
#define RELOADER_PERIOD_MS 1000

struct reloader {
    const tun_config_t *cfg;
    filewatch_t fw;
    long modules;        /* size of sys.modules at the last listing; -1 before the first */
    uint64_t next_ms;    /* the next listing */
    bool read_armed;     /* an inotify read is in the ring */
    bool reported;       /* the change was logged and flagged: nothing more to do */
    bool warned;         /* a file could not be watched (said once) */
    bool failed;         /* serving the stand-in: the application's sources count too */
    char root[PATH_MAX]; /* with `failed`: the application's directory, "" if unknown */
    char events[4096] __attribute__((aligned(8)));
};

reloader_t *reloader_open(const tun_config_t *cfg)
{
    if (!cfg->reload)
        return NULL;
    reloader_t *r = uf_calloc(1, sizeof(*r));
    r->cfg = cfg;
    r->modules = -1;
    struct timespec since;
    clock_gettime(CLOCK_REALTIME, &since);
    const char *engine = cfg->reload_engine ? cfg->reload_engine : "auto";
    bool inotify = strcmp(engine, "poll") != 0;
    int rc = filewatch_open(&r->fw, inotify, &since);
    if (rc < 0 && strcmp(engine, "inotify") == 0)
        log_warning("--reload-engine inotify: inotify is unavailable (%s); polling instead",
                    strerror(-rc));
    else if (rc < 0)
        log_info("--reload: inotify is unavailable (%s); polling instead", strerror(-rc));
    return r;
}

/* One path from the lists: watched, and (serving the stand-in) the sources beside it when
 * it is one of the application's own. */
static void add_path(reloader_t *r, const char *path)
{
    int rc = filewatch_add(&r->fw, path);
    if (rc < 0 && !r->warned) {
        r->warned = true;
        log_warning("--reload: cannot watch %s: %s%s; changes to it may go unnoticed", path,
                    strerror(-rc), rc == -ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
    }
    size_t n = strlen(r->root);
    if (r->failed && n && strncmp(path, r->root, n) == 0 && path[n] == '/') {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = 0;
        filewatch_add_sources(&r->fw, dir);
    }
}

static void add_module_file(const char *path, void *ctx)
{
    add_path(ctx, path);
}

py_app_t *reloader_stand_in(reloader_t *r, const char *spec, const char *err)
{
    r->failed = true;
    if (py_reload_app_root(spec, r->root, sizeof(r->root)) == 0)
        filewatch_add_sources(&r->fw, r->root);
    else
        r->root[0] = 0;
    log_error("The application could not be imported: %s; answering 500 until a watched file "
              "changes (--reload)",
              err);
    char message[700];
    snprintf(message, sizeof(message), "uwsgi-fast --reload: %s", err);
    return py_reload_stand_in(message);
}

/* The extra files: a pattern (gunicorn's *, ? and [) is expanded again each time, so a
 * file made after the start is watched from the next listing on. */
static void add_extra_files(reloader_t *r)
{
    for (size_t i = 0; i < r->cfg->reload_extra_files_count; i++) {
        const char *entry = r->cfg->reload_extra_files[i];
        if (!strpbrk(entry, "*?[")) {
            add_path(r, entry);
            continue;
        }
        glob_t g;
        if (glob(entry, GLOB_NOSORT, NULL, &g) == 0)
            for (size_t k = 0; k < g.gl_pathc; k++)
                add_path(r, g.gl_pathv[k]);
        globfree(&g);
    }
}

/* Lists the modules again when sys.modules changed size. With application threads the
 * loop thread holds no GIL and takes it here, once a second at most: development only. */
static void list_modules(worker_t *w, reloader_t *r)
{
    bool parked = py_interp_enter();
    long count = py_reload_module_count();
    if (count != r->modules) {
        py_reload_module_files(add_module_file, r);
        r->modules = count;
    }
    py_interp_leave(parked);
}

static void report(worker_t *w, reloader_t *r)
{
    r->reported = true;
    log_info("Worker reloading: %s modified", r->fw.changed);
    py_hooks_worker_int(); /* as gunicorn's reloader does */
    sb_set(&w->sb->code_changed, 1);
}

static void arm_read(worker_t *w, reloader_t *r)
{
    r->read_armed = true;
    ring_read(&w->ring, r->fw.fd, r->events, sizeof(r->events), ring_ud(OP_RELOAD, 0, 0));
}

void reloader_tick(worker_t *w)
{
    reloader_t *r = w->reloader;
    if (r->reported || w->now_ms < r->next_ms)
        return;
    r->next_ms = w->now_ms + RELOADER_PERIOD_MS;
    list_modules(w, r);
    add_extra_files(r);
    if (r->fw.fd < 0)
        filewatch_poll(&r->fw);
    else if (!r->read_armed && !w->stop_now)
        arm_read(w, r);
    if (r->fw.changed)
        report(w, r);
}

void reloader_complete(worker_t *w, int res)
{
    reloader_t *r = w->reloader;
    r->read_armed = false;
    if (res <= 0 || r->reported)
        return; /* an error or a cancel: the next tick arms it again */
    if (filewatch_events(&r->fw, r->events, (size_t)res))
        report(w, r);
    else if (!w->stop_now)
        arm_read(w, r);
}
