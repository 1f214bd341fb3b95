/* The engine seam: everything the worker loop and the connection code do with the kernel
 * goes through this header (and uring/event.h, which it includes). Two engines implement
 * it. io_uring, the one built for: one ring per worker, its provided-buffer ring for
 * receives, registered send buffers for zero-copy. And epoll (epoll/ep.h), for hosts where
 * io_uring is blocked: the same calls with the same promises, carried out with readiness
 * and ordinary system calls; a ring made by ring_init_epoll() forwards every call there
 * (one branch, predicted for io_uring). What only one engine can do is asked for by
 * capability in `features` (send_zc: io_uring; send_file: epoll), never by engine name.
 * Nothing above uring/ names an io_uring type, constant or function, nor an ep_* one.
 *
 * The loop is: queue operations (ring_accept_multishot ... ring_close) -> ring_wait()
 * (submits what is queued, waits) -> drain completions with ring_events_begin / _next /
 * _end, dispatching each decoded ring_event_t by its op -> ring_buffers_publish().
 *
 * What every engine promises:
 *   - Queuing never fails and never blocks: a call may submit what is already queued to
 *     make room, but an operation reaches the kernel at the latest in the next
 *     ring_wait(). Results, errors included, arrive only as completions.
 *   - Each operation completes at least once, with the user_data it was queued with.
 *     Completions of different operations come in no promised order; the caller keeps
 *     at most one send in flight per stream socket (so bytes stay in order).
 *   - Multishot operations (accept, recv, poll) complete once per event with `more` set.
 *     They end on their own (an error, EOF for recv (res 0), -ENOBUFS when no receive
 *     buffer was free, -ECANCELED after ring_cancel): the first completion without
 *     `more` is the last, and the caller re-arms if it still wants events.
 *   - ring_cancel(target): the target's last completion (-ECANCELED, or its own result
 *     if it finished first) and the cancel's own completion (0, -ENOENT if nothing was
 *     found, -EALREADY) come in either order.
 *   - Memory handed to an operation (send and write data, read destinations, the
 *     connect address, the timeout's storage) stays valid and unchanged until its
 *     completion; for send_zc until its notification (a completion with `notif`).
 *   - Receive buffers: a recv completion with `buffer` lends buffer `bid` to the caller,
 *     who hands it back once with ring_buffer_recycle(); recycled buffers become
 *     receivable again at ring_buffers_publish() (once a loop round; epoll: at once).
 *
 * Invariants: single-threaded; the ring is created by the worker that uses it (never
 * inherited across fork); ring_wait() is the only call that waits; completions are read
 * only through the ring_events iterator. user_data is encoded in uring/event.h. Above
 * uring/, ring_t is read only through `features` and the inline helpers here; its other
 * members are the engines' own. Nothing here knows about HTTP or Python.
 */
#ifndef UF_URING_RING_H
#define UF_URING_RING_H

#include <liburing.h>
#include <sched.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/probes.h"
#include "uring/event.h"

/* The neutral flags word is the kernel's: decoding a CQE copies it. */
_Static_assert(RING_F_BUFFER == IORING_CQE_F_BUFFER, "RING_F_BUFFER");
_Static_assert(RING_F_MORE == IORING_CQE_F_MORE, "RING_F_MORE");
_Static_assert(RING_F_NOTIF == IORING_CQE_F_NOTIF, "RING_F_NOTIF");
_Static_assert(RING_F_BUFFER_SHIFT == IORING_CQE_BUFFER_SHIFT, "RING_F_BUFFER_SHIFT");

/* The io_uring engine is the one that matters for speed: every call tests once for the
 * other engine, a branch predicted not taken. */
#define RING_EPOLL(r) __builtin_expect((r)->ep != NULL, 0)

typedef struct ring_features {
    unsigned setup_flags; /* the IORING_SETUP_* set the ring was created with */
    bool single_issuer;
    bool defer_taskrun;
    bool coop_taskrun;
    bool submit_all;
    bool ext_arg;  /* wait with a timeout needs no SQE */
    bool buf_ring; /* provided-buffer rings */
    bool recv_multishot;
    bool accept_multishot;
    bool send_zc;
    bool send_zc_usage; /* the notification reports whether the kernel copied */
    bool trial_done;    /* recv_multishot / send_zc were proven by trial submits */
    bool send_file;     /* ring_send_file: the engine moves a file to a socket itself */
} ring_features_t;

/* What the engine did, counted where it happens, for research (docs/research.md): the
 * worker publishes them into its scoreboard slot once a round. Same names on both
 * engines where they apply. */
