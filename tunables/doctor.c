/* `uwsgi-fast doctor`: the host audit described in doctor.h. Each check reads its files
 * under the root, decides a level and prints one finding with the command that fixes it. */
#include "tunables/doctor.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/mem.h"
#include "tunables/host.h"

#define PAGE             4096ull
#define NOFILE_HEADROOM  64ull
#define MIN_KERNEL_MAJOR 6 /* multishot recv with provided buffer rings: Linux 6.0 */
#define MIN_KERNEL_MINOR 0
#define UNLIMITED        ULLONG_MAX

enum level { OK, NOTE, WARN, BLOCK };

typedef struct report {
    FILE *out;
    const char *root;
    bool real; /* the root is "/": syscalls and the probe describe the same host */
    int blocks, warns;
} report_t;

static void finding(report_t *r, enum level lv, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void finding(report_t *r, enum level lv, const char *fix, const char *fmt, ...)
{
    static const char *const tags[] = {"ok", "note", "warn", "BLOCKS"};
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    fprintf(r->out, "  %-7s %s\n", tags[lv], text);
    /* each line of fix is one command or one alternative */
    for (const char *p = fix; p && *p;) {
        size_t len = strcspn(p, "\n");
        fprintf(r->out, "          %s %.*s\n", p == fix ? "fix:" : "    ", (int)len, p);
        p += len + (p[len] == '\n');
    }
    if (lv == BLOCK)
        r->blocks++;
    else if (lv == WARN)
        r->warns++;
}

static void heading(report_t *r, const char *title)
{
    fprintf(r->out, "\n%s\n", title);
}

static int read_ll(const report_t *r, const char *rel, long long *v)
{
    char text[64];
    int rc = tun_host_read_text(r->root, rel, text, sizeof(text));
    if (rc < 0)
        return rc;
    char *end;
    errno = 0;
    *v = strtoll(text, &end, 10);
    if (errno || end == text)
        return -EINVAL;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void human(unsigned long long bytes, char *out, size_t n)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes == UNLIMITED) {
        snprintf(out, n, "unlimited");
        return;
    }
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u + 1 < UF_ARRAY_LEN(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, n, "%llu bytes", bytes);
    else if (v == (double)(unsigned long long)v)
        snprintf(out, n, "%.0f %s", v, units[u]);
    else
        snprintf(out, n, "%.1f %s", v, units[u]);
}

/* "0-3,8,10-11" from an ascending list. */
static void cpulist(const int *cpus, int n, char *out, size_t len)
{
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < n && used < len;) {
        int j = i;
        while (j + 1 < n && cpus[j + 1] == cpus[j] + 1)
            j++;
        int w;
        if (j > i)
            w = snprintf(out + used, len - used, "%s%d-%d", used ? "," : "", cpus[i], cpus[j]);
        else
            w = snprintf(out + used, len - used, "%s%d", used ? "," : "", cpus[i]);
        if (w < 0)
            break;
        used += (size_t)w;
        i = j + 1;
    }
}

unsigned long long tun_memlock_per_worker(const tun_config_t *cfg)
{
    unsigned long long ring = (unsigned long long)cfg->recv_buffers * 16;
    return (ring + PAGE - 1) / PAGE * PAGE;
}

unsigned long long tun_nofile_per_worker(const tun_config_t *cfg)
{
    return (unsigned long long)cfg->worker_connections + NOFILE_HEADROOM;
}

/* A soft and hard limit from /proc/self/limits ("Max open files  1024  4096  files"). */
static bool read_limit(const report_t *r, const char *name, int resource, unsigned long long *soft,
                       unsigned long long *hard)
{
    char text[8192];
    if (tun_host_read_text(r->root, "proc/self/limits", text, sizeof(text)) >= 0) {
        size_t nl = strlen(name);
        for (char *line = text; *line;) {
            size_t len = strcspn(line, "\n");
            if (strncmp(line, name, nl) == 0 && line[nl] == ' ') {
                char a[32], b[32];
                char one[256];
                snprintf(one, sizeof(one), "%.*s", (int)len, line + nl);
                if (sscanf(one, "%31s %31s", a, b) == 2) {
                    *soft = strcmp(a, "unlimited") == 0 ? UNLIMITED : strtoull(a, NULL, 10);
                    *hard = strcmp(b, "unlimited") == 0 ? UNLIMITED : strtoull(b, NULL, 10);
                    return true;
                }
            }
            line += len + (line[len] == '\n');
        }
    }
    if (!r->real)
        return false;
    struct rlimit rl;
    if (getrlimit(resource, &rl) < 0)
        return false;
    *soft = rl.rlim_cur == RLIM_INFINITY ? UNLIMITED : (unsigned long long)rl.rlim_cur;
    *hard = rl.rlim_max == RLIM_INFINITY ? UNLIMITED : (unsigned long long)rl.rlim_max;
    return true;
}

