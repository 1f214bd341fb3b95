/* Access log: format compiler, line renderer, batched writer through the ring. */
#include "src/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "src/base64.h"
#include "src/scoreboard.h"

enum atom {
    A_LIT,      /* literal text from the format */
    A_HOST,     /* h remote address */
    A_IDENT,    /* l always "-" */
    A_USER,     /* u user of Basic authentication */
    A_TIME,     /* t [10/Oct/2000:13:55:36 -0700] */
    A_REQUEST,  /* r "GET /path HTTP/1.1" */
    A_STATUS,   /* s */
    A_METHOD,   /* m */
    A_PATH,     /* U PATH_INFO (decoded, without SCRIPT_NAME) */
    A_QUERY,    /* q */
    A_PROTO,    /* H */
    A_BYTES,    /* b */
    A_BODY,     /* B */
    A_REFERER,  /* f */
    A_AGENT,    /* a */
    A_SECS,     /* T whole seconds */
    A_MICROS,   /* D microseconds */
    A_MILLIS,   /* M milliseconds */
    A_DECIMAL,  /* L seconds with six decimals */
    A_PID,      /* p <pid> */
    A_WORKER,   /* w worker id (ours) */
    A_CONN,     /* c connection id within the worker (ours) */
    A_PHASE,    /* parse_us, waited_us, app_us, send_us: a phase in microseconds (ours) */
    A_WS_CLOSE, /* ws_close: a WebSocket's close code (ours) */
    A_REQ_HDR,  /* {name}i */
    A_RESP_HDR, /* {name}o */
    A_ENV,      /* {name}e */
    A_UNKNOWN,  /* anything else: "-" */
};

typedef struct op {
    uint8_t atom;
    uint8_t out_index;         /* A_RESP_HDR: which captured value */
    uint32_t off, len;         /* A_LIT: bytes of f->text; others: the argument in f->text */
    uint32_t key_off, key_len; /* JSON key in f->text */
} op_t;

struct alog_fmt {
    char *text; /* literal pieces, arguments and JSON keys */
    size_t text_len, text_cap;
    op_t *ops;
    size_t nops;
    uint32_t *json_ops;  /* indices into ops: one per distinct key */
    uint32_t *json_keys; /* per json op: `,"key":` ready in text (escaped once) */
    size_t njson;
    unsigned nout;
    char unknown[64];
    /* %(t)s changes once a second: formatted once a second */
    time_t text_sec, json_sec;
    char text_time[40], json_time[40];
    size_t text_time_len, json_time_len;
};

static char tolower_ascii(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}
static char toupper_ascii(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
}

static const struct {
    char name;
    uint8_t atom;
    const char *key;
} simple_atoms[] = {
    {'h', A_HOST, "remote_addr"},
    {'l', A_IDENT, "ident"},
    {'u', A_USER, "user"},
    {'t', A_TIME, "time"},
    {'r', A_REQUEST, "request"},
    {'s', A_STATUS, "status"},
    {'m', A_METHOD, "method"},
    {'U', A_PATH, "path"},
    {'q', A_QUERY, "query"},
    {'H', A_PROTO, "protocol"},
    {'b', A_BYTES, "bytes"},
    {'B', A_BODY, "body_bytes"},
    {'f', A_REFERER, "referer"},
    {'a', A_AGENT, "user_agent"},
    {'T', A_SECS, "duration_s"},
    {'D', A_MICROS, "duration_us"},
    {'M', A_MILLIS, "duration_ms"},
    {'L', A_DECIMAL, "duration"},
    {'p', A_PID, "pid"},
    {'w', A_WORKER, "worker"},
    {'c', A_CONN, "connection"},
};

/* Our own atoms with long names: a request's phases (src/scoreboard.h), in the order of
 * alog_rec_t.phase_us; the JSON key is the name. */
static const char *const phase_atoms[] = {"parse_us", "waited_us", "app_us", "send_us"};

static uint32_t text_add(alog_fmt_t *f, const char *p, size_t n)
{
    if (f->text_len + n + 1 > f->text_cap) {
        f->text_cap = (f->text_len + n + 1) * 2;
        f->text = uf_realloc(f->text, f->text_cap);
    }
    uint32_t off = (uint32_t)f->text_len;
    memcpy(f->text + off, p, n);
    f->text_len += n;
    f->text[f->text_len] = 0;
    return off;
}

