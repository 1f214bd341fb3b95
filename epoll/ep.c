/* The readiness engine: ring operations simulated with epoll and ordinary system calls. */
#include "epoll/ep.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "common/probes.h"

enum kind {
    K_ACCEPT,
    K_RECV,
    K_POLL,
    K_SEND,
    K_SEND_FILE,
    K_READ,
    K_READ_AT,
    K_WRITE_AT,
    K_CONNECT,
    K_TIMEOUT,
    K_CLOSE
};

/* At most this many accepts or receives per operation and round: one busy socket must not
 * keep the others waiting (nor take every receive buffer at once). */
enum { ACCEPT_BATCH = 64, RECV_BATCH = 8, EVENT_BATCH = 256 };

/* One queued operation. It is always in the hash (by ud, for cancel) and in at most one
 * of: the run queue (`queued`), its descriptor's wait list (`waiting`), the timer list. */
typedef struct op {
    uint64_t ud;
    struct op *hnext; /* hash chain */
    struct op *next;  /* run queue, wait list or timer list */
    const void *data;
    size_t len;
    uint64_t off;       /* read_at/write_at/send_file offset; connect: the address length */
    long long deadline; /* timeouts: CLOCK_MONOTONIC ms */
    int fd;
    int file_fd; /* send_file: the file the bytes come from (fd is the socket) */
    uint8_t kind;
    bool zc;          /* send: report as send_zc (result with MORE, then a notification) */
    bool queued;      /* in the run queue */
    bool waiting;     /* in fds[fd].in or .out */
    bool dead;        /* cancelled while queued: dropped when the queue reaches it */
    bool fresh;       /* has not waited yet: the descriptor may need registering */
    bool connecting;  /* connect: in progress, waiting for writability */
    bool woken;       /* readiness arrived (revents) since it last waited */
    uint32_t revents; /* the epoll events that woke it */
} op_t;

typedef struct fdent {
    op_t *in, *out;        /* waiting for readability / writability */
    uint64_t owner;        /* the user_data of the last operation that waited here (see wait_on) */
    bool owned;            /* owner is set */
    uint64_t nb_ud;        /* the user_data of the read that found out `nonblock` (run_read) */
    bool registered;       /* in the epoll set (as far as we know: see wait_on) */
    bool nb_known;         /* nb_ud and nonblock are set */
    bool nonblock;         /* the file is O_NONBLOCK: a read cannot block the loop */
    unsigned sends_queued; /* sends and sendfiles in the run queue (see ep_send) */
} fdent_t;

struct ep {
    int epfd;
    char *bufs;
    unsigned buf_count, buf_size;
    uint16_t *free_bufs; /* stack of free receive buffer ids */
    unsigned free_count;
    ep_cqe_t *cq;
    unsigned cq_len, cq_cap;
    op_t **hash;
    unsigned hash_mask, live;
    op_t *q_head, *q_tail; /* run queue, FIFO: operations run in the order queued */
    op_t *timers;
    op_t *spare; /* free records */
    fdent_t *fds;
    unsigned nfds;
    uint64_t syscalls; /* every system call made for the worker's operations (SYSCALL) */
};

/* `call`, a system call, counted in ep->syscalls (docs/research.md: system calls per
 * request, counted where they are made; nothing in a build without instruments). */
#define SYSCALL(ep, call) (counted(ep), (call))
static inline void counted(ep_t *ep)
{
    UF_COUNT(ep->syscalls, 1);
}

/* ---- completions, records, the hash ------------------------------------------------- */

static void post(ep_t *ep, uint64_t ud, int32_t res, uint32_t flags)
{
    if (ep->cq_len == ep->cq_cap) {
        ep->cq_cap = ep->cq_cap ? ep->cq_cap * 2 : 256;
        ep->cq = uf_realloc(ep->cq, ep->cq_cap * sizeof(*ep->cq));
    }
    ep->cq[ep->cq_len++] = (ep_cqe_t){ud, res, flags};
}

static unsigned hash_ud(const ep_t *ep, uint64_t ud)
{
    return (unsigned)((ud * 0x9e3779b97f4a7c15ULL) >> 32) & ep->hash_mask;
}

