/* python_bridge/hooks: loading hooks by TOML dotted path and from a gunicorn.conf.py; the
 * master's moments with gunicorn's arguments (nworkers_changed's None, server.WORKERS
 * kept by pre_fork/forked/child_exit, worker.age); a raising post_fork reported as -2 with
 * its traceback logged; a hook module that cannot be imported as -1 with one line. Each
 * case runs in its own forked child (one interpreter per process). */
#include "python_bridge/hooks.c"

#include "python_bridge/interp.h"

#include "check.h"
#include "py_helpers.h"

#include <stdlib.h>

static char tmpdir[64];

/* cfg from `uwsgi-fast -c tmpdir/FILE basic:app`, the interpreter with tmpdir on sys.path */
static int setup(tun_config_t *cfg, const char *file)
{
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, file);
    char *argv[] = {"uwsgi-fast", "-c", path, "basic:app", NULL};
    char *envp[] = {NULL};
    int rc = tun_parse(cfg, 4, argv, envp, stdout, err, sizeof(err));
    CHECK_EQ_INT(rc, TUN_OK);
    if (rc != TUN_OK) {
        fprintf(stderr, "    parse: %s\n", err);
        return -1;
    }
    const char *pp[] = {tmpdir};
    py_interp_options_t o = {.pythonpath = pp, .pythonpath_count = 1};
    rc = py_interp_init(&o, err, sizeof(err));
    CHECK_EQ_INT(rc, 0);
    return rc;
}

static const char recorder[] =
    "calls = []\n"
    "def rec(*a):\n"
    "    calls.append(' '.join(str(x) for x in a))\n"
    "def nworkers_changed(server, new, old):\n"
    "    rec('nworkers', new, old, server.num_workers, server.pid)\n"
    "def on_starting(server):\n"
    "    rec('starting', server.cfg.workers, server.app.app_uri)\n"
    "def pre_fork(server, worker):\n"
    "    rec('pre_fork', worker.age, worker.slot, worker.pid)\n"
    "def child_exit(server, worker):\n"
    "    rec('child_exit', worker.pid, worker.age, len(server.WORKERS))\n"
    "def post_fork(server, worker):\n"
    "    rec('post_fork', worker.age, worker.slot)\n";

static void child_toml_hooks(void)
{
    tun_config_t cfg;
    if (setup(&cfg, "hooks.toml") < 0)
        return;
    char err[512] = "";
    CHECK_EQ_INT(py_hooks_load(&cfg, 4242, 3, err, sizeof(err)), 0);
    CHECK(py_hooks_need_master(&cfg));
    CHECK(py_hooks_defined(TUN_HOOK_pre_fork));
    CHECK(!py_hooks_defined(TUN_HOOK_when_ready));
    py_hooks_nworkers_changed(3, -1);
    py_hooks_server_event(TUN_HOOK_on_starting);
    py_hooks_server_event(TUN_HOOK_when_ready); /* not defined: nothing */
    py_hooks_pre_fork(1, 3);
    py_hooks_forked(777);
    py_hooks_pre_fork(2, 3);
    py_hooks_forked(778);
    py_hooks_child_exit(777);
    py_hooks_child_exit(999); /* not a worker the master knows: nothing */
    CHECK_EQ_STR(py_eval("' | '.join(__import__('rechooks').calls)"),
                 "nworkers 3 None 3 4242 | starting 2 basic:app | pre_fork 1 1 None | "
                 "pre_fork 2 2 None | child_exit 777 1 1");
    tun_config_free(&cfg);
}

/* the worker side without a master interpreter: post_fork loads the hooks first */
static void child_worker_loads(void)
{
    tun_config_t cfg;
    if (setup(&cfg, "hooks.toml") < 0)
        return;
    char err[512] = "";
    CHECK_EQ_INT(py_hooks_post_fork(&cfg, 3, 9, 4242, err, sizeof(err)), 0);
    CHECK_EQ_STR(py_eval("' | '.join(__import__('rechooks').calls)"), "post_fork 9 3");
    CHECK_EQ_STR(py_eval("__import__('_uwsgi_fast_hooks').worker.ppid"), "4242");
    tun_config_free(&cfg);
}

static void child_post_fork_raises(void)
{
    tun_config_t cfg;
    if (setup(&cfg, "gunicorn_raises.conf.py") < 0)
        return;
    char err[512] = "";
    capture_begin();
    int rc = py_hooks_post_fork(&cfg, 0, 1, 4242, err, sizeof(err));
    char *log = capture_end();
    CHECK_EQ_INT(rc, -2);
    CHECK(strstr(log, "Exception in post_fork hook") != NULL);
    CHECK(strstr(log, "RuntimeError: post-fork-sentinel") != NULL);
    CHECK(strstr(log, "Traceback (most recent call last)") != NULL);
    free(log);
    tun_config_free(&cfg);
}

static void child_missing_module(void)
{
    tun_config_t cfg;
    if (setup(&cfg, "missing.toml") < 0)
        return;
    char err[512] = "";
    capture_begin();
    int rc = py_hooks_load(&cfg, 1, 1, err, sizeof(err));
    free(capture_end());
    CHECK_EQ_INT(rc, -1);
    CHECK(strstr(err, "cannot load the server hooks from ") != NULL);
    CHECK(strstr(err, "ModuleNotFoundError: No module named 'nosuchhooks'") != NULL);
    CHECK(!py_hooks_defined(TUN_HOOK_on_exit));
    tun_config_free(&cfg);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/uf-hooks-test-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    write_file(tmpdir, "rechooks.py", recorder);
    write_file(tmpdir, "hooks.toml",
               "workers = 2\n"
               "nworkers_changed = \"rechooks:nworkers_changed\"\n"
               "on_starting = \"rechooks.on_starting\"\n"
               "pre_fork = \"rechooks:pre_fork\"\n"
               "child_exit = \"rechooks:child_exit\"\n"
               "post_fork = \"rechooks:post_fork\"\n");
    write_file(tmpdir, "missing.toml", "on_exit = \"nosuchhooks:on_exit\"\n");
    write_file(tmpdir, "gunicorn_raises.conf.py",
               "def post_fork(server, worker):\n"
               "    raise RuntimeError('post-fork-sentinel')\n");
    run_in_child("toml_hooks", child_toml_hooks);
    run_in_child("worker_loads", child_worker_loads);
    run_in_child("post_fork_raises", child_post_fork_raises);
    run_in_child("missing_module", child_missing_module);
    remove_tree(tmpdir);
    return check_done();
}
