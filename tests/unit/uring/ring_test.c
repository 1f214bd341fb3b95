/* Unit tests for uring/ring.c: probing, a real loopback round trip through multishot
 * accept, multishot recv into provided buffers, send, cancel and close read raw, and the
 * same operations (with connect, timeouts, poll, reads and writes, zero-copy sends) read
 * through the decoded-completion iterator the worker loop uses. Skips (77) where the
 * kernel has no usable io_uring. */
#include "uring/ring.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "check.h"
#include "loopback.h"

/* Waits for the next completion with the given op, returning its res and flags. */
static int next_cqe(ring_t *r, unsigned op, int *res, unsigned *flags)
{
    for (int tries = 0; tries < 50; tries++) {
        struct io_uring_cqe *cqe;
        if (io_uring_peek_cqe(&r->uring, &cqe) != 0) {
            int ret = ring_wait(r, 100);
            if (ret < 0 && ret != -ETIME)
                return ret;
            continue;
        }
        unsigned got = ring_ud_op(cqe->user_data);
        *res = cqe->res;
        *flags = cqe->flags;
        io_uring_cqe_seen(&r->uring, cqe);
        if (got == op)
            return 0;
    }
    return -ETIME;
}

static void test_round_trip(void)
{
    ring_t r;
    char err[256];
    CHECK_EQ_INT(ring_init(&r, 64, 8, 4096, err, sizeof(err)), 0);
    CHECK(r.features.buf_ring);
    CHECK(!r.features.send_file); /* io_uring reads files and sends them */

    struct sockaddr_in sin;
    int lfd = loopback_listener(&sin);

    ring_accept_multishot(&r, lfd, ring_ud(1, 0, 0));
    io_uring_submit(&r.uring);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(client, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    int res;
    unsigned flags;
    CHECK_EQ_INT(next_cqe(&r, 1, &res, &flags), 0);
    int fd = res;
    CHECK(fd >= 0);
    CHECK(flags & IORING_CQE_F_MORE); /* multishot: the accept stays armed */

    /* a second connection arrives on the same armed accept */
    int client2 = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(client2, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    CHECK_EQ_INT(next_cqe(&r, 1, &res, &flags), 0);
    CHECK(res >= 0);
    close(res);
    close(client2);

    ring_recv_multishot(&r, fd, ring_ud(2, 5, 9));
    CHECK(write(client, "hello", 5) == 5);
    CHECK_EQ_INT(next_cqe(&r, 2, &res, &flags), 0);
    CHECK_EQ_INT(res, 5);
    CHECK(flags & IORING_CQE_F_BUFFER);
    unsigned bid = ring_buffer_id(flags);
    CHECK(bid < 8);
    CHECK(memcmp(ring_buffer(&r, bid), "hello", 5) == 0);
    ring_buffer_recycle(&r, bid);
    ring_buffers_publish(&r);

    /* more data than one buffer lands in several buffers, all of them usable */
    char big[3 * 4096];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    CHECK(write(client, big, sizeof(big)) == (ssize_t)sizeof(big));
    size_t got = 0;
    bool same = true;
    while (got < sizeof(big) && next_cqe(&r, 2, &res, &flags) == 0 && res > 0) {
        bid = ring_buffer_id(flags);
        same = same && memcmp(ring_buffer(&r, bid), big + got, (size_t)res) == 0;
        got += (size_t)res;
        ring_buffer_recycle(&r, bid);
        ring_buffers_publish(&r);
    }
    CHECK_EQ_INT(got, sizeof(big));
    CHECK(same);

    ring_send(&r, fd, "world", 5, ring_ud(3, 5, 9));
    CHECK_EQ_INT(next_cqe(&r, 3, &res, &flags), 0);
    CHECK_EQ_INT(res, 5);
    char back[8] = {0};
    CHECK(read(client, back, sizeof(back)) == 5);
    CHECK(memcmp(back, "world", 5) == 0);

    /* cancelling the multishot recv ends it with -ECANCELED and no F_MORE */
    ring_cancel(&r, ring_ud(2, 5, 9), ring_ud(4, 0, 0));
    bool recv_ended = false, cancel_done = false;
    for (int i = 0; i < 4 && !(recv_ended && cancel_done); i++) {
        struct io_uring_cqe *cqe;
        ring_wait(&r, 100);
        while (io_uring_peek_cqe(&r.uring, &cqe) == 0) {
            if (ring_ud_op(cqe->user_data) == 2 && cqe->res == -ECANCELED &&
                !(cqe->flags & IORING_CQE_F_MORE))
                recv_ended = true;
            if (ring_ud_op(cqe->user_data) == 4 && cqe->res == 0)
                cancel_done = true;
            io_uring_cqe_seen(&r.uring, cqe);
        }
    }
    CHECK(recv_ended);
    CHECK(cancel_done);

    ring_close(&r, fd, ring_ud(5, 0, 0));
    CHECK_EQ_INT(next_cqe(&r, 5, &res, &flags), 0);
    CHECK_EQ_INT(res, 0);
    CHECK(read(client, back, sizeof(back)) == 0); /* the peer sees EOF */

    close(client);
    close(lfd);
    ring_exit(&r);
}

static void test_wait_timeout(void)
{
    ring_t r;
    char err[256];
    CHECK_EQ_INT(ring_init(&r, 8, 8, 1024, err, sizeof(err)), 0);
    CHECK_EQ_INT(ring_wait(&r, 10), -ETIME);
    ring_exit(&r);
}

/* ---- through the iterator ------------------------------------------------------------ */

/* Events read by a pass of the iterator but not yet asked for. */
static ring_event_t backlog[64];
static unsigned backlog_len;

/* The next event with op `op`, waiting up to ~2 s; events of other ops are kept for
 * later calls. Returns 0, or -ETIME. */
static int wait_event(ring_t *r, unsigned op, ring_event_t *out)
{
    for (int round = 0; round < 20; round++) {
        for (unsigned i = 0; i < backlog_len; i++) {
            if (backlog[i].op != op)
                continue;
            *out = backlog[i];
            memmove(&backlog[i], &backlog[i + 1], (backlog_len - i - 1) * sizeof(*backlog));
            backlog_len--;
            return 0;
        }
        int ret = ring_wait(r, 100);
        if (ret < 0 && ret != -ETIME && ret != -EINTR)
            return ret;
        ring_event_t ev;
        ring_iter_t it = ring_events_begin(r);
        while (ring_events_next(r, &it, &ev))
            if (backlog_len < sizeof(backlog) / sizeof(backlog[0]))
                backlog[backlog_len++] = ev;
        ring_events_end(r, &it);
        CHECK_EQ_INT(io_uring_cq_ready(&r->uring), 0); /* end() released the pass */
    }
    return -ETIME;
}

enum {
    T_RECV = 1,
    T_SEND,
    T_CANCEL,
    T_CLOSE,
    T_TIMER,
    T_ACCEPT,
    T_CONNECT,
    T_POLL,
    T_READ,
    T_WRITE,
    T_ZC
};

/* multishot recv and send over a socketpair, the decoded fields of each, and the end of
 * the recv at EOF */
static void test_events_socketpair(ring_t *r)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    ring_event_t ev;
    ring_recv_multishot(r, sv[0], ring_ud(T_RECV, 0x123456, 42));
    CHECK(write(sv[1], "ping", 4) == 4);
    CHECK_EQ_INT(wait_event(r, T_RECV, &ev), 0);
    CHECK_EQ_INT(ev.res, 4);
    CHECK_EQ_INT(ev.gen, 0x123456);
    CHECK_EQ_INT(ev.slot, 42);
    CHECK(ev.more);
    CHECK(ev.buffer);
    CHECK(!ev.notif);
    CHECK_EQ_INT(ev.bid, ring_buffer_id(ev.flags));
    CHECK(memcmp(ring_buffer(r, ev.bid), "ping", 4) == 0);
    ring_buffer_recycle(r, ev.bid);
    ring_buffers_publish(r);

    /* three sends queued at once: each completes with its own user_data */
    ring_send(r, sv[0], "a", 1, ring_ud(T_SEND, 1, 1));
    ring_send(r, sv[0], "bb", 2, ring_ud(T_SEND, 1, 2));
    ring_send(r, sv[0], "ccc", 3, ring_ud(T_SEND, 1, 3));
    unsigned seen = 0;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(wait_event(r, T_SEND, &ev), 0);
        CHECK_EQ_INT(ev.res, (int)ev.slot);
        CHECK(!ev.more);
        seen |= 1u << ev.slot;
    }
    CHECK_EQ_INT(seen, 0xe);
    char back[8];
    CHECK(read(sv[1], back, sizeof(back)) == 6);

    /* the peer goes: the receive ends with res 0 and no more */
    close(sv[1]);
    CHECK_EQ_INT(wait_event(r, T_RECV, &ev), 0);
    CHECK_EQ_INT(ev.res, 0);
    CHECK(!ev.more);
    CHECK(!ev.buffer);

    ring_close(r, sv[0], ring_ud(T_CLOSE, 0, 0));
    CHECK_EQ_INT(wait_event(r, T_CLOSE, &ev), 0);
    CHECK_EQ_INT(ev.res, 0);
}