static op_t *op_add(alog_fmt_t *f, uint8_t atom)
{
    f->ops = uf_realloc(f->ops, (f->nops + 1) * sizeof(op_t));
    op_t *op = &f->ops[f->nops++];
    memset(op, 0, sizeof(*op));
    op->atom = atom;
    return op;
}

/* Literal text: merged with the literal before it. */
static void lit_add(alog_fmt_t *f, const char *p, size_t n)
{
    if (!n)
        return;
    if (f->nops && f->ops[f->nops - 1].atom == A_LIT &&
        f->ops[f->nops - 1].off + f->ops[f->nops - 1].len == f->text_len) {
        text_add(f, p, n);
        f->ops[f->nops - 1].len += (uint32_t)n;
        return;
    }
    uint32_t off = text_add(f, p, n);
    op_t *op = op_add(f, A_LIT);
    op->off = off;
    op->len = (uint32_t)n;
}

static void set_key(alog_fmt_t *f, op_t *op, const char *prefix, const char *p, size_t n)
{
    op->key_off = text_add(f, prefix, strlen(prefix));
    text_add(f, p, n);
    op->key_len = (uint32_t)(strlen(prefix) + n);
}

/* An atom name as a message quotes it back: control bytes become '?', so that a message
 * about a format holding a newline is still one line. Returns out. */
static const char *printable(char *out, size_t cap, const char *name, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[n] = 0;
    return out;
}

/* One atom name (what is between the parentheses). */
static int atom_add(alog_fmt_t *f, const char *name, size_t n, char *err, size_t errlen)
{
    if (n >= 3 && name[0] == '{') {
        const char *close = memchr(name, '}', n);
        if (close && close + 2 == name + n && close > name + 1) {
            char kind = name[n - 1];
            const char *arg = name + 1;
            size_t alen = (size_t)(close - arg);
            uint8_t atom = kind == 'i'   ? A_REQ_HDR
                           : kind == 'o' ? A_RESP_HDR
                           : kind == 'e' ? A_ENV
                                         : A_UNKNOWN;
            if (atom != A_UNKNOWN) {
                if (atom == A_RESP_HDR && f->nout >= ALOG_MAX_OUT) {
                    snprintf(err, errlen, "access-logformat: at most %d %%({header}o)s atoms",
                             ALOG_MAX_OUT);
                    return -1;
                }
                /* names are matched ignoring case, as gunicorn lowercases both sides */
                char lower[256];
                if (alen >= sizeof(lower)) {
                    char shown[64];
                    snprintf(err, errlen, "access-logformat: the name in %%(%s...)s is too long",
                             printable(shown, sizeof(shown), name, n));
                    return -1;
                }
                for (size_t i = 0; i < alen; i++)
                    lower[i] =
                        (char)(atom == A_ENV ? toupper_ascii(arg[i]) : tolower_ascii(arg[i]));
                op_t *op = op_add(f, atom);
                op->off = text_add(f, lower, alen);
                op->len = (uint32_t)alen;
                if (atom == A_RESP_HDR)
                    op->out_index = (uint8_t)f->nout++;
                set_key(f, op,
                        atom == A_REQ_HDR    ? "req_header."
                        : atom == A_RESP_HDR ? "resp_header."
                                             : "env.",
                        lower, alen);
                return 0;
            }
        }
    } else if (n == 1) {
        for (size_t i = 0; i < UF_ARRAY_LEN(simple_atoms); i++) {
            if (simple_atoms[i].name != name[0])
                continue;
            op_t *op = op_add(f, simple_atoms[i].atom);
            set_key(f, op, "", simple_atoms[i].key, strlen(simple_atoms[i].key));
            return 0;
        }
    } else {
        for (size_t i = 0; i < UF_ARRAY_LEN(phase_atoms); i++) {
            if (strlen(phase_atoms[i]) != n || memcmp(phase_atoms[i], name, n) != 0)
                continue;
            op_t *op = op_add(f, A_PHASE);
            op->out_index = (uint8_t)i;
            set_key(f, op, "", name, n);
            return 0;
        }
        if (n == 8 && memcmp(name, "ws_close", 8) == 0) {
            set_key(f, op_add(f, A_WS_CLOSE), "", name, n);
            return 0;
        }
    }
    if (!f->unknown[0]) {
        char shown[41];
        snprintf(f->unknown, sizeof(f->unknown), "%%(%s)s",
                 printable(shown, sizeof(shown), name, n));
    }
    op_t *op = op_add(f, A_UNKNOWN);
    set_key(f, op, "", name, n);
    return 0;
}

