/* Request framing: lines, messages and chunks are ours; llhttp reads the header fields.
 *
 * Why not llhttp for all of it: the llhttp we link (Debian's 8.1, built strict) refuses
 * valid requests (methods outside its table such as PURGE or QUERY, `5;a=b;c` and
 * `5 ; a = b` chunk extensions, an HTAB after a Content-Length value, raw UTF-8 in the
 * target), lets others through (obs-fold after an empty value, `GET  /`), and skips
 * bytes without telling us (empty lines before a request, chunk extensions, trailers),
 * which the connection then buffers without bound. So this file reads the byte stream a
 * line at a time and decides every boundary itself:
 *
 *   request line   method: any token (RFC 9110 9.1); target: visible bytes, obs-text
 *                  included, in the form its method allows (RFC 9112 3.2); version:
 *                  HTTP/1.0 or HTTP/1.1
 *   field lines    syntax, obs-fold, limits and spans here; then each valid line goes to
 *                  llhttp, after a request line of our own making ("GET / HTTP/1.x"), and
 *                  llhttp reads Content-Length, Transfer-Encoding and Connection. It
 *                  pauses at the end of the head and never sees a body byte, so it never
 *                  decides a body's length nor hands the connection to another protocol.
 *   body           Content-Length countdown, or chunked: size line with extensions,
 *                  data, CRLF; trailers checked against the head's limits, then dropped.
 *
 * One rule for line ends everywhere: CRLF. A bare LF (which RFC 9112 2.2 lets a recipient
 * accept) gets 400, as does a bare CR: a proxy in front that splits lines differently
 * would read another request. One rule for the request line: exactly one SP between its
 * three parts (RFC 9112 3), for the same reason.
 */
#include "src/http.h"

#include <string.h>
#include <strings.h>

enum phase {
    PH_REQUEST_LINE, /* empty lines, then the request line */
    PH_FIELDS,       /* field lines of the head, up to the empty line */
    PH_BODY,         /* body_left bytes of a Content-Length body */
    PH_CHUNK_SIZE,   /* chunk-size [ chunk-ext ] CRLF */
    PH_CHUNK_DATA,   /* body_left bytes of the current chunk */
    PH_CHUNK_END,    /* the CRLF after a chunk's data */
    PH_TRAILERS,     /* trailer field lines, up to the empty line */
    PH_DONE,
};

static http_req_t *req_of(llhttp_t *p)
{
    return container_of(p, http_req_t, parser);
}

static int fail(http_req_t *req, int status)
{
    req->error_status = status;
    return -1;
}

/* RFC 9110 5.6.2 tchar. */
static bool is_token_char(unsigned char ch)
{
    static const char specials[] = "!#$%&'*+-.^_`|~";
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr(specials, ch));
}

static size_t token_end(const char *s, size_t i, size_t n)
{
    while (i < n && is_token_char((unsigned char)s[i]))
        i++;
    return i;
}

