/* HTTP/1.x request framing: http.c finds every line, message and chunk boundary itself;
 * llhttp interprets the header fields of the head.
 *
 * A connection keeps everything it received in one contiguous input buffer and feeds it
 * to http_parse(). Spans (method, target, header names and values) are offsets into that
 * buffer, so they stay valid when the buffer grows, and they survive across reads even
 * when a line arrives split over several packets. The body, de-chunked, is copied into
 * req->body. Parsing stops after each complete message so pipelined requests are
 * answered one at a time, in order.
 *
 * The head is taken a whole line at a time: a line whose end has not arrived yet is left
 * unconsumed (http_parse returns its start) and is looked at again with more bytes. Every
 * such partial line is bounded (the request line by --limit-request-line, a field line by
 * the head cap, a chunk-size line by HTTP_CHUNK_LINE_MAX, a trailer by the head cap), so
 * a client can never make us hold more than one bounded line beyond what a limit
 * accounts for. Limits (request line, field count, field size, the whole head, body size)
 * are enforced as bytes arrive: a declared Content-Length or a chunk size over the body
 * limit fails as soon as its line is parsed (before a single byte of it is read, and
 * before 100 Continue could be sent).
 *
 * The body accumulates in req->body; its owner (the connection) may write it elsewhere
 * and empty it while the message is still arriving (spooling to a file), so body_total,
 * not body.len, is the size of the body seen so far.
 */
#ifndef UF_HTTP_H
#define UF_HTTP_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"
#include "tunables/tunables.h"

/* Longest chunk-size line, extensions and CRLF included; a longer one gets 400. Real
 * clients send a few hex digits; extensions are rare and short. */
#define HTTP_CHUNK_LINE_MAX 4096

/* Most empty lines accepted before a request line (RFC 9112 2.2 asks for at least one:
 * some clients send a CRLF after a POST body). One more gets 400. */
#define HTTP_EMPTY_LINES_MAX 8

typedef struct http_span {
    uint32_t off;
    uint32_t len;
} http_span_t;

typedef struct http_header {
    http_span_t name;
    http_span_t value;
} http_header_t;

typedef struct http_limits {
    uint32_t request_line; /* bytes of the request line without CRLF; 0 = unlimited */
    uint32_t fields;       /* fields in the head, and in the trailers; 0 = unlimited */
    uint32_t field_size;   /* name + value bytes of one field; 0 = unlimited */
    uint32_t header_bytes; /* bytes of the whole head (empty lines before it, request
                              line, field lines, line ends), and of the trailers */
    uint64_t body;         /* bytes of the de-chunked body; 0 = unlimited */
    bool require_host;     /* HTTP/1.1 without Host gets 400 */
} http_limits_t;

typedef struct http_req {
    llhttp_t parser; /* reads the field lines of the head, nothing else */
    const http_limits_t *limits;
    const char *base;     /* input buffer during http_parse; spans are relative to it */
    uint8_t phase;        /* what the next byte is (enum in http.c) */
    uint32_t line_seen;   /* bytes of the unfinished line at `from` already checked */
    uint32_t line_spaces; /* ... and the spaces among them */

    http_span_t method;
    http_span_t target;
    http_header_t *headers; /* grows on demand, kept across requests */
    uint32_t header_count;
    uint32_t header_cap;
    uint32_t header_bytes; /* bytes of the head (or of the trailers) so far */
    uint32_t trailer_count;
    uint8_t empty_lines;
    uint8_t host_count;

    buf_t body;             /* body bytes not yet taken away by the owner */
    uint64_t body_total;    /* body bytes seen in the current message */
    uint64_t body_left;     /* of the Content-Length body, or of the current chunk */
    int64_t content_length; /* declared Content-Length when headers_done, else -1 */
    uint32_t body_start;    /* offset where the body (framing included) begins, 0 = none */

    bool started; /* a byte of the current request line has arrived */
    bool headers_done;
    bool complete;   /* a whole message has been parsed */
    bool compacted;  /* http_compact dropped bytes: the buffer no longer holds the request
                        as it came (its chunk framing is gone), so it cannot be replayed */
    bool keep_alive; /* valid when complete */
    bool expect_continue;
    bool conn_close;        /* a Connection header lists "close" (our own reading) */
    bool has_te;            /* a Transfer-Encoding field was present, even empty */
    bool te_chunked_last;   /* ... and its last coding is "chunked" */
    bool has_cl;            /* a Content-Length field was present */
    bool llhttp_keep_alive; /* what llhttp read from the version and Connection */
    int version_minor;
    int error_status; /* 4xx chosen when parsing failed */
} http_req_t;

/* Fills limits from the settings (the rule for the head cap when it is left at 0). */
void http_limits_from_config(http_limits_t *limits, const tun_config_t *cfg);

void http_req_init(http_req_t *req, const http_limits_t *limits);
void http_req_free(http_req_t *req);

/* Readies req for the next message on the same connection (after a complete one). */
void http_req_next(http_req_t *req);

/* Readies req for the first message of a new connection. */
void http_req_reset(http_req_t *req);

/* Feeds data[from, len) to the parser; data is the whole input buffer. Returns the
 * offset up to which bytes have been consumed: less than len when a message completed
 * and the rest is a pipelined request, or when the rest is the start of a line whose end
 * has not arrived (call again from exactly there with more bytes: what was checked of
 * that line is not checked again); -1 on a framing error with
 * req->error_status set (400, 413, 414 or 431). */
long http_parse(http_req_t *req, const char *data, size_t from, size_t len);

/* ---- a head framed by another protocol (the uwsgi protocol: src/uwsgireq.h) ----------
 * The caller reads the head itself and fills method, target and version_minor (spans
 * into the input buffer, as http_parse would), then adds each header field and says
 * where the head ends; http_parse from there takes the body as a Content-Length body. */

/* Adds one header field (spans into the input buffer) under the field-count limit.
 * Returns 0, or -1 with error_status 431. */
int http_add_header(http_req_t *req, http_span_t name, http_span_t value);

/* The head is whole: it ends at body_off and a body of `length` bytes follows (none when
 * 0). The message never keeps the connection alive. Returns 0, or -1 with error_status
 * 413 when the body is over the limit. */
int http_head_framed(http_req_t *req, uint32_t body_off, uint64_t length);

/* Signals end of input (peer closed); returns 0 if the connection ended cleanly between
 * messages (HTTP/1.0 close-delimited bodies never occur in requests), -1 if a message
 * was cut short. */
int http_finish(http_req_t *req, const char *data);

/* Drops the consumed body bytes (chunk framing and trailers included) from the input
 * buffer so that a large upload does not sit in memory twice. Returns the new length of
 * the buffer contents; `consumed` is updated to stay valid. */
size_t http_compact(http_req_t *req, char *data, size_t len, size_t *consumed);

/* True when the parser has not seen a byte of the current request line. */
bool http_idle(const http_req_t *req);

static inline const char *http_span_ptr(const char *base, http_span_t s)
{
    return base + s.off;
}

#endif
