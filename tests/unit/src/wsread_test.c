/* Unit tests for src/wsread.c: messages whole, fragmented, with pings between fragments,
 * fed at once and a byte at a time; every refusal with its close code (unmasked frames,
 * reserved bits, continuation out of place, a new message inside one, the size limit
 * across fragments, bad UTF-8 split over fragments, a text ending inside a code point,
 * a bad close code); refusals that stick; RSV1 accepted where permessage-deflate owns it. */
#include "src/wsread.c"

#include "check.h"

#include "common/mem.h"

static const uint8_t key[4] = {0xa1, 0x05, 0x7e, 0x33};

/* Appends a client frame (masked unless unmasked) to b. */
static void frame(buf_t *b, bool fin, uint8_t rsv, uint8_t op, const void *payload, size_t n,
                  bool unmasked)
{
    uint8_t h[WS_HEADER_MAX];
    size_t hl = ws_frame_encode(h, fin, rsv, op, n, unmasked ? NULL : key);
    buf_append(b, h, hl);
    char *p = buf_reserve(b, n);
    memcpy(p, payload, n);
    if (!unmasked)
        ws_unmask((uint8_t *)p, n, key, 0);
    b->len += n;
}

/* What a stream produced: the messages joined (each "T:" or "B:" then its bytes then
 * "|"), control frames as "ping(x)", and the error's code (0 if none). */
typedef struct seen {
    buf_t log;
    uint16_t error;
    uint16_t close_code;
} seen_t;

static void note(seen_t *s, const ws_event_t *ev)
{
    switch (ev->kind) {
    case WS_EV_DATA:
        if (ev->first)
            buf_append_str(&s->log, ev->opcode == WS_OP_TEXT ? "T:" : "B:");
        buf_append(&s->log, ev->data, ev->len);
        if (ev->last)
            buf_append_str(&s->log, ev->compressed ? "|z" : "|");
        break;
    case WS_EV_CONTROL:
        buf_append_str(&s->log, ev->opcode == WS_OP_PING   ? "ping("
                                : ev->opcode == WS_OP_PONG ? "pong("
                                                           : "close(");
        if (ev->opcode == WS_OP_CLOSE) {
            s->close_code = ev->close_code;
            buf_append(&s->log, ev->reason, ev->reason_len);
        } else {
            buf_append(&s->log, ev->data, ev->len);
        }
        buf_append_str(&s->log, ")");
        break;
    case WS_EV_ERROR:
        s->error = ev->err.code;
        break;
    case WS_EV_NONE:
        break;
    }
}

/* Feeds the stream in pieces of `step` bytes (0: all at once) to a fresh reader. */
static void run(const buf_t *stream, size_t step, uint64_t max, uint8_t rsv, seen_t *s)
{
    ws_reader_t r;
    ws_reader_init(&r, max, rsv, true);
    memset(s, 0, sizeof(*s));
    buf_t copy = {0};
    buf_append(&copy, stream->data, stream->len);
    uint8_t *p = (uint8_t *)copy.data;
    size_t left = copy.len;
    while (left > 0 && !s->error) {
        size_t piece = step && step < left ? step : left;
        while (piece > 0 && !s->error) {
            ws_event_t ev;
            size_t k = ws_read(&r, p, piece, &ev);
            note(s, &ev);
            p += k;
            left -= k;
            piece -= k;
        }
    }
    buf_append(&s->log, "", 1);
    buf_free(&copy);
}

/* The stream gives `want` and error code `code`, whether fed at once or byte by byte. */
static void expect(const char *what, const buf_t *stream, uint64_t max, uint8_t rsv,
                   const char *want, uint16_t code)
{
    for (size_t step = 0; step <= 1; step++) {
        seen_t s;
        run(stream, step, max, rsv, &s);
        if (strcmp(s.log.data, want) != 0 || s.error != code)
            fprintf(stderr, "%s (step %zu): got \"%s\" error %u\n", what, step, s.log.data,
                    s.error);
        CHECK_EQ_STR(s.log.data, want);
        CHECK_EQ_INT(s.error, code);
        buf_free(&s.log);
    }
}

static void test_messages(void)
{
    buf_t b = {0};
    frame(&b, true, 0, WS_OP_TEXT, "hello", 5, false);
    frame(&b, true, 0, WS_OP_BINARY, "", 0, false);
    frame(&b, true, 0, WS_OP_TEXT, "", 0, false);
    frame(&b, true, 0, WS_OP_PING, "p1", 2, false);
    frame(&b, true, 0, WS_OP_CLOSE,
          "\x03\xe8"
          "done",
          6, false);
    expect("whole messages", &b, 0, 0, "T:hello|B:|T:|ping(p1)close(done)", 0);
    buf_free(&b);
}

static void test_fragments(void)
{
    buf_t b = {0};
    /* "h\xc3\xa9llo" with the two-byte character cut between fragments, a ping and a pong
     * between them, an empty fragment and an empty final one */
    frame(&b, false, 0, WS_OP_TEXT, "h\xc3", 2, false);
    frame(&b, true, 0, WS_OP_PING, "", 0, false);
    frame(&b, false, 0, WS_OP_CONT, "", 0, false);
    frame(&b, false, 0, WS_OP_CONT, "\xa9ll", 3, false);
    frame(&b, true, 0, WS_OP_PONG, "x", 1, false);
    frame(&b, false, 0, WS_OP_CONT, "o", 1, false);
    frame(&b, true, 0, WS_OP_CONT, "", 0, false);
    frame(&b, true, 0, WS_OP_BINARY, "\x00\xff", 2, false);
    expect("fragments", &b, 0, 0, "T:h\xc3ping()\xa9llpong(x)o|B:\x00\xff|", 0);
    buf_free(&b);
}