static void hash_grow(ep_t *ep)
{
    unsigned n = (ep->hash_mask + 1) * 2;
    op_t **h = uf_calloc(n, sizeof(*h));
    op_t **old = ep->hash;
    unsigned old_n = ep->hash_mask + 1;
    ep->hash = h;
    ep->hash_mask = n - 1;
    for (unsigned i = 0; i < old_n; i++)
        for (op_t *o = old[i], *next; o; o = next) {
            next = o->hnext;
            unsigned b = hash_ud(ep, o->ud);
            o->hnext = h[b];
            h[b] = o;
        }
    uf_free(old);
}

static op_t *new_op(ep_t *ep, uint8_t kind, int fd, uint64_t ud)
{
    op_t *o = ep->spare;
    if (o)
        ep->spare = o->next;
    else
        o = uf_malloc(sizeof(*o));
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->fd = fd;
    o->ud = ud;
    o->fresh = true;
    if (++ep->live > ep->hash_mask + 1)
        hash_grow(ep);
    unsigned b = hash_ud(ep, ud);
    o->hnext = ep->hash[b];
    ep->hash[b] = o;
    return o;
}

static op_t *find_op(ep_t *ep, uint64_t ud)
{
    for (op_t *o = ep->hash[hash_ud(ep, ud)]; o; o = o->hnext)
        if (o->ud == ud && !o->dead)
            return o;
    return NULL;
}

/* Takes the record out of the hash; it must be in no list (or be marked dead there). */
static void unhash(ep_t *ep, op_t *o)
{
    op_t **p = &ep->hash[hash_ud(ep, o->ud)];
    while (*p != o)
        p = &(*p)->hnext;
    *p = o->hnext;
    ep->live--;
}

static void free_op(ep_t *ep, op_t *o)
{
    o->next = ep->spare;
    ep->spare = o;
}

/* The operation's last completion has been posted. */
static void finish(ep_t *ep, op_t *o)
{
    unhash(ep, o);
    free_op(ep, o);
}

static fdent_t *fdent(ep_t *ep, int fd);

static bool is_send(const op_t *o)
{
    return o->kind == K_SEND || o->kind == K_SEND_FILE;
}

static void enqueue(ep_t *ep, op_t *o)
{
    if (is_send(o))
        fdent(ep, o->fd)->sends_queued++;
    o->queued = true;
    o->next = NULL;
    if (ep->q_tail)
        ep->q_tail->next = o;
    else
        ep->q_head = o;
    ep->q_tail = o;
}

static fdent_t *fdent(ep_t *ep, int fd)
{
    if ((unsigned)fd >= ep->nfds) {
        unsigned n = ep->nfds ? ep->nfds : 1024;
        while (n <= (unsigned)fd)
            n *= 2;
        ep->fds = uf_realloc(ep->fds, n * sizeof(*ep->fds));
        memset(ep->fds + ep->nfds, 0, (n - ep->nfds) * sizeof(*ep->fds));
        ep->nfds = n;
    }
    return &ep->fds[fd];
}

/* Takes a waiting operation off its descriptor's list. */
static void unwait(ep_t *ep, op_t *o)
{
    fdent_t *e = fdent(ep, o->fd);
    for (op_t **p = &e->in; *p; p = &(*p)->next)
        if (*p == o) {
            *p = o->next;
            o->waiting = false;
            return;
        }
    for (op_t **p = &e->out; *p; p = &(*p)->next)
        if (*p == o) {
            *p = o->next;
            o->waiting = false;
            return;
        }
}

/* ---- waiting for readiness ----------------------------------------------------------- */

/* Descriptors are registered edge-triggered for both directions on the first operation
 * that would block, and stay registered until ep_close (or the kernel drops them when the
 * file closes). Edge-triggered is safe because an operation only waits after the call it
 * waits for returned EAGAIN (or a short read: then any later data raises a new edge), and
 * an ADD reports readiness that is already there. A listener is registered EPOLLEXCLUSIVE
 * (one waiting worker woken per connection, as io_uring's accept) and only for input.
 *
 * The registration is not trusted when a fresh operation is the first to wait on the
 * descriptor: its number may belong to a new file since the old one was closed without
 * ep_close. ADD is then tried again; EEXIST means it was right after all. Except when the
 * fresh operation has the user_data of the last one that waited here: that is its owner
 * arming it again (the pool's and the wake-up eventfds are read this way once per poke),
 * and an owner that closes a descriptor without ep_close gets a new user_data for the
 * next file with that number (a connection's carries its generation). Without this, every
 * re-armed eventfd read that waits cost an epoll_ctl that fails with EEXIST. */
