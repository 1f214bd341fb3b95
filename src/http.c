/* llhttp glue: spans into the connection's input buffer, limits as bytes arrive. */
#include "src/http.h"

#include <strings.h>

static http_req_t *req_of(llhttp_t *p) { return container_of(p, http_req_t, parser); }

static int fail(http_req_t *req, int status)
{
    req->error_status = status;
    return -1;
}

/* Grows a span by the next piece llhttp reports. Pieces of one span are contiguous in
 * the input buffer because we always resume feeding where the previous call stopped. */
static void extend(http_req_t *req, http_span_t *span, const char *at, size_t len)
{
    uint32_t off = (uint32_t)(at - req->base);
    if (span->len == 0)
        span->off = off;
    span->len += (uint32_t)len;
}

static int count_header_bytes(http_req_t *req, size_t len)
{
    req->header_bytes += (uint32_t)len;
    if (req->header_bytes > req->limits->header_bytes)
        return fail(req, 431);
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    req_of(p)->started = true;
    return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = req_of(p);
    extend(req, &req->method, at, len);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = req_of(p);
    extend(req, &req->target, at, len);
    /* --limit-request-line is the whole line, as gunicorn counts it: method, target,
     * version and the two spaces ("GET / HTTP/1.1" is 14) */
    if (req->limits->request_line &&
        req->method.len + 1 + req->target.len + 9 > req->limits->request_line)
        return fail(req, 414);
    return 0;
}

/* Trailer fields (after a chunked body) arrive through the same callbacks. They are not
 * request headers (RFC 9112 7.1.2: a server may discard them), must not reach the
 * environ, and their bytes may already have been compacted away with the body, so the
 * callbacks ignore everything once the head is done. */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = req_of(p);
    if (req->headers_done)
        return 0;
    if (req->in_value || req->header_count == 0) {
        /* first piece of a new field name */
        if (req->limits->fields && req->header_count >= req->limits->fields)
            return fail(req, 431);
        if (req->header_count == req->header_cap) {
            req->header_cap = req->header_cap ? req->header_cap * 2 : 32;
            req->headers = uf_realloc(req->headers, req->header_cap * sizeof(http_header_t));
        }
        req->headers[req->header_count++] = (http_header_t){{0, 0}, {0, 0}};
        req->in_value = false;
    }
    http_header_t *h = &req->headers[req->header_count - 1];
    extend(req, &h->name, at, len);
    if (req->limits->field_size && h->name.len > req->limits->field_size)
        return fail(req, 431);
    return count_header_bytes(req, len);
}

/* RFC 9110 5.6.2 tchar. llhttp lets some non-token bytes (such as a space) through in
 * field names; a name a proxy in front of us might read differently is a smuggling
 * vector, so we refuse it. */
static bool is_token_char(unsigned char ch)
{
    static const char specials[] = "!#$%&'*+-.^_`|~";
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr(specials, ch));
}

