/* The master's view of itself, for whoever watches it: the numbers the stats port renders
 * (/metrics, /stats, /ready: src/metrics.h, src/scrape.h), the gauges gunicorn's arbiter
 * sends to statsd, what the service manager is told (READY=1, STATUS=, the watchdog:
 * src/sdnotify.h), and the shipping of the master's own log lines and of the workers'
 * captured output (--log-target, syslog, --capture-output).
 *
 * Supervision decides, this module reports: it reads the master's tables (src/master.h:
 * slots, processes, scoreboard, budget, generation) and writes nothing there but the
 * workers' RSS in the scoreboard, refreshed for a scrape as the 250 ms sampling would
 * (a scrape is rare and may follow a boot). It owns what
 * only reporting uses (master_view_t: the view's buffers, the start time, the statsd
 * timer). The output channels themselves (the stats port, the log targets, the capture
 * pipes, the notify socket) stay in the master context, because supervision uses them
 * too: a new worker closes them after the fork, a stop says STOPPING=1, a reload
 * RELOADING=1 and asks for READY=1 again (ready_pending, which this module clears once
 * it has said it). mview_start opens the stats port and the log targets.
 *
 * Invariants: the master's loop thread only; nothing here waits (every socket is
 * non-blocking: what cannot go now goes in a later round, or is dropped and counted); a
 * scrape renders what the view sampled at that moment, so rendering stays pure.
 */
#ifndef UF_MASTER_VIEW_H
#define UF_MASTER_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "src/metrics.h"

struct master;

/* What only reporting uses, kept in the master context (master_t.view). */
typedef struct master_view {
    double start_time;         /* wall clock at start, for the metrics */
    metrics_slot_t *slots;     /* each scrape's view: the slots that have listeners, */
    metrics_worker_t *workers; /* the live workers, */
    metrics_queue_t *queues;   /* and per slot and bind the accept queues sampled then */
    uint64_t next_statsd_ms;   /* when the statsd gauges are next due */
} master_view_t;

/* Opens --stats-bind, --log-target, syslog and --statsd-host, routes the master's own log
 * lines to the targets, and sends the workers' captured lines to the log. Call once the
 * error log is open, before the first fork. Returns 0, or -1 with one line in err. */
int mview_start(struct master *m, char *err, size_t errlen);

/* The rest is called once per loop round; each does nothing until it is due, or when its
 * output is off. */

/* Reads the workers' captured output, then sends what the master's log targets and
 * statsd hold, as far as their sockets take it now. */
void mview_ship(struct master *m, uint64_t now);

/* Once a second: gunicorn.workers, and with --enable-backlog-metric gunicorn.backlog (the
 * connections waiting in every accept queue). */
void mview_statsd(struct master *m, uint64_t now);

/* NOTIFY_SOCKET: READY=1 once the generation started last (at start, or by HUP) is ready
 * in every slot, then WATCHDOG=1 and STATUS= as they fall due. */
void mview_report(struct master *m, uint64_t now);

#endif
