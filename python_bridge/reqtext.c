/* Request-target and method texts shared by the WSGI environ and the ASGI scope. */
#include "python_bridge/reqtext.h"

#include "common/mem.h"

#include <stdbool.h>
#include <string.h>

static const struct {
    const char *s;
    size_t len;
} common_methods[] = {
    {"GET", 3},     {"POST", 4},  {"HEAD", 4},    {"PUT", 3},   {"DELETE", 6},
    {"OPTIONS", 7}, {"PATCH", 5}, {"CONNECT", 7}, {"TRACE", 5},
};

static PyObject *methods[UF_ARRAY_LEN(common_methods)];

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

size_t reqtext_percent_decode(char *out, const char *in, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)in[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)in[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

void reqtext_split_target(py_slice_t t, py_slice_t *path, py_slice_t *query)
{
    if (!t.len || !t.ptr) {
        *path = *query = (py_slice_t){"", 0};
        return;
    }
    const char *p = t.ptr, *end = t.ptr + t.len;
    bool absolute = false;
    if (t.ptr[0] != '/' && t.ptr[0] != '*') {
        const char *s = memmem(t.ptr, t.len, "://", 3);
        if (s) {
            absolute = true;
            for (p = s + 3; p < end && *p != '/' && *p != '?' && *p != '#'; p++)
                ;
        }
    }
    const char *frag = memchr(p, '#', (size_t)(end - p));
    const char *limit = frag ? frag : end;
    const char *q = memchr(p, '?', (size_t)(limit - p));
    const char *pend = q ? q : limit;
    *path = (py_slice_t){p, (size_t)(pend - p)};
    if (absolute && path->len == 0)
        *path = (py_slice_t){"/", 1};
    *query = q ? (py_slice_t){q + 1, (size_t)(limit - q - 1)} : (py_slice_t){"", 0};
}

PyObject *reqtext_method(py_slice_t m)
{
    for (size_t i = 0; i < UF_ARRAY_LEN(common_methods); i++) {
        if (common_methods[i].len != m.len || memcmp(common_methods[i].s, m.ptr, m.len) != 0)
            continue;
        return Py_NewRef(methods[i]);
    }
    return PyUnicode_DecodeLatin1(m.ptr, (Py_ssize_t)m.len, NULL);
}

int reqtext_setup(void)
{
    for (size_t i = 0; i < UF_ARRAY_LEN(methods); i++)
        if (!methods[i] && !(methods[i] = PyUnicode_InternFromString(common_methods[i].s)))
            return -1;
    return 0;
}

void reqtext_teardown(void)
{
    for (size_t i = 0; i < UF_ARRAY_LEN(methods); i++)
        Py_CLEAR(methods[i]);
}