/* ---- the checks ------------------------------------------------------------------------- */

/* What blocks io_uring blocks the server only with --engine io_uring: auto (the
 * default) serves on epoll instead, so there it is a warning. */
static enum level uring_block(const tun_config_t *cfg)
{
    return cfg->engine && strcmp(cfg->engine, "io_uring") == 0 ? BLOCK : WARN;
}

/* The section's last line: the engine a server started now would run. */
static void engine_line(report_t *r, const tun_config_t *cfg, bool probed, bool works, bool blocked)
{
    const char *e = cfg->engine ? cfg->engine : "auto";
    if (strcmp(e, "epoll") == 0)
        finding(r, NOTE, NULL, "engine: epoll (--engine epoll; io_uring is not used)");
    else if (strcmp(e, "io_uring") == 0)
        finding(r, NOTE, NULL, "engine: io_uring (--engine io_uring: refuses to start without)");
    else if (blocked || (probed && !works))
        finding(r, NOTE, NULL,
                "engine: epoll (--engine auto falls back, since io_uring is blocked here; "
                "registered buffers and SEND_ZC are off)");
    else
        finding(r, NOTE, NULL, "engine: io_uring%s (--engine auto)",
                probed ? "" : ", unless a probe on the host itself fails");
}

static void check_uring(report_t *r, const tun_config_t *cfg, tun_uring_probe_fn probe)
{
    heading(r, "io_uring");
    bool blocked = false;
    char text[256];
    int major = 0, minor = 0;
    if (tun_host_read_text(r->root, "proc/sys/kernel/osrelease", text, sizeof(text)) > 0 &&
        sscanf(text, "%d.%d", &major, &minor) == 2) {
        if (major < MIN_KERNEL_MAJOR || (major == MIN_KERNEL_MAJOR && minor < MIN_KERNEL_MINOR)) {
            blocked = true;
            finding(r, uring_block(cfg),
                    "upgrade the kernel to 6.1 or newer (Debian 12's 6.1 is the baseline)",
                    "kernel %s: uwsgi-fast needs Linux >= 6.0 (multishot recv with provided "
                    "buffer rings)",
                    text);
        } else
            finding(r, OK, NULL, "kernel %s", text);
    } else {
        finding(r, NOTE, NULL, "kernel version unknown (no /proc/sys/kernel/osrelease)");
    }

    char msg[1024];
    bool probed = false, works = false;
    if (r->real && probe) {
        probed = true;
        works = probe(msg, sizeof(msg)) == 0;
    }

    long long disabled = 0;
    if (read_ll(r, "proc/sys/kernel/io_uring_disabled", &disabled) < 0) {
        finding(r, OK, NULL,
                "kernel.io_uring_disabled is absent (kernels before 6.6 always "
                "allow io_uring)");
    } else if (disabled == 0) {
        finding(r, OK, NULL, "kernel.io_uring_disabled = 0");
    } else if (disabled == 1) {
        long long group = -1;
        read_ll(r, "proc/sys/kernel/io_uring_group", &group);
        char fix[256];
        snprintf(fix, sizeof(fix),
                 "sysctl -w kernel.io_uring_disabled=0\nor run uwsgi-fast as a member of group "
                 "%lld (kernel.io_uring_group)",
                 group);
        finding(r, probed && works ? OK : WARN, probed && works ? NULL : fix,
                "kernel.io_uring_disabled = 1: only root and members of group %lld may create "
                "rings%s",
                group, probed && works ? ", and this process may" : "");
    } else {
        blocked = true;
        finding(r, uring_block(cfg),
                "sysctl -w kernel.io_uring_disabled=0\nkeep it: echo 'kernel.io_uring_disabled "
                "= 0' > /etc/sysctl.d/60-io-uring.conf",
                "kernel.io_uring_disabled = %lld: io_uring is disabled for every process",
                disabled);
    }

    char status[16384], seccomp[32] = "";
    if (tun_host_read_text(r->root, "proc/self/status", status, sizeof(status)) >= 0) {
        /* the "Seccomp:" line, first or not; "Seccomp_filters:" is another field */
        const char *p = status;
        while (p && strncmp(p, "Seccomp:", 8) != 0) {
            p = strchr(p, '\n');
            p = p ? p + 1 : NULL;
        }
        if (p) {
            p += 8;
            while (*p == ' ' || *p == '\t')
                p++;
            snprintf(seccomp, sizeof(seccomp), "%.*s", (int)strcspn(p, "\n"), p);
        }
    }
    static const char seccomp_fix[] =
        "docker/podman: run with --security-opt seccomp=PROFILE.json where the profile allows "
        "io_uring_setup, io_uring_enter and io_uring_register\nKubernetes: a "
        "securityContext.seccompProfile of type Localhost with that profile";
    if (!seccomp[0])
        finding(r, NOTE, NULL, "seccomp state unknown (no Seccomp line in /proc/self/status)");
    else if (strcmp(seccomp, "0") == 0)
        finding(r, OK, NULL, "no seccomp filter (Seccomp: 0)");
    else if (strcmp(seccomp, "1") == 0)
        finding(r, BLOCK, seccomp_fix,
                "seccomp strict mode (Seccomp: 1) allows only read, "
                "write, exit and sigreturn");
    else if (probed && works)
        finding(r, OK, NULL, "a seccomp filter is active (Seccomp: %s) and lets io_uring through",
                seccomp);
    else if (!probed)
        finding(r, WARN, seccomp_fix,
                "a seccomp filter is active (Seccomp: %s): Docker >= 25 and containerd 2 "
                "default profiles block io_uring",
                seccomp);
    else
        finding(r, NOTE, NULL, "a seccomp filter is active (Seccomp: %s)", seccomp);

    if (probed) {
        if (works)
            finding(r, OK, NULL, "probe ring created: %s", msg);
        else
            finding(r, uring_block(cfg), NULL, "probe ring failed: %s", msg);
    }
    engine_line(r, cfg, probed, works, blocked);
}

