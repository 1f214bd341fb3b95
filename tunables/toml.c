/* The strict TOML subset reader described in toml.h: one pass over the text, a cursor
 * and a line counter, every rule checked where its token is read. */
#include "tunables/toml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

typedef struct parser {
    const char *p, *end;
    int line;
    char *err;
    size_t errlen;
    toml_doc_t *doc;
    const char *table; /* current table name, owned by `tables` */
    char **tables;     /* every table header seen, to refuse a second definition */
    size_t ntables;
} parser_t;

static int perr(parser_t *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(parser_t *ps, const char *fmt, ...)
{
    if (ps->err && ps->errlen) {
        int n = snprintf(ps->err, ps->errlen, "line %d: ", ps->line);
        if (n >= 0 && (size_t)n < ps->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
            va_end(ap);
            /* A quoted key or table name may hold escaped control characters ("a\nb");
             * quoted back raw, they would break the one-line message in two. */
            for (char *c = ps->err + n; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                    *c = '?';
        }
    }
    return -1;
}

const char *toml_type_name(toml_type_t type)
{
    switch (type) {
    case TOML_STRING:
        return "a string";
    case TOML_INT:
        return "an integer";
    case TOML_FLOAT:
        return "a float";
    case TOML_BOOL:
        return "a boolean";
    case TOML_ARRAY:
        return "an array";
    }
    return "a value";
}

/* ---- bytes --------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is not one:
 * overlong forms, surrogates and code points past U+10FFFF are refused, as TOML asks. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Checked once up front, so the rest of the parser may treat bytes >= 0x80 as opaque. */
static int check_bytes(parser_t *ps)
{
    const unsigned char *s = (const unsigned char *)ps->p, *end = (const unsigned char *)ps->end;
    int line = 1;
    while (s < end) {
        if (*s == 0) {
            ps->line = line;
            return perr(ps, "the file contains a NUL byte");
        }
        if (*s == '\n')
            line++;
        size_t len = utf8_len(s, (size_t)(end - s));
        if (!len) {
            ps->line = line;
            return perr(ps, "the file is not valid UTF-8");
        }
        s += len;
    }
    return 0;
}

static bool is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool at_end(const parser_t *ps)
{
    return ps->p >= ps->end;
}

static char peek(const parser_t *ps, size_t ahead)
{
    return (size_t)(ps->end - ps->p) > ahead ? ps->p[ahead] : 0;
}

static void skip_blanks(parser_t *ps)
{
    while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
        ps->p++;
}

/* A comment runs to the end of the line and may not hold control characters. */
static int skip_comment(parser_t *ps)
{
    if (at_end(ps) || *ps->p != '#')
        return 0;
    for (ps->p++; !at_end(ps) && *ps->p != '\n'; ps->p++) {
        if (*ps->p == '\r' && peek(ps, 1) == '\n')
            break;
        if (is_control((unsigned char)*ps->p))
            return perr(ps, "control character 0x%02x in a comment", (unsigned char)*ps->p);
    }
    return 0;
}

/* Consumes one line ending (LF or CRLF) if there is one; returns whether it did, or -1 on
 * a bare carriage return. */
static int newline(parser_t *ps)
{
    if (at_end(ps))
        return 0;
    if (*ps->p == '\n') {
        ps->p++;
        ps->line++;
        return 1;
    }
    if (*ps->p == '\r') {
        if (peek(ps, 1) != '\n')
            return perr(ps, "a carriage return must be followed by a newline");
        ps->p += 2;
        ps->line++;
        return 1;
    }
    return 0;
}

/* After a value or a header: blanks, an optional comment, then the end of the line. */
static int end_of_line(parser_t *ps, const char *after)
{
    skip_blanks(ps);
    if (skip_comment(ps) < 0)
        return -1;
    if (at_end(ps))
        return 0;
    int rc = newline(ps);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return perr(ps, "unexpected text after %s", after);
    return 0;
}

/* Blanks, comments and line endings, as allowed between the elements of an array. */
static int skip_space_lines(parser_t *ps)
{
    for (;;) {
        skip_blanks(ps);
        if (skip_comment(ps) < 0)
            return -1;
        int rc = newline(ps);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 0;
    }
}

/* ---- strings ------------------------------------------------------------------------- */

static void put_utf8(buf_t *b, uint32_t cp)
{
    char s[4];
    size_t n;
    if (cp < 0x80) {
        s[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        s[0] = (char)(0xc0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    } else if (cp < 0x10000) {
        s[0] = (char)(0xe0 | cp >> 12), s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    } else {
        s[0] = (char)(0xf0 | cp >> 18), s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        s[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), s[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    }
    buf_append(b, s, n);
}

static char *take_cstr(buf_t *b)
{
    *buf_reserve(b, 1) = 0;
    char *s = b->data;
    if (!s)
        s = uf_calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

/* A "basic string" or a 'literal string' on one line; the cursor is on the opening quote.
 * Returns the decoded contents (which may contain NUL only through \u0000, refused below
 * because settings are C strings). */
static int parse_string(parser_t *ps, char **out)
{
    char quote = *ps->p;
    if (peek(ps, 1) == quote && peek(ps, 2) == quote)
        return perr(ps, "multi-line strings are not supported; write the value on one line");
    ps->p++;
    buf_t b = {0};
    for (;;) {
        if (at_end(ps) || *ps->p == '\n' || (*ps->p == '\r' && peek(ps, 1) == '\n')) {
            buf_free(&b);
            return perr(ps, "the string has no closing %c on its line", quote);
        }
        unsigned char c = (unsigned char)*ps->p;
        if (c == (unsigned char)quote) {
            ps->p++;
            break;
        }
        if (is_control(c)) {
            buf_free(&b);
            return perr(ps, "control character 0x%02x in a string; write it as an escape", c);
        }
        if (c != '\\' || quote == '\'') {
            buf_append(&b, ps->p, 1);
            ps->p++;
            continue;
        }
        char e = peek(ps, 1);
        const char *simple = NULL;
        switch (e) {
        case 'b':
            simple = "\b";
            break;
        case 't':
            simple = "\t";
            break;
        case 'n':
            simple = "\n";
            break;
        case 'f':
            simple = "\f";
            break;
        case 'r':
            simple = "\r";
            break;
        case '"':
            simple = "\"";
            break;
        case '\\':
            simple = "\\";
            break;
        default:
            break;
        }
        if (simple) {
            buf_append(&b, simple, 1);
            ps->p += 2;
            continue;
        }
        if (e == 'u' || e == 'U') {
            size_t digits = e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (size_t i = 0; i < digits; i++) {
                char h = peek(ps, 2 + i);
                int v = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
                if (v < 0) {
                    buf_free(&b);
                    return perr(ps, "\\%c needs %zu hexadecimal digits", e, digits);
                }
                cp = cp << 4 | (uint32_t)v;
            }
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                buf_free(&b);
                return perr(ps, "\\%c%0*" PRIX32 " is not a Unicode scalar value", e, (int)digits,
                            cp);
            }
            if (cp == 0) {
                buf_free(&b);
                return perr(ps, "\\%c%0*X escapes a NUL character, which no setting accepts", e,
                            (int)digits, 0);
            }
            put_utf8(&b, cp);
            ps->p += 2 + digits;
            continue;
        }
        buf_free(&b);
        if (e == '\n' || e == '\r' || e == 0)
            return perr(ps, "line continuations are only allowed in multi-line strings, "
                            "which are not supported");
        if ((unsigned char)e < 0x20 || (unsigned char)e >= 0x7f)
            return perr(ps, "unknown escape sequence in a string");
        return perr(ps, "unknown escape sequence \\%c in a string", e);
    }
    *out = take_cstr(&b);
    return 0;
}

/* ---- keys ---------------------------------------------------------------------------- */

static bool bare_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static int parse_simple_key(parser_t *ps, char **out)
{
    if (!at_end(ps) && (*ps->p == '"' || *ps->p == '\''))
        return parse_string(ps, out);
    const char *start = ps->p;
    while (!at_end(ps) && bare_key_char(*ps->p))
        ps->p++;
    if (ps->p == start) {
        if (at_end(ps) || *ps->p == '=')
            return perr(ps, "expected a key before =");
        return perr(ps, "expected a key (letters, digits, _ and -, or a quoted string)");
    }
    size_t n = (size_t)(ps->p - start);
    *out = uf_strndup(start, n);
    return 0;
}

/* ---- numbers, booleans --------------------------------------------------------------- */

static bool ends_token(char c)
{
    return c == 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ']' ||
           c == '#';
}

/* Checks that tok[0, n) is digits of `base` with each _ between two digits, and appends
 * the digits without the underscores to b. */
static bool digits_ok(const char *tok, size_t n, int base, buf_t *b)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = tok[i];
        if (c == '_') {
            if (i == 0 || i == n - 1 || tok[i - 1] == '_')
                return false;
            continue;
        }
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : 99;
        if (v >= base)
            return false;
        buf_append(b, &c, 1);
    }
    return true;
}

/* The message for a token that is no value at all (cut at 40 bytes). */
static int not_a_value(parser_t *ps, const char *tok, size_t n)
{
    return perr(ps, "\"%.*s\" is not a valid value (strings need quotes)", (int)(n > 40 ? 40 : n),
                tok);
}

/* An integer written 0x, 0o or 0b (s[0, len), _ separators allowed), as plain decimal. */
static int based_int(parser_t *ps, const char *s, size_t len, toml_value_t *v)
{
    buf_t b = {0};
    int base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
    if (!digits_ok(s + 2, len - 2, base, &b)) {
        buf_free(&b);
        return not_a_value(ps, s, len);
    }
    char *digits = take_cstr(&b);
    errno = 0;
    unsigned long long u = strtoull(digits, NULL, base);
    uf_free(digits);
    if (errno == ERANGE || u > (unsigned long long)INT64_MAX)
        return perr(ps, "integer %.*s does not fit in 64 bits", (int)len, s);
    char text[32];
    snprintf(text, sizeof(text), "%llu", u);
    v->type = TOML_INT;
    v->text = uf_strdup(text);
    return 0;
}

static int number(parser_t *ps, toml_value_t *v)
{
    const char *tok = ps->p;
    while (!at_end(ps) && !ends_token(*ps->p))
        ps->p++;
    size_t n = (size_t)(ps->p - tok);
    buf_t b = {0};
    const char *s = tok;
    size_t len = n;
    bool sign = len && (s[0] == '+' || s[0] == '-');

    /* special floats */
    const char *word = s + sign;
    size_t wlen = len - sign;
    if (wlen == 3 && (memcmp(word, "inf", 3) == 0 || memcmp(word, "nan", 3) == 0)) {
        v->type = TOML_FLOAT;
        buf_append(&b, s, len);
        v->text = take_cstr(&b);
        return 0;
    }

    /* a date or a time looks like a number until its - or : */
    if (!sign && ((len > 4 && s[4] == '-' && strspn(s, "0123456789") == 4) ||
                  (len > 2 && s[2] == ':' && strspn(s, "0123456789") == 2)))
        goto date;

    if (!sign && len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b'))
        return based_int(ps, s, len, v);

    /* decimal: [sign] int [. frac] [e [sign] exp] */
    size_t i = sign;
    size_t int_start = i;
    while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
        i++;
    if (sign)
        buf_append(&b, s, 1);
    if (!digits_ok(s + int_start, i - int_start, 10, &b))
        goto bad;
    size_t int_digits = b.len - sign;
    if (int_digits > 1 && b.data[sign] == '0') {
        buf_free(&b);
        return perr(ps, "number %.*s has a leading zero", (int)len, s);
    }
    bool is_float = false;
    if (i < len && s[i] == '.') {
        is_float = true;
        buf_append(&b, ".", 1);
        size_t f = ++i;
        while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            i++;
        if (!digits_ok(s + f, i - f, 10, &b))
            goto bad;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        is_float = true;
        buf_append(&b, "e", 1);
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            buf_append(&b, &s[i++], 1);
        size_t e = i;
        while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            i++;
        if (!digits_ok(s + e, i - e, 10, &b))
            goto bad;
    }
    if (i != len)
        goto bad;
    char *text = take_cstr(&b);
    if (!is_float) {
        errno = 0;
        long long ll = strtoll(text, NULL, 10);
        if (errno == ERANGE) {
            uf_free(text);
            return perr(ps, "integer %.*s does not fit in 64 bits", (int)len, s);
        }
        uf_free(text);
        char canon[32];
        snprintf(canon, sizeof(canon), "%lld", ll);
        text = uf_strdup(canon);
    }
    v->type = is_float ? TOML_FLOAT : TOML_INT;
    v->text = text;
    return 0;

date:
    buf_free(&b);
    return perr(ps, "dates and times are not supported; quote the value if it is text");
bad:
    buf_free(&b);
    return not_a_value(ps, tok, n);
}

/* ---- values -------------------------------------------------------------------------- */

static void value_free(toml_value_t *v)
{
    uf_free(v->text);
    for (size_t i = 0; i < v->count; i++)
        uf_free(v->items[i]);
    uf_free(v->items);
    memset(v, 0, sizeof(*v));
}

static int parse_value(parser_t *ps, toml_value_t *v, bool in_array);

static int parse_array(parser_t *ps, toml_value_t *v)
{
    int open_line = ps->line;
    v->type = TOML_ARRAY;
    ps->p++; /* [ */
    for (;;) {
        if (skip_space_lines(ps) < 0)
            return -1;
        if (at_end(ps)) {
            ps->line = open_line;
            return perr(ps, "the array has no closing ]");
        }
        if (*ps->p == ']') {
            ps->p++;
            return 0;
        }
        toml_value_t item = {0};
        if (parse_value(ps, &item, true) < 0)
            return -1;
        if (item.type != TOML_STRING) {
            value_free(&item);
            return perr(ps, "arrays may hold only strings");
        }
        v->items = uf_realloc(v->items, (v->count + 1) * sizeof(char *));
        v->items[v->count++] = item.text;
        if (skip_space_lines(ps) < 0)
            return -1;
        if (at_end(ps)) {
            ps->line = open_line;
            return perr(ps, "the array has no closing ]");
        }
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ']') {
            ps->p++;
            return 0;
        }
        return perr(ps, "expected , or ] in the array");
    }
}

static int parse_value(parser_t *ps, toml_value_t *v, bool in_array)
{
    memset(v, 0, sizeof(*v));
    if (at_end(ps) || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '#' || *ps->p == ',' ||
        *ps->p == ']')
        return perr(ps, in_array ? "expected a string in the array" : "expected a value after =");
    char c = *ps->p;
    if (c == '"' || c == '\'') {
        v->type = TOML_STRING;
        return parse_string(ps, &v->text);
    }
    if (c == '[') {
        if (in_array)
            return perr(ps, "arrays may hold only strings");
        int rc = parse_array(ps, v);
        if (rc < 0)
            value_free(v);
        return rc;
    }
    if (c == '{')
        return perr(ps, "inline tables are not supported");
    for (int b = 0; b < 2; b++) {
        const char *word = b ? "false" : "true";
        size_t n = strlen(word);
        if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0 &&
            ends_token(peek(ps, n))) {
            ps->p += n;
            v->type = TOML_BOOL;
            v->text = uf_strdup(word);
            return 0;
        }
    }
    if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'i' || c == 'n')
        return number(ps, v);
    const char *tok = ps->p;
    size_t n = 0;
    while (tok + n < ps->end && !ends_token(tok[n]) && n < 40)
        n++;
    return perr(ps, "\"%.*s\" is not a valid value (strings need quotes)", (int)n, tok);
}

/* ---- lines --------------------------------------------------------------------------- */

static int table_header(parser_t *ps)
{
    if (peek(ps, 1) == '[')
        return perr(ps, "arrays of tables ([[...]]) are not supported");
    ps->p++;
    buf_t name = {0};
    for (;;) {
        skip_blanks(ps);
        char *part = NULL;
        if (parse_simple_key(ps, &part) < 0) {
            buf_free(&name);
            return -1;
        }
        if (name.len)
            buf_append(&name, ".", 1);
        buf_append_str(&name, part);
        uf_free(part);
        skip_blanks(ps);
        if (!at_end(ps) && *ps->p == '.') {
            ps->p++;
            continue;
        }
        break;
    }
    if (at_end(ps) || *ps->p != ']') {
        buf_free(&name);
        return perr(ps, "expected ] to close the table header");
    }
    ps->p++;
    char *table = take_cstr(&name);
    for (size_t i = 0; i < ps->ntables; i++) {
        if (strcmp(ps->tables[i], table) == 0) {
            int rc = perr(ps, "table [%s] is defined twice", table);
            uf_free(table);
            return rc;
        }
    }
    ps->tables = uf_realloc(ps->tables, (ps->ntables + 1) * sizeof(char *));
    ps->tables[ps->ntables++] = table;
    ps->table = table;
    return end_of_line(ps, "the table header");
}

static int key_value(parser_t *ps)
{
    toml_entry_t e = {0};
    e.line = ps->line;
    if (parse_simple_key(ps, &e.key) < 0)
        return -1;
    skip_blanks(ps);
    if (!at_end(ps) && *ps->p == '.') {
        int rc = perr(ps, "dotted keys (%s.…) are not supported; use a [table] header", e.key);
        uf_free(e.key);
        return rc;
    }
    if (at_end(ps) || *ps->p != '=') {
        int rc = perr(ps, "expected = after the key %s", e.key);
        uf_free(e.key);
        return rc;
    }
    ps->p++;
    skip_blanks(ps);
    if (parse_value(ps, &e.value, false) < 0 || end_of_line(ps, "the value") < 0) {
        uf_free(e.key);
        value_free(&e.value);
        return -1;
    }
    for (size_t i = 0; i < ps->doc->count; i++) {
        const toml_entry_t *o = &ps->doc->entries[i];
        if (strcmp(o->table, ps->table) == 0 && strcmp(o->key, e.key) == 0) {
            int line = ps->line;
            ps->line = e.line;
            perr(ps, "%s is already defined on line %d", e.key, o->line);
            ps->line = line;
            uf_free(e.key);
            value_free(&e.value);
            return -1;
        }
    }
    e.table = uf_strdup(ps->table);
    toml_doc_t *d = ps->doc;
    d->entries = uf_realloc(d->entries, (d->count + 1) * sizeof(toml_entry_t));
    d->entries[d->count++] = e;
    return 0;
}

int toml_parse(const char *text, size_t len, toml_doc_t *doc, char *err, size_t errlen)
{
    parser_t ps = {.p = text,
                   .end = text + len,
                   .line = 1,
                   .err = err,
                   .errlen = errlen,
                   .doc = doc,
                   .table = ""};
    int rc = 0;
    memset(doc, 0, sizeof(*doc));
    if (err && errlen)
        err[0] = 0;
    if (check_bytes(&ps) < 0) {
        rc = -1;
        goto out;
    }
    /* a byte order mark is tolerated, as editors on some systems write one */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        ps.p += 3;
    while (!at_end(&ps)) {
        skip_blanks(&ps);
        if (at_end(&ps))
            break;
        char c = *ps.p;
        if (c == '#' || c == '\n' || c == '\r') {
            rc = end_of_line(&ps, "the comment");
        } else if (c == '[') {
            rc = table_header(&ps);
        } else {
            rc = key_value(&ps);
        }
        if (rc < 0)
            goto out;
    }
out:
    for (size_t i = 0; i < ps.ntables; i++)
        uf_free(ps.tables[i]);
    uf_free(ps.tables);
    if (rc < 0)
        toml_free(doc);
    return rc;
}

void toml_free(toml_doc_t *doc)
{
    for (size_t i = 0; i < doc->count; i++) {
        uf_free(doc->entries[i].table);
        uf_free(doc->entries[i].key);
        value_free(&doc->entries[i].value);
    }
    uf_free(doc->entries);
    memset(doc, 0, sizeof(*doc));
}
