/* ASGI workers: the application's interface, the event loop and the rounds it runs, the
 * lifespan protocol, and the request object that is each task's coroutine (asgi.h). */
#include "python_bridge/asgi.h"

#include "python_bridge/asgi_req.h"
#include "python_bridge/errors.h"
#include "common/log.h"
#include "common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* asgi.py, as the module _uwsgi_fast_asgi. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wc23-extensions"
static const char glue_src[] = {
#embed "asgi.py"
    , 0};
#pragma clang diagnostic pop

asgi_shared_t asgi_shared;

static struct {
    PyObject *glue;             /* _uwsgi_fast_asgi (owned) */
    PyObject *app;              /* the ASGI 3 callable (owned) */
    PyObject *lifespan;         /* the worker's Lifespan, NULL when off or unsupported */
    PyObject *cancelled_error;  /* asyncio.CancelledError */
    PyObject *tasks;            /* the request tasks still running (a set: the loop keeps
                                   only weak references to tasks); each leaves it when its
                                   coroutine ends (finish), with no done callback to run */
    PyObject *create_task;      /* loop.create_task, bound: under an app's task factory */
    PyObject *task_factory_of;  /* loop.get_task_factory, bound: asked once per request */
    PyObject *task_type;        /* asyncio.Task, made directly when there is no factory */
    PyObject *task_kwnames;     /* ("loop", "name") */
    uint64_t tasks_made;        /* names the next task */
    PyObject *call_soon;        /* loop.call_soon, bound: once per loop iteration */
    PyObject *on_ready;         /* the round, as the loop calls it (reader, call_soon) */
    PyObject *on_timer;         /* ... and as the deadline's TimerHandle calls it */
    PyObject *timer;            /* that handle, or NULL */
    uint64_t timer_at_ms;       /* when it fires (CLOCK_MONOTONIC) */
    const py_asgi_host_t *host; /* while py_asgi_run runs, else NULL */
    bool round_pending;         /* a call_soon of on_ready is queued */
    double disconnect_grace;    /* --asgi-disconnect-grace-period */
} asgi;

/* ---- the glue module ------------------------------------------------------------------- */

static int make_glue(void)
{
    if (asgi.glue)
        return 0;
    PyObject *code = Py_CompileString(glue_src, "<uwsgi-fast asgi.py>", Py_file_input);
    asgi.glue = code ? PyImport_ExecCodeModule("_uwsgi_fast_asgi", code) : NULL;
    Py_XDECREF(code);
    return asgi.glue ? 0 : -1;
}

/* The pending exception as one line in err (cleared). */
static void err_from_python(const char *what, char *err, size_t errlen)
{
    PyObject *exc = compat_err_take();
    char why[400];
    py_exc_summary(exc, why, sizeof(why));
    Py_XDECREF(exc);
    snprintf(err, errlen, "%s: %s", what, why);
}

/* Copies a str result into out ("" when it is not one). */
static void copy_text(PyObject *s, char *out, size_t outlen)
{
    const char *t = s && PyUnicode_Check(s) ? PyUnicode_AsUTF8(s) : NULL;
    if (!t)
        PyErr_Clear();
    snprintf(out, outlen, "%s", t ? t : "");
}

/* An int attribute of o, or -1. */
static long int_attr(PyObject *o, const char *name)
{
    PyObject *v = PyObject_GetAttrString(o, name);
    long n = v && PyLong_Check(v) ? PyLong_AsLong(v) : -1;
    Py_XDECREF(v);
    PyErr_Clear();
    return n;
}

/* Whether obj is certainly a WSGI callable, told without importing anything (a WSGI
 * worker should not pay for inspect and the asyncio glue): a plain function, or an object
 * whose __call__ is a method, that is no coroutine function, takes two or more positional
 * parameters and carries none of the markers asyncio and asgiref put on callables that
 * return awaitables. Anything else is left to asgi.py. */