static void check_limits(report_t *r, const tun_config_t *cfg, const tun_plan_t *plan)
{
    heading(r, "Limits");
    unsigned long long soft, hard;
    char a[32], b[32], c[32];
    unsigned long long per = tun_memlock_per_worker(cfg);
    unsigned long long need = per * (unsigned long long)plan->workers;
    if (!read_limit(r, "Max locked memory", RLIMIT_MEMLOCK, &soft, &hard)) {
        finding(r, NOTE, NULL, "RLIMIT_MEMLOCK unknown (no /proc/self/limits)");
    } else {
        human(soft, a, sizeof(a));
        human(need, b, sizeof(b));
        human(per, c, sizeof(c));
        if (soft != UNLIMITED && soft < need)
            finding(r, BLOCK,
                    "ulimit -l unlimited (in the shell or script that starts uwsgi-fast)\n"
                    "systemd: LimitMEMLOCK=infinity in the service's [Service] section\n"
                    "docker: --ulimit memlock=-1:-1",
                    "RLIMIT_MEMLOCK is %s; %d workers pin %s (%s each for --recv-buffers %d): "
                    "rings would fail with ENOMEM",
                    a, plan->workers, b, c, cfg->recv_buffers);
        else
            finding(r, OK, NULL, "RLIMIT_MEMLOCK %s covers the %s that %d workers pin", a, b,
                    plan->workers);
        /* the registered send buffers of zero-copy file bodies come on top, set up on a
         * worker's first large file to a remote peer; without room they stay off */
        unsigned long long zc = TUN_SEND_ARENA_BYTES * (unsigned long long)plan->workers;
        if (soft != UNLIMITED && soft < need + zc) {
            human(need + zc, b, sizeof(b));
            human(TUN_SEND_ARENA_BYTES, c, sizeof(c));
            finding(r, WARN,
                    "ulimit -l unlimited (in the shell or script that starts uwsgi-fast)\n"
                    "systemd: LimitMEMLOCK=infinity in the service's [Service] section\n"
                    "docker: --ulimit memlock=-1:-1",
                    "RLIMIT_MEMLOCK is %s; with zero-copy send buffers (%s per worker) %d "
                    "workers pin %s: large file bodies would be sent without zero-copy",
                    a, c, plan->workers, b);
        }
    }

    unsigned long long nofile = tun_nofile_per_worker(cfg);
    if (!read_limit(r, "Max open files", RLIMIT_NOFILE, &soft, &hard)) {
        finding(r, NOTE, NULL, "RLIMIT_NOFILE unknown (no /proc/self/limits)");
    } else if (soft != UNLIMITED && soft < nofile) {
        char fix[512];
        unsigned long long want = nofile < 65536 ? 65536 : nofile; /* a round, roomy number */
        snprintf(fix, sizeof(fix),
                 "ulimit -n %llu%s\nsystemd: LimitNOFILE=%llu\ndocker: --ulimit nofile=%llu:%llu",
                 want,
                 hard != UNLIMITED && hard < want ? " (as root: the hard limit is lower)" : "",
                 want, want, want);
        finding(r, WARN, fix,
                "RLIMIT_NOFILE is %llu (hard %s); each worker needs %llu for "
                "--worker-connections %d: connections past the limit are refused",
                soft, hard == UNLIMITED ? "unlimited" : (snprintf(a, sizeof(a), "%llu", hard), a),
                nofile, cfg->worker_connections);
    } else {
        finding(r, OK, NULL, "RLIMIT_NOFILE %s covers %llu per worker",
                soft == UNLIMITED ? "unlimited" : (snprintf(a, sizeof(a), "%llu", soft), a),
                nofile);
    }
}

