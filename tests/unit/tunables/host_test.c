/* Unit tests of host facts and the worker plan: CPU lists, the fixture trees under
 * tests/fixtures/doctor (a 2-socket EPYC with 4 NUMA nodes, a container with a cgroup v2
 * quota and limit, a cgroup v1 host), cgroup limits of ancestors, containers without a
 * cgroup namespace, an empty tree, and the real host. */
#include "tunables/host.c"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"

static char fixtures[PATH_MAX];
static char scratch[64];

static void fixture(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", fixtures, name);
}

static void put(const char *root, const char *rel, const char *text)
{
    char path[PATH_MAX];
    mkdir(root, 0700);
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        mkdir(path, 0700);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        abort();
    }
    fputs(text, f);
    fclose(f);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static bool same_ints(const int *a, int n, const int *want, int m)
{
    if (n != m) {
        fprintf(stderr, "    %d items, wanted %d\n", n, m);
        return false;
    }
    for (int i = 0; i < n; i++)
        if (a[i] != want[i]) {
            fprintf(stderr, "    item %d is %d, wanted %d\n", i, a[i], want[i]);
            return false;
        }
    return true;
}

static void test_cpulist(void)
{
    int *c;
    int n = tun_parse_cpulist("0-3,8,10-11", &c);
    CHECK(same_ints(c, n, (int[]){0, 1, 2, 3, 8, 10, 11}, 7));
    uf_free(c);
    n = tun_parse_cpulist(" 5\n", &c);
    CHECK(same_ints(c, n, (int[]){5}, 1));
    uf_free(c);
    n = tun_parse_cpulist("3,1,2,1,2-3", &c); /* sorted, without duplicates */
    CHECK(same_ints(c, n, (int[]){1, 2, 3}, 3));
    uf_free(c);
    n = tun_parse_cpulist("", &c);
    CHECK_EQ_INT(n, 0);
    uf_free(c);
    const char *bad[] = {"a", "1-", "3-1", "1,,2", "70000", "-1", "1;2", "0-70000"};
    for (size_t i = 0; i < UF_ARRAY_LEN(bad); i++) {
        CHECK_EQ_INT(tun_parse_cpulist(bad[i], &c), -EINVAL);
        CHECK(c == NULL);
    }
}

static void test_epyc(void)
{
    char root[PATH_MAX + 32];
    fixture("epyc-2s", root, sizeof(root));
    tun_host_t h;
    CHECK_EQ_INT(tun_host_read(root, &h), 0);
    CHECK_EQ_INT(h.ncpus, 128);
    CHECK_EQ_INT(h.cpus_online, 128);
    CHECK_EQ_INT(h.nnodes, 4);
    if (h.nnodes == 4) {
        CHECK_EQ_INT(h.nodes[3].id, 3);
        CHECK_EQ_INT(h.nodes[1].ncpus, 32);
        CHECK_EQ_INT(h.nodes[1].cpus[0], 16);
        CHECK_EQ_INT(h.nodes[1].cpus[16], 80);
    }
    CHECK_EQ_INT(h.cgroup_version, 2);
    CHECK(h.cpu_quota == 0 && h.cpu_quota_from[0] == 0);
    CHECK_EQ_INT(h.mem_limit, 0); /* memory.max is "max" at every level */
    CHECK_EQ_INT(h.mem_total, 528201340ull * 1024);
    CHECK_EQ_INT(tun_host_usable_cpus(&h), 128);
    CHECK_EQ_INT(tun_host_node_of(&h, 64), 0);
    CHECK_EQ_INT(tun_host_node_of(&h, 127), 3);
    CHECK_EQ_INT(tun_host_node_of(&h, 500), -1);

    tun_plan_t p;
    CHECK_EQ_INT(tun_plan_from_host(&h, 0, 256, 0, &p), 0);
    CHECK_EQ_INT(p.cpus, 128);
    CHECK_EQ_INT(p.workers, 128);
    CHECK_EQ_STR(p.limited_by, "CPUs");
    CHECK_EQ_INT(p.budget, 528201340ull * 1024);
    CHECK_EQ_INT(p.reserve, 256ull << 20);
    CHECK_EQ_INT(p.footprint, TUN_DEFAULT_FOOTPRINT);
    CHECK_EQ_INT(p.fit, (long)((528201340ull * 1024 - (256ull << 20)) / (64ull << 20)));
    int per_node[4] = {0};
    bool ascending = true;
    for (int k = 0; k < p.workers; k++) {
        if (p.node[k] >= 0 && p.node[k] < 4)
            per_node[p.node[k]]++;
        ascending = ascending && (k == 0 || p.cpu[k] > p.cpu[k - 1]);
    }
    CHECK(ascending);
    CHECK(per_node[0] == 32 && per_node[1] == 32 && per_node[2] == 32 && per_node[3] == 32);
    tun_plan_free(&p);

    /* fewer workers than CPUs: spread over the nodes in proportion, low CPUs first */
    tun_plan_from_host(&h, 6, 256, 0, &p);
    CHECK_EQ_INT(p.workers, 6);
    CHECK_EQ_STR(p.limited_by, "--workers");
    CHECK(same_ints(p.cpu, p.workers, (int[]){0, 1, 16, 17, 32, 48}, 6));
    CHECK(same_ints(p.node, p.workers, (int[]){0, 0, 1, 1, 2, 3}, 6));
    tun_plan_free(&p);
    tun_plan_from_host(&h, 4, 256, 0, &p);
    CHECK(same_ints(p.cpu, p.workers, (int[]){0, 16, 32, 48}, 4));
    tun_plan_free(&p);

    /* a measured footprint of 8 GiB: memory decides */
    tun_plan_from_host(&h, 0, 256, 8ull << 30, &p);
    CHECK_EQ_INT(p.workers, (int)((528201340ull * 1024 - (256ull << 20)) / (8ull << 30)));
    CHECK_EQ_STR(p.limited_by, "memory");
    tun_plan_free(&p);

    /* a fixed count beyond the CPUs wraps around them */
    tun_plan_t q = {0};
    tun_plan_place(&h, 130, &q);
    CHECK_EQ_INT(q.workers, 130);
    CHECK(q.cpu[0] == 0 && q.cpu[127] == 127 && q.cpu[128] == 0 && q.cpu[129] == 1);
    CHECK_EQ_INT(q.node[129], 0);
    tun_plan_free(&q);
    tun_host_free(&h);
    CHECK(h.cpus == NULL && h.nodes == NULL);
}

