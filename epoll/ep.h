/* The readiness engine: the operations of the engine seam (uring/ring.h) carried out with
 * epoll and ordinary system calls, for hosts where io_uring is blocked (container seccomp
 * profiles, the sysctl that disables io_uring). uring/ring.c forwards every ring_* call
 * here when the worker's ring was made with ring_init_epoll(); nothing above uring/ calls
 * ep_*.
 *
 * It keeps io_uring's promises (see uring/ring.h) by simulation: each queued operation is
 * a record, tried in queue order at the next ep_wait(); one that would block waits for
 * readiness (edge-triggered, registered on its first EAGAIN) and is tried again; every
 * result becomes a completion (ep_cqe_t: user_data, res, flags) in a queue the ring's
 * iterator drains. The flags word uses io_uring's bit values (uring/ring.h asserts that
 * EP_F_* equal RING_F_*), so completions read the same whichever engine made them:
 *   - multishot accept and recv stay armed and complete with EP_F_MORE; recv takes one
 *     of this engine's receive buffers per completion (EP_F_BUFFER, the id in the high
 *     16 bits) and ends with -ENOBUFS when data waits but no buffer is free, as io_uring
 *     does; poll multishot reports POLLIN once per wake-up;
 *   - a send is tried at once (MSG_DONTWAIT) and a short send is reported short;
 *   - send_zc is an ordinary send whose result has EP_F_MORE and whose notification
 *     follows at once with EP_ZC_COPIED: nothing is zero-copy here;
 *   - send_file is one sendfile(2) from a file to a socket, tried at once and reported
 *     like a send (short when the socket filled up); io_uring has no such operation;
 *   - file I/O (read_at, write_at) is a synchronous pread/pwrite, completing at once:
 *     it blocks the loop for as long as the disk takes;
 *   - cancel finds the target by user_data: the target completes with -ECANCELED and the
 *     cancel with 0, or the cancel alone with -ENOENT;
 *   - close removes the descriptor from the epoll set first and ends what still waits on
 *     it with -ECANCELED.
 *
 * Invariants: single-threaded; one ep_t per worker, never shared across fork; every
 * function that wraps a system call returns >= 0 or -errno. Knows nothing of io_uring,
 * HTTP or Python.
 */
#ifndef UF_EPOLL_EP_H
#define UF_EPOLL_EP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The completion flags word, bit for bit io_uring's CQE flags (uring/ring.h checks). */
#define EP_F_BUFFER       (1U << 0)
#define EP_F_MORE         (1U << 1)
#define EP_F_NOTIF        (1U << 3)
#define EP_F_BUFFER_SHIFT 16
#define EP_ZC_COPIED      (1U << 31)

typedef struct ep_cqe {
    uint64_t ud;
    int32_t res;
    uint32_t flags;
} ep_cqe_t;

typedef struct ep ep_t;

/* Creates the engine with buf_count receive buffers of buf_size bytes in one mapping
 * (*buf_base). Returns the engine, or NULL with err saying which step failed. */
ep_t *ep_create(unsigned buf_count, unsigned buf_size, char **buf_base, char *err, size_t errlen);
/* Frees the engine, its buffers and the epoll descriptor; operations still queued are
 * dropped without completions. */
void ep_destroy(ep_t *ep);
/* In a child forked by the application: closes the epoll descriptor and frees nothing
 * the parent's copy needs (the child has its own copy of the memory). */
void ep_forget_after_fork(ep_t *ep);

/* ---- operations: each queues a record; see the header comment for what completes --- */
void ep_accept_multishot(ep_t *ep, int listen_fd, uint64_t ud);
void ep_recv_multishot(ep_t *ep, int fd, uint64_t ud);
void ep_poll_in_multishot(ep_t *ep, int fd, uint64_t ud);
void ep_send(ep_t *ep, int fd, const void *data, size_t len, bool zc, uint64_t ud);
/* Moves up to len bytes of file_fd, from offset (its file position is neither used nor
 * moved), to the socket fd with one sendfile(2). res: the bytes sent, short when the
 * socket's buffer filled up; 0 when offset is at or past the end of the file (it
 * shrank); or -errno. A full socket waits for writability first. len is capped at what
 * one call may move (about 2 GiB). sendfile has neither MSG_DONTWAIT nor MSG_NOSIGNAL:
 * the socket is left in non-blocking mode, and the process must ignore SIGPIPE (workers
 * do), or a vanished peer kills it instead of failing with -EPIPE. */
void ep_send_file(ep_t *ep, int fd, int file_fd, uint64_t offset, size_t len, uint64_t ud);
void ep_read(ep_t *ep, int fd, void *data, size_t len, uint64_t ud);
void ep_read_at(ep_t *ep, int fd, void *data, size_t len, uint64_t offset, uint64_t ud);
void ep_write_at(ep_t *ep, int fd, const void *data, size_t len, uint64_t offset, uint64_t ud);
void ep_connect(ep_t *ep, int fd, const struct sockaddr *addr, socklen_t addrlen, uint64_t ud);
void ep_timeout(ep_t *ep, unsigned ms, uint64_t ud);
/* Completes at once (both completions are queued before it returns). */
void ep_cancel(ep_t *ep, uint64_t target_ud, uint64_t ud);
void ep_close(ep_t *ep, int fd, uint64_t ud);

/* Receive buffer `bid` is free again (at once: there is no kernel ring to publish to). */
void ep_buffer_recycle(ep_t *ep, unsigned bid);

/* Runs what is queued, waits for readiness or timeout_ms (negative: no limit), runs what
 * became ready and expires timers. Returns 0 when completions are queued, -ETIME when
 * the time ran out with none, -EINTR on a signal, or -errno. */
int ep_wait(ep_t *ep, int timeout_ms);

/* For a loop that waits elsewhere (uring/ring.h's ring_poll_fd and ring_submit): the
 * epoll descriptor, readable when a watched descriptor is ready; and the queued
 * operations run without waiting, returning 1 when completions are queued (the caller
 * drains them with ep_wait(ep, 0) without waiting for the descriptor), else 0. */
int ep_poll_fd(const ep_t *ep);
int ep_submit(ep_t *ep);

/* The completion queue: completions i in [0, ep_cq_count()) are read with ep_cq_at();
 * those queued while the caller reads (its dispatch queues a cancel) extend the count.
 * ep_cq_clear() empties it once all are read. */
unsigned ep_cq_count(const ep_t *ep);
const ep_cqe_t *ep_cq_at(const ep_t *ep, unsigned i);
void ep_cq_clear(ep_t *ep);

/* The system calls the engine has made since it was created (epoll_wait, epoll_ctl, and
 * each accept4, recv, send, sendfile, read, write, fcntl, poll, close for an operation);
 * 0 in a build without instruments (common/probes.h). */
uint64_t ep_syscalls(const ep_t *ep);

#endif
