/* A WebSocket on an ASGI connection: handshake, frames both ways, the close (loop thread). */
#include "src/wsconn.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "src/asgiconn.h"
#include "src/worker.h"

static const char refusal_426[] = "HTTP/1.1 426 Upgrade Required\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "Content-Type: text/plain\r\n"
                                  "Content-Length: 38\r\n"
                                  "Connection: close\r\n\r\n"
                                  "This server speaks WebSocket version 13";

/* ---- output ------------------------------------------------------------------------------- */

/* Where output goes now: `out`, or behind the send in flight. */
static buf_t *output(conn_t *c)
{
    return c->send_inflight ? &c->asgi.next : &c->out;
}

static void flush(worker_t *w, conn_t *c)
{
    if (!c->send_inflight && c->out.len > c->sent)
        conn_send_start(w, c);
}

static void frame_rsv(worker_t *w, conn_t *c, uint8_t rsv, uint8_t opcode, const void *data,
                      size_t len)
{
    buf_t *dst = output(c);
    uint8_t *h = (uint8_t *)buf_reserve(dst, WS_HEADER_MAX);
    dst->len += ws_frame_encode(h, true, rsv, opcode, len, NULL);
    buf_append(dst, data, len);
    flush(w, c);
}

static void frame_out(worker_t *w, conn_t *c, uint8_t opcode, const void *data, size_t len)
{
    frame_rsv(w, c, 0, opcode, data, len);
}

static void close_out(worker_t *w, conn_t *c, uint16_t code, const char *reason, size_t len)
{
    conn_ws_t *ws = c->ws;
    if (ws->close_sent)
        return;
    uint8_t payload[2 + WS_REASON_MAX];
    size_t n = ws_close_encode(payload, code, reason, len);
    frame_out(w, c, WS_OP_CLOSE, payload, n);
    ws->close_sent = true;
    ws->close_code = code;
}

/* Both closes are out (or the protocol broke): the connection ends once its output is. */
static void uncount(worker_t *w, conn_t *c);

static void end(worker_t *w, conn_t *c)
{
    uncount(w, c);
    c->ws->state = WSCONN_ENDING;
    c->asgi.ended = true;
    c->close_after = true;
    worker_timer_disarm(w, c);
    if (!c->send_inflight && c->out.len <= c->sent && !c->asgi.next.len)
        conn_response_done(w, c);
}

/* ---- what send() asks ----------------------------------------------------------------------- */

static bool is_token(py_slice_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch <= ' ' || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch))
            return false;
    }
    return s.len > 0;
}

static bool was_offered(const conn_ws_t *ws, py_slice_t name)
{
    for (size_t at = 0; at < ws->offered.len;) {
        const char *item = ws->offered.data + at;
        size_t len = strlen(item);
        if (len == name.len && memcmp(item, name.ptr, len) == 0)
            return true;
        at += len + 1;
    }
    return false;
}

static int ws_accept(void *ctx, void *owner, py_slice_t subprotocol, const py_header_t *headers,
                     size_t count, const char **why)
{
    worker_t *w = ctx;
    conn_t *c = owner;
    conn_ws_t *ws = c->ws;
    if (ws->state != WSCONN_HANDSHAKE || c->asgi.head || c->asgi.ended) {
        *why = "the handshake has already been answered";
        return -1;
    }
    if (subprotocol.ptr && !is_token(subprotocol)) {
        *why = "websocket.accept's subprotocol is not a token";
        return -1;
    }
    if (subprotocol.ptr && !was_offered(ws, subprotocol)) {
        /* RFC 6455 4.1: the client fails a handshake that names one it did not offer */
        *why = "websocket.accept's subprotocol is not one the client offered (the scope's "
               "\"subprotocols\")";
        return -1;
    }
    buf_t *dst = output(c);
    buf_printf(dst,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n",
               ws->hs.accept);
    if (subprotocol.ptr)
        buf_printf(dst, "Sec-WebSocket-Protocol: %.*s\r\n", (int)subprotocol.len, subprotocol.ptr);
    if (ws->deflate_on)
        buf_printf(dst, "Sec-WebSocket-Extensions: %s\r\n", ws->deflate_answer);
    for (size_t i = 0; i < count; i++) {
        buf_append(dst, headers[i].name.ptr, headers[i].name.len);
        buf_append(dst, ": ", 2);
        buf_append(dst, headers[i].value.ptr, headers[i].value.len);
        buf_append(dst, "\r\n", 2);
    }
    buf_append(dst, "\r\n", 2);
    c->status_code = 101;
    c->asgi.head = true;
    ws->state = WSCONN_OPEN;
    ws->counted = true;
    sb_set(&w->sb->websockets, sb_get(&w->sb->websockets) + 1);
    worker_timer_arm(w, c, CONN_TIMER_WS_PING);
    flush(w, c);
    conn_recv_start(w, c);
    wsconn_input(w, c); /* frames a client sent right behind its handshake */
    return 0;
}

