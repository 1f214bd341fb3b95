/* gunicorn's server hooks (see hooks.h): the embedded Python side and the calls into it. */
#include "python_bridge/hooks.h"

#include "python_bridge/compat.h"
#include "python_bridge/errors.h"
#include "python_bridge/hooks_request.h"
#include "common/log.h"
#include "common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* hooks.py, as the module _uwsgi_fast_hooks. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wc23-extensions"
static const char glue_src[] = {
#embed "hooks.py"
    , 0};
#pragma clang diagnostic pop

#define MASTER_HOOKS                                                                               \
    ((1u << TUN_HOOK_on_starting) | (1u << TUN_HOOK_on_reload) | (1u << TUN_HOOK_when_ready) |     \
     (1u << TUN_HOOK_pre_fork) | (1u << TUN_HOOK_child_exit) | (1u << TUN_HOOK_nworkers_changed) | \
     (1u << TUN_HOOK_on_exit))

static PyObject *glue; /* the module, once loaded (owned; inherited across fork) */
static PyObject *on_request_start, *on_request_end; /* its per-request functions (owned):
                                                       looked up once, called per request */
static uint32_t defined;                            /* bit (1 << TUN_HOOK_x): hook x is loaded */

bool py_hooks_need_master(const tun_config_t *cfg)
{
    return (cfg->hooks_defined & MASTER_HOOKS) != 0;
}

bool py_hooks_defined(enum tun_hook h)
{
    return (defined >> h) & 1u;
}

bool hooks_for_requests(void)
{
    return (defined & ((1u << TUN_HOOK_pre_request) | (1u << TUN_HOOK_post_request))) != 0;
}

/* _emit(level, message, detail): what Log writes, into common/log. */
static PyObject *emit(PyObject *self, PyObject *args)
{
    int level;
    const char *msg, *detail;
    Py_ssize_t mlen, dlen;
    if (!PyArg_ParseTuple(args, "is#s#", &level, &msg, &mlen, &detail, &dlen))
        return NULL;
    log_text_detail(level, msg, (size_t)mlen, detail, (size_t)dlen);
    Py_RETURN_NONE;
}

static PyMethodDef emit_def = {"_emit", emit, METH_VARARGS, NULL};

/* Makes the module from the embedded source, once per process tree. */
static int make_glue(void)
{
    if (glue)
        return 0;
    PyObject *code = Py_CompileString(glue_src, "<uwsgi-fast hooks.py>", Py_file_input);
    PyObject *mod = code ? PyImport_ExecCodeModule("_uwsgi_fast_hooks", code) : NULL;
    Py_XDECREF(code);
    PyObject *fn = mod ? PyCFunction_New(&emit_def, NULL) : NULL;
    if (!fn || PyObject_SetAttrString(mod, "_emit", fn) < 0) {
        Py_XDECREF(fn);
        Py_XDECREF(mod);
        return -1;
    }
    Py_DECREF(fn);
    on_request_start = PyObject_GetAttrString(mod, "request_started");
    on_request_end = on_request_start ? PyObject_GetAttrString(mod, "request_finished") : NULL;
    if (!on_request_end) {
        Py_CLEAR(on_request_start);
        Py_DECREF(mod);
        return -1;
    }
    glue = mod;
    return 0;
}

/* The effective settings as --print-config writes them, for server.cfg. */
static PyObject *settings_text(const tun_config_t *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return PyErr_NoMemory();
    tun_write_config(f, cfg);
    fclose(f);
    PyObject *s = PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, "replace");
    free(text);
    return s;
}

/* A gunicorn.conf.py's own hooks come from running it; a uwsgi-fast.toml names them. */
static bool config_is_python(const tun_config_t *cfg)
{
    size_t n = cfg->config ? strlen(cfg->config) : 0;
    return n && !(n >= 5 && strcmp(cfg->config + n - 5, ".toml") == 0);
}

int py_hooks_load(const tun_config_t *cfg, int master_pid, unsigned num_workers, char *err,
                  size_t errlen)
{
    if (!cfg->hooks_defined) {
        defined = 0;
        return 0;
    }
    PyObject *names = PyList_New(0), *specs = PyDict_New();
    PyObject *text = settings_text(cfg), *r = NULL;
    bool ok = names && specs && text && make_glue() == 0;
    for (int h = 0; ok && h < TUN_N_CALLED_HOOKS; h++) {
        if (!((cfg->hooks_defined >> h) & 1u))
            continue;
        PyObject *name = PyUnicode_FromString(tun_hook_name((enum tun_hook)h));
        ok = name && PyList_Append(names, name) == 0;
        if (ok && cfg->hook_specs[h]) {
            PyObject *spec = PyUnicode_FromString(cfg->hook_specs[h]);
            ok = spec && PyDict_SetItem(specs, name, spec) == 0;
            Py_XDECREF(spec);
        }
        Py_XDECREF(name);
    }
    if (ok)
        r = PyObject_CallMethod(glue, "load", "zOOOizI", config_is_python(cfg) ? cfg->config : NULL,
                                specs, names, text, master_pid, cfg->app, num_workers);
    Py_XDECREF(names);
    Py_XDECREF(specs);
    Py_XDECREF(text);
    if (!r) {
        PyObject *exc = compat_err_take();
        char why[400], line[600];
        py_exc_summary(exc, why, sizeof(why));
        snprintf(line, sizeof(line), "cannot load the server hooks from %s: %s",
                 cfg->config ? cfg->config : "the config", why);
        py_log_error(line, strlen(line), exc);
        Py_XDECREF(exc);
        snprintf(err, errlen, "%s", line);
        return -1;
    }
    Py_DECREF(r);
    defined = cfg->hooks_defined & ((1u << TUN_N_CALLED_HOOKS) - 1);
    return 0;
}

