/* Unit tests for epoll/ep.c: every operation over real loopback sockets, eventfds and
 * files, with the completions io_uring would give: multishot accept and recv (buffer ids,
 * EOF), receive buffer exhaustion (-ENOBUFS ends the recv only once data waits), short
 * and blocked sends, send_zc's result and notification, send_file (short, blocked, the
 * file's end, a vanished peer, cancel), poll, reads, file I/O, connect, timeouts, cancel
 * (-ECANCELED and the cancel's own 0 or -ENOENT) and close; and the system calls a
 * re-armed read costs (the engine's epoll_ctl and poll are counted: their headers come
 * first, then the names are bent to the counters below before ep.c is compiled in). */
#include <poll.h>
#include <sys/epoll.h>

static int epoll_ctl_calls, poll_calls;

static int counted_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    epoll_ctl_calls++;
    return epoll_ctl(epfd, op, fd, ev);
}

static int counted_poll(struct pollfd *fds, nfds_t n, int timeout)
{
    poll_calls++;
    return poll(fds, n, timeout);
}

#define epoll_ctl counted_epoll_ctl
#define poll      counted_poll
#include "epoll/ep.c"
#undef epoll_ctl
#undef poll

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>

#include "check.h"
#include "loopback.h"

/* Completions gathered from the engine, taken out by user_data in arrival order. */
static ep_cqe_t got[4096];
static unsigned got_len;

static void gather(ep_t *ep)
{
    for (unsigned i = 0; i < ep_cq_count(ep) && got_len < UF_ARRAY_LEN(got); i++)
        got[got_len++] = *ep_cq_at(ep, i);
    ep_cq_clear(ep);
}

/* Takes the first completion with `ud` already gathered; false if there is none. */
static bool taken(uint64_t ud, int *res, unsigned *flags)
{
    for (unsigned i = 0; i < got_len; i++)
        if (got[i].ud == ud) {
            *res = got[i].res;
            *flags = got[i].flags;
            memmove(&got[i], &got[i + 1], (got_len - i - 1) * sizeof(got[0]));
            got_len--;
            return true;
        }
    return false;
}

/* The first completion with `ud`, waiting up to ~2 s; false if none came. */
static bool take(ep_t *ep, uint64_t ud, int *res, unsigned *flags)
{
    for (int round = 0; round < 40; round++) {
        if (taken(ud, res, flags))
            return true;
        int ret = ep_wait(ep, 50);
        CHECK(ret == 0 || ret == -ETIME);
        gather(ep);
    }
    return false;
}

/* Waits ms and checks that nothing completed. */
static void idle(ep_t *ep, int ms)
{
    unsigned before = got_len;
    int ret = ep_wait(ep, ms);
    CHECK(ret == 0 || ret == -ETIME);
    gather(ep);
    CHECK_EQ_INT(got_len, before);
}

/* A connected pair through the engine's multishot accept: *cfd ours, the return the
 * server side. */
static int accepted_pair(ep_t *ep, int lfd, const struct sockaddr_in *sin, int *cfd)
{
    int res;
    unsigned flags;
    *cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(*cfd, (const struct sockaddr *)sin, sizeof(*sin)) == 0);
    CHECK(take(ep, 1, &res, &flags));
    CHECK(res >= 0);
    CHECK(flags & EP_F_MORE);
    return res;
}