int alog_compile(const char *format, alog_fmt_t **out, char *err, size_t errlen)
{
    alog_fmt_t *f = uf_calloc(1, sizeof(*f));
    f->text_sec = f->json_sec = (time_t)-1;
    const char *p = format;
    while (*p) {
        const char *pct = strchr(p, '%');
        if (!pct) {
            lit_add(f, p, strlen(p));
            break;
        }
        lit_add(f, p, (size_t)(pct - p));
        if (pct[1] == '%') {
            lit_add(f, "%", 1);
            p = pct + 2;
            continue;
        }
        if (pct[1] != '(') {
            snprintf(err, errlen,
                     "access-logformat: \"%%\" at offset %d starts no atom; write %%(name)s, or "
                     "%%%% for a percent sign",
                     (int)(pct - format));
            goto fail;
        }
        /* the name may hold parentheses of its own only inside {...} */
        const char *name = pct + 2, *q = name;
        int depth = 0;
        while (*q && (depth || *q != ')')) {
            if (*q == '{')
                depth++;
            else if (*q == '}' && depth)
                depth--;
            q++;
        }
        if (!*q) {
            snprintf(err, errlen, "access-logformat: \"%%(\" at offset %d is not closed",
                     (int)(pct - format));
            goto fail;
        }
        char conv = q[1];
        if (conv != 's' && conv != 'd' && conv != 'i') {
            char shown[64];
            printable(shown, sizeof(shown), name, (size_t)(q - name));
            snprintf(err, errlen,
                     "access-logformat: %%(%s) must be followed by s (or d), e.g. %%(%s)s", shown,
                     shown);
            goto fail;
        }
        if (atom_add(f, name, (size_t)(q - name), err, errlen) < 0)
            goto fail;
        p = q + 2;
    }
    /* JSON: one key per distinct atom, the first occurrence deciding the place */
    f->json_ops = uf_calloc(f->nops ? f->nops : 1, sizeof(uint32_t));
    for (size_t i = 0; i < f->nops; i++) {
        const op_t *op = &f->ops[i];
        if (op->atom == A_LIT)
            continue;
        bool seen = false;
        for (size_t j = 0; j < f->njson && !seen; j++) {
            const op_t *o = &f->ops[f->json_ops[j]];
            seen = o->key_len == op->key_len &&
                   memcmp(f->text + o->key_off, f->text + op->key_off, op->key_len) == 0;
        }
        if (!seen)
            f->json_ops[f->njson++] = (uint32_t)i;
    }
    f->json_keys = uf_calloc(f->njson ? f->njson : 1, sizeof(uint32_t));
    buf_t key = {0};
    for (size_t j = 0; j < f->njson; j++) {
        const op_t *op = &f->ops[f->json_ops[j]];
        key.len = 0;
        buf_append(&key, ",\"", 2);
        buf_append_json(&key, f->text + op->key_off, op->key_len);
        buf_append(&key, "\":", 2);
        /* offset and length packed: keys are short */
        f->json_keys[j] = text_add(f, key.data, key.len) << 8 | (uint32_t)(key.len & 0xff);
        if (key.len > 0xff)
            f->json_keys[j] = 0; /* absurdly long: written the slow way */
    }
    buf_free(&key);
    *out = f;
    return 0;
fail:
    alog_fmt_free(f);
    return -1;
}

void alog_fmt_free(alog_fmt_t *f)
{
    if (!f)
        return;
    uf_free(f->text);
    uf_free(f->ops);
    uf_free(f->json_ops);
    uf_free(f->json_keys);
    uf_free(f);
}