static void check_network(report_t *r, const tun_config_t *cfg)
{
    heading(r, "Network");
    long long v;
    if (read_ll(r, "proc/sys/net/core/somaxconn", &v) < 0)
        finding(r, NOTE, NULL, "net.core.somaxconn unknown");
    else if (v < cfg->backlog) {
        char fix[256];
        snprintf(fix, sizeof(fix),
                 "sysctl -w net.core.somaxconn=%d\nin a container: docker run --sysctl "
                 "net.core.somaxconn=%d (it is per network namespace)",
                 cfg->backlog, cfg->backlog);
        finding(r, WARN, fix,
                "net.core.somaxconn = %lld caps each listener's queue below --backlog %d", v,
                cfg->backlog);
    } else
        finding(r, OK, NULL, "net.core.somaxconn = %lld >= --backlog %d", v, cfg->backlog);

    if (read_ll(r, "proc/sys/net/ipv4/tcp_max_syn_backlog", &v) < 0)
        finding(r, NOTE, NULL, "net.ipv4.tcp_max_syn_backlog unknown");
    else if (v < cfg->backlog) {
        char fix[128];
        snprintf(fix, sizeof(fix), "sysctl -w net.ipv4.tcp_max_syn_backlog=%d", cfg->backlog);
        finding(r, WARN, fix,
                "net.ipv4.tcp_max_syn_backlog = %lld is below --backlog %d: half-open "
                "connections beyond it fall back to SYN cookies or are dropped",
                v, cfg->backlog);
    } else
        finding(r, OK, NULL, "net.ipv4.tcp_max_syn_backlog = %lld >= --backlog %d", v,
                cfg->backlog);

    if (read_ll(r, "proc/sys/net/ipv4/tcp_migrate_req", &v) < 0)
        finding(r, NOTE, NULL,
                "net.ipv4.tcp_migrate_req is absent (Linux < 5.14): a listener "
                "closed by a scale-down drops its queued connections");
    else if (v == 0)
        finding(r, WARN, "sysctl -w net.ipv4.tcp_migrate_req=1",
                "net.ipv4.tcp_migrate_req = 0: connections queued on a worker's listener are "
                "reset when a scale-down (TTOU) closes it, instead of moving to another worker");
    else
        finding(r, OK, NULL, "net.ipv4.tcp_migrate_req = %lld", v);
}

