/* The io_uring engine: one ring per worker, its provided-buffer ring for receives, the
 * operations the worker loop needs (accept, recv, send, read, cancel, close), and the
 * encoding of user_data.
 *
 * Invariants: single-threaded; the ring is created by the worker that uses it (never
 * inherited across fork); every submission queue entry comes from ring_sqe(), which
 * flushes a full queue rather than failing; the loop calls ring_wait() (the only place
 * that enters the kernel to wait) and then consumes CQEs with ring_for_each_cqe.
 *
 * user_data layout (64 bits):  op (8) | generation (24) | slot (32)
 * The generation lets the owner of a slot ignore completions of a previous tenant.
 * Nothing here knows about HTTP or Python.
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

typedef struct ring_features {
    unsigned setup_flags;      /* the IORING_SETUP_* set the ring was created with */
    bool single_issuer;
    bool defer_taskrun;
    bool coop_taskrun;
    bool submit_all;
    bool ext_arg;              /* wait with a timeout needs no SQE */
    bool buf_ring;             /* provided-buffer rings */
    bool recv_multishot;
    bool accept_multishot;
    bool send_zc;
    bool send_zc_usage;        /* the notification reports whether the kernel copied */
    bool trial_done;           /* recv_multishot / send_zc were proven by trial submits */
} ring_features_t;

typedef struct ring {
    struct io_uring uring;
    ring_features_t features;
    struct io_uring_buf_ring *bufs;   /* provided buffers for recv, group RING_RECV_GROUP */
    char *buf_base;
    unsigned buf_count;
    unsigned buf_size;
    unsigned buf_pending;             /* recycled but not yet published */
    bool initialised;
    /* registered send buffers (io_uring_register_buffers): zero-copy sends come from here */
    char *arena;
    size_t arena_block;
    unsigned arena_blocks;
    uint32_t *arena_free;             /* stack of free block indices */
    unsigned arena_free_count;
} ring_t;

enum { RING_RECV_GROUP = 0 };

/* Encodes/decodes user_data. */
static inline uint64_t ring_ud(unsigned op, uint32_t gen, uint32_t slot)
{
    return ((uint64_t)(op & 0xff) << 56) | ((uint64_t)(gen & 0xffffff) << 32) | slot;
}
static inline unsigned ring_ud_op(uint64_t ud) { return (unsigned)(ud >> 56); }
static inline uint32_t ring_ud_gen(uint64_t ud) { return (uint32_t)(ud >> 32) & 0xffffff; }
static inline uint32_t ring_ud_slot(uint64_t ud) { return (uint32_t)ud; }

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
void ring_exit(ring_t *r);

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
/* The bytes all workers' arenas pin together, for the master's RLIMIT_MEMLOCK check. */
static inline size_t ring_arena_bytes(unsigned blocks, size_t block_size)
{
    return (size_t)blocks * block_size;
}

/* SEND_ZC from registered block `index`: a first completion carries the result (with
 * IORING_CQE_F_MORE when a notification follows), the second (IORING_CQE_F_NOTIF) says
 * the kernel is done with the memory; with usage reporting its res has
 * RING_ZC_COPIED set when the kernel copied after all. */
void ring_send_zc_fixed(ring_t *r, int fd, int index, size_t offset, size_t len, uint64_t ud);
#define RING_ZC_COPIED (1U << 31)   /* IORING_NOTIF_USAGE_ZC_COPIED, see compat.h */
/* The same from ordinary memory, which the kernel pins for the send: the caller keeps it
 * unchanged until the notification. */
void ring_send_zc(ring_t *r, int fd, const void *data, size_t len, uint64_t ud);

/* Returns a free SQE, submitting first if the queue is full; never NULL. */
struct io_uring_sqe *ring_sqe(ring_t *r);

void ring_accept_multishot(ring_t *r, int listen_fd, uint64_t ud);
void ring_recv_multishot(ring_t *r, int fd, uint64_t ud);
/* Multishot readiness (POLLIN) on fd: a completion with IORING_CQE_F_MORE per wake-up;
 * the caller then reads the descriptor itself until it would block. */
void ring_poll_in_multishot(ring_t *r, int fd, uint64_t ud);
void ring_send(ring_t *r, int fd, const void *data, size_t len, uint64_t ud);
void ring_read(ring_t *r, int fd, void *data, size_t len, uint64_t ud);
/* Positional file I/O (IORING_OP_READ/WRITE at `offset`; the file position is neither
 * used nor moved). The memory must stay put until the completion; the result is the
 * byte count, which may be short, or -errno. */
void ring_read_at(ring_t *r, int fd, void *data, size_t len, uint64_t offset, uint64_t ud);
void ring_write_at(ring_t *r, int fd, const void *data, size_t len, uint64_t offset,
                   uint64_t ud);
void ring_cancel(ring_t *r, uint64_t target_ud, uint64_t ud);
void ring_close(ring_t *r, int fd, uint64_t ud);

/* Provided buffers: the data of a recv CQE lives in buffer `bid` until it is recycled. */
static inline unsigned ring_buffer_id(unsigned cqe_flags)
{
    return cqe_flags >> IORING_CQE_BUFFER_SHIFT;
}
static inline const char *ring_buffer(const ring_t *r, unsigned bid)
{
    return r->buf_base + (size_t)bid * r->buf_size;
}
/* Hands buffer `bid` back to the kernel; visible after ring_buffers_publish(). */
void ring_buffer_recycle(ring_t *r, unsigned bid);
void ring_buffers_publish(ring_t *r);

/* Submits pending SQEs and waits for at least one completion or until timeout_ms
 * (negative: no limit). Returns 0, -ETIME on timeout, -EINTR on a signal, or -errno. */
int ring_wait(ring_t *r, int timeout_ms);

/* Formats the feature set as one line ("single_issuer defer_taskrun ..."). */
void ring_features_describe(const ring_features_t *f, char *out, size_t outlen);

#endif
