/* Host facts read from /proc and /sys under a root prefix, and the worker plan built on
 * them (see host.h). */
#include "tunables/host.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"

#define MAX_CPU 65535
/* cgroup v1 writes "no limit" as the largest page-aligned long; anything this large is
 * no limit in practice. */
#define NO_LIMIT_FLOOR (1ull << 60)

static void join(char *out, size_t n, const char *root, const char *rel)
{
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    while (*rel == '/')
        rel++;
    if (rl == 1 && root[0] == '/')
        snprintf(out, n, "/%s", rel);
    else
        snprintf(out, n, "%.*s/%s", (int)rl, root, rel);
}

int tun_host_read_text(const char *root, const char *rel, char *buf, size_t len)
{
    char path[PATH_MAX];
    join(path, sizeof(path), root, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t r = read(fd, buf + got, len - 1 - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    while (got && (buf[got - 1] == '\n' || buf[got - 1] == ' '))
        got--;
    buf[got] = 0;
    return (int)got;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int tun_parse_cpulist(const char *text, int **out)
{
    int *cpus = NULL;
    size_t n = 0;
    const char *p = text;
    *out = NULL;
    while (isspace((unsigned char)*p))
        p++;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p))
            goto bad;
        long a = strtol(p, &end, 10), b = a;
        p = end;
        if (*p == '-') {
            p++;
            if (!isdigit((unsigned char)*p))
                goto bad;
            b = strtol(p, &end, 10);
            p = end;
        }
        if (a > b || b > MAX_CPU)
            goto bad;
        cpus = uf_realloc(cpus, (n + (size_t)(b - a) + 1) * sizeof(int));
        for (long c = a; c <= b; c++)
            cpus[n++] = (int)c;
        if (*p == ',')
            p++;
        else if (*p && !isspace((unsigned char)*p))
            goto bad;
        while (isspace((unsigned char)*p))
            p++;
    }
    if (n > 1)
        qsort(cpus, n, sizeof(int), cmp_int);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || cpus[m - 1] != cpus[i])
            cpus[m++] = cpus[i];
    *out = cpus;
    return (int)m;
bad:
    uf_free(cpus);
    return -EINVAL;
}

/* The value of "Key:" in a /proc "Key:\tvalue" file, copied into val. */
static bool field(const char *text, const char *key, char *val, size_t n)
{
    size_t kl = strlen(key);
    const char *line = text;
    while (*line) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            const char *v = line + kl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t l = strcspn(v, "\n");
            snprintf(val, n, "%.*s", (int)l, v);
            return true;
        }
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return false;
}

static int affinity_from_syscall(int **out)
{
    for (int ncpu = 1024; ncpu <= 1 << 16; ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        if (!set)
            return -ENOMEM;
        size_t size = CPU_ALLOC_SIZE(ncpu);
        if (sched_getaffinity(0, size, set) == 0) {
            int *cpus = uf_malloc(sizeof(int) * (size_t)ncpu);
            int n = 0;
            for (int c = 0; c < ncpu; c++)
                if (CPU_ISSET_S(c, size, set))
                    cpus[n++] = c;
            CPU_FREE(set);
            *out = cpus;
            return n;
        }
        CPU_FREE(set);
        if (errno != EINVAL)
            return -errno;
    }
    return -EINVAL;
}

static bool is_real_root(const char *root)
{
    return strspn(root, "/") == strlen(root);
}

/* ---- cgroups ------------------------------------------------------------------------- */

/* Reads an unsigned number from root/dir/file; "max" (and v1's huge values) mean none.
 * Returns 1 with *v set, 0 for "no limit", -errno if unreadable or not a number. */
static int read_limit(const char *root, const char *dir, const char *file, uint64_t *v)
{
    char rel[PATH_MAX], text[128];
    snprintf(rel, sizeof(rel), "%s/%s", dir, file);
    int rc = tun_host_read_text(root, rel, text, sizeof(text));
    if (rc < 0)
        return rc;
    if (strcmp(text, "max") == 0 || strcmp(text, "-1") == 0)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno || end == text || *end)
        return -EINVAL;
    if (n >= NO_LIMIT_FLOOR)
        return 0;
    *v = n;
    return 1;
}

/* Strips the last component of a cgroup path ("/a/b" -> "/a", "/a" -> "/"); false at "/". */
static bool parent(char *path)
{
    size_t l = strlen(path);
    if (l <= 1)
        return false;
    char *slash = strrchr(path, '/');
    if (slash == path)
        path[1] = 0;
    else
        *slash = 0;
    return true;
}