static void check_cpus(report_t *r, const tun_config_t *cfg, const tun_host_t *h)
{
    heading(r, "CPUs, NUMA and cgroups");
    char list[1024];
    if (h->ncpus > 0) {
        cpulist(h->cpus, h->ncpus, list, sizeof(list));
        if (h->cpus_online > 0 && h->cpus_online != h->ncpus)
            finding(r, NOTE, NULL, "%d of %d online CPUs are ours (affinity): %s", h->ncpus,
                    h->cpus_online, list);
        else
            finding(r, OK, NULL, "%d CPUs: %s", h->ncpus, list);
    } else {
        finding(r, NOTE, NULL, "CPUs unknown (no Cpus_allowed_list, no cpu/online)");
    }

    if (h->nnodes == 0) {
        finding(r, NOTE, NULL, "no NUMA information (/sys/devices/system/node)");
    } else {
        for (int i = 0; i < h->nnodes; i++) {
            const tun_node_t *n = &h->nodes[i];
            int ours = 0;
            for (int k = 0; k < n->ncpus; k++)
                for (int j = 0; j < h->ncpus; j++)
                    ours += h->cpus[j] == n->cpus[k];
            cpulist(n->cpus, n->ncpus, list, sizeof(list));
            finding(r, OK, NULL, "NUMA node %d: CPUs %s (%d ours)", n->id, list, ours);
        }
        if (h->nnodes > 1)
            finding(r, NOTE, NULL,
                    "%d NUMA nodes: workers are spread over them in proportion (see the plan); "
                    "--cpu-pin and --numa-pin keep each on its node",
                    h->nnodes);
    }

    if (h->cgroup_version == 0)
        finding(r, NOTE, NULL, "no cgroup files found under /sys/fs/cgroup");
    else
        finding(r, OK, NULL, "cgroup v%d", h->cgroup_version);
    if (h->cpu_quota > 0) {
        int usable = tun_host_usable_cpus(h);
        finding(r, NOTE, NULL, "CPU quota %.2f CPUs (%s): workers can use %d CPU%s", h->cpu_quota,
                h->cpu_quota_from, usable, usable == 1 ? "" : "s");
        if (!cfg->workers_auto && cfg->workers > usable) {
            char fix[128];
            snprintf(fix, sizeof(fix), "uwsgi-fast --workers auto ... (or -w %d)", usable);
            finding(r, WARN, fix,
                    "--workers %d is more than the %d CPU%s the quota allows: the workers "
                    "would be throttled in turn",
                    cfg->workers, usable, usable == 1 ? "" : "s");
        }
    } else if (h->cgroup_version) {
        finding(r, OK, NULL, "no cgroup CPU quota");
    }
    char a[32], b[32];
    if (h->mem_limit) {
        human(h->mem_limit, a, sizeof(a));
        finding(r, NOTE, NULL, "cgroup memory limit %s (%s)", a, h->mem_limit_from);
    } else if (h->cgroup_version) {
        finding(r, OK, NULL, "no cgroup memory limit");
    }
    if (h->mem_total) {
        human(h->mem_total, b, sizeof(b));
        finding(r, OK, NULL, "MemTotal %s", b);
    }
}

static void check_thp_governor(report_t *r, const tun_host_t *h)
{
    heading(r, "Memory and frequency");
    char text[256];
    if (tun_host_read_text(r->root, "sys/kernel/mm/transparent_hugepage/enabled", text,
                           sizeof(text)) < 0) {
        finding(r, NOTE, NULL, "transparent huge pages: not exposed");
    } else if (strstr(text, "[always]")) {
        finding(r, WARN,
                "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled\nkeep it: "
                "transparent_hugepage=madvise on the kernel command line",
                "transparent huge pages are always on: a copy-on-write fault in a forked worker "
                "copies 2 MiB instead of 4 KiB, so worker memory grows and --reload-on-rss trips "
                "early");
    } else {
        const char *open = strchr(text, '['), *close = open ? strchr(open, ']') : NULL;
        finding(r, OK, NULL, "transparent huge pages: %.*s",
                open && close ? (int)(close - open - 1) : (int)strlen(text),
                open && close ? open + 1 : text);
    }

    /* the governors of our CPUs, counted */
    char names[8][32] = {{0}};
    int counts[8] = {0}, kinds = 0, seen = 0;
    for (int i = 0; i < h->ncpus; i++) {
        char rel[128], gov[32];
        snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor",
                 h->cpus[i]);
        if (tun_host_read_text(r->root, rel, gov, sizeof(gov)) <= 0)
            continue;
        seen++;
        int k = 0;
        while (k < kinds && strcmp(names[k], gov) != 0)
            k++;
        if (k == kinds && kinds < 8)
            snprintf(names[kinds++], sizeof(names[0]), "%s", gov);
        if (k < 8)
            counts[k]++;
    }
    if (!seen) {
        finding(r, NOTE, NULL,
                "CPU frequency governor: not exposed (a virtual machine or a "
                "container without cpufreq)");
        return;
    }
    char summary[256] = "";
    bool all_perf = true;
    for (int k = 0; k < kinds; k++) {
        size_t used = strlen(summary);
        snprintf(summary + used, sizeof(summary) - used, "%s%s on %d CPU%s", k ? ", " : "",
                 names[k], counts[k], counts[k] == 1 ? "" : "s");
        all_perf = all_perf && strcmp(names[k], "performance") == 0;
    }
    if (all_perf)
        finding(r, OK, NULL, "CPU frequency governor: %s", summary);
    else
        finding(r, WARN,
                "cpupower frequency-set -g performance\nor: echo performance | tee "
                "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor",
                "CPU frequency governor: %s; latency and benchmark results vary with the clock",
                summary);
}