static int ws_send(void *ctx, void *owner, bool text, const char *data, size_t len,
                   const char **why)
{
    worker_t *w = ctx;
    conn_t *c = owner;
    if (c->ws->state != WSCONN_OPEN) {
        *why = "the WebSocket is closing";
        return -1;
    }
    uint8_t opcode = text ? WS_OP_TEXT : WS_OP_BINARY;
    conn_ws_t *ws = c->ws;
    if (ws->deflate_on && len >= WS_DEFLATE_MIN_SIZE) {
        ws->zout.len = 0;
        ws_deflate_deflate(&ws->deflate, (const uint8_t *)data, len, &ws->zout);
        frame_rsv(w, c, WS_RSV1, opcode, ws->zout.data, ws->zout.len);
        buf_reset(&ws->zout, CONN_KEEP_BUF_CAP);
    } else {
        frame_out(w, c, opcode, data, len);
    }
    sb_add64(&w->sb->ws_messages_out, 1);
    sb_add64(&w->sb->ws_bytes_out, len);
    c->body_out += len; /* (the access log's %(b)s: message payload bytes sent) */
    return c->asgi.next.len > ASGICONN_HIGH_WATER;
}

static int ws_close(void *ctx, void *owner, long code, const char *reason, size_t len,
                    const char **why)
{
    worker_t *w = ctx;
    conn_t *c = owner;
    conn_ws_t *ws = c->ws;
    if (ws->state == WSCONN_HANDSHAKE) {
        /* refused before the 101: the close code is for a WebSocket there never was */
        c->asgi.ended = true;
        conn_answer_error(w, c, 403);
        return 0;
    }
    if (code < 0 || code > 65535 || !ws_close_code_valid((unsigned)code)) {
        *why = "not a close code an endpoint may send (1000-1003, 1007-1014, 3000-4999)";
        return -1;
    }
    if (ws->state != WSCONN_OPEN)
        return 0;
    close_out(w, c, (uint16_t)code, reason, len);
    ws->state = WSCONN_CLOSING;
    worker_timer_arm(w, c, CONN_TIMER_LINGER); /* the client's close, awaited, bounded */
    return 0;
}

static void ws_resume(void *ctx, void *owner)
{
    worker_t *w = ctx;
    conn_t *c = owner;
    if (!c->ws->paused)
        return;
    c->ws->paused = false;
    conn_recv_start(w, c);
}

void wsconn_ops_init(py_asgi_ops_t *ops)
{
    ops->ws_accept = ws_accept;
    ops->ws_send = ws_send;
    ops->ws_close = ws_close;
    ops->ws_resume = ws_resume;
}

/* ---- the handshake ------------------------------------------------------------------------ */

