/* Per-request bookkeeping in a worker, and the observability outputs of every process.
 *
 * In a worker (stats_worker_*, stats_request_*): every response ends in
 * stats_request_done, which counts it in the worker's scoreboard slot (status class,
 * latency histogram, bytes), appends its access log line, ships it (--log-target) and
 * queues gunicorn's statsd lines. None of it makes a syscall per request: the access log,
 * the shipped lines and the statsd packets go out through the ring in batches
 * (stats_tick, at the end of each loop iteration, and on their deadlines). The health and
 * readiness paths are answered here from C, before the application is called.
 *
 * In every process (stats_outputs_*): --log-target and --statsd-host are set up by one
 * function, and one error-log sink ships the process's own lines and counts them for
 * statsd, so the master and the workers say the same things the same way. The master
 * reads the scoreboard through src/metrics.h and serves it through src/scrape.h.
 */
#ifndef UF_STATS_H
#define UF_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/probes.h"
#include "src/accesslog.h"
#include "src/logship.h"
#include "common/mem.h"
#include "src/scoreboard.h"
#include "tunables/tunables.h"

struct worker;
struct conn;

/* ---- configuration ------------------------------------------------------------------- */

/* Checks the observability settings the table cannot check itself (formats, addresses,
 * paths, that the access log file can be opened). Returns 0, or -1 with one line naming
 * the setting in err. A format atom gunicorn does not know is not an error (it renders as
 * "-", as in gunicorn), but is named in *warning (NULL when none). */
int stats_check_config(const tun_config_t *cfg, const char **warning, char *err, size_t errlen);

/* --statsd-host: HOST:PORT, HOST (port 8125) or unix:/PATH. Returns 0 or -1 with err. */
int stats_statsd_target(const char *spec, logship_target_t *t, char *err, size_t errlen);

/* --dogstatsd-tags: "k:v,k2:v2" (a tag may also be a bare word) into `out` as DogStatsD's
 * suffix "|#k:v,k2:v2" ("" for none). Spaces around a tag are dropped, as gunicorn users
 * write "a:1, b:2"; an empty tag or one holding '|', '#', '@' or a control character is
 * refused, since it would break the statsd line. Returns 0, or -1 with err. */
#define STATS_TAGS_MAX 512
int stats_dogstatsd_tags(const char *spec, char *out, size_t outlen, char *err, size_t errlen);

/* --stats-bind: HOST:PORT. Returns 0 or -1 with err. */
int stats_bind_target(const char *spec, logship_target_t *t, char *err, size_t errlen);

/* ---- the log target and statsd, in the master and in each worker --------------------- */

typedef struct stats_outputs {
    logship_t ship; /* --log-target: the process's own lines */
    bool shipping;
    logship_t syslog; /* --log-syslog: the same lines, to syslog */
    bool syslog_on;
    bool syslog_access; /* access lines too (not --disable-redirect-access-to-syslog) */
    logship_t statsd;   /* --statsd-host */
    bool statsd_on;
    char prefix[128];          /* --statsd-prefix, ending in "." unless empty */
    char tags[STATS_TAGS_MAX]; /* --dogstatsd-tags as "|#k:v,k2:v2", or "" */
    bool gather;               /* statsd lines gather in `packet` (a worker sends it once per
                                  loop round); otherwise each line is its own datagram */
    buf_t packet;
} stats_outputs_t;

/* Parses and prepares --log-target, --log-syslog and --statsd-host for the master
 * (worker -1) or a worker; opens no socket. Returns 0, or -1 with err filled. */
int stats_outputs_open(stats_outputs_t *o, const tun_config_t *cfg, int worker, char *err,
                       size_t errlen);