/* plan is what `--workers auto` would do; started what these settings start, placed. */
static void print_plan(report_t *r, const tun_config_t *cfg, const tun_host_t *h,
                       const tun_plan_t *plan, const tun_plan_t *started)
{
    heading(r, "Worker plan");
    char a[32], b[32], c[32];
    human(plan->footprint, c, sizeof(c));
    if (plan->budget) {
        human(plan->budget, a, sizeof(a));
        human(plan->reserve, b, sizeof(b));
        finding(r, OK, NULL,
                "memory budget %s (%s) - reserve %s = room for %ld workers of %s (estimated "
                "until measured)",
                a, h->mem_limit && h->mem_limit <= plan->budget ? "cgroup limit" : "MemTotal", b,
                plan->fit, c);
    } else {
        finding(r, NOTE, NULL, "memory budget unknown: workers are not capped by memory");
    }
    if (cfg->workers_auto) {
        finding(r, OK, NULL, "--workers auto: %d worker%s (limited by %s; %d usable CPU%s)",
                plan->workers, plan->workers == 1 ? "" : "s", plan->limited_by, plan->cpus,
                plan->cpus == 1 ? "" : "s");
        if (plan->fit == 0) {
            char fix[128];
            snprintf(fix, sizeof(fix),
                     "lower --memory-reserve (now %d MB) or raise the memory "
                     "limit",
                     cfg->memory_reserve_mb);
            finding(r, WARN, fix,
                    "not even one worker fits in the memory budget; starting one "
                    "anyway");
        }
    } else {
        finding(r, OK, NULL, "--workers %d (--workers auto would start %d)", cfg->workers,
                plan->workers);
        if (plan->fit >= 0 && cfg->workers > plan->fit) {
            char fix[128];
            snprintf(fix, sizeof(fix), "uwsgi-fast --workers auto ... (or -w %ld)",
                     plan->fit > 0 ? plan->fit : 1);
            finding(r, WARN, fix,
                    "--workers %d would need about %d x %s, more than the memory budget holds: "
                    "the OOM killer would pick workers",
                    cfg->workers, cfg->workers, c);
        }
    }
    /* placement, one line per node */
    plan = started;
    int nn = h->nnodes > 0 ? h->nnodes : 1;
    for (int i = 0; i < nn; i++) {
        int id = h->nnodes > 0 ? h->nodes[i].id : -1;
        int *cpus = uf_malloc(sizeof(int) * (size_t)(plan->workers + 1));
        int count = 0, n = 0;
        for (int k = 0; k < plan->workers; k++)
            if (plan->node[k] == id && plan->cpu[k] >= 0)
                cpus[count++] = plan->cpu[k];
        if (count > 1)
            qsort(cpus, (size_t)count, sizeof(int), cmp_int);
        for (int k = 0; k < count; k++) /* more workers than CPUs share them */
            if (n == 0 || cpus[n - 1] != cpus[k])
                cpus[n++] = cpus[k];
        if (count) {
            char list[1024];
            cpulist(cpus, n, list, sizeof(list));
            const char *cpus_word = n == 1 ? "CPU" : "CPUs";
            if (id >= 0)
                finding(r, OK, NULL, "node %d: %d worker%s on %s %s", id, count,
                        count == 1 ? "" : "s", cpus_word, list);
            else
                finding(r, OK, NULL, "%d worker%s on %s %s", count, count == 1 ? "" : "s",
                        cpus_word, list);
        }
        uf_free(cpus);
    }
}