static bool owned_by(const fdent_t *e, const op_t *o)
{
    return e->owned && e->owner == o->ud;
}

static int wait_on(ep_t *ep, op_t *o, bool out)
{
    fdent_t *e = fdent(ep, o->fd);
    if (!e->registered || (o->fresh && !e->in && !e->out && !owned_by(e, o))) {
        struct epoll_event ev = {.data.fd = o->fd};
        ev.events = o->kind == K_ACCEPT ? EPOLLIN | EPOLLEXCLUSIVE
                                        : EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        if (SYSCALL(ep, epoll_ctl(ep->epfd, EPOLL_CTL_ADD, o->fd, &ev)) < 0 && errno != EEXIST)
            return -errno;
        e->registered = true;
    }
    e->owner = o->ud;
    e->owned = true;
    o->fresh = false;
    o->waiting = true;
    op_t **list = out ? &e->out : &e->in;
    o->next = *list;
    *list = o;
    return 0;
}

/* Out of the epoll set, so that this process is no longer woken for it (a listener this
 * worker stopped accepting on must wake the others). */
static void unregister(ep_t *ep, int fd)
{
    fdent_t *e = fdent(ep, fd);
    if (e->registered)
        SYSCALL(ep, epoll_ctl(ep->epfd, EPOLL_CTL_DEL, fd, NULL));
    e->registered = false;
    e->owned = e->nb_known = false;
}

/* An operation that cannot wait ends with the error. */
static void end_with(ep_t *ep, op_t *o, int res)
{
    post(ep, o->ud, res, 0);
    if (o->kind == K_SEND && o->zc)
        post(ep, o->ud, (int32_t)EP_ZC_COPIED, EP_F_NOTIF);
    finish(ep, o);
}

static void wait_or_end(ep_t *ep, op_t *o, bool out)
{
    int ret = wait_on(ep, o, out);
    if (ret < 0)
        end_with(ep, o, ret);
}

/* A call on o's descriptor failed with errno: true to try it again (EINTR); otherwise the
 * operation waits for readiness (EAGAIN) or ends with the error. */
static bool retry_wait_or_end(ep_t *ep, op_t *o, bool out)
{
    if (errno == EINTR)
        return true;
    if (errno == EAGAIN)
        wait_or_end(ep, o, out);
    else
        end_with(ep, o, -errno);
    return false;
}

/* io_uring waits inside an operation on a blocking descriptor; we cannot, so a descriptor
 * whose calls take no MSG_DONTWAIT (accept4, sendfile) is made non-blocking. */
static void make_nonblocking(ep_t *ep, int fd)
{
    int fl = SYSCALL(ep, fcntl(fd, F_GETFL));
    if (fl >= 0 && !(fl & O_NONBLOCK))
        SYSCALL(ep, fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}

/* ---- running one operation ----------------------------------------------------------- */

static void run_accept(ep_t *ep, op_t *o)
{
    if (o->fresh)
        make_nonblocking(ep, o->fd); /* accept must never block the loop */
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = SYSCALL(ep, accept4(o->fd, NULL, NULL, SOCK_CLOEXEC));
        if (fd >= 0) {
            post(ep, o->ud, fd, EP_F_MORE);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN) {
            wait_or_end(ep, o, false);
            return;
        }
        int res = -errno;
        unregister(ep, o->fd);
        end_with(ep, o, res);
        return;
    }
    enqueue(ep, o);
}

