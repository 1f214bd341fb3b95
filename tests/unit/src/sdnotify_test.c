/* Unit tests for src/sdnotify.c: NOTIFY_SOCKET's two forms (a path with its NUL counted,
 * "@NAME" with a leading NUL and none at the end) and what is refused; the watchdog's
 * interval (half of WATCHDOG_USEC, none for another process's WATCHDOG_PID or junk); the
 * messages as systemd reads them; and the reports arriving, in order, on a datagram
 * socket the test binds, with the watchdog and STATUS= coming only when due. */
#include "src/sdnotify.c"

#include "check.h"

#include <stdlib.h>

static void test_address(void)
{
    struct sockaddr_un a;
    socklen_t len = 0;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    CHECK_EQ_INT(sdnotify_address("/run/systemd/notify", &a, &len), 0);
    CHECK_EQ_STR(a.sun_path, "/run/systemd/notify");
    CHECK_EQ_INT(len, off + 20);
    CHECK_EQ_INT(sdnotify_address("@sd-notify", &a, &len), 0);
    CHECK(a.sun_path[0] == 0 && memcmp(a.sun_path + 1, "sd-notify", 9) == 0);
    CHECK_EQ_INT(len, off + 10);
    CHECK_EQ_INT(sdnotify_address("relative", &a, &len), -1);
    CHECK_EQ_INT(sdnotify_address("@", &a, &len), -1);
    CHECK_EQ_INT(sdnotify_address("", &a, &len), -1);
    CHECK_EQ_INT(sdnotify_address(NULL, &a, &len), -1);
    char longpath[200] = "/";
    memset(longpath + 1, 'x', 150);
    CHECK_EQ_INT(sdnotify_address(longpath, &a, &len), -1);
}

static void test_watchdog(void)
{
    CHECK_EQ_INT(sdnotify_watchdog_ms("30000000", NULL, 7), 15000);
    CHECK_EQ_INT(sdnotify_watchdog_ms("30000000", "7", 7), 15000);
    CHECK_EQ_INT(sdnotify_watchdog_ms("30000000", "8", 7), 0); /* another process's */
    CHECK_EQ_INT(sdnotify_watchdog_ms("1000", "", 7), 1);      /* never 0 when on */
    CHECK_EQ_INT(sdnotify_watchdog_ms("0", NULL, 7), 0);
    CHECK_EQ_INT(sdnotify_watchdog_ms("12x", NULL, 7), 0);
    CHECK_EQ_INT(sdnotify_watchdog_ms(NULL, NULL, 7), 0);
}

static void test_messages(void)
{
    char buf[128], status[64];
    size_t n = sdnotify_status_text(status, sizeof(status), 3, 1519.6);
    CHECK_EQ_MEM(status, n, "STATUS=3 workers, 1520 requests/s");
    n = sdnotify_status_text(status, sizeof(status), 1, 0);
    CHECK_EQ_MEM(status, n, "STATUS=1 worker, 0 requests/s");
    n = sdnotify_ready_msg(buf, sizeof(buf), 42, status);
    CHECK_EQ_MEM(buf, n, "READY=1\nMAINPID=42\nSTATUS=1 worker, 0 requests/s");
    n = sdnotify_reloading_msg(buf, sizeof(buf), 123456789);
    CHECK_EQ_MEM(buf, n, "RELOADING=1\nMONOTONIC_USEC=123456789");
    n = sdnotify_reloading_msg(buf, 8, 1); /* cut short, still terminated */
    CHECK_EQ_INT(n, 7);
    CHECK_EQ_STR(buf, "RELOADI");
}

/* The next datagram on fd as a string ("" when there is none). */
static const char *next(int fd, char *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

static void test_reports(void)
{
    int rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    char name[64], buf[256];
    snprintf(name, sizeof(name), "@uf-sdnotify-test-%d", (int)getpid());
    struct sockaddr_un a;
    socklen_t len;
    CHECK_EQ_INT(sdnotify_address(name, &a, &len), 0);
    CHECK_EQ_INT(bind(rx, (struct sockaddr *)&a, len), 0);
    setenv("NOTIFY_SOCKET", name, 1);
    setenv("WATCHDOG_USEC", "2000000", 1);
    sdnotify_t n;
    sdnotify_open(&n, 1000);
    CHECK(sdnotify_active(&n));
    CHECK_EQ_INT(n.watchdog_ms, 1000);
    CHECK(getenv("NOTIFY_SOCKET") == NULL && getenv("WATCHDOG_USEC") == NULL);

    sdnotify_tick(&n, 2, 0, 1000); /* the watchdog's first ping at once */
    CHECK_EQ_STR(next(rx, buf, sizeof(buf)), "WATCHDOG=1");
    sdnotify_tick(&n, 2, 0, 1500); /* nothing due */
    CHECK_EQ_STR(next(rx, buf, sizeof(buf)), "");
    sdnotify_ready(&n, 2, 0, 2000);
    snprintf(name, sizeof(name), "READY=1\nMAINPID=%d\nSTATUS=2 workers", (int)getpid());
    CHECK(strncmp(next(rx, buf, sizeof(buf)), name, strlen(name)) == 0);
    sdnotify_tick(&n, 2, 0, 2100);
    CHECK_EQ_STR(next(rx, buf, sizeof(buf)), "WATCHDOG=1");
    /* 500 requests in the 5 s since READY */
    sdnotify_tick(&n, 2, 500, 2000 + SDNOTIFY_STATUS_MS);
    CHECK_EQ_STR(next(rx, buf, sizeof(buf)), "WATCHDOG=1");
    CHECK_EQ_STR(next(rx, buf, sizeof(buf)), "STATUS=2 workers, 100 requests/s");
    sdnotify_reloading(&n);
    CHECK(strncmp(next(rx, buf, sizeof(buf)), "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
    sdnotify_stopping(&n);
    CHECK_EQ_STR(next(rx, buf, sizeof(buf)), "STOPPING=1");

    /* the manager went away: the report is dropped, once said, and nothing waits */
    close(rx);
    sdnotify_stopping(&n);
    CHECK(n.warned);
    sdnotify_close(&n);
    CHECK(!sdnotify_active(&n));

    unsetenv("NOTIFY_SOCKET");
    sdnotify_open(&n, 0);
    CHECK(!sdnotify_active(&n));
    sdnotify_ready(&n, 1, 0, 0); /* does nothing */
    sdnotify_close(&n);
}

int main(void)
{
    test_address();
    test_watchdog();
    test_messages();
    test_reports();
    return check_done();
}