static bool surely_wsgi(PyObject *obj)
{
    PyObject *fn = NULL;
    long self = 0;
    if (PyFunction_Check(obj)) {
        fn = Py_NewRef(obj);
    } else if (!PyType_Check(obj)) {
        PyObject *call = PyObject_GetAttrString(obj, "__call__");
        if (call && PyMethod_Check(call)) {
            fn = Py_NewRef(PyMethod_GET_FUNCTION(call));
            self = 1;
        }
        Py_XDECREF(call);
        PyErr_Clear();
    }
    if (!fn || !PyFunction_Check(fn)) {
        Py_XDECREF(fn);
        return false;
    }
    PyObject *code = PyFunction_GetCode(fn); /* borrowed */
    long flags = int_attr(code, "co_flags"), argc = int_attr(code, "co_argcount");
    int marked = PyObject_HasAttrString(fn, "_is_coroutine") ||
                 PyObject_HasAttrString(fn, "_is_coroutine_marker");
    Py_DECREF(fn);
    return flags >= 0 && !(flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE)) && argc - self >= 2 &&
           !marked;
}

int py_asgi_detect(py_app_t *app, const char *want, char *how, size_t howlen, char *err,
                   size_t errlen)
{
    if (strcmp(want, "wsgi") == 0 || (strcmp(want, "auto") == 0 && surely_wsgi(app->callable))) {
        snprintf(how, howlen, "WSGI (%s)", want[0] == 'w' ? "--interface wsgi" : "auto-detected");
        return 0;
    }
    if (make_glue() < 0) {
        err_from_python("cannot load the ASGI bridge", err, errlen);
        return -1;
    }
    PyObject *r = PyObject_CallMethod(asgi.glue, "detect", "Os", app->callable, want);
    if (!r || !PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 3) {
        Py_XDECREF(r);
        err_from_python("cannot tell the application's interface", err, errlen);
        return -1;
    }
    int is_asgi = PyObject_IsTrue(PyTuple_GET_ITEM(r, 1));
    copy_text(PyTuple_GET_ITEM(r, 2), how, howlen);
    if (is_asgi == 1)
        Py_SETREF(app->callable, Py_NewRef(PyTuple_GET_ITEM(r, 0))); /* an ASGI 2 wrapper */
    Py_DECREF(r);
    return is_asgi == 1;
}

/* ---- the rounds: the worker's loop, run by the event loop -------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Calls loop.<name>(args...) and returns its result (new reference); an error is
 * reported, not raised, and gives NULL: the callers are the loop's own callbacks, which
 * must not fail. */
