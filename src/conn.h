/* A client connection: its slot in the worker's pool and its state machine.
 *
 *   READING  --complete request-->  app called (synchronously, or in an application
 *                                      thread with --threads: see src/pool.h)  -->  WRITING
 *   WRITING  --all sent, keep-alive-->  READING (pipelined bytes parsed at once)
 *   WRITING  --all sent, close-->  LINGERING (FIN sent, input discarded)  -->  closed
 *
 * An ASGI worker leaves READING as soon as a request's head is complete: its task runs
 * while the body still arrives, parsed in WRITING for receive() (src/asgiconn.h).
 *
 * A request body stays in memory up to --body-spool-threshold; a larger one is written,
 * as it arrives, to an unlinked temporary file through the ring (ring_write_at) and the
 * application reads it from there. A wsgi.file_wrapper response is read from the
 * application's file through the ring into the output buffer and sent from there, block
 * by block (or sent from the file by the engine itself, where it can), never passing
 * through Python.
 *
 * Invariants: at most one send in flight per connection, so responses leave in request
 * order; a slot is reused only after every operation submitted for it has completed
 * (ops == 0), so a late completion can never touch the next tenant; the application's
 * iterable is advanced only when the previous chunk has been handed to the kernel; while
 * a spool write is in flight req.body is the kernel's and the parser does not run (the
 * bytes wait in `in`, and the receive pauses when too many wait); while a file read is
 * in flight `out` is the kernel's.
 *
 * The connection's jobs, one file each: conn.c the state machine and the dispatch of
 * completions; src/spool.c request bodies in files; src/reply.c the application side of a
 * response (with the GIL); src/filesend.c file bodies and zero-copy sends; src/handoff.c
 * work sharing; src/proxy.c proxy trust (pure); src/proxyhdr.c the PROXY protocol header
 * that may open a connection; src/uwsgireq.c the uwsgi protocol's packet in place of an
 * HTTP head; src/asgiconn.c an ASGI worker's request (the body streamed to the task,
 * send() into the output). Threads: everything declared here runs on
 * the worker's loop thread, except conn_peer_is_loopback (any thread); an application
 * thread holding the GIL runs reply_step (src/reply.h).
 */
#ifndef UF_CONN_H
#define UF_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "python_bridge/asgi.h"
#include "python_bridge/wsgi.h"
#include "src/http.h"
#include "src/proxy.h"
#include "src/proxyhdr.h"
#include "src/uwsgireq.h"
#include "uring/event.h"
#include "common/mem.h"
#include "common/net.h"
#include "src/response.h"

struct worker;

/* What a connection may keep allocated in each of its buffers between requests. */
#define CONN_KEEP_BUF_CAP (64 * 1024)

/* What every connection of a worker shares: the proxy-trust and body settings, parsed
 * once by conn_setup. */
typedef struct conn_shared {
    proxy_t proxy;         /* --forwarded-allow-ips, --secure-scheme-headers */
    proxyhdr_t pp;         /* --proxy-protocol, --proxy-allow-from */
    uwsgireq_t uw;         /* --protocol uwsgi, --uwsgi-allow-from */
    const char *root_path; /* --root-path, "" = none */
    size_t root_path_len;
    uint64_t spool_threshold; /* bodies larger than this go to a file */
    char spool_dir[256];      /* where the files are made */
} conn_shared_t;

enum conn_state {
    CONN_FREE = 0,
    CONN_READING,
    CONN_WRITING,
    CONN_LINGERING,
    CONN_CLOSING,
};

enum conn_timer {
    CONN_TIMER_NONE = -1,
    CONN_TIMER_HEADER = 0, /* from the first byte (or the accept) to complete headers */
    CONN_TIMER_BODY,       /* the longest gap between two pieces of a request body */
    CONN_TIMER_IDLE,       /* keep-alive idle between requests */
    CONN_TIMER_LINGER,     /* after our FIN, waiting for the peer's */
    CONN_TIMER_DRAIN,      /* idle at drain: a request already on its way may land */
    CONN_TIMER_WS_PING,    /* an open WebSocket silent this long is sent a ping */
    CONN_TIMER_WS_PONG,    /* ... which the client must answer within this */
    CONN_TIMER_COUNT,
};