static void test_accept_recv_send(ep_t *ep, int lfd, const struct sockaddr_in *sin)
{
    int res, cfd;
    unsigned flags;
    int sfd = accepted_pair(ep, lfd, sin, &cfd);
    /* the listener went non-blocking: accept must never block the loop */
    CHECK(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    ep_recv_multishot(ep, sfd, 2);
    CHECK_EQ_INT(write(cfd, "hello", 5), 5);
    CHECK(take(ep, 2, &res, &flags));
    CHECK_EQ_INT(res, 5);
    CHECK((flags & EP_F_MORE) && (flags & EP_F_BUFFER));
    unsigned bid = flags >> EP_F_BUFFER_SHIFT;
    CHECK(memcmp(ep->bufs + (size_t)bid * ep->buf_size, "hello", 5) == 0);
    ep_buffer_recycle(ep, bid);
    /* a second message: still the same multishot */
    CHECK_EQ_INT(write(cfd, "again", 5), 5);
    CHECK(take(ep, 2, &res, &flags));
    CHECK_EQ_INT(res, 5);
    ep_buffer_recycle(ep, flags >> EP_F_BUFFER_SHIFT);

    ep_send(ep, sfd, "world", 5, false, 3);
    CHECK(take(ep, 3, &res, &flags));
    CHECK_EQ_INT(res, 5);
    CHECK_EQ_INT(flags, 0);
    char buf[16];
    CHECK_EQ_INT(read(cfd, buf, sizeof(buf)), 5);

    /* send_zc: the result says a notification follows, which says the kernel copied */
    ep_send(ep, sfd, "zc", 2, true, 4);
    CHECK(take(ep, 4, &res, &flags));
    CHECK_EQ_INT(res, 2);
    CHECK(flags & EP_F_MORE);
    CHECK(take(ep, 4, &res, &flags));
    CHECK(flags & EP_F_NOTIF);
    CHECK((unsigned)res & EP_ZC_COPIED);
    CHECK_EQ_INT(read(cfd, buf, sizeof(buf)), 2);

    /* EOF ends the recv: res 0 without MORE */
    close(cfd);
    CHECK(take(ep, 2, &res, &flags));
    CHECK_EQ_INT(res, 0);
    CHECK(!(flags & EP_F_MORE));
    ep_close(ep, sfd, 5);
    CHECK(take(ep, 5, &res, &flags));
    CHECK_EQ_INT(res, 0);
}

/* Two buffers of 4 bytes and 16 bytes waiting: two completions, then -ENOBUFS ends the
 * recv; once the buffers are back, a new recv takes the rest. */
static void test_buffer_exhaustion(void)
{
    char err[128];
    char *base;
    ep_t *ep = ep_create(2, 4, &base, err, sizeof(err));
    CHECK(ep != NULL);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int res;
    unsigned flags;
    /* no data: no buffer is needed and the recv waits */
    ep->free_count = 0;
    ep_recv_multishot(ep, sv[0], 7);
    idle(ep, 10);
    ep->free_count = 2;
    CHECK_EQ_INT(write(sv[1], "0123456789abcdef", 16), 16);
    unsigned bids[2];
    for (int i = 0; i < 2; i++) {
        CHECK(take(ep, 7, &res, &flags));
        CHECK_EQ_INT(res, 4);
        CHECK(flags & EP_F_MORE);
        bids[i] = flags >> EP_F_BUFFER_SHIFT;
    }
    CHECK(bids[0] != bids[1]);
    CHECK(memcmp(base + bids[0] * 4, "0123", 4) == 0);
    CHECK(take(ep, 7, &res, &flags));
    CHECK_EQ_INT(res, -ENOBUFS);
    CHECK(!(flags & EP_F_MORE));
    ep_buffer_recycle(ep, bids[0]);
    ep_buffer_recycle(ep, bids[1]);
    ep_recv_multishot(ep, sv[0], 8);
    CHECK(take(ep, 8, &res, &flags));
    CHECK_EQ_INT(res, 4);
    CHECK(memcmp(base + (flags >> EP_F_BUFFER_SHIFT) * 4, "89ab", 4) == 0);
    ep_close(ep, sv[0], 9);
    CHECK(take(ep, 9, &res, &flags));
    CHECK_EQ_INT(res, 0);
    /* the recv still waiting on the closed descriptor ended with it */
    bool ended = false;
    while (take(ep, 8, &res, &flags))
        if (!(flags & EP_F_MORE)) {
            ended = true;
            CHECK_EQ_INT(res, -ECANCELED);
            break;
        }
    CHECK(ended);
    close(sv[1]);
    ep_destroy(ep);
}

/* A send larger than the socket takes: a short result, as io_uring reports it; when the
 * socket is full the next send waits for room and completes once the peer reads. */
static void test_short_and_blocked_send(ep_t *ep)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    size_t big = 1 << 20;
    char *data = calloc(1, big);
    int res;
    unsigned flags;
    ep_send(ep, sv[0], data, big, false, 20);
    CHECK(take(ep, 20, &res, &flags));
    CHECK(res > 0 && (size_t)res < big);
    ep_send(ep, sv[0], data, big, false, 21);
    idle(ep, 20); /* full: it waits */
    char sink[65536];
    CHECK(read(sv[1], sink, sizeof(sink)) > 0);
    CHECK(take(ep, 21, &res, &flags));
    CHECK(res > 0);
    /* a send to a closed peer fails with -EPIPE, not SIGPIPE */
    close(sv[1]);
    ep_send(ep, sv[0], "x", 1, false, 22);
    CHECK(take(ep, 22, &res, &flags));
    CHECK(res == -EPIPE || res == -ECONNRESET);
    close(sv[0]);
    free(data);
}

