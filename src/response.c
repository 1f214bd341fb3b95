/* Status line, headers and body framing. */
#include "src/response.h"

#include <stdio.h>
#include <strings.h>
#include <time.h>

/* The Date header changes once a second: format it once per second, not per response.
 * A pure memo of the clock, one per thread: heads are written by the worker loop and,
 * with --threads, by the application threads at the same time. */
static _Thread_local struct {
    time_t second;
    char text[40]; /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
    size_t len;
} date_cache;

static void append_date(buf_t *out)
{
    time_t now = time(NULL);
    if (now != date_cache.second) {
        struct tm tm;
        gmtime_r(&now, &tm);
        date_cache.len = strftime(date_cache.text, sizeof(date_cache.text),
                                  "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        date_cache.second = now;
    }
    buf_append(out, date_cache.text, date_cache.len);
}

static bool name_is(py_slice_t name, const char *lower, size_t len)
{
    return name.len == len && strncasecmp(name.ptr, lower, len) == 0;
}

const char *resp_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

void resp_write_head(buf_t *out, resp_plan_t *plan, const py_reply_t *reply)
{
    int code = reply->status_code;
    plan->body_allowed = !plan->head_request && code >= 200 && code != 204 && code != 304;
    bool no_length_header = (code >= 100 && code < 200) || code == 204 || code == 304;

    bool has_date = false, has_server = false;
    for (size_t i = 0; i < reply->header_count; i++) {
        py_slice_t name = reply->headers[i].name, value = reply->headers[i].value;
        if (name_is(name, "date", 4))
            has_date = true;
        else if (name_is(name, "server", 6))
            has_server = true;
        else if (name_is(name, "connection", 10) && value.len == 5 &&
                 strncasecmp(value.ptr, "close", 5) == 0)
            plan->keep_alive = false;
    }

    bool add_length = false;
    if (reply->content_length >= 0) {
        plan->framing = RESP_LENGTH;
        plan->length = reply->content_length;
    } else if (reply->body_length >= 0 || reply->done) {
        plan->framing = RESP_LENGTH;
        plan->length = reply->body_length >= 0 ? reply->body_length : (int64_t)reply->chunk.len;
        add_length = !no_length_header;
    } else if (plan->version_minor >= 1) {
        plan->framing = RESP_CHUNKED;
    } else {
        plan->framing = RESP_CLOSE;
        plan->keep_alive = false;
    }
    /* a HEAD answer or 204/304 never has a body to delimit */
    if (!plan->body_allowed && plan->framing != RESP_LENGTH) {
        plan->framing = RESP_LENGTH;
        plan->length = 0;
    }

    buf_append_str(out, plan->version_minor ? "HTTP/1.1 " : "HTTP/1.0 ");
    buf_append(out, reply->status.ptr, reply->status.len);
    buf_append(out, "\r\n", 2);
    for (size_t i = 0; i < reply->header_count; i++) {
        py_slice_t name = reply->headers[i].name, value = reply->headers[i].value;
        /* framing and connection management are ours (hop-by-hop, PEP 3333) */
        if (name_is(name, "transfer-encoding", 17) || name_is(name, "connection", 10) ||
            name_is(name, "keep-alive", 10))
            continue;
        buf_append(out, name.ptr, name.len);
        buf_append(out, ": ", 2);
        buf_append(out, value.ptr, value.len);
        buf_append(out, "\r\n", 2);
    }
    if (add_length) {
        buf_append_str(out, "Content-Length: ");
        buf_append_u64(out, (uint64_t)plan->length);
        buf_append(out, "\r\n", 2);
    }
    if (plan->framing == RESP_CHUNKED && plan->body_allowed)
        buf_append_str(out, "Transfer-Encoding: chunked\r\n");
    if (!plan->keep_alive)
        buf_append_str(out, "Connection: close\r\n");
    else if (plan->version_minor == 0)
        buf_append_str(out, "Connection: keep-alive\r\n");
    if (!has_date)
        append_date(out);
    if (!has_server)
        buf_append_str(out, "Server: uwsgi-fast\r\n");
    buf_append(out, "\r\n", 2);
}

void resp_write_body(buf_t *out, const resp_plan_t *plan, const char *data, size_t len)
{
    if (!len || !plan->body_allowed)
        return;
    if (plan->framing == RESP_CHUNKED) {
        char head[20];
        int n = snprintf(head, sizeof(head), "%zx\r\n", len);
        buf_append(out, head, (size_t)n);
        buf_append(out, data, len);
        buf_append(out, "\r\n", 2);
    } else {
        buf_append(out, data, len);
    }
}

void resp_write_end(buf_t *out, const resp_plan_t *plan)
{
    if (plan->framing == RESP_CHUNKED && plan->body_allowed)
        buf_append(out, "0\r\n\r\n", 5);
}

/* Fields RFC 9110 6.5.1 keeps out of trailers: a recipient would have needed them before
 * the body (framing, routing, content coding, caching, authentication, cookies). */
static bool trailer_forbidden(py_slice_t name)
{
    static const char *const forbidden[] = {
        "content-length",
        "transfer-encoding",
        "host",
        "trailer",
        "te",
        "connection",
        "keep-alive",
        "upgrade",
        "content-encoding",
        "content-type",
        "content-range",
        "cache-control",
        "expect",
        "max-forwards",
        "pragma",
        "range",
        "authorization",
        "proxy-authorization",
        "set-cookie",
        "www-authenticate",
        "proxy-authenticate",
        "age",
        "expires",
        "date",
        "location",
        "retry-after",
        "vary",
        "warning",
    };
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
        if (name_is(name, forbidden[i], strlen(forbidden[i])))
            return true;
    return false;
}

void resp_write_end_trailers(buf_t *out, const resp_plan_t *plan, const py_header_t *fields,
                             size_t count)
{
    if (plan->framing != RESP_CHUNKED || !plan->body_allowed)
        return;
    buf_append(out, "0\r\n", 3);
    for (size_t i = 0; i < count; i++) {
        if (trailer_forbidden(fields[i].name))
            continue;
        buf_append(out, fields[i].name.ptr, fields[i].name.len);
        buf_append(out, ": ", 2);
        buf_append(out, fields[i].value.ptr, fields[i].value.len);
        buf_append(out, "\r\n", 2);
    }
    buf_append(out, "\r\n", 2);
}

void resp_write_error(buf_t *out, int status, bool without_body)
{
    const char *reason = resp_reason(status);
    char line[64];
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, reason);
    buf_append(out, line, (size_t)n);
    buf_append_str(out, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    buf_append_u64(out, without_body ? 0 : strlen(reason) + 1);
    buf_append_str(out, "\r\nConnection: close\r\n");
    append_date(out);
    buf_append_str(out, "Server: uwsgi-fast\r\n\r\n");
    if (without_body)
        return;
    buf_append_str(out, reason);
    buf_append(out, "\n", 1);
}
