/* A worker process: one io_uring ring, the listeners of its slot, a pool of connections
 * and the embedded application.
 *
 * The loop is: submit and wait (the GIL released only here) -> drain every completion ->
 * dispatch by op -> expire deadlines. Everything runs in this one thread; the
 * application is called synchronously from the dispatch of a completed request. With
 * --threads N > 1 the application runs in N threads instead (src/pool.h) and the loop
 * thread never takes the GIL at all; it still does every ring operation itself.
 * Signals only set a flag and poke an eventfd the ring is reading, so the loop never
 * misses one while it sleeps. An ASGI worker runs the same rounds from its asyncio loop,
 * which is then the only wait (serve_asgi; docs/architecture.md, "ASGI").
 */
#ifndef UF_WORKER_H
#define UF_WORKER_H

#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "python_bridge/interp.h"
#include "src/conn.h"
#include "src/http.h"
#include "src/scoreboard.h"
#include "src/share.h"
#include "src/stats.h"
#include "tunables/tunables.h"
#include "uring/ring.h"

/* user_data ops */
enum worker_op {
    OP_ACCEPT = 1, /* slot = listener index */
    OP_WAKE,       /* eventfd read: a signal arrived */
    OP_RECV,       /* slot = connection */
    OP_SEND,
    OP_CONTINUE, /* "100 Continue" interim response */
    OP_CANCEL,
    OP_CLOSE,
    OP_ACCEPT_CANCEL, /* stopping the accepts at drain */
    OP_SPOOL_WRITE,   /* a request body piece written to its spool file */
    OP_FILE_READ,     /* a block of a wsgi.file_wrapper file read into the output */
    OP_ZC_READ,       /* a block of such a file read into a registered send buffer */
    OP_SEND_ZC,       /* zero-copy send from a registered buffer (result, then notif) */
    OP_SEND_FILE,     /* a wsgi.file_wrapper file sent by the engine itself (send_file) */
    OP_ALOG_WRITE,    /* a batch of access log lines written (src/stats.c) */
    OP_SHIP_SEND,     /* lines sent to --log-target */
    OP_SHIP_CONNECT,  /* the connection to a tcp:// log target */
    OP_STATSD_SEND,   /* a statsd packet sent */
    OP_POOL,          /* eventfd read: application threads finished steps (src/pool.h) */
    OP_APP,           /* slot = connection whose step came back (not a ring op) */
    OP_STEAL,         /* accept from a sibling's listener: slot = sibling * nbinds + bind */
    OP_STEAL_CANCEL,
    OP_INBOX, /* poll of this slot's inbox: connections handed over (src/share.h) */
    OP_INBOX_CANCEL,
    OP_QUEUE, /* poll of the shared queue (src/share.h) */
    OP_QUEUE_CANCEL,
    OP_RELOAD,    /* read of the --reload inotify descriptor (src/reloader.h) */
    OP_SEND_ZC_2, /* OP_SEND_ZC from the second half of a registered buffer */
};

/* Registered send buffers per worker: enough for this many zero-copy file transfers in
 * flight at once, each block read and sent in two halves that take turns. */
#define WORKER_ZC_BLOCKS     TUN_SEND_ARENA_BLOCKS
#define WORKER_ZC_BLOCK_SIZE TUN_SEND_ARENA_BLOCK_SIZE

/* The master's signal that share_table_t.orphan changed (look at the steals again). */
#define WORKER_SIG_TOPOLOGY (SIGRTMIN + 1)

/* Exit codes a worker uses so the master can tell boot failures apart. */
enum worker_exit {
    WORKER_EXIT_OK = 0,
    WORKER_EXIT_BOOT = 3,     /* could not set up (ring, interpreter) */
    WORKER_EXIT_APP_LOAD = 4, /* the application could not be imported */
};

typedef struct worker_listener {
    int fd;
    char host[112]; /* SERVER_NAME: the address, or a unix socket's path ("@NAME": abstract) */
    int port;       /* SERVER_PORT; 0 for a unix socket */
    bool af_unix;   /* a unix socket: no REMOTE_PORT, SERVER_* from Host (gunicorn) */
    bool shared;    /* every slot's worker accepts from this one socket (src/listeners.h) */
    bool uwsgi;     /* speaks the uwsgi protocol (--protocol uwsgi, or uwsgi://) */
} worker_listener_t;

typedef struct timer_queue {
    conn_t *head, *tail;
    uint64_t duration_ms;
} timer_queue_t;