int wsconn_start(worker_t *w, conn_t *c, py_request_t *pr)
{
    if (!ws_hs_requested(pr))
        return 0;
    ws_hs_t hs;
    if (ws_hs_check(pr, &hs)) {
        log_debug("WebSocket handshake refused (%d): %s", hs.status, hs.why);
        c->asgi.ended = true;
        if (hs.status != 426) {
            conn_answer_error(w, c, hs.status);
            return -1;
        }
        /* conn_answer_error's page, with the header that names the version we speak */
        c->close_after = true;
        c->status_code = 426;
        buf_reset(&c->out, CONN_KEEP_BUF_CAP);
        c->sent = 0;
        buf_append(&c->out, refusal_426, sizeof(refusal_426) - 1);
        conn_send_start(w, c);
        return -1;
    }
    if (!c->ws)
        c->ws = uf_calloc(1, sizeof(*c->ws));
    conn_ws_t *ws = c->ws;
    ws_deflate_free(&ws->deflate);
    ws->deflate_on = w->cfg->ws_per_message_deflate &&
                     ws_deflate_negotiate(pr, &ws->deflate.params, ws->deflate_answer);
    ws_reader_init(&ws->reader, (uint64_t)w->cfg->ws_max_message_size, ws->deflate_on ? WS_RSV1 : 0,
                   true);
    ws->state = WSCONN_HANDSHAKE;
    ws->paused = ws->close_sent = ws->counted = false;
    ws->close_code = 0;
    ws->hs = hs; /* (its subprotocols are slices of the head, which stays in c->in) */
    buf_reset(&ws->offered, 0);
    for (size_t i = 0; i < hs.protocol_count; i++) {
        buf_append(&ws->offered, hs.protocols[i].ptr, hs.protocols[i].len);
        buf_append(&ws->offered, "", 1);
    }
    pr->websocket = true;
    pr->subprotocols = ws->hs.protocols;
    pr->subprotocol_count = ws->hs.protocol_count;
    c->plan.keep_alive = false; /* a denial response is the connection's last */
    return 1;
}

/* ---- input -------------------------------------------------------------------------------- */

/* The connection's end, as the application learns it. */
static void closed(conn_t *c, uint16_t code, const char *reason, size_t len)
{
    if (!c->ws->close_code)
        c->ws->close_code = code;
    if (c->asgi.req)
        py_asgi_ws_closed(c->asgi.req, code, reason, len);
}

static void fail(worker_t *w, conn_t *c, uint16_t code, const char *why);

/* A whole message: inflated and checked if it came compressed, then handed over. */
static void deliver(worker_t *w, conn_t *c, bool text, bool compressed)
{
    conn_ws_t *ws = c->ws;
    const buf_t *m = &ws->msg;
    if (compressed) {
        ws_error_t err;
        ws->inflated.len = 0;
        if (ws_deflate_inflate(&ws->deflate, (const uint8_t *)ws->msg.data, ws->msg.len,
                               &ws->inflated, (uint64_t)w->cfg->ws_max_message_size, &err) < 0) {
            fail(w, c, err.code, err.why);
            return;
        }
        if (text && !ws_utf8_valid((const uint8_t *)ws->inflated.data, ws->inflated.len)) {
            fail(w, c, WS_CLOSE_BAD_DATA, "text message is not UTF-8");
            return;
        }
        m = &ws->inflated;
    }
    sb_add64(&w->sb->ws_messages_in, 1);
    sb_add64(&w->sb->ws_bytes_in, m->len);
    if (ws->state == WSCONN_OPEN && c->asgi.req &&
        !py_asgi_ws_message(c->asgi.req, text, m->data ? m->data : "", m->len) && !ws->paused) {
        ws->paused = true;
        conn_recv_pause(w, c);
    }
    buf_reset(&ws->msg, CONN_KEEP_BUF_CAP);
    buf_reset(&ws->inflated, CONN_KEEP_BUF_CAP);
}

/* The client broke the protocol: its close code out, the application told, the end. */
static void fail(worker_t *w, conn_t *c, uint16_t code, const char *why)
{
    log_debug("WebSocket closed with %u: %s", code, why);
    close_out(w, c, code, why, strlen(why));
    closed(c, code, why, strlen(why));
    end(w, c);
}

static void control(worker_t *w, conn_t *c, const ws_event_t *ev)
{
    conn_ws_t *ws = c->ws;
    switch (ev->opcode) {
    case WS_OP_PING:
        if (ws->state == WSCONN_OPEN)
            frame_out(w, c, WS_OP_PONG, ev->data, ev->len);
        break;
    case WS_OP_CLOSE:
        /* the answer echoes the code (RFC 6455 5.5.1); 1005 is answered with no code */
        close_out(w, c, ev->close_code, "", 0);
        closed(c, ev->close_code, (const char *)ev->reason, ev->reason_len);
        end(w, c);
        break;
    default:
        break; /* an unasked pong */
    }
}