bool alog_fmt_has_json_key(const alog_fmt_t *f, const char *key)
{
    size_t n = strlen(key);
    for (size_t j = 0; j < f->njson; j++) {
        const op_t *op = &f->ops[f->json_ops[j]];
        if (op->key_len == n && memcmp(f->text + op->key_off, key, n) == 0)
            return true;
    }
    return false;
}

const char *alog_fmt_unknown(const alog_fmt_t *f)
{
    return f->unknown[0] ? f->unknown : NULL;
}

unsigned alog_fmt_out_count(const alog_fmt_t *f)
{
    return f->nout;
}

void alog_capture(const alog_fmt_t *f, alog_resp_t *r, const py_header_t *headers, size_t n)
{
    r->text.len = 0;
    for (unsigned k = 0; k < ALOG_MAX_OUT; k++)
        r->len[k] = -1;
    for (size_t i = 0; i < f->nops; i++) {
        const op_t *op = &f->ops[i];
        if (op->atom != A_RESP_HDR)
            continue;
        const py_header_t *found = NULL;
        for (size_t h = 0; h < n; h++)
            if (headers[h].name.len == op->len &&
                strncasecmp(headers[h].name.ptr, f->text + op->off, op->len) == 0)
                found = &headers[h];
        if (!found)
            continue;
        r->off[op->out_index] = (uint32_t)r->text.len;
        r->len[op->out_index] = (int32_t)found->value.len;
        buf_append(&r->text, found->value.ptr, found->value.len);
    }
}

/* ---- rendering ----------------------------------------------------------------------- */

/* Text: `"` and `\` escaped, control and non-ASCII bytes as \xHH. */
static size_t text_escape(unsigned char ch, char esc[8])
{
    static const char hexdigits[] = "0123456789abcdef";
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
        return 0;
    esc[0] = '\\';
    esc[1] = (char)ch;
    if (ch >= 0x20 && ch < 0x7f)
        return 2;
    esc[1] = 'x';
    esc[2] = hexdigits[ch >> 4];
    esc[3] = hexdigits[ch & 15];
    return 4;
}

static void put_text(buf_t *out, const char *p, size_t n)
{
    buf_append_escaped(out, p, n, text_escape);
}

/* A value, as text or as a JSON string; NULL is "-" or null. */
static void put_value(buf_t *out, bool json, const char *p, size_t n)
{
    if (!p) {
        buf_append_str(out, json ? "null" : "-");
        return;
    }
    if (json) {
        buf_append(out, "\"", 1);
        buf_append_json(out, p, n);
        buf_append(out, "\"", 1);
    } else {
        put_text(out, p, n);
    }
}

static bool span_ok(const alog_rec_t *r, http_span_t s)
{
    return s.len && (size_t)s.off + s.len <= r->base_len;
}

/* The value of the last request header named `lower` (already lower case), or NULL. */
static const char *req_header(const alog_rec_t *r, const char *lower, size_t n, size_t *len)
{
    const char *found = NULL;
    const http_req_t *req = r->req;
    for (uint32_t i = 0; req && i < req->header_count; i++) {
        const http_header_t *h = &req->headers[i];
        if (h->name.len != n || !span_ok(r, h->name) ||
            (size_t)h->value.off + h->value.len > r->base_len)
            continue;
        if (strncasecmp(r->base + h->name.off, lower, n) == 0) {
            found = r->base + h->value.off;
            *len = h->value.len;
        }
    }
    return found;
}

/* The user of "Authorization: Basic ..." (what gunicorn's %(u)s shows), into dst. */
static size_t basic_user(const alog_rec_t *r, char *dst, size_t cap)
{
    size_t n;
    const char *v = req_header(r, "authorization", 13, &n);
    if (!v || n < 6 || strncasecmp(v, "basic ", 6) != 0)
        return 0;
    size_t len = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 6; i < n && len < cap; i++) {
        int d = base64_value(v[i]);
        if (d < 0) {
            if (v[i] == '=' || v[i] == ' ')
                continue;
            return 0;
        }
        acc = (acc << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char ch = (char)((acc >> bits) & 0xff);
            if (ch == ':')
                return len;
            dst[len++] = ch;
        }
    }
    return 0; /* no colon: not a user:password pair */
}

