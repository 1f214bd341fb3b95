/* What --reload asks of Python: module files, the application's directory, a stand-in. */
#include "python_bridge/reload.h"

#include <string.h>

#include "common/mem.h"
#include "python_bridge/compat.h"

long py_reload_module_count(void)
{
    PyObject *modules = PySys_GetObject("modules"); /* borrowed */
    return modules && PyDict_Check(modules) ? (long)PyDict_Size(modules) : -1;
}

/* The file of one module as a filesystem path (bytes, owned), or NULL without one. A
 * module's __getattr__ may raise: that is "no file", never an error for the caller. */
static PyObject *module_file(PyObject *module)
{
    PyObject *file = PyObject_GetAttrString(module, "__file__");
    if (!file) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *bytes = PyUnicode_Check(file) ? PyUnicode_EncodeFSDefault(file) : NULL;
    Py_DECREF(file);
    if (!bytes)
        PyErr_Clear();
    return bytes;
}

int py_reload_module_files(void (*add)(const char *path, void *ctx), void *ctx)
{
    PyObject *modules = PySys_GetObject("modules"); /* borrowed */
    if (!modules || !PyDict_Check(modules))
        return -1;
    /* a copy: reading an attribute may import, and the dict must not change under us */
    PyObject *values = PyDict_Values(modules);
    if (!values) {
        PyErr_Clear();
        return -1;
    }
    int n = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
        PyObject *bytes = module_file(PyList_GET_ITEM(values, i));
        if (!bytes)
            continue;
        char *path = uf_strdup(PyBytes_AS_STRING(bytes));
        Py_DECREF(bytes);
        size_t len = strlen(path);
        if (len > 4 && (strcmp(path + len - 4, ".pyc") == 0 || strcmp(path + len - 4, ".pyo") == 0))
            path[len - 1] = 0;
        add(path, ctx);
        uf_free(path);
        n++;
    }
    Py_DECREF(values);
    return n;
}

int py_reload_app_root(const char *spec, char *out, size_t outlen)
{
    size_t toplen = strcspn(spec, ".:");
    PyObject *name = PyUnicode_FromStringAndSize(spec, (Py_ssize_t)toplen);
    PyObject *util = name ? PyImport_ImportModule("importlib.util") : NULL;
    PyObject *found = util ? PyObject_CallMethod(util, "find_spec", "O", name) : NULL;
    PyObject *origin = found && found != Py_None ? PyObject_GetAttrString(found, "origin") : NULL;
    PyObject *bytes = origin && PyUnicode_Check(origin) ? PyUnicode_EncodeFSDefault(origin) : NULL;
    int rc = -1;
    if (bytes) {
        const char *path = PyBytes_AS_STRING(bytes);
        const char *slash = strrchr(path, '/');
        size_t dirlen = slash ? (size_t)(slash - path) : 0;
        if (slash && dirlen < outlen) {
            memcpy(out, path, dirlen);
            out[dirlen] = 0;
            rc = 0;
        }
    }
    PyErr_Clear();
    Py_XDECREF(bytes);
    Py_XDECREF(origin);
    Py_XDECREF(found);
    Py_XDECREF(util);
    Py_XDECREF(name);
    return rc;
}

/* The stand-in's call: `self` is the body (bytes). */
static PyObject *stand_in_call(PyObject *self, PyObject *args)
{
    PyObject *environ, *start_response;
    if (!PyArg_ParseTuple(args, "OO", &environ, &start_response))
        return NULL;
    PyObject *length = PyUnicode_FromFormat("%zd", PyBytes_GET_SIZE(self));
    PyObject *headers = length
                            ? Py_BuildValue("[(ss)(sN)]", "Content-Type",
                                            "text/plain; charset=utf-8", "Content-Length", length)
                            : NULL;
    if (!headers)
        return NULL;
    PyObject *r = PyObject_CallFunction(start_response, "sN", "500 Internal Server Error", headers);
    if (!r)
        return NULL;
    Py_DECREF(r);
    return Py_BuildValue("[O]", self);
}

static PyMethodDef stand_in_def = {"reload_stand_in", stand_in_call, METH_VARARGS,
                                   "answers 500 with why the application could not be imported"};

py_app_t *py_reload_stand_in(const char *message)
{
    PyObject *body = PyBytes_FromFormat("%s\n", message);
    PyObject *fn = body ? PyCFunction_New(&stand_in_def, body) : NULL;
    Py_XDECREF(body); /* the function holds it */
    if (!fn) {
        PyErr_Clear();
        return NULL;
    }
    py_app_t *app = uf_calloc(1, sizeof(*app));
    app->callable = fn; /* owned by the app */
    return app;
}
