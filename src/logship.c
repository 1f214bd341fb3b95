/* Log shipping: framing, a bounded queue, and two ways to send it (ring, non-blocking). */
#include "src/logship.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "src/scoreboard.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS   30000
#define REPORT_EVERY_MS  10000

/* Syslog severities of our levels (debug, info, warning, error, critical), as Python's
 * SysLogHandler maps them, so gunicorn's syslog readers see the same PRI. */
static const int severity[LOG_LEVEL_COUNT] = {
    [LOG_LEVEL_DEBUG] = 7, [LOG_LEVEL_INFO] = 6,     [LOG_LEVEL_WARNING] = 4,
    [LOG_LEVEL_ERROR] = 3, [LOG_LEVEL_CRITICAL] = 2,
};

int logship_parse(const char *spec, logship_target_t *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->spec, sizeof(t->spec), "%s", spec);
    if (strncmp(spec, "unix:", 5) == 0) {
        const char *path = spec + 5;
        struct sockaddr_un *sun = (struct sockaddr_un *)&t->addr;
        if (!*path || strlen(path) >= sizeof(sun->sun_path)) {
            snprintf(err, errlen,
                     "--log-target: \"%s\" needs a socket path of 1 to %zu bytes "
                     "after unix:",
                     spec, sizeof(sun->sun_path) - 1);
            return -1;
        }
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, strlen(path) + 1);
        t->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        t->transport = SHIP_UNIX;
        return 0;
    }
    const char *rest;
    if (strncmp(spec, "udp://", 6) == 0) {
        t->transport = SHIP_UDP;
        rest = spec + 6;
    } else if (strncmp(spec, "tcp://", 6) == 0) {
        t->transport = SHIP_TCP;
        rest = spec + 6;
    } else {
        snprintf(err, errlen,
                 "--log-target: \"%s\" is not udp://HOST:PORT, tcp://HOST:PORT or "
                 "unix:/PATH",
                 spec);
        return -1;
    }
    char host[256];
    const char *colon;
    if (*rest == '[') {
        const char *close = strchr(rest, ']');
        if (!close || close[1] != ':')
            goto bad_port;
        snprintf(host, sizeof(host), "%.*s", (int)(close - rest - 1), rest + 1);
        colon = close + 1;
    } else {
        colon = strrchr(rest, ':');
        if (!colon)
            goto bad_port;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - rest), rest);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 1 || port > 65535)
        goto bad_port;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = t->transport == SHIP_TCP ? SOCK_STREAM : SOCK_DGRAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : "127.0.0.1", colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "--log-target: cannot resolve \"%s\": %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
bad_port:
    snprintf(err, errlen, "--log-target: \"%s\" needs HOST:PORT with a port from 1 to 65535", spec);
    return -1;
}

void logship_init(logship_t *s, const logship_target_t *t, bool syslog, int worker)
{
    memset(s, 0, sizeof(*s));
    s->target = *t;
    s->syslog = syslog;
    s->facility = 1;
    s->stream = t->transport == SHIP_TCP;
    s->fd = -1;
    s->worker = worker;
    s->pid = (int)getpid();
    s->sent_out = &s->sent_local;
    s->dropped_out = &s->dropped_local;
    if (gethostname(s->host, sizeof(s->host)) < 0 || !s->host[0])
        snprintf(s->host, sizeof(s->host), "-");
    s->host[sizeof(s->host) - 1] = 0;
}

void logship_set_syslog(logship_t *s, bool rfc3164, int facility, const char *tag)
{
    s->syslog = true;
    s->rfc3164 = rfc3164;
    s->facility = facility;
    snprintf(s->tag, sizeof(s->tag), "%s", tag ? tag : "");
}

static void close_fd(logship_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->connecting = false;
}

void logship_free(logship_t *s)
{
    close_fd(s);
    buf_free(&s->fill);
    buf_free(&s->busy);
    buf_free(&s->scratch);
    uf_free(s->fill_ends);
    uf_free(s->busy_ends);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

/* ---- framing ------------------------------------------------------------------------- */

/* The syslog header up to the message. `kind` is "error" or "access": RFC 5424's MSGID,
 * and the end of the tag when there is one (gunicorn's "gunicorn.app.error").
 *   RFC 5424: <PRI>1 2026-11-25T22:45:28.123Z HOST APP-NAME PID KIND -
 *   RFC 3164: <PRI>Nov 25 22:45:28 HOST TAG[PID]:   (local time, as the RFC has it) */
static void syslog_head(logship_t *s, buf_t *out, int sev, const char *kind, int pid)
{
    char app[SHIP_TAG_MAX + 16];
    if (s->tag[0])
        snprintf(app, sizeof(app), "%s.%s", s->tag, kind);
    else
        snprintf(app, sizeof(app), "uwsgi-fast");
    int pri = s->facility * 8 + sev;
    if (s->rfc3164) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        buf_printf(out, "<%d>%s %s %s[%d]: ", pri, stamp, s->host, app, pid);
        return;
    }
    app[48] = 0; /* RFC 5424's longest APP-NAME */
    buf_printf(out, "<%d>1 ", pri);
    log_put_rfc3339(out);
    buf_printf(out, " %s %s %d %s - ", s->host, app, pid, kind);
}

