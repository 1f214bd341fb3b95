/* A client connection: its slot in the worker's pool and its state machine.
 *
 *   READING  --complete request-->  app called (synchronously)  -->  WRITING
 *   WRITING  --all sent, keep-alive-->  READING (pipelined bytes parsed at once)
 *   WRITING  --all sent, close-->  LINGERING (FIN sent, input discarded)  -->  closed
 *
 * Invariants: at most one send in flight per connection, so responses leave in request
 * order; a slot is reused only after every operation submitted for it has completed
 * (ops == 0), so a late completion can never touch the next tenant; the application's
 * iterable is advanced only when the previous chunk has been handed to the kernel.
 */
#ifndef UF_CONN_H
#define UF_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "python_bridge/wsgi.h"
#include "src/http.h"
#include "src/mem.h"
#include "src/response.h"

struct worker;

enum conn_state {
    CONN_FREE = 0,
    CONN_READING,
    CONN_WRITING,
    CONN_LINGERING,
    CONN_CLOSING,
};

enum conn_timer {
    CONN_TIMER_NONE = -1,
    CONN_TIMER_HEADER = 0,    /* from the first byte (or the accept) to a complete request */
    CONN_TIMER_IDLE,          /* keep-alive idle between requests */
    CONN_TIMER_LINGER,        /* after our FIN, waiting for the peer's */
    CONN_TIMER_DRAIN,         /* idle at drain: a request already on its way may land */
    CONN_TIMER_COUNT,
};

typedef struct conn {
    int fd;
    uint32_t slot;
    uint32_t gen;
    uint8_t state;            /* enum conn_state */
    int8_t timer;             /* enum conn_timer the conn is queued on */
    bool recv_armed;
    bool send_inflight;
    bool peer_closed;
    bool close_after;         /* close once the current response is out */
    bool have_peer;           /* peer address looked up */
    uint16_t listener;        /* index of the bind it came from */
    uint16_t ops;             /* submitted operations not yet completed */

    buf_t in;                 /* received, not yet answered bytes */
    size_t parsed;            /* in.data[0, parsed) has been fed to the parser */
    http_req_t req;

    buf_t out;                /* response bytes being sent */
    size_t sent;
    py_reply_t *reply;        /* application iterable still producing, or NULL */
    resp_plan_t plan;
    int64_t remaining;        /* with RESP_LENGTH: body bytes still allowed */

    uint64_t deadline_ms;
    struct conn *timer_prev, *timer_next;

    char peer_host[INET6_ADDRSTRLEN];
    int peer_port;
} conn_t;

/* Takes ownership of an accepted socket and starts receiving. */
void conn_open(struct worker *w, int fd, unsigned listener);

/* Dispatches one completion for a connection (op decoded from user_data). */
void conn_complete(struct worker *w, conn_t *c, unsigned op, int res, unsigned flags);

/* Called by the deadline queue when c's timer of class `timer` fired. */
void conn_expire(struct worker *w, conn_t *c, int timer);

/* Begins a graceful stop: idle connections close now, busy ones after their response. */
void conn_drain(struct worker *w, conn_t *c);

#endif