static PyObject *loop_call(const char *name, const char *fmt, ...)
{
    PyObject *meth = PyObject_GetAttrString(asgi_shared.loop, name);
    if (!meth) {
        PyErr_WriteUnraisable(asgi_shared.loop);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    PyObject *args = Py_VaBuildValue(fmt, ap);
    va_end(ap);
    PyObject *r = args ? PyObject_Call(meth, args, NULL) : NULL;
    Py_XDECREF(args);
    Py_DECREF(meth);
    if (!r)
        PyErr_WriteUnraisable(asgi_shared.loop);
    return r;
}

void asgi_round_soon(void)
{
    if (asgi.round_pending || !asgi.host)
        return;
    PyObject *h = PyObject_CallOneArg(asgi.call_soon, asgi.on_ready);
    if (!h)
        PyErr_WriteUnraisable(asgi_shared.loop);
    asgi.round_pending = h != NULL;
    Py_XDECREF(h);
}

/* A handle on the loop for the worker's next deadline, unless one fires earlier. */
static void arm_timer(int ms)
{
    uint64_t at = now_ms() + (uint64_t)(ms > 0 ? ms : 0);
    if (asgi.timer && asgi.timer_at_ms <= at + 1)
        return;
    if (asgi.timer) {
        PyObject *r = PyObject_CallMethod(asgi.timer, "cancel", NULL);
        if (!r)
            PyErr_WriteUnraisable(asgi.timer);
        Py_XDECREF(r);
        Py_CLEAR(asgi.timer);
    }
    asgi.timer = loop_call("call_later", "(dO)", ms / 1000.0, asgi.on_timer);
    asgi.timer_at_ms = at;
}

static void run_round(void)
{
    const py_asgi_host_t *h = asgi.host;
    if (!h)
        return;
    bool again = false, finished = false;
    int ms = h->round(h->ctx, &again, &finished);
    if (finished) {
        PyObject *r = loop_call("stop", "()");
        Py_XDECREF(r);
        return;
    }
    if (again)
        asgi_round_soon();
    arm_timer(ms);
}

static PyObject *on_ready(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    asgi.round_pending = false;
    run_round();
    Py_RETURN_NONE;
}

static PyObject *on_timer(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    Py_CLEAR(asgi.timer);
    run_round();
    Py_RETURN_NONE;
}

static PyMethodDef on_ready_def = {"_uwsgi_fast_round", on_ready, METH_NOARGS, NULL};
static PyMethodDef on_timer_def = {"_uwsgi_fast_deadline", on_timer, METH_NOARGS, NULL};

int py_asgi_run(const py_asgi_host_t *host)
{
    asgi.host = host;
    int rc = -1;
    PyObject *r = loop_call("add_reader", "(iO)", host->fd, asgi.on_ready);
    if (r) {
        Py_DECREF(r);
        run_round(); /* submits what the worker queued while it booted (its accepts) */
        r = PyObject_CallMethod(asgi_shared.loop, "run_forever", NULL);
        if (!r) {
            PyObject *exc = compat_err_take();
            static const char what[] = "the ASGI event loop failed";
            py_log_error(what, sizeof(what) - 1, exc);
            Py_XDECREF(exc);
        }
        rc = r ? 0 : -1;
        Py_XDECREF(r);
        r = loop_call("remove_reader", "(i)", host->fd);
        Py_XDECREF(r);
    }
    if (asgi.timer) {
        r = PyObject_CallMethod(asgi.timer, "cancel", NULL);
        Py_XDECREF(r);
        PyErr_Clear();
        Py_CLEAR(asgi.timer);
    }
    asgi.host = NULL;
    return rc;
}

/* ---- the request object as the task's coroutine ------------------------------------------ */

static void step_mark(const char *line)
{
    const py_asgi_host_t *h = asgi.host;
    if (h && h->step)
        h->step(h->ctx, line);
}

/* The application let `exc` escape. After the client has gone, an OSError (our send()'s)
 * or Starlette's ClientDisconnect is the expected way for a stream to stop: not an
 * error. */
static void report(py_asgi_req_t *r, PyObject *exc)
{
    const char *name = exc ? Py_TYPE(exc)->tp_name : "";
    if (r->disconnected && exc &&
        (PyObject_IsInstance(exc, PyExc_OSError) == 1 || strstr(name, "ClientDisconnect"))) {
        log_debug("request %s ended after its client disconnected", r->line);
        PyErr_Clear();
        return;
    }
    PyErr_Clear();
    char what[192];
    int n = snprintf(what, sizeof(what), "Error handling request %s", r->line);
    py_log_error(what, (size_t)n < sizeof(what) ? (size_t)n : sizeof(what) - 1, exc);
}

/* The task is over: the worker answers for what the application left undone. */
static void finish(py_asgi_req_t *r, bool failed)
{
    Py_CLEAR(r->coro);
    if (r->task && PySet_Discard(asgi.tasks, r->task) < 0)
        PyErr_Clear(); /* (a task is hashable: this cannot fail) */
    Py_CLEAR(r->task);
    if (r->ended)
        return;
    r->ended = true;
    const char *why = NULL;
    if (r->phase == ASGI_TRAILERS && !failed && asgi_io_end_trailers(r, &why) < 0)
        log_error("ASGI response to %s: %s", r->line, why);
    if (r->owner) {
        const py_asgi_ops_t *ops = asgi_shared.ops;
        ops->done(ops->ctx, r->owner, failed);
        asgi_round_soon();
    }
}

/* What one step of the application's coroutine came to, as the task must see it: a yield
 * goes up; a return ends the task; an exception is reported and ends it quietly (the
 * worker answered for it), except cancellation, which the task must see to be
 * cancelled. */
static PySendResult outcome(py_asgi_req_t *r, PySendResult st, PyObject **result)
{
    if (st == PYGEN_NEXT)
        return st;
    if (st == PYGEN_RETURN) {
        Py_CLEAR(*result);
        finish(r, false);
        *result = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    }
    PyObject *exc = compat_err_take();
    if (exc && PyObject_IsInstance(exc, asgi.cancelled_error) == 1) {
        finish(r, false);
        compat_err_restore(exc);
        return PYGEN_ERROR;
    }
    report(r, exc);
    Py_XDECREF(exc);
    finish(r, true);
    *result = Py_NewRef(Py_None);
    return PYGEN_RETURN;
}

static PySendResult req_step(PyObject *self, PyObject *arg, PyObject **result)
{
    py_asgi_req_t *r = (py_asgi_req_t *)self;
    if (!r->coro) {
        PyErr_SetString(PyExc_RuntimeError, "cannot resume a finished ASGI request");
        *result = NULL;
        return PYGEN_ERROR;
    }
    step_mark(r->line);
    PySendResult st = PyIter_Send(r->coro, arg, result);
    step_mark(NULL);
    return outcome(r, st, result);
}

/* The iterator protocol's spelling of a step: StopIteration for a return. */
static PyObject *as_iterator(PySendResult st, PyObject *result)
{
    if (st == PYGEN_NEXT)
        return result;
    if (st == PYGEN_RETURN) {
        Py_DECREF(result);
        PyErr_SetNone(PyExc_StopIteration);
    }
    return NULL;
}

static PyObject *req_send(PyObject *self, PyObject *arg)
{
    PyObject *result;
    PySendResult st = req_step(self, arg, &result);
    return as_iterator(st, result);
}

static PyObject *req_next(PyObject *self)
{
    return req_send(self, Py_None);
}

static PyObject *req_throw(PyObject *self, PyObject *args)
{
    py_asgi_req_t *r = (py_asgi_req_t *)self;
    if (!r->coro) {
        PyErr_SetString(PyExc_RuntimeError, "cannot resume a finished ASGI request");
        return NULL;
    }
    PyObject *throw = PyObject_GetAttrString(r->coro, "throw");
    if (!throw)
        return NULL;
    step_mark(r->line);
    PyObject *result = PyObject_Call(throw, args, NULL);
    step_mark(NULL);
    Py_DECREF(throw);
    PySendResult st = PYGEN_NEXT;
    if (!result) {
        st = PYGEN_ERROR;
        if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
            PyErr_Clear();
            result = Py_NewRef(Py_None);
            st = PYGEN_RETURN;
        }
    }
    return as_iterator(outcome(r, st, &result), result);
}

