/* Unit tests for src/sha1.c: the four test vectors of RFC 3174 section 7.3 (the million
 * "a"s and the 640-byte repetition among them), the empty input, and a message fed in
 * pieces of every size from 1 to 130 giving the digest of it fed at once. */
#include "src/sha1.c"

#include "check.h"

#include <stdio.h>

static void hex(const uint8_t d[SHA1_DIGEST_LEN], char out[41])
{
    for (int i = 0; i < SHA1_DIGEST_LEN; i++)
        sprintf(out + 2 * i, "%02X", d[i]);
}

static void digest(const char *text, size_t n, long repeat, char out[41])
{
    sha1_t s;
    uint8_t d[SHA1_DIGEST_LEN];
    sha1_init(&s);
    for (long i = 0; i < repeat; i++)
        sha1_update(&s, text, n);
    sha1_final(&s, d);
    hex(d, out);
}

static void test_rfc3174(void)
{
    char out[41];
    digest("abc", 3, 1, out);
    CHECK_EQ_STR(out, "A9993E364706816ABA3E25717850C26C9CD0D89D");
    const char *t2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    digest(t2, strlen(t2), 1, out);
    CHECK_EQ_STR(out, "84983E441C3BD26EBAAE4AA1F95129E5E54670F1");
    digest("a", 1, 1000000, out);
    CHECK_EQ_STR(out, "34AA973CD4C4DAA4F61EEB2BDBAD27316534016F");
    const char *t4 = "0123456701234567012345670123456701234567012345670123456701234567";
    digest(t4, strlen(t4), 10, out);
    CHECK_EQ_STR(out, "DEA356A2CDDD90C7A7ECEDC5EBB563934F460452");
    digest("", 0, 1, out);
    CHECK_EQ_STR(out, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709");
}

static void test_pieces(void)
{
    uint8_t msg[300];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 31 + 7);
    char whole[41], cut[41];
    digest((const char *)msg, sizeof(msg), 1, whole);
    size_t wrong = 0;
    for (size_t step = 1; step <= 130; step++) {
        sha1_t s;
        uint8_t d[SHA1_DIGEST_LEN];
        sha1_init(&s);
        for (size_t at = 0; at < sizeof(msg); at += step)
            sha1_update(&s, msg + at, sizeof(msg) - at < step ? sizeof(msg) - at : step);
        sha1_final(&s, d);
        hex(d, cut);
        if (strcmp(cut, whole) != 0)
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
}

int main(void)
{
    test_rfc3174();
    test_pieces();
    return check_done();
}
