/* The response writer: status line, headers and body framing, appended to a connection's
 * output buffer.
 *
 * It decides how the body is delimited from what the application told us: its own
 * Content-Length, a body whose total is known (a list or a single chunk), chunked
 * transfer on HTTP/1.1 otherwise, and close-delimited on HTTP/1.0. HEAD, 1xx, 204 and
 * 304 responses carry no body. Date and Server are added unless the application set
 * them. Error responses written here always close the connection.
 */
#ifndef UF_RESPONSE_H
#define UF_RESPONSE_H

#include <stdbool.h>
#include <stdint.h>

#include "python_bridge/wsgi.h"
#include "common/mem.h"

typedef enum resp_framing {
    RESP_LENGTH,  /* Content-Length: `length` */
    RESP_CHUNKED, /* Transfer-Encoding: chunked */
    RESP_CLOSE,   /* body ends when the connection closes (HTTP/1.0, unknown length) */
} resp_framing_t;

typedef struct resp_plan {
    /* inputs */
    int version_minor;
    bool head_request;
    bool keep_alive; /* in: what the request allows; out: what we will do */
    /* outputs */
    resp_framing_t framing;
    bool body_allowed;
    int64_t length; /* with RESP_LENGTH: bytes the body must have */
} resp_plan_t;

/* Appends the status line and headers for `reply` and fills in the plan. */
void resp_write_head(buf_t *out, resp_plan_t *plan, const py_reply_t *reply);

/* Appends body bytes framed for plan->framing (chunk header and trailer for chunked). */
void resp_write_body(buf_t *out, const resp_plan_t *plan, const char *data, size_t len);

/* Appends the terminating zero-length chunk when the framing is chunked. */
void resp_write_end(buf_t *out, const resp_plan_t *plan);

/* resp_write_end with trailer fields after the last chunk: only chunked framing can carry
 * them, so with any other they are dropped. Fields a recipient must not take from a
 * trailer (RFC 9110 6.5.1: framing, routing, authentication, content and response
 * control data) are dropped too. Names and values are as validated for a head. */
void resp_write_end_trailers(buf_t *out, const resp_plan_t *plan, const py_header_t *fields,
                             size_t count);

/* Appends a complete plain-text error response with Connection: close; without_body
 * (the answer to HEAD) sends Content-Length: 0 and nothing after the head, which every
 * reader frames the same way. */
void resp_write_error(buf_t *out, int status, bool without_body);

/* The reason phrase of a status code we generate ("Bad Request"). */
const char *resp_reason(int status);

#endif
