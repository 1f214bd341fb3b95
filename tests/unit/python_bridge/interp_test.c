/* python_bridge/interp: interpreter setup (chdir, sys.path order, virtualenv, signals),
 * application loading, the GIL boundary and finalisation. Every interpreter
 * configuration runs in its own forked child. */
#include "python_bridge/errors.c"
#include "python_bridge/interp.c"
#include "python_bridge/wsgi.c"
#include "python_bridge/wsgi_environ.c"
#include "python_bridge/wsgi_filewrapper.c"
#include "python_bridge/wsgi_headers.c"
#include "python_bridge/wsgi_input.c"
#include "python_bridge/wsgi_reply.c"

#include "check.h"
#include "py_helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

static char tmpdir[64];
static char venv_path[4096];

static bool has_venv(void)
{
    char exe[4200];
    snprintf(exe, sizeof(exe), "%s/bin/python", venv_path);
    return access(exe, X_OK) == 0;
}

/* chdir first, then sys.path = [pythonpath..., cwd, <the rest>]; argv; no signal handlers */
static void child_paths(void)
{
    char err[256] = "";
    const char *pp[] = {"libdir", "/opt/uf-absolute"};
    py_interp_options_t o = {.chdir = tmpdir,
                             .pythonpath = pp,
                             .pythonpath_count = 2,
                             .program_name = "uwsgi-fast-test"};
    int rc = py_interp_init(&o, err, sizeof(err));
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "init: %s\n", err);
        return;
    }
    char want[512];
    py_exec("import sys, os, signal");
    snprintf(want, sizeof(want), "%s/libdir", tmpdir);
    CHECK_EQ_STR(py_eval("sys.path[0]"), want);
    CHECK_EQ_STR(py_eval("sys.path[1]"), "/opt/uf-absolute");
    CHECK_EQ_STR(py_eval("sys.path[2]"), tmpdir);
    CHECK_EQ_STR(py_eval("os.getcwd()"), tmpdir);
    /* the stdlib and site-packages follow */
    CHECK_EQ_STR(py_eval("str(any(p.endswith('lib/python%d.%d' % sys.version_info[:2]) "
                         "for p in sys.path[3:]))"),
                 "True");
    CHECK_EQ_STR(py_eval("repr(sys.argv)"), "['uwsgi-fast-test']");
    /* sys.executable is a python (of this installation), not '' and not our binary */
    CHECK_EQ_STR(py_eval("os.path.basename(sys.executable).startswith('python') and "
                         "sys.executable.startswith(sys.base_exec_prefix) and "
                         "os.access(sys.executable, os.X_OK)"),
                 "True");
    /* Python installed no handler, not even when its signal module is imported (SIGINT
     * may be inherited as ignored, never be Python's) */
    CHECK_EQ_STR(py_eval("str(signal.getsignal(signal.SIGINT) in "
                         "(signal.SIG_DFL, signal.SIG_IGN))"),
                 "True");
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN);
    sigaction(SIGTERM, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN);

    /* modules in the cwd and in pythonpath import; the pythonpath entry wins */
    py_app_t *a = py_app_load("cwd_app:app", err, sizeof(err));
    CHECK(a != NULL);
    CHECK_EQ_STR(py_eval("__import__('shadow').WHERE"), "libdir");

    /* a second init is refused */
    rc = py_interp_init(&o, err, sizeof(err));
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_STR(err, "python interpreter is already initialised");
    py_interp_finalize();
}

static void on_sigint(int sig)
{
    (void)sig;
}

/* Without a virtualenv, the system Python here has no Django. Also: a SIGINT handler the
 * server installed before init survives init and applications importing signal. */
