/* Unit tests of `uwsgi-fast doctor` against the fixture trees in tests/fixtures/doctor: a
 * 2-socket EPYC with 4 NUMA nodes (nothing blocks), a container with io_uring disabled
 * (blocks), a cgroup v1 host with CPU and memory limits (warnings, and a block when the
 * rings would exceed RLIMIT_MEMLOCK); the probe hook; the subcommand's arguments. */
#include "tunables/doctor.c"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"

static char fixtures[PATH_MAX];
static char scratch[64];
static char *text;
static size_t text_len;

/* Audits fixture `name` (or an absolute root) with the given server flags; returns the
 * number of blocking findings and leaves the report in `text`. */
static int audit(const char *name, tun_uring_probe_fn probe, ...)
{
    char root[PATH_MAX + 64];
    if (name[0] == '/')
        snprintf(root, sizeof(root), "%s", name);
    else
        snprintf(root, sizeof(root), "%s/%s", fixtures, name);
    char *argv[32] = {"uwsgi-fast", "-c", ""};
    int argc = 3;
    va_list ap;
    va_start(ap, probe);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    tun_config_t cfg;
    char err[256];
    int rc = tun_parse_ex(&cfg, argc, argv, NULL, TUN_PARSE_NO_APP, NULL, err, sizeof(err));
    CHECK_EQ_INT(rc, TUN_OK);
    if (rc != TUN_OK) {
        fprintf(stderr, "    %s\n", err);
        return -100;
    }
    free(text);
    text = NULL;
    FILE *out = open_memstream(&text, &text_len);
    int blocks = tun_doctor_report(root, &cfg, probe, out);
    fclose(out);
    tun_config_free(&cfg);
    return blocks;
}

/* The report has this exact line (or run of lines). */
#define HAS(want)                                                                                  \
    do {                                                                                           \
        bool has_ = text && strstr(text, want) != NULL;                                            \
        if (!has_)                                                                                 \
            fprintf(stderr, "    the report lacks: %s\n", want);                                   \
        CHECK(has_);                                                                               \
    } while (0)

#define LACKS(unwanted) CHECK(text &&strstr(text, unwanted) == NULL)

static void test_epyc(void)
{
    CHECK_EQ_INT(audit("epyc-2s", NULL, "--workers", "auto", NULL), 0);
    HAS("uwsgi-fast doctor: auditing ");
    HAS("epyc-2s for 128 workers (auto) (--backlog 2048, --worker-connections 1000)\n");
    HAS("\nio_uring\n  ok      kernel 6.1.0-18-amd64\n  ok      kernel.io_uring_disabled = 0\n"
        "  ok      no seccomp filter (Seccomp: 0)\n");
    HAS("  ok      RLIMIT_MEMLOCK 8 MiB covers the 512 KiB that 128 workers pin\n");
    HAS("  warn    RLIMIT_MEMLOCK is 8 MiB; with zero-copy send buffers (4 MiB per worker) 128 "
        "workers pin 512.5 MiB: large file bodies would be sent without zero-copy\n");
    HAS("  warn    RLIMIT_NOFILE is 1024 (hard 524288); each worker needs 1064 for "
        "--worker-connections 1000: connections past the limit are refused\n"
        "          fix: ulimit -n 65536\n"
        "               systemd: LimitNOFILE=65536\n"
        "               docker: --ulimit nofile=65536:65536\n");
    HAS("  ok      net.core.somaxconn = 4096 >= --backlog 2048\n");
    HAS("  ok      net.ipv4.tcp_migrate_req = 1\n");
    HAS("  ok      128 CPUs: 0-127\n");
    HAS("  ok      NUMA node 0: CPUs 0-15,64-79 (32 ours)\n");
    HAS("  ok      NUMA node 3: CPUs 48-63,112-127 (32 ours)\n");
    HAS("  note    4 NUMA nodes: workers are spread over them in proportion");
    HAS("  ok      cgroup v2\n  ok      no cgroup CPU quota\n  ok      no cgroup memory limit\n");
    HAS("  ok      transparent huge pages: madvise\n");
    HAS("  ok      CPU frequency governor: performance on 128 CPUs\n");
    HAS("  ok      --workers auto: 128 workers (limited by CPUs; 128 usable CPUs)\n");
    HAS("  ok      node 2: 32 workers on CPUs 32-47,96-111\n");
    HAS("\nNothing blocks uwsgi-fast (2 warnings).\n");
    LACKS("BLOCKS");

    /* a fixed count: placed in proportion; the default is the audited host's CPUs */
    CHECK_EQ_INT(audit("epyc-2s", NULL, "-w", "6", "--backlog", "8192", NULL), 0);
    HAS("  ok      --workers 6 (--workers auto would start 128)\n");
    HAS("  ok      node 0: 2 workers on CPUs 0-1\n  ok      node 1: 2 workers on CPUs 16-17\n"
        "  ok      node 2: 1 worker on CPU 32\n  ok      node 3: 1 worker on CPU 48\n");
    HAS("  warn    net.core.somaxconn = 4096 caps each listener's queue below --backlog 8192\n"
        "          fix: sysctl -w net.core.somaxconn=8192\n");
    CHECK_EQ_INT(audit("epyc-2s", NULL, NULL), 0);
    HAS("epyc-2s for 128 workers (--backlog");
}

