/* One io_uring per worker: setup with a flag ladder, provided buffers, op helpers. */
#include "uring/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/probes.h"
#include "common/mem.h"
#include "epoll/ep.h"
#include "uring/compat.h"

/* The epoll engine builds the neutral flags word itself, with the same bits. */
_Static_assert(EP_F_BUFFER == RING_F_BUFFER && EP_F_MORE == RING_F_MORE &&
                   EP_F_NOTIF == RING_F_NOTIF && EP_F_BUFFER_SHIFT == RING_F_BUFFER_SHIFT &&
                   EP_ZC_COPIED == RING_ZC_COPIED,
               "EP_F_*");

/* The usage report of a zero-copy notification, in the neutral name (uring/event.h). */
_Static_assert(RING_ZC_COPIED == IORING_NOTIF_USAGE_ZC_COPIED, "RING_ZC_COPIED");
/* ring_timeout_t is handed to the kernel as a struct __kernel_timespec. */
_Static_assert(sizeof(ring_timeout_t) == sizeof(struct __kernel_timespec) &&
                   offsetof(ring_timeout_t, tv_nsec) == offsetof(struct __kernel_timespec, tv_nsec),
               "ring_timeout_t");

/* The setup flags we would like, best first. DEFER_TASKRUN runs completions only when we
 * wait, in our own thread, which is what a one-thread-per-ring loop wants; COOP_TASKRUN
 * is the next best (no IPI to interrupt us); SUBMIT_ALL keeps a batch going past one bad
 * SQE. Each rung is tried until the kernel accepts one. */
static const unsigned setup_ladder[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SUBMIT_ALL,
    0,
};

static int read_sysctl_int(const char *path, int fallback)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fallback;
    int v = fallback;
    if (fscanf(f, "%d", &v) != 1)
        v = fallback;
    fclose(f);
    return v;
}

static void fill_features(struct io_uring *ring, unsigned flags, ring_features_t *f)
{
    memset(f, 0, sizeof(*f));
    f->setup_flags = flags;
    f->single_issuer = flags & IORING_SETUP_SINGLE_ISSUER;
    f->defer_taskrun = flags & IORING_SETUP_DEFER_TASKRUN;
    f->coop_taskrun = flags & IORING_SETUP_COOP_TASKRUN;
    f->submit_all = flags & IORING_SETUP_SUBMIT_ALL;
    f->ext_arg = ring->features & IORING_FEAT_EXT_ARG;
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    if (probe) {
        f->send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
        /* Multishot accept (5.19) and multishot recv with buffer rings (6.0) cannot be
         * probed by opcode; both predate SEND_ZC (6.0) or arrive with it, so an opcode
         * table that has SEND_ZC implies them. ring_init verifies buffer rings for real. */
        f->accept_multishot = f->send_zc;
        f->recv_multishot = f->send_zc;
        io_uring_free_probe(probe);
    }
}

/* Waits for the next completion with user_data `ud` within ~1 s; 0 or -ETIME. */
static int trial_wait(struct io_uring *ring, uint64_t ud, int *res, unsigned *flags)
{
    for (int i = 0; i < 20; i++) {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
        if (io_uring_wait_cqe_timeout(ring, &cqe, &ts) < 0)
            continue;
        bool match = cqe->user_data == ud;
        *res = cqe->res;
        *flags = cqe->flags;
        io_uring_cqe_seen(ring, cqe);
        if (match)
            return 0;
    }
    return -ETIME;
}

/* What the opcode table cannot tell: does multishot recv with a buffer ring work, and
 * does SEND_ZC report usage? Both are tried for real on a loopback TCP pair. Runs in the
 * throw-away probe child only. */
