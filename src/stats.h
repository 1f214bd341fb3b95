/* Metrics, health and the per-request bookkeeping that feeds them and the access log.
 *
 * In a worker (stats_worker_*, stats_request_*): every response ends in
 * stats_request_done, which counts it in the worker's scoreboard slot (status class,
 * latency histogram, bytes), appends its access log line, ships it (--log-target) and
 * queues gunicorn's statsd lines. None of it makes a syscall per request: the access log,
 * the shipped lines and the statsd packets go out through the ring in batches
 * (stats_tick, at the end of each loop iteration, and on their deadlines). The health and
 * readiness paths are answered here from C, before the application is called.
 *
 * In the master (stats_server_*, stats_render_*): the scoreboard is read and rendered as
 * Prometheus text (format 0.0.4) on /metrics and as JSON on /stats, on a socket of its
 * own (--stats-bind) served from the master's poll loop with non-blocking I/O. Counters
 * of workers that have exited are folded into stats_totals_t first, so a counter never
 * goes backwards when a worker is recycled. The accept-queue depth comes from TCP_INFO on
 * each listener: for a listening socket tcpi_unacked is the queue's length and
 * tcpi_sacked its limit.
 */
#ifndef UF_STATS_H
#define UF_STATS_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "src/accesslog.h"
#include "src/logship.h"
#include "common/mem.h"
#include "src/scoreboard.h"
#include "tunables/tunables.h"

struct worker;
struct conn;
struct worker_listener;

/* ---- configuration ------------------------------------------------------------------- */

/* Checks the observability settings the table cannot check itself (formats, addresses,
 * paths, that the access log file can be opened). Returns 0, or -1 with one line naming
 * the setting in err. A format atom gunicorn does not know is not an error (it renders as
 * "-", as in gunicorn), but is named in *warning (NULL when none). */
int stats_check_config(const tun_config_t *cfg, const char **warning, char *err, size_t errlen);

/* --statsd-host: HOST:PORT, HOST (port 8125) or unix:/PATH. Returns 0 or -1 with err. */
int stats_statsd_target(const char *spec, logship_target_t *t, char *err, size_t errlen);

/* ---- in a worker --------------------------------------------------------------------- */

typedef struct stats_worker stats_worker_t;

/* Sets up the access log, --log-target and statsd for the worker, after its ring exists.
 * Returns 0, or -1 with err filled (the worker cannot boot). */
int stats_worker_init(struct worker *w, char *err, size_t errlen);

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

/* ---- in the master ------------------------------------------------------------------- */

/* Counters of workers that have exited. */
typedef struct stats_totals {
    uint64_t responses[6];
    uint64_t latency[SB_LATENCY_BUCKETS];
    uint64_t latency_us_sum;
    uint64_t bytes_in, bytes_out;
    uint64_t alog_lines, alog_dropped;
    uint64_t ship_sent, ship_dropped;
    uint64_t statsd_dropped;
} stats_totals_t;

/* Adds the final counters of an exited worker's slot. */
void stats_fold(stats_totals_t *t, const sb_slot_t *s);

typedef struct stats_slot_view {
    unsigned index;
    const struct worker_listener *listeners;
    unsigned nlisteners;
    int cpu;                           /* -1: not pinned */
    bool leaving;                      /* scaled away: its listener closes once its worker is gone */
} stats_slot_view_t;

typedef struct stats_worker_view {
    unsigned slot;
    int pid;
    const sb_slot_t *sb;
} stats_worker_view_t;

enum { STATS_RECYCLE_REASONS = 9 };

/* What the master knows, gathered when a request for it arrives. */
typedef struct stats_view {
    const tun_config_t *cfg;
    int pid;
    double start_time;                 /* seconds since the epoch */
    bool stopping;
    const stats_totals_t *retired;
    const stats_slot_view_t *slots;
    unsigned nslots;
    const stats_worker_view_t *workers;
    unsigned nworkers;
    const uint64_t *recycles;          /* STATS_RECYCLE_REASONS counters... */
    const char *const *recycle_names;  /* ...and their label values */
    uint64_t master_ship_sent, master_ship_dropped, master_statsd_dropped;
    uint64_t budget_bytes, footprint_bytes;
    bool sharing;                      /* --work-sharing: idle workers steal orphaned listeners */
    int32_t shared_queue;              /* requests in the shared queue (work sharing) */
} stats_view_t;

/* Accept-queue length and limit of a listening socket (0/0 when unknown). */
void stats_accept_queue(int fd, uint32_t *length, uint32_t *limit);

void stats_render_prometheus(const stats_view_t *v, buf_t *out);
void stats_render_json(const stats_view_t *v, buf_t *out);
/* Whether the server as a whole takes traffic; when not, why, in `why`. */
bool stats_ready(const stats_view_t *v, char *why, size_t whylen);

#define STATS_MAX_CLIENTS 16

typedef struct stats_client {
    int fd;                            /* -1: free */
    char in[2048];
    size_t in_len;
    buf_t out;
    size_t out_off;
    uint64_t deadline_ms;
} stats_client_t;

typedef void stats_view_fn(void *ctx, stats_view_t *v);

typedef struct stats_server {
    int fd;                            /* the listener, -1 when off */
    char addr[128];                    /* as bound, for the banner */
    stats_client_t clients[STATS_MAX_CLIENTS];
    stats_view_fn *fill;
    void *ctx;
} stats_server_t;

/* Binds --stats-bind. Returns 0, or -1 with err filled. */
int stats_server_open(stats_server_t *srv, const char *spec, stats_view_fn *fill, void *ctx,
                      char *err, size_t errlen);
/* Adds the descriptors to poll; returns how many were added (at most `max`). */
unsigned stats_server_pollfds(const stats_server_t *srv, struct pollfd *pfd, unsigned max);
/* Accepts, reads, answers and writes whatever is ready, without blocking. */
void stats_server_run(stats_server_t *srv, uint64_t now_ms);
/* Closes everything (also in a freshly forked worker, which must not hold them). */
void stats_server_close(stats_server_t *srv);

#endif
