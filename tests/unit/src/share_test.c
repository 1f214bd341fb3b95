/* Unit tests for src/share.c: choosing a sibling from the share table (free ones first,
 * from the given start, never itself, never an orphaned slot or one this process has no
 * inbox for; any that takes work only when asked), and a connection travelling through
 * an inbox and through the shared queue with its bytes, its bind and its hop count: the
 * received descriptor is the same socket (a byte written on the client's side arrives
 * on it), oversized messages are refused, an empty inbox says so. */
#include "src/share.c"

#include "check.h"

#include <fcntl.h>
#include <sys/socket.h>

static void test_pick(void)
{
    share_t s;
    CHECK_EQ_INT(share_create(&s, 1, NULL), 0);
    for (unsigned k = 0; k < 4; k++)
        CHECK_EQ_INT(share_open_inbox(&s, k, (char[64]){0}, 64), 0);
    share_table_t *t = s.table;
    t->nslots = 4;

    CHECK_EQ_INT(share_pick(&s, 0, 0, false), -1); /* nobody free */
    CHECK_EQ_INT(share_pick(&s, 0, 0, true), -1);  /* nobody takes work */
    share_set_taking(t, 2, true);
    CHECK_EQ_INT(share_pick(&s, 0, 0, true), 2); /* any that takes work, if asked */
    CHECK_EQ_INT(share_pick(&s, 0, 0, false), -1);

    share_set_free(t, 1, 1);
    share_set_free(t, 3, 2);
    CHECK_EQ_INT(share_pick(&s, 0, 0, false), 1); /* the first free from start */
    CHECK_EQ_INT(share_pick(&s, 0, 2, false), 3);
    CHECK_EQ_INT(share_pick(&s, 0, 2, true), 3);             /* free beats merely taking */
    CHECK_EQ_INT(share_pick(&s, 1, 1, false), 3);            /* never itself */
    CHECK_EQ_INT(share_pick(&s, (unsigned)-1, 1, false), 1); /* a draining worker's own slot */

    t->orphan[3] = 1; /* no worker there after all */
    CHECK_EQ_INT(share_pick(&s, 0, 2, false), 1);
    share_close_inbox(&s, 1); /* a slot this process cannot reach */
    CHECK_EQ_INT(share_pick(&s, 0, 0, false), -1);
    t->nslots = 2; /* slots beyond nslots are never chosen */
    t->orphan[3] = 0;
    CHECK_EQ_INT(share_pick(&s, 0, 0, false), -1);
    share_destroy(&s);
}

/* Sends one end of a TCP-like pair through `k` and checks what arrives on `rx`. */
static void travel(share_t *s, unsigned k, int rx)
{
    int pair[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    static const char bytes[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    share_msg_t m = {.fd = pair[0],
                     .bind = 3,
                     .hops = 1,
                     .data = bytes,
                     .len = sizeof(bytes) - 1,
                     .first_byte_ns = 0x123456789abcdefull};
    CHECK_EQ_INT(share_send(s, k, &m), 0);
    close(pair[0]); /* the sender forgets it: the message holds the socket now */

    static char buf[SHARE_MAX_BYTES];
    share_msg_t got;
    CHECK_EQ_INT(share_recv(rx, buf, sizeof(buf), &got), 1);
    CHECK_EQ_INT(got.bind, 3);
    CHECK_EQ_INT(got.hops, 1);
    CHECK(got.first_byte_ns == 0x123456789abcdefull); /* the request's clock travels too */
    CHECK_EQ_INT(got.len, sizeof(bytes) - 1);
    CHECK(got.len == sizeof(bytes) - 1 && memcmp(got.data, bytes, got.len) == 0);
    CHECK(got.fd >= 0);
    CHECK(fcntl(got.fd, F_GETFD) & FD_CLOEXEC);
    /* the same connection: what the client writes arrives on the received descriptor */
    CHECK_EQ_INT(write(pair[1], "z", 1), 1);
    char c = 0;
    CHECK_EQ_INT(read(got.fd, &c, 1), 1);
    CHECK_EQ_INT(c, 'z');
    close(got.fd);
    close(pair[1]);
    CHECK_EQ_INT(share_recv(rx, buf, sizeof(buf), &got), 0); /* empty now */
}

static void test_travel(void)
{
    share_t s;
    char err[128];
    CHECK_EQ_INT(share_create(&s, 4, NULL), 0);
    CHECK_EQ_INT(share_open_inbox(&s, 5, err, sizeof(err)), 0);
    CHECK_EQ_INT(share_open_inbox(&s, SHARE_QUEUE, err, sizeof(err)), 0);
    travel(&s, 5, s.inbox_fds[5]);
    travel(&s, SHARE_QUEUE, s.queue_fd);

    /* more waiting messages than a named datagram socket would hold (10 by default) */
    int pair[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    share_msg_t m = {.fd = pair[0], .data = "x", .len = 1};
    int sent = 0;
    for (int i = 0; i < 100; i++)
        sent += share_send(&s, SHARE_QUEUE, &m) == 0;
    CHECK_EQ_INT(sent, 100);
    static char buf[SHARE_MAX_BYTES];
    share_msg_t got;
    int received = 0;
    while (share_recv(s.queue_fd, buf, sizeof(buf), &got) == 1) {
        close(got.fd);
        received++;
    }
    CHECK_EQ_INT(received, 100);

    m.len = SHARE_MAX_BYTES + 1; /* too much to carry: the caller keeps the connection */
    CHECK_EQ_INT(share_send(&s, 5, &m), -EMSGSIZE);
    m.len = 1;
    CHECK_EQ_INT(share_send(&s, 6, &m), -ENOENT); /* no inbox for that slot here */
    close(pair[0]);
    close(pair[1]);
    share_destroy(&s);
}

int main(void)
{
    test_pick();
    test_travel();
    return check_done();
}
