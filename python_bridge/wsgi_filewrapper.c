/* wsgi.file_wrapper: the type, and recognising a regular file behind one. */
#include "python_bridge/wsgi_filewrapper.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct filewrapper {
    PyObject ob_base;
    PyObject *filelike; /* owned */
    Py_ssize_t blksize;
} filewrapper_t;

/* Made by wsgi_filewrapper_setup: the type and the method names looked up on files. */
static PyTypeObject *filewrapper_type;
static PyObject *read_name, *close_name, *fileno_name, *tell_name;

static PyObject *filewrapper_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"filelike", "block_size", NULL};
    PyObject *filelike;
    Py_ssize_t blksize = 8192;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n:file_wrapper", kwlist, &filelike, &blksize))
        return NULL;
    filewrapper_t *fw = (filewrapper_t *)type->tp_alloc(type, 0);
    if (!fw)
        return NULL;
    fw->filelike = Py_NewRef(filelike);
    fw->blksize = blksize > 0 ? blksize : 8192;
    return (PyObject *)fw;
}

static PyObject *filewrapper_iternext(PyObject *self)
{
    filewrapper_t *fw = (filewrapper_t *)self;
    if (!fw->filelike)
        return NULL;
    PyObject *n = PyLong_FromSsize_t(fw->blksize);
    if (!n)
        return NULL;
    PyObject *data = PyObject_CallMethodObjArgs(fw->filelike, read_name, n, NULL);
    Py_DECREF(n);
    if (!data)
        return NULL;
    Py_ssize_t len = PyObject_Length(data);
    if (len < 0)
        PyErr_Clear(); /* not sized: the body loop names the wrong type */
    else if (len == 0)
        Py_CLEAR(data); /* end of file: StopIteration */
    return data;
}

/* close() is the filelike's (PEP 3333: the server calls the wrapper's close(), which
 * must close the file; Django routes its response's close() through it). */
static PyObject *filewrapper_close(PyObject *self, PyObject *unused)
{
    (void)unused;
    filewrapper_t *fw = (filewrapper_t *)self;
    PyObject *close;
    if (!fw->filelike)
        Py_RETURN_NONE;
    int found = compat_getattr_optional(fw->filelike, close_name, &close);
    if (found < 0)
        return NULL;
    if (found == 0)
        Py_RETURN_NONE;
    PyObject *r = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    return r;
}

static int filewrapper_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((filewrapper_t *)self)->filelike);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int filewrapper_clear(PyObject *self)
{
    Py_CLEAR(((filewrapper_t *)self)->filelike);
    return 0;
}

static void filewrapper_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    filewrapper_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *filewrapper_getfilelike(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *f = ((filewrapper_t *)self)->filelike;
    return Py_NewRef(f ? f : Py_None);
}

/* seekable(), seek() and tell() forward to the file when it has them, so that
 * middleware cutting a range out of the response (werkzeug's _RangeWrapper) can seek
 * instead of reading its way to the start. */
static PyObject *forward(PyObject *self, const char *name, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *fallback)
{
    PyObject *f = ((filewrapper_t *)self)->filelike, *meth;
    int found = f ? compat_getattr_optional_str(f, name, &meth) : 0;
    if (found < 0)
        return NULL;
    if (found == 0)
        return Py_NewRef(fallback);
    PyObject *r = PyObject_Vectorcall(meth, args, (size_t)nargs, NULL);
    Py_DECREF(meth);
    return r;
}

static PyObject *filewrapper_seekable(PyObject *self, PyObject *unused)
{
    (void)unused;
    PyObject *f = ((filewrapper_t *)self)->filelike, *meth;
    int found = f ? compat_getattr_optional_str(f, "seekable", &meth) : 0;
    if (found < 0)
        return NULL;
    if (found > 0) {
        PyObject *r = PyObject_CallNoArgs(meth);
        Py_DECREF(meth);
        return r;
    }
    found = f ? compat_getattr_optional_str(f, "seek", &meth) : 0;
    if (found < 0)
        return NULL;
    Py_XDECREF(meth);
    return PyBool_FromLong(found > 0);
}

static PyObject *filewrapper_seek(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return forward(self, "seek", args, nargs, Py_None);
}