/* Calls glue.<fn>(args built from fmt) with the GIL, whether the caller held it or had
 * parked it. Returns whether the call succeeded and the result was not False: a hook
 * that raised was logged by the glue, and an error of the glue itself is logged here. */
static bool call_glue(const char *fn, const char *fmt, ...)
{
    bool parked = py_interp_enter();
    va_list ap;
    va_start(ap, fmt);
    PyObject *args = Py_VaBuildValue(fmt, ap);
    va_end(ap);
    PyObject *f = args ? PyObject_GetAttrString(glue, fn) : NULL;
    PyObject *r = f ? PyObject_Call(f, args, NULL) : NULL;
    bool ok = r && r != Py_False;
    if (!r) {
        PyObject *exc = compat_err_take();
        char line[160];
        snprintf(line, sizeof(line), "server hooks: %s failed", fn);
        py_log_error(line, strlen(line), exc);
        Py_XDECREF(exc);
    }
    Py_XDECREF(r);
    Py_XDECREF(f);
    Py_XDECREF(args);
    py_interp_leave(parked);
    return ok;
}

void py_hooks_nworkers_changed(unsigned now, int before)
{
    if (!py_hooks_defined(TUN_HOOK_nworkers_changed))
        return;
    if (before < 0)
        call_glue("num_workers_changed", "(IO)", now, Py_None);
    else
        call_glue("num_workers_changed", "(Ii)", now, before);
}

void py_hooks_server_event(enum tun_hook h)
{
    if (py_hooks_defined(h))
        call_glue("server_event", "(s)", tun_hook_name(h));
}

/* The bookkeeping of server.WORKERS runs whenever the master has hooks at all, so that
 * child_exit and pre_fork see the same workers gunicorn's would. */
void py_hooks_pre_fork(unsigned slot, unsigned num_workers)
{
    if (glue && (defined & MASTER_HOOKS))
        call_glue("before_fork", "(II)", slot, num_workers);
}

void py_hooks_forked(int pid)
{
    if (glue && (defined & MASTER_HOOKS))
        call_glue("forked", "(i)", pid);
}

void py_hooks_child_exit(int pid)
{
    if (glue && (defined & MASTER_HOOKS))
        call_glue("child_exited", "(i)", pid);
}

int py_hooks_post_fork(const tun_config_t *cfg, unsigned slot, unsigned age, int master_pid,
                       char *err, size_t errlen)
{
    if (!glue && py_hooks_load(cfg, master_pid, (unsigned)cfg->workers, err, errlen) < 0)
        return -1;
    if (!defined)
        return 0;
    return call_glue("worker_started", "(IIi)", slot, age, master_pid) ? 0 : -2;
}

int py_hooks_post_worker_init(py_app_t *app)
{
    if (!glue || !defined)
        return 0;
    return call_glue("worker_ready", "(O)", app ? app->callable : Py_None) ? 0 : -1;
}

void py_hooks_worker_int(void)
{
    if (py_hooks_defined(TUN_HOOK_worker_int))
        call_glue("worker_interrupted", "()");
}

void py_hooks_worker_exit(void)
{
    if (py_hooks_defined(TUN_HOOK_worker_exit))
        call_glue("worker_exiting", "()");
}

bool py_hooks_arm_abort(void)
{
    return py_hooks_defined(TUN_HOOK_worker_abort) && call_glue("arm_abort", "()");
}

void py_hooks_check_signals(void)
{
    bool parked = py_interp_enter();
    if (PyErr_CheckSignals() < 0) {
        PyObject *exc = compat_err_take();
        static const char line[] = "a Python signal handler raised";
        py_log_error(line, sizeof(line) - 1, exc);
        Py_XDECREF(exc);
    }
    py_interp_leave(parked);
}

PyObject *hooks_request_started(PyObject *environ, bool *ok)
{
    PyObject *r = PyObject_CallOneArg(on_request_start, environ);
    if (!r || !PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2) {
        *ok = false;
        Py_XDECREF(r);
        return NULL; /* with the glue's error set */
    }
    *ok = PyTuple_GET_ITEM(r, 1) == Py_True;
    PyObject *req = Py_NewRef(PyTuple_GET_ITEM(r, 0));
    Py_DECREF(r);
    return req;
}

void hooks_request_finished(PyObject *req, PyObject *environ, const py_reply_t *reply)
{
    PyObject *headers = PyList_New(0);
    for (size_t i = 0; headers && reply && i < reply->header_count; i++) {
        const py_header_t *h = &reply->headers[i];
        PyObject *pair = Py_BuildValue("(s#s#)", h->name.ptr, (Py_ssize_t)h->name.len, h->value.ptr,
                                       (Py_ssize_t)h->value.len);
        if (!pair || PyList_Append(headers, pair) < 0)
            Py_CLEAR(headers);
        Py_XDECREF(pair);
    }
    static const char failed[] = "500 Internal Server Error";
    PyObject *r = NULL;
    if (headers)
        r = PyObject_CallFunction(on_request_end, "OOs#OL", req, environ ? environ : Py_None,
                                  reply ? reply->status.ptr : failed,
                                  (Py_ssize_t)(reply ? reply->status.len : sizeof(failed) - 1),
                                  headers, (long long)(reply ? reply->body_sent : 0));
    if (!r) {
        PyObject *exc = compat_err_take();
        static const char line[] = "server hooks: post_request failed";
        py_log_error(line, sizeof(line) - 1, exc);
        Py_XDECREF(exc);
    }
    Py_XDECREF(r);
    Py_XDECREF(headers);
}