/* Reads what has arrived on fd (non-blocking) into buf at *len, up to cap bytes. */
static void drain_into(int fd, unsigned char *buf, size_t *len, size_t cap)
{
    ssize_t n;
    while (*len < cap && (n = recv(fd, buf + *len, cap - *len, MSG_DONTWAIT)) > 0)
        *len += (size_t)n;
}

/* sendfile from a file to a socket whose buffer is small, on a socket left blocking as
 * accept4 leaves it: the first send is short (the socket was made non-blocking, so the
 * call did not wait for the reader), the next one waits for room, and together they
 * deliver the file's bytes from the offset asked for, without moving the file position.
 * At or past the end of the file the result is 0; a source sendfile refuses is an error
 * result, not a wait; a peer that has gone gives -EPIPE (SIGPIPE ignored, as in a
 * worker); a send waiting for room is cancelled like any operation. */
static void test_send_file(ep_t *ep)
{
    enum { FILE_SIZE = 256 * 1024, START = 1000 };
    char path[] = "/tmp/ep_test_sf_XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    unsigned char *data = malloc(FILE_SIZE), *arrived = malloc(FILE_SIZE);
    for (int i = 0; i < FILE_SIZE; i++)
        data[i] = (unsigned char)(i * 7 + i / 251);
    CHECK_EQ_INT(write(fd, data, FILE_SIZE), FILE_SIZE);
    CHECK_EQ_INT(lseek(fd, 5, SEEK_SET), 5);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    int res;
    unsigned flags;
    size_t off = START, received = 0;
    ep_send_file(ep, sv[0], fd, off, FILE_SIZE - off, 80);
    CHECK(take(ep, 80, &res, &flags));
    CHECK(res > 0 && res < FILE_SIZE - START);
    CHECK_EQ_INT(flags, 0);
    CHECK(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    off += (size_t)res;
    /* the socket is full: the next one waits until the reader makes room */
    ep_send_file(ep, sv[0], fd, off, FILE_SIZE - off, 81);
    idle(ep, 20);
    drain_into(sv[1], arrived, &received, FILE_SIZE - START);
    CHECK(take(ep, 81, &res, &flags));
    CHECK(res > 0);
    off += (size_t)res;
    for (int rounds = 0; off < FILE_SIZE && rounds < 10000; rounds++) {
        ep_send_file(ep, sv[0], fd, off, FILE_SIZE - off, 82);
        drain_into(sv[1], arrived, &received, FILE_SIZE - START);
        CHECK(take(ep, 82, &res, &flags));
        CHECK(res > 0);
        if (res <= 0)
            break;
        off += (size_t)res;
    }
    CHECK_EQ_INT(off, FILE_SIZE);
    for (int tries = 0; tries < 100 && received < FILE_SIZE - START; tries++) {
        drain_into(sv[1], arrived, &received, FILE_SIZE - START);
        if (received < FILE_SIZE - START)
            usleep(1000);
    }
    CHECK_EQ_INT(received, FILE_SIZE - START);
    CHECK(memcmp(arrived, data + START, FILE_SIZE - START) == 0);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_CUR), 5); /* the file position did not move */

    /* the file's end: at it and past it (a file that shrank under the transfer) */
    ep_send_file(ep, sv[0], fd, FILE_SIZE, 100, 83);
    CHECK(take(ep, 83, &res, &flags));
    CHECK_EQ_INT(res, 0);
    CHECK(ftruncate(fd, 10) == 0);
    ep_send_file(ep, sv[0], fd, 100, 100, 84);
    CHECK(take(ep, 84, &res, &flags));
    CHECK_EQ_INT(res, 0);

    /* not a file sendfile can read from at an offset: the error, not a wait */
    ep_send_file(ep, sv[0], sv[1], 0, 10, 85);
    CHECK(take(ep, 85, &res, &flags));
    CHECK(res == -ESPIPE || res == -EINVAL);

    /* waiting for room (sent until one does not complete at once), then cancelled */
    CHECK(ftruncate(fd, FILE_SIZE) == 0);
    bool waits = false;
    for (int i = 0; i < 1000 && !waits; i++) {
        ep_send_file(ep, sv[0], fd, 0, FILE_SIZE, 86);
        int ret = ep_wait(ep, 10);
        CHECK(ret == 0 || ret == -ETIME);
        gather(ep);
        waits = !taken(86, &res, &flags);
        if (!waits)
            CHECK(res > 0);
    }
    CHECK(waits);
    ep_cancel(ep, 86, 87);
    CHECK(take(ep, 86, &res, &flags));
    CHECK_EQ_INT(res, -ECANCELED);
    CHECK(take(ep, 87, &res, &flags));
    CHECK_EQ_INT(res, 0);

    /* the peer goes away */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGPIPE, &ign, &old);
    close(sv[1]);
    ep_send_file(ep, sv[0], fd, 0, 100, 88);
    CHECK(take(ep, 88, &res, &flags));
    CHECK(res == -EPIPE || res == -ECONNRESET);
    sigaction(SIGPIPE, &old, NULL);
    ep_close(ep, sv[0], 89);
    CHECK(take(ep, 89, &res, &flags));
    CHECK_EQ_INT(res, 0);
    close(fd);
    free(data);
    free(arrived);
}

