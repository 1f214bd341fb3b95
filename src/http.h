/* HTTP/1.x request framing on top of llhttp.
 *
 * A connection keeps everything it received in one contiguous input buffer and feeds it
 * to http_parse(). Spans (method, target, header names and values) are offsets into that
 * buffer, so they stay valid when the buffer grows, and they survive across reads even
 * when a header arrives split over several packets. The body, de-chunked, is copied into
 * req->body. Parsing pauses after each complete message so pipelined requests are
 * answered one at a time, in order.
 *
 * Limits (request line, header count, field size, total header bytes, body size) are
 * enforced as bytes arrive, so a client cannot make us buffer past them: a declared
 * Content-Length over the body limit fails as soon as the headers are complete (before a
 * single body byte is read, and before 100 Continue could be sent), a chunked body when
 * its running total passes the limit.
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

#include "src/mem.h"

typedef struct http_span {
    uint32_t off;
    uint32_t len;
} http_span_t;

typedef struct http_header {
    http_span_t name;
    http_span_t value;
} http_header_t;

typedef struct http_limits {
    uint32_t request_line;     /* bytes of the request-target; 0 = unlimited */
    uint32_t fields;           /* header count; 0 = unlimited */
    uint32_t field_size;       /* bytes of one header line; 0 = unlimited */
    uint32_t header_bytes;     /* all header bytes together */
    uint64_t body;             /* bytes of the de-chunked body; 0 = unlimited */
} http_limits_t;

typedef struct http_req {
    llhttp_t parser;
    const http_limits_t *limits;
    const char *base;          /* input buffer during http_parse; spans are relative to it */

    http_span_t method;
    http_span_t target;
    http_header_t *headers;    /* grows on demand, kept across requests */
    uint32_t header_count;
    uint32_t header_cap;
    uint32_t header_bytes;
    bool in_value;             /* the last span callback was a header value */

    buf_t body;                /* body bytes not yet taken away by the owner */
    uint64_t body_total;       /* body bytes seen in the current message */
    int64_t content_length;    /* declared Content-Length when headers_done, else -1 */
    uint32_t body_start;       /* offset of the first body byte seen, 0 = none yet */

    bool started;              /* on_message_begin seen for the current message */
    bool headers_done;
    bool complete;             /* a whole message has been parsed; parser is paused */
    bool keep_alive;           /* valid when complete */
    bool expect_continue;
    bool conn_close;           /* a Connection header lists "close" (our own reading) */
    bool has_te;               /* a Transfer-Encoding field was present, even empty */
    bool te_chunked_last;      /* ... and its last coding is "chunked" */
    bool has_cl;               /* a Content-Length field was present */
    int version_minor;
    int error_status;          /* 4xx chosen when parsing failed */
} http_req_t;

void http_req_init(http_req_t *req, const http_limits_t *limits);
void http_req_free(http_req_t *req);

/* Readies req for the next message on the same connection (after a complete one). */
void http_req_next(http_req_t *req);

/* Readies req for the first message of a new connection: also forgets what the parser
 * learnt from the previous one (after "Connection: close" it would refuse more data). */
void http_req_reset(http_req_t *req);

/* Feeds data[from, len) to the parser; data is the whole input buffer. Returns the
 * offset up to which bytes have been consumed (== len when more input is needed, less
 * when a message completed and the rest is a pipelined request), or -1 on a framing
 * error with req->error_status set (400, 413, 414 or 431). */
long http_parse(http_req_t *req, const char *data, size_t from, size_t len);

/* Signals end of input (peer closed); returns 0 if that completes a message (HTTP/1.0
 * close-delimited bodies never occur in requests, so only an idle connection is clean),
 * -1 if a message was cut short. */
int http_finish(http_req_t *req, const char *data);

/* Drops body bytes already copied into req->body from the input buffer so that a large
 * upload does not sit in memory twice. Returns the new length of the buffer contents;
 * `consumed` is updated to stay valid. */
size_t http_compact(http_req_t *req, char *data, size_t len, size_t *consumed);

/* True when the parser has not seen a single byte of the current message. */
bool http_idle(const http_req_t *req);

static inline const char *http_span_ptr(const char *base, http_span_t s) { return base + s.off; }

#endif
