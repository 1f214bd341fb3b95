/* Unit tests for src/wsdeflate.c: negotiation (the first acceptable offer of several over
 * several fields; each parameter alone and together; declined offers: unknown, repeated
 * or malformed parameters, server_max_window_bits=8; the answer's text), messages both
 * ways with and without context takeover (what context takeover saves is seen in the
 * sizes), the empty message's single byte, a bomb stopped at the bound with 1009, and
 * bytes that are not deflate refused with 1007. */
#include "src/wsdeflate.c"

#include "check.h"

#include <stdlib.h>

/* clang-format off */
#define H(n, v) {{n, sizeof(n) - 1}, {v, sizeof(v) - 1}}
/* clang-format on */

static bool negotiate(const py_header_t *h, size_t n, ws_deflate_params_t *p, char *answer)
{
    py_request_t r = {.headers = h, .header_count = n};
    return ws_deflate_negotiate(&r, p, answer);
}

static void expect_answer(const char *offer, const char *want)
{
    py_header_t h[1] = {{{"Sec-WebSocket-Extensions", 24}, {offer, strlen(offer)}}};
    ws_deflate_params_t p;
    char answer[WS_DEFLATE_ANSWER_MAX] = "";
    bool ok = negotiate(h, 1, &p, answer);
    if (!want) {
        if (ok)
            fprintf(stderr, "offer \"%s\" accepted as \"%s\"\n", offer, answer);
        CHECK(!ok);
        return;
    }
    CHECK(ok);
    CHECK_EQ_STR(answer, want);
}

static void test_negotiation(void)
{
    expect_answer("permessage-deflate", "permessage-deflate");
    expect_answer("permessage-deflate; client_max_window_bits", "permessage-deflate");
    expect_answer("Permessage-Deflate; client_max_window_bits=10", "permessage-deflate");
    expect_answer("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                  "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    expect_answer("permessage-deflate; server_max_window_bits=10",
                  "permessage-deflate; server_max_window_bits=10");
    expect_answer("permessage-deflate; server_max_window_bits=\"15\"",
                  "permessage-deflate; server_max_window_bits=15");
    expect_answer("x-webkit-deflate-frame", NULL);
    expect_answer("permessage-deflate; server_max_window_bits=8", NULL);
    expect_answer("permessage-deflate; server_max_window_bits=16", NULL);
    expect_answer("permessage-deflate; server_max_window_bits", NULL);
    expect_answer("permessage-deflate; client_max_window_bits=7", NULL);
    expect_answer("permessage-deflate; server_no_context_takeover=1", NULL);
    expect_answer("permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                  NULL);
    expect_answer("permessage-deflate; mystery", NULL);
    /* the first acceptable offer wins, across offers and fields */
    expect_answer("permessage-deflate; server_max_window_bits=8, permessage-deflate; "
                  "client_no_context_takeover",
                  "permessage-deflate; client_no_context_takeover");
    const py_header_t two[] = {
        H("Sec-WebSocket-Extensions", "foo"),
        H("sec-websocket-extensions", "permessage-deflate; server_no_context_takeover"),
    };
    ws_deflate_params_t p;
    char answer[WS_DEFLATE_ANSWER_MAX];
    CHECK(negotiate(two, 2, &p, answer));
    CHECK(p.server_no_context_takeover && !p.client_no_context_takeover);
    CHECK(!negotiate(two, 1, &p, answer));
}

/* Sends each message through a deflater and an inflater that keep their contexts (or
 * not); returns the compressed bytes in total. */
static size_t round_trip(bool takeover)
{
    ws_deflate_t tx = {0}, rx = {0};
    tx.params.server_no_context_takeover = !takeover;
    rx.params.client_no_context_takeover = !takeover;
    const char *msg = "{\"type\": \"chat\", \"room\": \"lobby\", \"text\": \"hello, everyone\"}";
    size_t total = 0, wrong = 0;
    for (int i = 0; i < 20; i++) {
        buf_t z = {0}, back = {0};
        ws_deflate_deflate(&tx, (const uint8_t *)msg, strlen(msg), &z);
        total += z.len;
        ws_error_t err;
        if (ws_deflate_inflate(&rx, (const uint8_t *)z.data, z.len, &back, 1 << 20, &err) != 0 ||
            back.len != strlen(msg) || memcmp(back.data, msg, back.len) != 0)
            wrong++;
        buf_free(&z);
        buf_free(&back);
    }
    CHECK_EQ_INT(wrong, 0);
    ws_deflate_free(&tx);
    ws_deflate_free(&rx);
    return total;
}

static void test_messages(void)
{
    size_t with = round_trip(true), without = round_trip(false);
    /* with context takeover the 19 repeats are back-references to the first */
    CHECK(with * 2 < without);
    /* an empty message is one byte, and inflates to nothing */
    ws_deflate_t d = {0};
    buf_t z = {0}, back = {0};
    ws_deflate_deflate(&d, (const uint8_t *)"", 0, &z);
    ws_deflate_deflate(&d, (const uint8_t *)"", 0, &z);
    CHECK(z.len >= 1);
    ws_error_t err;
    CHECK_EQ_INT(ws_deflate_inflate(&d, (const uint8_t *)"\x00", 1, &back, 0, &err), 0);
    CHECK_EQ_INT(ws_deflate_inflate(&d, (const uint8_t *)"", 0, &back, 0, &err), 0);
    CHECK_EQ_INT(back.len, 0);
    /* a large message, then a small one on the same context */
    buf_t big = {0};
    for (int i = 0; i < 100000; i++)
        buf_printf(&big, "%d,", i);
    z.len = 0;
    ws_deflate_deflate(&d, (const uint8_t *)big.data, big.len, &z);
    CHECK_EQ_INT(ws_deflate_inflate(&d, (const uint8_t *)z.data, z.len, &back, 0, &err), 0);
    CHECK(back.len == big.len && memcmp(back.data, big.data, big.len) == 0);
    ws_deflate_free(&d);
    buf_free(&z);
    buf_free(&back);
    buf_free(&big);
}

static void test_bomb_and_garbage(void)
{
    /* 64 MiB of zeros deflate to about 64 KiB: the inflater stops near the 1 MiB bound */
    ws_deflate_t tx = {0}, rx = {0};
    size_t n = 64u << 20;
    uint8_t *zeros = calloc(1, n);
    buf_t z = {0}, out = {0};
    ws_deflate_deflate(&tx, zeros, n, &z);
    CHECK(z.len < 256 * 1024);
    ws_error_t err = {0, NULL};
    CHECK_EQ_INT(ws_deflate_inflate(&rx, (const uint8_t *)z.data, z.len, &out, 1 << 20, &err), -1);
    CHECK_EQ_INT(err.code, WS_CLOSE_TOO_BIG);
    CHECK(out.len <= (1 << 20) + 16384); /* the bound plus one chunk */
    CHECK(out.cap <= 4u << 20);          /* (the buffer doubles), far from 64 MiB */
    free(zeros);
    ws_deflate_free(&rx);
    ws_deflate_t bad = {0};
    out.len = 0;
    CHECK_EQ_INT(ws_deflate_inflate(&bad, (const uint8_t *)"\xff\xff\xff\xff", 4, &out, 0, &err),
                 -1);
    CHECK_EQ_INT(err.code, WS_CLOSE_BAD_DATA);
    ws_deflate_free(&bad);
    ws_deflate_free(&tx);
    buf_free(&z);
    buf_free(&out);
}

int main(void)
{
    test_negotiation();
    test_messages();
    test_bomb_and_garbage();
    return check_done();
}