/* a timer that fires, one that is cancelled, and a cancel that finds nothing */
static void test_events_timeout_cancel(ring_t *r)
{
    ring_event_t ev;
    ring_timeout_t t1, t2;
    ring_timeout(r, &t1, 5, ring_ud(T_TIMER, 0, 1));
    CHECK_EQ_INT(wait_event(r, T_TIMER, &ev), 0);
    CHECK_EQ_INT(ev.slot, 1);
    CHECK_EQ_INT(ev.res, -ETIME);
    CHECK(!ev.more);

    ring_timeout(r, &t2, 60000, ring_ud(T_TIMER, 0, 2));
    ring_cancel(r, ring_ud(T_TIMER, 0, 2), ring_ud(T_CANCEL, 0, 2));
    CHECK_EQ_INT(wait_event(r, T_TIMER, &ev), 0);
    CHECK_EQ_INT(ev.slot, 2);
    CHECK_EQ_INT(ev.res, -ECANCELED);
    CHECK_EQ_INT(wait_event(r, T_CANCEL, &ev), 0);
    CHECK_EQ_INT(ev.res, 0);

    ring_cancel(r, ring_ud(T_TIMER, 0, 99), ring_ud(T_CANCEL, 0, 3));
    CHECK_EQ_INT(wait_event(r, T_CANCEL, &ev), 0);
    CHECK_EQ_INT(ev.res, -ENOENT);
}

