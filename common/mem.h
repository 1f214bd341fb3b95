/* Memory: the one place where running out of memory is fatal, plus the growable byte
 * buffer every module shares.
 *
 * All C-side allocations go through mimalloc via these wrappers; on failure they print
 * file:line and abort, so callers never test for NULL. UF_ASSERT stays on in release
 * builds for invariants whose violation would corrupt memory.
 */
#ifndef UF_MEM_H
#define UF_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define uf_malloc(n)     mem_alloc((n), __FILE__, __LINE__)
#define uf_calloc(n, sz) mem_calloc((n), (sz), __FILE__, __LINE__)
#define uf_realloc(p, n) mem_realloc((p), (n), __FILE__, __LINE__)
#define uf_strdup(s)     mem_strdup((s), __FILE__, __LINE__)
/* The first n bytes of s (which need not be NUL-terminated), NUL-terminated. */
#define uf_strndup(s, n) mem_strndup((s), (n), __FILE__, __LINE__)
void uf_free(void *p);

void *mem_alloc(size_t n, const char *file, int line);
void *mem_calloc(size_t n, size_t size, const char *file, int line);
void *mem_realloc(void *p, size_t n, const char *file, int line);
char *mem_strdup(const char *s, const char *file, int line);
char *mem_strndup(const char *s, size_t n, const char *file, int line);

/* Prints "file:line: assertion failed: expr" and aborts. */
_Noreturn void mem_assert_fail(const char *expr, const char *file, int line);
#define UF_ASSERT(expr) ((expr) ? (void)0 : mem_assert_fail(#expr, __FILE__, __LINE__))

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define UF_ARRAY_LEN(a)                 (sizeof(a) / sizeof((a)[0]))

/* A growable byte buffer: data[0, len) is content, capacity is cap. A zeroed buf_t is a
 * valid empty buffer. */
typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

/* Ensures room for `extra` more bytes; returns a pointer to data + len. */
char *buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
/* Appends the formatted text to b (growing it; never fails, never cuts). */
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void buf_append_str(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}
/* Appends p[0, n) with each byte for which escape() writes a replacement (returning its
 * length, at most 8; 0 keeps the byte) replaced. */
typedef size_t buf_escape_fn(unsigned char ch, char out[8]);
void buf_append_escaped(buf_t *b, const char *p, size_t n, buf_escape_fn *escape);
/* Appends p[0, n) escaped for the inside of a JSON string: the standard escapes, and
 * control and non-ASCII bytes as \u00HH (read as latin-1), so the result is ASCII. */
void buf_append_json(buf_t *b, const char *p, size_t n);
/* Appends the decimal form of v. */
void buf_append_u64(buf_t *b, uint64_t v);
/* Drops the first n bytes, moving the rest to the front. */
void buf_consume(buf_t *b, size_t n);
/* Releases the memory when the buffer grew beyond keep_cap (so one large request does
 * not pin memory for the life of a keep-alive connection); always empties it. */
void buf_reset(buf_t *b, size_t keep_cap);
void buf_free(buf_t *b);

#endif
