/* The embedded interpreter: PEP 587 setup, sys.path, application loading, GIL boundary. */
#include "python_bridge/interp.h"

#include "python_bridge/compat.h"
#include "python_bridge/errors.h"
#include "common/mem.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The thread state parked by py_interp_release; NULL while the GIL is held. There is one
 * boundary (the worker's wait for completions), so one slot is enough. */
static PyThreadState *parked;

/* What py_preload loaded in the master; the workers inherit it across fork. */
static py_app_t *preloaded;

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* one line, whatever Python put into the message */
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

static int status_err(PyStatus st, const char *what, char *err, size_t errlen)
{
    if (PyStatus_IsExit(st))
        set_err(err, errlen, "%s: interpreter asked to exit with status %d", what, st.exitcode);
    else
        set_err(err, errlen, "%s: %s%s%s", what, st.func ? st.func : "", st.func ? ": " : "",
                st.err_msg ? st.err_msg : "failed");
    return -1;
}

/* Makes `path` absolute against the current directory, without resolving symlinks (the
 * user's spelling shows up in sys.path and tracebacks) and without trailing slashes.
 * Returns a uf_malloc'ed string. */
static char *absolute(const char *path)
{
    char *out;
    if (path[0] == '/') {
        out = uf_strdup(path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            snprintf(cwd, sizeof(cwd), ".");
        size_t n = strlen(cwd) + 1 + strlen(path) + 1;
        out = uf_malloc(n);
        snprintf(out, n, "%s/%s", cwd, path);
    }
    for (size_t len = strlen(out); len > 1 && out[len - 1] == '/'; len--)
        out[len - 1] = 0;
    return out;
}

/* Returns 0 when path is a directory, else -errno (-ENOTDIR for other files). */
static int check_dir(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Why executable and not home: a venv's own python finds pyvenv.cfg next to (or one
 * level above) its executable; getpath then keeps the base installation's stdlib and
 * site.py adds the venv's site-packages, honouring include-system-site-packages.
 * Setting home (PYTHONHOME) instead would point the stdlib lookup at the venv, which
 * has no stdlib. Returns the path of the venv's interpreter, or NULL with err set. */
static char *venv_executable(const char *venv, char *err, size_t errlen)
{
    int rc = check_dir(venv);
    if (rc < 0) {
        set_err(err, errlen, "virtualenv %s: %s", venv, strerror(-rc));
        return NULL;
    }
    static const char *const names[] = {"bin/python", "bin/python3"};
    for (size_t i = 0; i < UF_ARRAY_LEN(names); i++) {
        size_t n = strlen(venv) + 1 + strlen(names[i]) + 1;
        char *exe = uf_malloc(n);
        snprintf(exe, n, "%s/%s", venv, names[i]);
        if (access(exe, X_OK) == 0)
            return exe;
        uf_free(exe);
    }
    set_err(err, errlen, "virtualenv %s: no bin/python in it (is it a virtualenv?)", venv);
    return NULL;
}

/* A virtualenv without pyvenv.cfg (made by virtualenv < 20, or copied around) is not
 * detected by getpath; add its site-packages the way site.py would, .pth files included.
 * A no-op when site.py has already added it. Returns 0, or -1 with a Python error. */
static int venv_fallback(const char *venv)
{
    char sp[PATH_MAX];
    snprintf(sp, sizeof(sp), "%s/lib/python%d.%d/site-packages", venv, PY_MAJOR_VERSION,
             PY_MINOR_VERSION);
    if (check_dir(sp) < 0)
        return 0;
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    PyObject *s = PyUnicode_DecodeFSDefault(sp);
    if (!s)
        return -1;
    int found = path ? PySequence_Contains(path, s) : 0;
    int rc = found < 0 ? -1 : 0;
    if (found == 0) {
        PyObject *site = PyImport_ImportModule("site");
        PyObject *r = site ? PyObject_CallMethod(site, "addsitedir", "O", s) : NULL;
        rc = r ? 0 : -1;
        Py_XDECREF(r);
        Py_XDECREF(site);
    }
    Py_DECREF(s);
    return rc;
}

/* sys.path[0:0] = [*pythonpath, cwd]: the user's entries win over everything, then the
 * application directory (gunicorn puts the cwd first too), then stdlib and site-packages.
 * Relative pythonpath entries are made absolute against the (new) cwd so that an
 * application calling os.chdir later still imports from them. */
static int prepend_sys_path(const py_interp_options_t *opts)
{
    PyObject *front = PyList_New(0);
    if (!front)
        return -1;
    int rc = -1;
    for (size_t i = 0; i <= opts->pythonpath_count; i++) {
        char *p;
        if (i < opts->pythonpath_count) {
            p = absolute(opts->pythonpath[i]);
        } else {
            char cwd[PATH_MAX];
            p = uf_strdup(getcwd(cwd, sizeof(cwd)) ? cwd : ".");
        }
        PyObject *s = PyUnicode_DecodeFSDefault(p);
        uf_free(p);
        if (!s || PyList_Append(front, s) < 0) {
            Py_XDECREF(s);
            goto out;
        }
        Py_DECREF(s);
    }
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    if (!path || !PyList_Check(path)) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is not a list");
        goto out;
    }
    rc = PyList_SetSlice(path, 0, 0, front);
out:
    Py_DECREF(front);
    return rc;
}

/* Runs the Python source `src` in a namespace of its own and calls its function `func`
 * with `arg` (a str) or no argument. Returns the result (new reference) or NULL with a
 * Python error. For setup code that reads better in Python than in C API calls. */
static PyObject *run_snippet(const char *src, const char *func, const char *arg)
{
    PyObject *code = Py_CompileString(src, "<uwsgi-fast>", Py_file_input);
    if (!code)
        return NULL;
    PyObject *ns = PyDict_New();
    PyObject *result = NULL;
    if (ns && PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) == 0) {
        PyObject *r = PyEval_EvalCode(code, ns, ns);
        PyObject *f = r ? PyDict_GetItemString(ns, func) : NULL; /* borrowed */
        if (f)
            result = arg ? PyObject_CallFunction(f, "s", arg) : PyObject_CallNoArgs(f);
        Py_XDECREF(r);
    }
    Py_XDECREF(ns);
    Py_DECREF(code);
    return result;
}

