/* The application's errors, with their tracebacks, through common/log. */
#include "python_bridge/errors.h"

#include "common/log.h"

#include <stdio.h>
#include <string.h>

void py_exc_summary(PyObject *exc, char *buf, size_t buflen)
{
    if (!buflen)
        return;
    buf[0] = 0;
    if (!exc) {
        snprintf(buf, buflen, "unknown error");
        return;
    }
    const char *name = Py_TYPE(exc)->tp_name;
    const char *dot = strrchr(name, '.');
    if (dot)
        name = dot + 1;
    PyObject *s = PyObject_Str(exc);
    const char *text = s ? PyUnicode_AsUTF8(s) : NULL;
    if (!text)
        PyErr_Clear();
    if (text && text[0])
        snprintf(buf, buflen, "%s: %s", name, text);
    else
        snprintf(buf, buflen, "%s", name);
    Py_XDECREF(s);
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

/* The traceback of `exc` as Python prints it, as UTF-8 bytes (new reference), or NULL
 * (no exception left set) when it cannot be formatted. */
static PyObject *format_traceback(PyObject *exc)
{
    PyObject *mod = PyImport_ImportModule("traceback");
    PyObject *tb = PyException_GetTraceback(exc);
    PyObject *lines = mod ? PyObject_CallMethod(mod, "format_exception", "OOO", Py_TYPE(exc), exc,
                                                tb ? tb : Py_None)
                          : NULL;
    PyObject *sep = lines ? PyUnicode_FromStringAndSize("", 0) : NULL;
    PyObject *text = sep ? PyUnicode_Join(sep, lines) : NULL;
    PyObject *out = text ? PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace") : NULL;
    if (!out)
        PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(sep);
    Py_XDECREF(lines);
    Py_XDECREF(tb);
    Py_XDECREF(mod);
    return out;
}

/* Whatever the application printed to sys.stderr without a newline goes out before our
 * line, not in the middle of it. */
static void flush_stderr(void)
{
    PyObject *f = PySys_GetObject("stderr"); /* borrowed */
    if (!f || f == Py_None)
        return;
    PyObject *r = PyObject_CallMethod(f, "flush", NULL);
    if (!r)
        PyErr_Clear();
    Py_XDECREF(r);
}

void py_log_error(const char *msg, size_t len, PyObject *exc)
{
    flush_stderr();
    PyObject *tb = exc ? format_traceback(exc) : NULL; /* owned */
    if (tb) {
        /* line and traceback in one record: one write(2), so the master's and the other
         * workers' lines never land inside the traceback, and one message for the sink */
        log_text_detail(LOG_LEVEL_ERROR, msg, len, PyBytes_AS_STRING(tb),
                        (size_t)PyBytes_GET_SIZE(tb));
        Py_DECREF(tb);
        return;
    }
    log_text(LOG_LEVEL_ERROR, msg, len);
    if (exc)
        compat_err_display(exc); /* formatting failed: Python prints it its own way */
}