/* A step of a response that runs in an application thread (--threads; src/pool.h). */
enum conn_step {
    CONN_STEP_CALL = 1, /* call the application, produce the head and first output */
    CONN_STEP_NEXT,     /* produce the next batch of the body */
    CONN_STEP_FINISH,   /* close() the iterable and release the reply */
};

/* What a connection needs for its steps in application threads; made on its first
 * request in a worker with threads and kept by the slot for its later tenants. */
typedef struct conn_app {
    uint8_t step;         /* enum conn_step queued or running */
    int8_t result;        /* how it went: 0, or -1 (CALL: answer 500; NEXT: the
                             iterable raised, close the connection) */
    bool close_when_back; /* the connection had to close while the step ran */
    int16_t thread;       /* the pool thread that owns this request (its later steps
                             run there), -1 when none */
    py_request_t req;     /* the request as the application sees it */
    py_header_t *headers; /* req.headers: this connection's own, not the worker's */
    size_t headers_cap;
    buf_t stash;         /* bytes received while a step runs (c->in is the thread's) */
    uint64_t started_ms; /* when a thread first called the application for it */
    uint64_t call_ns;    /* how long its call took, in the thread (src/loopcall.h) */
    uint32_t route;      /* loopcall_key of the request, when the worker keeps streaks */
    struct conn *next;   /* in the pool's queue or its finished list */
} conn_app_t;

/* ASGI (src/asgiconn.h): the request an application task answers on this connection. */
typedef struct conn_asgi {
    py_asgi_req_t *req; /* the worker's reference to it, NULL when none */
    buf_t next;         /* output produced while a send is in flight (`out` is the kernel's) */
    bool head;          /* the response head has been written */
    bool ended;         /* the response's last bytes have been written */
    bool continued;     /* "100 Continue" has been sent, or is not owed */
    int path_fd;        /* a pathsend's file waiting for the interim 100 to be out, or -1 */
    int64_t path_len;
} conn_asgi_t;

typedef struct conn {
    int fd;
    uint32_t slot;
    uint32_t gen;
    uint8_t state; /* enum conn_state */
    int8_t timer;  /* enum conn_timer the conn is queued on */
    bool recv_armed;
    bool send_inflight;
    bool peer_closed;
    bool close_after;     /* close once the current response is out */
    bool have_peer;       /* peer address looked up */
    bool trusted;         /* the peer is in --forwarded-allow-ips (with have_peer) */
    bool peer_unix;       /* the peer came over a unix socket (with have_peer) */
    bool spool_busy;      /* a write of req.body to spool_fd is in flight */
    bool file_busy;       /* a read from file_fd into out is in flight */
    bool file_by_read;    /* the engine could not send this file itself: read it into out */
    bool recv_cancelling; /* paused: a cancel of the receive is on its way */
    bool app_busy;        /* a step is queued or running in an application thread */
    bool reply_ended;     /* the body is complete, the reply still to be finished (a
                             CONN_STEP_FINISH runs before the response is done) */
    bool handing_off;     /* going to a sibling once the receive has stopped */
    bool parked;          /* its request waits in the threads' queue and may still move */
    bool to_queue;        /* the hand-off may go to the shared queue */
    uint8_t hops;         /* times a worker has passed it on (src/share.h) */
    uint16_t listener;    /* index of the bind it came from */
    uint16_t ops;         /* submitted operations not yet completed */

    buf_t in;      /* received, not yet answered bytes */
    size_t parsed; /* in.data[0, parsed) has been fed to the parser */
    http_req_t req;
    int spool_fd;       /* the request body's file, -1 while it is in memory */
    uint64_t spool_len; /* bytes written to it */

    buf_t out; /* response bytes being sent */
    size_t sent;
    py_reply_t *reply;  /* application iterable still producing, or NULL */
    conn_app_t *app;    /* with --threads: the steps' state, else NULL */
    conn_asgi_t asgi;   /* an ASGI worker's request and output (src/asgiconn.h) */
    struct conn_ws *ws; /* a WebSocket's state from its handshake on (src/wsconn.h), or NULL */
    resp_plan_t plan;
    int64_t remaining;      /* with RESP_LENGTH: body bytes still allowed */
    int zc_block;           /* registered send buffer held for a zero-copy file, or -1 */
    uint32_t zc_len;        /* bytes of the file in zc_block's half zc_half */
    uint32_t zc_sent;       /* of which sent */
    uint16_t zc_pending;    /* zero-copy notifications still to come */
    uint16_t zc_notifs[2];  /* of those, for each half of zc_block (src/filesend.c) */
    uint8_t zc_half;        /* the half of zc_block that holds the file's zc_len bytes */
    const char *zc_chunk;   /* a large application chunk going out by SEND_ZC from its
                               own memory (zc_len bytes, zc_sent of them sent), after
                               `out`; the reply keeps it alive until the notification */
    bool zc_off;            /* the kernel copied our zero-copy sends: stop asking */
    uint8_t continue_sent;  /* bytes of "100 Continue" already sent */
    uint16_t pending_error; /* an error answer waiting for that interim line to be out */
    int file_fd;            /* our duplicate of a wsgi.file_wrapper file, or -1 */
    int64_t file_off;       /* where the next read starts */
    int64_t file_left;      /* bytes still to read and send */

    uint64_t deadline_ms;
    struct conn *timer_prev, *timer_next;
    uint64_t parked_ms; /* when it was parked */
    struct conn *park_prev, *park_next;

    char peer_host[INET6_ADDRSTRLEN]; /* the client: the socket's peer, or the one a PROXY
                                         protocol header names */
    int peer_port;
    proxyhdr_conn_t pp; /* that header, with --proxy-protocol */
    uwsgireq_conn_t uw; /* the uwsgi protocol's packet, on a uwsgi bind */

    /* for the access log and the metrics (src/stats.c), per response */
    uint64_t conn_id;      /* within the worker, from 1 */
    uint32_t req_no;       /* the current request's number on this connection, from 1 */
    uint64_t t_start_ns;   /* CLOCK_MONOTONIC when it went to the application; 0: never */
    uint64_t t_recv_ns;    /* ... when the last receive completed */
    uint64_t t_carry_ns;   /* ... of the receive that brought bytes the previous request left
                              (pipelined): the next request's first byte; 0 when none */
    uint64_t t_mark_ns[5]; /* the request's phase boundaries (enum stats_mark); 0: not yet */
    uint64_t body_out;     /* body bytes of the response (%(b)s) */
    uint64_t bytes_out;    /* bytes of it sent: head, framing, body */
    int status_code;       /* 0 until a status is decided */
} conn_t;

