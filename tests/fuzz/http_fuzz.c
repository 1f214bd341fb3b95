/* libFuzzer target: the request-framing layer (src/http.c on llhttp), fed the way
 * src/conn.c feeds it.
 *
 * Input: byte 0 picks the limits (small ones half of the time, so that every limit path
 * is reachable), byte 1 seeds the sizes of the pieces the rest is cut into; the rest is
 * the byte stream a client sends. Each piece is appended to one growing buffer and parsed
 * from the last consumed offset; while a message is incomplete http_compact() drops body
 * bytes, as conn.c does; after a complete message the consumed bytes are dropped and
 * http_req_next() readies the parser for a pipelined one; a message without keep-alive
 * or a framing error ends the connection; end of input is http_finish().
 *
 * Invariants (a violation aborts, which libFuzzer reports with the input):
 *   - every span the parser recorded lies inside the buffer it refers to, after parsing
 *     and after compaction;
 *   - a failed parse names a status from {400, 413, 414, 431};
 *   - a complete message has a non-empty method and target, respects the field-count,
 *     request-line and field-size limits, and its body is no larger than the body limit
 *     or its own Content-Length;
 *   - while a message is unfinished, the bytes left unconsumed are at most one line,
 *     within the head cap (a chunk-size line: HTTP_CHUNK_LINE_MAX);
 *   - nothing crashes, leaks or reads out of bounds (ASan, UBSan).
 *
 * Past finding, now fixed: trailer spans made stale by http_compact() (an out-of-bounds
 * read in on_header_value_complete); trailers are no longer recorded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "src/http.h"
#include "tests/fuzz/pieces.h"

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "http_fuzz invariant: " __VA_ARGS__);                                      \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

static void pick_limits(http_limits_t *l, uint8_t sel)
{
    if (sel & 1) { /* production defaults */
        *l = (http_limits_t){.request_line = 4094,
                             .fields = 100,
                             .field_size = 8190,
                             .header_bytes = 64 * 1024,
                             .body = 1 << 20};
        return;
    }
    static const uint32_t lines[] = {0, 1, 16, 64};
    static const uint32_t fields[] = {0, 1, 3, 8};
    static const uint32_t sizes[] = {0, 1, 12, 40};
    *l = (http_limits_t){
        .request_line = lines[(sel >> 1) & 3],
        .fields = fields[(sel >> 3) & 3],
        .field_size = sizes[(sel >> 5) & 3],
        .header_bytes = (sel & 0x80) ? 96 : 64 * 1024,
        .body = (sel & 0x80) ? 10 : 0,
    };
}

static void check_span(const char *what, http_span_t s, size_t len)
{
    if ((uint64_t)s.off + s.len > len)
        FAIL("%s span [%u, +%u) outside the %zu-byte buffer", what, s.off, s.len, len);
}

static void check_spans(const http_req_t *req, size_t len)
{
    check_span("method", req->method, len);
    check_span("target", req->target, len);
    for (uint32_t i = 0; i < req->header_count; i++) {
        check_span("field name", req->headers[i].name, len);
        check_span("field value", req->headers[i].value, len);
    }
}

static void check_complete(const http_req_t *req, const http_limits_t *l, size_t len)
{
    uint32_t header_fields = req->header_count; /* trailers are counted apart, not kept */
    check_spans(req, len);
    if (req->method.len == 0)
        FAIL("complete message with an empty method");
    if (req->target.len == 0)
        FAIL("complete message with an empty target");
    if (l->fields && header_fields > l->fields)
        FAIL("%u header fields passed a limit of %u", header_fields, l->fields);
    if (l->request_line && req->target.len > l->request_line)
        FAIL("target of %u bytes passed a limit of %u", req->target.len, l->request_line);
    for (uint32_t i = 0; i < header_fields; i++) {
        uint32_t size = req->headers[i].name.len + req->headers[i].value.len;
        if (l->field_size && size > l->field_size)
            FAIL("field %u of %u bytes passed a limit of %u", i, size, l->field_size);
    }
    if (l->body && req->body_total > l->body)
        FAIL("body of %llu bytes passed a limit of %llu", (unsigned long long)req->body_total,
             (unsigned long long)l->body);
    /* every method's body is framed by its Content-Length, CONNECT's included */
    if (req->content_length >= 0 && req->body_total != (uint64_t)req->content_length)
        FAIL("body of %llu bytes for Content-Length %lld", (unsigned long long)req->body_total,
             (long long)req->content_length);
    if (req->body.len > req->body_total)
        FAIL("more body bytes kept than seen");
}

static void check_error(const http_req_t *req)
{
    int s = req->error_status;
    if (s != 400 && s != 413 && s != 414 && s != 431)
        FAIL("framing error with status %d", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    http_limits_t limits;
    pick_limits(&limits, data[0]);
    uint32_t rng = piece_seed(data, size);
    data += 2;
    size -= 2;

    http_req_t req;
    http_req_init(&req, &limits);
    http_req_reset(&req);
    buf_t in = {0};
    size_t parsed = 0, pos = 0;
    bool open = true;

    while (open && pos < size) {
        size_t piece = next_piece(&rng);
        if (piece > size - pos)
            piece = size - pos;
        buf_append(&in, data + pos, piece);
        pos += piece;
        for (;;) {
            if (!req.complete && parsed < in.len) {
                long r = http_parse(&req, in.data, parsed, in.len);
                if (r < 0) {
                    check_error(&req);
                    open = false;
                    break;
                }
                if ((size_t)r < parsed || (size_t)r > in.len)
                    FAIL("http_parse returned %ld for input [%zu, %zu)", r, parsed, in.len);
                parsed = (size_t)r;
                check_spans(&req, in.len);
                size_t bound = limits.header_bytes > HTTP_CHUNK_LINE_MAX ? limits.header_bytes
                                                                         : HTTP_CHUNK_LINE_MAX;
                if (!req.complete && in.len - parsed > bound)
                    FAIL("%zu bytes of one unfinished line kept", in.len - parsed);
            }
            if (!req.complete) {
                in.len = http_compact(&req, in.data, in.len, &parsed);
                if (parsed > in.len)
                    FAIL("compaction left consumed %zu past length %zu", parsed, in.len);
                check_spans(&req, in.len);
                break;
            }
            check_complete(&req, &limits, in.len);
            if (!req.keep_alive) {
                open = false;
                break;
            }
            buf_consume(&in, parsed);
            parsed = 0;
            http_req_next(&req);
        }
    }
    if (open)
        (void)http_finish(&req, in.data);
    http_req_free(&req);
    buf_free(&in);
    return 0;
}
