/* The scoreboard: one cache-line-aligned slot per worker in a MAP_SHARED page set up by
 * the master before forking. A worker writes only its own slot; the master reads all of
 * them. Fields are plain integers written with relaxed atomics: readers need freshness,
 * not ordering (a stale heartbeat by one tick is harmless).
 */
#ifndef UF_SCOREBOARD_H
#define UF_SCOREBOARD_H

#include <stdint.h>
#include <sys/types.h>

/* Buckets of the request latency histogram, the last one unbounded (+Inf). */
#define SB_LATENCY_BUCKETS 15

/* The phases of a request, which add up to its time from its first byte received to its
 * last byte sent (src/stats.c): parse (the worker receiving and parsing its head, the
 * client's sending included), waited (nobody working on it: pipelined behind another
 * request before its parse began, or queued for an application thread after it), app
 * (the application called -> the response head produced), send (-> the response
 * complete). */
enum sb_phase { SB_PHASE_PARSE, SB_PHASE_WAITED, SB_PHASE_APP, SB_PHASE_SEND, SB_PHASES };
static const char *const sb_phase_names[SB_PHASES] = {"parse", "waited", "app", "send"};

enum sb_state {
    SB_EMPTY = 0, /* no process */
    SB_BOOTING,   /* forked, loading the application */
    SB_READY,     /* accepting */
    SB_DRAINING,  /* stopped accepting, finishing in-flight requests */
};

typedef struct sb_slot {
    int32_t pid;
    uint32_t generation;
    uint32_t state;        /* enum sb_state */
    uint32_t age;          /* master: workers started before this one, plus one (gunicorn's age) */
    uint64_t heartbeat_ms; /* CLOCK_MONOTONIC, updated by the worker loop */
    uint64_t requests;     /* served since this worker booted */
    uint64_t request_start_ms; /* 0 when idle */
    uint64_t rss_bytes;        /* sampled by the master */
    uint64_t request_limit;    /* --max-requests with jitter (master), 0 = none: the
                                  worker stops taking work once it has started this many */
    uint32_t retire_asked;     /* master: replace this worker; it stops taking work
                                  (handing it to siblings) while its successor boots */
    uint32_t timed_out;        /* worker: a request outlived --timeout and its client was
                                  answered 500; the master may kill it now */
    uint32_t limit_reached;    /* worker: it has started request_limit requests and takes
                                  no more (some may never complete: the master must not
                                  wait for the count of answered ones) */
    uint32_t code_changed;     /* worker: a file --reload watches changed; replace it */
    uint32_t on_epoll;         /* worker: its ring runs on epoll (chosen, or its own
                                  io_uring failed after the master's probe passed) */
    char request_line[128];    /* "GET /path" of the current request (with --timeout) */
    char boot_error[312];      /* why the worker could not boot, for the master's message */

    /* Observability (src/stats.c). Counters count from the worker's boot; when it exits
     * the master folds them into its own totals before the slot is reused, so what it
     * reports never goes backwards. Written only by the worker, with plain relaxed
     * stores: a reader may see a response counted in one field and not yet in the next,
     * which no exposition format promises against. */
    uint64_t responses[6]; /* by status class: [0] cut off before a status, [k] kxx */
    uint64_t latency[SB_LATENCY_BUCKETS]; /* per bucket, not cumulative */
    uint64_t latency_us_sum;              /* request durations added up, microseconds */
    uint64_t phase_latency[SB_PHASES][SB_LATENCY_BUCKETS]; /* the same, per phase */
    uint64_t phase_us_sum[SB_PHASES];
    uint64_t bytes_in;        /* received on client connections */
    uint64_t bytes_out;       /* sent on client connections */
    uint64_t ws_messages_in;  /* WebSocket messages received whole */
    uint64_t ws_messages_out; /* ... and sent */
    uint64_t ws_bytes_in;     /* their payload bytes */
    uint64_t ws_bytes_out;
    uint64_t alog_lines;     /* access log lines written */
    uint64_t alog_dropped;   /* lines dropped because the log file could not keep up */
    uint64_t ship_sent;      /* lines handed to --log-target */
    uint64_t ship_dropped;   /* lines dropped: the collector was slow, gone or refused */
    uint64_t statsd_dropped; /* statsd packets dropped */
    uint64_t handed_off;     /* requests (with their connections) passed to siblings or
                                the shared queue (work sharing) */
    uint64_t taken_over;     /* ... and taken from them */
    /* the engine's counters (uring/ring.h's ring_counters_t) and what the worker counts
     * about it, published once a loop round: for research (docs/research.md) */
    uint64_t ring_enters;
    uint64_t ring_submitted;
    uint64_t ring_completed;
    uint64_t ring_rounds;
    uint64_t ring_syscalls; /* system calls the worker's serving path made (docs/research.md) */
    uint64_t recv_enobufs;  /* receives that ended for want of a provided buffer */
    uint64_t zc_sends;      /* zero-copy sends, and of them those the kernel copied anyway */
    uint64_t zc_copied;
    uint32_t ring_max_per_round;
    uint32_t connections;  /* client connections open now */
    uint32_t websockets;   /* of which open WebSockets (accepted, not yet closed) */
    uint32_t in_flight;    /* requests handed to the application, not yet answered */
    uint32_t threads;      /* --threads: application threads (0: the loop calls it) */
    uint32_t threads_busy; /* of which working on a request */
    uint32_t app_queue;    /* requests waiting for a free application thread */
} __attribute__((aligned(64))) sb_slot_t;

/* Upper bounds of the request latency buckets, microseconds; the last bucket is +Inf.
 * Prometheus' default buckets with two finer ones in front, because a WSGI hello world
 * answers in well under a millisecond. */
static const uint32_t sb_latency_le_us[SB_LATENCY_BUCKETS - 1] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

static inline unsigned sb_latency_bucket(uint64_t us)
{
    unsigned i = 0;
    while (i < SB_LATENCY_BUCKETS - 1 && us > sb_latency_le_us[i])
        i++;
    return i;
}

typedef struct scoreboard {
    sb_slot_t *slots;
    unsigned count;
} scoreboard_t;

/* Maps `count` shared slots. Returns 0 or -errno. */
int sb_create(scoreboard_t *sb, unsigned count);
void sb_destroy(scoreboard_t *sb);

uint64_t sb_now_ms(void);

static inline void sb_set(uint32_t *field, uint32_t v)
{
    __atomic_store_n(field, v, __ATOMIC_RELAXED);
}
static inline uint32_t sb_get(const uint32_t *field)
{
    return __atomic_load_n(field, __ATOMIC_RELAXED);
}
static inline void sb_set64(uint64_t *field, uint64_t v)
{
    __atomic_store_n(field, v, __ATOMIC_RELAXED);
}
static inline uint64_t sb_get64(const uint64_t *field)
{
    return __atomic_load_n(field, __ATOMIC_RELAXED);
}
/* For counters of the one writer: no read-modify-write atomics needed. */
static inline void sb_add64(uint64_t *field, uint64_t v)
{
    sb_set64(field, sb_get64(field) + v);
}

#endif
