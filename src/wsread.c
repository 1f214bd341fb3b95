/* The WebSocket reader: headers gathered across cuts, payloads unmasked and checked, the
 * frame-sequence rules, control frames collected. */
#include "src/wsread.h"

#include <string.h>

void ws_reader_init(ws_reader_t *r, uint64_t max_message, uint8_t allowed_rsv, bool require_mask)
{
    memset(r, 0, sizeof(*r));
    r->max_message = max_message;
    r->allowed_rsv = allowed_rsv;
    r->require_mask = require_mask;
}

static size_t fail(ws_reader_t *r, ws_event_t *ev, uint16_t code, const char *why)
{
    r->failed = true;
    r->err.code = code;
    r->err.why = why;
    ev->kind = WS_EV_ERROR;
    ev->err = r->err;
    return 0;
}

/* The rules a header must meet in its place in the stream; starts a message when it
 * opens one. Returns NULL, or why the frame is refused (*code set). */
static const char *admit(ws_reader_t *r, uint16_t *code)
{
    const ws_frame_t *f = &r->frame;
    *code = WS_CLOSE_PROTOCOL;
    if (r->require_mask && !f->masked)
        return "client frame not masked";
    if (f->rsv & ~r->allowed_rsv)
        return "reserved bit set";
    if (ws_op_is_control(f->opcode)) {
        /* RFC 7692 gives RSV1 to a message's first frame only */
        return f->rsv ? "reserved bit set on a control frame" : NULL;
    }
    if (f->opcode == WS_OP_CONT) {
        if (!r->msg_op)
            return "continuation frame with no message begun";
        if (f->rsv)
            return "reserved bit set on a continuation frame";
    } else {
        if (r->msg_op)
            return "new message before the last one ended";
        r->msg_op = f->opcode;
        r->msg_compressed = f->rsv & WS_RSV1;
        r->msg_started = false;
        r->msg_len = 0;
        ws_utf8_init(&r->utf8);
    }
    /* checked before the payload is taken: a peer cannot make us hold more than the
     * limit. A compressed message is bounded here by its wire size and by its inflated
     * size where it is inflated. */
    if (r->max_message && f->len > r->max_message - r->msg_len) {
        *code = WS_CLOSE_TOO_BIG;
        return "message larger than the size limit";
    }
    return NULL;
}

/* Gathers the header; returns the bytes of in it took, with r->in_frame set once the
 * header is whole, or (size_t)-1 after reporting an error. */
static size_t take_header(ws_reader_t *r, const uint8_t *in, size_t n, ws_event_t *ev)
{
    size_t take = n < WS_HEADER_MAX - r->hdr_len ? n : WS_HEADER_MAX - r->hdr_len;
    memcpy(r->hdr + r->hdr_len, in, take);
    ws_error_t err;
    int h = ws_frame_parse(r->hdr, r->hdr_len + take, &r->frame, &err);
    if (h < 0) {
        fail(r, ev, err.code, err.why);
        return (size_t)-1;
    }
    if (h == 0) {
        /* a header is at most WS_HEADER_MAX bytes, so only a short input leaves it open */
        r->hdr_len += (uint8_t)take;
        return take;
    }
    size_t used = (size_t)h - r->hdr_len;
    r->hdr_len = 0;
    uint16_t code;
    const char *why = admit(r, &code);
    if (why) {
        fail(r, ev, code, why);
        return (size_t)-1;
    }
    r->in_frame = true;
    r->done = 0;
    return used;
}

static size_t control(ws_reader_t *r, uint8_t *p, size_t avail, size_t used, ws_event_t *ev)
{
    ws_frame_t *f = &r->frame;
    memcpy(r->ctl + r->done, p, avail);
    r->done += avail;
    used += avail;
    if (r->done < f->len)
        return used;
    r->in_frame = false;
    ev->kind = WS_EV_CONTROL;
    ev->opcode = f->opcode;
    ev->data = r->ctl;
    ev->len = (size_t)f->len;
    if (f->opcode == WS_OP_CLOSE) {
        ws_error_t err;
        if (ws_close_parse(r->ctl, ev->len, &ev->close_code, &ev->reason, &ev->reason_len, &err) <
            0)
            return fail(r, ev, err.code, err.why);
    }
    return used;
}

size_t ws_read(ws_reader_t *r, uint8_t *in, size_t n, ws_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (r->failed) {
        ev->kind = WS_EV_ERROR;
        ev->err = r->err;
        return 0;
    }
    size_t used = 0;
    if (!r->in_frame) {
        used = take_header(r, in, n, ev);
        if (used == (size_t)-1)
            return 0;
        if (!r->in_frame)
            return used;
    }
    ws_frame_t *f = &r->frame;
    uint64_t left = f->len - r->done;
    size_t avail = n - used < left ? n - used : (size_t)left;
    uint8_t *p = in + used;
    if (f->masked)
        ws_unmask(p, avail, f->mask, r->done);
    if (ws_op_is_control(f->opcode))
        return control(r, p, avail, used, ev);

    bool text = r->msg_op == WS_OP_TEXT && !r->msg_compressed;
    if (text && !ws_utf8_feed(&r->utf8, p, avail))
        return fail(r, ev, WS_CLOSE_BAD_DATA, "text message is not UTF-8");
    r->done += avail;
    r->msg_len += avail;
    used += avail;
    bool frame_end = r->done == f->len;
    if (frame_end)
        r->in_frame = false;
    bool last = frame_end && f->fin;
    if (last && text && !ws_utf8_complete(&r->utf8))
        return fail(r, ev, WS_CLOSE_BAD_DATA, "text message ends inside a code point");
    if (avail == 0 && !last)
        return used;
    ev->kind = WS_EV_DATA;
    ev->opcode = r->msg_op;
    ev->first = !r->msg_started;
    ev->last = last;
    ev->compressed = r->msg_compressed;
    ev->data = p;
    ev->len = avail;
    r->msg_started = true;
    if (last)
        r->msg_op = 0;
    return used;
}