static void trial_features(struct io_uring *ring, ring_features_t *f)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd = socket(AF_INET, SOCK_STREAM, 0), sfd = -1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        listen(lfd, 1) < 0 || getsockname(lfd, (struct sockaddr *)&sin, &len) < 0 ||
        connect(cfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        (sfd = accept(lfd, NULL, NULL)) < 0)
        goto out;
    f->trial_done = true;
    int ret, res;
    unsigned flags;
    static char bufs[4][256];
    struct io_uring_buf_ring *br = io_uring_setup_buf_ring(ring, 4, 7, 0, &ret);
    if (br) {
        for (int i = 0; i < 4; i++)
            io_uring_buf_ring_add(br, bufs[i], sizeof(bufs[i]), (unsigned short)i,
                                  io_uring_buf_ring_mask(4), i);
        io_uring_buf_ring_advance(br, 4);
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        io_uring_prep_recv_multishot(sqe, sfd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 7;
        sqe->user_data = 1;
        io_uring_submit(ring);
        if (write(cfd, "x", 1) == 1 && trial_wait(ring, 1, &res, &flags) == 0)
            f->recv_multishot =
                res == 1 && (flags & IORING_CQE_F_MORE) && (flags & IORING_CQE_F_BUFFER);
        else
            f->recv_multishot = false;
    } else {
        f->recv_multishot = false;
    }
    if (f->send_zc) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        io_uring_prep_send_zc(sqe, cfd, "zc", 2, MSG_NOSIGNAL, IORING_SEND_ZC_REPORT_USAGE);
        sqe->user_data = 2;
        io_uring_submit(ring);
        f->send_zc = trial_wait(ring, 2, &res, &flags) == 0 && res == 2;
        /* the notification follows; with usage reporting its res may carry the flag */
        if (f->send_zc && (flags & IORING_CQE_F_MORE) && trial_wait(ring, 2, &res, &flags) == 0)
            f->send_zc_usage =
                (flags & IORING_CQE_F_NOTIF) && ((unsigned)res & IORING_NOTIF_USAGE_ZC_COPIED);
    }
out:
    if (sfd >= 0)
        close(sfd);
    if (cfd >= 0)
        close(cfd);
    if (lfd >= 0)
        close(lfd);
}

/* RING_INIT_POLLED skips DEFER_TASKRUN: such a ring posts completions only when its
 * owner enters the kernel for them, so a poller of its fd (an asyncio loop's epoll) is
 * never woken by them (docs/architecture.md, ASGI). */
static int setup_ring(struct io_uring *ring, unsigned entries, unsigned opts, unsigned *flags_out)
{
    int ret = -EINVAL;
    for (size_t i = 0; i < sizeof(setup_ladder) / sizeof(setup_ladder[0]); i++) {
        if ((opts & RING_INIT_POLLED) && (setup_ladder[i] & IORING_SETUP_DEFER_TASKRUN))
            continue;
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        /* multishot ops produce many completions per submission: give the CQ room */
        p.flags = setup_ladder[i] | IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        ret = io_uring_queue_init_params(entries, ring, &p);
        if (ret == 0) {
            *flags_out = setup_ladder[i];
            return 0;
        }
        if (ret != -EINVAL)
            break;
    }
    return ret;
}

static void explain_failure(int err_no, char *err, size_t errlen)
{
    switch (err_no) {
    case EPERM:
    case EACCES:
        snprintf(err, errlen,
                 "io_uring is blocked for this process (%s): a seccomp profile forbids "
                 "io_uring_setup (Docker >= 25 and containerd 2 default profiles do); run the "
                 "container with a profile that allows io_uring_setup, io_uring_enter and "
                 "io_uring_register, or check kernel.io_uring_disabled and io_uring_group",
                 strerror(err_no));
        break;
    case ENOSYS:
        snprintf(err, errlen,
                 "io_uring is not available in this kernel (ENOSYS): uwsgi-fast needs Linux "
                 ">= 6.0 built with CONFIG_IO_URING=y");
        break;
    case ENOMEM:
        snprintf(err, errlen,
                 "io_uring ring could not be created (ENOMEM): RLIMIT_MEMLOCK is too small; "
                 "raise it (ulimit -l unlimited, or LimitMEMLOCK=infinity in systemd)");
        break;
    default:
        snprintf(err, errlen, "io_uring ring could not be created: %s", strerror(err_no));
    }
}