/* `{"type":...,"host":...,"pid":...,"worker":...,` without the keys in `line_keys`;
 * pid and worker are those of the process the line is from. */
static void json_head(logship_t *s, buf_t *out, const char *type, unsigned line_keys, int pid,
                      int worker)
{
    char tail[64];
    buf_append_str(out, "{\"type\":\"");
    buf_append_str(out, type);
    buf_append_str(out, "\",\"host\":\"");
    buf_append_json(out, s->host, strlen(s->host));
    buf_append_str(out, "\",");
    if (!(line_keys & LOGSHIP_LINE_HAS_PID))
        buf_append(out, tail, (size_t)snprintf(tail, sizeof(tail), "\"pid\":%d,", pid));
    if (worker >= 0 && !(line_keys & LOGSHIP_LINE_HAS_WORKER))
        buf_append(out, tail, (size_t)snprintf(tail, sizeof(tail), "\"worker\":%d,", worker));
}

/* Moves the message in s->scratch into the queue, framed; drops it when full. */
static void enqueue(logship_t *s)
{
    buf_t *m = &s->scratch;
    if (m->len > SHIP_MAX_MSG)
        m->len = SHIP_MAX_MSG;
    if (s->fill.len + m->len + 16 > SHIP_MAX_BYTES) {
        sb_add64(s->dropped_out, 1);
        return;
    }
    if (s->stream) {
        if (s->syslog && !s->rfc3164) {
            char len[16];
            buf_append(&s->fill, len, (size_t)snprintf(len, sizeof(len), "%zu ", m->len));
            buf_append(&s->fill, m->data, m->len);
        } else {
            buf_append(&s->fill, m->data, m->len);
            buf_append(&s->fill, "\n", 1);
        }
        s->fill_count++;
        return;
    }
    buf_append(&s->fill, m->data, m->len);
    if (s->fill_count == s->ends_cap) {
        s->ends_cap = s->ends_cap ? s->ends_cap * 2 : 64;
        s->fill_ends = uf_realloc(s->fill_ends, s->ends_cap * sizeof(uint32_t));
        s->busy_ends = uf_realloc(s->busy_ends, s->ends_cap * sizeof(uint32_t));
    }
    s->fill_ends[s->fill_count++] = (uint32_t)s->fill.len;
}

void logship_error(logship_t *s, int level, const char *msg, size_t len)
{
    logship_error_as(s, level, s->pid, s->worker, msg, len);
}

void logship_error_as(logship_t *s, int level, int pid, int worker, const char *msg, size_t len)
{
    if (!log_level_name(level))
        level = LOG_LEVEL_CRITICAL;
    buf_t *m = &s->scratch;
    m->len = 0;
    if (s->syslog) {
        syslog_head(s, m, severity[level], "error", pid);
        buf_append(m, msg, len);
    } else {
        json_head(s, m, "error", 0, pid, worker);
        buf_append_str(m, "\"time\":\"");
        log_put_rfc3339(m);
        buf_append_str(m, "\",\"level\":\"");
        buf_append_str(m, log_level_name(level));
        buf_append_str(m, "\",\"message\":\"");
        buf_append_json(m, msg, len > SHIP_MAX_MSG ? SHIP_MAX_MSG : len);
        buf_append_str(m, "\"}");
    }
    enqueue(s);
}

void logship_access(logship_t *s, const char *json, size_t jlen, const char *text, size_t tlen,
                    unsigned line_keys)
{
    buf_t *m = &s->scratch;
    m->len = 0;
    if (s->syslog) {
        if (!text)
            return;
        syslog_head(s, m, 6, "access", s->pid);
        buf_append(m, text, tlen);
    } else {
        if (!json || jlen < 2 || json[0] != '{')
            return;
        /* {"type":"access","host":...,"pid":...,"worker":..., + the line's own fields */
        json_head(s, m, "access", line_keys, s->pid, s->worker);
        if (jlen == 2)
            m->len--; /* an empty object: drop the trailing comma */
        buf_append(m, json + 1, jlen - 1);
    }
    enqueue(s);
}

void logship_raw(logship_t *s, const char *msg, size_t len)
{
    s->scratch.len = 0;
    buf_append(&s->scratch, msg, len);
    enqueue(s);
}

