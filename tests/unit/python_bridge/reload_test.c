/* python_bridge/reload: sys.modules' files (a .pyc named as its .py, modules without a
 * file skipped, a __getattr__ that raises leaves no exception), the application's root
 * directory for a module and a package (none for a frozen module or a missing name), and
 * the stand-in application's 500 with the message. */
#include "python_bridge/reload.c"

#include <stdbool.h>

#include "python_bridge/errors.h"

#include "check.h"
#include "py_helpers.h"

static struct {
    int count;
    bool os_py, fake_py, compiled;
} seen;

static void add(const char *path, void *ctx)
{
    (void)ctx;
    size_t n = strlen(path);
    seen.count++;
    seen.os_py |= n > 6 && strcmp(path + n - 6, "/os.py") == 0;
    seen.fake_py |= strcmp(path, "/nowhere/fake.py") == 0;
    seen.compiled |= n > 4 && strcmp(path + n - 4, ".pyc") == 0;
}

static void test_module_files(void)
{
    py_exec("import os, sys, types\n"
            "m = types.ModuleType('fake'); m.__file__ = '/nowhere/fake.pyc'\n"
            "sys.modules['fake'] = m\n"
            "class Lazy(types.ModuleType):\n"
            "    def __getattr__(self, name): raise RuntimeError('lazy')\n"
            "sys.modules['lazy'] = Lazy('lazy')\n");
    long count = py_reload_module_count();
    CHECK(count > 10);
    int n = py_reload_module_files(add, NULL);
    CHECK(n > 5 && n < count); /* builtins and `lazy` have no file */
    CHECK_EQ_INT(seen.count, n);
    CHECK(seen.os_py);
    CHECK(seen.fake_py);
    CHECK(!seen.compiled);
    CHECK(!PyErr_Occurred());
    py_exec("import json");
    CHECK(py_reload_module_count() > count);
}

static void test_app_root(void)
{
    char dir[4096];
    CHECK_EQ_INT(py_reload_app_root("json.decoder:JSONDecoder", dir, sizeof(dir)), 0);
    CHECK(strlen(dir) > 5 && strcmp(dir + strlen(dir) - 5, "/json") == 0);
    CHECK_EQ_INT(py_reload_app_root("csv:reader", dir, sizeof(dir)), 0);
    CHECK_EQ_STR(dir, py_eval("__import__('os').path.dirname(__import__('csv').__file__)"));
    CHECK_EQ_INT(py_reload_app_root("no_such_module_here:app", dir, sizeof(dir)), -1);
    CHECK_EQ_INT(py_reload_app_root("csv:reader", dir, 3), -1);
    CHECK(!PyErr_Occurred());
}

static void test_stand_in(void)
{
    py_app_t *app = py_reload_stand_in("cannot import \"app\": SyntaxError: invalid syntax");
    CHECK(app != NULL);
    PyObject *g = PyModule_GetDict(PyImport_AddModule("__main__"));
    PyDict_SetItemString(g, "stand_in", app->callable);
    py_exec("got = []\n"
            "def sr(status, headers): got.append((status, headers))\n"
            "body = b''.join(stand_in({}, sr))\n");
    CHECK_EQ_STR(py_eval("got[0][0]"), "500 Internal Server Error");
    CHECK_EQ_STR(py_eval("dict(got[0][1])['Content-Length'] == str(len(body))"), "True");
    CHECK_EQ_STR(py_eval("body"), "b'cannot import \"app\": SyntaxError: invalid syntax\\n'");
    CHECK_EQ_STR(py_eval("dict(got[0][1])['Content-Type']"), "text/plain; charset=utf-8");
    py_exec("stand_in = None");
    uf_free(app);
}

int main(void)
{
    Py_InitializeEx(0);
    test_module_files();
    test_app_root();
    test_stand_in();
    return check_done();
}
