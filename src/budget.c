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

int budget_read(const char *root, budget_t *b)
{
    char cg[2048], path[8192];
    uint64_t v, best = 0;
    memset(b, 0, sizeof(*b));
    if (own_cgroup(root, true, cg, sizeof(cg)) == 0) {
        /* the limit of any ancestor applies too: walk up to the root */
        for (;;) {
            snprintf(path, sizeof(path), "%s/sys/fs/cgroup%s/memory.max", root,
                     strcmp(cg, "/") == 0 ? "" : cg);
            if (read_u64(path, &v) == 0 && (!best || v < best)) {
                best = v;
                snprintf(b->source, sizeof(b->source), "cgroup v2 memory.max");
            }
            char *slash = strrchr(cg, '/');
            if (!slash || slash == cg)
                break;
            *slash = 0;
        }
    }
    if (!best && own_cgroup(root, false, cg, sizeof(cg)) == 0) {
        snprintf(path, sizeof(path), "%s/sys/fs/cgroup/memory%s/memory.limit_in_bytes", root, cg);
        /* v1 reports "no limit" as a huge number: ignore anything above MemTotal */
        if (read_u64(path, &v) == 0 && v < (1ULL << 60)) {
            best = v;
            snprintf(b->source, sizeof(b->source), "cgroup v1 memory.limit_in_bytes");
        }
    }
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
