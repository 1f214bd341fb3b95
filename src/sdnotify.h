/* sd_notify: the master's reports to a service manager, systemd's notify protocol
 * (sd_notify(3)) spoken directly: one datagram per report to the unix socket that
 * NOTIFY_SOCKET names (a path, or "@NAME" in the abstract namespace). No libsystemd.
 *
 * What is said, and when (the master decides when; this module says it):
 *   READY=1 with MAINPID and STATUS   a generation of workers is ready (the first one,
 *                                     and the one a reload started)
 *   RELOADING=1 with MONOTONIC_USEC   HUP: systemd's Type=notify-reload waits for READY=1
 *   STOPPING=1                        TERM, INT, QUIT
 *   STATUS=<workers, requests/s>      at most every SDNOTIFY_STATUS_MS
 *   WATCHDOG=1                        every half of WATCHDOG_USEC, from the master's loop,
 *                                     so a loop that stops turning stops the pings
 *
 * Invariants: master only. Never blocks: the socket is non-blocking and a report the
 * manager cannot take now is dropped. The first failure is logged, later ones are not.
 * Inactive (every call does nothing) without NOTIFY_SOCKET.
 */
#ifndef UF_SDNOTIFY_H
#define UF_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* How often STATUS= may change: systemctl status is read by people. */
#define SDNOTIFY_STATUS_MS 5000

typedef struct sdnotify {
    int fd; /* -1: inactive */
    struct sockaddr_un addr;
    socklen_t addrlen;
    uint64_t watchdog_ms; /* ping interval (half of WATCHDOG_USEC); 0: no watchdog */
    uint64_t next_watchdog_ms;
    uint64_t next_status_ms;
    uint64_t status_requests; /* requests served when STATUS= was last computed */
    uint64_t status_ms;       /* ... and when */
    bool warned;
} sdnotify_t;

/* NOTIFY_SOCKET's value into *out and *len: an absolute path, or "@NAME" for the abstract
 * namespace. Returns 0, or -1 when it is neither or too long. */
int sdnotify_address(const char *text, struct sockaddr_un *out, socklen_t *len);

/* The watchdog ping interval in ms from WATCHDOG_USEC and WATCHDOG_PID (NULL when unset):
 * half the timeout, or 0 when there is no watchdog or it watches another process than
 * `self`. */
uint64_t sdnotify_watchdog_ms(const char *usec, const char *pid, long self);

/* The messages, NUL-terminated in buf (len bytes; cut short if it is too small).
 * Return the message's length. */
size_t sdnotify_ready_msg(char *buf, size_t len, long mainpid, const char *status);
size_t sdnotify_reloading_msg(char *buf, size_t len, uint64_t monotonic_usec);
/* "STATUS=3 workers, 1520 requests/s" (the rate as a whole number). */
size_t sdnotify_status_text(char *buf, size_t len, unsigned workers, double per_second);

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, then unsets them: the workers
 * and the application are not the service's main process, and a report from them would
 * be refused or, worse, taken for ours. Logs once when NOTIFY_SOCKET is unusable. */
void sdnotify_open(sdnotify_t *n, uint64_t now_ms);

/* The reports (see the table above). `workers` and `requests` (served in total) make
 * the STATUS= line. */
void sdnotify_ready(sdnotify_t *n, unsigned workers, uint64_t requests, uint64_t now_ms);
void sdnotify_reloading(sdnotify_t *n);
void sdnotify_stopping(sdnotify_t *n);

/* Each round of the master's loop: WATCHDOG=1 when due, STATUS= when due. */
void sdnotify_tick(sdnotify_t *n, unsigned workers, uint64_t requests, uint64_t now_ms);

/* Whether reports go anywhere. */
static inline bool sdnotify_active(const sdnotify_t *n)
{
    return n->fd >= 0;
}

void sdnotify_close(sdnotify_t *n);

#endif