static void test_container(void)
{
    /* --engine auto (the default): the server would run on epoll, so io_uring being off
     * is a warning, and the section ends with the engine */
    CHECK_EQ_INT(audit("container-uring-off", NULL, NULL), 0);
    HAS("  warn    kernel.io_uring_disabled = 2: io_uring is disabled for every process\n");
    HAS("  note    engine: epoll (--engine auto falls back, since io_uring is blocked here; "
        "registered buffers and SEND_ZC are off)\n");
    HAS("\nNothing blocks uwsgi-fast (");
    CHECK_EQ_INT(audit("container-uring-off", NULL, "--engine", "epoll", NULL), 0);
    HAS("  note    engine: epoll (--engine epoll; io_uring is not used)\n");
    /* --engine io_uring: it blocks, as it always did */
    CHECK_EQ_INT(audit("container-uring-off", NULL, "--engine", "io_uring", NULL), 1);
    HAS("container-uring-off for 2 workers (--backlog 2048");
    HAS("  BLOCKS  kernel.io_uring_disabled = 2: io_uring is disabled for every process\n"
        "          fix: sysctl -w kernel.io_uring_disabled=0\n"
        "               keep it: echo 'kernel.io_uring_disabled = 0' > "
        "/etc/sysctl.d/60-io-uring.conf\n");
    HAS("  warn    a seccomp filter is active (Seccomp: 2): Docker >= 25 and containerd 2 default "
        "profiles block io_uring\n"
        "          fix: docker/podman: run with --security-opt seccomp=PROFILE.json where the "
        "profile allows io_uring_setup, io_uring_enter and io_uring_register\n");
    HAS("  note    CPU quota 2.00 CPUs (/sys/fs/cgroup/cpu.max): workers can use 2 CPUs\n");
    HAS("  note    cgroup memory limit 1 GiB (/sys/fs/cgroup/memory.max)\n");
    HAS("  warn    transparent huge pages are always on");
    HAS("  note    CPU frequency governor: not exposed");
    HAS("  ok      memory budget 1 GiB (cgroup limit) - reserve 256 MiB = room for 12 workers of "
        "64 MiB (estimated until measured)\n");
    HAS("\n1 problem blocks uwsgi-fast (and 5 warnings): fix the BLOCKS lines above.\n");

    /* more workers than the quota */
    CHECK_EQ_INT(audit("container-uring-off", NULL, "-w", "8", "--engine", "io_uring", NULL), 1);
    HAS("  warn    --workers 8 is more than the 2 CPUs the quota allows: the workers would be "
        "throttled in turn\n          fix: uwsgi-fast --workers auto ... (or -w 2)\n");
}