static void run_recv(ep_t *ep, op_t *o)
{
    /* A short read means drained only when readiness woke us with nothing but input: a
     * FIN (RDHUP) that came with the data has raised its edge already, and a fresh recv
     * may follow edges nobody waited for. Then we read on until EAGAIN or EOF. */
    bool drained = o->woken && !(o->revents & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
    o->woken = false;
    for (int i = 0; i < RECV_BATCH; i++) {
        if (!ep->free_count) {
            /* io_uring ends a multishot recv with -ENOBUFS only when data has come */
            char c;
            ssize_t n = SYSCALL(ep, recv(o->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT));
            if (n < 0 && errno == EAGAIN)
                wait_or_end(ep, o, false);
            else
                end_with(ep, o, -ENOBUFS);
            return;
        }
        unsigned bid = ep->free_bufs[--ep->free_count];
        ssize_t n = SYSCALL(
            ep, recv(o->fd, ep->bufs + (size_t)bid * ep->buf_size, ep->buf_size, MSG_DONTWAIT));
        if (n > 0) {
            post(ep, o->ud, (int32_t)n, EP_F_MORE | EP_F_BUFFER | (bid << EP_F_BUFFER_SHIFT));
            if ((size_t)n < ep->buf_size && drained) {
                /* a short read after a plain EPOLLIN: anything later raises a new edge,
                 * so no recv just to see EAGAIN */
                wait_or_end(ep, o, false);
                return;
            }
            continue;
        }
        ep->free_bufs[ep->free_count++] = (uint16_t)bid;
        if (n == 0) {
            end_with(ep, o, 0);
            return;
        }
        if (retry_wait_or_end(ep, o, false))
            continue;
        return;
    }
    enqueue(ep, o);
}

static void run_poll(ep_t *ep, op_t *o)
{
    if (!o->woken) {
        /* newly armed: register first, then look, so no wake-up falls in between */
        int ret = wait_on(ep, o, false);
        if (ret < 0) {
            end_with(ep, o, ret);
            return;
        }
        struct pollfd p = {.fd = o->fd, .events = POLLIN};
        if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
            post(ep, o->ud, p.revents, EP_F_MORE);
        return;
    }
    o->woken = false;
    post(ep, o->ud, POLLIN, EP_F_MORE);
    wait_or_end(ep, o, false);
}

static void run_send(ep_t *ep, op_t *o)
{
    for (;;) {
        ssize_t n = SYSCALL(ep, send(o->fd, o->data, o->len, MSG_NOSIGNAL | MSG_DONTWAIT));
        if (n >= 0) {
            post(ep, o->ud, (int32_t)n, o->zc ? EP_F_MORE : 0);
            if (o->zc)
                post(ep, o->ud, (int32_t)EP_ZC_COPIED, EP_F_NOTIF);
            finish(ep, o);
            return;
        }
        if (!retry_wait_or_end(ep, o, true))
            return;
    }
}

/* sendfile(2) takes no MSG_DONTWAIT, and accepted sockets are blocking (accept4 does not
 * inherit the listener's O_NONBLOCK): a fresh operation makes its socket non-blocking
 * first, so that a full socket means EAGAIN and a wait, never a loop stuck in the call.
 * The mode stays; every other operation of this engine is non-blocking anyway. With an
 * offset of our own the file position stays where it was: a duplicated descriptor
 * shares it with the application's file object. */
static void run_send_file(ep_t *ep, op_t *o)
{
    if (o->fresh)
        make_nonblocking(ep, o->fd);
    for (;;) {
        off_t off = (off_t)o->off;
        ssize_t n = SYSCALL(ep, sendfile(o->fd, o->file_fd, &off, o->len));
        if (n >= 0) {
            end_with(ep, o, (int32_t)n);
            return;
        }
        if (!retry_wait_or_end(ep, o, true))
            return;
    }
}

/* Reads at the file position (eventfds, pipes, inotify): a non-blocking descriptor is read
 * at once (EAGAIN: it waits); a blocking one only once poll says it will not block. A file
 * epoll cannot watch is read as it is. The mode is read once per user_data on the
 * descriptor (the trust wait_on gives an owner's re-arm), not polled per read: the
 * worker's eventfds are read once per poke, and a poll before each read, with an
 * epoll_ctl when it found nothing, were two system calls per poke that a non-blocking
 * read does not need. */
static void run_read(ep_t *ep, op_t *o)
{
    fdent_t *e = fdent(ep, o->fd);
    if (!e->nb_known || e->nb_ud != o->ud) {
        int fl = SYSCALL(ep, fcntl(o->fd, F_GETFL));
        e->nonblock = fl >= 0 && (fl & O_NONBLOCK);
        e->nb_ud = o->ud;
        e->nb_known = true;
    }
    struct pollfd p = {.fd = o->fd, .events = POLLIN};
    if (!e->nonblock && SYSCALL(ep, poll(&p, 1, 0)) == 0) {
        int ret = wait_on(ep, o, false);
        if (ret == 0)
            return;
        if (ret != -EPERM) {
            end_with(ep, o, ret);
            return;
        }
    }
    ssize_t n;
    do
        n = SYSCALL(ep, read(o->fd, (void *)o->data, o->len));
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) {
        wait_or_end(ep, o, false);
        return;
    }
    end_with(ep, o, n < 0 ? -errno : (int32_t)n);
}