/* Data and the peer's FIN that arrive together raise one edge: the short read of the data
 * must not be taken for "drained", or the EOF is never seen. The same for a recv armed
 * after both came, on a descriptor registered before. */
static void test_data_with_fin(ep_t *ep)
{
    int res;
    unsigned flags;
    for (int armed_late = 0; armed_late < 2; armed_late++) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        ep_recv_multishot(ep, sv[0], 25);
        if (armed_late) {
            CHECK_EQ_INT(write(sv[1], "a", 1), 1);
            CHECK(take(ep, 25, &res, &flags));
            ep_buffer_recycle(ep, flags >> EP_F_BUFFER_SHIFT);
            ep_cancel(ep, 25, 26);
            CHECK(take(ep, 25, &res, &flags));
            CHECK(take(ep, 26, &res, &flags));
        } else {
            idle(ep, 5); /* waiting */
        }
        CHECK_EQ_INT(write(sv[1], "abc", 3), 3);
        shutdown(sv[1], SHUT_WR);
        if (armed_late) {
            idle(ep, 5); /* the edges come and go with nobody waiting */
            ep_recv_multishot(ep, sv[0], 25);
        }
        CHECK(take(ep, 25, &res, &flags));
        CHECK_EQ_INT(res, 3);
        ep_buffer_recycle(ep, flags >> EP_F_BUFFER_SHIFT);
        CHECK(take(ep, 25, &res, &flags));
        CHECK_EQ_INT(res, 0);
        CHECK(!(flags & EP_F_MORE));
        close(sv[0]);
        close(sv[1]);
    }
}

static void test_timeouts_and_cancel(ep_t *ep)
{
    int res;
    unsigned flags;
    ep_timeout(ep, 30, 30);
    ep_timeout(ep, 10000, 31);
    idle(ep, 0); /* not due yet */
    CHECK(take(ep, 30, &res, &flags));
    CHECK_EQ_INT(res, -ETIME);
    ep_cancel(ep, 31, 32);
    CHECK(take(ep, 31, &res, &flags));
    CHECK_EQ_INT(res, -ECANCELED);
    CHECK(take(ep, 32, &res, &flags));
    CHECK_EQ_INT(res, 0);
    ep_cancel(ep, 31, 33); /* gone: nothing to find */
    CHECK(take(ep, 33, &res, &flags));
    CHECK_EQ_INT(res, -ENOENT);

    /* a multishot recv cancelled while it waits, and one cancelled before it ran */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    ep_recv_multishot(ep, sv[0], 34);
    idle(ep, 0);
    ep_cancel(ep, 34, 35);
    CHECK(take(ep, 34, &res, &flags));
    CHECK_EQ_INT(res, -ECANCELED);
    CHECK(!(flags & EP_F_MORE));
    CHECK(take(ep, 35, &res, &flags));
    CHECK_EQ_INT(res, 0);
    ep_recv_multishot(ep, sv[0], 36);
    ep_cancel(ep, 36, 37);
    CHECK(take(ep, 36, &res, &flags));
    CHECK_EQ_INT(res, -ECANCELED);
    /* cancelled means gone: data that comes now completes nothing */
    CHECK_EQ_INT(write(sv[1], "x", 1), 1);
    idle(ep, 20);
    gather(ep);
    CHECK(take(ep, 37, &res, &flags));
    CHECK_EQ_INT(got_len, 0);
    close(sv[0]);
    close(sv[1]);
}