static bool is_alpha(char ch)
{
    return (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z';
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

static size_t ows_end(const char *s, size_t i, size_t n)
{
    while (i < n && is_ows(s[i]))
        i++;
    return i;
}

/* Control bytes: never part of a target, a value or an extension (HTAB aside where the
 * grammar names it). */
static bool is_ctl(unsigned char ch)
{
    return ch < 0x20 || ch == 0x7f;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* ---- the request line -------------------------------------------------------------- */

static bool span_is(const http_req_t *req, http_span_t s, const char *text)
{
    size_t n = strlen(text);
    return s.len == n && memcmp(req->base + s.off, text, n) == 0;
}

/* uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an IP-literal in brackets or a
 * reg-name (unreserved, pct-encoded, sub-delims). `authority_form` (CONNECT's target,
 * RFC 9112 3.2.3) also needs a non-empty host and a port. */
static bool host_is_valid(const char *s, size_t n, bool authority_form)
{
    static const char reg_extra[] = "-._~!$&'()*+,;=";
    size_t i = 0;
    if (n && s[0] == '[') {
        /* IPv6address or IPvFuture: their characters, checked loosely */
        for (i = 1; i < n && s[i] != ']'; i++)
            if (!(hex_value(s[i]) >= 0 || s[i] == ':' || s[i] == '.' || s[i] == 'v' || s[i] == 'V'))
                return false;
        if (i == n || i == 1)
            return false;
        i++;
    } else {
        for (; i < n && s[i] != ':'; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch == '%') {
                if (i + 2 >= n || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
                    return false;
                i += 2;
            } else if (!(is_alpha((char)ch) || (ch >= '0' && ch <= '9') ||
                         (ch && strchr(reg_extra, ch)))) {
                return false;
            }
        }
        if (authority_form && i == 0)
            return false;
    }
    if (i == n)
        return !authority_form;
    if (s[i] != ':')
        return false;
    size_t port = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i == n && (!authority_form || i > port);
}

/* The form of the target must be one its method may use (RFC 9112 3.2): CONNECT takes
 * only authority-form, the asterisk is for OPTIONS only, everything else is origin-form
 * or absolute-form (scheme "://" ...). */
static int check_target_form(const http_req_t *req)
{
    const char *t = req->base + req->target.off;
    size_t n = req->target.len;
    if (span_is(req, req->method, "CONNECT"))
        return host_is_valid(t, n, true) ? 0 : 400;
    if (t[0] == '/')
        return 0;
    if (n == 1 && t[0] == '*')
        return span_is(req, req->method, "OPTIONS") ? 0 : 400;
    if (!is_alpha(t[0]))
        return 400;
    size_t i = 1;
    while (i < n && (is_alpha(t[i]) || (t[i] >= '0' && t[i] <= '9') || t[i] == '+' || t[i] == '-' ||
                     t[i] == '.'))
        i++;
    return n - i > 3 && memcmp(t + i, "://", 3) == 0 ? 0 : 400;
}

static const llhttp_settings_t settings;

/* request-line = method SP request-target SP HTTP-version; `n` excludes the CRLF.
 * The method is any token: extension methods (PURGE, QUERY, MKCALENDAR...) reach the
 * application, which answers 405 or 501 as it sees fit; their bodies are framed by
 * Content-Length or Transfer-Encoding like any other (RFC 9112 6.3). */
static int take_request_line(http_req_t *req, uint32_t off, uint32_t n)
{
    const char *s = req->base + off;
    if (req->limits->request_line && n > req->limits->request_line)
        return fail(req, 414);
    size_t m = token_end(s, 0, n);
    if (m == 0 || m == n || s[m] != ' ')
        return fail(req, 400);
    size_t t = m + 1, te = t;
    /* bytes >= 0x80 pass (raw UTF-8 from old clients: PATH_INFO carries them as latin-1
     * per PEP 3333); control bytes never do */
    while (te < n && s[te] != ' ') {
        if (is_ctl((unsigned char)s[te]))
            return fail(req, 400);
        te++;
    }
    if (te == t || n - te != 9 || memcmp(s + te + 1, "HTTP/1.", 7) != 0 ||
        (s[n - 1] != '0' && s[n - 1] != '1'))
        return fail(req, 400);
    req->method = (http_span_t){off, (uint32_t)m};
    req->target = (http_span_t){off + (uint32_t)t, (uint32_t)(te - t)};
    req->version_minor = s[n - 1] - '0';
    int status = check_target_form(req);
    if (status)
        return fail(req, status);
    /* llhttp starts each head from a request line of our own: one it always accepts,
     * with the version that sets its keep-alive default */
    llhttp_init(&req->parser, HTTP_REQUEST, &settings);
    static const char line10[] = "GET / HTTP/1.0\r\n", line11[] = "GET / HTTP/1.1\r\n";
    const char *line = req->version_minor ? line11 : line10;
    if (llhttp_execute(&req->parser, line, sizeof(line11) - 1) != HPE_OK)
        return fail(req, 400);
    req->phase = PH_FIELDS;
    return 0;
}

/* ---- field lines (head and trailers) ------------------------------------------------ */

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5), `n` without the CRLF.
 * Fills f (spans) and returns 0, or fails. The value is VCHAR, obs-text, SP and HTAB
 * (RFC 9110 5.5); OWS around it is not part of it. */
static int take_field_line(http_req_t *req, uint32_t off, uint32_t n, http_header_t *f)
{
    const char *s = req->base + off;
    /* obs-fold (RFC 9112 5.2): a line starting with whitespace continues the previous
     * value. Refused whatever that value was, an empty one included: a proxy that
     * unfolds it, or drops it, reads another value (a Content-Length, a Host) */
    if (is_ows(s[0]))
        return fail(req, 400);
    /* a name is a token followed at once by the colon: no whitespace before it (RFC
     * 9112 5.1 says MUST reject), no control bytes */
    size_t colon = token_end(s, 0, n);
    if (colon == 0 || colon == n || s[colon] != ':')
        return fail(req, 400);
    size_t v = ows_end(s, colon + 1, n), e = n;
    while (e > v && is_ows(s[e - 1]))
        e--;
    for (size_t i = v; i < e; i++)
        if (is_ctl((unsigned char)s[i]) && s[i] != '\t')
            return fail(req, 400);
    if (req->limits->field_size && colon + (e - v) > req->limits->field_size)
        return fail(req, 431);
    *f = (http_header_t){{off, (uint32_t)colon}, {off + (uint32_t)v, (uint32_t)(e - v)}};
    return 0;
}

static bool name_is(const http_req_t *req, const http_header_t *h, const char *lower)
{
    size_t n = strlen(lower);
    return h->name.len == n && strncasecmp(req->base + h->name.off, lower, n) == 0;
}

/* True when the comma-separated list `value` has `token` as an element (OWS allowed). */
static bool list_has(const char *value, size_t len, const char *token)
{
    size_t n = strlen(token), i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end - start == n && strncasecmp(value + start, token, n) == 0)
            return true;
    }
    return false;
}