static void test_cgroup_limited(void)
{
    CHECK_EQ_INT(audit("cgroup-limited", NULL, "-w", "auto", NULL), 0);
    HAS("  ok      kernel.io_uring_disabled is absent (kernels before 6.6 always allow "
        "io_uring)\n");
    HAS("  warn    net.core.somaxconn = 128 caps each listener's queue below --backlog 2048\n");
    HAS("  warn    net.ipv4.tcp_max_syn_backlog = 512 is below --backlog 2048");
    HAS("  note    net.ipv4.tcp_migrate_req is absent (Linux < 5.14)");
    HAS("  note    no NUMA information (/sys/devices/system/node)\n");
    HAS("  ok      cgroup v1\n");
    HAS("  note    CPU quota 4.00 CPUs "
        "(/sys/fs/cgroup/cpu,cpuacct/app.slice/web.service/cpu.cfs_quota_us): workers can use 4 "
        "CPUs\n");
    HAS("  note    cgroup memory limit 448 MiB "
        "(/sys/fs/cgroup/memory/app.slice/web.service/memory.limit_in_bytes)\n");
    HAS("  ok      transparent huge pages: never\n");
    HAS("  warn    CPU frequency governor: powersave on 6 CPUs, performance on 2 CPUs; latency "
        "and benchmark results vary with the clock\n"
        "          fix: cpupower frequency-set -g performance\n");
    HAS("  ok      --workers auto: 3 workers (limited by memory; 4 usable CPUs)\n");
    HAS("  ok      3 workers on CPUs 0-2\n");
    HAS("\nNothing blocks uwsgi-fast (4 warnings).\n");

    /* a fixed count that does not fit */
    CHECK_EQ_INT(audit("cgroup-limited", NULL, "-w", "4", NULL), 0);
    HAS("  warn    --workers 4 would need about 4 x 64 MiB, more than the memory budget holds: "
        "the OOM killer would pick workers\n"
        "          fix: uwsgi-fast --workers auto ... (or -w 3)\n");
    HAS("  ok      4 workers on CPUs 0-3\n");

    /* rings that would not fit in RLIMIT_MEMLOCK block */
    CHECK_EQ_INT(audit("cgroup-limited", NULL, "-w", "8", "--recv-buffers", "32768", NULL), 1);
    HAS("  BLOCKS  RLIMIT_MEMLOCK is 64 KiB; 8 workers pin 4 MiB (512 KiB each for --recv-buffers "
        "32768): rings would fail with ENOMEM\n"
        "          fix: ulimit -l unlimited (in the shell or script that starts uwsgi-fast)\n"
        "               systemd: LimitMEMLOCK=infinity in the service's [Service] section\n"
        "               docker: --ulimit memlock=-1:-1\n");
    /* and not even one worker fitting is said */
    CHECK_EQ_INT(audit("cgroup-limited", NULL, "-w", "auto", "--memory-reserve", "448", NULL), 0);
    HAS("  ok      --workers auto: 1 worker (limited by memory; 4 usable CPUs)\n"
        "  warn    not even one worker fits in the memory budget; starting one anyway\n"
        "          fix: lower --memory-reserve (now 448 MB) or raise the memory limit\n");
}

static void put(const char *root, const char *rel, const char *content)
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
    fputs(content, f);
    fclose(f);
}

static int probe_fails(char *msg, size_t len)
{
    snprintf(msg, len, "io_uring is blocked for this process (test)");
    return -1;
}

static int probe_works(char *msg, size_t len)
{
    snprintf(msg, len, "SINGLE_ISSUER|DEFER_TASKRUN, SEND_ZC");
    return 0;
}

static void test_old_and_strict(void)
{
    char root[128];
    snprintf(root, sizeof(root), "%s/old", scratch);
    put(root, "proc/sys/kernel/osrelease", "5.15.0-91-generic\n");
    put(root, "proc/sys/kernel/io_uring_disabled", "1\n");
    put(root, "proc/sys/kernel/io_uring_group", "1001\n");
    put(root, "proc/self/status", "Seccomp:\t1\nCpus_allowed_list:\t0\n");
    CHECK_EQ_INT(audit(root, NULL, "--engine", "io_uring", NULL), 2);
    HAS("  BLOCKS  kernel 5.15.0-91-generic: uwsgi-fast needs Linux >= 6.0 (multishot recv with "
        "provided buffer rings)\n"
        "          fix: upgrade the kernel to 6.1 or newer (Debian 12's 6.1 is the baseline)\n");
    HAS("  warn    kernel.io_uring_disabled = 1: only root and members of group 1001 may create "
        "rings\n"
        "          fix: sysctl -w kernel.io_uring_disabled=0\n"
        "               or run uwsgi-fast as a member of group 1001 (kernel.io_uring_group)\n");
    HAS("  BLOCKS  seccomp strict mode (Seccomp: 1)");
    HAS("  note    RLIMIT_MEMLOCK unknown (no /proc/self/limits)\n");
    HAS("  note    net.core.somaxconn unknown\n");
    HAS("  note    no cgroup files found under /sys/fs/cgroup\n");
    HAS("  note    memory budget unknown: workers are not capped by memory\n");
    HAS("\n2 problems block uwsgi-fast (and 1 warning)");
    LACKS("probe ring"); /* a fixture is never probed */
    /* with auto an old kernel means epoll, not a refusal; strict seccomp blocks either way */
    CHECK_EQ_INT(audit(root, NULL, NULL), 1);
    HAS("  warn    kernel 5.15.0-91-generic");
    HAS("  note    engine: epoll (--engine auto falls back");

    /* the probe speaks for the real host only */
    CHECK_EQ_INT(audit(root, probe_fails, "--engine", "io_uring", NULL), 2);
    LACKS("probe ring");
    int blocks = audit("/", probe_fails, "--engine", "io_uring", NULL);
    CHECK(blocks >= 1);
    HAS("  BLOCKS  probe ring failed: io_uring is blocked for this process (test)\n");
    blocks = audit("/", probe_works, NULL);
    HAS("  ok      probe ring created: SINGLE_ISSUER|DEFER_TASKRUN, SEND_ZC\n");
    LACKS("probe ring failed");
    HAS("uwsgi-fast doctor: auditing this host for ");
    CHECK_EQ_INT(audit("/nonexistent/uf-root", NULL, NULL), -ENOENT);
}

