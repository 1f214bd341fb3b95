/* libFuzzer target: the WebSocket reader, src/wsread.c (with src/wsframe.c and
 * src/wsutf8.c under it).
 *
 * Input: two control bytes, then the bytes a client sends after the handshake. The first
 * control byte's bit 0 allows RSV1 (permessage-deflate agreed), bit 1 lets unmasked frames
 * through (so the fuzzer reaches past the mask check without learning to mask), and the
 * upper six bits set the message size limit to that many times 64 bytes (0: none). The
 * second picks where the stream is cut a second time, and the size of the pieces of a
 * third reading.
 *
 * Invariants (a violation aborts, which libFuzzer reports with the input):
 *   - every call takes at most what it is given, and an ERROR takes nothing and sticks;
 *   - a DATA slice lies inside the bytes given to that call; a CONTROL payload is at most
 *     125 bytes; a message is never longer than the limit;
 *   - a complete uncompressed text message is valid UTF-8; a close code reported is one
 *     valid on the wire or 1005;
 *   - where the stream is cut does not matter: the three readings report the same whole
 *     messages and control frames and end with the same error code (a cut reading may
 *     hand back a piece of a text before its bad byte arrives, but never a whole message
 *     the reading at once refuses);
 *   - nothing crashes or reads out of bounds (ASan, UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "src/wsread.h"
#include "tests/fuzz/invariant.h"

#define FAIL(...) FUZZ_FAIL("ws_fuzz", __VA_ARGS__)

typedef struct reading {
    buf_t log;     /* messages and control frames, in order */
    buf_t message; /* the message in progress */
    uint16_t error;
} reading_t;

static void add(buf_t *b, uint8_t tag, const void *p, size_t n)
{
    buf_append(b, &tag, 1);
    buf_append(b, &n, sizeof(n));
    buf_append(b, p, n);
}

static void check_event(reading_t *rd, const ws_event_t *ev, const uint8_t *in, size_t n,
                        size_t took, uint64_t max)
{
    switch (ev->kind) {
    case WS_EV_DATA:
        if (ev->data < in || ev->data + ev->len > in + took)
            FAIL("a data slice outside the bytes taken");
        if (ev->first)
            rd->message.len = 0;
        buf_append(&rd->message, ev->data, ev->len);
        if (max && rd->message.len > max)
            FAIL("a message of %zu bytes over a limit of %llu", rd->message.len,
                 (unsigned long long)max);
        if (ev->last) {
            if (ev->opcode == WS_OP_TEXT && !ev->compressed &&
                !ws_utf8_valid((const uint8_t *)rd->message.data, rd->message.len))
                FAIL("a text message that is not UTF-8");
            add(&rd->log, ev->opcode, rd->message.data, rd->message.len);
        }
        break;
    case WS_EV_CONTROL:
        if (ev->len > WS_CONTROL_MAX)
            FAIL("a control payload of %zu bytes", ev->len);
        if (ev->opcode == WS_OP_CLOSE && ev->close_code != WS_CLOSE_NO_STATUS &&
            !ws_close_code_valid(ev->close_code))
            FAIL("close code %u reported", ev->close_code);
        add(&rd->log, ev->opcode, ev->data, ev->len);
        break;
    case WS_EV_ERROR:
        if (took != 0)
            FAIL("an error that took %zu bytes", took);
        rd->error = ev->err.code;
        break;
    case WS_EV_NONE:
        break;
    }
    (void)n;
}

/* Reads the stream in pieces: cut at `cut` (0: none), then `step` bytes at a time after it
 * (0: the rest at once). The stream is copied: the reader unmasks in place. */
static void read_stream(const uint8_t *data, size_t size, uint8_t control, size_t cut, size_t step,
                        reading_t *rd)
{
    uint64_t max = (uint64_t)(control >> 2) * 64;
    ws_reader_t r;
    ws_reader_init(&r, max, (control & 1) ? WS_RSV1 : 0, !(control & 2));
    memset(rd, 0, sizeof(*rd));
    uint8_t *copy = uf_malloc(size ? size : 1);
    memcpy(copy, data, size);
    size_t at = 0;
    while (at < size && !rd->error) {
        size_t end = at < cut ? cut : step ? at + step : size;
        if (end > size)
            end = size;
        while (at < end && !rd->error) {
            ws_event_t ev;
            size_t took = ws_read(&r, copy + at, end - at, &ev);
            if (took > end - at)
                FAIL("took %zu of %zu bytes", took, end - at);
            check_event(rd, &ev, copy + at, end - at, took, max);
            at += took;
            if (rd->error) {
                ws_event_t again;
                if (ws_read(&r, copy + at, end - at, &again) != 0 || again.kind != WS_EV_ERROR ||
                    again.err.code != rd->error)
                    FAIL("an error that did not stick");
            }
        }
    }
    uf_free(copy);
}

static void compare(const reading_t *whole, const reading_t *cut, const char *how)
{
    if (whole->error != cut->error)
        FAIL("error %u at once, %u %s", whole->error, cut->error, how);
    if (whole->log.len != cut->log.len ||
        (cut->log.len && memcmp(whole->log.data, cut->log.data, cut->log.len)))
        FAIL("the reading at once and the reading %s differ", how);
}

static void release(reading_t *rd)
{
    buf_free(&rd->log);
    buf_free(&rd->message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t control = data[0], where = data[1];
    const uint8_t *b = data + 2;
    size_t n = size - 2;
    reading_t whole, cut, bytes;
    read_stream(b, n, control, 0, 0, &whole);
    read_stream(b, n, control, n ? (size_t)where * n / 256 + 1 : 0, 0, &cut);
    read_stream(b, n, control, 0, (size_t)(where & 7) + 1, &bytes);
    compare(&whole, &cut, "cut once");
    compare(&whole, &bytes, "in small pieces");
    release(&whole);
    release(&cut);
    release(&bytes);
    return 0;
}
