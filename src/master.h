/* The master process: plans, opens the listeners, forks the workers and supervises them.
 *
 * The master never touches a client connection. It creates every listening socket
 * itself, one SO_REUSEPORT socket per worker slot and bind address, and keeps them open
 * for its whole life: a worker that dies or is replaced hands its accept queue to its
 * successor on the same socket instead of losing it.
 *
 * Churn never drops an accepted connection: a worker being replaced (HUP, max-requests,
 * lifetime, RSS, memory budget) keeps serving until its successor on the same listener
 * is accepting, and only then drains. Recycling is one worker at a time. A request that
 * outlives --timeout gets its worker SIGABRT (traceback), then SIGKILL, and a successor.
 * The worker count never exceeds what the memory budget over the measured per-worker
 * footprint allows.
 *
 * Signals follow gunicorn: TERM graceful stop, INT/QUIT fast stop, HUP reload, TTIN/TTOU
 * one worker more/less, USR1 reopen logs, CHLD reap. The master
 * blocks them all and reads them from a signalfd in its poll loop, so no handler runs
 * at all and none can be missed; it reaps any child, so it is safe as PID 1.
 *
 * The parts: src/master.c is the loop, the signals, reload and the acting side (fork,
 * reap, signal, log); src/churn.c decides (when to replace, drain, kill, respawn, how
 * many workers fit) without a system call; src/listeners.c owns the listening sockets and
 * steering; src/preflight.c the start-up checks; src/master_view.c reports (the stats
 * port's view, statsd, sd_notify, shipping the master's log); src/metrics.c and
 * src/scrape.c what the stats port serves.
 */
#ifndef UF_MASTER_H
#define UF_MASTER_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "src/capture.h"
#include "src/churn.h"
#include "src/listeners.h"
#include "src/master_view.h"
#include "src/metrics.h"
#include "src/privileges.h"
#include "src/scoreboard.h"
#include "src/scrape.h"
#include "src/sdnotify.h"
#include "src/share.h"
#include "src/stats.h"
#include "src/worker.h"
#include "tunables/host.h"
#include "tunables/tunables.h"

/* Worker slots at most (each with its listeners). */
#define MAX_SLOTS LISTENERS_MAX_SLOTS

typedef struct slot {
    bool active;                  /* false once scaled away */
    worker_listener_t *listeners; /* nbinds sockets, kept for the master's life */
    churn_boot_t boot;            /* boot failures in a row, back-off */
    worker_placement_t place;     /* where its workers run (--cpu-pin / --numa-pin) */
    int cpu;                      /* the CPU it is pinned to, -1 if none */
} slot_t;

/* The one master context, made by master_run and passed explicitly. src/master.c
 * supervises with it; src/master_view.c reads it to report, and writes only `view`, the
 * outputs it opens, ready_pending and the workers' RSS for a scrape. */
typedef struct master {
    tun_config_t *cfg;
    int argc;
    char **argv;
    char **envp;
    scoreboard_t sb;
    unsigned nbinds;
    slot_t *slots; /* MAX_SLOTS entries, nslots in use */
    unsigned nslots;
    unsigned target; /* workers wanted (after the memory cap) */
    churn_t churn;   /* the workers (2 * MAX_SLOTS entries) and the policy's view */
    unsigned generation;
    uint64_t footprint_bytes; /* measured PSS of a booted worker, 0 until known */
    uint64_t budget_bytes;    /* memory the workers may use together */
    uint64_t next_sample_ms;
    tun_host_t host; /* CPUs and NUMA nodes, read once for placement */
    bool pinning;    /* --cpu-pin or --numa-pin */
    bool stopping;
    bool budget_warned;
    bool hooks;       /* the master runs Python for its server hooks (python_bridge/hooks.h) */
    unsigned spawned; /* workers started so far: the next one's age */
    share_t share;    /* --work-sharing: the table, every listener, the inboxes */
    bool sharing;
    listeners_t ls;     /* every listening socket, and steering among them */
    privileges_t privs; /* what the workers drop to (--user, --group) */
    uint64_t pressure_logged_ms;
    int exit_code;

    int sigfd;           /* signalfd over the blocked signals: read, never handled */
    struct pollfd *pfds; /* wait_events' poll set, grown with the pipes */
    unsigned pfds_cap;
    metrics_totals_t retired; /* counters of the workers that have exited */
    uint64_t recycles[METRICS_RECYCLE_REASONS];

    /* The outputs (the stats port, the log targets and the capture are set up by
     * mview_start, the notify socket at start): reporting's, and supervision's too (a
     * new worker closes them, the loop polls them, a stop or a reload is announced). */
    scrape_server_t stats; /* --stats-bind */
    stats_outputs_t out;   /* --log-target (the master's own lines), --statsd-host
                              (gunicorn.workers, gunicorn.backlog) */
    capture_t capture;     /* --capture-output: the workers' stdout and stderr */
    sdnotify_t notify;     /* NOTIFY_SOCKET (src/sdnotify.h) */
    bool ready_pending;    /* READY=1 is said once the current generation is ready */
    master_view_t view;    /* what only reporting uses */
} master_t;

_Static_assert(CHURN_DIED + 1 == METRICS_RECYCLE_REASONS, "a recycle label per churn reason");

/* Runs the server until it is stopped; argc/argv/envp are parsed again on HUP. Returns
 * the process exit code: 0 after a stop by signal, 1 on a setup error, 3 when workers
 * keep failing to boot, 4 when the application cannot be loaded. */
int master_run(tun_config_t *cfg, int argc, char **argv, char **envp);

#endif