typedef struct ring_counters {
    uint64_t enters;        /* system calls into the engine to submit or wait:
                               io_uring_enter, epoll_wait */
    uint64_t submitted;     /* io_uring: SQEs handed to the kernel; epoll: 0 */
    uint64_t completed;     /* completions reaped */
    uint64_t rounds;        /* passes over the completions that found at least one */
    uint32_t max_per_round; /* the most completions one pass found */
} ring_counters_t;

typedef struct ring {
    struct io_uring uring;
    ring_counters_t counters;
    struct ep *ep; /* non-NULL: the epoll engine (epoll/ep.h) runs this ring, not io_uring */
    ring_features_t features;
    struct io_uring_buf_ring *bufs; /* provided buffers for recv, group RING_RECV_GROUP */
    char *buf_base;
    unsigned buf_count;
    unsigned buf_size;
    unsigned buf_pending; /* recycled but not yet published */
    bool initialised;
    /* registered send buffers (io_uring_register_buffers): zero-copy sends come from here */
    char *arena;
    size_t arena_block;
    unsigned arena_blocks;
    uint32_t *arena_free; /* stack of free block indices */
    unsigned arena_free_count;
} ring_t;

enum { RING_RECV_GROUP = 0 };

/* Checks, before forking, that this process may use io_uring at all: reads
 * kernel.io_uring_disabled and creates a throw-away ring in a short-lived child (so a
 * seccomp profile that kills on io_uring_setup kills only the child). Returns 0, or -1
 * with one line in err naming the cause and the fix. Fills *features when non-NULL. */
int ring_probe(ring_features_t *features, char *err, size_t errlen);

/* Creates the worker's ring with the best setup flags the kernel accepts, and a
 * provided-buffer ring of buf_count buffers of buf_size bytes (buf_count a power of
 * two). Returns 0 or -errno; on error err says which step failed. */
int ring_init(ring_t *r, unsigned entries, unsigned buf_count, unsigned buf_size, char *err,
              size_t errlen);
/* The same, with options: RING_INIT_POLLED for a ring whose descriptor another loop polls
 * (ring_poll_fd): the setup flags leave out DEFER_TASKRUN, which would post completions
 * only inside ring_wait and so never wake that poller. */
enum { RING_INIT_POLLED = 1 << 0 };
int ring_init_ex(ring_t *r, unsigned entries, unsigned buf_count, unsigned buf_size, unsigned opts,
                 char *err, size_t errlen);
/* Creates the ring on the epoll engine instead (ring_probe failed, or --engine epoll): the
 * same calls, none of io_uring's features (registered buffers, SEND_ZC, multishot are
 * simulated or skipped: their flags stay false), and one of its own: send_file.
 * Returns 0 or -errno. */
int ring_init_epoll(ring_t *r, unsigned buf_count, unsigned buf_size, char *err, size_t errlen);
void ring_exit(ring_t *r);

/* Which engine runs the ring: "io_uring" or "epoll". */
static inline const char *ring_engine_name(const ring_t *r)
{
    return r->ep ? "epoll" : "io_uring";
}

/* In a child forked by the application (os.fork, subprocess): drops the inherited ring
 * without touching the kernel object, which still belongs to the parent. Unregistering
 * anything here would unregister it for the parent too; the child only unmaps and closes,
 * so it holds no usable ring and keeps none alive. */
void ring_forget_after_fork(ring_t *r);

/* Restricts the ring's io-wq worker threads to `cpus` (NULL: leave the affinity) and caps
 * their number (bounded: file I/O; unbounded: sockets). Best effort: older kernels lack
 * these registrations. Returns 0 or -errno of the first failure. */
int ring_limit_iowq(ring_t *r, const cpu_set_t *cpus, unsigned bounded, unsigned unbounded);

/* Registers `blocks` send buffers of `block_size` bytes each (pinned memory, charged to
 * RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK). Call after the worker's memory
 * policy is set, so the pages land on its node. Returns 0, or -errno with err saying
 * what to raise. */
int ring_arena_init(ring_t *r, unsigned blocks, size_t block_size, char *err, size_t errlen);
/* A free block's index, or -1 when all are in use. */
int ring_arena_get(ring_t *r);
void ring_arena_put(ring_t *r, int index);
static inline char *ring_arena_block(const ring_t *r, int index)
{
    return r->arena + (size_t)index * r->arena_block;
}
/* Whether ring_arena_init has succeeded on this ring, and the size of each block. */
static inline bool ring_arena_ready(const ring_t *r)
{
    return r->arena != NULL;
}
static inline size_t ring_arena_block_size(const ring_t *r)
{
    return r->arena_block;
}
/* The bytes all workers' arenas pin together, for the master's RLIMIT_MEMLOCK check. */
static inline size_t ring_arena_bytes(unsigned blocks, size_t block_size)
{
    return (size_t)blocks * block_size;
}