static PyObject *filewrapper_tell(PyObject *self, PyObject *unused)
{
    (void)unused;
    return forward(self, "tell", NULL, 0, Py_None);
}

static PyMethodDef filewrapper_methods[] = {
    {"close", filewrapper_close, METH_NOARGS, "close(): closes the wrapped file"},
    {"seekable", filewrapper_seekable, METH_NOARGS, "seekable(): whether seek() works"},
    {"seek", (PyCFunction)(void (*)(void))filewrapper_seek, METH_FASTCALL,
     "seek(offset, whence=0): the wrapped file's seek()"},
    {"tell", filewrapper_tell, METH_NOARGS, "tell(): the wrapped file's position"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef filewrapper_getset[] = {
    {"filelike", filewrapper_getfilelike, NULL, "the wrapped file-like object", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot filewrapper_slots[] = {
    {Py_tp_new, (void *)filewrapper_new},
    {Py_tp_iter, (void *)PyObject_SelfIter},
    {Py_tp_iternext, (void *)filewrapper_iternext},
    {Py_tp_methods, filewrapper_methods},
    {Py_tp_getset, filewrapper_getset},
    {Py_tp_traverse, (void *)filewrapper_traverse},
    {Py_tp_clear, (void *)filewrapper_clear},
    {Py_tp_dealloc, (void *)filewrapper_dealloc},
    {Py_tp_doc, (void *)"wsgi.file_wrapper(filelike, block_size=8192): a file as a response "
                        "body, sent by the server without passing through Python"},
    {0, NULL},
};
static PyType_Spec filewrapper_spec = {
    .name = "uwsgi_fast.FileWrapper",
    .basicsize = sizeof(filewrapper_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = filewrapper_slots,
};

int wsgi_filewrapper_setup(void)
{
    if (!(read_name = PyUnicode_InternFromString("read")) ||
        !(close_name = PyUnicode_InternFromString("close")) ||
        !(fileno_name = PyUnicode_InternFromString("fileno")) ||
        !(tell_name = PyUnicode_InternFromString("tell")))
        return -1;
    filewrapper_type = (PyTypeObject *)PyType_FromSpec(&filewrapper_spec);
    return filewrapper_type ? 0 : -1;
}

void wsgi_filewrapper_teardown(void)
{
    Py_CLEAR(read_name);
    Py_CLEAR(close_name);
    Py_CLEAR(fileno_name);
    Py_CLEAR(tell_name);
    Py_CLEAR(filewrapper_type); /* live instances keep it alive by reference */
}

PyObject *wsgi_filewrapper_type(void)
{
    return (PyObject *)filewrapper_type;
}

/* Calls obj.<name>() when obj has that method, and returns the result as an integer;
 * -1 for a missing method, a failed call or a non-int result. Clears any exception:
 * io.UnsupportedOperation and friends mean "not a real file". */
static long long call_for_int(PyObject *obj, PyObject *name)
{
    PyObject *meth, *res = NULL;
    long long v = -1;
    if (compat_getattr_optional(obj, name, &meth) > 0) {
        res = PyObject_CallNoArgs(meth);
        Py_DECREF(meth);
        v = res && PyLong_Check(res) ? PyLong_AsLongLong(res) : -1;
    }
    Py_XDECREF(res);
    PyErr_Clear();
    return v;
}

/* Why tell() rather than lseek: a buffered file's descriptor may be ahead of what the
 * application has consumed, and PEP 3333 says to "begin at the current position". */
int wsgi_filewrapper_file(PyObject *obj, int *fd, int64_t *offset, int64_t *length)
{
    if (Py_TYPE(obj) != filewrapper_type)
        return 0;
    PyObject *f = ((filewrapper_t *)obj)->filelike;
    if (!f)
        return 0;
    long long desc = call_for_int(f, fileno_name);
    struct stat st;
    if (desc < 0 || desc > INT32_MAX || fstat((int)desc, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    int64_t off = call_for_int(f, tell_name);
    if (off < 0)
        off = (int64_t)lseek((int)desc, 0, SEEK_CUR);
    if (off < 0)
        return 0;
    *fd = (int)desc;
    *offset = off;
    *length = (int64_t)st.st_size > off ? (int64_t)st.st_size - off : 0;
    return 1;
}