typedef struct worker {
    const tun_config_t *cfg;
    sb_slot_t *sb;
    unsigned index;
    ring_t ring;
    py_app_t *app;
    struct pool *pool;         /* --threads > 1: the application threads, else NULL */
    uint64_t pool_value;       /* the pool eventfd's counter, read by the ring */
    struct loopcall *loopcall; /* with a pool of one thread: what the loop calls itself */
    uint64_t oldest_ms;        /* the oldest request in a thread, as last published */
    http_limits_t limits;

    worker_listener_t *listeners;
    unsigned listener_count;

    conn_t *conns;        /* pool of cfg->worker_connections */
    uint32_t *free_slots; /* stack of free pool indices */
    uint32_t free_count;
    uint32_t active;

    py_header_t *scratch_headers; /* request headers handed to Python, reused */
    size_t scratch_cap;
    conn_shared_t conn_shared; /* proxy trust and body settings (conn_setup) */

    timer_queue_t timers[CONN_TIMER_COUNT];
    uint64_t now_ms;
    uint64_t now_ns; /* CLOCK_MONOTONIC when the loop woke for this round (now_ms is it in
                        ms): the time of the receives the round completes (src/stats.h) */

    int wake_fd;
    uint64_t wake_value;
    stats_worker_t *stats; /* access log, log target, statsd, probes (src/stats.c) */
    bool zc_unavailable;   /* registering the send buffers failed: never try again */
    /* connections refused over --worker-connections: answered with 503 and shut down
     * for writing, closed a little later so that the client's request, arriving after
     * our answer, does not meet a closed socket and reset the 503 before it is read */
    struct {
        int fd;
        uint64_t close_at_ms;
    } refused[64];
    unsigned refused_head, refused_count;
    uint64_t refuse_logged_ms; /* when the last "connection limit" line was written */
    uint64_t refuse_unlogged;  /* refusals since then, said in the next line */
    /* work sharing (src/share.h), NULL share when --work-sharing is off */
    const share_t *share;
    uint32_t threads;                   /* application threads (the pool's size) */
    uint32_t in_app;                    /* requests owned by a thread or queued for one */
    struct conn *park_head, *park_tail; /* parked requests, oldest first (src/conn.c) */
    uint32_t steal_epoch;               /* the table's epoch the steals below were armed for */
    uint8_t *stealing;                  /* [slot]: accepts are armed on that sibling's listeners */
    unsigned pick_next;                 /* where the next search for an idle sibling starts */
    uint64_t requests_started;          /* for an exact --max-requests */
    unsigned accepts_live; /* accepts armed (own listeners and steals), not yet ended */
    bool inbox_armed;
    bool queue_armed;
    bool leaving;      /* not taking new work: retiring, timed out or draining */
    bool timed_out;    /* a request outlived --timeout; answered 500 */
    char *inbox_buf;   /* SHARE_MAX_BYTES: one hand-off as it is received */
    uint64_t zc_sends; /* zero-copy sends, and how many the kernel copied anyway */
    uint64_t zc_copied;
    uint64_t recv_enobufs; /* receives ended by -ENOBUFS (no provided buffer free) */
    uint64_t syscalls;     /* system calls the loop makes itself, outside the engine (UF_COUNT at
                              each: hand-offs, peer lookups, closes; docs/research.md) */
    struct reloader *reloader; /* --reload, else NULL (src/reloader.h) */
    bool draining;
    bool stop_now;
    uint64_t drain_started_ms; /* when the drain began (the ASGI shutdown's budget) */
    /* ASGI (docs/architecture.md): the application runs as tasks on an asyncio loop that
     * drives this worker's rounds (serve_asgi in worker.c, src/asgiconn.h) */
    bool asgi;
    py_asgi_ops_t asgi_ops;
} worker_t;

/* One system call the loop makes itself, outside the engine (w->syscalls): used as
 * `(worker_syscall(w), call(...))` where the call is made. Nothing without instruments. */
static inline void worker_syscall(worker_t *w)
{
    UF_COUNT(w->syscalls, 1);
}

/* The interpreter options the settings ask for: the same for a worker that imports the
 * application and for the master under --preload. */
static inline py_interp_options_t worker_python_options(const tun_config_t *cfg)
{
    return (py_interp_options_t){
        .chdir = cfg->chdir,
        .virtualenv = cfg->virtualenv,
        .pythonpath = (const char *const *)cfg->pythonpath,
        .pythonpath_count = cfg->pythonpath_count,
        .program_name = "uwsgi-fast",
        .env = (const char *const *)cfg->raw_env,
        .env_count = cfg->raw_env_count,
    };
}

/* Where a worker runs (--cpu-pin, --numa-pin), decided by the master. */
typedef struct worker_placement {
    bool pin_cpus; /* apply `cpus` as the affinity */
    cpu_set_t cpus;
    int mem_node; /* bind memory to this NUMA node; -1 = leave the policy */
} worker_placement_t;

/* Runs worker `index` on the given listener sockets; never returns (exits the process
 * with an enum worker_exit code). The placement is applied before the worker allocates
 * anything, so its heap, its ring and its buffers are on its own node. */
_Noreturn void worker_main(const tun_config_t *cfg, sb_slot_t *sb, unsigned index,
                           worker_listener_t *listeners, unsigned listener_count,
                           const worker_placement_t *place, const share_t *share);

/* Whether the worker can start one more request in an application thread now. */
static inline bool worker_can_start(const struct worker *w)
{
    return w->in_app < w->threads;
}

/* Takes requests from the shared queue while an application thread is free (work
 * sharing; src/share.h). */
void worker_take_queued(worker_t *w);

/* A request is starting (counted for --max-requests); with work sharing a worker that
 * has reached its limit stops taking work at once. */
void worker_request_started(worker_t *w);

/* Refuses a connection over --worker-connections: 503, closed a little later. */
void worker_refuse(worker_t *w, int fd);

/* Deadline queues: one FIFO per timeout class. Every entry of a class has the same
 * duration, so appending keeps each queue sorted and arming/disarming is O(1). */
void worker_timer_arm(worker_t *w, conn_t *c, int timer);
void worker_timer_disarm(worker_t *w, conn_t *c);

/* Returns a connection's slot to the pool once it has no operations in flight. */
void worker_conn_release(worker_t *w, conn_t *c);

#endif