/* connect through the ring to a listener whose multishot accept is armed; cancelling the
 * accept ends it */
static void test_events_connect_accept(ring_t *r)
{
    struct sockaddr_in sin;
    int lfd = loopback_listener(&sin);
    ring_event_t ev;
    ring_accept_multishot(r, lfd, ring_ud(T_ACCEPT, 0, 7));
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ring_connect(r, cfd, (struct sockaddr *)&sin, sizeof(sin), ring_ud(T_CONNECT, 0, 0));
    CHECK_EQ_INT(wait_event(r, T_CONNECT, &ev), 0);
    CHECK_EQ_INT(ev.res, 0);
    CHECK_EQ_INT(wait_event(r, T_ACCEPT, &ev), 0);
    CHECK(ev.res >= 0);
    CHECK(ev.more);
    CHECK_EQ_INT(ev.slot, 7);
    if (ev.res >= 0)
        close(ev.res);

    ring_cancel(r, ring_ud(T_ACCEPT, 0, 7), ring_ud(T_CANCEL, 0, 7));
    CHECK_EQ_INT(wait_event(r, T_ACCEPT, &ev), 0);
    CHECK_EQ_INT(ev.res, -ECANCELED);
    CHECK(!ev.more);
    CHECK_EQ_INT(wait_event(r, T_CANCEL, &ev), 0);
    CHECK_EQ_INT(ev.res, 0);

    /* a refused connect reports -errno as its result */
    int dead = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    close(lfd);
    ring_connect(r, dead, (struct sockaddr *)&sin, sizeof(sin), ring_ud(T_CONNECT, 0, 1));
    CHECK_EQ_INT(wait_event(r, T_CONNECT, &ev), 0);
    CHECK_EQ_INT(ev.res, -ECONNREFUSED);
    close(dead);
    close(cfd);
}

