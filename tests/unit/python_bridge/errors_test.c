/* python_bridge/errors: an application error goes through common/log: the line carries
 * the worker tag, the traceback follows it in the same record, the sink gets both,
 * sys.stderr's unterminated output comes first, the request target is escaped, the level
 * filter applies; py_exc_summary's one line. */
#include "python_bridge/errors.c"

#include "check.h"
#include "py_helpers.h"

static struct {
    int calls;
    int level;
    char msg[8192];
} sunk;

static void sink(void *ctx, int level, const char *msg, size_t len)
{
    (void)ctx;
    sunk.calls++;
    sunk.level = level;
    snprintf(sunk.msg, sizeof(sunk.msg), "%.*s", (int)len, msg);
}

/* An exception raised by Python code, with its traceback (new reference). */
static PyObject *raised(const char *message)
{
    char code[256];
    snprintf(code, sizeof(code), "def fail():\n    raise ValueError(%s)\n", message);
    py_exec(code);
    PyObject *r =
        PyRun_String("fail()", Py_eval_input, PyModule_GetDict(PyImport_AddModule("__main__")),
                     PyModule_GetDict(PyImport_AddModule("__main__")));
    CHECK(r == NULL);
    Py_XDECREF(r);
    return compat_err_take();
}

static void test_line_and_traceback(void)
{
    log_set_worker(4);
    log_set_sink(sink, NULL);
    PyObject *exc = raised("'sentinel-x'");
    CHECK(exc != NULL);
    static const char msg[] = "Error handling request GET /a\nb";
    capture_begin();
    py_exec("import sys; sys.stderr.write('partial-without-newline')");
    py_log_error(msg, sizeof(msg) - 1, exc);
    char *out = capture_end();
    Py_XDECREF(exc);
    CHECK(!PyErr_Occurred());

    /* the application's unterminated output first, then our line, tagged and escaped */
    CHECK(strncmp(out, "partial-without-newline[", 24) == 0);
    const char *line = strstr(out, "] [ERROR] [worker 4] Error handling request GET /a\\x0ab\n"
                                   "Traceback (most recent call last):\n");
    CHECK(line != NULL);
    CHECK(line && strstr(line, "in fail\n") != NULL);
    size_t len = strlen(out);
    CHECK(len > 24 && strcmp(out + len - 23, "ValueError: sentinel-x\n") == 0);

    CHECK_EQ_INT(sunk.calls, 1);
    CHECK_EQ_INT(sunk.level, LOG_LEVEL_ERROR);
    CHECK(strncmp(sunk.msg,
                  "Error handling request GET /a\\x0ab\nTraceback (most recent call last):\n",
                  70) == 0);
    len = strlen(sunk.msg);
    CHECK(len > 22 && strcmp(sunk.msg + len - 22, "ValueError: sentinel-x") == 0);
    free(out);

    /* without an exception: the line alone */
    capture_begin();
    py_log_error("plain", 5, NULL);
    out = capture_end();
    CHECK(strstr(out, "] [ERROR] [worker 4] plain\n") != NULL);
    CHECK(strchr(out, '\n') == out + strlen(out) - 1);
    free(out);
    CHECK_EQ_INT(sunk.calls, 2);
    log_set_sink(NULL, NULL);
    log_set_worker(-1);
}

static void test_level_filter(void)
{
    char err[128];
    log_init(NULL, LOG_LEVEL_CRITICAL, err, sizeof(err));
    PyObject *exc = raised("'filtered'");
    capture_begin();
    py_log_error("dropped", 7, exc);
    char *out = capture_end();
    Py_XDECREF(exc);
    CHECK_EQ_STR(out, "");
    free(out);
    log_init(NULL, LOG_LEVEL_INFO, err, sizeof(err));
}

static void test_summary(void)
{
    char buf[64];
    PyObject *exc = raised("'two\\nlines'");
    py_exc_summary(exc, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "ValueError: two lines");
    Py_XDECREF(exc);
    exc = raised("");
    py_exc_summary(exc, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "ValueError");
    Py_XDECREF(exc);
    py_exc_summary(NULL, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "unknown error");
    exc = raised("'x' * 200");
    py_exc_summary(exc, buf, 16);
    CHECK_EQ_STR(buf, "ValueError: xxx");
    Py_XDECREF(exc);
}

int main(void)
{
    Py_InitializeEx(0);
    test_line_and_traceback();
    test_level_filter();
    test_summary();
    Py_FinalizeEx();
    return check_done();
}