/* Swaps the gathering buffer in for sending. */
static void take_fill(logship_t *s)
{
    buf_t t = s->busy;
    s->busy = s->fill;
    s->fill = t;
    s->fill.len = 0;
    uint32_t *e = s->busy_ends;
    s->busy_ends = s->fill_ends;
    s->fill_ends = e;
    s->busy_count = s->fill_count;
    s->fill_count = 0;
    s->busy_off = 0;
    s->dgram_failed = 0;
}

static void busy_done(logship_t *s, uint32_t delivered, uint32_t lost)
{
    sb_add64(s->sent_out, delivered);
    sb_add64(s->dropped_out, lost);
    s->busy.len = 0;
    s->busy_count = 0;
    s->busy_off = 0;
    s->inflight = false;
    if (s->busy.cap > 4 * 65536)
        buf_reset(&s->busy, 65536);
}

static void failed(logship_t *s, int err, uint64_t now_ms)
{
    if (!s->failing_logged)
        log_warning("log target %s: %s; retrying (lines are queued, then dropped and counted)",
                    s->target.spec, strerror(err));
    s->failing_logged = true;
    close_fd(s);
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_FIRST_MS;
    if (s->backoff_ms > BACKOFF_MAX_MS)
        s->backoff_ms = BACKOFF_MAX_MS;
    s->retry_at_ms = now_ms + s->backoff_ms;
}

static void connected(logship_t *s)
{
    s->connecting = false;
    s->backoff_ms = 0;
    if (s->failing_logged)
        log_info("log target %s: connected", s->target.spec);
    s->failing_logged = false;
}

/* Creates the socket; UDP and unix sockets are connected at once (it cannot block), a
 * TCP socket is left to the caller. Returns 0 or -errno. */
static int open_socket(logship_t *s, bool nonblock)
{
    int type = s->target.transport == SHIP_TCP ? SOCK_STREAM : SOCK_DGRAM;
    int flags = SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
    int fd = socket(s->target.addr.ss_family, type | flags, 0);
    if (fd < 0)
        return -errno;
    s->fd = fd;
    if (s->target.transport == SHIP_TCP)
        return 0;
    if (connect(fd, (struct sockaddr *)&s->target.addr, s->target.addrlen) == 0)
        return 0;
    int e = errno;
    if (s->target.transport == SHIP_UNIX && e == EPROTOTYPE) {
        /* a stream socket (a collector's own), not a syslog datagram socket */
        close(fd);
        fd = socket(AF_UNIX, SOCK_STREAM | flags, 0);
        if (fd < 0)
            return -errno;
        s->fd = fd;
        s->stream = true;
        if (connect(fd, (struct sockaddr *)&s->target.addr, s->target.addrlen) == 0)
            return 0;
        e = errno;
    }
    close_fd(s);
    return -e;
}

/* ---- through the ring ---------------------------------------------------------------- */

static void connect_by_ring(logship_t *s, uint64_t now_ms)
{
    int rc = open_socket(s, false);
    if (rc < 0) {
        failed(s, -rc, now_ms);
        return;
    }
    if (s->target.transport != SHIP_TCP) {
        connected(s);
        return;
    }
    ring_connect(s->ring, s->fd, (struct sockaddr *)&s->target.addr, s->target.addrlen,
                 ring_ud(s->op_connect, 0, 0));
    s->connecting = true;
}

void logship_ring_start(logship_t *s, ring_t *ring, unsigned op_send, unsigned op_connect,
                        uint64_t now_ms)
{
    s->ring_mode = true;
    s->ring = ring;
    s->op_send = op_send;
    s->op_connect = op_connect;
    connect_by_ring(s, now_ms);
    /* A unix datagram socket whose reader is behind (its queue holds only
     * net.unix.max_dgram_qlen messages, 10 by default) makes a ring send wait for a
     * wake-up that did not come in our tests once the reader caught up; such a target is
     * served with non-blocking sends at the end of each loop round instead, which stop at
     * the first EAGAIN and go on in the next round. */
    if (s->target.transport == SHIP_UNIX && !s->stream)
        s->ring_mode = false;
}

void logship_ring_flush(logship_t *s, uint64_t now_ms)
{
    if (!s->ring_mode) {
        logship_direct_run(s, now_ms);
        return;
    }
    if (s->inflight || s->connecting)
        return;
    if (s->fd < 0) {
        if (now_ms >= s->retry_at_ms)
            connect_by_ring(s, now_ms);
        return;
    }
    if (!s->fill.len)
        return;
    take_fill(s);
    s->inflight = true;
    if (s->stream) {
        ring_send(s->ring, s->fd, s->busy.data, s->busy.len, ring_ud(s->op_send, 0, 0));
        return;
    }
    uint32_t start = 0;
    for (uint32_t i = 0; i < s->busy_count; i++) {
        ring_send(s->ring, s->fd, s->busy.data + start, s->busy_ends[i] - start,
                  ring_ud(s->op_send, 0, i));
        start = s->busy_ends[i];
    }
    s->dgram_pending = s->busy_count;
}