static PyObject *req_close(PyObject *self, PyObject *unused)
{
    (void)unused;
    py_asgi_req_t *r = (py_asgi_req_t *)self;
    if (r->coro) {
        PyObject *res = PyObject_CallMethod(r->coro, "close", NULL);
        if (!res)
            return NULL;
        Py_DECREF(res);
        Py_CLEAR(r->coro);
    }
    Py_RETURN_NONE;
}

static PyObject *req_await(PyObject *self)
{
    return Py_NewRef(self);
}

static int req_traverse(PyObject *self, visitproc visit, void *arg)
{
    py_asgi_req_t *r = (py_asgi_req_t *)self;
    Py_VISIT(r->coro);
    Py_VISIT(r->task);
    Py_VISIT(r->recv_waiter);
    Py_VISIT(r->send_waiter);
    Py_VISIT(r->headers);
    Py_VISIT(r->trailers);
    return asgi_ws_traverse(r, visit, arg);
}

static int req_clear(PyObject *self)
{
    py_asgi_req_t *r = (py_asgi_req_t *)self;
    Py_CLEAR(r->coro);
    Py_CLEAR(r->task);
    Py_CLEAR(r->recv_waiter);
    Py_CLEAR(r->send_waiter);
    Py_CLEAR(r->headers);
    Py_CLEAR(r->trailers);
    Py_CLEAR(r->status_line);
    asgi_ws_clear(r);
    return 0;
}

static void req_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    req_clear(self);
    Py_TYPE(self)->tp_free(self);
}