static int on_header_field_complete(llhttp_t *p)
{
    http_req_t *req = req_of(p);
    if (req->headers_done)
        return 0;
    const http_header_t *h = &req->headers[req->header_count - 1];
    if (h->name.len == 0)
        return fail(req, 400);
    for (uint32_t i = 0; i < h->name.len; i++)
        if (!is_token_char((unsigned char)req->base[h->name.off + i]))
            return fail(req, 400);
    /* a value follows, possibly empty (then on_header_value is never called) */
    req->in_value = true;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = req_of(p);
    if (req->headers_done)
        return 0;
    http_header_t *h = &req->headers[req->header_count - 1];
    extend(req, &h->value, at, len);
    if (req->limits->field_size && h->name.len + h->value.len > req->limits->field_size)
        return fail(req, 431);
    return count_header_bytes(req, len);
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

static int on_header_value_complete(llhttp_t *p)
{
    http_req_t *req = req_of(p);
    if (req->headers_done)
        return 0;
    http_header_t *h = &req->headers[req->header_count - 1];
    const char *v = req->base + h->value.off;
    /* RFC 9110 5.5: surrounding whitespace is not part of the value */
    while (h->value.len && (v[h->value.len - 1] == ' ' || v[h->value.len - 1] == '\t'))
        h->value.len--;
    /* llhttp 8 folds obsolete line folding (a line starting with SP/HTAB) into the value;
     * RFC 9112 5.2 lets a server reject it, and a proxy that unfolds differently is a
     * smuggling vector, so a value holding CR or LF is refused */
    if (memchr(v, '\r', h->value.len) || memchr(v, '\n', h->value.len))
        return fail(req, 400);
    if (name_is(req, h, "expect") && h->value.len == 12 &&
        strncasecmp(v, "100-continue", 12) == 0)
        req->expect_continue = true;
    else if (name_is(req, h, "connection") && list_has(v, h->value.len, "close"))
        req->conn_close = true;   /* llhttp 8 misses "close\t" and "close" within a list */
    else if (name_is(req, h, "content-length"))
        req->has_cl = true;
    else if (name_is(req, h, "transfer-encoding")) {
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

static int on_headers_complete(llhttp_t *p)
{
    http_req_t *req = req_of(p);
    if (p->http_major != 1 || p->http_minor > 1)
        return fail(req, 400);
    /* llhttp 8 also accepts RTSP/1.0 and ICE/1.0 request lines; only HTTP is ours */
    const char *after = req->base + req->target.off + req->target.len;
    if (req->target.len == 0 || memcmp(after, " HTTP/", 6) != 0)
        return fail(req, 400);
    /* RFC 9112 6.1-6.3: Transfer-Encoding with Content-Length, a Transfer-Encoding
     * whose final coding is not chunked (an empty one included), and chunked on
     * HTTP/1.0 are all ways to frame a body two parties read differently */
    if (req->has_te && (req->has_cl || !req->te_chunked_last || p->http_minor == 0))
        return fail(req, 400);
    req->version_minor = p->http_minor;
    req->headers_done = true;
    if (p->flags & F_CONTENT_LENGTH) {
        req->content_length = (int64_t)p->content_length;
        if (req->limits->body && p->content_length > req->limits->body)
            return fail(req, 413);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    http_req_t *req = req_of(p);
    if (!req->body_start)
        req->body_start = (uint32_t)(at - req->base);
    req->body_total += len;
    if (req->limits->body && req->body_total > req->limits->body)
        return fail(req, 413);
    buf_append(&req->body, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    http_req_t *req = req_of(p);
    req->complete = true;
    req->keep_alive = llhttp_should_keep_alive(p) && !req->conn_close;
    /* one message at a time: the rest of the buffer waits until this one is answered */
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

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
    if (llhttp_get_errno(&req->parser) == HPE_PAUSED)
        llhttp_resume(&req->parser);
    req->method = req->target = (http_span_t){0, 0};
    req->header_count = 0;
    req->header_bytes = 0;
    req->in_value = false;
    /* a large upload must not pin its memory for the life of the connection */
    buf_reset(&req->body, 64 * 1024);
    req->body_total = 0;
    req->content_length = -1;
    req->body_start = 0;
    req->started = req->headers_done = req->complete = false;
    req->keep_alive = req->expect_continue = false;
    req->conn_close = req->has_te = req->te_chunked_last = req->has_cl = false;
    req->error_status = 0;
}

void http_req_reset(http_req_t *req)
{
    http_req_next(req);
    llhttp_reset(&req->parser);
}

long http_parse(http_req_t *req, const char *data, size_t from, size_t len)
{
    req->base = data;
    llhttp_errno_t e = llhttp_execute(&req->parser, data + from, len - from);
    if (e == HPE_OK)
        return (long)len;
    if (e == HPE_PAUSED && req->complete)
        return (long)(llhttp_get_error_pos(&req->parser) - data);
    if (!req->error_status)
        req->error_status = 400;
    return -1;
}

int http_finish(http_req_t *req, const char *data)
{
    req->base = data;
    if (!req->started)
        return 0;
    return llhttp_finish(&req->parser) == HPE_OK && req->complete ? 0 : -1;
}

size_t http_compact(http_req_t *req, char *data, size_t len, size_t *consumed)
{
    if (!req->headers_done || req->complete || !req->body_start || *consumed <= req->body_start)
        return len;
    size_t drop = *consumed - req->body_start;
    memmove(data + req->body_start, data + *consumed, len - *consumed);
    *consumed = req->body_start;
    return len - drop;
}

bool http_idle(const http_req_t *req) { return !req->started; }
