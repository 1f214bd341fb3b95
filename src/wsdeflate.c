/* permessage-deflate: the offer negotiated, messages inflated (bounded) and deflated. */
#include "src/wsdeflate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "src/wshandshake.h"

/* Our deflate side's window and memory level (see the header). */
#define OUR_WINDOW_BITS 12
#define OUR_MEM_LEVEL   5

static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

/* ---- negotiation -------------------------------------------------------------------------- */

static py_slice_t trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (py_slice_t){p, n};
}

static bool is(py_slice_t s, const char *text)
{
    return s.len == strlen(text) && strncasecmp(s.ptr, text, s.len) == 0;
}

/* A window-bits value, quoted or not: 8 to 15, else -1. */
static int window_bits(py_slice_t v)
{
    if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
        v = (py_slice_t){v.ptr + 1, v.len - 2};
    if (v.len == 1 && v.ptr[0] >= '8' && v.ptr[0] <= '9')
        return v.ptr[0] - '0';
    if (v.len == 2 && v.ptr[0] == '1' && v.ptr[1] >= '0' && v.ptr[1] <= '5')
        return 10 + v.ptr[1] - '0';
    return -1;
}

/* One extension offer ("permessage-deflate; a; b=1"). True when it is permessage-deflate
 * with parameters we can honour (*p set). */
static bool take_offer(py_slice_t offer, ws_deflate_params_t *p)
{
    memset(p, 0, sizeof(*p));
    const char *s = offer.ptr, *end = offer.ptr + offer.len;
    const char *semi = memchr(s, ';', offer.len);
    if (!is(trim(s, (size_t)((semi ? semi : end) - s)), "permessage-deflate"))
        return false;
    bool seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
    while (semi) {
        s = semi + 1;
        semi = memchr(s, ';', (size_t)(end - s));
        py_slice_t param = trim(s, (size_t)((semi ? semi : end) - s));
        const char *eq = memchr(param.ptr, '=', param.len);
        py_slice_t name = trim(param.ptr, eq ? (size_t)(eq - param.ptr) : param.len);
        py_slice_t value =
            eq ? trim(eq + 1, (size_t)(param.ptr + param.len - eq - 1)) : (py_slice_t){NULL, 0};
        if (is(name, "server_no_context_takeover") && !eq && !seen_snct) {
            seen_snct = p->server_no_context_takeover = true;
        } else if (is(name, "client_no_context_takeover") && !eq && !seen_cnct) {
            seen_cnct = p->client_no_context_takeover = true;
        } else if (is(name, "server_max_window_bits") && eq && !seen_smwb) {
            int bits = window_bits(value);
            if (bits < 9) /* (8: zlib deflates with 9 at least) */
                return false;
            p->server_max_window_bits = (uint8_t)bits;
            seen_smwb = true;
        } else if (is(name, "client_max_window_bits") && !seen_cmwb) {
            if (eq && window_bits(value) < 0)
                return false;
            seen_cmwb = true; /* (we inflate with the largest window: any bound suits us) */
        } else {
            return false;
        }
    }
    return true;
}

bool ws_deflate_negotiate(const py_request_t *req, ws_deflate_params_t *p,
                          char answer[WS_DEFLATE_ANSWER_MAX])
{
    for (size_t i = 0; i < req->header_count; i++) {
        const py_header_t *h = &req->headers[i];
        if (!is(h->name, "sec-websocket-extensions"))
            continue;
        size_t pos = 0;
        py_slice_t offer;
        while (ws_hs_next_item(h->value.ptr, h->value.len, &pos, &offer)) {
            if (!take_offer(offer, p))
                continue;
            int n = snprintf(answer, WS_DEFLATE_ANSWER_MAX, "permessage-deflate%s%s",
                             p->server_no_context_takeover ? "; server_no_context_takeover" : "",
                             p->client_no_context_takeover ? "; client_no_context_takeover" : "");
            if (p->server_max_window_bits)
                snprintf(answer + n, (size_t)(WS_DEFLATE_ANSWER_MAX - n),
                         "; server_max_window_bits=%u", p->server_max_window_bits);
            return true;
        }
    }
    return false;
}