static void test_poll_read(ep_t *ep)
{
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int res;
    unsigned flags;
    ep_poll_in_multishot(ep, efd, 40);
    idle(ep, 10);
    uint64_t one = 1, value = 0;
    CHECK_EQ_INT(write(efd, &one, 8), 8);
    CHECK(take(ep, 40, &res, &flags));
    CHECK(res & POLLIN);
    CHECK(flags & EP_F_MORE);
    ep_read(ep, efd, &value, sizeof(value), 41);
    CHECK(take(ep, 41, &res, &flags));
    CHECK_EQ_INT(res, 8);
    CHECK_EQ_INT(value, 1);
    /* a read that must wait, then the next wake-up of the poll */
    ep_read(ep, efd, &value, sizeof(value), 42);
    idle(ep, 10);
    CHECK_EQ_INT(write(efd, &one, 8), 8);
    CHECK(take(ep, 42, &res, &flags));
    CHECK_EQ_INT(res, 8);
    CHECK(take(ep, 40, &res, &flags));
    CHECK(flags & EP_F_MORE);
    ep_cancel(ep, 40, 43);
    CHECK(take(ep, 40, &res, &flags));
    CHECK_EQ_INT(res, -ECANCELED);
    CHECK(take(ep, 43, &res, &flags));
    close(efd);
}

/* The worker reads its eventfds by arming a read again after each completion, with the
 * same user_data. Such a re-arm reads at once and waits without registering again: no
 * poll, no epoll_ctl. A new user_data on a number whose file was closed without ep_close
 * is registered again (the old registration went with the file), and a blocking pipe is
 * polled before it is read, so that it never blocks the loop. */
static void test_rearmed_read(ep_t *ep)
{
    int res;
    unsigned flags;
    uint64_t one = 1, value = 0;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ep_read(ep, efd, &value, sizeof(value), 44);
    idle(ep, 5); /* registered by the first wait */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(write(efd, &one, 8), 8);
        CHECK(take(ep, 44, &res, &flags));
        CHECK_EQ_INT(res, 8);
        int ctl = epoll_ctl_calls, polls = poll_calls;
        ep_read(ep, efd, &value, sizeof(value), 44); /* the owner's re-arm */
        idle(ep, 5);
        CHECK_EQ_INT(epoll_ctl_calls, ctl);
        CHECK_EQ_INT(poll_calls, polls);
    }
    /* the owner's re-arm with data already there completes in the next round */
    CHECK_EQ_INT(write(efd, &one, 8), 8);
    CHECK(take(ep, 44, &res, &flags));
    int polls = poll_calls;
    CHECK_EQ_INT(write(efd, &one, 8), 8);
    ep_read(ep, efd, &value, sizeof(value), 44);
    CHECK_EQ_INT(ep_wait(ep, 0), 0);
    gather(ep);
    CHECK(taken(44, &res, &flags));
    CHECK_EQ_INT(res, 8);
    CHECK_EQ_INT(poll_calls, polls);
    ep_read(ep, efd, &value, sizeof(value), 44);
    ep_cancel(ep, 44, 45);
    CHECK(take(ep, 44, &res, &flags));
    CHECK_EQ_INT(res, -ECANCELED);
    CHECK(take(ep, 45, &res, &flags));
    /* closed behind the engine's back; a new file gets the number */
    close(efd);
    int efd2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    CHECK_EQ_INT(efd2, efd);
    int ctl = epoll_ctl_calls;
    ep_read(ep, efd2, &value, sizeof(value), 46);
    idle(ep, 5);
    CHECK_EQ_INT(epoll_ctl_calls, ctl + 1); /* added again */
    CHECK_EQ_INT(write(efd2, &one, 8), 8);
    CHECK(take(ep, 46, &res, &flags));
    CHECK_EQ_INT(res, 8);
    ep_close(ep, efd2, 47);
    CHECK(take(ep, 47, &res, &flags));
    CHECK_EQ_INT(res, 0);
    /* a blocking pipe: polled first, read only when it holds data */
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    char c = 0;
    polls = poll_calls;
    ep_read(ep, pfd[0], &c, 1, 48);
    idle(ep, 5);
    CHECK(poll_calls > polls);
    CHECK_EQ_INT(write(pfd[1], "x", 1), 1);
    CHECK(take(ep, 48, &res, &flags));
    CHECK_EQ_INT(res, 1);
    CHECK_EQ_INT(c, 'x');
    ep_close(ep, pfd[0], 49);
    CHECK(take(ep, 49, &res, &flags));
    close(pfd[1]);
}

