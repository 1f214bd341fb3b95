/* libFuzzer target: chunked bodies in src/http.c (chunk-size lines with extensions, chunk
 * data and its CRLF, trailer fields), behind a fixed chunked request head.
 *
 * Input: byte 0 picks the limits (production ones, or a small body limit, field size,
 * field count and head cap, so that every limit path is reachable), byte 1 seeds the sizes
 * of the pieces the rest is cut into; the rest follows "POST / HTTP/1.1 ... chunked".
 * The stream is parsed twice: whole, and piece by piece into a growing buffer with
 * http_compact() after each piece, as src/conn.c does.
 *
 * Invariants (a violation aborts, which libFuzzer reports with the input):
 *   - both runs end the same way: both fail, or both complete with the same de-chunked
 *     body and the same end, or both wait for more (the answer cannot depend on how the
 *     bytes arrived; only which 4xx may, when a line is wrong in two ways);
 *   - a failed parse names a status from {400, 413, 431};
 *   - memory stays bounded while the message is unfinished: the bytes left unconsumed
 *     are at most one line (HTTP_CHUNK_LINE_MAX for a chunk-size line, the head cap for a
 *     trailer), and after compaction the buffer holds no more than the head and that line
 *     (issue 15, items 1 and 3);
 *   - the de-chunked body never passes the body limit;
 *   - nothing crashes, leaks or reads out of bounds (ASan, UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/http.h"
#include "tests/fuzz/pieces.h"

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "chunk_fuzz invariant: " __VA_ARGS__);                                     \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

static const char head[] = "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

static void pick_limits(http_limits_t *l, uint8_t sel)
{
    *l = (http_limits_t){.request_line = 4094,
                         .fields = 100,
                         .field_size = 8190,
                         .header_bytes = 64 * 1024,
                         .body = 1 << 20};
    if (sel & 1)
        return;
    static const uint32_t fields[] = {0, 1, 3, 8};
    static const uint32_t sizes[] = {0, 24, 30, 64};
    static const uint64_t bodies[] = {0, 1, 10, 100};
    l->fields = fields[(sel >> 1) & 3];
    l->field_size = sizes[(sel >> 3) & 3];
    l->body = bodies[(sel >> 5) & 3];
    l->header_bytes = (sel & 0x80) ? 80 : 64 * 1024; /* the head alone is 59 bytes */
}

typedef struct outcome {
    int status;      /* 200 complete, 0 unfinished, else the error */
    size_t consumed; /* of the stream after the head, when complete */
    buf_t body;
} outcome_t;

static size_t line_bound(const http_limits_t *l)
{
    return l->header_bytes > HTTP_CHUNK_LINE_MAX ? l->header_bytes : HTTP_CHUNK_LINE_MAX;
}

/* Parses head + data, cut into pieces by rng (or whole when rng is NULL). */
static void run(const http_limits_t *l, const uint8_t *data, size_t size, uint32_t *rng,
                outcome_t *out)
{
    http_req_t req;
    http_req_init(&req, l);
    buf_t in = {0};
    size_t parsed = 0, pos = 0, dropped = 0;
    long r = 0;
    buf_append(&in, head, sizeof(head) - 1);
    *out = (outcome_t){0};
    while (pos < size) {
        size_t piece = rng ? next_piece(rng) : size;
        if (piece > size - pos)
            piece = size - pos;
        buf_append(&in, data + pos, piece);
        pos += piece;
        r = http_parse(&req, in.data, parsed, in.len);
        if (r < 0)
            break;
        if ((size_t)r < parsed || (size_t)r > in.len)
            FAIL("http_parse returned %ld for input [%zu, %zu)", r, parsed, in.len);
        parsed = (size_t)r;
        if (req.complete)
            break;
        if (in.len - parsed > line_bound(l))
            FAIL("%zu bytes of one unfinished line kept (bound %zu)", in.len - parsed,
                 line_bound(l));
        size_t before = in.len;
        in.len = http_compact(&req, in.data, in.len, &parsed);
        dropped += before - in.len;
        if (req.headers_done && in.len > sizeof(head) - 1 + line_bound(l))
            FAIL("%zu bytes kept after compaction", in.len);
    }
    if (l->body && req.body_total > l->body)
        FAIL("body of %llu bytes passed a limit of %llu", (unsigned long long)req.body_total,
             (unsigned long long)l->body);
    out->status = r < 0 ? req.error_status : req.complete ? 200 : 0;
    if (r < 0 && out->status != 400 && out->status != 413 && out->status != 431)
        FAIL("error status %d", out->status);
    if (req.complete)
        out->consumed = parsed + dropped - (sizeof(head) - 1);
    buf_append(&out->body, req.body.data, req.body.len);
    http_req_free(&req);
    buf_free(&in);
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

    outcome_t whole, split;
    run(&limits, data, size, NULL, &whole);
    run(&limits, data, size, &rng, &split);
    /* a line wrong in two ways (a control byte, and over the head cap) may be refused for
     * the one the split run sees first: then only the failing must agree */
    if ((whole.status >= 400) != (split.status >= 400) ||
        (whole.status < 400 && whole.status != split.status))
        FAIL("status %d whole, %d split", whole.status, split.status);
    if (whole.status == 200 &&
        (whole.consumed != split.consumed || whole.body.len != split.body.len ||
         (whole.body.len && memcmp(whole.body.data, split.body.data, whole.body.len) != 0)))
        FAIL("whole and split runs disagree on the body or its end (%zu, %zu)", whole.consumed,
             split.consumed);
    buf_free(&whole.body);
    buf_free(&split.body);
    return 0;
}