static PyMethodDef req_methods[] = {
    {"send", req_send, METH_O, NULL},
    {"throw", req_throw, METH_VARARGS, NULL},
    {"close", req_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods req_async = {.am_await = req_await, COMPAT_AM_SEND(req_step)};

static PyTypeObject req_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uwsgi_fast.ASGIRequest",
    .tp_basicsize = sizeof(py_asgi_req_t),
    .tp_dealloc = req_dealloc,
    .tp_as_async = &req_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_traverse = req_traverse,
    .tp_clear = req_clear,
    .tp_iter = req_await,
    .tp_iternext = req_next,
    .tp_methods = req_methods,
};

/* ---- setup ---------------------------------------------------------------------------- */

int py_asgi_open(py_app_t *app, const py_asgi_config_t *cfg, const py_asgi_ops_t *ops, char *how,
                 size_t howlen, char *err, size_t errlen)
{
    if (make_glue() < 0) {
        err_from_python("cannot load the ASGI bridge", err, errlen);
        return -1;
    }
    PyObject *made = PyObject_CallMethod(asgi.glue, "make_loop", "s", cfg->loop);
    if (!made || !PyTuple_Check(made) || PyTuple_GET_SIZE(made) != 2) {
        Py_XDECREF(made);
        err_from_python("cannot make the event loop", err, errlen);
        return -1;
    }
    asgi_shared.loop = Py_NewRef(PyTuple_GET_ITEM(made, 0));
    copy_text(PyTuple_GET_ITEM(made, 1), how, howlen);
    Py_DECREF(made);
    asgi_shared.ops = ops;
    asgi_shared.root_path = (py_slice_t){cfg->root_path ? cfg->root_path : "", cfg->root_path_len};
    asgi.disconnect_grace = cfg->disconnect_grace;
    asgi_shared.req_type = &req_type;
    asgi.app = Py_NewRef(app->callable);
    PyObject *asyncio = PyImport_ImportModule("asyncio");
    asgi.cancelled_error = asyncio ? PyObject_GetAttrString(asyncio, "CancelledError") : NULL;
    asgi.task_type = asyncio ? PyObject_GetAttrString(asyncio, "Task") : NULL;
    Py_XDECREF(asyncio);
    asgi.task_factory_of = PyObject_GetAttrString(asgi_shared.loop, "get_task_factory");
    asgi.task_kwnames = Py_BuildValue("(ss)", "loop", "name");
    asgi_shared.create_future = PyObject_GetAttrString(asgi_shared.loop, "create_future");
    asgi.call_soon = PyObject_GetAttrString(asgi_shared.loop, "call_soon");
    asgi_shared.disconnect_exc = PyErr_NewExceptionWithDoc(
        "uwsgi_fast.ClientDisconnected", "send() on a connection whose client has gone",
        PyExc_OSError, NULL);
    asgi.tasks = PySet_New(NULL);
    asgi.create_task = PyObject_GetAttrString(asgi_shared.loop, "create_task");
    asgi.on_ready = PyCFunction_New(&on_ready_def, NULL);
    asgi.on_timer = PyCFunction_New(&on_timer_def, NULL);
    PyObject *reg = NULL;
    if (asgi.cancelled_error && asgi_shared.create_future && asgi.call_soon &&
        asgi_shared.disconnect_exc && asgi.tasks && asgi.create_task && asgi.task_type &&
        asgi.task_factory_of && asgi.task_kwnames && asgi.on_ready && asgi.on_timer &&
        PyType_Ready(&req_type) == 0)
        reg = PyObject_CallMethod(asgi.glue, "register_coroutine", "O", (PyObject *)&req_type);
    Py_XDECREF(reg);
    if (!reg || asgi_io_setup() < 0 || asgi_scope_setup() < 0 || asgi_ws_setup() < 0) {
        err_from_python("cannot set up the ASGI bridge", err, errlen);
        return -1;
    }
    if (strcmp(cfg->lifespan, "off") != 0) {
        asgi.lifespan = PyObject_CallMethod(asgi.glue, "Lifespan", "Os", asgi.app, cfg->lifespan);
        if (!asgi.lifespan) {
            err_from_python("cannot set up the lifespan protocol", err, errlen);
            return -1;
        }
    }
    return 0;
}

int py_asgi_startup(char *err, size_t errlen)
{
    if (!asgi.lifespan)
        return 0;
    PyObject *r = PyObject_CallMethod(asgi.glue, "startup", "OO", asgi_shared.loop, asgi.lifespan);
    if (!r || !PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 3) {
        Py_XDECREF(r);
        err_from_python("ASGI lifespan startup", err, errlen);
        return -1;
    }
    char kind[16], message[400];
    copy_text(PyTuple_GET_ITEM(r, 0), kind, sizeof(kind));
    copy_text(PyTuple_GET_ITEM(r, 1), message, sizeof(message));
    PyObject *exc = PyTuple_GET_ITEM(r, 2); /* borrowed */
    int rc = 0;
    if (strcmp(kind, "ok") == 0) {
        asgi_shared.state = PyObject_GetAttrString(asgi.lifespan, "state");
        if (!asgi_shared.state)
            PyErr_Clear();
        log_info("ASGI lifespan: startup complete");
    } else if (strcmp(kind, "unsupported") == 0) {
        char why[300] = "it returned";
        if (exc != Py_None)
            py_exc_summary(exc, why, sizeof(why));
        log_info("ASGI lifespan: not supported by the application (%s); serving without it", why);
        Py_CLEAR(asgi.lifespan);
    } else {
        if (exc != Py_None) {
            static const char what[] = "ASGI lifespan startup failed";
            py_log_error(what, sizeof(what) - 1, exc);
        }
        snprintf(err, errlen, "ASGI lifespan startup failed: %s", message);
        rc = -1;
    }
    Py_DECREF(r);
    return rc;
}

void py_asgi_shutdown(double seconds)
{
    PyObject *r = PyObject_CallMethod(asgi.glue, "finish", "OOd", asgi_shared.loop,
                                      asgi.lifespan ? asgi.lifespan : Py_None, seconds);
    if (!r) {
        PyObject *exc = compat_err_take();
        static const char what[] = "the ASGI worker's shutdown failed";
        py_log_error(what, sizeof(what) - 1, exc);
        Py_XDECREF(exc);
        return;
    }
    if (r != Py_None) {
        char message[400];
        copy_text(r, message, sizeof(message));
        log_warning("ASGI %s", message);
    } else if (asgi.lifespan) {
        log_info("ASGI lifespan: shutdown complete");
    }
    Py_DECREF(r);
    asgi_io_teardown();
    asgi_scope_teardown();
    asgi_ws_teardown();
}

/* ---- per request ------------------------------------------------------------------------- */

/* The application's coroutine for the request, as an iterator the task can step. */
static PyObject *call_app(py_asgi_req_t *r, const py_request_t *req)
{
    PyObject *scope = asgi_scope_new(req);
    PyObject *receive = scope ? asgi_io_receive(r) : NULL;
    PyObject *send = receive ? asgi_io_send(r) : NULL;
    PyObject *coro = NULL;
    if (send) {
        PyObject *argv[3] = {scope, receive, send};
        coro = PyObject_Vectorcall(asgi.app, argv, 3, NULL);
    }
    Py_XDECREF(scope);
    Py_XDECREF(receive);
    Py_XDECREF(send);
    if (!coro || PyCoro_CheckExact(coro))
        return coro;
    /* another awaitable (an object with __await__): its iterator is what is stepped */
    PyAsyncMethods *am = Py_TYPE(coro)->tp_as_async;
    PyObject *it = am && am->am_await ? am->am_await(coro) : NULL;
    if (!it && !PyErr_Occurred())
        PyErr_Format(PyExc_TypeError, "the ASGI application returned %.80s, not an awaitable",
                     Py_TYPE(coro)->tp_name);
    Py_DECREF(coro);
    return it;
}

/* "request-N", N counting this worker's tasks: unique like asyncio's own "Task-N" (which
 * logging shows as taskName from Python 3.12), without PyUnicode_FromFormat, which cost
 * a fortieth of a worker's CPU on a hello app. */
static PyObject *task_name(void)
{
    char text[32] = "request-", digits[20];
    size_t n = 0, at = 8;
    for (uint64_t v = ++asgi.tasks_made; v; v /= 10)
        digits[n++] = (char)('0' + v % 10);
    while (n)
        text[at++] = digits[--n];
    return PyUnicode_FromStringAndSize(text, (Py_ssize_t)at);
}

/* The request's task. asyncio.Task made directly, not through loop.create_task: uvloop's
 * create_task goes through a keyword call of its own and names the task twice (asyncio's
 * default name, then ours), which together cost a twentieth of a hello request's CPU. An
 * application that installed a task factory (in its lifespan, say) has it used. */
static PyObject *make_task(py_asgi_req_t *r)
{
    PyObject *factory = PyObject_CallNoArgs(asgi.task_factory_of);
    if (!factory)
        return NULL;
    PyObject *task = NULL;
    if (factory != Py_None) {
        task = PyObject_CallOneArg(asgi.create_task, (PyObject *)r);
    } else {
        PyObject *name = task_name();
        PyObject *argv[3] = {(PyObject *)r, asgi_shared.loop, name};
        task = name ? PyObject_Vectorcall(asgi.task_type, argv, 1, asgi.task_kwnames) : NULL;
        Py_XDECREF(name);
    }
    Py_DECREF(factory);
    return task;
}

py_asgi_req_t *py_asgi_start(const py_request_t *req, void *owner, const char *line)
{
    py_asgi_req_t *r = PyObject_GC_New(py_asgi_req_t, &req_type);
    if (!r)
        return NULL;
    memset((char *)r + sizeof(PyObject), 0, sizeof(*r) - sizeof(PyObject));
    r->content_length = -1;
    r->trailers_ok = asgi_scope_trailers_allowed(req);
    r->websocket = req->websocket;
    size_t n = strnlen(line, sizeof(r->line) - 1);
    memcpy(r->line, line, n);
    r->line[n] = 0;
    PyObject_GC_Track((PyObject *)r);
    r->coro = call_app(r, req);
    PyObject *task = r->coro ? make_task(r) : NULL;
    if (!task || PySet_Add(asgi.tasks, task) < 0) {
        Py_XDECREF(task);
        PyObject *exc = compat_err_take();
        report(r, exc);
        Py_XDECREF(exc);
        Py_DECREF(r);
        return NULL;
    }
    r->task = task; /* (the reference make_task gave) */
    r->owner = owner;
    return r;
}

/* ---- the worker's news for a request --------------------------------------------------------- */

void py_asgi_body_ready(py_asgi_req_t *r)
{
    if (!asgi_io_waiting(&r->recv_waiter))
        return;
    PyObject *m = r->websocket ? asgi_ws_next_message(r) : asgi_io_next_message(r);
    if (m) {
        asgi_io_resolve(&r->recv_waiter, m, NULL);
        Py_DECREF(m);
    } else if (PyErr_Occurred()) {
        PyErr_WriteUnraisable((PyObject *)r);
    }
}

void py_asgi_send_ready(py_asgi_req_t *r)
{
    asgi_io_resolve(&r->send_waiter, Py_None, NULL);
}

/* receive() waiters learn that no more is coming. */
static void wake_disconnect(py_asgi_req_t *r)
{
    if (!asgi_io_waiting(&r->recv_waiter))
        return;
    PyObject *m = r->websocket ? asgi_ws_next_message(r) : asgi_io_disconnect_message();
    if (m)
        asgi_io_resolve(&r->recv_waiter, m, NULL);
    else
        PyErr_WriteUnraisable((PyObject *)r);
    Py_XDECREF(m);
}

/* The client left while the task runs: it has http.disconnect and send() raising to
 * stop by itself, and --asgi-disconnect-grace-period to do so (gunicorn's setting) before
 * it is cancelled, so that a handler awaiting something else entirely cannot hold the
 * connection's memory (and a drain) forever. */
static void cancel_later(py_asgi_req_t *r)
{
    if (!r->task || r->ended || r->cancel_set)
        return;
    r->cancel_set = true;
    PyObject *cancel = PyObject_GetAttrString(r->task, "cancel");
    PyObject *handle = !cancel ? NULL
                       : asgi.disconnect_grace > 0
                           ? PyObject_CallMethod(asgi_shared.loop, "call_later", "dO",
                                                 asgi.disconnect_grace, cancel)
                           : PyObject_CallNoArgs(cancel);
    if (!handle) {
        PyObject *exc = compat_err_take();
        report(r, exc);
        Py_XDECREF(exc);
    }
    Py_XDECREF(handle);
    Py_XDECREF(cancel);
    log_debug("request %s: the client left; its task is cancelled in %.3g s unless it ends",
              r->line, asgi.disconnect_grace);
}

void py_asgi_disconnect(py_asgi_req_t *r)
{
    r->disconnected = true;
    wake_disconnect(r);
    cancel_later(r);
}

void py_asgi_detach(py_asgi_req_t *r, bool gone)
{
    r->owner = NULL;
    if (gone) {
        r->gone = r->disconnected = true;
        asgi_io_resolve(&r->send_waiter, NULL, asgi_shared.disconnect_exc);
        cancel_later(r);
    } else {
        asgi_io_resolve(&r->send_waiter, Py_None, NULL);
    }
    wake_disconnect(r);
    Py_DECREF(r);
}