static void test_container(void)
{
    char root[PATH_MAX + 32];
    fixture("container-uring-off", root, sizeof(root));
    tun_host_t h;
    CHECK_EQ_INT(tun_host_read(root, &h), 0);
    CHECK_EQ_INT(h.ncpus, 16);
    CHECK_EQ_INT(h.cgroup_version, 2);
    CHECK(h.cpu_quota == 2.0);
    CHECK_EQ_STR(h.cpu_quota_from, "/sys/fs/cgroup/cpu.max");
    CHECK_EQ_INT(h.mem_limit, 1ull << 30);
    CHECK_EQ_STR(h.mem_limit_from, "/sys/fs/cgroup/memory.max");
    CHECK_EQ_INT(tun_host_usable_cpus(&h), 2);
    tun_plan_t p;
    tun_plan_from_host(&h, 0, 256, 0, &p);
    CHECK_EQ_INT(p.workers, 2);
    CHECK_EQ_STR(p.limited_by, "CPUs");
    CHECK_EQ_INT(p.budget, 1ull << 30);
    CHECK_EQ_INT(p.fit, 12);
    CHECK(same_ints(p.cpu, p.workers, (int[]){0, 1}, 2));
    tun_plan_free(&p);
    /* a reserve as large as the budget leaves no room, yet one worker is planned */
    tun_plan_from_host(&h, 0, 1024, 0, &p);
    CHECK_EQ_INT(p.fit, 0);
    CHECK_EQ_INT(p.workers, 1);
    CHECK_EQ_STR(p.limited_by, "memory");
    tun_plan_free(&p);
    tun_host_free(&h);
}

static void test_cgroup_v1(void)
{
    char root[PATH_MAX + 32];
    fixture("cgroup-limited", root, sizeof(root));
    tun_host_t h;
    CHECK_EQ_INT(tun_host_read(root, &h), 0);
    CHECK_EQ_INT(h.cgroup_version, 1);
    CHECK(h.cpu_quota == 4.0);
    CHECK_EQ_STR(h.cpu_quota_from,
                 "/sys/fs/cgroup/cpu,cpuacct/app.slice/web.service/cpu.cfs_quota_us");
    CHECK_EQ_INT(h.mem_limit, 469762048);
    CHECK_EQ_STR(h.mem_limit_from,
                 "/sys/fs/cgroup/memory/app.slice/web.service/memory.limit_in_bytes");
    CHECK_EQ_INT(h.nnodes, 0);
    tun_plan_t p;
    CHECK_EQ_INT(tun_plan_workers(root, 0, 256, 0, &p), 0);
    CHECK_EQ_INT(p.cpus, 4);
    CHECK_EQ_INT(p.fit, 3);
    CHECK_EQ_INT(p.workers, 3);
    CHECK_EQ_STR(p.limited_by, "memory");
    CHECK(same_ints(p.cpu, p.workers, (int[]){0, 1, 2}, 3));
    CHECK(same_ints(p.node, p.workers, (int[]){-1, -1, -1}, 3));
    tun_plan_free(&p);
    tun_host_free(&h);
}

