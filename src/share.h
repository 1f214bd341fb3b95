/* Work sharing between the workers of one master: which worker can start a request now,
 * which listeners have nobody accepting from them, and the hand-off of a client
 * connection, with the bytes already read from it, to a sibling worker.
 *
 * Each worker keeps its own SO_REUSEPORT listener and ring (locality when the load is
 * even); this module is what lets uneven load find the idle workers:
 *   - The share table, one page set mapped MAP_SHARED by the master before any fork,
 *     says per worker slot how many application threads are free to start a request
 *     (written by the slot's worker) and whether the slot has a worker accepting at all
 *     (written by the master). Plain relaxed stores and loads: a reader acting on a value
 *     one round old only costs a hand-off more or less, never correctness.
 *   - Every worker holds every slot's listeners. When the master marks a slot orphaned
 *     (its worker died, is booting, or is leaving) it signals the workers, and the idle
 *     ones accept from that slot's listener too (share_table_t.orphan).
 *   - Every slot has an inbox: a unix datagram socket pair the master makes before the
 *     slot's first worker is forked, and keeps while the slot exists, so a datagram
 *     survives the worker that was meant to read it. A worker that cannot start a request
 *     now sends the connection (SCM_RIGHTS) with the unparsed bytes of the request to a
 *     free sibling's inbox, and forgets it. Only our own processes hold the pairs.
 *   - One more pair is the shared queue: requests that would wait behind long ones (or
 *     whose worker is leaving) go there, and whichever worker has a thread free first
 *     takes them, oldest first: gunicorn's shared accept queue, for the requests that
 *     need it, while even load keeps its locality.
 *
 * Invariants: a slot's `free` and `taking` entries are written only by the worker that
 * serves the slot (its predecessor stops writing once it leaves); `orphan` and `nslots`
 * only by the master. share_send is non-blocking: a full inbox means the connection
 * stays with its worker.
 */
#ifndef UF_SHARE_H
#define UF_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slots the table can describe: the master's own bound on worker slots. */
#define SHARE_MAX_SLOTS 1024
/* The most bytes of a request a hand-off carries: request lines and headers of ordinary
 * requests fit many times; a request that has more buffered stays with its worker. */
#define SHARE_MAX_BYTES (64 * 1024)
/* A request is passed on at most this many times, so two workers that each believe the
 * other idle cannot bounce it between them. */
#define SHARE_MAX_HOPS 2
/* uint32_t entries between two slots' free counts: 64 bytes */
#define SHARE_FREE_STRIDE 16
/* A request that found every application thread of its worker busy, and no sibling free,
 * waits in its worker; once it has waited this long it moves to the shared queue, which
 * the first worker with a free thread takes from (gunicorn's shared accept queue, for the
 * requests that need it). Shorter would move requests that a busy worker is about to
 * reach anyway (a saturated hello world queues well under this); longer would leave fast
 * requests behind slow ones. */
#define SHARE_PARK_MS 2
/* share_send's slot for the shared queue. */
#define SHARE_QUEUE ((unsigned)-1)

typedef struct __attribute__((aligned(64))) share_table {
    uint32_t nslots; /* slots in use, [0, nslots) (master) */
    uint32_t epoch;  /* bumped by the master when `orphan` changes */
    int32_t queued;  /* requests in the shared queue (atomic; may lag
                        the queue by one in either direction) */
    /* application threads free to start a request now; 0 when busy or not taking work
     * (worker). Slot k's count is free[k * SHARE_FREE_STRIDE]: one cache line each, as
     * every worker rewrites its own at nearly every request */
    uint32_t free[SHARE_MAX_SLOTS * SHARE_FREE_STRIDE] __attribute__((aligned(64)));
    uint8_t taking[SHARE_MAX_SLOTS]; /* 1: the slot's worker takes new work, even if
                                        it must queue it; 0: it is leaving (worker) */
    uint8_t orphan[SHARE_MAX_SLOTS]; /* 1: no worker accepts from the slot's listeners:
                                        the others steal from them (master) */
} share_table_t;

/* What the master sets up for sharing and every worker inherits. */
typedef struct share {
    share_table_t *table;
    unsigned nbinds;
    int *listen_fds;        /* [slot * nbinds + bind]: every slot's listeners, -1 = none */
    int *inbox_fds;         /* [slot]: the end of the slot's inbox its worker reads */
    int *inbox_tx;          /* [slot]: the end the others send to; -1 = none (a slot
                               opened after this process was forked) */
    int queue_fd, queue_tx; /* the shared queue's two ends */
} share_t;

/* A connection as it travels between workers. */
typedef struct share_msg {
    int fd;           /* the client socket, owned by the caller after recv */
    uint16_t bind;    /* which bind address it came in on */
    uint16_t hops;    /* times it has been passed on */
    const char *data; /* bytes already read, not yet parsed */
    size_t len;
    uint64_t first_byte_ns; /* CLOCK_MONOTONIC of its request's first byte, 0 if unknown:
                               the clock is system-wide, so the taker's phases go on from
                               the sender's (src/stats.h) */
} share_msg_t;

/* Maps the table (or takes `table`, zeroed shared memory the caller mapped: the steering
 * program's map, src/steer.h) and the per-slot arrays for `nbinds` binds. Returns 0 or
 * -errno. */
int share_create(share_t *s, unsigned nbinds, share_table_t *table);
void share_destroy(share_t *s);

/* Makes the shared queue (k = SHARE_QUEUE) or slot k's inbox. Returns 0, or -1 with
 * one line in err. */
int share_open_inbox(share_t *s, unsigned k, char *err, size_t errlen);
void share_close_inbox(share_t *s, unsigned k);

/* Sends `m` to slot k's inbox (or the shared queue: k = SHARE_QUEUE) without blocking. Returns 0
 * (the caller may close its copy of m->fd) or -errno (the connection stays with the caller). */
int share_send(const share_t *s, unsigned k, const share_msg_t *m);

/* Receives one hand-off from an inbox into buf (SHARE_MAX_BYTES at least). Returns 1
 * with *m filled (m->data points into buf), 0 when the inbox is empty, or -errno. */
int share_recv(int inbox_fd, char *buf, size_t buflen, share_msg_t *m);

/* The sibling of `self` that should take a request now: one with a free application
 * thread, scanning from `start` so that busy workers do not all pick the same one; when
 * none is free and `any` is set, one that at least takes work (it will queue it). Only
 * slots this process has an inbox for count. Returns the slot, or -1. */
int share_pick(const share_t *s, unsigned self, unsigned start, bool any);

static inline void share_set_free(share_table_t *t, unsigned k, uint32_t n)
{
    uint32_t *at = &t->free[k * SHARE_FREE_STRIDE];
    if (__atomic_load_n(at, __ATOMIC_RELAXED) != n)
        __atomic_store_n(at, n, __ATOMIC_RELAXED);
}

static inline void share_set_taking(share_table_t *t, unsigned k, bool on)
{
    __atomic_store_n(&t->taking[k], on ? 1 : 0, __ATOMIC_RELAXED);
}

#endif
