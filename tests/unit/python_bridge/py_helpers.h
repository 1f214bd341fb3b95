/* Helpers shared by the python_bridge unit tests: evaluating Python from C, capturing the
 * error log (fd 2), and running a check in a forked child (an interpreter can be set up
 * only once per process, so each interpreter configuration gets its own child).
 * Include after check.h and the bridge's .c files. */
#ifndef UF_TEST_PY_HELPERS_H
#define UF_TEST_PY_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The repository root, where .venv, examples/ and the test apps live. */
static const char *source_root(void)
{
    const char *r = getenv("UF_SOURCE_ROOT");
    return r && *r ? r : ".";
}

/* Evaluates `expr` in __main__'s namespace and returns str() of the result (repr() for
 * non-str results) in a static buffer, or "<error: ...>" if it raised. */
static const char *py_eval(const char *expr)
{
    static char out[8192];
    PyObject *g = PyModule_GetDict(PyImport_AddModule("__main__")); /* borrowed */
    PyObject *v = PyRun_String(expr, Py_eval_input, g, g);
    if (!v) {
        PyObject *exc = compat_err_take();
        char why[512];
        py_exc_summary(exc, why, sizeof(why));
        Py_XDECREF(exc);
        snprintf(out, sizeof(out), "<error: %s>", why);
        return out;
    }
    PyObject *s = PyUnicode_Check(v) ? Py_NewRef(v) : PyObject_Repr(v);
    Py_DECREF(v);
    const char *u = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(out, sizeof(out), "%s", u ? u : "<unprintable>");
    if (!u)
        PyErr_Clear();
    Py_XDECREF(s);
    return out;
}

/* Runs statements in __main__; returns 0, or -1 after printing the traceback. */
static int py_exec(const char *code)
{
    return PyRun_SimpleString(code);
}

static long py_eval_long(const char *expr)
{
    return strtol(py_eval(expr), NULL, 10);
}

/* Captures what is written to fd 2 (the error log: our lines and Python's tracebacks)
 * between capture_begin and capture_end, which returns it (malloc'ed, NUL-terminated). */
static int capture_saved_fd = -1;

static void capture_begin(void)
{
    fflush(stderr);
    int fd = memfd_create("stderr-capture", 0);
    capture_saved_fd = dup(2);
    dup2(fd, 2);
    close(fd);
}

static char *capture_end(void)
{
    PyObject *f = PySys_GetObject("stderr");
    if (f) {
        PyObject *r = PyObject_CallMethod(f, "flush", NULL);
        Py_XDECREF(r);
        PyErr_Clear();
    }
    fflush(stderr);
    off_t len = lseek(2, 0, SEEK_END);
    char *text = malloc((size_t)len + 1);
    ssize_t got = pread(2, text, (size_t)len, 0);
    text[got > 0 ? got : 0] = 0;
    dup2(capture_saved_fd, 2);
    close(capture_saved_fd);
    capture_saved_fd = -1;
    return text;
}

/* Writes dir/name with text (test fixtures: modules, config files). */
static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Removes a test's temporary directory and everything in it. */
static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* Runs fn in a forked child and adds the child's check counts to ours; a child that
 * crashes or exits without reporting counts as one failure. */
static void run_in_child(const char *name, void (*fn)(void))
{
    int *counts =
        mmap(NULL, 2 * sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    counts[0] = counts[1] = -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        check_passed = check_failed = 0;
        fn();
        counts[0] = check_passed;
        counts[1] = check_failed;
        fflush(stderr);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || counts[0] < 0) {
        fprintf(stderr, "child %s died (status 0x%x)\n", name, status);
        check_failed++;
    } else {
        check_passed += counts[0];
        check_failed += counts[1];
    }
    munmap(counts, 2 * sizeof(int));
}

#endif