static void dir_exists_or_mount(const char *root, char *dir, size_t n, const char *mount,
                                const char *path)
{
    char rel[PATH_MAX], full[PATH_MAX];
    snprintf(rel, sizeof(rel), "%s%s", mount, strcmp(path, "/") == 0 ? "" : path);
    join(full, sizeof(full), root, rel);
    if (access(full, F_OK) == 0)
        snprintf(dir, n, "%s", rel);
    else /* a container without a cgroup namespace: our cgroup is mounted at the top */
        snprintf(dir, n, "%s", mount);
}

/* Walks from our cgroup up to the mount's top, keeping the tightest memory limit and CPU
 * quota: a parent's limit binds its children too. */
static void walk_cgroup(const char *root, tun_host_t *h, const char *mount_mem,
                        const char *mount_cpu, const char *path_mem, const char *path_cpu,
                        int version)
{
    char dir[PATH_MAX], p[PATH_MAX];
    if (mount_mem) {
        snprintf(p, sizeof(p), "%s", path_mem);
        dir_exists_or_mount(root, dir, sizeof(dir), mount_mem, p);
        for (;;) {
            uint64_t v;
            const char *file = version == 2 ? "memory.max" : "memory.limit_in_bytes";
            if (read_limit(root, dir, file, &v) == 1 && (!h->mem_limit || v < h->mem_limit)) {
                h->mem_limit = v;
                snprintf(h->mem_limit_from, sizeof(h->mem_limit_from), "/%s/%s",
                         dir[0] == '/' ? dir + 1 : dir, file);
            }
            if (strcmp(dir, mount_mem) == 0)
                break;
            /* dir is mount + path: step the path up */
            char *tail = dir + strlen(mount_mem);
            if (!parent(tail) || strcmp(tail, "/") == 0)
                snprintf(dir, sizeof(dir), "%s", mount_mem);
        }
    }
    if (mount_cpu) {
        snprintf(p, sizeof(p), "%s", path_cpu);
        dir_exists_or_mount(root, dir, sizeof(dir), mount_cpu, p);
        for (;;) {
            double q = 0;
            char rel[PATH_MAX], text[128];
            if (version == 2) {
                snprintf(rel, sizeof(rel), "%s/cpu.max", dir);
                unsigned long long quota, period;
                if (tun_host_read_text(root, rel, text, sizeof(text)) > 0 &&
                    sscanf(text, "%llu %llu", &quota, &period) == 2 && period)
                    q = (double)quota / (double)period;
            } else {
                uint64_t quota = 0, period = 0;
                if (read_limit(root, dir, "cpu.cfs_quota_us", &quota) == 1 &&
                    read_limit(root, dir, "cpu.cfs_period_us", &period) == 1 && period)
                    q = (double)quota / (double)period;
                snprintf(rel, sizeof(rel), "%s/cpu.cfs_quota_us", dir);
            }
            if (q > 0 && (h->cpu_quota == 0 || q < h->cpu_quota)) {
                h->cpu_quota = q;
                snprintf(h->cpu_quota_from, sizeof(h->cpu_quota_from), "/%s",
                         rel[0] == '/' ? rel + 1 : rel);
            }
            if (strcmp(dir, mount_cpu) == 0)
                break;
            char *tail = dir + strlen(mount_cpu);
            if (!parent(tail) || strcmp(tail, "/") == 0)
                snprintf(dir, sizeof(dir), "%s", mount_cpu);
        }
    }
}

/* A cgroup hierarchy as /proc/self/mountinfo shows it mounted. */
typedef struct cg_mount {
    char dir[PATH_MAX];  /* mount point, relative to the root ("sys/fs/cgroup/memory") */
    char base[PATH_MAX]; /* the hierarchy's path mounted there: "/", or "/docker/abc" in a
                            container without a cgroup namespace */
    bool found;
} cg_mount_t;

/* Decodes mountinfo's octal escapes (\040 is a space) in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

static void set_mount(cg_mount_t *m, const char *point, const char *base)
{
    if (m->found)
        return; /* the first mount of a hierarchy is the one the kernel set up */
    snprintf(m->dir, sizeof(m->dir), "%s", point[0] == '/' ? point + 1 : point);
    snprintf(m->base, sizeof(m->base), "%s", base);
    m->found = true;
}

