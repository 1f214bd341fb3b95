/* start_response's status and headers: checks, latin-1 copy, Content-Length. */
#include "python_bridge/wsgi_headers.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 tchar: what a header field name may consist of. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-value and reason-phrase octets: HTAB, SP, VCHAR, obs-text. CR, LF and NUL are the
 * response-splitting ones; the other controls are refused too because no recipient is
 * required to accept them. */
static bool is_value_octet(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Pass 1: the types, and the bytes needed for status and headers, so that pass 2 copies
 * into memory that stays put. Returns the total, or -1 with an exception set. */
static Py_ssize_t measure(PyObject *status, PyObject *headers)
{
    if (!PyUnicode_Check(status) || compat_unicode_ready(status) < 0) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "status must be str, not %.100s",
                         Py_TYPE(status)->tp_name);
        return -1;
    }
    if (!PyList_Check(headers) && !PyTuple_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "response headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(headers);
    PyObject **items = PySequence_Fast_ITEMS(headers);
    Py_ssize_t total = PyUnicode_GET_LENGTH(status) + 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = items[i];
        if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) != 2) {
            PyErr_Format(PyExc_TypeError, "response header %zd must be a (name, value) tuple", i);
            return -1;
        }
        for (int j = 0; j < 2; j++) {
            PyObject *s = PyTuple_GET_ITEM(h, j);
            if (!PyUnicode_Check(s) || compat_unicode_ready(s) < 0) {
                if (!PyErr_Occurred())
                    PyErr_Format(PyExc_TypeError, "response header %s must be str, not %.100s",
                                 j ? "value" : "name", Py_TYPE(s)->tp_name);
                return -1;
            }
            /* A str holding any character above U+00FF is never stored 1 byte wide. */
            if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
                PyErr_Format(PyExc_ValueError, "response header %s %R is not latin-1",
                             j ? "value" : "name", s);
                return -1;
            }
            total += PyUnicode_GET_LENGTH(s);
        }
    }
    if (PyUnicode_KIND(status) != PyUnicode_1BYTE_KIND) {
        PyErr_Format(PyExc_ValueError, "status %R is not latin-1", status);
        return -1;
    }
    return total;
}

/* Copies the status to *m (advanced past it) as "NNN reason"; a bare "NNN" is taken as
 * "NNN " so the status line stays valid. Returns 0, or -1 with ValueError set. */
static int copy_status(PyObject *status, char **m, py_reply_t *out)
{
    const unsigned char *st = PyUnicode_1BYTE_DATA(status);
    size_t stlen = (size_t)PyUnicode_GET_LENGTH(status);
    bool ok = stlen >= 3 && st[0] >= '1' && st[0] <= '9' && st[1] >= '0' && st[1] <= '9' &&
              st[2] >= '0' && st[2] <= '9' && (stlen == 3 || st[3] == ' ');
    for (size_t i = 4; ok && i < stlen; i++)
        ok = is_value_octet(st[i]);
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "invalid status %R: expected \"NNN reason\"", status);
        return -1;
    }
    memcpy(*m, st, stlen);
    if (stlen == 3)
        (*m)[stlen++] = ' ';
    out->status = (py_slice_t){*m, stlen};
    out->status_code = (st[0] - '0') * 100 + (st[1] - '0') * 10 + (st[2] - '0');
    *m += stlen;
    return 0;
}

/* Strict: digits only and no overflow; two different values are as broken as an
 * unparsable one (the C side frames the body by it). Returns 0 with out->content_length
 * set, or -1 with ValueError set. */
static int content_length(PyObject *value, py_reply_t *out)
{
    const unsigned char *vp = PyUnicode_1BYTE_DATA(value);
    size_t vl = (size_t)PyUnicode_GET_LENGTH(value);
    int64_t cl = 0;
    bool ok = vl > 0 && vl <= 18;
    for (size_t j = 0; ok && j < vl; j++) {
        ok = vp[j] >= '0' && vp[j] <= '9';
        cl = cl * 10 + (vp[j] - '0');
    }
    if (!ok || (out->content_length >= 0 && out->content_length != cl)) {
        PyErr_Format(PyExc_ValueError, "invalid response Content-Length %R", value);
        out->content_length = -1;
        return -1;
    }
    out->content_length = cl;
    return 0;
}

/* Pass 2 for one header: its octets, the copy to *m (advanced past it) described by
 * *slot, and Content-Length. Returns 0, or -1 with ValueError set. */
static int copy_header(PyObject *pair, char **m, py_header_t *slot, py_reply_t *out)
{
    PyObject *name = PyTuple_GET_ITEM(pair, 0);
    PyObject *value = PyTuple_GET_ITEM(pair, 1);
    const unsigned char *np = PyUnicode_1BYTE_DATA(name), *vp = PyUnicode_1BYTE_DATA(value);
    size_t nl = (size_t)PyUnicode_GET_LENGTH(name), vl = (size_t)PyUnicode_GET_LENGTH(value);
    bool ok = nl > 0;
    for (size_t j = 0; ok && j < nl; j++)
        ok = is_tchar(np[j]);
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "invalid response header name %R", name);
        return -1;
    }
    for (size_t j = 0; j < vl; j++) {
        if (!is_value_octet(vp[j])) {
            PyErr_Format(PyExc_ValueError,
                         "invalid character \\x%02x in the value of response header %R",
                         (unsigned)vp[j], name);
            return -1;
        }
    }
    slot->name = (py_slice_t){*m, nl};
    memcpy(*m, np, nl);
    *m += nl;
    slot->value = (py_slice_t){*m, vl};
    memcpy(*m, vp, vl);
    *m += vl;
    if (nl == 14 && strncasecmp((const char *)np, "content-length", 14) == 0)
        return content_length(value, out);
    return 0;
}

int wsgi_headers_set(wsgi_headers_t *h, PyObject *status, PyObject *headers, py_reply_t *out)
{
    out->header_count = 0;
    out->content_length = -1;
    Py_ssize_t total = measure(status, headers);
    if (total < 0)
        return -1;
    h->meta.len = 0;
    char *m = buf_reserve(&h->meta, (size_t)total);
    if (copy_status(status, &m, out) < 0)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(headers);
    PyObject **items = PySequence_Fast_ITEMS(headers);
    if ((size_t)n > h->cap) {
        h->cap = (size_t)n < 16 ? 16 : (size_t)n;
        h->hdrs = uf_realloc(h->hdrs, h->cap * sizeof(*h->hdrs));
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (copy_header(items[i], &m, &h->hdrs[i], out) < 0)
            return -1;
    h->meta.len = (size_t)(m - h->meta.data);
    out->headers = h->hdrs;
    out->header_count = (size_t)n;
    return 0;
}

void wsgi_headers_reset(wsgi_headers_t *h, size_t keep_cap)
{
    buf_reset(&h->meta, keep_cap);
}

void wsgi_headers_free(wsgi_headers_t *h)
{
    buf_free(&h->meta);
    uf_free(h->hdrs);
    h->hdrs = NULL;
    h->cap = 0;
}
