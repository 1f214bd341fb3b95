/* Unit tests for src/wsframe.c: headers of each length form parsed and encoded (7, 16 and
 * 64 bits, masked and not) and every proper prefix needing more; the refusals (reserved
 * opcodes, fragmented or long control frames, lengths not in their shortest form, the
 * 64-bit length's top bit); unmasking in pieces at every offset; close codes; close
 * payloads read and built, a long reason cut at a code point. */
#include "src/wsframe.c"

#include "check.h"

#include "common/mem.h"

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

static void test_round_trip(void)
{
    const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 10u << 20, (1ull << 63) - 1};
    for (size_t i = 0; i < UF_ARRAY_LEN(lens); i++) {
        for (int masked = 0; masked < 2; masked++) {
            uint8_t h[WS_HEADER_MAX];
            size_t n =
                ws_frame_encode(h, i & 1, WS_RSV1, WS_OP_BINARY, lens[i], masked ? key : NULL);
            size_t want = (lens[i] < 126 ? 2 : lens[i] <= 0xffff ? 4 : 10) + (masked ? 4 : 0);
            CHECK_EQ_INT(n, want);
            ws_frame_t f;
            ws_error_t err;
            size_t short_ok = 0;
            for (size_t k = 0; k < n; k++)
                if (ws_frame_parse(h, k, &f, &err) == 0)
                    short_ok++;
            CHECK_EQ_INT(short_ok, n);
            CHECK_EQ_INT(ws_frame_parse(h, n, &f, &err), (long)n);
            CHECK_EQ_INT(f.len, lens[i]);
            CHECK(f.fin == (bool)(i & 1));
            CHECK_EQ_INT(f.rsv, WS_RSV1);
            CHECK_EQ_INT(f.opcode, WS_OP_BINARY);
            CHECK(f.masked == (bool)masked);
            if (masked)
                CHECK(memcmp(f.mask, key, 4) == 0);
        }
    }
}

static void expect_refused(const char *what, const uint8_t *h, size_t n, uint16_t code)
{
    ws_frame_t f;
    ws_error_t err = {0, NULL};
    int got = ws_frame_parse(h, n, &f, &err);
    if (got != -1)
        fprintf(stderr, "%s: expected a refusal, got %d\n", what, got);
    CHECK_EQ_INT(got, -1);
    CHECK_EQ_INT(err.code, code);
    CHECK(err.why != NULL);
}

static void test_refusals(void)
{
    for (uint8_t op = 0; op < 16; op++) {
        uint8_t h[2] = {(uint8_t)(0x80 | op), 0x00};
        ws_frame_t f;
        ws_error_t err;
        bool known = op <= 2 || (op >= 8 && op <= 10);
        CHECK_EQ_INT(ws_frame_parse(h, 2, &f, &err), known ? 2 : -1);
        /* refused at the first byte: nothing more is read */
        if (!known)
            CHECK_EQ_INT(ws_frame_parse(h, 1, &f, &err), -1);
    }
    expect_refused("fragmented ping", (const uint8_t *)"\x09\x00", 2, WS_CLOSE_PROTOCOL);
    expect_refused("fragmented close", (const uint8_t *)"\x08", 1, WS_CLOSE_PROTOCOL);
    expect_refused("126-byte ping", (const uint8_t *)"\x89\x7e\x00\x7e", 4, WS_CLOSE_PROTOCOL);
    expect_refused("long form of 125", (const uint8_t *)"\x82\x7e\x00\x7d", 4, WS_CLOSE_PROTOCOL);
    expect_refused("64-bit form of 65535", (const uint8_t *)"\x82\x7f\0\0\0\0\0\0\xff\xff", 10,
                   WS_CLOSE_PROTOCOL);
    expect_refused("64-bit top bit", (const uint8_t *)"\x82\x7f\x80\0\0\0\0\0\0\0", 10,
                   WS_CLOSE_PROTOCOL);
    /* a 125-byte ping is the largest allowed */
    ws_frame_t f;
    ws_error_t err;
    CHECK_EQ_INT(ws_frame_parse((const uint8_t *)"\x89\x7d", 2, &f, &err), 2);
}

