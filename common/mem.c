/* Allocation wrappers over mimalloc and the shared byte buffer. */
#include "common/mem.h"

#include <mimalloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void out_of_memory(size_t n, const char *file, int line)
{
    fprintf(stderr, "uwsgi-fast: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    abort();
}

void *mem_alloc(size_t n, const char *file, int line)
{
    void *p = mi_malloc(n ? n : 1);
    if (!p)
        out_of_memory(n, file, line);
    return p;
}

void *mem_calloc(size_t n, size_t size, const char *file, int line)
{
    void *p = mi_calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size, file, line);
    return p;
}

void *mem_realloc(void *p, size_t n, const char *file, int line)
{
    void *q = mi_realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n, file, line);
    return q;
}

char *mem_strdup(const char *s, const char *file, int line)
{
    size_t n = strlen(s) + 1;
    char *p = mem_alloc(n, file, line);
    memcpy(p, s, n);
    return p;
}

char *mem_strndup(const char *s, size_t n, const char *file, int line)
{
    char *p = mem_alloc(n + 1, file, line);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void uf_free(void *p)
{
    mi_free(p);
}

void mem_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "uwsgi-fast: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

char *buf_reserve(buf_t *b, size_t extra)
{
    if (b->cap - b->len < extra) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < extra)
            cap *= 2;
        b->data = uf_realloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

void buf_append(buf_t *b, const void *p, size_t n)
{
    if (!n)
        return;
    memcpy(buf_reserve(b, n), p, n);
    b->len += n;
}

void buf_append_u64(buf_t *b, uint64_t v)
{
    char tmp[24];
    int i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(b, tmp + i, sizeof(tmp) - i);
}

void buf_consume(buf_t *b, size_t n)
{
    UF_ASSERT(n <= b->len);
    if (n < b->len)
        memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_reset(buf_t *b, size_t keep_cap)
{
    if (b->cap > keep_cap)
        buf_free(b);
    b->len = 0;
}

void buf_free(buf_t *b)
{
    mi_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    char *p = buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_append_escaped(buf_t *out, const char *p, size_t n, buf_escape_fn *escape)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char esc[8];
        size_t elen = escape((unsigned char)p[i], esc);
        if (!elen)
            continue;
        buf_append(out, p + start, i - start);
        buf_append(out, esc, elen);
        start = i + 1;
    }
    buf_append(out, p + start, n - start);
}

static const char hex[] = "0123456789abcdef";

/* JSON's escapes; \u00HH for the other control and the non-ASCII bytes. */
static size_t json_escape(unsigned char ch, char esc[8])
{
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
        return 0;
    esc[0] = '\\';
    switch (ch) {
    case '\n':
        esc[1] = 'n';
        return 2;
    case '\r':
        esc[1] = 'r';
        return 2;
    case '\t':
        esc[1] = 't';
        return 2;
    case '"':
    case '\\':
        esc[1] = (char)ch;
        return 2;
    default:
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[ch >> 4];
        esc[5] = hex[ch & 15];
        return 6;
    }
}

void buf_append_json(buf_t *out, const char *p, size_t n)
{
    buf_append_escaped(out, p, n, json_escape);
}