int ring_probe(ring_features_t *features, char *err, size_t errlen)
{
    int disabled = read_sysctl_int("/proc/sys/kernel/io_uring_disabled", 0);
    if (disabled == 2) {
        snprintf(err, errlen,
                 "io_uring is disabled on this host (sysctl kernel.io_uring_disabled=2); "
                 "enable it with: sysctl -w kernel.io_uring_disabled=0");
        return -1;
    }

    /* A seccomp profile may kill rather than refuse: try in a child. The child reports
     * its errno as exit code and its feature set through a pipe. */
    int fds[2];
    if (pipe(fds) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        struct io_uring ring;
        unsigned flags = 0;
        int ret = setup_ring(&ring, 8, 0, &flags);
        if (ret < 0)
            _exit(-ret & 0xff);
        ring_features_t f;
        fill_features(&ring, flags, &f);
        trial_features(&ring, &f);
        ssize_t w = write(fds[1], &f, sizeof(f));
        _exit(w == (ssize_t)sizeof(f) ? 0 : 255);
    }
    close(fds[1]);
    ring_features_t f;
    ssize_t got = read(fds[0], &f, sizeof(f));
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        snprintf(err, errlen,
                 "io_uring_setup killed the probe process with signal %d (%s): a seccomp "
                 "profile forbids io_uring; allow io_uring_setup, io_uring_enter and "
                 "io_uring_register in the container's seccomp profile",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
        return -1;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
    if (code != 0 || got != (ssize_t)sizeof(f)) {
        if (disabled == 1 && (code == EPERM || code == EACCES)) {
            snprintf(err, errlen,
                     "io_uring is restricted on this host (sysctl kernel.io_uring_disabled=1) "
                     "and this user is not in kernel.io_uring_group; enable it with: sysctl -w "
                     "kernel.io_uring_disabled=0");
            return -1;
        }
        explain_failure(code == 255 ? EIO : code, err, errlen);
        return -1;
    }
    if (!f.recv_multishot || !f.accept_multishot) {
        snprintf(err, errlen,
                 "this kernel's io_uring lacks multishot accept/recv with provided buffers; "
                 "uwsgi-fast needs Linux >= 6.0");
        return -1;
    }
    if (features)
        *features = f;
    return 0;
}

int ring_init(ring_t *r, unsigned entries, unsigned buf_count, unsigned buf_size, char *err,
              size_t errlen)
{
    return ring_init_ex(r, entries, buf_count, buf_size, 0, err, errlen);
}

int ring_init_ex(ring_t *r, unsigned entries, unsigned buf_count, unsigned buf_size, unsigned opts,
                 char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    unsigned flags = 0;
    int ret = setup_ring(&r->uring, entries, opts, &flags);
    if (ret < 0) {
        explain_failure(-ret, err, errlen);
        return ret;
    }
    fill_features(&r->uring, flags, &r->features);

    /* One contiguous, page-aligned region for all receive buffers. */
    size_t total = (size_t)buf_count * buf_size;
    void *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (base == MAP_FAILED) {
        ret = -errno;
        snprintf(err, errlen, "mmap of %zu bytes of receive buffers: %s", total, strerror(errno));
        goto fail_ring;
    }
    r->bufs = io_uring_setup_buf_ring(&r->uring, buf_count, RING_RECV_GROUP, 0, &ret);
    if (!r->bufs) {
        snprintf(err, errlen, "registering the provided-buffer ring: %s (needs Linux >= 5.19)",
                 strerror(-ret));
        munmap(base, total);
        goto fail_ring;
    }
    r->buf_base = base;
    r->buf_count = buf_count;
    r->buf_size = buf_size;
    unsigned mask = io_uring_buf_ring_mask(buf_count);
    for (unsigned i = 0; i < buf_count; i++)
        io_uring_buf_ring_add(r->bufs, r->buf_base + (size_t)i * buf_size, buf_size,
                              (unsigned short)i, mask, (int)i);
    io_uring_buf_ring_advance(r->bufs, (int)buf_count);
    r->features.buf_ring = true;
    r->initialised = true;
    return 0;

fail_ring:
    io_uring_queue_exit(&r->uring);
    return ret;
}

bool ring_epoll_next(ring_t *r, ring_iter_t *it, ring_event_t *ev)
{
    if (it->head == ep_cq_count(r->ep))
        return false;
    const ep_cqe_t *c = ep_cq_at(r->ep, it->head++);
    ring_event_decode(ev, c->ud, c->res, c->flags);
    return true;
}

void ring_epoll_end(ring_t *r)
{
    ep_cq_clear(r->ep);
}

int ring_init_epoll(ring_t *r, unsigned buf_count, unsigned buf_size, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->ep = ep_create(buf_count, buf_size, &r->buf_base, err, errlen);
    if (!r->ep)
        return -ENOMEM;
    r->buf_count = buf_count;
    r->buf_size = buf_size;
    r->features.send_file = true;
    r->initialised = true;
    return 0;
}

int ring_arena_init(ring_t *r, unsigned blocks, size_t block_size, char *err, size_t errlen)
{
    if (r->ep) {
        snprintf(err, errlen, "registered send buffers need io_uring (this worker runs on epoll)");
        return -EOPNOTSUPP;
    }
    size_t total = ring_arena_bytes(blocks, block_size);
    void *mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
        snprintf(err, errlen, "mmap of %zu bytes of send buffers: %s", total, strerror(errno));
        return -errno;
    }
    struct iovec *iov = calloc(blocks, sizeof(*iov));
    uint32_t *free_stack = calloc(blocks, sizeof(*free_stack));
    if (!iov || !free_stack) {
        free(iov);
        free(free_stack);
        munmap(mem, total);
        snprintf(err, errlen, "out of memory for the send buffer table");
        return -ENOMEM;
    }
    for (unsigned i = 0; i < blocks; i++) {
        iov[i].iov_base = (char *)mem + (size_t)i * block_size;
        iov[i].iov_len = block_size;
        free_stack[i] = blocks - 1 - i;
    }
    int ret = io_uring_register_buffers(&r->uring, iov, blocks);
    free(iov);
    if (ret < 0) {
        if (ret == -ENOMEM || ret == -EPERM)
            snprintf(err, errlen,
                     "registering %zu KiB of send buffers failed (%s): RLIMIT_MEMLOCK is too "
                     "small; raise it to at least %zu KiB per worker (ulimit -l, or "
                     "LimitMEMLOCK= in systemd)",
                     total >> 10, strerror(-ret), (total >> 10) + 1024);
        else
            snprintf(err, errlen, "registering send buffers failed: %s", strerror(-ret));
        free(free_stack);
        munmap(mem, total);
        return ret;
    }
    r->arena = mem;
    r->arena_block = block_size;
    r->arena_blocks = blocks;
    r->arena_free = free_stack;
    r->arena_free_count = blocks;
    return 0;
}

