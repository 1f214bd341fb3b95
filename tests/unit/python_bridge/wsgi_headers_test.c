/* python_bridge/wsgi_headers: start_response's status and headers taken in directly:
 * what a valid set becomes (slices, status code, Content-Length), and each refusal with
 * its exception type and the reply fields it leaves behind; the memory reused. */
#include "python_bridge/wsgi_headers.c"

#include "check.h"

/* Runs wsgi_headers_set on Python values built from `fmt` (Py_BuildValue) for status
 * and headers. Returns its result; *exc_type gets the exception's type name ("" none). */
static int set(wsgi_headers_t *h, py_reply_t *out, const char *status_fmt, const char *status,
               PyObject *headers, char *exc_type, size_t exc_len)
{
    PyObject *st = Py_BuildValue(status_fmt, status);
    int rc = st && headers ? wsgi_headers_set(h, st, headers, out) : -2;
    exc_type[0] = 0;
    if (PyErr_Occurred()) {
        PyObject *exc = compat_err_take();
        snprintf(exc_type, exc_len, "%s", Py_TYPE(exc)->tp_name);
        Py_DECREF(exc);
    }
    Py_XDECREF(st);
    Py_XDECREF(headers);
    return rc;
}

static void test_valid(void)
{
    wsgi_headers_t h = {0};
    py_reply_t out = {0};
    char exc[64];
    PyObject *hs = Py_BuildValue("[(ss)(ss)(ss)]", "Content-Type", "text/plain", "content-length",
                                 "5", "X-Latin", "caf\xc3\xa9");
    CHECK_EQ_INT(set(&h, &out, "s", "200 OK", hs, exc, sizeof(exc)), 0);
    CHECK_EQ_STR(exc, "");
    CHECK_EQ_MEM(out.status.ptr, out.status.len, "200 OK");
    CHECK_EQ_INT(out.status_code, 200);
    CHECK_EQ_INT(out.header_count, 3);
    CHECK_EQ_INT(out.content_length, 5);
    CHECK_EQ_MEM(out.headers[0].name.ptr, out.headers[0].name.len, "Content-Type");
    CHECK_EQ_MEM(out.headers[0].value.ptr, out.headers[0].value.len, "text/plain");
    CHECK_EQ_MEM(out.headers[2].value.ptr, out.headers[2].value.len, "caf\xe9"); /* latin-1 */

    /* a bare code becomes "NNN "; a tuple of headers is accepted; the same
     * Content-Length twice is one Content-Length */
    hs = Py_BuildValue("((ss)(ss))", "Content-Length", "0", "Content-Length", "0");
    CHECK_EQ_INT(set(&h, &out, "s", "204", hs, exc, sizeof(exc)), 0);
    CHECK_EQ_MEM(out.status.ptr, out.status.len, "204 ");
    CHECK_EQ_INT(out.status_code, 204);
    CHECK_EQ_INT(out.content_length, 0);

    hs = Py_BuildValue("[]");
    CHECK_EQ_INT(set(&h, &out, "s", "404 Not Found", hs, exc, sizeof(exc)), 0);
    CHECK_EQ_INT(out.header_count, 0);
    CHECK_EQ_INT(out.content_length, -1);

    /* reset keeps small memory for the next reply, frees large */
    CHECK(h.meta.cap > 0);
    wsgi_headers_reset(&h, 16384);
    CHECK(h.meta.cap > 0 && h.meta.len == 0);
    wsgi_headers_reset(&h, 0);
    CHECK(h.meta.cap == 0);
    wsgi_headers_free(&h);
    CHECK(h.hdrs == NULL && h.cap == 0);
}

static void test_refused(void)
{
    static const struct {
        const char *status_fmt, *status, *headers_fmt, *name, *value, *exc;
    } cases[] = {
        {"y", "200 OK", "[(ss)]", "A", "b", "TypeError"},                   /* bytes status */
        {"s", "200 OK", "{ss}", "A", "b", "TypeError"},                     /* a dict of headers */
        {"s", "200 OK", "[(sss)]", "A", "b", "TypeError"},                  /* not a pair */
        {"s", "200 OK", "[(sy)]", "A", "b", "TypeError"},                   /* bytes value */
        {"s", "200 OK", "[(ss)]", "A", "\xe2\x82\xac", "ValueError"},       /* not latin-1 */
        {"s", "20 OK", "[(ss)]", "A", "b", "ValueError"},                   /* two digits */
        {"s", "200OK", "[(ss)]", "A", "b", "ValueError"},                   /* no space */
        {"s", "099 Low", "[(ss)]", "A", "b", "ValueError"},                 /* first digit 0 */
        {"s", "200 O\nK", "[(ss)]", "A", "b", "ValueError"},                /* LF in the reason */
        {"s", "200 OK", "[(ss)]", "Bad Name", "b", "ValueError"},           /* space in the name */
        {"s", "200 OK", "[(ss)]", "", "b", "ValueError"},                   /* empty name */
        {"s", "200 OK", "[(ss)]", "X", "a\r\nSet-Cookie: x", "ValueError"}, /* splitting */
        {"s", "200 OK", "[(ss)]", "Content-Length", "+5", "ValueError"},
        {"s", "200 OK", "[(ss)]", "Content-Length", "1234567890123456789", "ValueError"},
        {"s", "200 OK", "[(ss)]", "Content-Length", "", "ValueError"},
    };
    wsgi_headers_t h = {0};
    for (size_t i = 0; i < UF_ARRAY_LEN(cases); i++) {
        py_reply_t out = {.header_count = 7, .content_length = 9};
        char exc[64];
        PyObject *hs = Py_BuildValue(cases[i].headers_fmt, cases[i].name, cases[i].value, "c");
        int rc = set(&h, &out, cases[i].status_fmt, cases[i].status, hs, exc, sizeof(exc));
        CHECK_EQ_INT(rc, -1);
        CHECK_EQ_STR(exc, cases[i].exc);
        CHECK_EQ_INT(out.header_count, 0);
        CHECK_EQ_INT(out.content_length, -1);
        if (rc != -1 || strcmp(exc, cases[i].exc) != 0)
            fprintf(stderr, "  case %zu: %s / %s: %s\n", i, cases[i].status, cases[i].name,
                    cases[i].value);
    }

    /* two different Content-Lengths */
    py_reply_t out = {0};
    char exc[64];
    PyObject *hs = Py_BuildValue("[(ss)(ss)]", "Content-Length", "5", "content-length", "6");
    CHECK_EQ_INT(set(&h, &out, "s", "200 OK", hs, exc, sizeof(exc)), -1);
    CHECK_EQ_STR(exc, "ValueError");
    CHECK_EQ_INT(out.content_length, -1);
    CHECK_EQ_INT(out.header_count, 0);
    wsgi_headers_free(&h);
}

int main(void)
{
    Py_InitializeEx(0);
    test_valid();
    test_refused();
    Py_FinalizeEx();
    return check_done();
}