/* sys.executable must name a Python interpreter: multiprocessing's spawn/forkserver,
 * subprocess.run([sys.executable, ...]) and tools like Celery start it. An embedded
 * interpreter derives it from our program name instead: empty when "uwsgi-fast" is not on
 * PATH, or the server binary itself when it is (uWSGI's long-standing trap: the "child
 * Python" is another server). Point it at the python of sys.prefix (a venv's, when the
 * server is installed in one) or of the base installation; not at whatever python sits
 * next to our binary, which may be another installation. With --virtualenv it already
 * is the venv's bin/python and stays. */
static const char fix_executable_src[] =
    "import os, sys\n"
    "def fix():\n"
    "    exe = sys.executable\n"
    "    if exe and os.path.basename(exe).startswith('python'):\n"
    "        return\n"
    "    dirs = [os.path.join(sys.prefix, 'bin'), os.path.join(sys.base_exec_prefix, 'bin')]\n"
    "    names = ['python%d.%d' % sys.version_info[:2], 'python3', 'python']\n"
    "    for d in dirs:\n"
    "        for n in names:\n"
    "            p = os.path.join(d, n)\n"
    "            if os.path.isfile(p) and os.access(p, os.X_OK):\n"
    "                sys.executable = p\n"
    "                return\n";

static int fix_sys_executable(void)
{
    PyObject *r = run_snippet(fix_executable_src, "fix", NULL);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* A request stuck past --timeout gets SIGABRT from the master; with faulthandler on, the
 * worker prints where every thread's Python code was before it dies, which is what the
 * operator needs to find the hang. Also covers SIGSEGV in a C extension. */
static const char faulthandler_src[] =
    "import faulthandler, sys\n"
    "def enable():\n"
    "    if sys.stderr is not None:\n"
    "        faulthandler.enable(file=sys.stderr, all_threads=True)\n";

static int enable_faulthandler(void)
{
    PyObject *r = run_snippet(faulthandler_src, "enable", NULL);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* COMPAT_CHILD_NEEDS_MAIN_THREAD: in the child, after threading's own after-fork handler
 * (registered when threading was imported, so called before ours), a _DummyThread that
 * became the main thread is replaced by a real one, as 3.12's threading does itself. */
static const char child_main_thread_src[] =
    "import os, threading\n"
    "def register():\n"
    "    def child():\n"
    "        if isinstance(threading._main_thread, threading._DummyThread):\n"
    "            with threading._active_limbo_lock:\n"
    "                threading._active.pop(threading.get_ident(), None)\n"
    "            threading._main_thread = threading._MainThread()\n"
    "    os.register_at_fork(after_in_child=child)\n";

static int give_children_a_main_thread(void)
{
    if (!COMPAT_CHILD_NEEDS_MAIN_THREAD)
        return 0;
    PyObject *r = run_snippet(child_main_thread_src, "register", NULL);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* --env KEY=VALUE: into the process environment before Python copies it into
 * os.environ, so the application sees the values at import time. */
static int apply_env(const py_interp_options_t *opts, char *err, size_t errlen)
{
    for (size_t i = 0; i < opts->env_count; i++) {
        const char *kv = opts->env[i];
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            set_err(err, errlen, "--env %s: expected KEY=VALUE", kv);
            return -1;
        }
        char *key = uf_malloc((size_t)(eq - kv) + 1);
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = 0;
        int rc = setenv(key, eq + 1, 1);
        uf_free(key);
        if (rc < 0) {
            set_err(err, errlen, "--env %s: %s", kv, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* install_signal_handlers = 0 is not the whole story: importing the signal module (which
 * asyncio, subprocess and many frameworks do) installs Python's own SIGINT handler
 * whenever SIGINT is at SIG_DFL (CPython's signal_module_exec, 3.8 to at least 3.13).
 * So import it now, while we know what the disposition was, tell it SIGINT is at its
 * default, and put back exactly what the server had. Returns 0, or -1 with a Python
 * error. */
static int keep_sigint(const struct sigaction *before)
{
    PyObject *sig = PyImport_ImportModule("signal");
    if (!sig)
        return -1;
    PyObject *dfl = PyObject_GetAttrString(sig, "SIG_DFL");
    PyObject *r = dfl ? PyObject_CallMethod(sig, "signal", "iO", SIGINT, dfl) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(dfl);
    Py_DECREF(sig);
    sigaction(SIGINT, before, NULL);
    return r ? 0 : -1;
}

int py_interp_init(const py_interp_options_t *opts, char *err, size_t errlen)
{
    static const py_interp_options_t none = {0};
    if (!opts)
        opts = &none;
    if (Py_IsInitialized()) {
        set_err(err, errlen, "python interpreter is already initialised");
        return -1;
    }
    if (opts->chdir && chdir(opts->chdir) < 0) {
        set_err(err, errlen, "chdir %s: %s", opts->chdir, strerror(errno));
        return -1;
    }
    if (apply_env(opts, err, errlen) < 0)
        return -1;

    int rc = -1;
    char *venv = NULL, *exe = NULL;
    if (opts->virtualenv) {
        venv = absolute(opts->virtualenv);
        exe = venv_executable(venv, err, errlen);
        if (!exe)
            goto out;
    }

    const char *prog = opts->program_name ? opts->program_name : "uwsgi-fast";
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0; /* the server owns every signal */
    config.parse_argv = 0;              /* our argv is not Python's command line */
    PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, prog);
    if (PyStatus_Exception(st))
        goto status_fail;
    char *argv[] = {(char *)prog};
    st = PyConfig_SetBytesArgv(&config, 1, argv);
    if (PyStatus_Exception(st))
        goto status_fail;
    if (exe) {
        st = PyConfig_SetBytesString(&config, &config.executable, exe);
        if (PyStatus_Exception(st))
            goto status_fail;
    }
    struct sigaction sigint_before;
    sigaction(SIGINT, NULL, &sigint_before);
    st = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(st))
        goto status_fail;
    PyConfig_Clear(&config);

    if (keep_sigint(&sigint_before) < 0 || (venv && venv_fallback(venv) < 0) ||
        fix_sys_executable() < 0 || prepend_sys_path(opts) < 0 || enable_faulthandler() < 0 ||
        give_children_a_main_thread() < 0) {
        PyObject *exc = compat_err_take();
        char why[256];
        py_exc_summary(exc, why, sizeof(why));
        Py_XDECREF(exc);
        set_err(err, errlen, "python sys.path setup: %s", why);
        goto out;
    }
    rc = 0;
    goto out;

status_fail:
    PyConfig_Clear(&config);
    status_err(st, "python init", err, errlen);
out:
    uf_free(exe);
    uf_free(venv);
    return rc;
}

/* Splits the callable part of a spec ("app", "create_app()", "make(1, debug=True)",
 * "pkg.obj.app") with Python's own parser, like gunicorn: only a dotted name, optionally
 * called with literal arguments, so a spec can never run arbitrary code. */
static const char spec_parser_src[] =
    "import ast\n"
    "def parse(expr):\n"
    "    try:\n"
    "        node = ast.parse(expr.strip(), mode='eval').body\n"
    "    except SyntaxError:\n"
    "        raise ValueError('not a name or a call: %r' % expr) from None\n"
    "    args = kwargs = None\n"
    "    if isinstance(node, ast.Call):\n"
    "        try:\n"
    "            args = tuple(ast.literal_eval(a) for a in node.args)\n"
    "            if any(k.arg is None for k in node.keywords):\n"
    "                raise ValueError\n"
    "            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}\n"
    "        except Exception:\n"
    "            raise ValueError('factory arguments must be literals: %r' % expr) from None\n"
    "        node = node.func\n"
    "    names = []\n"
    "    while isinstance(node, ast.Attribute):\n"
    "        names.append(node.attr)\n"
    "        node = node.value\n"
    "    if not isinstance(node, ast.Name):\n"
    "        raise ValueError('not a name or a call: %r' % expr)\n"
    "    names.append(node.id)\n"
    "    return tuple(reversed(names)), args, kwargs\n";

/* Runs parse(expr) from spec_parser_src; returns its 3-tuple (new reference) or NULL
 * with a Python error. */
static PyObject *parse_callable_expr(const char *expr)
{
    return run_snippet(spec_parser_src, "parse", expr);
}

/* Prints the pending exception's traceback and writes "<what>: ExcType: message" to err. */
static void load_fail(const char *what, char *err, size_t errlen)
{
    PyObject *exc = compat_err_take();
    char why[512];
    py_exc_summary(exc, why, sizeof(why));
    if (exc)
        compat_err_display(exc);
    Py_XDECREF(exc);
    set_err(err, errlen, "%s: %s", what, why);
}

py_app_t *py_app_load(const char *spec, char *err, size_t errlen)
{
    char what[512];
    const char *colon = strchr(spec, ':');
    size_t modlen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *expr = colon ? colon + 1 : "application";
    if (modlen == 0 || !*expr) {
        set_err(err, errlen, "invalid application spec \"%s\": expected MODULE[:CALLABLE]", spec);
        return NULL;
    }
    char *modname = uf_malloc(modlen + 1);
    memcpy(modname, spec, modlen);
    modname[modlen] = 0;

    py_app_t *app = NULL;
    PyObject *module = NULL, *parsed = NULL, *obj = NULL;
    module = PyImport_ImportModule(modname);
    if (!module) {
        snprintf(what, sizeof(what), "cannot import \"%s\"", modname);
        load_fail(what, err, errlen);
        goto out;
    }
    parsed = parse_callable_expr(expr);
    if (!parsed) {
        snprintf(what, sizeof(what), "invalid application spec \"%s\"", spec);
        load_fail(what, err, errlen);
        goto out;
    }
    /* parsed = (names, args or None, kwargs or None), all owned by `parsed` */
    PyObject *names = PyTuple_GET_ITEM(parsed, 0);
    PyObject *args = PyTuple_GET_ITEM(parsed, 1);
    PyObject *kwargs = PyTuple_GET_ITEM(parsed, 2);
    obj = Py_NewRef(module);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *next = PyObject_GetAttr(obj, PyTuple_GET_ITEM(names, i));
        Py_DECREF(obj);
        obj = next; /* the attribute, owned */
        if (!obj) {
            snprintf(what, sizeof(what), "cannot find \"%s\" in module \"%s\"", expr, modname);
            load_fail(what, err, errlen);
            goto out;
        }
    }
    if (args != Py_None) {
        if (!PyCallable_Check(obj)) {
            set_err(err, errlen, "application factory \"%s\" in \"%s\" is not callable (%s)", expr,
                    modname, Py_TYPE(obj)->tp_name);
            goto out;
        }
        PyObject *made = PyObject_Call(obj, args, kwargs == Py_None ? NULL : kwargs);
        Py_DECREF(obj);
        obj = made; /* the factory's product, owned */
        if (!obj) {
            snprintf(what, sizeof(what), "application factory \"%s\" in \"%s\" failed", expr,
                     modname);
            load_fail(what, err, errlen);
            goto out;
        }
    }
    if (!PyCallable_Check(obj)) {
        set_err(err, errlen, "application \"%s\" in \"%s\" is not callable (%s)", expr, modname,
                Py_TYPE(obj)->tp_name);
        goto out;
    }
    app = uf_calloc(1, sizeof(*app));
    app->callable = obj; /* ownership moves into the app */
    obj = NULL;
out:
    Py_XDECREF(obj);
    Py_XDECREF(parsed);
    Py_XDECREF(module);
    uf_free(modname);
    return app;
}

void py_app_free(py_app_t *app)
{
    if (!app)
        return;
    if (app == preloaded)
        preloaded = NULL;
    Py_XDECREF(app->callable);
    uf_free(app);
}

int py_preload(const py_interp_options_t *opts, const char *spec, char *err, size_t errlen)
{
    if (!Py_IsInitialized() && py_interp_init(opts, err, errlen) < 0)
        return -1;
    preloaded = py_app_load(spec, err, errlen);
    return preloaded ? 0 : -1;
}

py_app_t *py_app_preloaded(void)
{
    return preloaded;
}

/* gc.freeze() moves every object the collector tracks into a generation it never
 * examines again: a collection in a worker would otherwise write to the GC header of
 * each preloaded object and copy nearly every page the master shares with it. */
void py_before_fork(void)
{
    if (!Py_IsInitialized())
        return;
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *r = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
    if (!r)
        PyErr_Clear(); /* only an optimisation */
    Py_XDECREF(r);
    Py_XDECREF(gc);
    PyOS_BeforeFork();
}

void py_after_fork_parent(void)
{
    if (Py_IsInitialized())
        PyOS_AfterFork_Parent();
}

void py_after_fork_child(void)
{
    if (Py_IsInitialized())
        PyOS_AfterFork_Child();
}

void py_interp_release(void)
{
    UF_ASSERT(!parked);
    parked = PyEval_SaveThread();
}

void py_interp_acquire(void)
{
    UF_ASSERT(parked);
    PyThreadState *ts = parked;
    parked = NULL;
    PyEval_RestoreThread(ts);
}

bool py_interp_running(void)
{
    return Py_IsInitialized();
}

bool py_interp_enter(void)
{
    if (!parked)
        return false;
    py_interp_acquire();
    return true;
}

void py_interp_leave(bool was_parked)
{
    if (was_parked)
        py_interp_release();
}

struct py_thread {
    PyGILState_STATE gil_state; /* what PyGILState_Ensure made, undone by detach */
    PyThreadState *parked;      /* this thread's state while it does not hold the GIL */
};

/* threading.current_thread() of a thread Python did not start is a "Dummy-N"; the name
 * is what logging's %(threadName)s prints, so give it one an operator can place. */
static const char name_thread_src[] = "import threading\n"
                                      "def name(n):\n"
                                      "    threading.current_thread().name = n\n";

py_thread_t *py_thread_attach(const char *name)
{
    py_thread_t *t = uf_calloc(1, sizeof(*t));
    t->gil_state = PyGILState_Ensure(); /* creates the thread state, takes the GIL */
    PyObject *r = run_snippet(name_thread_src, "name", name);
    if (!r)
        PyErr_Clear(); /* a nameless thread serves as well */
    Py_XDECREF(r);
    t->parked = PyEval_SaveThread();
    return t;
}

void py_thread_enter(py_thread_t *t)
{
    PyThreadState *ts = t->parked;
    t->parked = NULL;
    PyEval_RestoreThread(ts);
}

void py_thread_leave(py_thread_t *t)
{
    t->parked = PyEval_SaveThread();
}

void py_thread_detach(py_thread_t *t)
{
    py_thread_enter(t);
    PyGILState_Release(t->gil_state);
    uf_free(t);
}

const char *py_version(void)
{
    static char version[32];
    if (!version[0]) {
        const char *full = Py_GetVersion(); /* "3.11.7 (main, Nov 1 2026, ...) [GCC ...]" */
        snprintf(version, sizeof(version), "%.*s", (int)strcspn(full, " "), full);
    }
    return version;
}

void py_interp_finalize(void)
{
    if (!Py_IsInitialized())
        return;
    if (parked)
        py_interp_acquire();
    py_wsgi_release_cache();
    Py_FinalizeEx();
}
