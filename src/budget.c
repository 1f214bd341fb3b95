/* Memory budget and per-process footprint, from cgroup files and /proc. */
#include "src/budget.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int read_u64(const char *path, uint64_t *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char text[64] = {0};
    int ok = fgets(text, sizeof(text), f) != NULL;
    fclose(f);
    if (!ok)
        return -EIO;
    if (strncmp(text, "max", 3) == 0)
        return -ERANGE;   /* no limit at this level */
    unsigned long long v;
    if (sscanf(text, "%llu", &v) != 1)
        return -EINVAL;
    *out = v;
    return 0;
}

/* The cgroup path of this process for v2 ("0::/path") or for v1's memory controller. */
static int own_cgroup(const char *root, bool v2, char *out, size_t outlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char line[4096];
    int ret = -ENOENT;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        char *first = strchr(line, ':');
        char *second = first ? strchr(first + 1, ':') : NULL;
        if (!second)
            continue;
        *first = *second = 0;
        const char *controllers = first + 1;
        bool match = v2 ? controllers[0] == 0 : strstr(controllers, "memory") != NULL;
        if (match) {
            snprintf(out, outlen, "%s", second + 1);
            ret = 0;
            break;
        }
    }
    fclose(f);
    return ret;
}

/* Where a cgroup hierarchy is mounted, from mountinfo: cgroup2 (v2 == true) or the v1
 * hierarchy carrying the memory controller. Debian and systemd use /sys/fs/cgroup for v2,
 * hybrid hosts /sys/fs/cgroup/unified, and containers whatever they like. */
static int find_mount(const char *root, bool v2, char *out, size_t outlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char line[4096];
    int ret = -ENOENT;
    while (ret && fgets(line, sizeof(line), f)) {
        char mnt[2048], fstype[64], super[1024];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %*s %2047s", mnt) != 1 ||
            sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2)
            continue;
        if (v2 ? strcmp(fstype, "cgroup2") == 0
               : strcmp(fstype, "cgroup") == 0 && strstr(super, "memory") != NULL) {
            snprintf(out, outlen, "%s%s", root, mnt);
            ret = 0;
        }
    }
    fclose(f);
    return ret;
}

/* The smallest limit in `file` from the cgroup at `cg` up to its hierarchy's root: an
 * ancestor's limit binds its descendants too. */
static uint64_t tightest_limit(const char *mount, char *cg, const char *file)
{
    uint64_t best = 0, v;
    char path[8192];
    for (;;) {
        snprintf(path, sizeof(path), "%s%s/%s", mount, strcmp(cg, "/") == 0 ? "" : cg, file);
        /* v1 reports "no limit" as a number near 2^63 */
        if (read_u64(path, &v) == 0 && v < (1ULL << 60) && (!best || v < best))
            best = v;
        char *slash = strrchr(cg, '/');
        if (!slash || slash == cg)
            break;
        *slash = 0;
    }
    return best;
}

int budget_read(const char *root, budget_t *b)
{
    char cg[2048], mount[4096];
    uint64_t best = 0;
    memset(b, 0, sizeof(*b));
    if (own_cgroup(root, true, cg, sizeof(cg)) == 0 && find_mount(root, true, mount, sizeof(mount)) == 0) {
        best = tightest_limit(mount, cg, "memory.max");
        if (best)
            snprintf(b->source, sizeof(b->source), "cgroup v2 memory.max");
    }
    if (!best && own_cgroup(root, false, cg, sizeof(cg)) == 0 &&
        find_mount(root, false, mount, sizeof(mount)) == 0) {
        best = tightest_limit(mount, cg, "memory.limit_in_bytes");
        if (best)
            snprintf(b->source, sizeof(b->source), "cgroup v1 memory.limit_in_bytes");
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/proc/meminfo", root);
    FILE *f = fopen(path, "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
                if (!best || kb * 1024 < best) {
                    best = kb * 1024;
                    snprintf(b->source, sizeof(b->source), "MemTotal");
                }
                break;
            }
        fclose(f);
    }
    b->limit_bytes = best;
    return best ? 0 : -ENOENT;
}

uint64_t budget_rss_bytes(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned long long size, resident;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return n == 2 ? resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

uint64_t budget_pss_bytes(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Pss: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

double budget_pressure(void)
{
    FILE *f = fopen("/proc/pressure/memory", "r");
    if (!f)
        return 0;
    double avg10 = 0;
    if (fscanf(f, "some avg10=%lf", &avg10) != 1)
        avg10 = 0;
    fclose(f);
    return avg10;
}
