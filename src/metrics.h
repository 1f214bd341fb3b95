/* Metrics rendering: the master's view of the scoreboard as Prometheus text (format
 * 0.0.4, /metrics), as JSON (/stats), and the server's readiness (/ready).
 *
 * Pure functions of a metrics_view_t: they make no system call and read nothing but the
 * view, so the same view always renders the same bytes (tests/unit/src/metrics_test.c
 * holds the text to golden copies). Whoever builds the view samples what needs a system
 * call first (the accept queues, from TCP_INFO) and passes the scoreboard slots of the
 * live workers. Counters of workers that have exited are folded into metrics_totals_t
 * before their slot is reused, so a counter never goes backwards when a worker is
 * recycled.
 */
#ifndef UF_METRICS_H
#define UF_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/mem.h"
#include "src/scoreboard.h"
#include "tunables/tunables.h"

struct worker_listener;

/* Counters of workers that have exited. */
typedef struct metrics_totals {
    uint64_t responses[6];
    uint64_t latency[SB_LATENCY_BUCKETS];
    uint64_t latency_us_sum;
    uint64_t phase_latency[SB_PHASES][SB_LATENCY_BUCKETS];
    uint64_t phase_us_sum[SB_PHASES];
    uint64_t bytes_in, bytes_out;
    uint64_t ws_messages_in, ws_messages_out, ws_bytes_in, ws_bytes_out;
    uint64_t alog_lines, alog_dropped;
    uint64_t ship_sent, ship_dropped;
    uint64_t statsd_dropped;
} metrics_totals_t;

/* Adds the counters of a worker's slot to t (an exited worker's final ones, or a live
 * worker's so far). */
void metrics_fold(metrics_totals_t *t, const sb_slot_t *s);

/* A listener's accept queue as sampled for the view (0/0 when unknown). */
typedef struct metrics_queue {
    uint32_t length, limit;
} metrics_queue_t;

typedef struct metrics_slot {
    unsigned index;
    const struct worker_listener *listeners;
    const metrics_queue_t *queues; /* per listener, sampled when the view was made */
    unsigned nlisteners;
    int cpu;      /* -1: not pinned */
    bool leaving; /* scaled away: its listener closes once its worker is gone */
} metrics_slot_t;

typedef struct metrics_worker {
    unsigned slot;
    int pid;
    const sb_slot_t *sb;
} metrics_worker_t;

enum { METRICS_RECYCLE_REASONS = 10 };

/* What the master knows, gathered when a request for it arrives. */
typedef struct metrics_view {
    const tun_config_t *cfg;
    int pid;
    double start_time; /* seconds since the epoch */
    bool stopping;
    const metrics_totals_t *retired;
    const metrics_slot_t *slots;
    unsigned nslots;
    const metrics_worker_t *workers;
    unsigned nworkers;
    const uint64_t *recycles;         /* METRICS_RECYCLE_REASONS counters... */
    const char *const *recycle_names; /* ...and their label values */
    uint64_t master_ship_sent, master_ship_dropped, master_statsd_dropped;
    uint64_t budget_bytes, footprint_bytes;
    bool sharing;         /* --work-sharing: idle workers steal orphaned listeners */
    int32_t shared_queue; /* requests in the shared queue (work sharing) */
} metrics_view_t;

/* Appends the Prometheus exposition of v to out. */
void metrics_prometheus(const metrics_view_t *v, buf_t *out);
/* Appends v as one JSON object and a newline to out. */
void metrics_json(const metrics_view_t *v, buf_t *out);
/* Whether the server as a whole takes traffic; the reason ("ready" when it does) in why. */
bool metrics_ready(const metrics_view_t *v, char *why, size_t whylen);

#endif