static void child_no_venv(void)
{
    char err[512] = "";
    py_interp_options_t o = {.program_name = "uwsgi-fast"};
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    CHECK_EQ_INT(py_interp_init(&o, err, sizeof(err)), 0);
    CHECK_EQ_INT(py_exec("import signal, asyncio, subprocess"), 0);
    sigaction(SIGINT, NULL, &sa);
    CHECK(sa.sa_handler == on_sigint);
    capture_begin();
    py_app_t *a = py_app_load("django", err, sizeof(err));
    char *log = capture_end();
    CHECK(a == NULL);
    CHECK_EQ_STR(err, "cannot import \"django\": ModuleNotFoundError: No module named 'django'");
    CHECK(strstr(log, "Traceback (most recent call last)") != NULL);
    CHECK(strstr(log, "ModuleNotFoundError: No module named 'django'") != NULL);
    free(log);
    py_interp_finalize();
}

/* With the repo's .venv, Django imports, and the venv is sys.prefix like under its own
 * python. */
static void child_venv(void)
{
    char err[512] = "";
    py_interp_options_t o = {.virtualenv = venv_path, .program_name = "uwsgi-fast"};
    int rc = py_interp_init(&o, err, sizeof(err));
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "init: %s\n", err);
        return;
    }
    py_exec("import os, sys");
    char real[4096];
    CHECK(realpath(venv_path, real) != NULL);
    /* resolved on both sides: the venv may be a symlink (a git worktree's .venv), and
     * getpath keeps the spelling it was given */
    CHECK_EQ_STR(py_eval("os.path.realpath(sys.prefix)"), real);
    CHECK(strcmp(py_eval("sys.base_prefix"), real) != 0);
    char exe[4200];
    snprintf(exe, sizeof(exe), "%s/bin/python", venv_path);
    CHECK_EQ_STR(py_eval("sys.executable"), exe);
    py_app_t *a = py_app_load("django:setup", err, sizeof(err));
    CHECK(a != NULL);
    if (!a)
        fprintf(stderr, "load: %s\n", err);
    CHECK_EQ_STR(py_eval("str(__import__('django').__file__.startswith(sys.prefix))"), "True");
    CHECK_EQ_STR(py_eval("str(__import__('flask').__name__)"), "flask");
    py_interp_finalize();
}

/* A program name that resolves to a binary (ours, on PATH) must not become sys.executable */
static void child_program_is_binary(void)
{
    char err[256];
    py_interp_options_t o = {.program_name = "/bin/true"};
    CHECK_EQ_INT(py_interp_init(&o, err, sizeof(err)), 0);
    py_exec("import sys, os");
    CHECK_EQ_STR(py_eval("sys.executable.startswith(sys.base_exec_prefix + '/bin/python')"),
                 "True");
    CHECK_EQ_STR(py_eval("repr(sys.argv)"), "['/bin/true']");
    py_interp_finalize();
}