/* The path of the request-target (origin form, or the path of an absolute form). */
static void split_target(const alog_rec_t *r, const char **path, size_t *plen, const char **query,
                         size_t *qlen)
{
    const char *t = r->base + r->req->target.off;
    size_t n = r->req->target.len;
    const char *q = memchr(t, '?', n);
    size_t pl = q ? (size_t)(q - t) : n;
    if (pl > 7 && (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0)) {
        const char *auth = t + (t[4] == ':' ? 7 : 8);
        const char *slash = memchr(auth, '/', pl - (size_t)(auth - t));
        pl = slash ? pl - (size_t)(slash - t) : 0;
        t = slash ? slash : t + pl;
    }
    *path = t;
    *plen = pl;
    *query = q ? q + 1 : "";
    *qlen = q ? n - (size_t)(q + 1 - (r->base + r->req->target.off)) : 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* PATH_INFO as the environ has it: percent-decoded, SCRIPT_NAME taken off the front when
 * it is there at a segment boundary. */
static void put_path_info(buf_t *out, bool json, const alog_rec_t *r)
{
    const char *p, *q;
    size_t n, qn;
    split_target(r, &p, &n, &q, &qn);
    char small[1024];
    buf_t big = {0};
    char *d = n <= sizeof(small) ? small : buf_reserve(&big, n);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 &&
            (lo = hexval(p[i + 2])) >= 0) {
            d[len++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[len++] = p[i];
        }
    }
    size_t sl = r->script_name_len;
    while (sl && r->script_name[sl - 1] == '/')
        sl--;
    if (sl && len >= sl && memcmp(d, r->script_name, sl) == 0 && (len == sl || d[sl] == '/')) {
        d += sl;
        len -= sl;
    }
    put_value(out, json, d, len);
    buf_free(&big);
}

static void put_u64(buf_t *out, bool json, uint64_t v)
{
    (void)json;
    buf_append_u64(out, v);
}

static void put_time(alog_fmt_t *f, buf_t *out, bool json, const struct timespec *ts)
{
    if (json) {
        /* RFC 3339 in UTC with milliseconds and "Z", the one time format of every JSON line
         * we write or ship (common/log.h's log_put_rfc3339 writes the same) */
        if (ts->tv_sec != f->json_sec) {
            struct tm tm;
            gmtime_r(&ts->tv_sec, &tm);
            f->json_time_len =
                strftime(f->json_time, sizeof(f->json_time), "%Y-%m-%dT%H:%M:%S", &tm);
            f->json_sec = ts->tv_sec;
        }
        int msec = (int)(ts->tv_nsec / 1000000) % 1000;
        char ms[4] = {'.', (char)('0' + msec / 100), (char)('0' + msec / 10 % 10),
                      (char)('0' + msec % 10)};
        buf_append(out, "\"", 1);
        buf_append(out, f->json_time, f->json_time_len);
        buf_append(out, ms, 4);
        buf_append(out, "Z\"", 2);
        return;
    }
    if (ts->tv_sec != f->text_sec) {
        struct tm tm;
        localtime_r(&ts->tv_sec, &tm);
        f->text_time_len =
            strftime(f->text_time, sizeof(f->text_time), "[%d/%b/%Y:%H:%M:%S %z]", &tm);
        f->text_sec = ts->tv_sec;
    }
    buf_append(out, f->text_time, f->text_time_len);
}

