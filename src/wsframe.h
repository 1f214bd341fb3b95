/* RFC 6455 frames: the header parsed and encoded, payloads unmasked, the close frame's
 * payload read and built, close codes checked.
 *
 *    0                   1                   2                   3
 *   |F|R|R|R| opcode|M| len 7 |  len 16 or 64 (when len 7 is 126 or 127) |
 *   |I|S|S|S|  (4)  |A|       |                                           |
 *   |N|V|V|V|       |S|       |   mask key (4 bytes, when MASK is set)    |
 *
 * Pure: bytes in, a verdict out; no allocation, no I/O, no state between calls. What a
 * header means in its place in the stream (a continuation with no message begun, a mask
 * a client must set, a reserved bit an extension may own) is the reader's business
 * (src/wsread.h); what is checked here is what one header says on its own: a known
 * opcode, a length in its shortest form and below 2^63, a control frame that is final
 * and at most 125 bytes.
 *
 * Errors carry the close code the peer is to be sent (1002 protocol error, 1007 bad
 * text) and a static reason.
 */
#ifndef UF_WSFRAME_H
#define UF_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
};

/* The reserved bits as they sit in the first byte; RSV1 is permessage-deflate's. */
#define WS_RSV1 0x40
#define WS_RSV2 0x20
#define WS_RSV3 0x10

/* The longest header: 2 bytes, an 8-byte length, a 4-byte mask. */
#define WS_HEADER_MAX 14
/* A control frame's payload limit, and so the longest close reason (125 - 2 code bytes). */
#define WS_CONTROL_MAX 125
#define WS_REASON_MAX  123

/* Close codes (RFC 6455 section 7.4.1) the server itself sends or reports. */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_NO_STATUS = 1005, /* never on the wire: a close frame without a code */
    WS_CLOSE_ABNORMAL = 1006,  /* never on the wire: the connection went without a close */
    WS_CLOSE_BAD_DATA = 1007,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

typedef struct ws_error {
    uint16_t code;   /* the close code to send */
    const char *why; /* static text, for the close reason and the log */
} ws_error_t;

typedef struct ws_frame {
    bool fin;
    bool masked;
    uint8_t rsv;    /* the reserved bits, WS_RSV1 | WS_RSV2 | WS_RSV3 as set */
    uint8_t opcode; /* WS_OP_* */
    uint8_t mask[4];
    uint64_t len; /* payload bytes */
} ws_frame_t;

static inline bool ws_op_is_control(uint8_t opcode)
{
    return opcode & 0x8;
}

/* Parses the frame header at the start of buf[0, len). Returns the header's length
 * (2 to 14) with *f filled, 0 when the bytes so far are a valid start of a header that has
 * not all arrived, or -1 with *err set when no frame can start this way. */
int ws_frame_parse(const uint8_t *buf, size_t len, ws_frame_t *f, ws_error_t *err);

/* Writes the header of a frame with payload length len into out (WS_HEADER_MAX bytes of
 * room); mask NULL for an unmasked (server) frame. Returns the header's length. */
size_t ws_frame_encode(uint8_t *out, bool fin, uint8_t rsv, uint8_t opcode, uint64_t len,
                       const uint8_t *mask);

/* XORs p[0, n) with the mask, as bytes offset, offset + 1, ... of a payload (so that a
 * payload that arrives in pieces is unmasked piece by piece). Its own inverse. */
void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* True for a close code a peer may send (and an application may give websocket.close):
 * 1000-1003, 1007-1014 and 3000-4999. 1004, 1005, 1006 and 1015 are reserved and never
 * sent; 1016-2999 are unassigned and so not acceptable. */
bool ws_close_code_valid(unsigned code);

/* Reads a close frame's payload p[0, n) (already unmasked). Returns 0 with *code and the
 * reason (a slice of p, valid UTF-8) set, *code 1005 when the payload is empty; or -1
 * with *err set for a one-byte payload or a code not valid on the wire (1002), or a
 * reason that is not UTF-8 (1007). */
int ws_close_parse(const uint8_t *p, size_t n, uint16_t *code, const uint8_t **reason,
                   size_t *reason_len, ws_error_t *err);

/* Writes a close frame's payload into out (2 + WS_REASON_MAX bytes of room): the code and
 * the reason cut to WS_REASON_MAX bytes at a code point boundary (so the cut is still
 * UTF-8). Code 1005 writes an empty payload. Returns the payload's length. */
size_t ws_close_encode(uint8_t *out, uint16_t code, const char *reason, size_t reason_len);

#endif