static void test_unmask(void)
{
    uint8_t plain[61], wire[61];
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof(plain); i++)
        wire[i] = plain[i] ^ key[i & 3];
    /* in two pieces, the cut at every offset: the second piece's key phase follows on */
    size_t wrong = 0;
    for (size_t cut = 0; cut <= sizeof(wire); cut++) {
        uint8_t b[61];
        memcpy(b, wire, sizeof(b));
        ws_unmask(b, cut, key, 0);
        ws_unmask(b + cut, sizeof(b) - cut, key, cut);
        if (memcmp(b, plain, sizeof(b)) != 0)
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
    /* an offset past 2^32 keeps its phase */
    uint8_t b[3] = {plain[1] ^ key[1], plain[2] ^ key[2], plain[3] ^ key[3]};
    ws_unmask(b, 3, key, (1ull << 32) + 1);
    CHECK(b[0] == plain[1] && b[1] == plain[2] && b[2] == plain[3]);
}

static void test_close_codes(void)
{
    CHECK(!ws_close_code_valid(0));
    CHECK(!ws_close_code_valid(999));
    CHECK(ws_close_code_valid(1000));
    CHECK(ws_close_code_valid(1001));
    CHECK(ws_close_code_valid(1003));
    CHECK(!ws_close_code_valid(1004));
    CHECK(!ws_close_code_valid(1005));
    CHECK(!ws_close_code_valid(1006));
    CHECK(ws_close_code_valid(1007));
    CHECK(ws_close_code_valid(1011));
    CHECK(ws_close_code_valid(1014));
    CHECK(!ws_close_code_valid(1015));
    CHECK(!ws_close_code_valid(1016));
    CHECK(!ws_close_code_valid(2999));
    CHECK(ws_close_code_valid(3000));
    CHECK(ws_close_code_valid(4999));
    CHECK(!ws_close_code_valid(5000));
    CHECK(!ws_close_code_valid(65535));
}

static void test_close_payload(void)
{
    uint16_t code;
    const uint8_t *reason;
    size_t rlen;
    ws_error_t err;
    CHECK_EQ_INT(ws_close_parse(NULL, 0, &code, &reason, &rlen, &err), 0);
    CHECK_EQ_INT(code, WS_CLOSE_NO_STATUS);
    CHECK_EQ_INT(rlen, 0);
    CHECK_EQ_INT(ws_close_parse((const uint8_t *)"\x03", 1, &code, &reason, &rlen, &err), -1);
    CHECK_EQ_INT(err.code, WS_CLOSE_PROTOCOL);
    CHECK_EQ_INT(ws_close_parse((const uint8_t *)"\x03\xe8", 2, &code, &reason, &rlen, &err), 0);
    CHECK_EQ_INT(code, 1000);
    CHECK_EQ_INT(ws_close_parse((const uint8_t *)"\x0f\xa0"
                                                 "bye",
                                5, &code, &reason, &rlen, &err),
                 0);
    CHECK_EQ_INT(code, 4000);
    CHECK_EQ_MEM(reason, rlen, "bye");
    CHECK_EQ_INT(ws_close_parse((const uint8_t *)"\x03\xed", 2, &code, &reason, &rlen, &err), -1);
    CHECK_EQ_INT(err.code, WS_CLOSE_PROTOCOL);
    CHECK_EQ_INT(ws_close_parse((const uint8_t *)"\x03\xe8\xff", 3, &code, &reason, &rlen, &err),
                 -1);
    CHECK_EQ_INT(err.code, WS_CLOSE_BAD_DATA);

    uint8_t out[2 + WS_REASON_MAX];
    CHECK_EQ_INT(ws_close_encode(out, WS_CLOSE_NO_STATUS, "x", 1), 0);
    CHECK_EQ_INT(ws_close_encode(out, 1001, "going", 5), 7);
    CHECK(memcmp(out, "\x03\xe9going", 7) == 0);
    /* 62 two-byte characters (124 bytes): cut to 61 of them, never mid-character */
    char lng[124];
    for (size_t i = 0; i < sizeof(lng); i += 2) {
        lng[i] = (char)0xc3;
        lng[i + 1] = (char)0xa9;
    }
    size_t n = ws_close_encode(out, 1000, lng, sizeof(lng));
    CHECK_EQ_INT(n, 2 + 122);
    CHECK_EQ_INT(ws_close_parse(out, n, &code, &reason, &rlen, &err), 0);
}

int main(void)
{
    test_round_trip();
    test_refusals();
    test_unmask();
    test_close_codes();
    test_close_payload();
    return check_done();
}