/* {NAME}e: the CGI variables the C side knows without asking Python. */
static void put_env(buf_t *out, bool json, const alog_rec_t *r, const char *name, size_t n)
{
    const http_req_t *req = r->req;
    bool line = span_ok(r, req->method) && span_ok(r, req->target);
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    char num[24];
    if (IS("REQUEST_METHOD") && line) {
        put_value(out, json, r->base + req->method.off, req->method.len);
    } else if ((IS("RAW_URI") || IS("REQUEST_URI")) && line) {
        put_value(out, json, r->base + req->target.off, req->target.len);
    } else if (IS("PATH_INFO") && line) {
        put_path_info(out, json, r);
    } else if (IS("QUERY_STRING") && line) {
        const char *p, *q;
        size_t pn, qn;
        split_target(r, &p, &pn, &q, &qn);
        put_value(out, json, q, qn);
    } else if (IS("SERVER_PROTOCOL") && line) {
        put_value(out, json, req->version_minor ? "HTTP/1.1" : "HTTP/1.0", 8);
    } else if (IS("REMOTE_ADDR") && r->remote_addr && r->remote_addr[0]) {
        put_value(out, json, r->remote_addr, strlen(r->remote_addr));
    } else if (IS("REMOTE_PORT") && r->remote_port) {
        put_value(out, json, num, (size_t)snprintf(num, sizeof(num), "%d", r->remote_port));
    } else if (IS("SERVER_NAME") && r->server_name) {
        put_value(out, json, r->server_name, strlen(r->server_name));
    } else if (IS("SERVER_PORT") && r->server_port) {
        put_value(out, json, num, (size_t)snprintf(num, sizeof(num), "%d", r->server_port));
    } else if (IS("SCRIPT_NAME")) {
        put_value(out, json, r->script_name ? r->script_name : "", r->script_name_len);
    } else if (IS("SERVER_SOFTWARE")) {
        put_value(out, json, "uwsgi-fast/" UF_VERSION, strlen("uwsgi-fast/" UF_VERSION));
    } else if (IS("CONTENT_TYPE") || IS("CONTENT_LENGTH") ||
               (n > 5 && memcmp(name, "HTTP_", 5) == 0)) {
        /* a request header by its CGI name: HTTP_X_FOO is x-foo */
        const char *h = IS("CONTENT_TYPE")     ? "CONTENT_TYPE"
                        : IS("CONTENT_LENGTH") ? "CONTENT_LENGTH"
                                               : name + 5;
        size_t hn = h == name + 5 ? n - 5 : strlen(h);
        char lower[256];
        if (hn >= sizeof(lower)) {
            put_value(out, json, NULL, 0);
            return;
        }
        for (size_t i = 0; i < hn; i++)
            lower[i] = h[i] == '_' ? '-' : tolower_ascii(h[i]);
        size_t vn;
        const char *v = req_header(r, lower, hn, &vn);
        put_value(out, json, v, v ? vn : 0);
    } else {
        put_value(out, json, NULL, 0);
    }
#undef IS
}

