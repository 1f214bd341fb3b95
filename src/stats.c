/* A worker's per-request bookkeeping (scoreboard counters, access log, statsd, health
 * probes), the observability settings' checks, and the log target and statsd setup
 * shared by the master and the workers. */
#include "src/wsconn.h"
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

#include "src/accesslog_writer.h"
#include "src/conn.h"
#include "common/probes.h"
#include "common/log.h"
#include "common/net.h"
#include "src/syslogcfg.h"
#include "src/worker.h"

/* A statsd packet stays below a common Ethernet MTU (what gunicorn's users' collectors
 * expect); more lines wait for the next one. */
#define STATSD_PACKET 1432
/* At drain, a log target that cannot take the last lines gets this long. */
#define SHIP_DRAIN_MS 2000
struct stats_worker {
    alog_fmt_t *fmt;         /* NULL when neither an access log nor a log target */
    bool json;               /* --access-log-json */
    unsigned ship_line_keys; /* LOGSHIP_LINE_HAS_*: head keys the access JSON has itself */
    bool file;               /* the access log file is open */
    alog_writer_t alog;
    alog_resp_t *resp;   /* per connection slot, when the format has o-atoms */
    stats_outputs_t out; /* --log-target and --statsd-host */
    buf_t line;          /* a line rendered for shipping only */
    uint32_t inflight;
    uint64_t conn_seq;
    uint64_t drain_ms; /* when the final flush started */
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
static int parse_hostport(const char *spec, const char *setting, int default_port, bool tcp,
                          logship_target_t *t, char *err, size_t errlen)
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

int stats_dogstatsd_tags(const char *spec, char *out, size_t outlen, char *err, size_t errlen)
{
    size_t n = 0;
    out[0] = 0;
    if (!spec || !*spec)
        return 0;
    for (const char *p = spec;;) {
        size_t len = strcspn(p, ",");
        const char *t = p, *end = p + len;
        while (t < end && *t == ' ')
            t++;
        while (end > t && end[-1] == ' ')
            end--;
        for (const char *c = t; c < end; c++)
            if (*c == '|' || *c == '#' || *c == '@' || (unsigned char)*c < 0x20 || *c == 0x7f)
                end = t; /* refused below */
        if (end == t) {
            snprintf(err, errlen,
                     "--dogstatsd-tags: \"%s\" is not a comma-separated list of tags "
                     "(accepted: NAME:VALUE or NAME, without |, #, @ or empty tags)",
                     spec);
            return -1;
        }
        int w = snprintf(out + n, outlen - n, "%s%.*s", n ? "," : "|#", (int)(end - t), t);
        if (w < 0 || (size_t)w >= outlen - n) {
            snprintf(err, errlen, "--dogstatsd-tags: longer than %zu bytes", outlen - 3);
            out[0] = 0;
            return -1;
        }
        n += (size_t)w;
        if (!p[len])
            return 0;
        p += len + 1; /* a comma: a tag must follow */
    }
}

int stats_bind_target(const char *spec, logship_target_t *t, char *err, size_t errlen)
{
    return parse_hostport(spec, "stats-bind", -1, true, t, err, errlen);
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

/* --log-syslog-facility and --log-syslog-format always (a typo is a typo), the address
 * only when --log-syslog is on: it may name a host that only exists where syslog is used. */
static int syslog_check(const tun_config_t *cfg, logship_target_t *t, char *err, size_t errlen)
{
    const char *fac = cfg->syslog_facility ? cfg->syslog_facility : "user";
    if (syslogcfg_facility(fac) < 0) {
        snprintf(err, errlen,
                 "--log-syslog-facility: \"%s\" is not a syslog facility (accepted: %s)", fac,
                 syslogcfg_facility_names());
        return -1;
    }
    const char *form = cfg->syslog_format ? cfg->syslog_format : "rfc3164";
    if (strcmp(form, "rfc3164") != 0 && strcmp(form, "rfc5424") != 0) {
        snprintf(err, errlen, "--log-syslog-format: \"%s\" is not rfc3164 or rfc5424", form);
        return -1;
    }
    if (cfg->syslog &&
        syslogcfg_address(cfg->syslog_addr ? cfg->syslog_addr : "", t, err, errlen) < 0)
        return -1;
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
    if (syslog_check(cfg, &t, err, errlen) < 0)
        return -1;
    if (cfg->stats_bind && stats_bind_target(cfg->stats_bind, &t, err, errlen) < 0)
        return -1;
    if (cfg->statsd_host && stats_statsd_target(cfg->statsd_host, &t, err, errlen) < 0)
        return -1;
    char tags[STATS_TAGS_MAX];
    if (stats_dogstatsd_tags(cfg->dogstatsd_tags, tags, sizeof(tags), err, errlen) < 0)
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

/* ---- the log target and statsd, in the master and in each worker ------------------ */

int stats_outputs_open(stats_outputs_t *o, const tun_config_t *cfg, int worker, char *err,
                       size_t errlen)
{
    o->ship.fd = o->syslog.fd = o->statsd.fd = -1;
    logship_target_t t;
    if (cfg->log_target) {
        if (logship_parse(cfg->log_target, &t, err, errlen) < 0)
            return -1;
        bool rfc = cfg->log_target_format && strcmp(cfg->log_target_format, "rfc5424") == 0;
        logship_init(&o->ship, &t, rfc, worker);
        o->shipping = true;
    }
    if (cfg->syslog) {
        if (syslogcfg_address(cfg->syslog_addr ? cfg->syslog_addr : "", &t, err, errlen) < 0)
            return -1;
        char tag[SHIP_TAG_MAX];
        syslogcfg_tag(cfg->syslog_prefix, cfg->proc_name ? cfg->proc_name : cfg->app, tag,
                      sizeof(tag));
        logship_init(&o->syslog, &t, true, worker);
        logship_set_syslog(
            &o->syslog, !cfg->syslog_format || strcmp(cfg->syslog_format, "rfc5424") != 0,
            syslogcfg_facility(cfg->syslog_facility ? cfg->syslog_facility : "user"), tag);
        o->syslog_on = true;
        o->syslog_access = !cfg->disable_redirect_access_to_syslog;
    }
    if (cfg->statsd_host) {
        if (stats_statsd_target(cfg->statsd_host, &t, err, errlen) < 0)
            return -1;
        logship_init(&o->statsd, &t, false, worker);
        /* gunicorn's prefix: "app", "app." and "app.." all mean "app." */
        const char *p = cfg->statsd_prefix ? cfg->statsd_prefix : "";
        size_t n = strlen(p);
        while (n && p[n - 1] == '.')
            n--;
        snprintf(o->prefix, sizeof(o->prefix), "%.*s%s", (int)n, p, n ? "." : "");
        if (stats_dogstatsd_tags(cfg->dogstatsd_tags, o->tags, sizeof(o->tags), err, errlen) < 0)
            return -1;
        o->statsd_on = true;
    }
    return 0;
}

void stats_outputs_statsd(stats_outputs_t *o, const char *fmt, ...)
{
    char line[256 + STATS_TAGS_MAX];
    int n = snprintf(line, sizeof(line), "%s", o->prefix);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%s", o->tags);
    if (n <= 0 || (size_t)n >= sizeof(line) - 1)
        return;
    if (o->gather) {
        line[n++] = '\n';
        buf_append(&o->packet, line, (size_t)n);
    } else {
        logship_raw(&o->statsd, line, (size_t)n);
    }
}

void stats_outputs_log(void *ctx, int level, const char *msg, size_t len)
{
    stats_outputs_t *o = ctx;
    if (o->shipping)
        logship_error(&o->ship, level, msg, len);
    if (o->syslog_on)
        logship_error(&o->syslog, level, msg, len);
    if (o->statsd_on && level >= 2)
        stats_outputs_statsd(o, "gunicorn.log.%s:1|c|@1.0",
                             level == 2   ? "warning"
                             : level == 3 ? "error"
                                          : "critical");
}

void stats_outputs_captured(stats_outputs_t *o, int pid, int worker, const char *msg, size_t len)
{
    if (o->shipping)
        logship_error_as(&o->ship, LOG_LEVEL_INFO, pid, worker, msg, len);
    if (o->syslog_on)
        logship_error_as(&o->syslog, LOG_LEVEL_INFO, pid, worker, msg, len);
}

/* ---- in a worker --------------------------------------------------------------------- */

int stats_worker_init(worker_t *w, char *err, size_t errlen)
{
    const tun_config_t *cfg = w->cfg;
    stats_worker_t *st = uf_calloc(1, sizeof(*st));
    w->stats = st;
    st->pid = (int)getpid();
    st->alog.fd = -1;
    if (cfg->accesslog || cfg->log_target ||
        (cfg->syslog && !cfg->disable_redirect_access_to_syslog)) {
        const char *fmt = cfg->access_log_format ? cfg->access_log_format : ALOG_DEFAULT_FORMAT;
        if (alog_compile(fmt, &st->fmt, err, errlen) < 0)
            return -1;
        if (alog_fmt_out_count(st->fmt))
            st->resp = uf_calloc((size_t)cfg->worker_connections, sizeof(alog_resp_t));
        st->json = cfg->access_log_json;
        st->ship_line_keys =
            (alog_fmt_has_json_key(st->fmt, "pid") ? LOGSHIP_LINE_HAS_PID : 0) |
            (alog_fmt_has_json_key(st->fmt, "worker") ? LOGSHIP_LINE_HAS_WORKER : 0);
    }
    if (cfg->accesslog) {
        if (alog_writer_open(&st->alog, cfg->accesslog, &w->ring, ring_ud(OP_ALOG_WRITE, 0, 0), err,
                             errlen) < 0)
            return -1;
        st->alog.lines_out = &w->sb->alog_lines;
        st->alog.dropped_out = &w->sb->alog_dropped;
        st->file = true;
    }
    stats_outputs_t *o = &st->out;
    if (stats_outputs_open(o, cfg, (int)w->index, err, errlen) < 0)
        return -1;
    /* the worker's statsd lines gather into one packet per loop round (stats_tick) */
    o->gather = true;
    if (o->shipping) {
        o->ship.sent_out = &w->sb->ship_sent;
        o->ship.dropped_out = &w->sb->ship_dropped;
        logship_ring_start(&o->ship, &w->ring, OP_SHIP_SEND, OP_SHIP_CONNECT, w->now_ms);
    }
    if (o->statsd_on) {
        o->statsd.dropped_out = &w->sb->statsd_dropped;
        logship_ring_start(&o->statsd, &w->ring, OP_STATSD_SEND, OP_STATSD_SEND, w->now_ms);
    }
    /* Syslog is served with non-blocking sends at the end of each loop round (as a unix
     * datagram log target is, see logship_ring_start): its usual address is /dev/log,
     * which needs that anyway, and it then needs no completion ops of its own in the
     * worker's loop. Its counts stay its own (dropped lines are reported every 10 s). */
    if (o->shipping || o->statsd_on || o->syslog_on)
        log_set_sink(stats_outputs_log, o);
    return 0;
}

uint64_t stats_clock_ns(void)
{
    return now_ns();
}

#if UF_INSTRUMENTS
void stats_request_received(const worker_t *w, conn_t *c)
{
    c->t_recv_ns = w->now_ns;
}

void stats_request_first_byte(conn_t *c)
{
    c->t_mark_ns[STATS_MARK_PARSE] = now_ns();
    c->t_mark_ns[STATS_MARK_FIRST_BYTE] = c->t_carry_ns ? c->t_carry_ns : c->t_recv_ns;
    c->t_carry_ns = 0;
}

void stats_request_mark(conn_t *c, enum stats_mark mark)
{
    c->t_mark_ns[mark] = now_ns();
}

uint64_t stats_request_first_byte_ns(const conn_t *c)
{
    if (!c->in.len)
        return 0; /* (handed over unread: its first receive will tell) */
    if (c->t_mark_ns[STATS_MARK_FIRST_BYTE])
        return c->t_mark_ns[STATS_MARK_FIRST_BYTE]; /* parsed: a parked request */
    return c->t_carry_ns ? c->t_carry_ns : c->t_recv_ns;
}

void stats_request_carried(conn_t *c, uint64_t first_byte_ns)
{
    c->t_carry_ns = first_byte_ns;
}
#endif

static int64_t span_us(uint64_t from, uint64_t to)
{
    return from && to && to >= from ? (int64_t)((to - from) / 1000) : -1;
}

/* The request's phases in microseconds into us[] (-1 where a boundary was never passed:
 * a request answered from C, or cut off), `end` being its last byte. They tile the time
 * from its first byte: *waited* is both stretches in which nobody worked on it, before
 * the worker began to parse it (pipelined behind another request) and between its
 * complete head and the application's call (queued for a thread); *parse* is the worker
 * receiving and parsing its head. */
static void request_phases(const conn_t *c, uint64_t end, int64_t us[SB_PHASES])
{
    const uint64_t *t = c->t_mark_ns;
    int64_t before = span_us(t[STATS_MARK_FIRST_BYTE], t[STATS_MARK_PARSE]);
    int64_t queued = span_us(t[STATS_MARK_HEADERS], t[STATS_MARK_CALL]);
    us[SB_PHASE_PARSE] = span_us(t[STATS_MARK_PARSE], t[STATS_MARK_HEADERS]);
    us[SB_PHASE_WAITED] = before >= 0 && queued >= 0 ? before + queued : -1;
    us[SB_PHASE_APP] = span_us(t[STATS_MARK_CALL], t[STATS_MARK_HEAD]);
    us[SB_PHASE_SEND] = span_us(t[STATS_MARK_HEAD], end);
}

void stats_conn_open(worker_t *w, conn_t *c)
{
    c->conn_id = ++w->stats->conn_seq;
    c->req_no = 1;
    sb_set(&w->sb->connections, w->active);
    UF_PROBE3(accept, w->index, c->conn_id, c->fd);
}

void stats_request_begin(worker_t *w, conn_t *c)
{
    stats_worker_t *st = w->stats;
    c->t_start_ns = now_ns();
    c->status_code = 0;
    c->body_out = 0;
    st->inflight++;
    sb_set(&w->sb->in_flight, st->inflight);
    if (st->inflight == 1)
        UF_PROBE1(worker__busy, w->index);
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
    if (st->inflight == 0)
        UF_PROBE1(worker__idle, w->index);
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
        uint32_t inflight = w->stats->inflight ? w->stats->inflight - 1 : 0; /* not us */
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
                     status == 200   ? "OK"
                     : status == 405 ? "Method Not Allowed"
                                     : "Service Unavailable",
                     blen, status == 405 ? "Allow: GET, HEAD\r\n" : "",
                     !keep                       ? "Connection: close\r\n"
                     : c->req.version_minor == 0 ? "Connection: keep-alive\r\n"
                                                 : "");
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
    stats_request_mark(c, STATS_MARK_HEAD);
    UF_PROBE4(app__return, w->index, c->conn_id, c->req_no, c->status_code);
    stats_worker_t *st = w->stats;
    if (st->resp)
        alog_capture(st->fmt, &st->resp[c->slot], reply->headers, reply->header_count);
}

/* The peer, when build_request never looked it up (a request refused by the parser). */
static void peer_text(worker_t *w, const conn_t *c, char *host, size_t hostlen, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    host[0] = 0;
    *port = 0;
    if ((worker_syscall(w), getpeername(c->fd, (struct sockaddr *)&ss, &len)) < 0)
        return;
    net_addr_host((const struct sockaddr *)&ss, host, hostlen, port);
}

/* Renders the line for shipping only (into st->line), as JSON or text; *json or *text
 * then points at it, valid until the next rendering. */
static void render_line(stats_worker_t *st, const alog_rec_t *rec, bool as_json, const char **json,
                        size_t *jlen, const char **text, size_t *tlen)
{
    st->line.len = 0;
    alog_render(st->fmt, as_json, rec, &st->line);
    if (as_json)
        *json = st->line.data, *jlen = st->line.len - 1;
    else
        *text = st->line.data, *tlen = st->line.len - 1;
}

static void write_line(worker_t *w, conn_t *c, uint64_t us, const int64_t phase_us[SB_PHASES])
{
    stats_worker_t *st = w->stats;
    char host[INET6_ADDRSTRLEN];
    int port = c->peer_port;
    const char *addr = c->peer_host;
    if (!c->have_peer) {
        peer_text(w, c, host, sizeof(host), &port);
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
        .ws_close = wsconn_close_code(c),
        .body_bytes = c->body_out,
        .duration_us = us,
        .phase_us = {phase_us[0], phase_us[1], phase_us[2], phase_us[3]},
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
    if (st->out.shipping) {
        bool want_json = logship_wants_json(&st->out.ship);
        if (want_json ? !json : !text)
            render_line(st, &rec, want_json, &json, &jlen, &text, &tlen);
        logship_access(&st->out.ship, json, jlen, text, tlen, st->ship_line_keys);
    }
    if (st->out.syslog_on && st->out.syslog_access) {
        if (!text)
            render_line(st, &rec, false, &json, &jlen, &text, &tlen);
        logship_access(&st->out.syslog, NULL, 0, text, tlen, 0);
    }
}

static void statsd_request(stats_worker_t *st, int status, uint64_t us)
{
    stats_outputs_t *o = &st->out;
    const char *p = o->prefix, *tags = o->tags;
    char lines[3 * (sizeof(o->prefix) + sizeof(o->tags) + 64)];
    int n = snprintf(
        lines, sizeof(lines),
        "%sgunicorn.requests:1|c|@1.0%s\n%sgunicorn.request.duration:%llu.%03llu|ms%s\n", p, tags,
        p, (unsigned long long)(us / 1000), (unsigned long long)(us % 1000), tags);
    if (status)
        n += snprintf(lines + n, sizeof(lines) - (size_t)n,
                      "%sgunicorn.request.status.%d:1|c|@1.0%s\n", p, status, tags);
    if (o->packet.len && o->packet.len + (size_t)n > STATSD_PACKET) {
        logship_raw(&o->statsd, o->packet.data, o->packet.len - 1);
        o->packet.len = 0;
    }
    buf_append(&o->packet, lines, (size_t)n);
}

void stats_request_done(worker_t *w, conn_t *c)
{
    stats_worker_t *st = w->stats;
    sb_slot_t *sb = w->sb;
    uint64_t us = 0, end = now_ns();
    int64_t phase_us[SB_PHASES];
    request_phases(c, end, phase_us);
    /* all four or none: a request cut off midway is in the duration histogram only */
    bool phased = UF_INSTRUMENTS && phase_us[SB_PHASE_PARSE] >= 0 &&
                  phase_us[SB_PHASE_WAITED] >= 0 && phase_us[SB_PHASE_APP] >= 0;
    for (int p = 0; phased && p < SB_PHASES; p++) {
        sb_add64(&sb->phase_latency[p][sb_latency_bucket((uint64_t)phase_us[p])], 1);
        sb_add64(&sb->phase_us_sum[p], (uint64_t)phase_us[p]);
    }
    if (c->t_start_ns) {
        us = (end - c->t_start_ns) / 1000;
        st->inflight--;
        sb_set(&sb->in_flight, st->inflight);
        if (st->inflight == 0)
            UF_PROBE1(worker__idle, w->index);
    }
    int status = c->status_code;
    UF_PROBE6(request__done, w->index, c->conn_id, c->req_no, status, us, c->bytes_out);
    unsigned cls = status >= 100 && status < 600 ? (unsigned)status / 100 : 0;
    sb_add64(&sb->responses[cls], 1);
    sb_add64(&sb->latency[sb_latency_bucket(us)], 1);
    sb_add64(&sb->latency_us_sum, us);
    sb_add64(&sb->bytes_out, c->bytes_out);
    if (st->fmt)
        write_line(w, c, us, phase_us);
    if (st->out.statsd_on)
        statsd_request(st, status, us);
    c->t_start_ns = 0;
    memset(c->t_mark_ns, 0, sizeof(c->t_mark_ns));
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
        logship_ring_complete(&st->out.ship, op, res, w->now_ms);
        break;
    case OP_STATSD_SEND:
        logship_ring_complete(&st->out.statsd, op, res, w->now_ms);
        break;
    default:
        break;
    }
}

int stats_timeout_ms(worker_t *w)
{
    stats_worker_t *st = w->stats;
    const logship_t *ship = &st->out.ship;
    int t = INT32_MAX;
    if (st->file)
        t = alog_writer_timeout_ms(&st->alog, w->now_ms);
    /* a unix datagram target that said EAGAIN: try again soon */
    if (st->out.shipping && !ship->ring_mode && (ship->fill.len || ship->busy.len) && t > 20)
        t = 20;
    /* syslog (never through the ring): lines waiting, or a connection to finish */
    const logship_t *sl = &st->out.syslog;
    if (st->out.syslog_on && (sl->fill.len || sl->busy.len || sl->connecting) && t > 20)
        t = 20;
    /* a log target waiting to reconnect */
    if (st->out.shipping && ship->fd < 0 && !ship->connecting && ship->fill.len) {
        int64_t left = (int64_t)ship->retry_at_ms - (int64_t)w->now_ms;
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
    if (st->out.shipping) {
        logship_ring_flush(&st->out.ship, now);
        logship_report_drops(&st->out.ship, now);
    }
    if (st->out.syslog_on) {
        logship_direct_run(&st->out.syslog, now);
        logship_report_drops(&st->out.syslog, now);
    }
    if (st->out.statsd_on) {
        if (st->out.packet.len) {
            logship_raw(&st->out.statsd, st->out.packet.data, st->out.packet.len - 1);
            st->out.packet.len = 0;
        }
        logship_ring_flush(&st->out.statsd, now);
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
    if (st->out.shipping && !late && !logship_ring_idle(&st->out.ship))
        done = false;
    if (st->out.statsd_on && !late && !logship_ring_idle(&st->out.statsd))
        done = false;
    if (st->out.syslog_on && !late && !logship_ring_idle(&st->out.syslog))
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
    if (st->out.shipping) {
        uint64_t lost = st->out.ship.fill.len ? st->out.ship.fill_count : 0;
        if (st->out.ship.inflight)
            lost += st->out.ship.busy_count;
        sb_add64(st->out.ship.dropped_out, lost);
    }
    if (st->out.syslog_on)
        logship_free(&st->out.syslog);
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
