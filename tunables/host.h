/* Host facts and the worker plan: how many workers fit on this machine and where each
 * one runs.
 *
 * Everything is read from files under a root directory ("/" on a real host), never from
 * syscalls that could not be pointed elsewhere, so that tests and `uwsgi-fast doctor
 * --root DIR` can describe a machine from a fixture tree: /proc/self/status for the CPUs
 * we may run on (Cpus_allowed_list), /sys/devices/system/cpu/online, the NUMA nodes in
 * /sys/devices/system/node, /proc/self/cgroup and the cgroup v2 (cpu.max, memory.max) or
 * v1 (cpu.cfs_quota_us, memory.limit_in_bytes) files it points to, found through
 * /proc/self/mountinfo (or, in a tree without one, at /sys/fs/cgroup), /proc/meminfo.
 * Only when the root is "/" and a file is missing does a syscall stand in
 * (sched_getaffinity).
 *
 * The planning rule is the master's as well as doctor's: workers = min(bound, usable
 * CPUs, (memory budget - reserve) / per-worker footprint), at least 1, where usable CPUs
 * are the allowed CPUs capped by the cgroup CPU quota (rounded up) and the memory budget
 * is the tightest cgroup limit, or MemTotal when there is none.
 */
#ifndef UF_TUNABLES_HOST_H
#define UF_TUNABLES_HOST_H

#include <stddef.h>
#include <stdint.h>

/* Per-worker footprint assumed until the master has measured one. */
#define TUN_DEFAULT_FOOTPRINT (64ull << 20)

typedef struct tun_node {
    int id;
    int *cpus; /* every CPU of the node, ascending */
    int ncpus;
} tun_node_t;

typedef struct tun_host {
    int *cpus; /* CPUs we may run on (affinity, online only), ascending */
    int ncpus;
    int cpus_online;          /* CPUs the kernel has online, 0 if unknown */
    double cpu_quota;         /* cgroup CPU limit in CPUs (2.5 = 250ms per 100ms), 0 = none */
    char cpu_quota_from[256]; /* the file the quota came from, "" if none */
    uint64_t mem_total;       /* MemTotal in bytes, 0 if unknown */
    uint64_t mem_limit;       /* tightest cgroup memory limit in bytes, 0 = none */
    char mem_limit_from[256]; /* the file the limit came from, "" if none */
    int cgroup_version;       /* 2, 1, or 0 when no cgroup files were found */
    tun_node_t *nodes;        /* NUMA nodes in id order; none on a host without NUMA info */
    int nnodes;
} tun_host_t;

typedef struct tun_plan {
    int cpus;           /* usable CPUs: allowed, capped by the cgroup quota */
    uint64_t budget;    /* memory budget in bytes (cgroup limit or MemTotal), 0 unknown */
    uint64_t reserve;   /* bytes kept free for the OS */
    uint64_t footprint; /* bytes assumed per worker */
    long fit;           /* workers that fit in budget - reserve; -1 when the budget is unknown */
    int workers;        /* the plan: min(bound, cpus, fit), at least 1 */
    const char *limited_by; /* what decided it: "CPUs", "memory" or "--workers" */
    int *cpu;               /* [workers]: the CPU worker k runs on, ascending; -1 if unknown */
    int *node;              /* [workers]: its NUMA node, -1 if unknown */
} tun_plan_t;

/* Reads the host under root. Missing files leave their fields unknown (0 / empty); only
 * an unusable root fails. Returns 0 or -errno; release with tun_host_free(). */
int tun_host_read(const char *root, tun_host_t *h);
void tun_host_free(tun_host_t *h);

/* CPUs the workers can use: the allowed CPUs capped by the CPU quota rounded up; >= 1. */
int tun_host_usable_cpus(const tun_host_t *h);

/* The NUMA node of a CPU, or -1 if the host has no NUMA information for it. */
int tun_host_node_of(const tun_host_t *h, int cpu);

/* Plans the workers for host h. bound is an upper limit (the --workers value; 0 means the
 * usable CPUs), reserve_mb the memory kept free, footprint the bytes per worker (0 means
 * TUN_DEFAULT_FOOTPRINT). Placement spreads the workers over the NUMA nodes in proportion
 * and within a node takes CPUs in order (first SMT threads of distinct cores, as Linux
 * numbers them); more workers than CPUs wrap around. Returns 0; release with
 * tun_plan_free(). */
int tun_plan_from_host(const tun_host_t *h, int bound, int reserve_mb, uint64_t footprint,
                       tun_plan_t *plan);

/* Places exactly n workers on h (replacing plan->cpu and plan->node, setting
 * plan->workers), as tun_plan_from_host does: for a fixed --workers N. */
void tun_plan_place(const tun_host_t *h, int n, tun_plan_t *plan);

/* tun_host_read + tun_plan_from_host: what the master calls for `--workers auto`, e.g.
 *   tun_plan_workers("/", cfg->workers, cfg->memory_reserve_mb, measured_rss, &plan)
 * Returns 0 or -errno (from tun_host_read). */
int tun_plan_workers(const char *root, int bound, int reserve_mb, uint64_t footprint,
                     tun_plan_t *plan);
void tun_plan_free(tun_plan_t *plan);

/* Reads root/rel into buf (NUL-terminated, trailing newlines trimmed). Returns the length
 * or -errno. */
int tun_host_read_text(const char *root, const char *rel, char *buf, size_t len);

/* Parses a kernel CPU list ("0-3,8,10-11") into an ascending array without duplicates.
 * Returns the count (*out owned by the caller, uf_free) or -EINVAL. CPUs past 65535 are
 * refused as nonsense. */
int tun_parse_cpulist(const char *text, int **out);

#endif