/* ---- operations -----------------------------------------------------------------------
 * Each queues one operation whose completions carry `ud` (see the promises above). They
 * stay out of line: the connection fuzzer (tests/fuzz/conn_fuzz.c) replaces them at link
 * time with a fake kernel, and queuing an SQE costs far more than the call. */

/* Multishot accept on a listening socket: res is a new descriptor (SOCK_CLOEXEC, blocking
 * mode as the listener's) per connection, `more` while it stays armed. */
void ring_accept_multishot(ring_t *r, int listen_fd, uint64_t ud);
/* Multishot receive into the provided buffers: res > 0 bytes in buffer `bid` (`buffer`
 * set), res 0 at EOF, -errno; -ENOBUFS (no free buffer) ends it like any error. */
void ring_recv_multishot(ring_t *r, int fd, uint64_t ud);
/* Multishot readiness (POLLIN) on fd: a completion with `more` per wake-up, res the
 * poll events; the caller then reads the descriptor itself until it would block. */
void ring_poll_in_multishot(ring_t *r, int fd, uint64_t ud);
/* One send (MSG_NOSIGNAL): res is the bytes sent, possibly short, or -errno. */
void ring_send(ring_t *r, int fd, const void *data, size_t len, uint64_t ud);
/* Zero-copy send from ordinary memory, which the kernel pins for the send: a result
 * completion (bytes or -errno, with `more` when a notification follows), then a
 * completion with `notif` (res 0, or RING_ZC_COPIED set when the kernel copied after
 * all). The memory stays unchanged until the notification. */
void ring_send_zc(ring_t *r, int fd, const void *data, size_t len, uint64_t ud);
/* The same from registered block `index` of the arena (ring_arena_get), at `offset`. */
void ring_send_zc_fixed(ring_t *r, int fd, int index, size_t offset, size_t len, uint64_t ud);
/* Sends up to len bytes of file_fd from `offset` to the socket fd, straight from the page
 * cache, without the bytes passing through our memory; only where features.send_file
 * says the engine can (epoll: sendfile(2)). io_uring has no such operation (a splice
 * would need a pipe per transfer and two linked operations): there a file is read into
 * memory and sent, and calling this is a bug. res is the bytes sent, short like a send's
 * when the socket's buffer filled up; 0 when offset is at or past the end of the file
 * (it shrank); or -errno. The file position is neither used nor moved; the socket may
 * be left in non-blocking mode. SIGPIPE must be ignored: sendfile(2) cannot be told
 * MSG_NOSIGNAL. */
void ring_send_file(ring_t *r, int fd, int file_fd, uint64_t offset, size_t len, uint64_t ud);
/* Reads at the file position (eventfds, pipes): res is the bytes read or -errno. */
void ring_read(ring_t *r, int fd, void *data, size_t len, uint64_t ud);
/* Positional file I/O at `offset` (the file position is neither used nor moved; with
 * offset (uint64_t)-1 it is, which appends to an O_APPEND file). The result is the byte
 * count, which may be short, or -errno. */
void ring_read_at(ring_t *r, int fd, void *data, size_t len, uint64_t offset, uint64_t ud);
void ring_write_at(ring_t *r, int fd, const void *data, size_t len, uint64_t offset, uint64_t ud);
/* Connects a socket: res 0 or -errno (a non-blocking socket completes when connected).
 * `addr` stays valid until the completion. */
void ring_connect(ring_t *r, int fd, const struct sockaddr *addr, socklen_t addrlen, uint64_t ud);
/* A one-shot timer: completes with -ETIME after `ms`, or -ECANCELED when ring_cancel
 * finds it first. `t` is the caller's storage for the duration, kept until completion. */
typedef struct ring_timeout {
    long long tv_sec;
    long long tv_nsec;
} ring_timeout_t;
void ring_timeout(ring_t *r, ring_timeout_t *t, unsigned ms, uint64_t ud);
/* Cancels the operation queued with `target_ud` (any kind, multishot included). */
void ring_cancel(ring_t *r, uint64_t target_ud, uint64_t ud);
/* Closes fd: res 0 or -errno. The caller forgets the descriptor at once. */
void ring_close(ring_t *r, int fd, uint64_t ud);