static void run_file(ep_t *ep, op_t *o)
{
    ssize_t n;
    do {
        counted(ep);
        if (o->kind == K_READ_AT)
            n = o->off == (uint64_t)-1 ? read(o->fd, (void *)o->data, o->len)
                                       : pread(o->fd, (void *)o->data, o->len, (off_t)o->off);
        else
            n = o->off == (uint64_t)-1 ? write(o->fd, o->data, o->len)
                                       : pwrite(o->fd, o->data, o->len, (off_t)o->off);
    } while (n < 0 && errno == EINTR);
    end_with(ep, o, n < 0 ? -errno : (int32_t)n);
}

static void run_connect(ep_t *ep, op_t *o)
{
    if (o->connecting) {
        struct pollfd p = {.fd = o->fd, .events = POLLOUT};
        if (SYSCALL(ep, poll(&p, 1, 0)) == 0) {
            wait_or_end(ep, o, true); /* an edge for something else */
            return;
        }
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (SYSCALL(ep, getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &soerr, &len)) < 0)
            soerr = errno;
        end_with(ep, o, -soerr);
        return;
    }
    int ret;
    do
        ret = SYSCALL(ep, connect(o->fd, o->data, (socklen_t)o->off));
    while (ret < 0 && errno == EINTR);
    if (ret == 0 || errno == EISCONN) {
        end_with(ep, o, 0);
    } else if (errno == EINPROGRESS || errno == EAGAIN || errno == EALREADY) {
        o->connecting = true;
        wait_or_end(ep, o, true);
    } else {
        end_with(ep, o, -errno);
    }
}

static void run_close(ep_t *ep, op_t *o)
{
    fdent_t *e = fdent(ep, o->fd);
    /* what still waits on the descriptor ends now: the number is about to be reused */
    for (op_t *w = e->in; w;) {
        op_t *next = w->next;
        end_with(ep, w, -ECANCELED);
        w = next;
    }
    for (op_t *w = e->out; w;) {
        op_t *next = w->next;
        end_with(ep, w, -ECANCELED);
        w = next;
    }
    e->in = e->out = NULL;
    unregister(ep, o->fd);
    end_with(ep, o, SYSCALL(ep, close(o->fd)) < 0 ? -errno : 0);
}

static void run(ep_t *ep, op_t *o)
{
    switch (o->kind) {
    case K_ACCEPT:
        run_accept(ep, o);
        break;
    case K_RECV:
        run_recv(ep, o);
        break;
    case K_POLL:
        run_poll(ep, o);
        break;
    case K_SEND:
        run_send(ep, o);
        break;
    case K_SEND_FILE:
        run_send_file(ep, o);
        break;
    case K_READ:
        run_read(ep, o);
        break;
    case K_READ_AT:
    case K_WRITE_AT:
        run_file(ep, o);
        break;
    case K_CONNECT:
        run_connect(ep, o);
        break;
    case K_CLOSE:
        run_close(ep, o);
        break;
    }
}

/* Runs the queue as it stands; what runs may queue itself again for the next round. */
static void run_queue(ep_t *ep)
{
    op_t *o = ep->q_head;
    ep->q_head = ep->q_tail = NULL;
    while (o) {
        op_t *next = o->next;
        o->queued = false;
        if (is_send(o))
            fdent(ep, o->fd)->sends_queued--;
        if (o->dead)
            free_op(ep, o);
        else
            run(ep, o);
        o = next;
    }
}

/* ---- the public calls ---------------------------------------------------------------- */

ep_t *ep_create(unsigned buf_count, unsigned buf_size, char **buf_base, char *err, size_t errlen)
{
    ep_t *ep = uf_calloc(1, sizeof(*ep));
    ep->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ep->epfd < 0) {
        snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
        uf_free(ep);
        return NULL;
    }
    size_t total = (size_t)buf_count * buf_size;
    void *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (base == MAP_FAILED) {
        snprintf(err, errlen, "mmap of %zu bytes of receive buffers: %s", total, strerror(errno));
        close(ep->epfd);
        uf_free(ep);
        return NULL;
    }
    ep->bufs = base;
    ep->buf_count = buf_count;
    ep->buf_size = buf_size;
    ep->free_bufs = uf_malloc(buf_count * sizeof(*ep->free_bufs));
    /* lowest id on top, as io_uring hands out a fresh buffer ring in order */
    for (unsigned i = 0; i < buf_count; i++)
        ep->free_bufs[i] = (uint16_t)(buf_count - 1 - i);
    ep->free_count = buf_count;
    ep->hash_mask = 255;
    ep->hash = uf_calloc(ep->hash_mask + 1, sizeof(*ep->hash));
    *buf_base = ep->bufs;
    return ep;
}