int ring_arena_get(ring_t *r)
{
    return r->arena_free_count ? (int)r->arena_free[--r->arena_free_count] : -1;
}

void ring_arena_put(ring_t *r, int index)
{
    r->arena_free[r->arena_free_count++] = (uint32_t)index;
}

/* A free SQE, submitting what is queued first when the queue is full; never NULL. */
static struct io_uring_sqe *get_sqe(ring_t *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
    while (!sqe) {
        io_uring_submit(&r->uring);
        sqe = io_uring_get_sqe(&r->uring);
    }
    return sqe;
}

void ring_send_zc_fixed(ring_t *r, int fd, int index, size_t offset, size_t len, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_send(r->ep, fd, ring_arena_block(r, index) + offset, len, true, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_send_zc_fixed(sqe, fd, ring_arena_block(r, index) + offset, len, MSG_NOSIGNAL,
                                IORING_SEND_ZC_REPORT_USAGE, (unsigned)index);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_send_zc(ring_t *r, int fd, const void *data, size_t len, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_send(r->ep, fd, data, len, true, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_send_zc(sqe, fd, data, len, MSG_NOSIGNAL, IORING_SEND_ZC_REPORT_USAGE);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_exit(ring_t *r)
{
    if (!r->initialised)
        return;
    if (r->ep) {
        ep_destroy(r->ep);
        r->ep = NULL;
        r->initialised = false;
        return;
    }
    if (r->arena) {
        io_uring_unregister_buffers(&r->uring);
        munmap(r->arena, ring_arena_bytes(r->arena_blocks, r->arena_block));
        free(r->arena_free);
        r->arena = NULL;
    }
    io_uring_free_buf_ring(&r->uring, r->bufs, r->buf_count, RING_RECV_GROUP);
    munmap(r->buf_base, (size_t)r->buf_count * r->buf_size);
    io_uring_queue_exit(&r->uring);
    r->initialised = false;
}

int ring_limit_iowq(ring_t *r, const cpu_set_t *cpus, unsigned bounded, unsigned unbounded)
{
    if (r->ep)
        return 0; /* no io-wq: file I/O runs in the loop */
    int ret = 0;
    if (cpus)
        ret = io_uring_register_iowq_aff(&r->uring, sizeof(*cpus), cpus);
    unsigned values[2] = {bounded, unbounded};
    int ret2 = io_uring_register_iowq_max_workers(&r->uring, values);
    return ret ? ret : ret2;
}

void ring_forget_after_fork(ring_t *r)
{
    if (!r->initialised)
        return;
    if (r->ep) {
        ep_forget_after_fork(r->ep);
        r->initialised = false;
        return;
    }
    /* io_uring_queue_exit only unmaps the rings and closes our descriptor */
    io_uring_queue_exit(&r->uring);
    r->initialised = false;
}

void ring_accept_multishot(ring_t *r, int listen_fd, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_accept_multishot(r->ep, listen_fd, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_recv_multishot(ring_t *r, int fd, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_recv_multishot(r->ep, fd, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RING_RECV_GROUP;
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_poll_in_multishot(ring_t *r, int fd, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_poll_in_multishot(r->ep, fd, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_poll_multishot(sqe, fd, POLLIN);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_send(ring_t *r, int fd, const void *data, size_t len, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_send(r->ep, fd, data, len, false, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_send(sqe, fd, data, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_send_file(ring_t *r, int fd, int file_fd, uint64_t offset, size_t len, uint64_t ud)
{
    UF_ASSERT(r->features.send_file);
    ep_send_file(r->ep, fd, file_fd, offset, len, ud);
}

void ring_read(ring_t *r, int fd, void *data, size_t len, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_read(r->ep, fd, data, len, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_read(sqe, fd, data, (unsigned)len, (uint64_t)-1);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_read_at(ring_t *r, int fd, void *data, size_t len, uint64_t offset, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_read_at(r->ep, fd, data, len, offset, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_read(sqe, fd, data, (unsigned)len, offset);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_write_at(ring_t *r, int fd, const void *data, size_t len, uint64_t offset, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_write_at(r->ep, fd, data, len, offset, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_write(sqe, fd, data, (unsigned)len, offset);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_connect(ring_t *r, int fd, const struct sockaddr *addr, socklen_t addrlen, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_connect(r->ep, fd, addr, addrlen, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_connect(sqe, fd, addr, addrlen);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_timeout(ring_t *r, ring_timeout_t *t, unsigned ms, uint64_t ud)
{
    t->tv_sec = ms / 1000;
    t->tv_nsec = (long long)(ms % 1000) * 1000000;
    if (RING_EPOLL(r)) {
        ep_timeout(r->ep, ms, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_timeout(sqe, (struct __kernel_timespec *)t, 0, 0);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_cancel(ring_t *r, uint64_t target_ud, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_cancel(r->ep, target_ud, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_cancel64(sqe, target_ud, 0);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_close(ring_t *r, int fd, uint64_t ud)
{
    if (RING_EPOLL(r)) {
        ep_close(r->ep, fd, ud);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, ud);
}

void ring_buffer_recycle(ring_t *r, unsigned bid)
{
    if (RING_EPOLL(r)) {
        ep_buffer_recycle(r->ep, bid);
        return;
    }
    io_uring_buf_ring_add(r->bufs, r->buf_base + (size_t)bid * r->buf_size, r->buf_size,
                          (unsigned short)bid, io_uring_buf_ring_mask(r->buf_count),
                          (int)r->buf_pending);
    r->buf_pending++;
}

void ring_buffers_publish(ring_t *r)
{
    if (r->buf_pending) {
        io_uring_buf_ring_advance(r->bufs, (int)r->buf_pending);
        r->buf_pending = 0;
    }
}

int ring_wait(ring_t *r, int timeout_ms)
{
    UF_COUNT(r->counters.enters, 1);
    if (RING_EPOLL(r)) {
        UF_PROBE2(ring__enter, 1, timeout_ms);
        int ret = ep_wait(r->ep, timeout_ms);
        UF_PROBE2(ring__exit, 1, ret);
        return ret;
    }
    UF_PROBE2(ring__enter, 0, timeout_ms);
    unsigned pending = io_uring_sq_ready(&r->uring); /* all go in (IORING_SETUP_SUBMIT_ALL) */
    struct io_uring_cqe *cqe;
    int ret;
    if (timeout_ms < 0) {
        ret = io_uring_submit_and_wait(&r->uring, 1);
    } else {
        struct __kernel_timespec ts = {
            .tv_sec = timeout_ms / 1000,
            .tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
        };
        ret = io_uring_submit_and_wait_timeout(&r->uring, &cqe, 1, &ts, NULL);
    }
    UF_PROBE2(ring__exit, 0, ret < 0 ? ret : (int)io_uring_cq_ready(&r->uring));
    if (ret >= 0)
        UF_COUNT(r->counters.submitted, pending);
    return ret < 0 ? ret : 0;
}

int ring_submit(ring_t *r)
{
    if (RING_EPOLL(r))
        return ep_submit(r->ep);
    /* liburing enters the kernel when there is something to submit, or completions to
     * flush (an overflow, deferred task work): count it when it does */
    if (UF_INSTRUMENTS &&
        (io_uring_sq_ready(&r->uring) ||
         (IO_URING_READ_ONCE(*r->uring.sq.kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN))))
        UF_COUNT(r->counters.enters, 1);
    int ret = io_uring_submit(&r->uring);
    if (ret < 0)
        return ret;
    UF_COUNT(r->counters.submitted, (unsigned)ret);
    return io_uring_cq_ready(&r->uring) > 0;
}

uint64_t ring_syscalls(const ring_t *r)
{
    return RING_EPOLL(r) ? ep_syscalls(r->ep) : r->counters.enters;
}

int ring_poll_fd(const ring_t *r)
{
    if (RING_EPOLL(r))
        return ep_poll_fd(r->ep);
    return r->uring.ring_fd;
}

void ring_features_describe(const ring_features_t *f, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%s%s%s%s%s%s%s%s%s", f->single_issuer ? "single_issuer " : "",
             f->defer_taskrun ? "defer_taskrun " : "", f->coop_taskrun ? "coop_taskrun " : "",
             f->submit_all ? "submit_all " : "", f->ext_arg ? "ext_arg " : "",
             f->accept_multishot ? "multishot_accept " : "",
             f->recv_multishot ? "multishot_recv " : "", f->send_zc ? "send_zc " : "",
             f->send_zc_usage ? "send_zc_report_usage " : "",
             f->trial_done ? "(recv and send_zc proven by trial)" : "(from the opcode table)");
}
