/* The receiving side of a WebSocket: a byte stream in, message pieces and control frames
 * out, with every rule of RFC 6455 that spans frames enforced on the way.
 *
 * Bytes are fed as they arrive, cut anywhere (inside a header, a mask, a code point); a
 * reader keeps a partial header, the position in the current frame's payload (for the
 * mask) and the message in progress (its opcode, its length so far, the UTF-8 state of a
 * text). Data payloads are unmasked in place and handed back as slices of the caller's
 * buffer, so a message is copied once, by the caller, into wherever it collects it; the
 * reader itself never allocates. Control frames (at most 125 bytes) are collected in the
 * reader and handed back whole; they may come between the fragments of a message.
 *
 * Enforced here: the client's mask (a server's reader), reserved bits other than those an
 * extension owns (RSV1 of a message's first frame under permessage-deflate), continuation
 * frames only inside a message and data frames only between messages, the message size
 * limit (1009, checked at each header, before its payload is taken), UTF-8 of text
 * (1007, at the first bad byte) unless the message is compressed (then its inflated text
 * is the caller's to check), and the close frame's code and reason. After an error the
 * reader keeps refusing: the connection is to be closed with the error's code.
 */
#ifndef UF_WSREAD_H
#define UF_WSREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/wsframe.h"
#include "src/wsutf8.h"

typedef enum ws_ev_kind {
    WS_EV_NONE,    /* the bytes taken completed nothing worth reporting */
    WS_EV_DATA,    /* a piece of a text or binary message */
    WS_EV_CONTROL, /* a whole ping, pong or close frame */
    WS_EV_ERROR,   /* the peer broke the protocol: close with err.code */
} ws_ev_kind_t;

typedef struct ws_event {
    ws_ev_kind_t kind;
    uint8_t opcode;      /* DATA: the message's, TEXT or BINARY; CONTROL: CLOSE, PING, PONG */
    bool first;          /* DATA: the message's first piece */
    bool last;           /* DATA: the piece that ends the message (it may be empty) */
    bool compressed;     /* DATA: the message's first frame had RSV1 (permessage-deflate) */
    const uint8_t *data; /* DATA: a slice of the input; CONTROL: the reader's copy */
    size_t len;
    uint16_t close_code;   /* CONTROL CLOSE: the peer's code (1005 when it gave none) */
    const uint8_t *reason; /* CONTROL CLOSE: its reason (UTF-8), a slice of data */
    size_t reason_len;
    ws_error_t err; /* ERROR */
} ws_event_t;

typedef struct ws_reader {
    /* settings */
    uint64_t max_message; /* payload bytes of one message; 0 for no limit */
    uint8_t allowed_rsv;  /* WS_RSV1 once permessage-deflate is agreed, else 0 */
    bool require_mask;    /* true for a server: every client frame is masked */
    /* the frame being read */
    bool in_frame;
    uint8_t hdr_len; /* bytes of a header cut short, kept in hdr */
    uint8_t hdr[WS_HEADER_MAX];
    ws_frame_t frame;
    uint64_t done; /* payload bytes of this frame taken */
    /* the message being read (msg_op 0 between messages) */
    uint8_t msg_op;
    bool msg_compressed;
    bool msg_started; /* a piece of it was handed back */
    uint64_t msg_len;
    ws_utf8_t utf8;
    /* a control frame's payload, collected */
    uint8_t ctl[WS_CONTROL_MAX];
    bool failed;
    ws_error_t err;
} ws_reader_t;

/* A reader at the start of a stream. */
void ws_reader_init(ws_reader_t *r, uint64_t max_message, uint8_t allowed_rsv, bool require_mask);

/* Takes bytes from in[0, n) (which it may unmask in place) and reports at most one event
 * in *ev. Returns the bytes taken; the caller feeds the rest in the next call. A DATA
 * event's slice and a CONTROL event's payload are valid until the next call. An ERROR
 * event takes no bytes, and every later call reports it again. */
size_t ws_read(ws_reader_t *r, uint8_t *in, size_t n, ws_event_t *ev);

#endif