/* multishot poll on an eventfd, then a read of it through the ring */
static void test_events_poll_read(ring_t *r)
{
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    CHECK(efd >= 0);
    ring_event_t ev;
    ring_poll_in_multishot(r, efd, ring_ud(T_POLL, 0, 0));
    uint64_t one = 1, got = 0;
    CHECK(write(efd, &one, sizeof(one)) == sizeof(one));
    CHECK_EQ_INT(wait_event(r, T_POLL, &ev), 0);
    CHECK(ev.res & POLLIN);
    CHECK(ev.more);
    ring_read(r, efd, &got, sizeof(got), ring_ud(T_READ, 0, 0));
    CHECK_EQ_INT(wait_event(r, T_READ, &ev), 0);
    CHECK_EQ_INT(ev.res, sizeof(got));
    CHECK_EQ_INT(got, 1);
    ring_cancel(r, ring_ud(T_POLL, 0, 0), ring_ud(T_CANCEL, 0, 0));
    CHECK_EQ_INT(wait_event(r, T_POLL, &ev), 0);
    CHECK_EQ_INT(ev.res, -ECANCELED);
    CHECK(!ev.more);
    CHECK_EQ_INT(wait_event(r, T_CANCEL, &ev), 0);
    close(efd);
}

/* positional write and read of a temporary file */
static void test_events_file(ring_t *r)
{
    char path[] = "/tmp/uf-ring-test-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    ring_event_t ev;
    ring_write_at(r, fd, "hello world", 11, 0, ring_ud(T_WRITE, 0, 0));
    CHECK_EQ_INT(wait_event(r, T_WRITE, &ev), 0);
    CHECK_EQ_INT(ev.res, 11);
    char back[8] = {0};
    ring_read_at(r, fd, back, 5, 6, ring_ud(T_READ, 0, 1));
    CHECK_EQ_INT(wait_event(r, T_READ, &ev), 0);
    CHECK_EQ_INT(ev.res, 5);
    CHECK(memcmp(back, "world", 5) == 0);
    close(fd);
}

/* The two completions of a zero-copy send of `len` bytes queued with ring_ud(T_ZC, 3,
 * slot): the result with more, then the notification (loopback: copied); the peer on
 * cfd reads the bytes. */
static void expect_zc(ring_t *r, int cfd, uint32_t slot, const char *data, size_t len)
{
    ring_event_t ev;
    CHECK_EQ_INT(wait_event(r, T_ZC, &ev), 0);
    CHECK_EQ_INT(ev.res, len);
    CHECK(ev.more);
    CHECK(!ev.notif);
    CHECK_EQ_INT(wait_event(r, T_ZC, &ev), 0);
    CHECK(ev.notif);
    CHECK(!ev.more);
    CHECK_EQ_INT(ev.gen, 3);
    CHECK_EQ_INT(ev.slot, slot);
    CHECK(ev.res == 0 || ((unsigned)ev.res & RING_ZC_COPIED));
    char back[16] = {0};
    CHECK(read(cfd, back, sizeof(back)) == (ssize_t)len);
    CHECK(memcmp(back, data, len) == 0);
}