/* What we read from a head field ourselves, beside llhttp's reading. */
static int note_field(http_req_t *req, const http_header_t *h)
{
    const char *v = req->base + h->value.off;
    if (name_is(req, h, "host")) {
        /* RFC 9112 3.2: more than one Host, or one that is not a host, MUST get 400 (two
         * would otherwise be merged into "a,b" by the environ) */
        if (++req->host_count > 1 || !host_is_valid(v, h->value.len, false))
            return fail(req, 400);
    } else if (name_is(req, h, "expect") && h->value.len == 12 &&
               strncasecmp(v, "100-continue", 12) == 0) {
        req->expect_continue = true;
    } else if (name_is(req, h, "connection") && list_has(v, h->value.len, "close")) {
        req->conn_close = true; /* llhttp 8 misses "close" within some lists */
    } else if (name_is(req, h, "content-length")) {
        req->has_cl = true;
    } else if (name_is(req, h, "transfer-encoding")) {
        req->has_te = true;
        /* the last coding of the last field decides: RFC 9112 6.1 */
        size_t end = h->value.len, start = end;
        while (start > 0 && v[start - 1] != ',')
            start--;
        while (start < end && (v[start] == ' ' || v[start] == '\t'))
            start++;
        req->te_chunked_last = end - start == 7 && strncasecmp(v + start, "chunked", 7) == 0;
    }
    return 0;
}

static void push_header(http_req_t *req, http_header_t f)
{
    if (req->header_count == req->header_cap) {
        req->header_cap = req->header_cap ? req->header_cap * 2 : 32;
        req->headers = uf_realloc(req->headers, req->header_cap * sizeof(http_header_t));
    }
    req->headers[req->header_count++] = f;
}

static int take_head_field(http_req_t *req, uint32_t off, uint32_t n)
{
    if (req->limits->fields && req->header_count >= req->limits->fields)
        return fail(req, 431);
    http_header_t f;
    if (take_field_line(req, off, n, &f) < 0 || note_field(req, &f) < 0)
        return -1;
    push_header(req, f);
    /* llhttp gets the line without its trailing whitespace: it is not part of the value
     * (RFC 9110 5.5), and llhttp 8.1 refuses an HTAB after a Content-Length */
    const char *line = req->base + off;
    size_t keep = f.value.off + f.value.len - off;
    llhttp_errno_t e = keep == n ? llhttp_execute(&req->parser, line, n + 2)
                                 : llhttp_execute(&req->parser, line, keep);
    if (e == HPE_OK && keep != n)
        e = llhttp_execute(&req->parser, "\r\n", 2);
    return e == HPE_OK ? 0 : fail(req, 400);
}

static int take_trailer_field(http_req_t *req, uint32_t off, uint32_t n)
{
    /* trailers are checked like header fields, under the same limits, then dropped: RFC
     * 9110 6.5.1 forbids merging them into the header section, and a trailer could forge
     * a field a proxy in front only checked in the head */
    if (req->limits->fields && req->trailer_count >= req->limits->fields)
        return fail(req, 431);
    http_header_t f;
    if (take_field_line(req, off, n, &f) < 0)
        return -1;
    req->trailer_count++;
    return 0;
}

/* ---- the end of the head, and the body ---------------------------------------------- */

