/* An incremental UTF-8 validator for WebSocket text messages (RFC 6455 section 8.1).
 *
 * A text message may be split into fragments anywhere, even inside a code point, and
 * each fragment may arrive in several receive buffers; the validator keeps the few bits
 * that span a cut (how many continuation bytes are still due and the range the next one
 * must fall in) so that each byte is looked at once, in order, whatever the cuts. It
 * rejects as soon as a byte cannot continue any valid text (overlong forms, surrogates,
 * code points above U+10FFFF, stray continuation bytes), so a peer is closed with 1007
 * at the first bad byte rather than at the end of a long message.
 *
 * Pure: no allocation, no I/O; a zeroed ws_utf8_t is the state at the start of a text.
 */
#ifndef UF_WSUTF8_H
#define UF_WSUTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ws_utf8 {
    uint8_t need; /* continuation bytes still due for the code point begun */
    uint8_t lo;   /* the range the next continuation byte must fall in */
    uint8_t hi;
} ws_utf8_t;

static inline void ws_utf8_init(ws_utf8_t *u)
{
    u->need = 0;
    u->lo = 0;
    u->hi = 0;
}

/* Feeds p[0, n) after everything fed so far. Returns false at the first byte that no
 * valid text can contain in that place (the state is then meaningless); true otherwise,
 * which includes ending inside a code point. */
bool ws_utf8_feed(ws_utf8_t *u, const uint8_t *p, size_t n);

/* True when what was fed so far ends on a code point boundary (a whole text is valid
 * exactly when every feed returned true and this holds at its end). */
static inline bool ws_utf8_complete(const ws_utf8_t *u)
{
    return u->need == 0;
}

/* The whole of p[0, n) is valid UTF-8 (a close reason, a header value). */
bool ws_utf8_valid(const uint8_t *p, size_t n);

#endif