static void put_atom(alog_fmt_t *f, const op_t *op, buf_t *out, bool json, const alog_rec_t *r)
{
    const http_req_t *req = r->req;
    bool line = req && span_ok(r, req->method) && span_ok(r, req->target);
    char tmp[256];
    size_t n;
    const char *v;
    uint64_t us = r->duration_us;
    switch (op->atom) {
    case A_HOST:
        put_value(out, json, r->remote_addr && r->remote_addr[0] ? r->remote_addr : NULL,
                  r->remote_addr ? strlen(r->remote_addr) : 0);
        break;
    case A_IDENT:
        put_value(out, json, NULL, 0);
        break;
    case A_USER:
        n = line ? basic_user(r, tmp, sizeof(tmp)) : 0;
        put_value(out, json, n ? tmp : NULL, n);
        break;
    case A_TIME:
        put_time(f, out, json, &r->wall);
        break;
    case A_REQUEST:
        if (!line) {
            put_value(out, json, NULL, 0);
            break;
        }
        if (json)
            buf_append(out, "\"", 1);
        (json ? buf_append_json : put_text)(out, r->base + req->method.off, req->method.len);
        buf_append(out, " ", 1);
        (json ? buf_append_json : put_text)(out, r->base + req->target.off, req->target.len);
        buf_append_str(out, req->version_minor ? " HTTP/1.1" : " HTTP/1.0");
        if (json)
            buf_append(out, "\"", 1);
        break;
    case A_STATUS:
        if (r->status)
            put_u64(out, json, (uint64_t)r->status);
        else
            put_value(out, json, NULL, 0);
        break;
    case A_METHOD:
        put_value(out, json, line ? r->base + req->method.off : NULL, line ? req->method.len : 0);
        break;
    case A_PATH:
        if (line)
            put_path_info(out, json, r);
        else
            put_value(out, json, NULL, 0);
        break;
    case A_QUERY:
        if (line) {
            const char *p, *q;
            size_t pn, qn;
            split_target(r, &p, &pn, &q, &qn);
            put_value(out, json, q, qn);
        } else {
            put_value(out, json, NULL, 0);
        }
        break;
    case A_PROTO:
        put_value(out, json, line ? (req->version_minor ? "HTTP/1.1" : "HTTP/1.0") : NULL, 8);
        break;
    case A_BYTES:
    case A_BODY:
        put_u64(out, json, r->body_bytes);
        break;
    case A_REFERER:
        v = line ? req_header(r, "referer", 7, &n) : NULL;
        put_value(out, json, v, v ? n : 0);
        break;
    case A_AGENT:
        v = line ? req_header(r, "user-agent", 10, &n) : NULL;
        put_value(out, json, v, v ? n : 0);
        break;
    case A_SECS:
        put_u64(out, json, us / 1000000);
        break;
    case A_MICROS:
        put_u64(out, json, us);
        break;
    case A_PHASE:
        if (r->phase_us[op->out_index] >= 0)
            put_u64(out, json, (uint64_t)r->phase_us[op->out_index]);
        else
            put_value(out, json, NULL, 0); /* "-", or null in JSON */
        break;
    case A_WS_CLOSE:
        if (r->ws_close)
            put_u64(out, json, (uint64_t)r->ws_close);
        else
            put_value(out, json, NULL, 0); /* not a WebSocket */
        break;
    case A_MILLIS:
        put_u64(out, json, us / 1000);
        break;
    case A_DECIMAL:
        n = (size_t)snprintf(tmp, sizeof(tmp), "%llu.%06llu", (unsigned long long)(us / 1000000),
                             (unsigned long long)(us % 1000000));
        buf_append(out, tmp, n); /* in JSON too: a number */
        break;
    case A_PID:
        if (json) {
            put_u64(out, json, (uint64_t)r->pid);
        } else {
            n = (size_t)snprintf(tmp, sizeof(tmp), "<%d>", r->pid);
            buf_append(out, tmp, n);
        }
        break;
    case A_WORKER:
        put_u64(out, json, r->worker);
        break;
    case A_CONN:
        put_u64(out, json, r->conn_id);
        break;
    case A_REQ_HDR:
        v = line || (req && req->header_count) ? req_header(r, f->text + op->off, op->len, &n)
                                               : NULL;
        put_value(out, json, v, v ? n : 0);
        break;
    case A_RESP_HDR:
        if (r->resp && r->resp->len[op->out_index] >= 0)
            put_value(out, json, r->resp->text.data + r->resp->off[op->out_index],
                      (size_t)r->resp->len[op->out_index]);
        else
            put_value(out, json, NULL, 0);
        break;
    case A_ENV:
        if (req)
            put_env(out, json, r, f->text + op->off, op->len);
        else
            put_value(out, json, NULL, 0);
        break;
    default:
        put_value(out, json, NULL, 0);
        break;
    }
}

void alog_render(alog_fmt_t *f, bool json, const alog_rec_t *r, buf_t *out)
{
    if (!json) {
        for (size_t i = 0; i < f->nops; i++) {
            const op_t *op = &f->ops[i];
            if (op->atom == A_LIT)
                buf_append(out, f->text + op->off, op->len);
            else
                put_atom(f, op, out, false, r);
        }
        buf_append(out, "\n", 1);
        return;
    }
    buf_append(out, "{", 1);
    for (size_t j = 0; j < f->njson; j++) {
        const op_t *op = &f->ops[f->json_ops[j]];
        uint32_t k = f->json_keys[j];
        if (k) {
            buf_append(out, f->text + (k >> 8) + (j ? 0 : 1), (k & 0xff) - (j ? 0 : 1));
        } else {
            buf_append_str(out, j ? ",\"" : "\"");
            buf_append_json(out, f->text + op->key_off, op->key_len);
            buf_append(out, "\":", 2);
        }
        put_atom(f, op, out, true, r);
    }
    buf_append(out, "}\n", 2);
}
