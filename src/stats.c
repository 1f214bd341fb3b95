/* Metrics, health, and the per-request bookkeeping behind them and the access log. */
#include "src/stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "src/conn.h"
#include "common/log.h"
#include "common/net.h"
#include "src/worker.h"

/* A statsd packet stays below a common Ethernet MTU (what gunicorn's users' collectors
 * expect); more lines wait for the next one. */
#define STATSD_PACKET 1432
/* At drain, a log target that cannot take the last lines gets this long. */
#define SHIP_DRAIN_MS 2000
/* A request to the stats port must arrive and be answered within this. */
#define CLIENT_TIMEOUT_MS 2000

static const char *const class_names[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

struct stats_worker {
    alog_fmt_t *fmt;           /* NULL when neither an access log nor a log target */
    bool json;                 /* --access-log-json */
    bool file;                 /* the access log file is open */
    alog_writer_t alog;
    alog_resp_t *resp;         /* per connection slot, when the format has o-atoms */
    logship_t ship;
    bool shipping;
    buf_t line;                /* a line rendered for shipping only */
    logship_t statsd;
    bool statsd_on;
    char prefix[128];
    buf_t packet;              /* statsd lines gathering */
    uint32_t inflight;
    uint64_t conn_seq;
    uint64_t drain_ms;         /* when the final flush started */
    int pid;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- configuration ------------------------------------------------------------------- */

/* HOST:PORT (HOST may be [v6]), or HOST alone with default_port. */
static int parse_hostport(const char *spec, const char *setting, int default_port,
                          bool tcp, logship_target_t *t, char *err, size_t errlen)
{
    char url[400];
    const char *colon = strrchr(spec, ':');
    bool has_port = colon && (spec[0] != '[' || colon > strchr(spec, ']'));
    if (has_port || default_port <= 0)
        snprintf(url, sizeof(url), "%s://%s", tcp ? "tcp" : "udp", spec);
    else
        snprintf(url, sizeof(url), "%s://%s:%d", tcp ? "tcp" : "udp", spec, default_port);
    char inner[300];
    if (logship_parse(url, t, inner, sizeof(inner)) < 0) {
        snprintf(err, errlen, "--%s: \"%s\" is not HOST:PORT with a port from 1 to 65535%s%s",
                 setting, spec, strstr(inner, "resolve") ? "; " : "",
                 strstr(inner, "resolve") ? strstr(inner, "cannot") : "");
        return -1;
    }
    snprintf(t->spec, sizeof(t->spec), "%s", spec);
    return 0;
}

int stats_statsd_target(const char *spec, logship_target_t *t, char *err, size_t errlen)
{
    if (strncmp(spec, "unix:", 5) == 0) {
        char inner[300];
        if (logship_parse(spec, t, inner, sizeof(inner)) < 0) {
            snprintf(err, errlen, "--statsd-host: \"%s\" needs a socket path after unix:", spec);
            return -1;
        }
        return 0;
    }
    return parse_hostport(spec, "statsd-host", 8125, false, t, err, errlen);
}

static int check_path(const char *setting, const char *p, char *err, size_t errlen)
{
    if (p[0] != '/' || strpbrk(p, " ?#\t\r\n")) {
        snprintf(err, errlen, "--%s: \"%s\" must be a path starting with / (no spaces, ? or #)",
                 setting, p);
        return -1;
    }
    return 0;
}

int stats_check_config(const tun_config_t *cfg, const char **warning, char *err, size_t errlen)
{
    static char unknown[128];
    *warning = NULL;
    alog_fmt_t *f;
    const char *fmt = cfg->access_log_format ? cfg->access_log_format : ALOG_DEFAULT_FORMAT;
    if (alog_compile(fmt, &f, err, errlen) < 0)
        return -1;
    if (alog_fmt_unknown(f)) {
        snprintf(unknown, sizeof(unknown),
                 "--access-logformat: %s is not an atom; it is written as -", alog_fmt_unknown(f));
        *warning = unknown;
    }
    alog_fmt_free(f);
    if (cfg->accesslog && strcmp(cfg->accesslog, "-") != 0) {
        int fd = open(cfg->accesslog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf(err, errlen, "--access-logfile: cannot open \"%s\": %s", cfg->accesslog,
                     strerror(errno));
            return -1;
        }
        close(fd);
    }
    logship_target_t t;
    if (cfg->log_target && logship_parse(cfg->log_target, &t, err, errlen) < 0)
        return -1;
    const char *ltf = cfg->log_target_format ? cfg->log_target_format : "json";
    if (strcmp(ltf, "json") != 0 && strcmp(ltf, "rfc5424") != 0) {
        snprintf(err, errlen, "--log-target-format: \"%s\" is not json or rfc5424", ltf);
        return -1;
    }
    if (cfg->stats_bind &&
        parse_hostport(cfg->stats_bind, "stats-bind", -1, true, &t, err, errlen) < 0)
        return -1;
    if (cfg->statsd_host && stats_statsd_target(cfg->statsd_host, &t, err, errlen) < 0)
        return -1;
    if (cfg->health_path && check_path("health-path", cfg->health_path, err, errlen) < 0)
        return -1;
    if (cfg->ready_path && check_path("ready-path", cfg->ready_path, err, errlen) < 0)
        return -1;
    if (cfg->health_path && cfg->ready_path && strcmp(cfg->health_path, cfg->ready_path) == 0) {
        snprintf(err, errlen, "--ready-path: \"%s\" is also --health-path; give them two paths",
                 cfg->ready_path);
        return -1;
    }
    return 0;
}

/* ---- in a worker --------------------------------------------------------------------- */

/* Error-log lines of the worker: shipped, and counted for statsd as gunicorn does. */
static void on_log(void *ctx, int level, const char *msg, size_t len)
{
    stats_worker_t *st = ctx;
    if (st->shipping)
        logship_error(&st->ship, level, msg, len);
    if (st->statsd_on && level >= 2) {
        static const char *const names[] = {"", "", "warning", "error", "critical"};
        char line[192];
        int n = snprintf(line, sizeof(line), "%sgunicorn.log.%s:1|c|@1.0\n", st->prefix,
                         names[level > 4 ? 4 : level]);
        buf_append(&st->packet, line, (size_t)n);
    }
}

int stats_worker_init(worker_t *w, char *err, size_t errlen)
{
    const tun_config_t *cfg = w->cfg;
    stats_worker_t *st = uf_calloc(1, sizeof(*st));
    w->stats = st;
    st->pid = (int)getpid();
    st->alog.fd = -1;
    if (cfg->accesslog || cfg->log_target) {
        const char *fmt = cfg->access_log_format ? cfg->access_log_format : ALOG_DEFAULT_FORMAT;
        if (alog_compile(fmt, &st->fmt, err, errlen) < 0)
            return -1;
        if (alog_fmt_out_count(st->fmt))
            st->resp = uf_calloc((size_t)cfg->worker_connections, sizeof(alog_resp_t));
        st->json = cfg->access_log_json;
    }
    if (cfg->accesslog) {
        if (alog_writer_open(&st->alog, cfg->accesslog, &w->ring, ring_ud(OP_ALOG_WRITE, 0, 0),
                             err, errlen) < 0)
            return -1;
        st->alog.lines_out = &w->sb->alog_lines;
        st->alog.dropped_out = &w->sb->alog_dropped;
        st->file = true;
    }
    uint64_t now = w->now_ms;
    if (cfg->log_target) {
        logship_target_t t;
        if (logship_parse(cfg->log_target, &t, err, errlen) < 0)
            return -1;
        bool rfc = cfg->log_target_format && strcmp(cfg->log_target_format, "rfc5424") == 0;
        logship_init(&st->ship, &t, rfc, (int)w->index);
        st->ship.sent_out = &w->sb->ship_sent;
        st->ship.dropped_out = &w->sb->ship_dropped;
        logship_ring_start(&st->ship, &w->ring, OP_SHIP_SEND, OP_SHIP_CONNECT, now);
        st->shipping = true;
    }
    if (cfg->statsd_host) {
        logship_target_t t;
        if (stats_statsd_target(cfg->statsd_host, &t, err, errlen) < 0)
            return -1;
        logship_init(&st->statsd, &t, false, (int)w->index);
        st->statsd.dropped_out = &w->sb->statsd_dropped;
        logship_ring_start(&st->statsd, &w->ring, OP_STATSD_SEND, OP_STATSD_SEND, now);
        const char *p = cfg->statsd_prefix ? cfg->statsd_prefix : "";
        size_t n = strlen(p);
        while (n && p[n - 1] == '.')
            n--;
        snprintf(st->prefix, sizeof(st->prefix), "%.*s%s", (int)n, p, n ? "." : "");
        st->statsd_on = true;
    }
    if (st->shipping || st->statsd_on)
        log_set_sink(on_log, st);
    return 0;
}

void stats_conn_open(worker_t *w, conn_t *c)
{
    c->conn_id = ++w->stats->conn_seq;
    sb_set(&w->sb->connections, w->active);
}

void stats_request_begin(worker_t *w, conn_t *c)
{
    stats_worker_t *st = w->stats;
    c->t_start_ns = now_ns();
    c->status_code = 0;
    c->body_out = 0;
    st->inflight++;
    sb_set(&w->sb->in_flight, st->inflight);
    if (st->resp) {
        /* no header captured yet: a request that fails before its head logs "-" */
        alog_resp_t *r = &st->resp[c->slot];
        r->text.len = 0;
        for (unsigned k = 0; k < ALOG_MAX_OUT; k++)
            r->len[k] = -1;
    }
}

void stats_request_cancel(worker_t *w, conn_t *c)
{
    stats_worker_t *st = w->stats;
    c->t_start_ns = 0;
    st->inflight--;
    sb_set(&w->sb->in_flight, st->inflight);
}

/* The connection's listeners' accept queues: the longest one. */
static uint32_t queue_depth(const worker_t *w)
{
    uint32_t most = 0;
    for (unsigned i = 0; i < w->listener_count; i++) {
        uint32_t len, limit;
        stats_accept_queue(w->listeners[i].fd, &len, &limit);
        if (len > most)
            most = len;
    }
    return most;
}

static bool path_is(const py_request_t *pr, const char *path)
{
    if (!path)
        return false;
    const char *t = pr->target.ptr;
    size_t n = pr->target.len;
    const char *q = memchr(t, '?', n);
    if (q)
        n = (size_t)(q - t);
    return n == strlen(path) && memcmp(t, path, n) == 0;
}

/* With work sharing, a listener whose worker is booting, dead or leaving is stolen from
 * by its siblings; one this worker cannot reach (a slot opened after it was forked) and
 * nobody else serves makes the server not ready. Returns that slot, or -1. */
static int orphan_out_of_reach(const worker_t *w)
{
    const share_t *sh = w->share;
    unsigned n = __atomic_load_n(&sh->table->nslots, __ATOMIC_RELAXED);
    for (unsigned k = 0; k < n && k < SHARE_MAX_SLOTS; k++)
        if (__atomic_load_n(&sh->table->orphan[k], __ATOMIC_RELAXED) &&
            sh->listen_fds[k * sh->nbinds] < 0)
            return (int)k;
    return -1;
}

static bool method_is(const py_request_t *pr, const char *method)
{
    size_t n = strlen(method);
    return pr->method.len == n && memcmp(pr->method.ptr, method, n) == 0;
}

bool stats_probe_refuses(const worker_t *w, const py_request_t *pr)
{
    return (path_is(pr, w->cfg->health_path) || path_is(pr, w->cfg->ready_path)) &&
           !method_is(pr, "GET") && !method_is(pr, "HEAD");
}

bool stats_probe(worker_t *w, conn_t *c, const py_request_t *pr)
{
    const tun_config_t *cfg = w->cfg;
    bool health = path_is(pr, cfg->health_path), ready = !health && path_is(pr, cfg->ready_path);
    if (!health && !ready)
        return false;
    bool head = method_is(pr, "HEAD");
    int status = 200;
    char body[96];
    snprintf(body, sizeof(body), health ? "ok\n" : "ready\n");
    if (!head && !method_is(pr, "GET")) {
        status = 405;
        snprintf(body, sizeof(body), "use GET\n");
    } else if (ready) {
        uint32_t inflight = w->stats->inflight ? w->stats->inflight - 1 : 0;   /* not us */
        int thr = cfg->ready_saturation;
        uint32_t depth = thr > 0 ? queue_depth(w) : 0;
        if (w->draining) {
            status = 503;
            snprintf(body, sizeof(body), "draining\n");
        } else if (!w->app) {
            status = 503;
            snprintf(body, sizeof(body), "the application is not loaded\n");
        } else if (w->share && orphan_out_of_reach(w) >= 0) {
            status = 503;
            snprintf(body, sizeof(body), "worker %d's listener has no worker accepting from it\n",
                     orphan_out_of_reach(w));
        } else if (thr > 0 && (inflight > (uint32_t)thr || depth > (uint32_t)thr)) {
            status = 503;
            snprintf(body, sizeof(body), "saturated: %u in flight, %u in the accept queue\n",
                     inflight, depth);
        }
    }
    bool keep = c->req.keep_alive && !w->draining && !c->peer_closed && cfg->keepalive > 0;
    if (!keep)
        c->close_after = true;
    char head_text[256];
    size_t blen = strlen(body);
    int n = snprintf(head_text, sizeof(head_text),
                     "HTTP/1.%d %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s\r\n",
                     c->req.version_minor ? 1 : 0, status,
                     status == 200 ? "OK" : status == 405 ? "Method Not Allowed"
                                                          : "Service Unavailable",
                     blen, status == 405 ? "Allow: GET, HEAD\r\n" : "",
                     !keep ? "Connection: close\r\n"
                           : c->req.version_minor == 0 ? "Connection: keep-alive\r\n" : "");
    buf_append(&c->out, head_text, (size_t)n);
    if (!head) {
        buf_append(&c->out, body, blen);
        c->body_out = blen;
    }
    c->status_code = status;
    return true;
}

void stats_response_head(worker_t *w, conn_t *c, const py_reply_t *reply)
{
    c->status_code = reply->status_code;
    stats_worker_t *st = w->stats;
    if (st->resp)
        alog_capture(st->fmt, &st->resp[c->slot], reply->headers, reply->header_count);
}

/* The peer, when build_request never looked it up (a request refused by the parser). */
static void peer_text(const conn_t *c, char *host, size_t hostlen, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    host[0] = 0;
    *port = 0;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    net_addr_host((const struct sockaddr *)&ss, host, hostlen, port);
}

static void write_line(worker_t *w, conn_t *c, uint64_t us)
{
    stats_worker_t *st = w->stats;
    char host[INET6_ADDRSTRLEN];
    int port = c->peer_port;
    const char *addr = c->peer_host;
    if (!c->have_peer) {
        peer_text(c, host, sizeof(host), &port);
        addr = host;
    }
    const worker_listener_t *l = &w->listeners[c->listener];
    alog_rec_t rec = {
        .base = c->in.data,
        .base_len = c->in.len,
        .req = &c->req,
        .remote_addr = addr,
        .remote_port = port,
        .server_name = l->host,
        .server_port = l->port,
        .script_name = w->conn_shared.root_path,
        .script_name_len = w->conn_shared.root_path_len,
        .status = c->status_code,
        .body_bytes = c->body_out,
        .duration_us = us,
        .pid = st->pid,
        .worker = w->index,
        .conn_id = c->conn_id,
        .resp = st->resp ? &st->resp[c->slot] : NULL,
    };
    clock_gettime(CLOCK_REALTIME, &rec.wall);
    const char *text = NULL, *json = NULL;
    size_t tlen = 0, jlen = 0;
    if (st->file) {
        buf_t *b = alog_writer_line(&st->alog, w->now_ms);
        if (b) {
            size_t at = b->len;
            alog_render(st->fmt, st->json, &rec, b);
            alog_writer_commit(&st->alog);
            /* b may move when it grows: taken after rendering, used before the next line */
            if (st->json)
                json = b->data + at, jlen = b->len - at - 1;
            else
                text = b->data + at, tlen = b->len - at - 1;
        }
    }
    if (!st->shipping)
        return;
    bool want_json = logship_wants_json(&st->ship);
    if (want_json ? !json : !text) {
        st->line.len = 0;
        alog_render(st->fmt, want_json, &rec, &st->line);
        if (want_json)
            json = st->line.data, jlen = st->line.len - 1;
        else
            text = st->line.data, tlen = st->line.len - 1;
    }
    logship_access(&st->ship, json, jlen, text, tlen);
}

static void statsd_request(stats_worker_t *st, int status, uint64_t us)
{
    char lines[512];
    int n = snprintf(lines, sizeof(lines),
                     "%sgunicorn.requests:1|c|@1.0\n%sgunicorn.request.duration:%llu.%03llu|ms\n",
                     st->prefix, st->prefix, (unsigned long long)(us / 1000),
                     (unsigned long long)(us % 1000));
    if (status)
        n += snprintf(lines + n, sizeof(lines) - (size_t)n,
                      "%sgunicorn.request.status.%d:1|c|@1.0\n", st->prefix, status);
    if (st->packet.len + (size_t)n > STATSD_PACKET) {
        logship_raw(&st->statsd, st->packet.data, st->packet.len - 1);
        st->packet.len = 0;
    }
    buf_append(&st->packet, lines, (size_t)n);
}

void stats_request_done(worker_t *w, conn_t *c)
{
    stats_worker_t *st = w->stats;
    sb_slot_t *sb = w->sb;
    uint64_t us = 0;
    if (c->t_start_ns) {
        us = (now_ns() - c->t_start_ns) / 1000;
        st->inflight--;
        sb_set(&sb->in_flight, st->inflight);
    }
    int status = c->status_code;
    unsigned cls = status >= 100 && status < 600 ? (unsigned)status / 100 : 0;
    sb_add64(&sb->responses[cls], 1);
    sb_add64(&sb->latency[sb_latency_bucket(us)], 1);
    sb_add64(&sb->latency_us_sum, us);
    sb_add64(&sb->bytes_out, c->bytes_out);
    if (st->fmt)
        write_line(w, c, us);
    if (st->statsd_on)
        statsd_request(st, status, us);
    c->t_start_ns = 0;
    c->status_code = 0;
    c->body_out = c->bytes_out = 0;
}

void stats_complete(worker_t *w, unsigned op, int res)
{
    stats_worker_t *st = w->stats;
    switch (op) {
    case OP_ALOG_WRITE:
        alog_writer_complete(&st->alog, res, w->now_ms);
        break;
    case OP_SHIP_SEND:
    case OP_SHIP_CONNECT:
        logship_ring_complete(&st->ship, op, res, w->now_ms);
        break;
    case OP_STATSD_SEND:
        logship_ring_complete(&st->statsd, op, res, w->now_ms);
        break;
    default:
        break;
    }
}

int stats_timeout_ms(worker_t *w)
{
    stats_worker_t *st = w->stats;
    int t = INT32_MAX;
    if (st->file)
        t = alog_writer_timeout_ms(&st->alog, w->now_ms);
    /* a unix datagram target that said EAGAIN: try again soon */
    if (st->shipping && !st->ship.ring_mode && (st->ship.fill.len || st->ship.busy.len) &&
        t > 20)
        t = 20;
    /* a log target waiting to reconnect */
    if (st->shipping && st->ship.fd < 0 && !st->ship.connecting && st->ship.fill.len) {
        int64_t left = (int64_t)st->ship.retry_at_ms - (int64_t)w->now_ms;
        int r = left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
        if (r < t)
            t = r;
    }
    return t;
}

void stats_tick(worker_t *w)
{
    stats_worker_t *st = w->stats;
    if (!st)
        return;
    uint64_t now = w->now_ms;
    if (st->file)
        alog_writer_flush(&st->alog, now, false);
    if (st->shipping) {
        logship_ring_flush(&st->ship, now);
        logship_report_drops(&st->ship, now);
    }
    if (st->statsd_on) {
        if (st->packet.len) {
            logship_raw(&st->statsd, st->packet.data, st->packet.len - 1);
            st->packet.len = 0;
        }
        logship_ring_flush(&st->statsd, now);
    }
    sb_set(&w->sb->connections, w->active);
}

bool stats_drained(worker_t *w)
{
    stats_worker_t *st = w->stats;
    if (!st)
        return true;
    uint64_t now = w->now_ms;
    if (!st->drain_ms)
        st->drain_ms = now ? now : 1;
    stats_tick(w);
    bool done = true;
    if (st->file) {
        alog_writer_flush(&st->alog, now, true);
        done = alog_writer_idle(&st->alog);
    }
    bool late = now >= st->drain_ms + SHIP_DRAIN_MS;
    if (st->shipping && !late && !logship_ring_idle(&st->ship))
        done = false;
    if (st->statsd_on && !late && !logship_ring_idle(&st->statsd))
        done = false;
    return done;
}

void stats_reopen(worker_t *w)
{
    if (w->stats && w->stats->file)
        alog_writer_reopen(&w->stats->alog);
}

void stats_worker_exit(worker_t *w)
{
    stats_worker_t *st = w->stats;
    if (!st)
        return;
    log_set_sink(NULL, NULL);
    if (st->file)
        alog_writer_close(&st->alog);
    if (st->shipping) {
        uint64_t lost = st->ship.fill.len ? st->ship.fill_count : 0;
        if (st->ship.inflight)
            lost += st->ship.busy_count;
        sb_add64(st->ship.dropped_out, lost);
    }
}

/* ---- in the master: reading the scoreboard ------------------------------------------- */

void stats_fold(stats_totals_t *t, const sb_slot_t *s)
{
    for (int i = 0; i < 6; i++)
        t->responses[i] += sb_get64(&s->responses[i]);
    for (int i = 0; i < SB_LATENCY_BUCKETS; i++)
        t->latency[i] += sb_get64(&s->latency[i]);
    t->latency_us_sum += sb_get64(&s->latency_us_sum);
    t->bytes_in += sb_get64(&s->bytes_in);
    t->bytes_out += sb_get64(&s->bytes_out);
    t->alog_lines += sb_get64(&s->alog_lines);
    t->alog_dropped += sb_get64(&s->alog_dropped);
    t->ship_sent += sb_get64(&s->ship_sent);
    t->ship_dropped += sb_get64(&s->ship_dropped);
    t->statsd_dropped += sb_get64(&s->statsd_dropped);
}

void stats_accept_queue(int fd, uint32_t *length, uint32_t *limit)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    *length = *limit = 0;
    if (fd >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
        ti.tcpi_state == TCP_LISTEN) {
        *length = ti.tcpi_unacked;
        *limit = ti.tcpi_sacked;
    }
}

/* Everything counted so far: the retired totals plus every live worker. */
static stats_totals_t sum_all(const stats_view_t *v)
{
    stats_totals_t t = *v->retired;
    for (unsigned i = 0; i < v->nworkers; i++)
        stats_fold(&t, v->workers[i].sb);
    return t;
}

static const char *state_name(uint32_t s)
{
    switch (s) {
    case SB_BOOTING: return "booting";
    case SB_READY: return "ready";
    case SB_DRAINING: return "draining";
    default: return "exited";
    }
}

static void put_fmt(buf_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(buf_t *out, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_append(out, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void family(buf_t *out, const char *name, const char *type, const char *help)
{
    put_fmt(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void listener_label(const worker_listener_t *l, char *out, size_t n)
{
    bool v6 = strchr(l->host, ':') != NULL;
    snprintf(out, n, "%s%s%s:%d", v6 ? "[" : "", l->host, v6 ? "]" : "", l->port);
}

/* A family with one sample per worker: the scoreboard field at `field`, a uint32_t, or a
 * uint64_t when `wide`. */
static void worker_series(buf_t *out, const stats_view_t *v, const char *name, const char *type,
                          const char *help, size_t field, bool wide)
{
    family(out, name, type, help);
    for (unsigned i = 0; i < v->nworkers; i++) {
        const char *at = (const char *)v->workers[i].sb + field;
        unsigned long long value =
            wide ? sb_get64((const uint64_t *)at) : sb_get((const uint32_t *)at);
        put_fmt(out, "%s{worker=\"%u\",pid=\"%d\"} %llu\n", name, v->workers[i].slot,
                v->workers[i].pid, value);
    }
}

static void worker_gauge(buf_t *out, const stats_view_t *v, const char *name, const char *help,
                         size_t field)
{
    worker_series(out, v, name, "gauge", help, field, false);
}

/* The accept queues' lengths, or their limits, one sample per listener. */
static void accept_queue_family(buf_t *out, const stats_view_t *v, bool limits)
{
    const char *name = limits ? "uwsgi_fast_accept_queue_limit" : "uwsgi_fast_accept_queue_length";
    family(out, name, "gauge",
           limits ? "Length at which a listener's accept queue is full (the backlog)."
                  : "Connections waiting in a listener's accept queue.");
    for (unsigned s = 0; s < v->nslots; s++)
        for (unsigned b = 0; b < v->slots[s].nlisteners; b++) {
            char label[96];
            uint32_t len, limit;
            listener_label(&v->slots[s].listeners[b], label, sizeof(label));
            stats_accept_queue(v->slots[s].listeners[b].fd, &len, &limit);
            put_fmt(out, "%s{worker=\"%u\",listener=\"%s\"} %u\n", name, v->slots[s].index,
                    label, limits ? limit : len);
        }
}

void stats_render_prometheus(const stats_view_t *v, buf_t *out)
{
    stats_totals_t t = sum_all(v);
    uint64_t count = 0;
    for (int i = 0; i < SB_LATENCY_BUCKETS; i++)
        count += t.latency[i];

    family(out, "uwsgi_fast_info", "gauge", "Version of the running server.");
    put_fmt(out, "uwsgi_fast_info{version=\"%s\"} 1\n", UF_VERSION);
    family(out, "uwsgi_fast_start_time_seconds", "gauge",
           "When the master started, in seconds since the epoch.");
    put_fmt(out, "uwsgi_fast_start_time_seconds %.3f\n", v->start_time);

    family(out, "uwsgi_fast_requests_total", "counter",
           "Requests answered, including responses cut off by the client going away.");
    put_fmt(out, "uwsgi_fast_requests_total %llu\n", (unsigned long long)count);
    family(out, "uwsgi_fast_responses_total", "counter",
           "Responses by status class; none: the connection closed before a status was sent.");
    for (int i = 1; i < 6; i++)
        put_fmt(out, "uwsgi_fast_responses_total{code=\"%s\"} %llu\n", class_names[i],
                (unsigned long long)t.responses[i]);
    put_fmt(out, "uwsgi_fast_responses_total{code=\"none\"} %llu\n",
            (unsigned long long)t.responses[0]);

    family(out, "uwsgi_fast_request_duration_seconds", "histogram",
           "Time from handing the request to the application to the last byte sent.");
    uint64_t cum = 0;
    for (int i = 0; i < SB_LATENCY_BUCKETS; i++) {
        cum += t.latency[i];
        if (i < SB_LATENCY_BUCKETS - 1)
            put_fmt(out, "uwsgi_fast_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                    sb_latency_le_us[i] / 1e6, (unsigned long long)cum);
        else
            put_fmt(out, "uwsgi_fast_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                    (unsigned long long)cum);
    }
    put_fmt(out, "uwsgi_fast_request_duration_seconds_sum %.6f\n", t.latency_us_sum / 1e6);
    put_fmt(out, "uwsgi_fast_request_duration_seconds_count %llu\n", (unsigned long long)count);

    family(out, "uwsgi_fast_received_bytes_total", "counter", "Bytes received from clients.");
    put_fmt(out, "uwsgi_fast_received_bytes_total %llu\n", (unsigned long long)t.bytes_in);
    family(out, "uwsgi_fast_sent_bytes_total", "counter", "Bytes sent to clients.");
    put_fmt(out, "uwsgi_fast_sent_bytes_total %llu\n", (unsigned long long)t.bytes_out);

    unsigned states[4] = {0};
    for (unsigned i = 0; i < v->nworkers; i++)
        states[sb_get(&v->workers[i].sb->state) & 3]++;
    family(out, "uwsgi_fast_workers", "gauge", "Worker processes by state.");
    for (unsigned s = SB_BOOTING; s <= SB_DRAINING; s++)
        put_fmt(out, "uwsgi_fast_workers{state=\"%s\"} %u\n", state_name(s), states[s]);

    worker_gauge(out, v, "uwsgi_fast_worker_connections", "Client connections a worker holds open.",
                 offsetof(sb_slot_t, connections));
    worker_gauge(out, v, "uwsgi_fast_worker_requests_in_flight",
                 "Requests a worker has handed to the application and not finished answering.",
                 offsetof(sb_slot_t, in_flight));
    worker_gauge(out, v, "uwsgi_fast_worker_threads",
                 "Application threads of a worker (--threads; 0 when its loop calls the "
                 "application).",
                 offsetof(sb_slot_t, threads));
    worker_gauge(out, v, "uwsgi_fast_worker_threads_busy",
                 "Application threads working on a request now.", offsetof(sb_slot_t, threads_busy));
    worker_gauge(out, v, "uwsgi_fast_worker_app_queue",
                 "Complete requests waiting for a free application thread.",
                 offsetof(sb_slot_t, app_queue));
    family(out, "uwsgi_fast_shared_queue", "gauge",
           "Complete requests waiting for whichever worker has an application thread free first "
           "(work sharing: they waited behind long requests, or their worker is leaving).");
    put_fmt(out, "uwsgi_fast_shared_queue %d\n", v->shared_queue > 0 ? (int)v->shared_queue : 0);
    worker_series(out, v, "uwsgi_fast_worker_handed_off_total", "counter",
                  "Requests a worker passed, with their connection, to a sibling or the shared "
                  "queue because it could not start them soon (work sharing).",
                  offsetof(sb_slot_t, handed_off), true);
    worker_series(out, v, "uwsgi_fast_worker_taken_over_total", "counter",
                  "Requests a worker took over from a sibling or the shared queue.",
                  offsetof(sb_slot_t, taken_over), true);
    worker_series(out, v, "uwsgi_fast_worker_requests_total", "counter",
                  "Requests served by each worker process since it started.",
                  offsetof(sb_slot_t, requests), true);
    worker_series(out, v, "uwsgi_fast_worker_rss_bytes", "gauge", "Resident memory of each worker.",
                  offsetof(sb_slot_t, rss_bytes), true);

    accept_queue_family(out, v, false);
    accept_queue_family(out, v, true);

    family(out, "uwsgi_fast_worker_recycles_total", "counter",
           "Workers that left, by why: replaced (reload, limits, memory), scaled down, killed "
           "for a timeout, or died.");
    for (unsigned r = 1; r < STATS_RECYCLE_REASONS; r++)
        put_fmt(out, "uwsgi_fast_worker_recycles_total{reason=\"%s\"} %llu\n",
                v->recycle_names[r], (unsigned long long)v->recycles[r]);

    family(out, "uwsgi_fast_access_log_lines_total", "counter", "Access log lines written.");
    put_fmt(out, "uwsgi_fast_access_log_lines_total %llu\n", (unsigned long long)t.alog_lines);
    family(out, "uwsgi_fast_access_log_dropped_total", "counter",
           "Access log lines dropped because the file could not keep up.");
    put_fmt(out, "uwsgi_fast_access_log_dropped_total %llu\n", (unsigned long long)t.alog_dropped);
    family(out, "uwsgi_fast_log_target_sent_total", "counter", "Lines sent to --log-target.");
    put_fmt(out, "uwsgi_fast_log_target_sent_total %llu\n",
            (unsigned long long)(t.ship_sent + v->master_ship_sent));
    family(out, "uwsgi_fast_log_target_dropped_total", "counter",
           "Lines --log-target did not take in time (slow, stalled or unreachable collector).");
    put_fmt(out, "uwsgi_fast_log_target_dropped_total %llu\n",
            (unsigned long long)(t.ship_dropped + v->master_ship_dropped));
    family(out, "uwsgi_fast_statsd_dropped_total", "counter", "statsd packets dropped.");
    put_fmt(out, "uwsgi_fast_statsd_dropped_total %llu\n",
            (unsigned long long)(t.statsd_dropped + v->master_statsd_dropped));

    family(out, "uwsgi_fast_memory_budget_bytes", "gauge",
           "Memory the workers may use together (cgroup limit or MemTotal, minus the reserve).");
    put_fmt(out, "uwsgi_fast_memory_budget_bytes %llu\n", (unsigned long long)v->budget_bytes);
    family(out, "uwsgi_fast_worker_footprint_bytes", "gauge",
           "Measured memory (PSS) of a freshly booted worker; 0 until measured.");
    put_fmt(out, "uwsgi_fast_worker_footprint_bytes %llu\n", (unsigned long long)v->footprint_bytes);
}

void stats_render_json(const stats_view_t *v, buf_t *out)
{
    stats_totals_t t = sum_all(v);
    uint64_t count = 0;
    for (int i = 0; i < SB_LATENCY_BUCKETS; i++)
        count += t.latency[i];
    char why[128];
    bool ready = stats_ready(v, why, sizeof(why));
    put_fmt(out, "{\"version\":\"%s\",\"pid\":%d,\"start_time\":%.3f,\"stopping\":%s,"
                 "\"ready\":%s,",
            UF_VERSION, v->pid, v->start_time, v->stopping ? "true" : "false",
            ready ? "true" : "false");
    put_fmt(out, "\"requests\":%llu,\"shared_queue\":%d,\"responses\":{", (unsigned long long)count,
            v->shared_queue > 0 ? (int)v->shared_queue : 0);
    for (int i = 1; i < 6; i++)
        put_fmt(out, "\"%s\":%llu,", class_names[i], (unsigned long long)t.responses[i]);
    put_fmt(out, "\"none\":%llu},", (unsigned long long)t.responses[0]);
    buf_append_str(out, "\"latency\":{\"buckets\":[");
    for (int i = 0; i < SB_LATENCY_BUCKETS; i++) {
        if (i < SB_LATENCY_BUCKETS - 1)
            put_fmt(out, "%s{\"le\":%g,\"count\":%llu}", i ? "," : "", sb_latency_le_us[i] / 1e6,
                    (unsigned long long)t.latency[i]);
        else
            put_fmt(out, ",{\"le\":null,\"count\":%llu}", (unsigned long long)t.latency[i]);
    }
    put_fmt(out, "],\"sum_seconds\":%.6f},", t.latency_us_sum / 1e6);
    put_fmt(out, "\"bytes_in\":%llu,\"bytes_out\":%llu,", (unsigned long long)t.bytes_in,
            (unsigned long long)t.bytes_out);
    put_fmt(out, "\"access_log\":{\"lines\":%llu,\"dropped\":%llu},",
            (unsigned long long)t.alog_lines, (unsigned long long)t.alog_dropped);
    put_fmt(out, "\"log_target\":{\"sent\":%llu,\"dropped\":%llu},",
            (unsigned long long)(t.ship_sent + v->master_ship_sent),
            (unsigned long long)(t.ship_dropped + v->master_ship_dropped));
    buf_append_str(out, "\"recycles\":{");
    for (unsigned r = 1; r < STATS_RECYCLE_REASONS; r++)
        put_fmt(out, "%s\"%s\":%llu", r > 1 ? "," : "", v->recycle_names[r],
                (unsigned long long)v->recycles[r]);
    put_fmt(out, "},\"memory\":{\"budget_bytes\":%llu,\"footprint_bytes\":%llu},",
            (unsigned long long)v->budget_bytes, (unsigned long long)v->footprint_bytes);
    buf_append_str(out, "\"workers\":[");
    for (unsigned i = 0; i < v->nworkers; i++) {
        const stats_worker_view_t *wv = &v->workers[i];
        const sb_slot_t *s = wv->sb;
        put_fmt(out, "%s{\"worker\":%u,\"pid\":%d,\"generation\":%u,\"state\":\"%s\","
                     "\"requests\":%llu,\"in_flight\":%u,\"connections\":%u,\"rss_bytes\":%llu,"
                     "\"threads\":%u,\"threads_busy\":%u,\"app_queue\":%u,"
                     "\"accept_queue\":[",
                i ? "," : "", wv->slot, wv->pid, sb_get(&s->generation),
                state_name(sb_get(&s->state)), (unsigned long long)sb_get64(&s->requests),
                sb_get(&s->in_flight), sb_get(&s->connections),
                (unsigned long long)sb_get64(&s->rss_bytes), sb_get(&s->threads),
                sb_get(&s->threads_busy), sb_get(&s->app_queue));
        for (unsigned k = 0; k < v->nslots; k++) {
            if (v->slots[k].index != wv->slot)
                continue;
            for (unsigned b = 0; b < v->slots[k].nlisteners; b++) {
                char name[96];
                uint32_t len, limit;
                listener_label(&v->slots[k].listeners[b], name, sizeof(name));
                stats_accept_queue(v->slots[k].listeners[b].fd, &len, &limit);
                put_fmt(out, "%s{\"listener\":\"%s\",\"length\":%u,\"limit\":%u}", b ? "," : "",
                        name, len, limit);
            }
            put_fmt(out, "],\"cpu\":%d}", v->slots[k].cpu);
            break;
        }
        if (out->len && out->data[out->len - 1] == '[')
            buf_append_str(out, "],\"cpu\":-1}");
    }
    buf_append_str(out, "]}\n");
}

bool stats_ready(const stats_view_t *v, char *why, size_t whylen)
{
    if (v->stopping) {
        snprintf(why, whylen, "stopping");
        return false;
    }
    unsigned ready = 0;
    int thr = v->cfg->ready_saturation;
    for (unsigned i = 0; i < v->nworkers; i++) {
        const sb_slot_t *s = v->workers[i].sb;
        if (sb_get(&s->state) != SB_READY)
            continue;
        ready++;
        if (thr > 0 && sb_get(&s->in_flight) > (uint32_t)thr) {
            snprintf(why, whylen, "saturated: worker %u has %u requests in flight",
                     v->workers[i].slot, sb_get(&s->in_flight));
            return false;
        }
    }
    if (!ready) {
        snprintf(why, whylen, "no worker has loaded the application yet");
        return false;
    }
    /* every listener needs a worker accepting from it: its own, or (work sharing) any
     * ready sibling, which steals from the listeners of booting, dead or leaving workers */
    for (unsigned k = 0; !v->sharing && k < v->nslots; k++) {
        if (v->slots[k].leaving)
            continue;
        bool served = false;
        for (unsigned i = 0; i < v->nworkers && !served; i++)
            served = v->workers[i].slot == v->slots[k].index &&
                     sb_get(&v->workers[i].sb->state) == SB_READY;
        if (!served) {
            snprintf(why, whylen, "worker %u's listener has no worker accepting from it",
                     v->slots[k].index);
            return false;
        }
    }
    for (unsigned k = 0; thr > 0 && k < v->nslots; k++)
        for (unsigned b = 0; b < v->slots[k].nlisteners; b++) {
            uint32_t len, limit;
            stats_accept_queue(v->slots[k].listeners[b].fd, &len, &limit);
            if (len > (uint32_t)thr) {
                snprintf(why, whylen, "saturated: %u connections wait in worker %u's accept queue",
                         len, v->slots[k].index);
                return false;
            }
        }
    snprintf(why, whylen, "ready");
    return true;
}

/* ---- the stats server (master) ------------------------------------------------------- */

int stats_server_open(stats_server_t *srv, const char *spec, stats_view_fn *fill, void *ctx,
                      char *err, size_t errlen)
{
    memset(srv, 0, sizeof(*srv));
    srv->fd = -1;
    for (int i = 0; i < STATS_MAX_CLIENTS; i++)
        srv->clients[i].fd = -1;
    srv->fill = fill;
    srv->ctx = ctx;
    logship_target_t t;
    if (parse_hostport(spec, "stats-bind", -1, true, &t, err, errlen) < 0)
        return -1;
    int fd = socket(t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&t.addr, t.addrlen) < 0 || listen(fd, 64) < 0) {
        snprintf(err, errlen, "--stats-bind: cannot listen on %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    srv->fd = fd;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        net_addr_text((const struct sockaddr *)&ss, srv->addr, sizeof(srv->addr));
    return 0;
}

unsigned stats_server_pollfds(const stats_server_t *srv, struct pollfd *pfd, unsigned max)
{
    unsigned n = 0;
    if (srv->fd < 0)
        return 0;
    if (n < max)
        pfd[n++] = (struct pollfd){.fd = srv->fd, .events = POLLIN};
    for (int i = 0; i < STATS_MAX_CLIENTS && n < max; i++) {
        const stats_client_t *cl = &srv->clients[i];
        if (cl->fd >= 0)
            pfd[n++] = (struct pollfd){.fd = cl->fd, .events = cl->out.len ? POLLOUT : POLLIN};
    }
    return n;
}

static void client_close(stats_client_t *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
    cl->in_len = 0;
    buf_free(&cl->out);
    cl->out_off = 0;
}

static void respond(stats_server_t *srv, stats_client_t *cl, int status, const char *type,
                    const buf_t *body, bool head)
{
    char h[256];
    int n = snprintf(h, sizeof(h),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status, status == 200 ? "OK" : status == 404 ? "Not Found"
                                                  : status == 405 ? "Method Not Allowed"
                                                  : status == 503 ? "Service Unavailable"
                                                                  : "Bad Request",
                     type, body->len);
    buf_append(&cl->out, h, (size_t)n);
    if (!head)
        buf_append(&cl->out, body->data, body->len);
}

static void answer(stats_server_t *srv, stats_client_t *cl)
{
    buf_t body = {0};
    char *sp = memchr(cl->in, ' ', cl->in_len);
    char *sp2 = sp ? memchr(sp + 1, ' ', cl->in_len - (size_t)(sp + 1 - cl->in)) : NULL;
    if (!sp || !sp2) {
        buf_append_str(&body, "bad request\n");
        respond(srv, cl, 400, "text/plain; charset=utf-8", &body, false);
        buf_free(&body);
        return;
    }
    size_t mlen = (size_t)(sp - cl->in);
    bool head = mlen == 4 && memcmp(cl->in, "HEAD", 4) == 0;
    bool get = mlen == 3 && memcmp(cl->in, "GET", 3) == 0;
    char *path = sp + 1;
    size_t plen = (size_t)(sp2 - path);
    char *q = memchr(path, '?', plen);
    if (q)
        plen = (size_t)(q - path);
#define PATH_IS(s) (plen == strlen(s) && memcmp(path, s, plen) == 0)
    if (!get && !head) {
        buf_append_str(&body, "use GET\n");
        respond(srv, cl, 405, "text/plain; charset=utf-8", &body, false);
        buf_free(&body);
        return;
    }
    stats_view_t v;
    memset(&v, 0, sizeof(v));
    srv->fill(srv->ctx, &v);
    const tun_config_t *cfg = v.cfg;
    if (PATH_IS("/metrics")) {
        stats_render_prometheus(&v, &body);
        respond(srv, cl, 200, "text/plain; version=0.0.4; charset=utf-8", &body, head);
    } else if (PATH_IS("/stats")) {
        stats_render_json(&v, &body);
        respond(srv, cl, 200, "application/json", &body, head);
    } else if (PATH_IS("/health") || (cfg->health_path && PATH_IS(cfg->health_path))) {
        buf_append_str(&body, "ok\n");
        respond(srv, cl, 200, "text/plain; charset=utf-8", &body, head);
    } else if (PATH_IS("/ready") || (cfg->ready_path && PATH_IS(cfg->ready_path))) {
        char why[160];
        bool ok = stats_ready(&v, why, sizeof(why));
        buf_append_str(&body, why);
        buf_append(&body, "\n", 1);
        respond(srv, cl, ok ? 200 : 503, "text/plain; charset=utf-8", &body, head);
    } else {
        buf_append_str(&body, "not found: try /metrics, /stats, /health or /ready\n");
        respond(srv, cl, 404, "text/plain; charset=utf-8", &body, head);
    }
#undef PATH_IS
    buf_free(&body);
}

void stats_server_run(stats_server_t *srv, uint64_t now_ms)
{
    if (srv->fd < 0)
        return;
    for (;;) {
        int fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break;
        stats_client_t *cl = NULL;
        for (int i = 0; i < STATS_MAX_CLIENTS && !cl; i++)
            if (srv->clients[i].fd < 0)
                cl = &srv->clients[i];
        if (!cl) {
            close(fd);   /* more scrapers at once than anyone needs */
            continue;
        }
        cl->fd = fd;
        cl->in_len = 0;
        cl->out_off = 0;
        cl->deadline_ms = now_ms + CLIENT_TIMEOUT_MS;
    }
    for (int i = 0; i < STATS_MAX_CLIENTS; i++) {
        stats_client_t *cl = &srv->clients[i];
        if (cl->fd < 0)
            continue;
        if (now_ms > cl->deadline_ms) {
            client_close(cl);
            continue;
        }
        if (!cl->out.len) {
            ssize_t n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - 1 - cl->in_len, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                client_close(cl);
                continue;
            }
            if (n > 0)
                cl->in_len += (size_t)n;
            cl->in[cl->in_len] = 0;
            if (!strstr(cl->in, "\r\n\r\n") && !strstr(cl->in, "\n\n")) {
                if (cl->in_len >= sizeof(cl->in) - 1)
                    client_close(cl);   /* a request head this large is not a scrape */
                continue;
            }
            answer(srv, cl);
        }
        while (cl->out_off < cl->out.len) {
            ssize_t n = send(cl->fd, cl->out.data + cl->out_off, cl->out.len - cl->out_off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0) {
                if (errno != EAGAIN && errno != EINTR)
                    client_close(cl);
                break;
            }
            cl->out_off += (size_t)n;
        }
        if (cl->fd >= 0 && cl->out.len && cl->out_off >= cl->out.len)
            client_close(cl);
    }
}

void stats_server_close(stats_server_t *srv)
{
    for (int i = 0; i < STATS_MAX_CLIENTS; i++)
        if (srv->clients[i].fd >= 0)
            client_close(&srv->clients[i]);
    if (srv->fd >= 0)
        close(srv->fd);
    srv->fd = -1;
}