static void test_protocol_errors(void)
{
    buf_t b = {0};
    frame(&b, true, 0, WS_OP_TEXT, "hi", 2, true);
    expect("unmasked", &b, 0, 0, "", WS_CLOSE_PROTOCOL);
    b.len = 0;
    frame(&b, true, WS_RSV2, WS_OP_TEXT, "hi", 2, false);
    expect("rsv2", &b, 0, WS_RSV1, "", WS_CLOSE_PROTOCOL);
    b.len = 0;
    frame(&b, true, WS_RSV1, WS_OP_TEXT, "hi", 2, false);
    expect("rsv1 without deflate", &b, 0, 0, "", WS_CLOSE_PROTOCOL);
    /* with permessage-deflate RSV1 marks the message compressed: no UTF-8 check here */
    b.len = 0;
    frame(&b, false, WS_RSV1, WS_OP_TEXT, "\xff", 1, false);
    frame(&b, true, 0, WS_OP_CONT, "\xfe", 1, false);
    expect("rsv1 with deflate", &b, 0, WS_RSV1, "T:\xff\xfe|z", 0);
    b.len = 0;
    frame(&b, false, WS_RSV1, WS_OP_TEXT, "a", 1, false);
    frame(&b, true, WS_RSV1, WS_OP_CONT, "b", 1, false);
    expect("rsv1 on a continuation", &b, 0, WS_RSV1, "T:a", WS_CLOSE_PROTOCOL);
    b.len = 0;
    frame(&b, true, WS_RSV1, WS_OP_PING, "", 0, false);
    expect("rsv1 on a ping", &b, 0, WS_RSV1, "", WS_CLOSE_PROTOCOL);
    b.len = 0;
    frame(&b, true, 0, WS_OP_CONT, "a", 1, false);
    expect("stray continuation", &b, 0, 0, "", WS_CLOSE_PROTOCOL);
    b.len = 0;
    frame(&b, false, 0, WS_OP_TEXT, "a", 1, false);
    frame(&b, true, 0, WS_OP_BINARY, "b", 1, false);
    expect("message inside a message", &b, 0, 0, "T:a", WS_CLOSE_PROTOCOL);
    b.len = 0;
    buf_append(&b, "\x89\x7e\x00\x7e", 4);
    expect("long ping", &b, 0, 0, "", WS_CLOSE_PROTOCOL);
    b.len = 0;
    frame(&b, true, 0, WS_OP_CLOSE, "\x03\xed", 2, false);
    expect("close code 1005 on the wire", &b, 0, 0, "", WS_CLOSE_PROTOCOL);
    b.len = 0;
    frame(&b, true, 0, WS_OP_CLOSE, "\x03", 1, false);
    expect("one-byte close", &b, 0, 0, "", WS_CLOSE_PROTOCOL);
    buf_free(&b);
}

static void test_utf8(void)
{
    buf_t b = {0};
    /* a surrogate split across fragments: refused at its second byte */
    frame(&b, false, 0, WS_OP_TEXT, "ok\xed", 3, false);
    frame(&b, true, 0, WS_OP_CONT, "\xa0\x80", 2, false);
    expect("surrogate across fragments", &b, 0, 0, "T:ok\xed", WS_CLOSE_BAD_DATA);
    b.len = 0;
    frame(&b, false, 0, WS_OP_TEXT, "ok", 2, false);
    frame(&b, true, 0, WS_OP_CONT, "\xe2", 1, false);
    expect("ends inside a code point", &b, 0, 0, "T:ok", WS_CLOSE_BAD_DATA);
    b.len = 0;
    frame(&b, true, 0, WS_OP_CLOSE, "\x03\xe8\xc3", 3, false);
    expect("close reason not UTF-8", &b, 0, 0, "", WS_CLOSE_BAD_DATA);
    /* binary messages are not text */
    b.len = 0;
    frame(&b, true, 0, WS_OP_BINARY, "\xed\xa0\x80", 3, false);
    expect("binary", &b, 0, 0, "B:\xed\xa0\x80|", 0);
    buf_free(&b);
}

static void test_size_limit(void)
{
    buf_t b = {0};
    frame(&b, true, 0, WS_OP_BINARY, "0123456789", 10, false);
    expect("at the limit", &b, 10, 0, "B:0123456789|", 0);
    expect("over the limit", &b, 9, 0, "", WS_CLOSE_TOO_BIG);
    b.len = 0;
    frame(&b, false, 0, WS_OP_BINARY, "01234", 5, false);
    frame(&b, true, 0, WS_OP_PING, "", 0, false);
    frame(&b, true, 0, WS_OP_CONT, "56789", 5, false);
    expect("fragments over the limit", &b, 9, 0, "B:01234ping()", WS_CLOSE_TOO_BIG);
    /* refused at the header: the payload of a huge frame is never waited for */
    ws_reader_t r;
    ws_reader_init(&r, 1 << 20, 0, true);
    uint8_t h[WS_HEADER_MAX];
    size_t hl = ws_frame_encode(h, true, 0, WS_OP_BINARY, 1ull << 40, key);
    ws_event_t ev;
    CHECK_EQ_INT(ws_read(&r, h, hl, &ev), 0);
    CHECK_EQ_INT(ev.kind, WS_EV_ERROR);
    CHECK_EQ_INT(ev.err.code, WS_CLOSE_TOO_BIG);
    /* and it sticks */
    CHECK_EQ_INT(ws_read(&r, h, hl, &ev), 0);
    CHECK_EQ_INT(ev.kind, WS_EV_ERROR);
    buf_free(&b);
}

int main(void)
{
    test_messages();
    test_fragments();
    test_protocol_errors();
    test_utf8();
    test_size_limit();
    return check_done();
}