static void free_records(ep_t *ep)
{
    for (unsigned i = 0; i <= ep->hash_mask; i++)
        for (op_t *o = ep->hash[i], *next; o; o = next) {
            next = o->hnext;
            if (!o->queued) /* queued ones are freed from the queue below */
                uf_free(o);
        }
    for (op_t *o = ep->q_head, *next; o; o = next) {
        next = o->next;
        uf_free(o);
    }
    for (op_t *o = ep->spare, *next; o; o = next) {
        next = o->next;
        uf_free(o);
    }
}

void ep_destroy(ep_t *ep)
{
    if (!ep)
        return;
    free_records(ep);
    uf_free(ep->hash);
    uf_free(ep->cq);
    uf_free(ep->fds);
    uf_free(ep->free_bufs);
    munmap(ep->bufs, (size_t)ep->buf_count * ep->buf_size);
    close(ep->epfd);
    uf_free(ep);
}

void ep_forget_after_fork(ep_t *ep)
{
    close(ep->epfd);
    ep->epfd = -1;
}

static void queue_op(ep_t *ep, uint8_t kind, int fd, const void *data, size_t len, uint64_t off,
                     uint64_t ud)
{
    op_t *o = new_op(ep, kind, fd, ud);
    o->data = data;
    o->len = len;
    o->off = off;
    enqueue(ep, o);
}

void ep_accept_multishot(ep_t *ep, int listen_fd, uint64_t ud)
{
    queue_op(ep, K_ACCEPT, listen_fd, NULL, 0, 0, ud);
}

void ep_recv_multishot(ep_t *ep, int fd, uint64_t ud)
{
    queue_op(ep, K_RECV, fd, NULL, 0, 0, ud);
}

void ep_poll_in_multishot(ep_t *ep, int fd, uint64_t ud)
{
    queue_op(ep, K_POLL, fd, NULL, 0, 0, ud);
}

/* A send runs at once when nothing is ahead of it on its socket (no send queued, none
 * waiting for room): the bytes leave while the loop goes on with the round's other
 * connections, as bjoern's and FastWSGI's do. Queued until the round ends, a round's
 * responses all left together after its last application call, and the client and the
 * worker took turns instead of working at once (one worker, wrk -c50: about half the
 * requests per second). Its completion is still posted, for the round's dispatch. */
void ep_send(ep_t *ep, int fd, const void *data, size_t len, bool zc, uint64_t ud)
{
    op_t *o = new_op(ep, K_SEND, fd, ud);
    o->data = data;
    o->len = len;
    o->zc = zc;
    const fdent_t *e = fdent(ep, fd);
    if (!e->out && !e->sends_queued) {
        run_send(ep, o);
        return;
    }
    enqueue(ep, o);
}

/* The most one read, write or sendfile moves (the kernel's MAX_RW_COUNT); it also keeps
 * a result inside the completion's int32. */
#define MAX_SEND_FILE (0x7fffffffUL & ~4095UL)

void ep_send_file(ep_t *ep, int fd, int file_fd, uint64_t offset, size_t len, uint64_t ud)
{
    op_t *o = new_op(ep, K_SEND_FILE, fd, ud);
    o->file_fd = file_fd;
    o->off = offset;
    o->len = len < MAX_SEND_FILE ? len : MAX_SEND_FILE;
    enqueue(ep, o);
}

void ep_read(ep_t *ep, int fd, void *data, size_t len, uint64_t ud)
{
    queue_op(ep, K_READ, fd, data, len, 0, ud);
}

void ep_read_at(ep_t *ep, int fd, void *data, size_t len, uint64_t offset, uint64_t ud)
{
    queue_op(ep, K_READ_AT, fd, data, len, offset, ud);
}

void ep_write_at(ep_t *ep, int fd, const void *data, size_t len, uint64_t offset, uint64_t ud)
{
    queue_op(ep, K_WRITE_AT, fd, data, len, offset, ud);
}