static void test_file_io(ep_t *ep)
{
    char path[] = "/tmp/ep_test_XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    int res;
    unsigned flags;
    ep_write_at(ep, fd, "abcdef", 6, 0, 50);
    CHECK(take(ep, 50, &res, &flags));
    CHECK_EQ_INT(res, 6);
    ep_write_at(ep, fd, "XY", 2, 2, 51);
    CHECK(take(ep, 51, &res, &flags));
    char buf[8] = {0};
    ep_read_at(ep, fd, buf, sizeof(buf), 0, 52);
    CHECK(take(ep, 52, &res, &flags));
    CHECK_EQ_INT(res, 6);
    CHECK(memcmp(buf, "abXYef", 6) == 0);
    /* offset -1: the file position, which appends here */
    ep_write_at(ep, fd, "!", 1, (uint64_t)-1, 53);
    CHECK(take(ep, 53, &res, &flags));
    CHECK_EQ_INT(res, 1);
    ep_read_at(ep, -1, buf, 1, 0, 54);
    CHECK(take(ep, 54, &res, &flags));
    CHECK_EQ_INT(res, -EBADF);
    ep_close(ep, fd, 55);
    CHECK(take(ep, 55, &res, &flags));
    CHECK_EQ_INT(res, 0);
}

static void test_connect(ep_t *ep, int lfd, const struct sockaddr_in *sin)
{
    int res;
    unsigned flags;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ep_connect(ep, fd, (const struct sockaddr *)sin, sizeof(*sin), 60);
    CHECK(take(ep, 60, &res, &flags));
    CHECK_EQ_INT(res, 0);
    CHECK(take(ep, 1, &res, &flags)); /* the multishot accept took it */
    CHECK(res >= 0);
    close(res);
    close(fd);
    /* refused */
    struct sockaddr_in nobody = *sin;
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(any);
    CHECK(bind(probe, (struct sockaddr *)&any, sizeof(any)) == 0);
    CHECK(getsockname(probe, (struct sockaddr *)&any, &len) == 0);
    nobody.sin_port = any.sin_port; /* bound, not listening */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ep_connect(ep, fd, (const struct sockaddr *)&nobody, sizeof(nobody), 61);
    CHECK(take(ep, 61, &res, &flags));
    CHECK_EQ_INT(res, -ECONNREFUSED);
    close(fd);
    close(probe);
}

int main(void)
{
    char err[128];
    char *base;
    ep_t *ep = ep_create(8, 4096, &base, err, sizeof(err));
    CHECK(ep != NULL);
    CHECK_EQ_INT(ep_wait(ep, 10), -ETIME); /* nothing queued: the timeout */
    struct sockaddr_in sin;
    int lfd = loopback_listener(&sin);
    ep_accept_multishot(ep, lfd, 1);
    test_accept_recv_send(ep, lfd, &sin);
    test_short_and_blocked_send(ep);
    test_send_file(ep);
    test_data_with_fin(ep);
    test_timeouts_and_cancel(ep);
    test_poll_read(ep);
    test_rearmed_read(ep);
    test_file_io(ep);
    test_connect(ep, lfd, &sin);
    /* cancelling the accept takes the listener out of the set (other workers get its
     * wake-ups) */
    int res;
    unsigned flags;
    ep_cancel(ep, 1, 70);
    CHECK(take(ep, 1, &res, &flags));
    CHECK_EQ_INT(res, -ECANCELED);
    CHECK(take(ep, 70, &res, &flags));
    CHECK(!ep->fds[lfd].registered);
    CHECK_EQ_INT(got_len, 0);  /* no completion nobody asked for */
    CHECK_EQ_INT(ep->live, 0); /* every record finished */
    close(lfd);
    ep_destroy(ep);
    test_buffer_exhaustion();
    return check_done();
}