void logship_ring_complete(logship_t *s, unsigned op, int res, uint64_t now_ms)
{
    if (s->connecting && op == s->op_connect) { /* (statsd has no connect op of its own) */
        s->connecting = false;
        if (res < 0)
            failed(s, -res, now_ms);
        else
            connected(s);
        logship_ring_flush(s, now_ms);
        return;
    }
    if (!s->stream) {
        if (res < 0) {
            s->dgram_failed++;
            s->dgram_err = -res;
        }
        if (--s->dgram_pending)
            return;
        /* a refused datagram (nobody listening) is a dropped line, reported with the
         * others every 10 s rather than once per batch */
        uint32_t lost = s->dgram_failed;
        busy_done(s, s->busy_count - lost, lost);
        logship_ring_flush(s, now_ms);
        return;
    }
    if (res <= 0) {
        busy_done(s, 0, s->busy_count);
        failed(s, res < 0 ? -res : EPIPE, now_ms);
        return;
    }
    s->busy_off += (size_t)res;
    if (s->busy_off < s->busy.len) {
        ring_send(s->ring, s->fd, s->busy.data + s->busy_off, s->busy.len - s->busy_off,
                  ring_ud(s->op_send, 0, 0));
        return;
    }
    busy_done(s, s->busy_count, 0);
    logship_ring_flush(s, now_ms);
}

bool logship_ring_idle(const logship_t *s)
{
    if (!s->ring_mode)
        return (!s->fill.len && !s->busy.len) || s->fd < 0;
    if (s->inflight || s->connecting)
        return false;
    return !s->fill.len || s->fd < 0;
}

/* ---- non-blocking, from the master's poll loop ------------------------------------- */

int logship_direct_fd(const logship_t *s, short *events)
{
    *events = 0;
    if (s->fd < 0)
        return -1;
    if (s->connecting || s->fill.len || s->busy.len)
        *events = POLLOUT;
    return s->fd;
}

void logship_direct_run(logship_t *s, uint64_t now_ms)
{
    if (s->fd < 0) {
        if (now_ms < s->retry_at_ms || (!s->fill.len && !s->busy.len))
            return;
        int rc = open_socket(s, true);
        if (rc < 0) {
            failed(s, -rc, now_ms);
            return;
        }
        if (s->target.transport == SHIP_TCP) {
            if (connect(s->fd, (struct sockaddr *)&s->target.addr, s->target.addrlen) < 0 &&
                errno != EINPROGRESS) {
                failed(s, errno, now_ms);
                return;
            }
            s->connecting = true;
        } else {
            connected(s);
        }
    }
    if (s->connecting) {
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        if (poll(&p, 1, 0) <= 0)
            return;
        int e = 0;
        socklen_t el = sizeof(e);
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e) {
            failed(s, e, now_ms);
            return;
        }
        connected(s);
    }
    for (;;) {
        if (!s->busy.len) {
            if (!s->fill.len)
                return;
            take_fill(s);
        }
        if (s->stream) {
            ssize_t n = send(s->fd, s->busy.data + s->busy_off, s->busy.len - s->busy_off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                busy_done(s, 0, s->busy_count);
                failed(s, errno, now_ms);
                return;
            }
            s->busy_off += (size_t)n;
            if (s->busy_off < s->busy.len)
                return;
            busy_done(s, s->busy_count, 0);
            continue;
        }
        /* datagrams: busy_off counts messages sent here */
        while (s->busy_off < s->busy_count) {
            uint32_t i = (uint32_t)s->busy_off;
            uint32_t start = i ? s->busy_ends[i - 1] : 0;
            ssize_t n = send(s->fd, s->busy.data + start, s->busy_ends[i] - start,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            if (n < 0) {
                s->dgram_failed++;
                s->dgram_err = errno;
            }
            s->busy_off++;
        }
        uint32_t lost = s->dgram_failed;
        busy_done(s, s->busy_count - lost, lost);
    }
}

void logship_report_drops(logship_t *s, uint64_t now_ms)
{
    if (now_ms < s->report_ms + REPORT_EVERY_MS)
        return;
    uint64_t dropped = *s->dropped_out;
    if (dropped > s->dropped_reported) {
        s->report_ms = now_ms;
        uint64_t n = dropped - s->dropped_reported;
        s->dropped_reported = dropped;
        log_warning("log target %s: %llu line%s dropped (the collector is slow or unreachable%s%s)",
                    s->target.spec, (unsigned long long)n, n == 1 ? "" : "s",
                    s->dgram_err ? ": " : "", s->dgram_err ? strerror(s->dgram_err) : "");
    }
}
