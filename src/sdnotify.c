/* sd_notify: datagrams to NOTIFY_SOCKET (see sdnotify.h). */
#include "src/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

int sdnotify_address(const char *text, struct sockaddr_un *out, socklen_t *len)
{
    size_t n = text ? strlen(text) : 0;
    memset(out, 0, sizeof(*out));
    out->sun_family = AF_UNIX;
    if (n < 2 || (text[0] != '/' && text[0] != '@') || n >= sizeof(out->sun_path))
        return -1;
    memcpy(out->sun_path, text, n);
    if (text[0] == '@')
        out->sun_path[0] = 0; /* abstract: exactly n bytes, no NUL at the end */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (text[0] == '/'));
    return 0;
}

uint64_t sdnotify_watchdog_ms(const char *usec, const char *pid, long self)
{
    char *end;
    if (!usec || !*usec)
        return 0;
    unsigned long long us = strtoull(usec, &end, 10);
    if (*end || us == 0)
        return 0;
    if (pid && *pid) {
        long owner = strtol(pid, &end, 10);
        if (*end || owner != self)
            return 0;
    }
    uint64_t ms = us / 2000; /* half the timeout, as sd_watchdog_enabled(3) advises */
    return ms ? ms : 1;
}

size_t sdnotify_ready_msg(char *buf, size_t len, long mainpid, const char *status)
{
    int n = snprintf(buf, len, "READY=1\nMAINPID=%ld\n%s", mainpid, status ? status : "");
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

size_t sdnotify_reloading_msg(char *buf, size_t len, uint64_t monotonic_usec)
{
    int n =
        snprintf(buf, len, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)monotonic_usec);
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

size_t sdnotify_status_text(char *buf, size_t len, unsigned workers, double per_second)
{
    int n = snprintf(buf, len, "STATUS=%u worker%s, %.0f requests/s", workers,
                     workers == 1 ? "" : "s", per_second < 0 ? 0.0 : per_second);
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

/* One datagram; never waits. */
static void say(sdnotify_t *n, const char *msg, size_t len)
{
    if (n->fd < 0)
        return;
    if (sendto(n->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)&n->addr,
               n->addrlen) >= 0 ||
        n->warned)
        return;
    n->warned = true;
    log_warning("sd_notify: cannot report to NOTIFY_SOCKET: %s (said once)", strerror(errno));
}

void sdnotify_open(sdnotify_t *n, uint64_t now_ms)
{
    memset(n, 0, sizeof(*n));
    n->fd = -1;
    const char *path = getenv("NOTIFY_SOCKET");
    if (path && sdnotify_address(path, &n->addr, &n->addrlen) == 0) {
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (n->fd < 0)
            log_warning("sd_notify: socket: %s; no reports to the service manager",
                        strerror(errno));
    } else if (path) {
        log_warning("sd_notify: NOTIFY_SOCKET=\"%s\" is neither a path nor @NAME; no reports "
                    "to the service manager",
                    path);
    }
    if (n->fd >= 0)
        n->watchdog_ms =
            sdnotify_watchdog_ms(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"), (long)getpid());
    n->next_watchdog_ms = now_ms;
    n->status_ms = now_ms;
    n->next_status_ms = now_ms + SDNOTIFY_STATUS_MS;
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    if (n->fd >= 0)
        log_info("sd_notify: reporting to %s%s", path, n->watchdog_ms ? ", watchdog on" : "");
}

/* STATUS= of now: the request rate since the last one. */
static size_t status_now(sdnotify_t *n, char *buf, size_t len, unsigned workers, uint64_t requests,
                         uint64_t now_ms)
{
    double secs = (double)(now_ms - n->status_ms) / 1000.0;
    double rate = secs > 0 && requests >= n->status_requests
                      ? (double)(requests - n->status_requests) / secs
                      : 0.0;
    n->status_requests = requests;
    n->status_ms = now_ms;
    n->next_status_ms = now_ms + SDNOTIFY_STATUS_MS;
    return sdnotify_status_text(buf, len, workers, rate);
}

void sdnotify_ready(sdnotify_t *n, unsigned workers, uint64_t requests, uint64_t now_ms)
{
    if (n->fd < 0)
        return;
    char status[96], msg[160];
    status_now(n, status, sizeof(status), workers, requests, now_ms);
    say(n, msg, sdnotify_ready_msg(msg, sizeof(msg), (long)getpid(), status));
}

void sdnotify_reloading(sdnotify_t *n)
{
    if (n->fd < 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[80];
    uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    say(n, msg, sdnotify_reloading_msg(msg, sizeof(msg), usec));
}

void sdnotify_stopping(sdnotify_t *n)
{
    say(n, "STOPPING=1", 10);
}

void sdnotify_tick(sdnotify_t *n, unsigned workers, uint64_t requests, uint64_t now_ms)
{
    if (n->fd < 0)
        return;
    if (n->watchdog_ms && now_ms >= n->next_watchdog_ms) {
        say(n, "WATCHDOG=1", 10);
        n->next_watchdog_ms = now_ms + n->watchdog_ms;
    }
    if (now_ms >= n->next_status_ms) {
        char status[96];
        say(n, status, status_now(n, status, sizeof(status), workers, requests, now_ms));
    }
}

void sdnotify_close(sdnotify_t *n)
{
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
}