void ep_connect(ep_t *ep, int fd, const struct sockaddr *addr, socklen_t addrlen, uint64_t ud)
{
    queue_op(ep, K_CONNECT, fd, addr, 0, addrlen, ud);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ep_timeout(ep_t *ep, unsigned ms, uint64_t ud)
{
    op_t *o = new_op(ep, K_TIMEOUT, -1, ud);
    o->deadline = now_ms() + ms;
    o->next = ep->timers;
    ep->timers = o;
}

void ep_cancel(ep_t *ep, uint64_t target_ud, uint64_t ud)
{
    op_t *o = find_op(ep, target_ud);
    if (!o) {
        post(ep, ud, -ENOENT, 0);
        return;
    }
    if (o->kind == K_TIMEOUT) {
        for (op_t **p = &ep->timers; *p; p = &(*p)->next)
            if (*p == o) {
                *p = o->next;
                break;
            }
    } else if (o->waiting) {
        unwait(ep, o);
        fdent_t *e = fdent(ep, o->fd);
        if (o->kind == K_ACCEPT && !e->in && !e->out)
            unregister(ep, o->fd); /* wake the other workers, not this one */
    }
    post(ep, o->ud, -ECANCELED, 0);
    if (o->kind == K_SEND && o->zc)
        post(ep, o->ud, (int32_t)EP_ZC_COPIED, EP_F_NOTIF);
    unhash(ep, o);
    if (o->queued)
        o->dead = true; /* the queue frees it */
    else
        free_op(ep, o);
    post(ep, ud, 0, 0);
}

void ep_close(ep_t *ep, int fd, uint64_t ud)
{
    queue_op(ep, K_CLOSE, fd, NULL, 0, 0, ud);
}

void ep_buffer_recycle(ep_t *ep, unsigned bid)
{
    ep->free_bufs[ep->free_count++] = (uint16_t)bid;
}

/* Posts -ETIME for every timer due; returns the ms until the next one, or -1. */
static int expire_timers(ep_t *ep)
{
    if (!ep->timers)
        return -1;
    long long now = now_ms(), next = -1;
    for (op_t **p = &ep->timers; *p;) {
        op_t *o = *p;
        if (o->deadline <= now) {
            *p = o->next;
            post(ep, o->ud, -ETIME, 0);
            finish(ep, o);
            continue;
        }
        if (next < 0 || o->deadline - now < next)
            next = o->deadline - now;
        p = &o->next;
    }
    return (int)next;
}

/* Moves every operation waiting on a list to the run queue. */
static void wake(ep_t *ep, op_t **list, uint32_t revents)
{
    for (op_t *o = *list, *next; o; o = next) {
        next = o->next;
        o->waiting = false;
        o->woken = true;
        o->revents = revents;
        enqueue(ep, o);
    }
    *list = NULL;
}

int ep_wait(ep_t *ep, int timeout_ms)
{
    run_queue(ep);
    int next_timer = expire_timers(ep);
    int wait = timeout_ms;
    if (next_timer >= 0 && (wait < 0 || next_timer < wait))
        wait = next_timer;
    if (ep->cq_len || ep->q_head)
        wait = 0;
    struct epoll_event evs[EVENT_BATCH];
    int n = SYSCALL(ep, epoll_wait(ep->epfd, evs, EVENT_BATCH, wait));
    if (n < 0 && errno != EINTR)
        return -errno;
    int interrupted = n < 0;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        uint32_t what = evs[i].events;
        if ((unsigned)fd >= ep->nfds)
            continue;
        fdent_t *e = &ep->fds[fd];
        if (what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            wake(ep, &e->in, what);
        if (what & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            wake(ep, &e->out, what);
    }
    run_queue(ep);
    expire_timers(ep);
    if (ep->cq_len)
        return 0;
    if (interrupted)
        return -EINTR;
    /* nothing completed: the caller's time ran out, or a wake-up that came to nothing */
    return n == 0 && !ep->q_head && timeout_ms >= 0 ? -ETIME : 0;
}

int ep_poll_fd(const ep_t *ep)
{
    return ep->epfd;
}

int ep_submit(ep_t *ep)
{
    run_queue(ep);
    return ep->cq_len > 0 || ep->q_head;
}

unsigned ep_cq_count(const ep_t *ep)
{
    return ep->cq_len;
}

const ep_cqe_t *ep_cq_at(const ep_t *ep, unsigned i)
{
    return &ep->cq[i];
}

void ep_cq_clear(ep_t *ep)
{
    ep->cq_len = 0;
}

uint64_t ep_syscalls(const ep_t *ep)
{
    return ep->syscalls;
}
