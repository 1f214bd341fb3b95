/* Unit tests for src/base64.c: RFC 4648 section 10's vectors both ways, every length from
 * 0 to 40 round-tripped, and the strict decoder's refusals (a length not a multiple of 4,
 * characters outside the alphabet, white space, padding inside or too much of it,
 * non-zero bits under the padding). */
#include "src/base64.c"

#include "check.h"

static void test_vectors(void)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        size_t n = base64_encode(out, (const uint8_t *)plain[i], strlen(plain[i]));
        CHECK_EQ_INT(n, strlen(coded[i]));
        CHECK_EQ_INT(base64_encoded_len(strlen(plain[i])), n);
        CHECK_EQ_STR(out, coded[i]);
        uint8_t back[16];
        long m = base64_decode(back, coded[i], strlen(coded[i]));
        CHECK_EQ_INT(m, (long)strlen(plain[i]));
        CHECK_EQ_MEM(back, m > 0 ? (size_t)m : 0, plain[i]);
    }
}

static void test_round_trip(void)
{
    size_t wrong = 0;
    for (size_t n = 0; n <= 40; n++) {
        uint8_t in[40], back[40];
        char text[64];
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)(255 - i * 13);
        size_t t = base64_encode(text, in, n);
        if (base64_decode(back, text, t) != (long)n || memcmp(in, back, n) != 0)
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
}

static void test_refusals(void)
{
    static const char *bad[] = {
        "Zg=",      /* not a multiple of 4 */
        "Zm9",      /* likewise */
        "Zm9v\n",   /* white space */
        "Zm 9",     /* white space inside */
        "Zg==Zm9v", /* padding inside */
        "Z===",     /* too much padding */
        "====",     /* nothing but padding */
        "Zh==",     /* 'h' leaves non-zero bits under the padding */
        "Zm9=",     /* '9' does too */
        "Zm-v",     /* the URL alphabet's '-' */
        "Zm_v",     /* and its '_' */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t out[16];
        long got = base64_decode(out, bad[i], strlen(bad[i]));
        if (got != -1)
            fprintf(stderr, "\"%s\" decoded to %ld bytes\n", bad[i], got);
        CHECK_EQ_INT(got, -1);
    }
}

int main(void)
{
    test_vectors();
    test_round_trip();
    test_refusals();
    return check_done();
}