/* zero-copy sends from ordinary memory and from a registered block */
static void test_events_send_zc(ring_t *r)
{
    if (!r->features.send_zc)
        return;
    struct sockaddr_in sin;
    int lfd = loopback_listener(&sin);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    int sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    CHECK(sfd >= 0);
    static const char data[] = "zero-copy";
    ring_send_zc(r, sfd, data, 9, ring_ud(T_ZC, 3, 4));
    expect_zc(r, cfd, 4, data, 9);

    char err[256];
    CHECK(!ring_arena_ready(r));
    /* pinned memory: a small RLIMIT_MEMLOCK may refuse even two pages */
    if (ring_arena_init(r, 2, 4096, err, sizeof(err)) == 0) {
        CHECK(ring_arena_ready(r));
        CHECK_EQ_INT(ring_arena_block_size(r), 4096);
        int block = ring_arena_get(r);
        CHECK(block >= 0);
        memcpy(ring_arena_block(r, block), "..fixed", 7);
        ring_send_zc_fixed(r, sfd, block, 2, 5, ring_ud(T_ZC, 3, 5));
        expect_zc(r, cfd, 5, "fixed", 5);
        ring_arena_put(r, block);
    }
    close(sfd);
    close(cfd);
    close(lfd);
}

static void test_events(void)
{
    ring_t r;
    char err[256];
    CHECK_EQ_INT(ring_init(&r, 16, 8, 1024, err, sizeof(err)), 0);
    test_events_socketpair(&r);
    test_events_timeout_cancel(&r);
    test_events_connect_accept(&r);
    test_events_poll_read(&r);
    test_events_file(&r);
    test_events_send_zc(&r);
    CHECK_EQ_INT(backlog_len, 0); /* no completion nobody asked for */
    ring_exit(&r);
}

/* A ring on the epoll engine through the very calls the worker makes: the iterator, the
 * receive buffers and the forwarding of each operation. Runs where io_uring does not. */
