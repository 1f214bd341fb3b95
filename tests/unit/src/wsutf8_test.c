/* Unit tests for src/wsutf8.c: Unicode's boundary cases (the last valid and first invalid
 * byte of each range: overlongs, surrogates, above U+10FFFF, stray and missing
 * continuation bytes), every text cut at every byte into two feeds, and the ASCII fast
 * path's eight-byte steps meeting a non-ASCII byte at each offset. */
#include "src/wsutf8.c"

#include "check.h"

#include "common/mem.h"

typedef struct sample {
    const char *bytes;
    size_t len;
    bool valid;
} sample_t;

#define S(lit, ok)                                                                                 \
    {                                                                                              \
        lit, sizeof(lit) - 1, ok                                                                   \
    }

static const sample_t samples[] = {
    S("", true),
    S("hello", true),
    S("\x7f", true),
    S("\xc2\x80", true),          /* U+0080, the first two-byte */
    S("\xdf\xbf", true),          /* U+07FF */
    S("\xc0\x80", false),         /* overlong NUL */
    S("\xc1\xbf", false),         /* overlong U+007F */
    S("\xe0\xa0\x80", true),      /* U+0800 */
    S("\xe0\x9f\xbf", false),     /* overlong U+07FF */
    S("\xed\x9f\xbf", true),      /* U+D7FF */
    S("\xed\xa0\x80", false),     /* U+D800, a surrogate */
    S("\xed\xbf\xbf", false),     /* U+DFFF */
    S("\xee\x80\x80", true),      /* U+E000 */
    S("\xef\xbf\xbf", true),      /* U+FFFF */
    S("\xf0\x90\x80\x80", true),  /* U+10000 */
    S("\xf0\x8f\xbf\xbf", false), /* overlong U+FFFF */
    S("\xf4\x8f\xbf\xbf", true),  /* U+10FFFF */
    S("\xf4\x90\x80\x80", false), /* U+110000 */
    S("\xf5\x80\x80\x80", false), /* no lead byte above F4 */
    S("\xff", false),
    S("\x80", false), /* a continuation byte with no lead */
    S("\xc2", false), /* cut short: not complete */
    S("\xe2\x82", false),
    S("\xc2\x41", false),                                    /* a lead followed by ASCII */
    S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true), /* "kosme" in Greek */
    S("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", true),
    S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
      "edited",
      false),
};

static bool feed_split(const sample_t *s, size_t cut)
{
    ws_utf8_t u;
    ws_utf8_init(&u);
    const uint8_t *p = (const uint8_t *)s->bytes;
    return ws_utf8_feed(&u, p, cut) && ws_utf8_feed(&u, p + cut, s->len - cut) &&
           ws_utf8_complete(&u);
}

static void test_samples(void)
{
    for (size_t i = 0; i < UF_ARRAY_LEN(samples); i++) {
        const sample_t *s = &samples[i];
        bool whole = ws_utf8_valid((const uint8_t *)s->bytes, s->len);
        if (whole != s->valid)
            fprintf(stderr, "sample %zu: expected %d\n", i, s->valid);
        CHECK(whole == s->valid);
        size_t wrong = 0;
        for (size_t cut = 0; cut <= s->len; cut++)
            if (feed_split(s, cut) != s->valid)
                wrong++;
        CHECK_EQ_INT(wrong, 0);
    }
}

/* A two-byte character at every offset of a long ASCII run, so the eight-byte step stops
 * at each position of its word; and a bad byte at every offset is found. */
static void test_fast_path(void)
{
    uint8_t text[40];
    size_t wrong = 0;
    for (size_t at = 0; at + 2 <= sizeof(text); at++) {
        memset(text, 'a', sizeof(text));
        text[at] = 0xc3;
        text[at + 1] = 0xa9;
        if (!ws_utf8_valid(text, sizeof(text)))
            wrong++;
        text[at + 1] = 'a';
        if (ws_utf8_valid(text, sizeof(text)))
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
}

/* A code point cut over three feeds (as three fragments might carry it). */
static void test_three_feeds(void)
{
    ws_utf8_t u;
    ws_utf8_init(&u);
    const uint8_t smile[] = {0xf0, 0x9f, 0x98, 0x80};
    CHECK(ws_utf8_feed(&u, smile, 1));
    CHECK(!ws_utf8_complete(&u));
    CHECK(ws_utf8_feed(&u, smile + 1, 2));
    CHECK(!ws_utf8_complete(&u));
    CHECK(ws_utf8_feed(&u, smile + 3, 1));
    CHECK(ws_utf8_complete(&u));
    /* the surrogate is refused at its second byte, before the third arrives */
    ws_utf8_init(&u);
    CHECK(ws_utf8_feed(&u, (const uint8_t *)"\xed", 1));
    CHECK(!ws_utf8_feed(&u, (const uint8_t *)"\xa0", 1));
}

int main(void)
{
    test_samples();
    test_fast_path();
    test_three_feeds();
    return check_done();
}