/* Parses the settings conn_shared_t holds into w->conn_shared. Returns 0, or -1 with one
 * line naming the setting in err. */
int conn_setup(struct worker *w, char *err, size_t errlen);

/* How much of a connection conn_reset makes fresh. */
typedef enum conn_reset_scope {
    CONN_RESET_REQUEST,    /* between two requests of one connection (keep-alive) */
    CONN_RESET_CONNECTION, /* the slot changes tenant (given back, or taken again) */
} conn_reset_scope_t;

/* The one place where a connection's state is made fresh. Sets no `state` (the state
 * machine's transitions are its own) and submits nothing; loop thread, with no step of c
 * in an application thread.
 *
 * CONN_RESET_REQUEST, once a keep-alive response is out: the request's bytes leave `in`
 * (pipelined bytes after them stay), `out` is emptied, the parser is ready for the next
 * message, and the request may travel to a sibling again (hops). Buffers that grew past
 * CONN_KEEP_BUF_CAP are freed.
 *   Survive a keep-alive request (per connection): fd, listener, the peer (have_peer,
 *   trusted, peer_unix, peer_host, peer_port, pp), conn_id, zc_off, peer_closed, the armed receive
 *   (recv_armed, recv_cancelling), ops, the timer, app, and the spool file only while
 *   a write to it is still in flight (the response's end closes it otherwise).
 *   Need no reset because each request sets them before they are read: plan, remaining,
 *   reply_ended, continue_sent, pending_error, the ASGI flags, the file and zero-copy fields (put
 * back by the code that finishes a file or a chunk), t_start_ns, status_code, body_out and
 *   bytes_out (src/stats.c: stats_request_begin and stats_request_done); close_after is
 *   never cleared because a connection that sets it has no next request.
 *
 * CONN_RESET_CONNECTION, when a slot is given back (its last operation has completed and
 * its files are closed) and again when it is taken for a new connection (a slot may be
 * fresh from the worker's calloc): all of the above, `in` emptied, the parser reset, and
 * every flag, count, file descriptor, zero-copy field, per-response figure and the PROXY
 * protocol header's findings back to "none". Untouched: the slot's identity (slot, gen, fd,
 * listener, conn_id: set by whoever takes the slot), `state`, the timer queue links, and the
 * allocations the slot keeps for its next tenants (app, its header array and stash, buffers up to
 * CONN_KEEP_BUF_CAP). */
