/* The master's start-up preparations: paths, memory budget, io_uring, memlock, pid file,
 * preload. */
#include "src/preflight.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "python_bridge/hooks.h"
#include "python_bridge/interp.h"
#include "src/worker.h"
#include "uring/ring.h"

/* capability number of CAP_IPC_LOCK (linux/capability.h), which lifts RLIMIT_MEMLOCK */
#define CAP_IPC_LOCK_BIT 14

void preflight_accesslog_path(tun_config_t *cfg)
{
    if (!cfg->accesslog || cfg->accesslog[0] == '/' || strcmp(cfg->accesslog, "-") == 0)
        return;
    char cwd[4096];
    if (!getcwd(cwd, sizeof(cwd)))
        return;
    size_t n = strlen(cwd) + strlen(cfg->accesslog) + 2;
    char *abs = uf_malloc(n);
    snprintf(abs, n, "%s/%s", cwd, cfg->accesslog);
    uf_free(cfg->accesslog);
    cfg->accesslog = abs;
}

uint64_t preflight_memory_budget(const tun_host_t *host, int reserve_mb)
{
    uint64_t limit = host->mem_limit && (!host->mem_total || host->mem_limit < host->mem_total)
                         ? host->mem_limit
                         : host->mem_total;
    uint64_t reserve = (uint64_t)reserve_mb << 20;
    uint64_t budget = limit > reserve ? limit - reserve : 0;
    log_info("Memory budget: %llu MB (%s: %llu MB, minus a %d MB reserve)",
             (unsigned long long)(budget >> 20),
             limit == host->mem_limit && limit ? host->mem_limit_from : "MemTotal",
             (unsigned long long)(limit >> 20), reserve_mb);
    return budget;
}

int preflight_ring(tun_config_t *cfg, char *err, size_t errlen)
{
    const char *want = cfg->engine ? cfg->engine : "auto";
    cfg->engine_epoll = strcmp(want, "epoll") == 0;
    if (cfg->engine_epoll)
        return 0; /* asked for: io_uring is not even probed */
    ring_features_t features;
    if (ring_probe(&features, err, errlen) < 0) {
        if (strcmp(want, "io_uring") == 0)
            return -1;
        cfg->engine_epoll = true;
        log_warning("io_uring cannot be used, so the workers run on epoll (--engine auto): %s",
                    err);
        return 0;
    }
    char desc[256];
    ring_features_describe(&features, desc, sizeof(desc));
    log_info("io_uring features: %s", desc);
    return 0;
}

/* Registered send buffers are locked memory, charged to RLIMIT_MEMLOCK of the user
 * unless the process holds CAP_IPC_LOCK. */
void preflight_memlock(unsigned workers)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    FILE *f = fopen("/proc/self/status", "r");
    unsigned long long cap_eff = 0;
    if (f) {
        char line[256];
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "CapEff: %llx", &cap_eff) == 1)
                break;
        fclose(f);
    }
    if (cap_eff & (1ULL << CAP_IPC_LOCK_BIT))
        return;
    unsigned long long need =
        (unsigned long long)workers * ring_arena_bytes(WORKER_ZC_BLOCKS, WORKER_ZC_BLOCK_SIZE);
    if (need <= rl.rlim_cur)
        return;
    log_warning("RLIMIT_MEMLOCK is %llu KiB but %u workers need %llu KiB of registered send "
                "buffers; zero-copy sends are off. Raise it: ulimit -l %llu (shell), "
                "LimitMEMLOCK=%lluK (systemd), or --ulimit memlock=%llu (docker)",
                (unsigned long long)rl.rlim_cur >> 10, workers, need >> 10, (need >> 10) + 1024,
                (need >> 10) + 1024, need + (1ULL << 20));
}

void preflight_pidfile(const char *path)
{
    if (!path)
        return;
    FILE *f = fopen(path, "w");
    if (!f) {
        log_error("cannot write the pid file %s: %s", path, strerror(errno));
        return;
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
}

int preflight_preload(const tun_config_t *cfg)
{
    char err[512];
    py_interp_options_t opts = worker_python_options(cfg);
    if (py_preload(&opts, cfg->app, err, sizeof(err)) < 0) {
        log_error("App failed to load: %s", err);
        return -1;
    }
    return 0;
}

int preflight_hooks(const tun_config_t *cfg, unsigned num_workers, bool running, char *err,
                    size_t errlen)
{
    if (!running && !py_interp_running()) {
        py_interp_options_t opts = worker_python_options(cfg);
        if (py_interp_init(&opts, err, errlen) < 0)
            return -1;
    }
    return py_hooks_load(cfg, (int)getpid(), num_workers, err, errlen);
}