void wsconn_input(worker_t *w, conn_t *c)
{
    conn_ws_t *ws = c->ws;
    if (c->peer_closed) {
        closed(c, WS_CLOSE_ABNORMAL, "", 0);
        conn_close_now(w, c);
        return;
    }
    if (ws->state == WSCONN_HANDSHAKE)
        return; /* (nothing may come before the 101; what does waits for it) */
    uint8_t *p = (uint8_t *)c->in.data + c->parsed;
    size_t n = c->in.len - c->parsed;
    if (n && ws->state == WSCONN_OPEN)
        worker_timer_arm(w, c, CONN_TIMER_WS_PING); /* the client is there: silence restarts */
    while (n > 0 && ws->state != WSCONN_ENDING) {
        ws_event_t ev;
        size_t k = ws_read(&ws->reader, p, n, &ev);
        p += k;
        n -= k;
        switch (ev.kind) {
        case WS_EV_DATA:
            buf_append(&ws->msg, ev.data, ev.len);
            if (ev.last)
                deliver(w, c, ev.opcode == WS_OP_TEXT, ev.compressed);
            break;
        case WS_EV_CONTROL:
            control(w, c, &ev);
            break;
        case WS_EV_ERROR:
            fail(w, c, ev.err.code, ev.err.why);
            break;
        case WS_EV_NONE:
            break;
        }
    }
    /* the frames are taken: only the request's head stays (the access log reads it) */
    if (c->state == CONN_WRITING)
        c->in.len = c->parsed;
}

bool wsconn_done(worker_t *w, conn_t *c, bool failed)
{
    conn_ws_t *ws = c->ws;
    if (!ws)
        return false;
    switch (ws->state) {
    case WSCONN_HANDSHAKE:
        if (c->asgi.head)
            return false; /* a denial response under way */
        if (!c->asgi.ended) {
            c->asgi.ended = true;
            conn_answer_error(w, c, failed ? 500 : 403);
        }
        return true;
    case WSCONN_OPEN:
        close_out(w, c, failed ? WS_CLOSE_INTERNAL : WS_CLOSE_NORMAL, "", 0);
        ws->state = WSCONN_CLOSING;
        worker_timer_arm(w, c, CONN_TIMER_LINGER);
        return true;
    default:
        return true;
    }
}

void wsconn_drain(worker_t *w, conn_t *c)
{
    conn_ws_t *ws = c->ws;
    if (ws->state != WSCONN_OPEN)
        return;
    static const char why[] = "the server is going away";
    close_out(w, c, WS_CLOSE_GOING_AWAY, why, sizeof(why) - 1);
    closed(c, WS_CLOSE_GOING_AWAY, why, sizeof(why) - 1);
    ws->state = WSCONN_CLOSING;
    worker_timer_arm(w, c, CONN_TIMER_LINGER);
}

void wsconn_expire(worker_t *w, conn_t *c, int timer)
{
    conn_ws_t *ws = c->ws;
    if (!ws || ws->state != WSCONN_OPEN)
        return;
    if (timer == CONN_TIMER_WS_PING) {
        frame_out(w, c, WS_OP_PING, "", 0);
        worker_timer_arm(w, c, CONN_TIMER_WS_PONG);
        return;
    }
    static const char why[] = "keepalive ping timeout";
    log_debug("WebSocket closed: %s", why);
    close_out(w, c, WS_CLOSE_INTERNAL, why, sizeof(why) - 1);
    closed(c, WS_CLOSE_INTERNAL, why, sizeof(why) - 1);
    ws->state = WSCONN_CLOSING;
    worker_timer_arm(w, c, CONN_TIMER_LINGER);
}

/* The WebSocket has ended (its connection is closing): no longer open. */
static void uncount(worker_t *w, conn_t *c)
{
    if (!c->ws->counted)
        return;
    c->ws->counted = false;
    sb_set(&w->sb->websockets, sb_get(&w->sb->websockets) - 1);
}

void wsconn_free(worker_t *w, conn_t *c)
{
    if (!c->ws)
        return;
    uncount(w, c);
    ws_deflate_free(&c->ws->deflate);
    buf_free(&c->ws->inflated);
    buf_free(&c->ws->zout);
    buf_free(&c->ws->msg);
    buf_free(&c->ws->offered);
    uf_free(c->ws);
    c->ws = NULL;
}
