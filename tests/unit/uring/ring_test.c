/* Unit tests for uring/ring.c: user_data encoding, probing, and a real loopback round
 * trip through multishot accept, multishot recv into provided buffers, send, cancel and
 * close. Skips (77) where the kernel has no usable io_uring. */
#include "uring/ring.c"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "check.h"

static void test_user_data(void)
{
    uint64_t ud = ring_ud(7, 0xabcdef, 123456);
    CHECK_EQ_INT(ring_ud_op(ud), 7);
    CHECK_EQ_INT(ring_ud_gen(ud), 0xabcdef);
    CHECK_EQ_INT(ring_ud_slot(ud), 123456);
    /* the generation is 24 bits: higher bits must not leak into the op */
    ud = ring_ud(1, 0x1ffffff, 0xffffffff);
    CHECK_EQ_INT(ring_ud_op(ud), 1);
    CHECK_EQ_INT(ring_ud_gen(ud), 0xffffff);
    CHECK_EQ_INT(ring_ud_slot(ud), 0xffffffffu);
}

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

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    CHECK(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    CHECK(listen(lfd, 16) == 0);
    getsockname(lfd, (struct sockaddr *)&sin, &len);

    ring_accept_multishot(&r, lfd, ring_ud(1, 0, 0));
    io_uring_submit(&r.uring);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(client, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    int res;
    unsigned flags;
    CHECK_EQ_INT(next_cqe(&r, 1, &res, &flags), 0);
    int fd = res;
    CHECK(fd >= 0);
    CHECK(flags & IORING_CQE_F_MORE);   /* multishot: the accept stays armed */

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
    CHECK(read(client, back, sizeof(back)) == 0);   /* the peer sees EOF */

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

int main(void)
{
    test_user_data();
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
    return check_done();
}