static void test_epoll_ring(void)
{
    ring_t r;
    char err[256];
    CHECK_EQ_INT(ring_init_epoll(&r, 8, 1024, err, sizeof(err)), 0);
    CHECK_EQ_STR(ring_engine_name(&r), "epoll");
    CHECK(!r.features.send_zc && !r.features.recv_multishot);
    CHECK(r.features.send_file);
    CHECK_EQ_INT(ring_limit_iowq(&r, NULL, 2, 4), 0);
    CHECK(ring_arena_init(&r, 4, 4096, err, sizeof(err)) < 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    ring_recv_multishot(&r, sv[0], ring_ud(1, 2, 3));
    CHECK_EQ_INT(write(sv[1], "ping", 4), 4);
    ring_send(&r, sv[0], "pong", 4, ring_ud(2, 0, 3));
    int seen = 0;
    for (int round = 0; round < 20 && seen != 3; round++) {
        CHECK(ring_wait(&r, 50) == 0 || round > 0);
        ring_event_t ev;
        ring_iter_t it = ring_events_begin(&r);
        while (ring_events_next(&r, &it, &ev)) {
            if (ev.op == 1) {
                CHECK_EQ_INT(ev.res, 4);
                CHECK(ev.more && ev.buffer);
                CHECK_EQ_INT(ev.gen, 2);
                CHECK_EQ_INT(ev.slot, 3);
                CHECK(memcmp(ring_buffer(&r, ev.bid), "ping", 4) == 0);
                ring_buffer_recycle(&r, ev.bid);
                seen |= 1;
            } else if (ev.op == 2) {
                CHECK_EQ_INT(ev.res, 4);
                seen |= 2;
            }
        }
        ring_events_end(&r, &it);
        ring_buffers_publish(&r);
    }
    CHECK_EQ_INT(seen, 3);
    /* a file sent by the engine itself, from an offset */
    char path[] = "/tmp/ring_test_sf_XXXXXX";
    int ffd = mkstemp(path);
    unlink(path);
    CHECK_EQ_INT(write(ffd, "file-bytes", 10), 10);
    ring_send_file(&r, sv[0], ffd, 5, 5, ring_ud(6, 0, 3));
    bool sent = false;
    for (int round = 0; round < 20 && !sent; round++) {
        ring_wait(&r, 50);
        ring_event_t ev;
        ring_iter_t it = ring_events_begin(&r);
        while (ring_events_next(&r, &it, &ev))
            if (ev.op == 6) {
                CHECK_EQ_INT(ev.res, 5);
                sent = true;
            }
        ring_events_end(&r, &it);
    }
    CHECK(sent);
    char arrived[16];
    size_t have = 0;
    while (have < 9) {
        ssize_t n = read(sv[1], arrived + have, sizeof(arrived) - have);
        CHECK(n > 0);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    CHECK_EQ_MEM(arrived, have, "pongbytes");
    close(ffd);
    ring_timeout_t t;
    ring_timeout(&r, &t, 5000, ring_ud(3, 0, 0));
    ring_cancel(&r, ring_ud(3, 0, 0), ring_ud(4, 0, 0));
    ring_close(&r, sv[0], ring_ud(5, 0, 0));
    int got = 0;
    for (int round = 0; round < 20 && got != 0x3a; round++) {
        ring_wait(&r, 50);
        ring_event_t ev;
        ring_iter_t it = ring_events_begin(&r);
        while (ring_events_next(&r, &it, &ev)) {
            if (ev.op == 3 || ev.op == 1)
                CHECK_EQ_INT(ev.res, -ECANCELED); /* the timer; the recv, by the close */
            else
                CHECK_EQ_INT(ev.res, 0);
            got |= 1 << ev.op;
        }
        ring_events_end(&r, &it);
    }
    CHECK_EQ_INT(got, 0x3a);
    CHECK_EQ_INT(ring_wait(&r, 10), -ETIME);
    close(sv[1]);
    ring_exit(&r);
}

/* A ring another loop polls (RING_INIT_POLLED: an ASGI worker's, under asyncio) must wake
 * an epoll wait on ring_poll_fd when a receive completes while its owner sleeps there,
 * without entering the ring; so must the epoll engine's descriptor. */
static void *write_later(void *arg)
{
    usleep(50 * 1000);
    if (write(*(int *)arg, "x", 1) != 1)
        abort();
    return NULL;
}

static void check_polled(ring_t *r)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    ring_recv_multishot(r, sv[0], ring_ud(3, 0, 0));
    CHECK(ring_submit(r) >= 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, ring_poll_fd(r), &ev) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, write_later, &sv[1]) == 0);
    int n;
    do
        n = epoll_wait(ep, &ev, 1, 2000);
    while (n < 0 && errno == EINTR);
    pthread_join(t, NULL);
    CHECK_EQ_INT(n, 1);
    int ret = ring_wait(r, 0);
    CHECK(ret == 0 || ret == -ETIME);
    bool got = false;
    ring_event_t e;
    ring_iter_t it = ring_events_begin(r);
    while (ring_events_next(r, &it, &e)) {
        if (e.op == 3 && e.res == 1) {
            got = true;
            ring_buffer_recycle(r, e.bid);
        }
    }
    ring_events_end(r, &it);
    CHECK(got);
    close(ep);
    close(sv[0]);
    close(sv[1]);
}

static void test_polled(void)
{
    ring_t r;
    char err[256];
    CHECK_EQ_INT(ring_init_ex(&r, 16, 8, 1024, RING_INIT_POLLED, err, sizeof(err)), 0);
    CHECK(!r.features.defer_taskrun);
    check_polled(&r);
    ring_exit(&r);
    CHECK_EQ_INT(ring_init_epoll(&r, 8, 1024, err, sizeof(err)), 0);
    check_polled(&r);
    ring_exit(&r);
}

int main(void)
{
    test_epoll_ring();
    ring_features_t f;
    char err[512];
    if (ring_probe(&f, err, sizeof(err)) < 0) {
        printf("skipped: %s\n", err);
        return 77;
    }
    CHECK(f.recv_multishot);
    char desc[256];
    ring_features_describe(&f, desc, sizeof(desc));
    CHECK(strstr(desc, "multishot_recv") != NULL);
    test_round_trip();
    test_wait_timeout();
    test_events();
    test_polled();
    return check_done();
}
