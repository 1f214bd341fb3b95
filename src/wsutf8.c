/* Incremental UTF-8 validation: Unicode's table of well-formed byte sequences, one byte
 * at a time, with runs of ASCII taken eight bytes at a time. */
#include "src/wsutf8.h"

#include <string.h>

/* Sets the state for lead byte b: how many continuation bytes follow and the range the
 * first of them must fall in (the narrower ranges after E0, ED, F0 and F4 are what rule
 * out overlong forms, surrogates and code points above U+10FFFF). False for a byte that
 * cannot lead: a continuation byte, C0, C1, F5-FF. */
static bool lead(ws_utf8_t *u, uint8_t b)
{
    u->lo = 0x80;
    u->hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
        u->need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
        u->need = 2;
        if (b == 0xe0)
            u->lo = 0xa0;
        else if (b == 0xed)
            u->hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        u->need = 3;
        if (b == 0xf0)
            u->lo = 0x90;
        else if (b == 0xf4)
            u->hi = 0x8f;
    } else {
        return false;
    }
    return true;
}

bool ws_utf8_feed(ws_utf8_t *u, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (u->need == 0) {
            /* eight ASCII bytes at once: the common case for JSON and chat text */
            while (n - i >= 8) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            if (i == n)
                break;
            uint8_t b = p[i++];
            if (b < 0x80)
                continue;
            if (!lead(u, b))
                return false;
        } else {
            uint8_t b = p[i++];
            if (b < u->lo || b > u->hi)
                return false;
            u->need--;
            u->lo = 0x80;
            u->hi = 0xbf;
        }
    }
    return true;
}

bool ws_utf8_valid(const uint8_t *p, size_t n)
{
    ws_utf8_t u;
    ws_utf8_init(&u);
    return ws_utf8_feed(&u, p, n) && ws_utf8_complete(&u);
}