int tun_doctor_report(const char *root, const tun_config_t *cfg, tun_uring_probe_fn probe,
                      FILE *out)
{
    report_t r = {.out = out, .root = root && *root ? root : "/"};
    r.real = strspn(r.root, "/") == strlen(r.root);
    tun_host_t h;
    int rc = tun_host_read(r.root, &h);
    if (rc < 0)
        return rc;
    /* `auto` and the default were resolved against the host this runs on; the audited
     * root may be another machine, so both are worked out again from its CPUs. */
    bool workers_default = tun_from_default(cfg, "workers");
    tun_config_t view = *cfg;
    tun_plan_t plan;
    tun_plan_from_host(&h, 0, cfg->memory_reserve_mb, 0, &plan);
    if (workers_default)
        view.workers = plan.cpus;
    cfg = &view;
    /* the limits are checked against what would start: the plan with auto, -w otherwise */
    tun_plan_t started = plan;
    started.cpu = started.node = NULL;
    tun_plan_place(&h, cfg->workers_auto ? plan.workers : cfg->workers, &started);

    fprintf(out,
            "uwsgi-fast doctor: auditing %s for %d worker%s%s (--backlog %d, "
            "--worker-connections %d)\n",
            r.real ? "this host" : r.root, started.workers, started.workers == 1 ? "" : "s",
            cfg->workers_auto ? " (auto)" : "", cfg->backlog, cfg->worker_connections);
    check_uring(&r, cfg, probe);
    check_limits(&r, cfg, &started);
    check_network(&r, cfg);
    check_cpus(&r, cfg, &h);
    check_thp_governor(&r, &h);
    print_plan(&r, cfg, &h, &plan, &started);

    if (r.blocks)
        fprintf(out,
                "\n%d problem%s block%s uwsgi-fast (and %d warning%s): fix the BLOCKS "
                "lines above.\n",
                r.blocks, r.blocks == 1 ? "" : "s", r.blocks == 1 ? "s" : "", r.warns,
                r.warns == 1 ? "" : "s");
    else
        fprintf(out, "\nNothing blocks uwsgi-fast (%d warning%s).\n", r.warns,
                r.warns == 1 ? "" : "s");
    tun_plan_free(&plan);
    tun_plan_free(&started);
    tun_host_free(&h);
    return r.blocks;
}

static void doctor_usage(FILE *out)
{
    fprintf(out, "usage: uwsgi-fast doctor [--root DIR] [OPTIONS]\n"
                 "\n"
                 "Audits this host for uwsgi-fast with the settings OPTIONS would give (the same\n"
                 "flags, environment and config file as a server start; the application may be\n"
                 "left out) and prints what to change, with the command. Exit status 0 when\n"
                 "nothing blocks uwsgi-fast, 1 when something does, 2 for bad usage.\n"
                 "\n"
                 "  --root DIR    read /proc and /sys under DIR instead of / (a fixture tree)\n");
}

int tun_doctor_main(int argc, char **argv, char **envp, FILE *out, FILE *errout,
                    tun_uring_probe_fn probe)
{
    const char *root = "/";
    char **rest = uf_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    rest[n++] = "uwsgi-fast";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--root") == 0) {
            if (i + 1 >= argc) {
                fprintf(errout, "uwsgi-fast doctor: --root needs a directory\n");
                uf_free(rest);
                return 2;
            }
            root = argv[++i];
        } else if (strncmp(a, "--root=", 7) == 0) {
            root = a + 7;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            doctor_usage(out);
            uf_free(rest);
            return 0;
        } else {
            rest[n++] = argv[i];
        }
    }
    rest[n] = NULL;

    tun_config_t cfg;
    char err[512];
    int rc = tun_parse_ex(&cfg, n, rest, envp, TUN_PARSE_NO_APP, out, err, sizeof(err));
    uf_free(rest);
    if (rc == TUN_ERROR) {
        fprintf(errout, "uwsgi-fast doctor: %s\n", err);
        return 2;
    }
    if (rc == TUN_EXIT)
        return 0;
    for (size_t i = 0; i < cfg.warning_count; i++)
        fprintf(errout, "uwsgi-fast doctor: warning: %s\n", cfg.warnings[i]);
    int blocks = tun_doctor_report(root, &cfg, probe, out);
    tun_config_free(&cfg);
    if (blocks < 0) {
        fprintf(errout, "uwsgi-fast doctor: --root: \"%s\" cannot be read: %s\n", root,
                strerror(-blocks));
        return 2;
    }
    fflush(out);
    return blocks ? 1 : 0;
}
