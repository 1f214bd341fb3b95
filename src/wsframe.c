/* RFC 6455 frame headers, masking and close payloads. */
#include "src/wsframe.h"

#include <string.h>

#include "src/wsutf8.h"

static int refuse(ws_error_t *err, uint16_t code, const char *why)
{
    err->code = code;
    err->why = why;
    return -1;
}

static bool opcode_known(uint8_t op)
{
    return op == WS_OP_CONT || op == WS_OP_TEXT || op == WS_OP_BINARY || op == WS_OP_CLOSE ||
           op == WS_OP_PING || op == WS_OP_PONG;
}

int ws_frame_parse(const uint8_t *buf, size_t len, ws_frame_t *f, ws_error_t *err)
{
    if (len < 1)
        return 0;
    uint8_t b0 = buf[0];
    f->fin = b0 & 0x80;
    f->rsv = b0 & (WS_RSV1 | WS_RSV2 | WS_RSV3);
    f->opcode = b0 & 0x0f;
    if (!opcode_known(f->opcode))
        return refuse(err, WS_CLOSE_PROTOCOL, "reserved opcode");
    if (ws_op_is_control(f->opcode) && !f->fin)
        return refuse(err, WS_CLOSE_PROTOCOL, "fragmented control frame");
    if (len < 2)
        return 0;
    f->masked = buf[1] & 0x80;
    uint64_t n = buf[1] & 0x7f;
    if (ws_op_is_control(f->opcode) && n > WS_CONTROL_MAX)
        return refuse(err, WS_CLOSE_PROTOCOL, "control frame longer than 125 bytes");
    size_t at = 2;
    if (n == 126) {
        if (len < 4)
            return 0;
        n = (uint64_t)buf[2] << 8 | buf[3];
        if (n < 126)
            return refuse(err, WS_CLOSE_PROTOCOL, "length not in its shortest form");
        at = 4;
    } else if (n == 127) {
        if (len < 10)
            return 0;
        if (buf[2] & 0x80)
            return refuse(err, WS_CLOSE_PROTOCOL, "64-bit length with its top bit set");
        n = 0;
        for (int i = 2; i < 10; i++)
            n = n << 8 | buf[i];
        if (n <= 0xffff)
            return refuse(err, WS_CLOSE_PROTOCOL, "length not in its shortest form");
        at = 10;
    }
    f->len = n;
    if (f->masked) {
        if (len < at + 4)
            return 0;
        memcpy(f->mask, buf + at, 4);
        at += 4;
    } else {
        memset(f->mask, 0, 4);
    }
    return (int)at;
}

size_t ws_frame_encode(uint8_t *out, bool fin, uint8_t rsv, uint8_t opcode, uint64_t len,
                       const uint8_t *mask)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | rsv | (opcode & 0x0f));
    uint8_t m = mask ? 0x80 : 0;
    size_t at;
    if (len < 126) {
        out[1] = m | (uint8_t)len;
        at = 2;
    } else if (len <= 0xffff) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        at = 4;
    } else {
        out[1] = m | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        at = 10;
    }
    if (mask) {
        memcpy(out + at, mask, 4);
        at += 4;
    }
    return at;
}

void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
    /* the key rotated so that its first byte lines up with p[0], then eight bytes a step:
     * a 10 MiB message is unmasked at memory speed rather than a byte at a time */
    uint8_t key[8];
    for (int i = 0; i < 8; i++)
        key[i] = mask[(offset + (uint64_t)i) & 3];
    uint64_t k;
    memcpy(&k, key, 8);
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++)
        p[i] ^= key[i & 7];
}

bool ws_close_code_valid(unsigned code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    if (code < 1000 || code > 1014)
        return false;
    return code != 1004 && code != WS_CLOSE_NO_STATUS && code != WS_CLOSE_ABNORMAL;
}

int ws_close_parse(const uint8_t *p, size_t n, uint16_t *code, const uint8_t **reason,
                   size_t *reason_len, ws_error_t *err)
{
    *reason = p;
    *reason_len = 0;
    if (n == 0) {
        *code = WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (n == 1)
        return refuse(err, WS_CLOSE_PROTOCOL, "close frame with a one-byte payload");
    unsigned c = (unsigned)p[0] << 8 | p[1];
    if (!ws_close_code_valid(c))
        return refuse(err, WS_CLOSE_PROTOCOL, "invalid close code");
    if (!ws_utf8_valid(p + 2, n - 2))
        return refuse(err, WS_CLOSE_BAD_DATA, "close reason is not UTF-8");
    *code = (uint16_t)c;
    *reason = p + 2;
    *reason_len = n - 2;
    return 0;
}

size_t ws_close_encode(uint8_t *out, uint16_t code, const char *reason, size_t reason_len)
{
    if (code == WS_CLOSE_NO_STATUS)
        return 0;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (reason_len > WS_REASON_MAX) {
        /* back off to the start of a code point: continuation bytes are 10xxxxxx */
        reason_len = WS_REASON_MAX;
        while (reason_len > 0 && ((uint8_t)reason[reason_len] & 0xc0) == 0x80)
            reason_len--;
    }
    memcpy(out + 2, reason, reason_len);
    return 2 + reason_len;
}