static int on_headers_complete(llhttp_t *p)
{
    http_req_t *req = req_of(p);
    req->content_length = (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : -1;
    req->llhttp_keep_alive = llhttp_should_keep_alive(p);
    /* llhttp stops here: the body, an Upgrade or a CONNECT are not its business */
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_headers_complete = on_headers_complete,
};

static int message_done(http_req_t *req)
{
    req->complete = true;
    req->keep_alive = req->llhttp_keep_alive && !req->conn_close;
    req->phase = PH_DONE;
    return 0;
}

/* The empty line after the fields; `body_off` is where the body begins. */
static int head_done(http_req_t *req, uint32_t body_off)
{
    if (llhttp_execute(&req->parser, "\r\n", 2) != HPE_PAUSED)
        return fail(req, 400);
    /* RFC 9112 3.2: an HTTP/1.1 request without Host MUST get 400; many simple clients
     * omit it and gunicorn and uvicorn serve them, so this is --require-host */
    if (req->host_count == 0 && req->version_minor == 1 && req->limits->require_host)
        return fail(req, 400);
    /* RFC 9112 6.1-6.3: Transfer-Encoding with Content-Length, a Transfer-Encoding
     * whose final coding is not chunked (an empty one included), and chunked on
     * HTTP/1.0 are all ways to frame a body two parties read differently */
    if (req->has_te && (req->has_cl || !req->te_chunked_last || req->version_minor == 0))
        return fail(req, 400);
    req->headers_done = true;
    req->header_bytes = 0; /* the trailers, if any, get a budget of their own */
    if (req->has_te) {
        req->body_start = body_off;
        req->phase = PH_CHUNK_SIZE;
        return 0;
    }
    if (req->content_length > 0) {
        if (req->limits->body && (uint64_t)req->content_length > req->limits->body)
            return fail(req, 413);
        req->body_start = body_off;
        req->body_left = (uint64_t)req->content_length;
        req->phase = PH_BODY;
        return 0;
    }
    return message_done(req);
}

/* chunk-size [ chunk-ext ] (RFC 9112 7.1.1), `n` without the CRLF:
 *   chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 *   ext-val   = token / quoted-string
 * Whitespace is BWS only where the grammar puts it: before ";" or "=" and after them,
 * never at the end of the line. Extensions are understood by nobody here and dropped.
 * Returns 0 with *size, or -1. */
static int parse_chunk_line(const char *s, size_t n, uint64_t *size)
{
    size_t i = 0;
    uint64_t v = 0;
    for (int d; i < n && (d = hex_value(s[i])) >= 0; i++) {
        if (v >> 60)
            return -1; /* more than 2^64 - 1 */
        v = v << 4 | (uint64_t)d;
    }
    if (i == 0)
        return -1;
    while (i < n) {
        i = ows_end(s, i, n);
        if (i == n || s[i] != ';')
            return -1;
        size_t name = ows_end(s, i + 1, n);
        i = token_end(s, name, n);
        if (i == name)
            return -1;
        size_t eq = ows_end(s, i, n);
        if (eq == n || s[eq] != '=')
            continue;
        size_t val = ows_end(s, eq + 1, n);
        if (val < n && s[val] == '"') {
            /* quoted-string: qdtext (HTAB, SP, VCHAR but '"' and '\', obs-text) or a
             * quoted-pair ('\' then HTAB, SP, VCHAR or obs-text) */
            for (i = val + 1; i < n && s[i] != '"'; i++) {
                if (s[i] == '\\' && ++i == n)
                    return -1;
                if (is_ctl((unsigned char)s[i]) && s[i] != '\t')
                    return -1;
            }
            if (i == n)
                return -1;
            i++;
        } else {
            i = token_end(s, val, n);
            if (i == val)
                return -1;
        }
    }
    *size = v;
    return 0;
}

static int take_chunk_size(http_req_t *req, uint32_t off, uint32_t n)
{
    uint64_t size;
    if (n + 2 > HTTP_CHUNK_LINE_MAX || parse_chunk_line(req->base + off, n, &size) < 0)
        return fail(req, 400);
    if (size == 0) {
        req->phase = PH_TRAILERS;
        return 0;
    }
    /* a chunk that would carry the body past the limit is refused now, not after its
     * bytes have been waited for */
    if (req->limits->body && size > req->limits->body - req->body_total)
        return fail(req, 413);
    req->body_left = size;
    req->phase = PH_CHUNK_DATA;
    return 0;
}

/* Takes body bytes from data[0, avail); returns how many. */
static size_t take_body(http_req_t *req, const char *data, size_t avail)
{
    size_t n = avail < req->body_left ? avail : (size_t)req->body_left;
    buf_append(&req->body, data, n);
    req->body_total += n;
    req->body_left -= n;
    if (req->body_left == 0) {
        if (req->phase == PH_BODY)
            message_done(req);
        else
            req->phase = PH_CHUNK_END;
    }
    return n;
}

/* ---- lines -------------------------------------------------------------------------- */

/* Counts `n` bytes of the head (or of the trailers) against the cap; `status` is what
 * going over it answers. */
static int count_head_bytes(http_req_t *req, size_t n, int status)
{
    if (req->header_bytes + n > req->limits->header_bytes)
        return fail(req, status);
    req->header_bytes += (uint32_t)n;
    return 0;
}

/* A line whose LF has not arrived: `have` bytes of it so far, of which the first `seen`
 * were looked at by an earlier call. Fails as soon as the line can no longer be valid or
 * fit its limit, so that no phase holds more than one bounded line, and garbage gets its
 * answer without waiting for a line end that may never come. Only the new bytes are
 * scanned: a line arriving a byte at a time costs linear time. */
static int check_partial_line(http_req_t *req, const char *s, size_t seen, size_t have)
{
    const http_limits_t *l = req->limits;
    /* no line holds a control byte other than HTAB, and a CR only ever ends one */
    for (size_t i = seen ? seen - 1 : 0; i < have; i++) {
        if (is_ctl((unsigned char)s[i]) && s[i] != '\t' && (s[i] != '\r' || i + 1 < have))
            return fail(req, 400);
        if (i >= seen && s[i] == ' ')
            req->line_spaces++;
    }
    switch (req->phase) {
    case PH_REQUEST_LINE:
        if (have == 1 && s[0] == '\r')
            return 0; /* perhaps an empty line */
        req->started = true;
        if (!is_token_char((unsigned char)s[0]) || req->line_spaces > 2)
            return fail(req, 400);
        if (req->line_spaces == 2) {
            /* the target holds no space, so what follows the last one is the version */
            static const char version[] = " HTTP/1.";
            size_t end = s[have - 1] == '\r' ? have - 1 : have;
            const char *sp = memrchr(s, ' ', end);
            size_t got = (size_t)(s + end - sp); /* of " HTTP/1.x" */
            if (got > 9 || memcmp(sp, version, got < 8 ? got : 8) != 0 ||
                (got == 9 && sp[8] != '0' && sp[8] != '1'))
                return fail(req, 400);
        }
        /* the line without CRLF is at least have - 1 bytes (a CR may end it) */
        if (l->request_line && have - 1 > l->request_line)
            return fail(req, 414);
        return req->header_bytes + have + 1 > l->header_bytes ? fail(req, 431) : 0;
    case PH_FIELDS:
    case PH_TRAILERS:
        if (is_ows(s[0]))
            return fail(req, 400); /* obs-fold, see take_field_line */
        return req->header_bytes + have + 1 > l->header_bytes ? fail(req, 431) : 0;
    case PH_CHUNK_SIZE:
        return have + 1 > HTTP_CHUNK_LINE_MAX ? fail(req, 400) : 0;
    case PH_CHUNK_END:
        return have > 1 || s[0] != '\r' ? fail(req, 400) : 0;
    }
    return 0;
}

/* A whole line at data[off, off + n + 2), CRLF included. */
static int take_line(http_req_t *req, uint32_t off, uint32_t n)
{
    switch (req->phase) {
    case PH_REQUEST_LINE:
        if (n == 0) {
            if (++req->empty_lines > HTTP_EMPTY_LINES_MAX)
                return fail(req, 400);
            return count_head_bytes(req, 2, 400);
        }
        req->started = true;
        if (count_head_bytes(req, n + 2, 431) < 0)
            return -1;
        return take_request_line(req, off, n);
    case PH_FIELDS:
        if (count_head_bytes(req, n + 2, 431) < 0)
            return -1;
        return n == 0 ? head_done(req, off + 2) : take_head_field(req, off, n);
    case PH_CHUNK_SIZE:
        return take_chunk_size(req, off, n);
    case PH_CHUNK_END:
        if (n != 0)
            return fail(req, 400);
        req->phase = PH_CHUNK_SIZE;
        return 0;
    case PH_TRAILERS:
        if (count_head_bytes(req, n + 2, 431) < 0)
            return -1;
        return n == 0 ? message_done(req) : take_trailer_field(req, off, n);
    }
    return fail(req, 400);
}

long http_parse(http_req_t *req, const char *data, size_t from, size_t len)
{
    req->base = data;
    size_t pos = from;
    while (pos < len && !req->complete) {
        if (req->phase == PH_BODY || req->phase == PH_CHUNK_DATA) {
            pos += take_body(req, data + pos, len - pos);
            continue;
        }
        const char *line = data + pos;
        size_t seen = req->line_seen <= len - pos ? req->line_seen : 0;
        const char *lf = memchr(line + seen, '\n', len - pos - seen);
        if (!lf) {
            if (check_partial_line(req, line, seen, len - pos) < 0)
                return -1;
            req->line_seen = (uint32_t)(len - pos);
            return (long)pos;
        }
        size_t n = (size_t)(lf - line);
        if (n == 0 || lf[-1] != '\r')
            return fail(req, 400); /* a bare LF */
        req->line_seen = req->line_spaces = 0;
        if (take_line(req, (uint32_t)pos, (uint32_t)(n - 1)) < 0)
            return -1;
        pos += n + 1;
    }
    return (long)pos;
}

/* ---- a head framed by another protocol ------------------------------------------------ */

int http_add_header(http_req_t *req, http_span_t name, http_span_t value)
{
    if (req->limits->fields && req->header_count >= req->limits->fields)
        return fail(req, 431);
    push_header(req, (http_header_t){name, value});
    return 0;
}

int http_head_framed(http_req_t *req, uint32_t body_off, uint64_t length)
{
    req->started = req->headers_done = true;
    req->llhttp_keep_alive = false;
    req->content_length = (int64_t)length;
    req->has_cl = length > 0;
    if (length == 0)
        return message_done(req);
    if (req->limits->body && length > req->limits->body)
        return fail(req, 413);
    req->body_start = body_off;
    req->body_left = length;
    req->phase = PH_BODY;
    return 0;
}

/* ---- the connection's side ---------------------------------------------------------- */

void http_limits_from_config(http_limits_t *limits, const tun_config_t *cfg)
{
    int field_size = cfg->limit_request_field_size;
    *limits = (http_limits_t){
        .request_line = (uint32_t)cfg->limit_request_line,
        .fields = (uint32_t)cfg->limit_request_fields,
        .field_size = (uint32_t)field_size,
        .body = (uint64_t)cfg->limit_request_body,
        .require_host = cfg->require_host,
    };
    /* 0 keeps the rule from before the setting existed: 64 KiB, or 1 MiB when a single
     * field may be larger than 32 KiB */
    limits->header_bytes = cfg->limit_request_head > 0 ? (uint32_t)cfg->limit_request_head
                           : field_size > 0 && field_size <= 32 * 1024 ? 64 * 1024
                                                                       : 1024 * 1024;
}

void http_req_init(http_req_t *req, const http_limits_t *limits)
{
    memset(req, 0, sizeof(*req));
    req->limits = limits;
    req->content_length = -1;
    llhttp_init(&req->parser, HTTP_REQUEST, &settings);
}

void http_req_free(http_req_t *req)
{
    uf_free(req->headers);
    buf_free(&req->body);
    req->headers = NULL;
    req->header_cap = 0;
}

void http_req_next(http_req_t *req)
{
    req->phase = PH_REQUEST_LINE;
    req->method = req->target = (http_span_t){0, 0};
    req->header_count = req->header_bytes = req->trailer_count = 0;
    req->empty_lines = req->host_count = 0;
    req->line_seen = req->line_spaces = 0;
    /* a large upload must not pin its memory for the life of the connection */
    buf_reset(&req->body, 64 * 1024);
    req->body_total = req->body_left = 0;
    req->content_length = -1;
    req->body_start = 0;
    req->started = req->headers_done = req->complete = req->compacted = false;
    req->keep_alive = req->expect_continue = req->llhttp_keep_alive = false;
    req->conn_close = req->has_te = req->te_chunked_last = req->has_cl = false;
    req->version_minor = 0;
    req->error_status = 0;
}

void http_req_reset(http_req_t *req)
{
    http_req_next(req);
}

int http_finish(http_req_t *req, const char *data)
{
    req->base = data;
    return !req->started || req->complete ? 0 : -1;
}

size_t http_compact(http_req_t *req, char *data, size_t len, size_t *consumed)
{
    if (!req->headers_done || req->complete || !req->body_start || *consumed <= req->body_start)
        return len;
    size_t drop = *consumed - req->body_start;
    req->compacted = true;
    memmove(data + req->body_start, data + *consumed, len - *consumed);
    *consumed = req->body_start;
    return len - drop;
}

bool http_idle(const http_req_t *req)
{
    return !req->started;
}
