/* Privileges: the user and groups the workers run as (--user, --group, --initgroups), the
 * process umask (--umask), and the files the master hands over to that user.
 *
 * The master keeps the privileges it was started with, because it still needs them after
 * the start: it opens a SO_REUSEPORT listener for every new slot (a privileged port; and a
 * reuseport group admits only sockets of the owner of its first), reattaches the steering
 * programs, respawns and signals workers, and reopens the error log. Each worker drops
 * them once, right after the fork and before the application is imported: supplementary
 * groups (the user's with --initgroups, else --group alone), then the group, then the
 * user, each checked; a worker that cannot drop all of them exits before any application
 * code runs, so none is ever half-dropped. What a worker uses afterwards was opened or
 * mapped by the master before the fork (listeners, scoreboard, share table and its eBPF
 * map, fd 2 for the error log), except the files it opens by path: the access log at boot
 * and both log files on USR1. The master creates those and gives them to the user first,
 * as gunicorn chowns its log files.
 *
 * The kernel marks a process that changed its uid non-dumpable: no core dump (unless
 * fs.suid_dumpable says otherwise), and its /proc/PID files belong to root. That is kept
 * on purpose: the worker's memory began as a copy of the root master's. The master, as
 * root, still reads each worker's /proc files and signals it.
 *
 * Invariants: privileges_setup and privileges_own_logs run in the master only;
 * privileges_drop in a freshly forked worker only, once.
 */
#ifndef UF_PRIVILEGES_H
#define UF_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tunables/tunables.h"

typedef struct privileges {
    bool drop;       /* --user or --group: the workers switch */
    uid_t uid;       /* (uid_t)-1: the workers keep the master's */
    gid_t gid;       /* what the workers' real, effective and saved gid become */
    bool initgroups; /* supplementary groups from the user database, else just gid */
    char name[256];  /* the user's name (for initgroups and messages), "" if not known */
} privileges_t;

/* The start-up half: resolves --user and --group into `p`, applies --umask to the master
 * (the workers inherit it), hands the log files over to the user, and checks in a
 * throw-away child that a worker can drop to them and still set up io_uring. Returns 0,
 * or -1 with one line in err naming the setting (the caller exits 2). */
int privileges_setup(privileges_t *p, const tun_config_t *cfg, char *err, size_t errlen);

/* When the workers switch user or group: creates --error-logfile and --access-logfile
 * where missing and makes them theirs (regular files only: never /dev/null), so that a
 * worker can open them at boot and reopen them on USR1. Failures are logged. */
void privileges_own_logs(const privileges_t *p, const tun_config_t *cfg);

/* In a worker, before the application: drops to `p`. Returns 0 (also when there is
 * nothing to drop), or -1 with one line in err; the worker must then exit. */
int privileges_drop(const privileges_t *p, char *err, size_t errlen);

#endif
