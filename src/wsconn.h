/* A WebSocket on an ASGI worker's connection: the handshake taken or refused, frames in
 * through the reader (src/wsread.h) to whole messages for receive(), send() and the
 * control frames out, the close handshake.
 *
 * Life of one, on the connection state machine (src/conn.h), all in CONN_WRITING:
 *   HANDSHAKE  the task has the websocket scope; nothing has been answered. accept sends
 *              the 101 (OPEN); close before it answers 403; the denial extension answers
 *              with an HTTP response through src/asgiconn.c's body path.
 *   OPEN       frames both ways. A ping is answered with a pong at once; a message is
 *              handed to the bridge whole, and reading pauses while the bridge's queue of
 *              unread messages is over its bound (flow control: receive() pulls).
 *   CLOSING    the application's close frame is out; the client's is awaited for at most
 *              the linger time, then the connection is closed anyway.
 *   ENDING     both closes exchanged (or a protocol error's close sent): once the output
 *              is out, the connection ends as a response with Connection: close does
 *              (FIN, then the client's FIN awaited: src/conn.c's linger).
 * A client that breaks the protocol gets the reader's close code (1002, 1007, 1009) and
 * the application websocket.disconnect with it; a client that vanishes gives 1006.
 * Keep-alive and body timeouts never run on an open WebSocket; its keepalive is a ping
 * after --ws-ping-interval of silence, answered within --ws-ping-timeout or closed 1011.
 *
 * With permessage-deflate agreed (--ws-per-message-deflate and the client's offer),
 * compressed messages are inflated whole, bounded by the message size limit, and checked
 * as UTF-8 after; messages of WS_DEFLATE_MIN_SIZE bytes and more are sent compressed.
 *
 * Output goes where src/asgiconn.c's does (`out`, or `asgi.next` while a send is in
 * flight), so frames leave in the order they were made, and send() waits above
 * ASGICONN_HIGH_WATER. Loop thread only, GIL held (an ASGI worker always holds it).
 */
#ifndef UF_WSCONN_H
#define UF_WSCONN_H

#include <stdbool.h>

#include "python_bridge/asgi.h"
#include "src/conn.h"
#include "src/wsdeflate.h"
#include "src/wshandshake.h"
#include "src/wsread.h"

struct worker;

enum wsconn_state {
    WSCONN_HANDSHAKE,
    WSCONN_OPEN,
    WSCONN_CLOSING,
    WSCONN_ENDING,
};

typedef struct conn_ws {
    ws_reader_t reader;
    buf_t msg;     /* the message being joined from its fragments */
    uint8_t state; /* enum wsconn_state */
    bool paused;   /* reading stopped: the application's queue is full */
    bool close_sent;
    bool counted;        /* in the scoreboard's open WebSockets, until it ends */
    uint16_t close_code; /* the code the WebSocket ended with, for the log */
    ws_hs_t hs;          /* the handshake: the accept value, the offered subprotocols */
    buf_t offered;       /* those subprotocols, owned: each followed by a NUL */
    bool deflate_on;     /* permessage-deflate agreed (src/wsdeflate.h) */
    ws_deflate_t deflate;
    buf_t inflated; /* a compressed message, inflated */
    buf_t zout;     /* a message being sent, deflated */
    char deflate_answer[WS_DEFLATE_ANSWER_MAX];
} conn_ws_t;

/* The WebSocket entries of the bridge's ops (the rest is src/asgiconn.c's). */
void wsconn_ops_init(py_asgi_ops_t *ops);

/* Before c's ASGI task starts: a request that asks for a WebSocket is judged. Returns 0
 * for a request that does not ask (an http scope), 1 for a valid handshake (*pr now says
 * websocket, its subprotocols borrowed from c until the scope is built: start the task),
 * or -1 when it was refused (answered 400 or 426; no task). */
int wsconn_start(struct worker *w, conn_t *c, py_request_t *pr);

/* Bytes arrived (or the client left) on c's WebSocket. May end the connection. */
void wsconn_input(struct worker *w, conn_t *c);

/* The task ended (failed: it raised). Returns true when the WebSocket answered for it
 * (403 or 500 before accept, a close with 1000 or 1011 after), false when src/asgiconn.c
 * does (a denial response under way). */
bool wsconn_done(struct worker *w, conn_t *c, bool failed);

/* The worker drains (TERM, HUP, max-requests): an open WebSocket is closed with 1001
 * (going away) at once, the application told so, the client's close awaited as for any
 * close; one still in its handshake is left to the application's answer. */
void wsconn_drain(struct worker *w, conn_t *c);

/* The code c's WebSocket ended with (1006 when its client vanished), 0 when c has none
 * (the access log's %(ws_close)s). */
static inline int wsconn_close_code(const conn_t *c)
{
    return c->ws ? c->ws->close_code : 0;
}

/* Whether c's reading is paused for its application (conn.c's input_full). */
static inline bool wsconn_paused(const conn_t *c)
{
    return c->ws && c->ws->paused;
}

/* A keepalive timer fired: CONN_TIMER_WS_PING sends a ping and waits for the client
 * (CONN_TIMER_WS_PONG); CONN_TIMER_WS_PONG, the client said nothing since, closes with
 * 1011. Any bytes from the client count as an answer and re-arm the interval. */
void wsconn_expire(struct worker *w, conn_t *c, int timer);

/* Frees c's WebSocket state, if any (the slot changes tenant), taking it out of the
 * worker's open WebSockets if it still counts there. */
void wsconn_free(struct worker *w, conn_t *c);

#endif