static void child_bad_options(void)
{
    char err[512] = "";
    py_interp_options_t o = {.virtualenv = "/nonexistent/uf-venv"};
    CHECK_EQ_INT(py_interp_init(&o, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "virtualenv /nonexistent/uf-venv: No such file or directory");
    CHECK(!Py_IsInitialized());

    o = (py_interp_options_t){.virtualenv = tmpdir}; /* a directory, but no bin/python */
    CHECK_EQ_INT(py_interp_init(&o, err, sizeof(err)), -1);
    CHECK(strstr(err, "no bin/python in it") != NULL);

    o = (py_interp_options_t){.chdir = "/nonexistent/uf-dir"};
    CHECK_EQ_INT(py_interp_init(&o, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "chdir /nonexistent/uf-dir: No such file or directory");
    CHECK(!Py_IsInitialized());
}

/* --env entries reach os.environ; faulthandler is on; an entry without '=' fails. */
static void child_env_and_faulthandler(void)
{
    char err[512] = "";
    const char *bad[] = {"NOEQUALS"};
    py_interp_options_t o = {.env = bad, .env_count = 1};
    CHECK_EQ_INT(py_interp_init(&o, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "--env NOEQUALS: expected KEY=VALUE");
    CHECK(!Py_IsInitialized());

    const char *env[] = {"UF_T_A=1,2=3", "UF_T_EMPTY="};
    o = (py_interp_options_t){.env = env, .env_count = 2};
    CHECK_EQ_INT(py_interp_init(&o, err, sizeof(err)), 0);
    CHECK_EQ_STR(py_eval("__import__('os').environ['UF_T_A']"), "1,2=3");
    CHECK_EQ_STR(py_eval("repr(__import__('os').environ['UF_T_EMPTY'])"), "''");
    CHECK_EQ_STR(py_eval("str(__import__('faulthandler').is_enabled())"), "True");
    py_interp_finalize();
}

/* Spec forms and their error messages. */
static void child_specs(void)
{
    char err[512] = "";
    py_interp_options_t o = {.chdir = tmpdir};
    CHECK_EQ_INT(py_interp_init(&o, err, sizeof(err)), 0);

    struct {
        const char *spec;
        const char *err; /* NULL: loads; else the expected err prefix */
    } cases[] = {
        {"cwd_app", NULL}, /* MODULE alone = MODULE:application */
        {"cwd_app:app", NULL},
        {"cwd_app:make()", NULL},
        {"cwd_app:make('x', n=2)", NULL},
        {"cwd_app:holder.inner.app", NULL},
        {"no_such_module_uf",
         "cannot import \"no_such_module_uf\": ModuleNotFoundError: No module named "
         "'no_such_module_uf'"},
        {"broken_mod:app", "cannot import \"broken_mod\": ZeroDivisionError: division by zero"},
        {"cwd_app:missing",
         "cannot find \"missing\" in module \"cwd_app\": AttributeError: module 'cwd_app' has "
         "no attribute 'missing'"},
        {"cwd_app:number", "application \"number\" in \"cwd_app\" is not callable (int)"},
        {"cwd_app:make(os.getcwd())", "invalid application spec \"cwd_app:make(os.getcwd())\": "
                                      "ValueError: factory arguments must be literals"},
        {"cwd_app:1+1", "invalid application spec \"cwd_app:1+1\": ValueError: not a name"},
        {"cwd_app:boom()", "application factory \"boom()\" in \"cwd_app\" failed: "
                           "RuntimeError: no app today"},
        {"cwd_app:make(0)", "application \"make(0)\" in \"cwd_app\" is not callable (NoneType)"},
        {":app", "invalid application spec \":app\""},
        {"cwd_app:", "invalid application spec \"cwd_app:\""},
    };
    for (size_t i = 0; i < UF_ARRAY_LEN(cases); i++) {
        err[0] = 0;
        capture_begin();
        py_app_t *a = py_app_load(cases[i].spec, err, sizeof(err));
        char *log = capture_end();
        if (!cases[i].err) {
            CHECK(a != NULL);
            if (!a)
                fprintf(stderr, "%s: %s\n", cases[i].spec, err);
        } else {
            CHECK(a == NULL);
            bool ok = strncmp(err, cases[i].err, strlen(cases[i].err)) == 0;
            CHECK(ok);
            if (!ok)
                fprintf(stderr, "%s:\n  got  %s\n  want %s...\n", cases[i].spec, err, cases[i].err);
            CHECK(strchr(err, '\n') == NULL);
        }
        free(log);
    }
    /* a factory gets its literal arguments */
    py_app_t *a = py_app_load("cwd_app:make('x', n=2)", err, sizeof(err));
    PyObject *w = a ? PyObject_GetAttrString(a->callable, "made_with") : NULL;
    PyObject *r = w ? PyObject_Repr(w) : NULL;
    CHECK_EQ_STR(r ? PyUnicode_AsUTF8(r) : "?", "('x', 2)");
    Py_XDECREF(r);
    Py_XDECREF(w);
    /* SystemExit raised while importing is an error, not an exit of the process */
    capture_begin();
    a = py_app_load("exiting_mod:app", err, sizeof(err));
    char *log = capture_end();
    CHECK(a == NULL);
    CHECK_EQ_STR(err, "cannot import \"exiting_mod\": SystemExit: 4");
    CHECK(strstr(log, "SystemExit") != NULL);
    free(log);
    py_interp_finalize();
}

/* release lets Python threads run; acquire takes the GIL back. */
static void child_gil(void)
{
    char err[256];
    CHECK_EQ_INT(py_interp_init(NULL, err, sizeof(err)), 0);
    py_exec("import threading, time\n"
            "ticks = 0\n"
            "stop = False\n"
            "def spin():\n"
            "    global ticks\n"
            "    while not stop:\n"
            "        ticks += 1\n"
            "        time.sleep(0.001)\n"
            "t = threading.Thread(target=spin)\n"
            "t.start()\n");
    long before = py_eval_long("ticks");
    py_interp_release();
    usleep(100 * 1000);
    py_interp_acquire();
    long after = py_eval_long("ticks");
    CHECK(after > before);
    /* while we hold the GIL and run no bytecode (which could hand it over), the thread
     * cannot tick */
    PyObject *g = PyModule_GetDict(PyImport_AddModule("__main__"));
    long held = PyLong_AsLong(PyDict_GetItemString(g, "ticks"));
    usleep(30 * 1000);
    CHECK_EQ_INT(PyLong_AsLong(PyDict_GetItemString(g, "ticks")), held);
    py_exec("stop = True\nt.join()\n");
    /* the worker releases before waiting and finalises from there: finalize re-acquires */
    py_exec("import atexit\n"
            "atexit.register(lambda: open('/tmp/uf-interp-atexit', 'w').write('ran'))\n");
    unlink("/tmp/uf-interp-atexit");
    py_interp_release();
    py_interp_finalize();
    CHECK(!Py_IsInitialized());
    CHECK_EQ_INT(access("/tmp/uf-interp-atexit", F_OK), 0);
    unlink("/tmp/uf-interp-atexit");
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/uf_interp_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    char libdir[128];
    snprintf(libdir, sizeof(libdir), "%s/libdir", tmpdir);
    mkdir(libdir, 0755);
    write_file(tmpdir, "cwd_app.py",
               "def app(environ, start_response):\n"
               "    start_response('200 OK', [])\n"
               "    return [b'cwd']\n"
               "application = app\n"
               "number = 7\n"
               "class holder:\n"
               "    class inner:\n"
               "        app = app\n"
               "def make(*args, **kw):\n"
               "    if args == (0,):\n"
               "        return None\n"
               "    def made(environ, start_response):\n"
               "        return app(environ, start_response)\n"
               "    made.made_with = args + tuple(kw.values())\n"
               "    return made\n"
               "def boom():\n"
               "    raise RuntimeError('no app today')\n"
               "import sys\n"
               "exits = sys.exit\n");
    write_file(tmpdir, "broken_mod.py", "x = 1 / 0\n");
    write_file(tmpdir, "exiting_mod.py", "import sys\nsys.exit(4)\n");
    write_file(tmpdir, "shadow.py", "WHERE = 'cwd'\n");
    write_file(libdir, "shadow.py", "WHERE = 'libdir'\n");
    snprintf(venv_path, sizeof(venv_path), "%s/.venv", source_root());

    run_in_child("paths", child_paths);
    run_in_child("no_venv", child_no_venv);
    if (has_venv())
        run_in_child("venv", child_venv);
    else
        fprintf(stderr, "interp_test: %s has no bin/python; virtualenv test skipped\n", venv_path);
    run_in_child("program_is_binary", child_program_is_binary);
    run_in_child("bad_options", child_bad_options);
    run_in_child("env_and_faulthandler", child_env_and_faulthandler);
    run_in_child("specs", child_specs);
    run_in_child("gil", child_gil);

    remove_tree(tmpdir);
    return check_done();
}