/* Runs tun_doctor_main with argv; returns its status, stdout in `text`, stderr in errtext. */
static char *errtext;
static size_t errtext_len;
static int doctor(char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    free(text);
    free(errtext);
    text = errtext = NULL;
    FILE *out = open_memstream(&text, &text_len), *eo = open_memstream(&errtext, &errtext_len);
    int rc = tun_doctor_main(argc, argv, NULL, out, eo, NULL);
    fclose(out);
    fclose(eo);
    return rc;
}

static void test_main(void)
{
    char root[PATH_MAX + 64], rootarg[PATH_MAX + 80];
    snprintf(root, sizeof(root), "%s/container-uring-off", fixtures);
    snprintf(rootarg, sizeof(rootarg), "--root=%s", root);
    CHECK_EQ_INT(doctor((char *[]){"doctor", rootarg, "-c", "", "--engine", "io_uring", NULL}), 1);
    HAS("kernel.io_uring_disabled = 2");
    CHECK_EQ_STR(errtext, "");
    snprintf(root, sizeof(root), "%s/epyc-2s", fixtures);
    CHECK_EQ_INT(doctor((char *[]){"doctor", "--root", root, "-c", "", "myapp:app", NULL}), 0);
    HAS("Nothing blocks uwsgi-fast");

    CHECK_EQ_INT(doctor((char *[]){"doctor", "--root", NULL}), 2);
    CHECK_EQ_STR(errtext, "uwsgi-fast doctor: --root needs a directory\n");
    CHECK_EQ_INT(doctor((char *[]){"doctor", "--root", root, "-c", "", "-w", "abc", NULL}), 2);
    CHECK_EQ_STR(errtext, "uwsgi-fast doctor: --workers: \"abc\" is not a whole number "
                          "(accepted: 1 to 4096, or auto)\n");
    CHECK_EQ_INT(doctor((char *[]){"doctor", "--root", "/nonexistent/uf", "-c", "", NULL}), 2);
    CHECK_EQ_STR(errtext, "uwsgi-fast doctor: --root: \"/nonexistent/uf\" cannot be read: No "
                          "such file or directory\n");
    CHECK_EQ_INT(doctor((char *[]){"doctor", "--help", NULL}), 0);
    HAS("usage: uwsgi-fast doctor [--root DIR] [OPTIONS]\n");
    CHECK_EQ_INT(
        doctor((char *[]){"doctor", "--root", root, "-c", "", "--zerocopy-threshold", "0", NULL}),
        0);
    CHECK_EQ_STR(errtext, ""); /* a real setting: nothing to warn about */
}

static void test_estimates(void)
{
    tun_config_t c = {.recv_buffers = 512, .worker_connections = 1000};
    CHECK_EQ_INT(tun_memlock_per_worker(&c), 8192);
    c.recv_buffers = 8;
    CHECK_EQ_INT(tun_memlock_per_worker(&c), 4096); /* whole pages */
    c.recv_buffers = 32768;
    CHECK_EQ_INT(tun_memlock_per_worker(&c), 524288);
    CHECK_EQ_INT(tun_nofile_per_worker(&c), 1064);

    char b[32];
    human(0, b, sizeof(b));
    CHECK_EQ_STR(b, "0 bytes");
    human(1536, b, sizeof(b));
    CHECK_EQ_STR(b, "1.5 KiB");
    human(64ull << 30, b, sizeof(b));
    CHECK_EQ_STR(b, "64 GiB");
    human(UNLIMITED, b, sizeof(b));
    CHECK_EQ_STR(b, "unlimited");
    char list[64];
    cpulist((int[]){0, 1, 2, 5, 7, 8}, 6, list, sizeof(list));
    CHECK_EQ_STR(list, "0-2,5,7-8");
    cpulist(NULL, 0, list, sizeof(list));
    CHECK_EQ_STR(list, "");
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    const char *src = getenv("UF_SOURCE_ROOT");
    char base[PATH_MAX];
    if (!realpath(src ? src : ".", base))
        snprintf(base, sizeof(base), ".");
    snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures/doctor", base);
    snprintf(scratch, sizeof(scratch), "/tmp/uf-doctor-XXXXXX");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        return 1;
    }
    /* no ./uwsgi-fast.toml or ./gunicorn.conf.py may join in: -c "" everywhere, and here */
    if (chdir(scratch) < 0)
        return 1;
    test_epyc();
    test_container();
    test_cgroup_limited();
    test_old_and_strict();
    test_main();
    test_estimates();
    free(text);
    free(errtext);
    if (chdir("/") == 0)
        nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return check_done();
}