void conn_reset(conn_t *c, conn_reset_scope_t scope);

/* Takes ownership of an accepted socket and starts receiving. */
void conn_open(struct worker *w, int fd, unsigned listener);

/* Takes a connection a sibling handed over, with the bytes it had read, and serves it
 * as if they had just arrived. */
struct share_msg;
void conn_adopt(struct worker *w, const struct share_msg *m);

/* --timeout: answers the client of c, whose request is still in an application thread,
 * 500 with Connection: close if nothing of its response has been sent yet (the worker
 * is about to be killed), and ends the connection for writing. Loop thread only. */
void conn_answer_timeout(struct worker *w, conn_t *c);

/* Dispatches one completion for a connection (op decoded from user_data). */
void conn_complete(struct worker *w, conn_t *c, unsigned op, int res, unsigned flags);

/* Called by the deadline queue when c's timer of class `timer` fired. */
void conn_expire(struct worker *w, conn_t *c, int timer);

/* Begins a graceful stop: idle connections close now, busy ones after their response. */
void conn_drain(struct worker *w, conn_t *c);

/* Looks c's peer up from its socket into peer_host, peer_port and trusted (have_peer set),
 * and its address into *ss. Returns false when the socket has no peer any more. */
bool conn_lookup_peer(struct worker *w, conn_t *c, struct sockaddr_storage *ss);

/* Whether c's peer (looked up when its first request was built) is on loopback, where the
 * kernel always copies a zero-copy send: there is nothing to gain from one. The peer is
 * the socket's, also when a PROXY protocol header names another client. Reads only the
 * peer address, which stays put for the connection's life: any thread. */
bool conn_peer_is_loopback(const conn_t *c);

/* ---- for the connection's own files (src/filesend.c, src/handoff.c) ----
 * The state machine's steps those files go on with. Loop thread only. */

/* Submits the send of c->out from c->sent (there must be something left, and no send in
 * flight). */
void conn_send_start(struct worker *w, conn_t *c);

/* Everything produced so far is sent: goes on with the body (the file's next block, the
 * application's next batch), or ends the response. */
void conn_send_more(struct worker *w, conn_t *c);

/* The whole response is out: closes (lingering), or gets ready for the next request on
 * the connection and answers it at once if it is already here (pipelining). */
void conn_response_done(struct worker *w, conn_t *c);

/* Arms the connection's multishot receive, unless it is armed, the peer has closed or
 * the connection is closing. */
void conn_recv_start(struct worker *w, conn_t *c);

/* Stops the multishot receive; its final completion (-ECANCELED, no F_MORE) clears
 * recv_armed, and whoever drains the input starts it again. */
void conn_recv_pause(struct worker *w, conn_t *c);

/* Parses what has arrived and answers at most one request (the next one waits until this
 * one's response is out); no-op unless c is reading and free to parse. */
void conn_process_input(struct worker *w, conn_t *c);

/* Closes at once: cancels the receive, closes the socket; the slot returns to the pool
 * when the last completion for it has arrived. With a step in an application thread, it
 * closes when the step comes back. */
void conn_close_now(struct worker *w, conn_t *c);

/* The loop is done with c->reply: it is finished now (no threads), or by a
 * CONN_STEP_FINISH in the thread that owns it, which counts as an operation in flight.
 * Returns true in the second case. */
bool conn_reply_release(struct worker *w, conn_t *c);

/* Answers `status` (an error page, Connection: close) in place of the response; with the
 * interim "100 Continue" in flight, right after it. */
void conn_answer_error(struct worker *w, conn_t *c, int status);

/* Sends the interim "100 Continue" (it counts as the send in flight). */
void conn_send_continue(struct worker *w, conn_t *c);

/* The user_data of an operation for c: its op, c's generation and slot (uring/event.h). */
static inline uint64_t conn_ud(const conn_t *c, unsigned op)
{
    return ring_ud(op, c->gen, c->slot);
}

#endif
