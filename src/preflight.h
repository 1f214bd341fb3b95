/* Start-up preparations of the master, before the first fork: each one reports to the
 * operator in the error log and none of them runs again, except the access log's path,
 * which a reload makes absolute too, and the server hooks, which a reload loads again.
 *
 * Invariants: master only; called after log_init, before any worker exists (but for
 * those two).
 */
#ifndef UF_PREFLIGHT_H
#define UF_PREFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "tunables/host.h"
#include "tunables/tunables.h"

/* A relative --access-logfile becomes absolute against the current directory (the one
 * the server was started in, as for the error log), so --chdir or --preload moving the
 * workers later, and USR1 reopening it, keep the same file. "-" and absolute paths are
 * left as they are. */
void preflight_accesslog_path(tun_config_t *cfg);

/* The memory the workers may use together: the tightest of the cgroup limit and
 * MemTotal in `host`, minus --memory-reserve (0 when the reserve takes it all). Logs
 * the "Memory budget" line. */
uint64_t preflight_memory_budget(const tun_host_t *host, int reserve_mb);

/* Chooses the workers' engine (cfg->engine_epoll) before the first fork. --engine epoll
 * takes epoll. Otherwise io_uring is probed in a throw-away child: when it works, its
 * features are logged; when not, --engine io_uring returns -1 with why in err, and auto
 * takes epoll and logs one line naming the cause and the fix. The banner names the engine.
 * Returns 0 or -1. */
int preflight_ring(tun_config_t *cfg, char *err, size_t errlen);

/* Warns, with the exact fix, when RLIMIT_MEMLOCK cannot hold `workers` workers'
 * registered send buffers (the workers then send without zero-copy). */
void preflight_memlock(unsigned workers);

/* --pid: writes the master's pid (a failure is logged, not fatal). NULL: nothing. */
void preflight_pidfile(const char *path);

/* --preload: imports the application once in the master, for the workers to inherit.
 * Returns 0, or -1 after logging "App failed to load" (the traceback is above it). */
int preflight_preload(const tun_config_t *cfg);

/* Server hooks that run in the master (python_bridge/hooks.h): starts the interpreter
 * unless it runs already, then loads the hooks cfg defines (again on a reload). Returns 0,
 * or -1 with one line in err (the traceback has been logged). */
int preflight_hooks(const tun_config_t *cfg, unsigned num_workers, bool running, char *err,
                    size_t errlen);

#endif