/* ---- receive buffers ------------------------------------------------------------------ */

/* The data of a recv completion with `buffer`: buffer `bid`, valid until recycled. */
static inline const char *ring_buffer(const ring_t *r, unsigned bid)
{
    return r->buf_base + (size_t)bid * r->buf_size;
}
/* Hands buffer `bid` back to the engine; receivable again after ring_buffers_publish(). */
void ring_buffer_recycle(ring_t *r, unsigned bid);
void ring_buffers_publish(ring_t *r);

/* ---- completions -----------------------------------------------------------------------
 * After ring_wait():
 *
 *     ring_event_t ev;
 *     ring_iter_t it = ring_events_begin(r);
 *     while (ring_events_next(r, &it, &ev))
 *         dispatch(&ev);
 *     ring_events_end(r, &it);
 *
 * Completions posted while dispatching (a full queue submitted to make room) are drained
 * in the same pass. Nothing is handed back to the kernel before ring_events_end(), so a
 * dispatch may queue operations freely; it must not wait (ring_wait) inside the pass. */
typedef struct ring_iter {
    unsigned head;  /* next CQ index to read */
    unsigned tail;  /* CQ tail as last read: re-read only when head catches up */
    unsigned start; /* head at begin: end() releases head - start entries */
} ring_iter_t;

/* The epoll engine's side of the iterator, out of line (src/ sees no epoll header). */
bool ring_epoll_next(ring_t *r, ring_iter_t *it, ring_event_t *ev);
void ring_epoll_end(ring_t *r);

static inline ring_iter_t ring_events_begin(ring_t *r)
{
    if (RING_EPOLL(r))
        return (ring_iter_t){0, 0, 0};
    unsigned head = *r->uring.cq.khead;
    /* acquire: the CQEs below the tail are written before we read them */
    return (ring_iter_t){head, io_uring_smp_load_acquire(r->uring.cq.ktail), head};
}

/* Decodes the next completion into *ev; false when none is left. */
static inline bool ring_events_next(ring_t *r, ring_iter_t *it, ring_event_t *ev)
{
    if (RING_EPOLL(r))
        return ring_epoll_next(r, it, ev);
    if (it->head == it->tail) {
        it->tail = io_uring_smp_load_acquire(r->uring.cq.ktail);
        if (it->head == it->tail)
            return false;
    }
    const struct io_uring_cqe *cqe =
        &r->uring.cq.cqes[io_uring_cqe_index(&r->uring, it->head, r->uring.cq.ring_mask)];
    ring_event_decode(ev, cqe->user_data, cqe->res, cqe->flags);
    it->head++;
    return true;
}

/* Releases the completions read, so the kernel may reuse their entries. */
static inline void ring_events_end(ring_t *r, ring_iter_t *it)
{
    unsigned n = it->head - it->start; /* (epoll: from 0) */
    if (UF_INSTRUMENTS && n) {
        r->counters.completed += n;
        r->counters.rounds++;
        if (n > r->counters.max_per_round)
            r->counters.max_per_round = n;
    }
    if (RING_EPOLL(r)) {
        ring_epoll_end(r);
        return;
    }
    io_uring_cq_advance(&r->uring, it->head - it->start);
}

/* Submits pending SQEs and waits for at least one completion or until timeout_ms
 * (negative: no limit). Returns 0, -ETIME on timeout, -EINTR on a signal, or -errno. */
int ring_wait(ring_t *r, int timeout_ms);

/* For a loop that waits somewhere else (an asyncio loop in an ASGI worker): the
 * descriptor that becomes readable when completions are waiting (io_uring: the ring's
 * own fd; epoll: its epfd, level-triggered), and ring_submit, which hands what is queued
 * to the kernel without waiting. ring_submit returns 1 when completions are already
 * waiting without the descriptor saying so (drain them now, with ring_wait(r, 0)), 0, or
 * -errno. */
int ring_poll_fd(const ring_t *r);
int ring_submit(ring_t *r);

/* System calls the engine has made for this ring since it was created: io_uring_enter
 * (counters.enters: a wait, or a submit with something to submit or flush), or on epoll
 * every one the engine makes (epoll/ep.h's ep_syscalls). 0 without instruments. */
uint64_t ring_syscalls(const ring_t *r);

/* Formats the feature set as one line ("single_issuer defer_taskrun ..."). */
void ring_features_describe(const ring_features_t *f, char *out, size_t outlen);

#endif
