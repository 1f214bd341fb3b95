/* The one place python_bridge includes Python.h: CPython version differences, written
 * once as small helpers named after what they do, so that interp.c and wsgi.c read the
 * same against every supported CPython (3.8, the first with PyConfig, and newer). Also
 * the two definitions interp.c and wsgi.c share (the loaded application, the cache
 * release), which must not leak into the public headers because those stay free of
 * Python.h.
 */
#ifndef UF_PY_COMPAT_H
#define UF_PY_COMPAT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>

#if PY_VERSION_HEX < 0x03080000
#error "python_bridge needs CPython 3.8 or newer (PEP 587 PyConfig)"
#endif

/* Py_NewRef/Py_XNewRef arrived in 3.10. */
#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *compat_newref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
static inline PyObject *compat_xnewref(PyObject *o)
{
    Py_XINCREF(o);
    return o;
}
#define Py_NewRef(o)  compat_newref((PyObject *)(o))
#define Py_XNewRef(o) compat_xnewref((PyObject *)(o))
#endif

/* PyObject_CallOneArg/PyObject_CallNoArgs/PyObject_Vectorcall are public from 3.9; 3.8
 * has the underscored vectorcall. */
#if PY_VERSION_HEX < 0x03090000
#define PyObject_Vectorcall _PyObject_Vectorcall
static inline PyObject *PyObject_CallOneArg(PyObject *f, PyObject *arg)
{
    return _PyObject_Vectorcall(f, &arg, 1, NULL);
}
static inline PyObject *PyObject_CallNoArgs(PyObject *f)
{
    return _PyObject_Vectorcall(f, NULL, 0, NULL);
}
#endif

/* PyObject_CallMethodNoArgs/PyObject_CallMethodOneArg are public from 3.9. */
#if PY_VERSION_HEX < 0x03090000
#define PyObject_CallMethodNoArgs(o, name)      PyObject_CallMethodObjArgs((o), (name), NULL)
#define PyObject_CallMethodOneArg(o, name, arg) PyObject_CallMethodObjArgs((o), (name), (arg), NULL)
#endif

/* Looks up an attribute that may be missing without raising and clearing an
 * AttributeError (a measurable cost when done per request). Returns 1 with *out set (a
 * new reference), 0 when absent, -1 with an exception set. Public from 3.13. */
static inline int compat_getattr_optional(PyObject *o, PyObject *name, PyObject **out)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttr(o, name, out);
#else
    return _PyObject_LookupAttr(o, name, out);
#endif
}

/* The same, by a C string name (used off the hot path). */
static inline int compat_getattr_optional_str(PyObject *o, const char *name, PyObject **out)
{
    PyObject *key = PyUnicode_FromString(name);
    if (!key)
        return -1;
    int rc = compat_getattr_optional(o, key, out);
    Py_DECREF(key);
    return rc;
}

/* A dict with room for `n` items before it must grow. The private constructor exists
 * through 3.13 at least; where it does not, the dict just grows on demand. */
static inline PyObject *compat_dict_presized(Py_ssize_t n)
{
#if PY_VERSION_HEX < 0x030E0000
    return _PyDict_NewPresized(n);
#else
    (void)n;
    return PyDict_New();
#endif
}

/* Py_TPFLAGS_DISALLOW_INSTANTIATION (3.10) keeps Python code from creating our internal
 * callables; before that, such an instance is zeroed and inert (both callables check
 * that they belong to a live response before touching anything). */
#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define Py_TPFLAGS_DISALLOW_INSTANTIATION 0
#endif

/* Strings made by the legacy wchar_t API may need PyUnicode_READY before their kind and
 * data can be read; 3.12 removed that API and made the call a deprecated no-op. Returns
 * 0, or -1 with an exception set. */
static inline int compat_unicode_ready(PyObject *s)
{
#if PY_VERSION_HEX < 0x030C0000
    return PyUnicode_READY(s);
#else
    (void)s;
    return 0;
#endif
}

/* Takes the pending exception out of the error indicator as one normalised object (a new
 * reference, or NULL when none is set), and prints one with its traceback to
 * sys.stderr. PyErr_Print is deliberately not used: on SystemExit it exits the process
 * (an application calling sys.exit() in a view must not kill the worker), and it stores
 * the exception in sys.last_value, which would keep the failed request's frames and
 * their locals alive until the next error. */
static inline PyObject *compat_err_take(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

static inline void compat_err_display(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_DisplayException(exc);
#else
    PyObject *tb = PyException_GetTraceback(exc);
    PyErr_Display((PyObject *)Py_TYPE(exc), exc, tb);
    Py_XDECREF(tb);
#endif
}

/* Puts an exception taken with compat_err_take back as the pending one (stealing the
 * reference). */
static inline void compat_err_restore(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyObject *tb = PyException_GetTraceback(exc);
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, tb);
#endif
}

/* PyIter_Send and its result codes arrived in 3.10 (with the am_send slot, which makes an
 * awaitable that finishes at once cost no StopIteration). Before, a coroutine is resumed
 * by its send() method and a StopIteration ends it; the value it carried is dropped (the
 * callers here ignore a coroutine's return value). */
#if PY_VERSION_HEX >= 0x030A0000
#define COMPAT_AM_SEND(fn) .am_send = (fn),
#else
typedef enum { PYGEN_RETURN = 0, PYGEN_ERROR = -1, PYGEN_NEXT = 1 } PySendResult;
#define COMPAT_AM_SEND(fn)
static inline PySendResult PyIter_Send(PyObject *iter, PyObject *arg, PyObject **presult)
{
    PyObject *r = PyObject_CallMethod(iter, "send", "O", arg);
    if (r) {
        *presult = r;
        return PYGEN_NEXT;
    }
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
        PyErr_Clear();
        *presult = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    }
    *presult = NULL;
    return PYGEN_ERROR;
}
#endif

/* Before 3.12 a process forked from a thread the threading module did not start keeps
 * that thread's _DummyThread as its main thread, without the thread-state lock that
 * threading._shutdown() asserts on: every multiprocessing child forked from one of our
 * application threads exits with status 1 after its work. 3.12 gives such a child a real
 * main thread; interp.c does the same after fork on older versions. */
#define COMPAT_CHILD_NEEDS_MAIN_THREAD (PY_VERSION_HEX < 0x030C0000)

/* ---- shared by interp.c and wsgi.c ------------------------------------------------ */

/* A loaded application: the WSGI callable (owned). Lives until the interpreter ends. */
struct py_app {
    PyObject *callable;
};

/* Drops the objects wsgi.c and its modules made (interned keys, constants, types, the
 * free list of replies); called by py_interp_finalize before Py_FinalizeEx. Defined in
 * wsgi.c. */
void py_wsgi_release_cache(void);

#endif