/* Finds the cgroup v2 mount and the v1 memory and cpu mounts, wherever they are (hybrid
 * systemd hosts mount v2 at /sys/fs/cgroup/unified). False without a mountinfo file. */
static bool read_mountinfo(const char *root, cg_mount_t *v2, cg_mount_t *mem, cg_mount_t *cpu)
{
    enum { MAX = 1 << 18 };
    char *text = uf_malloc(MAX);
    if (tun_host_read_text(root, "proc/self/mountinfo", text, MAX) < 0) {
        uf_free(text);
        return false;
    }
    for (char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        char *next = line + len + (line[len] == '\n');
        line[len] = 0;
        /* ID PARENT MAJ:MIN BASE POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
        char *tok[64], *save = NULL;
        int n = 0, dash = -1;
        for (char *t = strtok_r(line, " ", &save); t && n < 64; t = strtok_r(NULL, " ", &save)) {
            if (dash < 0 && n >= 6 && strcmp(t, "-") == 0)
                dash = n;
            tok[n++] = t;
        }
        line = next;
        if (dash < 0 || dash + 3 >= n)
            continue;
        const char *fstype = tok[dash + 1], *super = tok[dash + 3];
        char *base = tok[3], *point = tok[4];
        unescape(base);
        unescape(point);
        if (strcmp(fstype, "cgroup2") == 0) {
            set_mount(v2, point, base);
        } else if (strcmp(fstype, "cgroup") == 0) {
            char opts[512];
            snprintf(opts, sizeof(opts), ",%s,", super);
            if (strstr(opts, ",memory,"))
                set_mount(mem, point, base);
            if (strstr(opts, ",cpu,"))
                set_mount(cpu, point, base);
        }
    }
    uf_free(text);
    return true;
}

/* Our cgroup's path inside a mount: the path from /proc/self/cgroup without the part of
 * the hierarchy above the mount. Outside it, the mount's top is the nearest we can see. */
static void within(const cg_mount_t *m, const char *path, char *out, size_t n)
{
    size_t bl = strlen(m->base);
    if (strcmp(m->base, "/") == 0)
        snprintf(out, n, "%s", path[0] ? path : "/");
    else if (strncmp(path, m->base, bl) == 0 && (path[bl] == '/' || !path[bl]))
        snprintf(out, n, "%s", path[bl] ? path + bl : "/");
    else
        snprintf(out, n, "/");
}

static bool v2_has(const char *root, const cg_mount_t *v2, const char *controller)
{
    char rel[PATH_MAX + 32], text[512], list[520], want[64];
    snprintf(rel, sizeof(rel), "%s/cgroup.controllers", v2->dir);
    if (tun_host_read_text(root, rel, text, sizeof(text)) < 0)
        return false;
    snprintf(list, sizeof(list), " %s ", text);
    snprintf(want, sizeof(want), " %s ", controller);
    return strstr(list, want) != NULL;
}

static void read_cgroups(const char *root, tun_host_t *h)
{
    char text[8192], probe[64];
    if (tun_host_read_text(root, "proc/self/cgroup", text, sizeof(text)) < 0)
        text[0] = 0;

    /* our paths: "0::/path" for v2, "N:memory:/path" and "N:cpu,cpuacct:/path" for v1 */
    char v2_path[PATH_MAX] = "/", mem_path[PATH_MAX] = "", cpu_path[PATH_MAX] = "";
    char cpu_ctrls[256] = "cpu";
    for (char *line = text; *line;) {
        size_t l = strcspn(line, "\n");
        char one[PATH_MAX];
        snprintf(one, sizeof(one), "%.*s", (int)l, line);
        line += l + (line[l] == '\n');
        char *c1 = strchr(one, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        const char *ctrls = c1 + 1, *path = c2 + 1;
        if (!*ctrls) {
            snprintf(v2_path, sizeof(v2_path), "%s", path);
            continue;
        }
        char list[256];
        snprintf(list, sizeof(list), ",%s,", ctrls);
        if (strstr(list, ",memory,"))
            snprintf(mem_path, sizeof(mem_path), "%s", path);
        if (strstr(list, ",cpu,")) {
            snprintf(cpu_path, sizeof(cpu_path), "%s", path);
            snprintf(cpu_ctrls, sizeof(cpu_ctrls), "%s", ctrls);
        }
    }

    cg_mount_t v2 = {0}, mem = {0}, cpu = {0};
    if (read_mountinfo(root, &v2, &mem, &cpu)) {
        /* Each controller is in v1 when a v1 hierarchy has it (hybrid hosts), else in v2
         * when the unified hierarchy lists it. */
        char rel[PATH_MAX];
        bool used_v1 = false, used_v2 = false;
        if (mem.found && mem_path[0]) {
            within(&mem, mem_path, rel, sizeof(rel));
            walk_cgroup(root, h, mem.dir, NULL, rel, NULL, 1);
            used_v1 = true;
        } else if (v2.found && v2_has(root, &v2, "memory")) {
            within(&v2, v2_path, rel, sizeof(rel));
            walk_cgroup(root, h, v2.dir, NULL, rel, NULL, 2);
            used_v2 = true;
        }
        if (cpu.found && cpu_path[0]) {
            within(&cpu, cpu_path, rel, sizeof(rel));
            walk_cgroup(root, h, NULL, cpu.dir, NULL, rel, 1);
            used_v1 = true;
        } else if (v2.found && v2_has(root, &v2, "cpu")) {
            within(&v2, v2_path, rel, sizeof(rel));
            walk_cgroup(root, h, NULL, v2.dir, NULL, rel, 2);
            used_v2 = true;
        }
        h->cgroup_version = used_v2 ? 2 : used_v1 ? 1 : v2.found ? 2 : (mem.found || cpu.found);
        return;
    }

    /* No mountinfo (a fixture tree): the conventional mount points. cgroup v2 when the
     * unified hierarchy is mounted at /sys/fs/cgroup itself; a "0::" line alone is also
     * present on v1 hosts running systemd's hybrid layout. */
    if (tun_host_read_text(root, "sys/fs/cgroup/cgroup.controllers", probe, sizeof(probe)) >= 0) {
        h->cgroup_version = 2;
        walk_cgroup(root, h, "sys/fs/cgroup", "sys/fs/cgroup", v2_path, v2_path, 2);
        return;
    }
    char cpu_mount[PATH_MAX] = "";
    if (cpu_path[0]) {
        /* mounted as "cpu,cpuacct" on most distributions, "cpu" on some */
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "sys/fs/cgroup/%s/cpu.cfs_period_us", cpu_ctrls);
        if (tun_host_read_text(root, rel, probe, sizeof(probe)) >= 0)
            snprintf(cpu_mount, sizeof(cpu_mount), "sys/fs/cgroup/%s", cpu_ctrls);
        else
            snprintf(cpu_mount, sizeof(cpu_mount), "sys/fs/cgroup/cpu");
    }
    if (!mem_path[0] && !cpu_path[0]) {
        /* no /proc/self/cgroup either: look at the mounts directly */
        if (tun_host_read_text(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", probe,
                               sizeof(probe)) >= 0)
            snprintf(mem_path, sizeof(mem_path), "/");
        if (tun_host_read_text(root, "sys/fs/cgroup/cpu/cpu.cfs_period_us", probe, sizeof(probe)) >=
            0) {
            snprintf(cpu_path, sizeof(cpu_path), "/");
            snprintf(cpu_mount, sizeof(cpu_mount), "sys/fs/cgroup/cpu");
        }
    }
    if (mem_path[0] || cpu_path[0]) {
        h->cgroup_version = 1;
        walk_cgroup(root, h, mem_path[0] ? "sys/fs/cgroup/memory" : NULL,
                    cpu_path[0] ? cpu_mount : NULL, mem_path, cpu_path, 1);
    }
}

/* ---- NUMA ------------------------------------------------------------------------------ */

static int cmp_node(const void *a, const void *b)
{
    return cmp_int(&((const tun_node_t *)a)->id, &((const tun_node_t *)b)->id);
}

static void read_nodes(const char *root, tun_host_t *h)
{
    char path[PATH_MAX];
    join(path, sizeof(path), root, "sys/devices/system/node");
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int id;
        char tail;
        if (sscanf(e->d_name, "node%d%c", &id, &tail) != 1 || id < 0)
            continue;
        char rel[128], text[4096];
        snprintf(rel, sizeof(rel), "sys/devices/system/node/node%d/cpulist", id);
        if (tun_host_read_text(root, rel, text, sizeof(text)) < 0)
            continue;
        int *cpus;
        int n = tun_parse_cpulist(text, &cpus);
        if (n < 0)
            continue;
        h->nodes = uf_realloc(h->nodes, (size_t)(h->nnodes + 1) * sizeof(tun_node_t));
        h->nodes[h->nnodes++] = (tun_node_t){.id = id, .cpus = cpus, .ncpus = n};
    }
    closedir(d);
    if (h->nnodes > 1)
        qsort(h->nodes, (size_t)h->nnodes, sizeof(tun_node_t), cmp_node);
}

int tun_host_node_of(const tun_host_t *h, int cpu)
{
    for (int i = 0; i < h->nnodes; i++)
        for (int k = 0; k < h->nodes[i].ncpus; k++)
            if (h->nodes[i].cpus[k] == cpu)
                return h->nodes[i].id;
    return -1;
}

/* ---- the whole host ------------------------------------------------------------------ */

int tun_host_read(const char *root, tun_host_t *h)
{
    memset(h, 0, sizeof(*h));
    if (!root || !*root)
        root = "/";
    char path[PATH_MAX];
    join(path, sizeof(path), root, "");
    if (access(path, R_OK | X_OK) < 0)
        return -errno;

    char text[16384], val[4096];
    int *online = NULL, nonline = -1;
    if (tun_host_read_text(root, "sys/devices/system/cpu/online", text, sizeof(text)) >= 0) {
        nonline = tun_parse_cpulist(text, &online);
        h->cpus_online = nonline > 0 ? nonline : 0;
    }

    int *allowed = NULL, nallowed = -1;
    if (tun_host_read_text(root, "proc/self/status", text, sizeof(text)) >= 0 &&
        field(text, "Cpus_allowed_list", val, sizeof(val)))
        nallowed = tun_parse_cpulist(val, &allowed);
    if (nallowed < 0 && is_real_root(root))
        nallowed = affinity_from_syscall(&allowed);
    if (nallowed < 0 && nonline > 0) { /* a fixture without a status file: all online */
        allowed = uf_malloc(sizeof(int) * (size_t)nonline);
        memcpy(allowed, online, sizeof(int) * (size_t)nonline);
        nallowed = nonline;
    }
    if (nallowed > 0 && nonline > 0) { /* the mask may name CPUs that are offline */
        int m = 0;
        for (int i = 0, j = 0; i < nallowed; i++) {
            while (j < nonline && online[j] < allowed[i])
                j++;
            if (j < nonline && online[j] == allowed[i])
                allowed[m++] = allowed[i];
        }
        nallowed = m;
    }
    h->cpus = nallowed > 0 ? allowed : NULL;
    h->ncpus = nallowed > 0 ? nallowed : 0;
    if (nallowed <= 0)
        uf_free(allowed);
    uf_free(online);

    if (tun_host_read_text(root, "proc/meminfo", text, sizeof(text)) >= 0 &&
        field(text, "MemTotal", val, sizeof(val))) {
        unsigned long long kb;
        if (sscanf(val, "%llu", &kb) == 1)
            h->mem_total = kb * 1024;
    }
    read_cgroups(root, h);
    read_nodes(root, h);
    return 0;
}

void tun_host_free(tun_host_t *h)
{
    uf_free(h->cpus);
    for (int i = 0; i < h->nnodes; i++)
        uf_free(h->nodes[i].cpus);
    uf_free(h->nodes);
    memset(h, 0, sizeof(*h));
}

int tun_host_usable_cpus(const tun_host_t *h)
{
    int n = h->ncpus > 0 ? h->ncpus : 1;
    if (h->cpu_quota > 0) {
        /* 1.5 CPUs of quota keep two workers busy part of the time; one would leave half
         * a CPU idle, so round up. The tiny slack absorbs 200000/100000 rounding. */
        int q = (int)ceil(h->cpu_quota - 1e-9);
        if (q < 1)
            q = 1;
        if (q < n)
            n = q;
    }
    return n;
}

/* ---- the plan -------------------------------------------------------------------------- */

/* Chooses n distinct CPUs from the allowed ones, spread over the NUMA nodes in proportion
 * to how many allowed CPUs each has, lowest numbers first within a node. */
static void place(const tun_host_t *h, int n, int *chosen)
{
    int total = h->ncpus;
    int nn = h->nnodes > 0 ? h->nnodes : 1;
    int *count = uf_calloc((size_t)nn, sizeof(int)); /* allowed CPUs per node */
    int *take = uf_calloc((size_t)nn, sizeof(int));
    int *cursor = uf_calloc((size_t)nn, sizeof(int));
    int *node_of = uf_malloc(sizeof(int) * (size_t)total);
    for (int i = 0; i < total; i++) {
        int idx = 0;
        if (h->nnodes > 0) {
            int id = tun_host_node_of(h, h->cpus[i]);
            for (int k = 0; k < h->nnodes; k++)
                if (h->nodes[k].id == id)
                    idx = k;
        }
        node_of[i] = idx;
        count[idx]++;
    }
    /* largest remainder: each node gets floor(n * share), the rest go to the largest
     * remainders so the total is exactly n */
    int given = 0;
    for (int k = 0; k < nn; k++) {
        take[k] = (int)((long long)n * count[k] / total);
        given += take[k];
    }
    bool *bumped = uf_calloc((size_t)nn, sizeof(bool));
    while (given < n) {
        int best = -1;
        long long best_rem = -1;
        for (int k = 0; k < nn; k++) {
            long long rem = (long long)n * count[k] % total;
            if (!bumped[k] && take[k] < count[k] && rem > best_rem) {
                best_rem = rem;
                best = k;
            }
        }
        if (best < 0)
            break;
        bumped[best] = true;
        take[best]++;
        given++;
    }
    uf_free(bumped);
    int m = 0;
    for (int i = 0; i < total && m < n; i++) {
        int k = node_of[i];
        if (cursor[k] < take[k]) {
            cursor[k]++;
            chosen[m++] = h->cpus[i];
        }
    }
    uf_free(count);
    uf_free(take);
    uf_free(cursor);
    uf_free(node_of);
}

int tun_plan_from_host(const tun_host_t *h, int bound, int reserve_mb, uint64_t footprint,
                       tun_plan_t *plan)
{
    memset(plan, 0, sizeof(*plan));
    plan->cpus = tun_host_usable_cpus(h);
    plan->footprint = footprint ? footprint : TUN_DEFAULT_FOOTPRINT;
    plan->reserve = (uint64_t)(reserve_mb > 0 ? reserve_mb : 0) << 20;
    if (h->mem_limit && h->mem_total)
        plan->budget = h->mem_limit < h->mem_total ? h->mem_limit : h->mem_total;
    else
        plan->budget = h->mem_limit ? h->mem_limit : h->mem_total;
    plan->fit = -1;
    if (plan->budget)
        plan->fit = plan->budget > plan->reserve
                        ? (long)((plan->budget - plan->reserve) / plan->footprint)
                        : 0;

    int n = plan->cpus;
    plan->limited_by = "CPUs";
    if (bound > 0 && bound < n) {
        n = bound;
        plan->limited_by = "--workers";
    }
    if (plan->fit >= 0 && plan->fit < n) {
        n = plan->fit > 0 ? (int)plan->fit : 1;
        plan->limited_by = "memory";
    }
    plan->workers = n;
    tun_plan_place(h, n, plan);
    return 0;
}

void tun_plan_place(const tun_host_t *h, int n, tun_plan_t *plan)
{
    uf_free(plan->cpu);
    uf_free(plan->node);
    plan->workers = n;
    plan->cpu = uf_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    plan->node = uf_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (n <= 0)
        return;
    if (h->ncpus > 0) {
        int distinct = n < h->ncpus ? n : h->ncpus;
        int *chosen = uf_malloc(sizeof(int) * (size_t)distinct);
        place(h, distinct, chosen);
        for (int k = 0; k < n; k++) {
            plan->cpu[k] = chosen[k % distinct];
            plan->node[k] = tun_host_node_of(h, plan->cpu[k]);
        }
        uf_free(chosen);
    } else {
        for (int k = 0; k < n; k++)
            plan->cpu[k] = plan->node[k] = -1;
    }
}

int tun_plan_workers(const char *root, int bound, int reserve_mb, uint64_t footprint,
                     tun_plan_t *plan)
{
    tun_host_t h;
    int rc = tun_host_read(root, &h);
    if (rc < 0) {
        memset(plan, 0, sizeof(*plan));
        return rc;
    }
    rc = tun_plan_from_host(&h, bound, reserve_mb, footprint, plan);
    tun_host_free(&h);
    return rc;
}

void tun_plan_free(tun_plan_t *plan)
{
    uf_free(plan->cpu);
    uf_free(plan->node);
    memset(plan, 0, sizeof(*plan));
}