/* ---- messages ----------------------------------------------------------------------------- */

int ws_deflate_inflate(ws_deflate_t *d, const uint8_t *p, size_t n, buf_t *out, uint64_t max,
                       ws_error_t *err)
{
    if (!d->in_ready) {
        memset(&d->in, 0, sizeof(d->in));
        UF_ASSERT(inflateInit2(&d->in, -MAX_WBITS) == Z_OK);
        d->in_ready = true;
    }
    if (n == 0)
        return 0; /* an empty message: nothing was deflated, and the tail would not parse */
    size_t start = out->len;
    /* the message, then the four bytes the sender took off its end (RFC 7692 7.2.2) */
    const uint8_t *parts[2] = {p, tail};
    size_t lens[2] = {n, sizeof(tail)};
    for (int k = 0; k < 2; k++) {
        d->in.next_in = (Bytef *)parts[k];
        d->in.avail_in = (uInt)lens[k];
        for (;;) {
            size_t room = 16384;
            char *dst = buf_reserve(out, room);
            d->in.next_out = (Bytef *)dst;
            d->in.avail_out = (uInt)room;
            int rc = inflate(&d->in, Z_SYNC_FLUSH);
            out->len += room - d->in.avail_out;
            /* checked a chunk at a time: a bomb costs the limit plus one chunk */
            if (max && out->len - start > max) {
                err->code = WS_CLOSE_TOO_BIG;
                err->why = "message larger than the size limit once inflated";
                return -1;
            }
            if (rc == Z_STREAM_END) {
                /* a final block ends the stream: a later message starts a new one */
                inflateReset(&d->in);
                break;
            }
            if (rc != Z_OK && rc != Z_BUF_ERROR) {
                err->code = WS_CLOSE_BAD_DATA;
                err->why = "compressed message is not a deflate stream";
                return -1;
            }
            /* done when the input is taken and zlib had room to spare (nothing held) */
            if (d->in.avail_out != 0 && (d->in.avail_in == 0 || rc == Z_BUF_ERROR))
                break;
        }
    }
    if (d->params.client_no_context_takeover)
        inflateReset(&d->in);
    return 0;
}

void ws_deflate_deflate(ws_deflate_t *d, const uint8_t *p, size_t n, buf_t *out)
{
    if (!d->out_ready) {
        memset(&d->out, 0, sizeof(d->out));
        int bits = OUR_WINDOW_BITS;
        if (d->params.server_max_window_bits && d->params.server_max_window_bits < bits)
            bits = d->params.server_max_window_bits;
        UF_ASSERT(deflateInit2(&d->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, OUR_MEM_LEVEL,
                               Z_DEFAULT_STRATEGY) == Z_OK);
        d->out_ready = true;
    }
    size_t start = out->len;
    d->out.next_in = (Bytef *)p;
    d->out.avail_in = (uInt)n;
    do {
        size_t room = deflateBound(&d->out, d->out.avail_in) + 16;
        char *dst = buf_reserve(out, room);
        d->out.next_out = (Bytef *)dst;
        d->out.avail_out = (uInt)room;
        deflate(&d->out, Z_SYNC_FLUSH);
        out->len += room - d->out.avail_out;
    } while (d->out.avail_out == 0);
    /* a sync flush ends with 00 00 ff ff, which the receiver puts back (RFC 7692 7.2.1) */
    if (out->len - start >= 4 && memcmp(out->data + out->len - 4, tail, 4) == 0)
        out->len -= 4;
    /* nothing left (an empty message after another flush): RFC 7692 7.2.3.6's single 00,
     * an empty stored block's header, so that the receiver's added tail completes it */
    if (out->len == start)
        buf_append(out, "", 1);
    if (d->params.server_no_context_takeover)
        deflateReset(&d->out);
}

void ws_deflate_free(ws_deflate_t *d)
{
    if (d->in_ready)
        inflateEnd(&d->in);
    if (d->out_ready)
        deflateEnd(&d->out);
    d->in_ready = d->out_ready = false;
}
