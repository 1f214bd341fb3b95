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
 * steering; src/preflight.c the start-up checks; src/metrics.c and src/scrape.c what the
 * stats port serves.
 */
#ifndef UF_MASTER_H
#define UF_MASTER_H

#include "tunables/tunables.h"

/* Runs the server until it is stopped; argc/argv/envp are parsed again on HUP. Returns
 * the process exit code: 0 after a stop by signal, 1 on a setup error, 3 when workers
 * keep failing to boot, 4 when the application cannot be loaded. */
int master_run(tun_config_t *cfg, int argc, char **argv, char **envp);

#endif