static void test_scratch_trees(void)
{
    char root[128];

    /* cgroup v2: a parent's limit binds its child; the quota rounds up */
    snprintf(root, sizeof(root), "%s/nested", scratch);
    put(root, "proc/self/cgroup", "0::/a/b\n");
    put(root, "proc/self/status", "Cpus_allowed_list:\t0-7\n");
    put(root, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put(root, "sys/fs/cgroup/a/memory.max", "104857600\n");
    put(root, "sys/fs/cgroup/a/b/memory.max", "max\n");
    put(root, "sys/fs/cgroup/a/cpu.max", "max 100000\n");
    put(root, "sys/fs/cgroup/a/b/cpu.max", "150000 100000\n");
    tun_host_t h;
    CHECK_EQ_INT(tun_host_read(root, &h), 0);
    CHECK_EQ_INT(h.mem_limit, 104857600);
    CHECK_EQ_STR(h.mem_limit_from, "/sys/fs/cgroup/a/memory.max");
    CHECK(h.cpu_quota == 1.5);
    CHECK_EQ_STR(h.cpu_quota_from, "/sys/fs/cgroup/a/b/cpu.max");
    CHECK_EQ_INT(tun_host_usable_cpus(&h), 2);
    CHECK_EQ_INT(h.ncpus, 8); /* no cpu/online: the mask alone */
    CHECK_EQ_INT(h.mem_total, 0);
    tun_plan_t p;
    tun_plan_from_host(&h, 0, 0, 0, &p);
    CHECK_EQ_INT(p.budget, 104857600);
    CHECK_EQ_INT(p.fit, 1);
    CHECK_EQ_INT(p.workers, 1);
    tun_plan_free(&p);
    tun_host_free(&h);

    /* cgroup v1 in a container without a cgroup namespace: the host's path is not
     * mounted, our cgroup is the mount's top; offline CPUs leave the mask */
    snprintf(root, sizeof(root), "%s/v1ns", scratch);
    put(root, "proc/self/cgroup", "5:memory:/docker/0123abcd\n4:cpu,cpuacct:/docker/0123abcd\n");
    put(root, "proc/self/status", "Cpus_allowed_list:\t0-7\n");
    put(root, "sys/devices/system/cpu/online", "0-3,6\n");
    put(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "268435456\n");
    put(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n");
    put(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    CHECK_EQ_INT(tun_host_read(root, &h), 0);
    CHECK_EQ_INT(h.cgroup_version, 1);
    CHECK_EQ_INT(h.mem_limit, 268435456);
    CHECK(h.cpu_quota == 0.5);
    CHECK_EQ_INT(tun_host_usable_cpus(&h), 1);
    CHECK(same_ints(h.cpus, h.ncpus, (int[]){0, 1, 2, 3, 6}, 5));
    CHECK_EQ_INT(h.cpus_online, 5);
    tun_host_free(&h);

    /* mountinfo: a hybrid host (v2 at /sys/fs/cgroup/unified without controllers, v1
     * memory and cpu mounted with a container's base path) */
    snprintf(root, sizeof(root), "%s/hybrid", scratch);
    put(root, "proc/self/mountinfo",
        "24 1 0:22 / /sys rw,nosuid - sysfs sysfs rw\n"
        "30 24 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 "
        "rw,nsdelegate\n"
        "35 24 0:30 /docker/abc /sys/fs/cgroup/memory rw,nosuid shared:16 - cgroup cgroup "
        "rw,memory\n"
        "36 24 0:31 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:17 master:3 - "
        "cgroup cgroup rw,cpu,cpuacct\n");
    put(root, "proc/self/cgroup",
        "4:memory:/docker/abc/sub\n3:cpu,cpuacct:/docker/abc\n"
        "0::/docker/abc\n");
    put(root, "sys/fs/cgroup/unified/cgroup.controllers", "\n");
    put(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "536870912\n");
    put(root, "sys/fs/cgroup/memory/sub/memory.limit_in_bytes", "9223372036854771712\n");
    put(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "300000\n");
    put(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    CHECK_EQ_INT(tun_host_read(root, &h), 0);
    CHECK_EQ_INT(h.cgroup_version, 1);
    CHECK_EQ_INT(h.mem_limit, 536870912);
    CHECK_EQ_STR(h.mem_limit_from, "/sys/fs/cgroup/memory/memory.limit_in_bytes");
    CHECK(h.cpu_quota == 3.0);
    CHECK_EQ_STR(h.cpu_quota_from, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us");
    tun_host_free(&h);

    /* mountinfo: cgroup v2 mounted somewhere unusual, a path with an escaped space */
    snprintf(root, sizeof(root), "%s/v2mnt", scratch);
    put(root, "proc/self/mountinfo",
        "29 23 0:26 / /mnt/c\\040g rw,nosuid shared:4 - cgroup2 cgroup2 rw\n");
    put(root, "proc/self/cgroup", "0::/svc\n");
    put(root, "proc/self/status", "Cpus_allowed_list:\t0-7\n");
    put(root, "mnt/c g/cgroup.controllers", "cpuset cpu io memory pids\n");
    put(root, "mnt/c g/svc/memory.max", "1073741824\n");
    put(root, "mnt/c g/svc/cpu.max", "250000 100000\n");
    CHECK_EQ_INT(tun_host_read(root, &h), 0);
    CHECK_EQ_INT(h.cgroup_version, 2);
    CHECK_EQ_INT(h.mem_limit, 1ull << 30);
    CHECK_EQ_STR(h.mem_limit_from, "/mnt/c g/svc/memory.max");
    CHECK(h.cpu_quota == 2.5);
    CHECK_EQ_INT(tun_host_usable_cpus(&h), 3); /* 2.5 CPUs of quota keep 3 workers busy */
    tun_host_free(&h);

    /* an empty tree: nothing is known, and the plan is one worker anywhere */
    snprintf(root, sizeof(root), "%s/empty", scratch);
    mkdir(root, 0700);
    CHECK_EQ_INT(tun_host_read(root, &h), 0);
    CHECK(h.ncpus == 0 && h.nnodes == 0 && h.cgroup_version == 0 && h.mem_total == 0);
    tun_plan_from_host(&h, 0, 256, 0, &p);
    CHECK_EQ_INT(p.workers, 1);
    CHECK_EQ_INT(p.fit, -1);
    CHECK_EQ_INT(p.budget, 0);
    CHECK(p.cpu[0] == -1 && p.node[0] == -1);
    tun_plan_free(&p);
    tun_host_free(&h);

    CHECK_EQ_INT(tun_host_read("/nonexistent/uf-root", &h), -ENOENT);
    CHECK_EQ_INT(tun_plan_workers("/nonexistent/uf-root", 0, 0, 0, &p), -ENOENT);
    tun_plan_free(&p);

    char text[64];
    put(root, "x", "hello\n\n");
    CHECK_EQ_INT(tun_host_read_text(root, "x", text, sizeof(text)), 5);
    CHECK_EQ_STR(text, "hello");
    CHECK_EQ_INT(tun_host_read_text(root, "/x", text, 4), 3); /* truncated to the buffer */
    CHECK_EQ_STR(text, "hel");
    CHECK_EQ_INT(tun_host_read_text(root, "missing", text, sizeof(text)), -ENOENT);
}

static void test_real_host(void)
{
    tun_host_t h;
    CHECK_EQ_INT(tun_host_read("/", &h), 0);
    CHECK(h.ncpus >= 1);
    CHECK(h.mem_total > 0);
    tun_host_free(&h);
    tun_plan_t p;
    CHECK_EQ_INT(tun_plan_workers("/", 0, 256, 0, &p), 0);
    CHECK(p.workers >= 1 && p.cpu[0] >= 0);
    tun_plan_free(&p);
    CHECK_EQ_INT(tun_plan_workers("", 1, 256, 0, &p), 0); /* "" is "/" */
    CHECK_EQ_INT(p.workers, 1);
    tun_plan_free(&p);
}

int main(void)
{
    const char *src = getenv("UF_SOURCE_ROOT");
    char base[PATH_MAX];
    if (!realpath(src ? src : ".", base))
        snprintf(base, sizeof(base), ".");
    snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures/doctor", base);
    snprintf(scratch, sizeof(scratch), "/tmp/uf-host-XXXXXX");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        return 1;
    }
    test_cpulist();
    test_epyc();
    test_container();
    test_cgroup_v1();
    test_scratch_trees();
    test_real_host();
    nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return check_done();
}