/* One statsd line, o->prefix in front of the formatted text (no newline). */
void stats_outputs_statsd(stats_outputs_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The error-log sink (common/log.h's log_set_sink, ctx the stats_outputs_t): ships the
 * line and counts warnings and worse for statsd as gunicorn does. */
void stats_outputs_log(void *ctx, int level, const char *msg, size_t len);

/* A worker's captured output line (--capture-output), read by the master: shipped to
 * --log-target and syslog as that worker's INFO line (the error log has it already). */
void stats_outputs_captured(stats_outputs_t *o, int pid, int worker, const char *msg, size_t len);

/* ---- in a worker --------------------------------------------------------------------- */

typedef struct stats_worker stats_worker_t;

/* Sets up the access log, --log-target and statsd for the worker, after its ring exists.
 * Returns 0, or -1 with err filled (the worker cannot boot). */
int stats_worker_init(struct worker *w, char *err, size_t errlen);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t stats_clock_ns(void);

/* The boundaries between a request's phases (scoreboard.h's enum sb_phase), stamped on
 * the connection as the request passes them; stats_request_done turns them into the
 * phases' durations. */
enum stats_mark {
    STATS_MARK_FIRST_BYTE, /* the completion of the receive that brought its first byte */
    STATS_MARK_PARSE,      /* the worker starts parsing it (later than its first byte for a
                              request pipelined behind another) */
    STATS_MARK_HEADERS,    /* its head is complete */
    STATS_MARK_CALL,       /* the application is called (in the thread that calls it) */
    STATS_MARK_HEAD,       /* the response head is produced */
};
/* The clock reads of the phases. In a build without instruments (common/probes.h) they
 * are empty inlines, so that the server reads no clock for them and the phases read 0.
 *
 * stats_request_received: a receive brought bytes for c (the first byte's time, should a
 * request start in them): the time the loop woke for the round that completed it, read
 * once for the round (worker_t.now_ns), not once per receive.
 * stats_request_first_byte: the worker starts parsing a request (STATS_MARK_PARSE): its
 * first byte came with the last receive, or, for a pipelined request, with the one that
 * brought what the previous request left (STATS_MARK_FIRST_BYTE).
 * stats_request_mark: stamps `mark` (not the first byte) now. Any thread: the connection
 * is the caller's. */
/*
 * Work sharing carries the first byte's time with the connection (CLOCK_MONOTONIC is
 * system-wide), so that a request's *waited* holds its time in the worker that passed it
 * on and in the shared queue: stats_request_first_byte_ns gives it for c's request (parsed
 * or not; 0 when c holds no byte of one), stats_request_carried hands it to the taker's
 * connection, whose parse then starts from it. */
#if UF_INSTRUMENTS
void stats_request_received(const struct worker *w, struct conn *c);
void stats_request_first_byte(struct conn *c);
void stats_request_mark(struct conn *c, enum stats_mark mark);
uint64_t stats_request_first_byte_ns(const struct conn *c);
void stats_request_carried(struct conn *c, uint64_t first_byte_ns);
#else
static inline void stats_request_received(const struct worker *w, struct conn *c) {}
static inline void stats_request_first_byte(struct conn *c) {}
static inline void stats_request_mark(struct conn *c, enum stats_mark mark) {}
static inline uint64_t stats_request_first_byte_ns(const struct conn *c)
{
    return 0;
}
static inline void stats_request_carried(struct conn *c, uint64_t first_byte_ns) {}
#endif

/* A new client connection (gives it its id). */
void stats_conn_open(struct worker *w, struct conn *c);
/* The request is going to the application (starts its clock; it is now in flight). */
void stats_request_begin(struct worker *w, struct conn *c);
/* The request went back (work sharing moved it before a thread took it): undoes begin. */
void stats_request_cancel(struct worker *w, struct conn *c);
/* --health-path / --ready-path: when the request asks for one, writes the answer into
 * c->out (and sets c->close_after when the connection must close) and returns true; the
 * caller sends it. The application is not called. */
struct py_request;
bool stats_probe(struct worker *w, struct conn *c, const struct py_request *pr);
/* True when pr asks for --health-path or --ready-path with a method other than GET or
 * HEAD: its 405 needs none of the body, so it goes out without a 100 Continue. */
bool stats_probe_refuses(const struct worker *w, const struct py_request *pr);
/* The response head is known: its status and the headers the access log wants. */
struct py_reply;
void stats_response_head(struct worker *w, struct conn *c, const struct py_reply *reply);
/* The response is complete, or the connection was closed in the middle of it. */
void stats_request_done(struct worker *w, struct conn *c);

/* A completion of one of our ops (OP_ALOG_WRITE, OP_SHIP_*, OP_STATSD_SEND). */
void stats_complete(struct worker *w, unsigned op, int res);
/* Milliseconds until a batch is due; INT32_MAX when none. */
int stats_timeout_ms(struct worker *w);
/* End of a loop iteration: sends what is due, publishes the gauges. */
void stats_tick(struct worker *w);
/* At the end of a drain: flushes everything. True once it is all written (or the log
 * target has had its chance: a stalled collector does not hold the exit for long). */
bool stats_drained(struct worker *w);
/* USR1: the access log is reopened by name. */
void stats_reopen(struct worker *w);
/* Last words before _exit: writes what is left of the access log with plain write(2). */
void stats_worker_exit(struct worker *w);

/* Accept-queue length and limit of a listening socket (0/0 when unknown): for a listening
 * socket TCP_INFO's tcpi_unacked is the queue's length and tcpi_sacked its limit. */
void stats_accept_queue(int fd, uint32_t *length, uint32_t *limit);

#endif
