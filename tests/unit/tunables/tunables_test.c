/* Unit tests of tunables: defaults, every type's parsing and bounds, listen addresses, the
 * precedence of command line over UWSGI_FAST_CMD_ARGS over environment over config file
 * over default (with gunicorn's WEB_CONCURRENCY, PORT and VIRTUAL_ENV), config files
 * (TOML and gunicorn.conf.py), the refused gunicorn settings, error messages, --help,
 * --print-config, --check-config, and that the committed docs/settings.md matches the
 * table. Includes the .c files of the tunables modules to reach their static helpers.
 *
 * The program runs in a fresh temporary directory, so that no uwsgi-fast.toml or
 * gunicorn.conf.py of the checkout is picked up as the default config file. */
#include "tunables/bind.c"
#include "tunables/cli.c"
#include "tunables/config_file.c"
#include "tunables/help.c"
#include "tunables/layers.c"
#include "tunables/markdown.c"
#include "tunables/print.c"
#include "tunables/refuse.c"
#include "tunables/settings.c"
#include "tunables/suggest.c"
#include "tunables/text.c"
#include "tunables/values.c"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"

static tun_config_t cfg;
static char err[512];
static char *out_text;
static size_t out_len;
static char tmpdir[64];     /* an existing directory, as created */
static char tmpdir_real[PATH_MAX]; /* ...and as realpath() spells it */
static char tmpfile_path[128];
static char source_root[PATH_MAX]; /* the checkout, for docs/settings.md */
static char workdir[PATH_MAX + 8]; /* the working directory: tmpdir/work */

/* Parses "uwsgi-fast ARGS..." (NULL-terminated) with the environment `env`, capturing what
 * tun_parse prints. The previous config is freed first, as the master would on reload. */
static int parse(char **env, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "uwsgi-fast";
    va_list ap;
    va_start(ap, env);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    tun_config_free(&cfg);
    free(out_text);
    out_text = NULL;
    out_len = 0;
    FILE *out = open_memstream(&out_text, &out_len);
    strcpy(err, "(untouched)");
    int rc = tun_parse(&cfg, argc, argv, env, out, err, sizeof(err));
    fclose(out);
    return rc;
}

#define ENV(...) ((char *[]){__VA_ARGS__, NULL})

/* Expects parse to fail with exactly `msg`, and to leave nothing behind in cfg. */
#define EXPECT_ERR_ENV(env, msg, ...)                                                        \
    do {                                                                                     \
        CHECK_EQ_INT(parse(env, __VA_ARGS__, NULL), TUN_ERROR);                              \
        CHECK_EQ_STR(err, msg);                                                              \
        CHECK(cfg.app == NULL && cfg.binds == NULL && cfg.bind_count == 0);                  \
    } while (0)
#define EXPECT_ERR(msg, ...) EXPECT_ERR_ENV(NULL, msg, __VA_ARGS__)
#define EXPECT_OK_ENV(env, ...)                                                              \
    do {                                                                                     \
        int rc_ = parse(env, __VA_ARGS__, NULL);                                             \
        CHECK_EQ_INT(rc_, TUN_OK);                                                           \
        if (rc_ != TUN_OK)                                                                   \
            fprintf(stderr, "    error was: %s\n", err);                                    \
    } while (0)
#define EXPECT_OK(...) EXPECT_OK_ENV(NULL, __VA_ARGS__)

static bool is_v4(const tun_bind_t *b, const char *ip, int port)
{
    char text[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr_in *sin = (const void *)&b->addr;
    if (b->addr.ss_family == AF_INET)
        inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
    bool ok = b->addr.ss_family == AF_INET && b->addrlen == sizeof(struct sockaddr_in) &&
              strcmp(text, ip) == 0 && ntohs(sin->sin_port) == port;
    if (!ok)
        fprintf(stderr, "    bind \"%s\": family %d, %s port %d; wanted AF_INET %s port %d\n",
                b->spec, b->addr.ss_family, text, ntohs(sin->sin_port), ip, port);
    return ok;
}

static bool is_v6(const tun_bind_t *b, const char *ip, int port)
{
    char text[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr_in6 *sin6 = (const void *)&b->addr;
    if (b->addr.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
    bool ok = b->addr.ss_family == AF_INET6 && b->addrlen == sizeof(struct sockaddr_in6) &&
              strcmp(text, ip) == 0 && ntohs(sin6->sin6_port) == port;
    if (!ok)
        fprintf(stderr, "    bind \"%s\": family %d, %s port %d; wanted AF_INET6 %s port %d\n",
                b->spec, b->addr.ss_family, text, ntohs(sin6->sin6_port), ip, port);
    return ok;
}

static const tun_setting_t *setting_named(const char *name)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++)
        if (strcmp(tun_settings[i].name, name) == 0)
            return &tun_settings[i];
    fprintf(stderr, "no setting %s\n", name);
    abort();
}

static int affinity_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return -1;
    return CPU_COUNT(&set);
}

static void test_defaults(void)
{
    EXPECT_OK_ENV(ENV("UNRELATED=1"), "myapp:app");
    CHECK_EQ_STR(cfg.app, "myapp:app");
    CHECK(cfg.chdir == NULL);
    CHECK(cfg.pythonpath == NULL && cfg.pythonpath_count == 0);
    CHECK(cfg.virtualenv == NULL);
    CHECK_EQ_INT(cfg.bind_count, 1);
    if (cfg.bind_count == 1) {
        CHECK(is_v4(&cfg.binds[0], "127.0.0.1", 8000));
        CHECK_EQ_STR(cfg.binds[0].spec, "127.0.0.1:8000");
    }
    CHECK_EQ_INT(cfg.backlog, 2048);
    int cpus = tun_usable_cpus(); /* the affinity mask, capped by a cgroup CPU quota */
    CHECK(cpus >= 1 && cpus <= affinity_cpus());
    CHECK_EQ_INT(cfg.workers, cpus > 4096 ? 4096 : cpus);
    CHECK(!cfg.workers_auto);
    CHECK(cfg.timeout == 30.0);
    CHECK(cfg.header_timeout == 10.0);
    CHECK(cfg.body_timeout == 30.0);
    CHECK_EQ_INT(cfg.max_requests, 0);
    CHECK_EQ_INT(cfg.max_requests_jitter, 0);
    CHECK(cfg.max_worker_lifetime == 0.0);
    CHECK_EQ_INT(cfg.reload_on_rss, 0);
    CHECK_EQ_INT(cfg.memory_reserve_mb, 256);
    CHECK(cfg.pidfile == NULL);
    CHECK(!cfg.cpu_pin && !cfg.numa_pin);
    CHECK_EQ_INT(cfg.zerocopy_threshold, 65536);
    CHECK_EQ_INT(cfg.limit_request_body, 1073741824LL);
    CHECK_EQ_INT(cfg.body_spool_threshold, 1048576);
    CHECK(cfg.tmp_upload_dir == NULL);
    CHECK_EQ_STR(cfg.forwarded_allow_ips, "127.0.0.1,::1");
    CHECK_EQ_STR(cfg.secure_scheme_headers,
                 "X-FORWARDED-PROTOCOL=ssl,X-FORWARDED-PROTO=https,X-FORWARDED-SSL=on");
    CHECK(cfg.root_path == NULL);
    CHECK(cfg.config == NULL);
    CHECK(cfg.raw_env == NULL && cfg.raw_env_count == 0);
    CHECK(!cfg.preload);
    CHECK_EQ_INT(cfg.warning_count, 0);
    CHECK(cfg.sources != NULL);
    CHECK(cfg.graceful_timeout == 30.0);
    CHECK(cfg.keepalive == 2.0);
    CHECK_EQ_INT(cfg.worker_connections, 1000);
    CHECK_EQ_INT(cfg.ring_entries, 1024);
    CHECK_EQ_INT(cfg.recv_buffers, 256);
    CHECK_EQ_INT(cfg.recv_buffer_size, 16384);
    CHECK_EQ_INT(cfg.limit_request_line, 4094);
    CHECK_EQ_INT(cfg.limit_request_fields, 100);
    CHECK_EQ_INT(cfg.limit_request_field_size, 8190);
    CHECK_EQ_STR(cfg.error_logfile, "-");
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_INFO);
    CHECK(out_len == 0); /* a normal parse prints nothing */

    /* a NULL environment is the same as an empty one */
    EXPECT_OK_ENV(NULL, "myapp:app");
    CHECK_EQ_INT(cfg.backlog, 2048);
    CHECK_EQ_INT(cfg.bind_count, 1);
}

/* Every INT row: exactly at each bound is accepted, one past is rejected with the message
 * naming the flag and the accepted range, driven from the table itself so a new row is
 * covered without a new test. */
static void test_int_bounds_all_rows(void)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        const tun_setting_t *s = &tun_settings[i];
        if (s->type != TUN_T_INT && s->type != TUN_T_INT64)
            continue;
        char flag[64], v[32], msg[256];
        snprintf(flag, sizeof(flag), "--%s", s->long_flag);
        const char *accepted = (s->flags & TUN_F_POW2) ? "a power of two from %.0f to %.0f"
                                                       : "%.0f to %.0f";
        char acc[64];
        snprintf(acc, sizeof(acc), accepted, s->min, s->max);
        if (s->flags & TUN_F_AUTO)
            strcat(acc, ", or auto");

        for (int k = 0; k < 2; k++) {
            long long bound = (long long)(k ? s->max : s->min);
            snprintf(v, sizeof(v), "%lld", bound);
            EXPECT_OK(flag, v, "a:b");
            if (s->type == TUN_T_INT)
                CHECK_EQ_INT(*(int *)tun_field(s, &cfg), bound);
            else
                CHECK_EQ_INT(*(long long *)tun_field(s, &cfg), bound);

            snprintf(v, sizeof(v), "%lld", k ? bound + 1 : bound - 1);
            snprintf(msg, sizeof(msg), "%s: \"%s\" is out of range (accepted: %s)", flag, v, acc);
            EXPECT_ERR(msg, flag, v, "a:b");
        }
        snprintf(msg, sizeof(msg), "%s: \"abc\" is not a whole number (accepted: %s)", flag, acc);
        EXPECT_ERR(msg, flag, "abc", "a:b");
    }
}

static void test_int_parsing(void)
{
    EXPECT_ERR("--workers: \"abc\" is not a whole number (accepted: 1 to 4096, or auto)", "--workers", "abc",
               "a:b");
    EXPECT_ERR("--workers: \"4.5\" is not a whole number (accepted: 1 to 4096, or auto)", "-w", "4.5", "a:b");
    EXPECT_ERR("--workers: \"1e3\" is not a whole number (accepted: 1 to 4096, or auto)", "-w", "1e3", "a:b");
    EXPECT_ERR("--workers: \" 4\" is not a whole number (accepted: 1 to 4096, or auto)", "-w", " 4", "a:b");
    EXPECT_ERR("--workers: \"4 \" is not a whole number (accepted: 1 to 4096, or auto)", "-w", "4 ", "a:b");
    EXPECT_ERR("--workers: \"\" is not a whole number (accepted: 1 to 4096, or auto)", "--workers=", "a:b");
    EXPECT_ERR("--workers: \"-\" is not a whole number (accepted: 1 to 4096, or auto)", "-w", "-", "a:b");
    EXPECT_ERR("--workers: \"0\" is out of range (accepted: 1 to 4096, or auto)", "-w", "0", "a:b");
    EXPECT_ERR("--workers: \"-3\" is out of range (accepted: 1 to 4096, or auto)", "-w", "-3", "a:b");
    EXPECT_ERR("--workers: \"99999999999999999999999\" is out of range (accepted: 1 to 4096, or auto)", "-w",
               "99999999999999999999999", "a:b");
    EXPECT_ERR("--workers: \"4294967297\" is out of range (accepted: 1 to 4096, or auto)", "-w",
               "4294967297", "a:b"); /* would wrap to 1 as a 32-bit int */
    EXPECT_OK("-w", "+7", "a:b");
    CHECK_EQ_INT(cfg.workers, 7);
    EXPECT_OK("-w", "007", "a:b");
    CHECK_EQ_INT(cfg.workers, 7);
    EXPECT_OK("--backlog", "65535", "--worker-connections", "1000000", "a:b");
    CHECK_EQ_INT(cfg.backlog, 65535);
    CHECK_EQ_INT(cfg.worker_connections, 1000000);

    /* powers of two */
    EXPECT_ERR("--ring-entries: \"1000\" is not a power of two (accepted: a power of two from 8 "
               "to 32768)",
               "--ring-entries", "1000", "a:b");
    EXPECT_ERR("--recv-buffers: \"24\" is not a power of two (accepted: a power of two from 8 to "
               "32768)",
               "--recv-buffers", "24", "a:b");
    EXPECT_ERR("--ring-entries: \"4\" is out of range (accepted: a power of two from 8 to 32768)",
               "--ring-entries", "4", "a:b");
    EXPECT_ERR("--ring-entries: \"65536\" is out of range (accepted: a power of two from 8 to "
               "32768)",
               "--ring-entries", "65536", "a:b");
    EXPECT_OK("--ring-entries", "16", "--recv-buffers", "4096", "a:b");
    CHECK_EQ_INT(cfg.ring_entries, 16);
    CHECK_EQ_INT(cfg.recv_buffers, 4096);

    /* gunicorn's limits: 0 is allowed (unlimited), negatives are not */
    EXPECT_OK("--limit-request-line", "0", "--limit-request-fields", "0",
              "--limit-request-field_size", "0", "a:b");
    CHECK_EQ_INT(cfg.limit_request_line, 0);
    CHECK_EQ_INT(cfg.limit_request_fields, 0);
    CHECK_EQ_INT(cfg.limit_request_field_size, 0);
    EXPECT_ERR("--limit-request-line: \"8191\" is out of range (accepted: 0 to 8190)",
               "--limit-request-line", "8191", "a:b");
    EXPECT_ERR("--limit-request-line: \"-1\" is out of range (accepted: 0 to 8190)",
               "--limit-request-line", "-1", "a:b");
    EXPECT_ERR("--limit-request-fields: \"32769\" is out of range (accepted: 0 to 32768)",
               "--limit-request-fields", "32769", "a:b");
    EXPECT_ERR("--recv-buffer-size: \"1023\" is out of range (accepted: 1024 to 1048576)",
               "--recv-buffer-size", "1023", "a:b");
}

static void test_double(void)
{
    EXPECT_OK("--keep-alive", "0", "--graceful-timeout", "86400", "a:b");
    CHECK(cfg.keepalive == 0.0);
    CHECK(cfg.graceful_timeout == 86400.0);
    EXPECT_OK("--keep-alive", "3600", "--graceful-timeout", "0", "a:b");
    CHECK(cfg.keepalive == 3600.0);
    CHECK(cfg.graceful_timeout == 0.0);
    EXPECT_OK("--keep-alive", "1.5", "--graceful-timeout", "2.5e1", "a:b");
    CHECK(cfg.keepalive == 1.5);
    CHECK(cfg.graceful_timeout == 25.0);
    EXPECT_OK("--keep-alive=.25", "a:b");
    CHECK(cfg.keepalive == 0.25);

    EXPECT_ERR("--keep-alive: \"3600.5\" is out of range (accepted: 0 to 3600)", "--keep-alive",
               "3600.5", "a:b");
    EXPECT_ERR("--keep-alive: \"-0.1\" is out of range (accepted: 0 to 3600)", "--keep-alive",
               "-0.1", "a:b");
    EXPECT_ERR("--graceful-timeout: \"86401\" is out of range (accepted: 0 to 86400)",
               "--graceful-timeout", "86401", "a:b");
    EXPECT_ERR("--graceful-timeout: \"1e999\" is out of range (accepted: 0 to 86400)",
               "--graceful-timeout", "1e999", "a:b");
    const char *bad[] = {"abc", "nan", "inf", "0x10", "", "1.2.3", "1e", " 1", "2s", "--"};
    for (size_t i = 0; i < UF_ARRAY_LEN(bad); i++) {
        char arg[64], msg[128];
        snprintf(arg, sizeof(arg), "--keep-alive=%s", bad[i]);
        snprintf(msg, sizeof(msg), "--keep-alive: \"%s\" is not a number (accepted: 0 to 3600)",
                 bad[i]);
        EXPECT_ERR(msg, arg, "a:b");
    }
}

static void test_strings(void)
{
    /* --chdir: must exist, stored absolute */
    EXPECT_OK("--chdir", tmpdir, "a:b");
    CHECK_EQ_STR(cfg.chdir, tmpdir_real);
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    char *cwd_real = realpath(cwd, NULL);
    EXPECT_OK("--chdir", ".", "a:b");
    CHECK_EQ_STR(cfg.chdir, cwd_real);
    free(cwd_real);
    EXPECT_ERR("--chdir: \"/nonexistent/uwsgi-fast\" does not exist (accepted: an existing "
               "directory)",
               "--chdir", "/nonexistent/uwsgi-fast", "a:b");
    char msg[512];
    snprintf(msg, sizeof(msg), "--chdir: \"%s\" is not a directory (accepted: an existing directory)",
             tmpfile_path);
    EXPECT_ERR(msg, "--chdir", tmpfile_path, "a:b");
    EXPECT_OK("--chdir=", "a:b"); /* empty: stay where we are */
    CHECK(cfg.chdir == NULL);

    /* --error-logfile: any non-empty text, "-" included, gunicorn's --log-file alias */
    EXPECT_OK("--error-logfile", "/var/log/uf.log", "a:b");
    CHECK_EQ_STR(cfg.error_logfile, "/var/log/uf.log");
    EXPECT_OK("--log-file=relative.log", "a:b");
    CHECK_EQ_STR(cfg.error_logfile, "relative.log");
    EXPECT_OK("--error-logfile", "/tmp/x.log", "--error-logfile", "-", "a:b"); /* last wins */
    CHECK_EQ_STR(cfg.error_logfile, "-");
    EXPECT_ERR("--error-logfile: \"\" is empty (accepted: non-empty text)", "--error-logfile", "",
               "a:b");

    /* the application */
    EXPECT_ERR("application (MODULE:CALLABLE): \"\" is empty (accepted: MODULE:CALLABLE)", "");
    EXPECT_OK("--", "-odd:app");
    CHECK_EQ_STR(cfg.app, "-odd:app");
    EXPECT_OK("-w", "2", "pkg.mod:create_app()", "--backlog", "5"); /* options after it too */
    CHECK_EQ_STR(cfg.app, "pkg.mod:create_app()");
    CHECK_EQ_INT(cfg.backlog, 5);
    CHECK_EQ_INT(cfg.workers, 2);
}

static void test_bool(void)
{
    /* The parser directly, then the bool rows through the command line. */
    const tun_setting_t fake = {.name = "fake", .type = TUN_T_BOOL, .long_flag = "fake"};
    const char *yes[] = {"true", "TRUE", "yes", "Yes", "on", "1"};
    const char *no[] = {"false", "False", "no", "NO", "off", "0"};
    for (size_t i = 0; i < UF_ARRAY_LEN(yes); i++) {
        bool v = false;
        CHECK_EQ_INT(parse_bool(&fake, yes[i], &v, "--fake", err, sizeof(err)), 0);
        CHECK(v == true);
        v = true;
        CHECK_EQ_INT(parse_bool(&fake, no[i], &v, "--fake", err, sizeof(err)), 0);
        CHECK(v == false);
    }
    bool v = true;
    CHECK_EQ_INT(parse_bool(&fake, "maybe", &v, "--fake", err, sizeof(err)), TUN_ERROR);
    CHECK_EQ_STR(err, "--fake: \"maybe\" is not true or false (accepted: true, false, yes, no, on, "
                      "off, 1, 0)");
    CHECK(v == true); /* untouched on error */
    CHECK_EQ_INT(parse_bool(&fake, "", &v, "--fake", err, sizeof(err)), TUN_ERROR);

    EXPECT_OK("--cpu-pin", "--numa-pin=yes", "a:b"); /* bare switches it on */
    CHECK(cfg.cpu_pin && cfg.numa_pin);
    EXPECT_OK("--cpu-pin=off", "a:b");
    CHECK(!cfg.cpu_pin);
    EXPECT_ERR("--cpu-pin: \"2\" is not true or false (accepted: true, false, yes, no, on, off, "
               "1, 0)",
               "--cpu-pin=2", "a:b");
    /* a bool flag does not take the next argument: that is the application */
    EXPECT_OK("--numa-pin", "false");
    CHECK(cfg.numa_pin);
    CHECK_EQ_STR(cfg.app, "false");
}

static void test_log_level(void)
{
    const char *names[] = {"debug", "info", "warning", "error", "critical"};
    for (int i = 0; i < 5; i++) {
        EXPECT_OK("--log-level", names[i], "a:b");
        CHECK_EQ_INT(cfg.log_level, i);
    }
    CHECK_EQ_INT(LOG_LEVEL_DEBUG, 0);
    CHECK_EQ_INT(LOG_LEVEL_CRITICAL, 4);
    EXPECT_OK("--log-level=WARNING", "a:b");
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_WARNING);
    EXPECT_ERR("--log-level: \"verbose\" is not a log level (accepted: debug, info, warning, "
               "error, critical)",
               "--log-level", "verbose", "a:b");
    EXPECT_ERR("--log-level: \"\" is not a log level (accepted: debug, info, warning, error, "
               "critical)",
               "--log-level=", "a:b");
}

static void test_paths(void)
{
    EXPECT_OK("--pythonpath", "a,b", "--pythonpath", " c , ,d ", "a:b");
    CHECK_EQ_INT(cfg.pythonpath_count, 4);
    if (cfg.pythonpath_count == 4) {
        CHECK_EQ_STR(cfg.pythonpath[0], "a");
        CHECK_EQ_STR(cfg.pythonpath[1], "b");
        CHECK_EQ_STR(cfg.pythonpath[2], "c");
        CHECK_EQ_STR(cfg.pythonpath[3], "d");
    }
    EXPECT_OK_ENV(ENV("UWSGI_FAST_PYTHONPATH=/x,/y"), "a:b");
    CHECK_EQ_INT(cfg.pythonpath_count, 2);
    if (cfg.pythonpath_count == 2) {
        CHECK_EQ_STR(cfg.pythonpath[0], "/x");
        CHECK_EQ_STR(cfg.pythonpath[1], "/y");
    }
    /* the command line's list replaces the environment's */
    EXPECT_OK_ENV(ENV("UWSGI_FAST_PYTHONPATH=/x,/y"), "--pythonpath=/z", "a:b");
    CHECK_EQ_INT(cfg.pythonpath_count, 1);
    if (cfg.pythonpath_count == 1)
        CHECK_EQ_STR(cfg.pythonpath[0], "/z");
    EXPECT_OK("--pythonpath", ",", "a:b");
    CHECK_EQ_INT(cfg.pythonpath_count, 0);
}

#define BIND_ACCEPTED                                                                        \
    " (accepted: HOST:PORT, [IPV6]:PORT, HOST (port 8000) or :PORT (all IPv4 interfaces), "   \
    "with a port from 1 to 65535)"

static void test_binds(void)
{
    EXPECT_OK("-b", "127.0.0.1:8000", "a:b");
    CHECK_EQ_INT(cfg.bind_count, 1);
    CHECK(is_v4(&cfg.binds[0], "127.0.0.1", 8000));

    EXPECT_OK("--bind", "0.0.0.0:80", "a:b");
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "0.0.0.0", 80));

    EXPECT_OK("--bind=[::1]:8000", "a:b");
    CHECK(cfg.bind_count == 1 && is_v6(&cfg.binds[0], "::1", 8000));
    CHECK_EQ_STR(cfg.binds[0].spec, "[::1]:8000");

    EXPECT_OK("-b[::]:8000", "a:b");
    CHECK(cfg.bind_count == 1 && is_v6(&cfg.binds[0], "::", 8000));

    EXPECT_OK("-b", "[::1]", "a:b"); /* bare bracketed host: port 8000 */
    CHECK(cfg.bind_count == 1 && is_v6(&cfg.binds[0], "::1", 8000));

    EXPECT_OK("-b", "localhost", "a:b"); /* a name, resolved; bare host means port 8000 */
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 8000));
    CHECK_EQ_STR(cfg.binds[0].spec, "localhost");

    EXPECT_OK("-b", "LocalHost:9000", "a:b");
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 9000));

    EXPECT_OK("-b", "10.1.2.3", "a:b");
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "10.1.2.3", 8000));

    EXPECT_OK("-b", ":9001", "a:b"); /* gunicorn binds ("", port): all IPv4 interfaces */
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "0.0.0.0", 9001));

    EXPECT_OK("-b", "tcp://127.0.0.1:7000", "a:b");
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 7000));

    EXPECT_OK("-b", "127.0.0.1:65535", "a:b");
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 65535));

    /* repeated and comma separated, in the order given */
    EXPECT_OK("-b", "127.0.0.1:1", "--bind", "[::1]:2, 127.0.0.2:3", "a:b");
    CHECK_EQ_INT(cfg.bind_count, 3);
    if (cfg.bind_count == 3) {
        CHECK(is_v4(&cfg.binds[0], "127.0.0.1", 1));
        CHECK(is_v6(&cfg.binds[1], "::1", 2));
        CHECK(is_v4(&cfg.binds[2], "127.0.0.2", 3));
        CHECK_EQ_STR(cfg.binds[2].spec, "127.0.0.2:3");
    }

    EXPECT_ERR("--bind: \"127.0.0.1:\" has no port after the colon" BIND_ACCEPTED, "-b",
               "127.0.0.1:", "a:b");
    EXPECT_ERR("--bind: \"127.0.0.1:99999\" has a port 99999 outside 1 to 65535" BIND_ACCEPTED,
               "-b", "127.0.0.1:99999", "a:b");
    EXPECT_ERR("--bind: \"127.0.0.1:0\" has a port 0 outside 1 to 65535" BIND_ACCEPTED, "-b",
               "127.0.0.1:0", "a:b");
    EXPECT_ERR("--bind: \"127.0.0.1:65536\" has a port 65536 outside 1 to 65535" BIND_ACCEPTED,
               "-b", "127.0.0.1:65536", "a:b");
    EXPECT_ERR("--bind: \"127.0.0.1:http\" has a port \"http\" that is not a number" BIND_ACCEPTED,
               "-b", "127.0.0.1:http", "a:b");
    EXPECT_ERR("--bind: \"127.0.0.1:8000000\" has a port \"8000000\" that is not a "
               "number" BIND_ACCEPTED,
               "-b", "127.0.0.1:8000000", "a:b");
    EXPECT_ERR("--bind: \"::1\" has more than one colon; write IPv6 addresses in brackets, e.g. "
               "[::1]:8000" BIND_ACCEPTED,
               "-b", "::1", "a:b");
    EXPECT_ERR("--bind: \"[::1:80\" has no closing ]" BIND_ACCEPTED, "-b", "[::1:80", "a:b");
    EXPECT_ERR("--bind: \"[::1]80\" has \"80\" after ] where :PORT belongs" BIND_ACCEPTED, "-b",
               "[::1]80", "a:b");
    EXPECT_ERR("--bind: \"[]:80\" has no IPv6 address between [ and ]" BIND_ACCEPTED, "-b",
               "[]:80", "a:b");
    EXPECT_ERR("--bind: \"[127.0.0.1]:80\" has \"127.0.0.1\" between [ and ], which is not an "
               "IPv6 address" BIND_ACCEPTED,
               "-b", "[127.0.0.1]:80", "a:b");
    EXPECT_ERR("--bind: \"unix:/tmp/uf.sock\" is not supported: only TCP addresses can be "
               "served" BIND_ACCEPTED,
               "-b", "unix:/tmp/uf.sock", "a:b");
    EXPECT_ERR("--bind: \"\" is not an address" BIND_ACCEPTED, "--bind=", "a:b");
    EXPECT_ERR("--bind: \" , \" is not an address" BIND_ACCEPTED, "-b", " , ", "a:b");
    EXPECT_ERR("--bind: \"127.0.0.1:8000\" and \"127.0.0.1:8000\" are the same address", "-b",
               "127.0.0.1:8000", "-b", "127.0.0.1:8000", "a:b");
    EXPECT_ERR("--bind: \"localhost\" and \"127.0.0.1:8000\" are the same address", "-b",
               "localhost,127.0.0.1:8000", "a:b");

    char longspec[400];
    memset(longspec, 'a', sizeof(longspec) - 1);
    longspec[sizeof(longspec) - 1] = 0;
    CHECK_EQ_INT(parse(NULL, "-b", longspec, "a:b", NULL), TUN_ERROR);
    CHECK(strstr(err, "is too long") != NULL);
    CHECK(strlen(err) < 400); /* the value is cut short in the message */
}

static void test_env_precedence(void)
{
    char **env = ENV("UWSGI_FAST_WORKERS=3", "UWSGI_FAST_BACKLOG=100",
                     "UWSGI_FAST_LOG_LEVEL=debug", "UWSGI_FAST_KEEP_ALIVE=7.5",
                     "UWSGI_FAST_LIMIT_REQUEST_FIELD_SIZE=77", "UWSGI_FAST_ERROR_LOGFILE=/e.log",
                     "UWSGI_FAST_APP=env:app");
    EXPECT_OK_ENV(env, "--backlog", "200");
    CHECK_EQ_INT(cfg.workers, 3);     /* env over default */
    CHECK_EQ_INT(cfg.backlog, 200);   /* command line over env */
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_DEBUG);
    CHECK(cfg.keepalive == 7.5);
    CHECK_EQ_INT(cfg.limit_request_field_size, 77);
    CHECK_EQ_STR(cfg.error_logfile, "/e.log");
    CHECK_EQ_STR(cfg.app, "env:app"); /* the application may come from the environment */
    CHECK_EQ_INT(cfg.ring_entries, 1024);

    EXPECT_OK_ENV(env, "-w", "5", "cli:app");
    CHECK_EQ_INT(cfg.workers, 5);
    CHECK_EQ_STR(cfg.app, "cli:app");

    /* a bad value the command line overrides is never looked at */
    EXPECT_OK_ENV(ENV("UWSGI_FAST_WORKERS=abc"), "-w", "2", "a:b");
    CHECK_EQ_INT(cfg.workers, 2);
    /* ...and one it does not override names the variable */
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_WORKERS=abc"),
                   "UWSGI_FAST_WORKERS (--workers): \"abc\" is not a whole number (accepted: 1 "
                   "to 4096, or auto)",
                   "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_RING_ENTRIES=100"),
                   "UWSGI_FAST_RING_ENTRIES (--ring-entries): \"100\" is not a power of two "
                   "(accepted: a power of two from 8 to 32768)",
                   "a:b");
    /* empty counts as unset; names must match whole */
    EXPECT_OK_ENV(ENV("UWSGI_FAST_BACKLOG=", "UWSGI_FAST_BACKLOGX=5", "XUWSGI_FAST_BACKLOG=6",
                      "UWSGI_FAST_BACKLO=7"),
                  "a:b");
    CHECK_EQ_INT(cfg.backlog, 2048);

    /* lists: env list, replaced whole by the command line */
    char **benv = ENV("UWSGI_FAST_BIND=127.0.0.1:1,[::1]:2");
    EXPECT_OK_ENV(benv, "a:b");
    CHECK_EQ_INT(cfg.bind_count, 2);
    if (cfg.bind_count == 2) {
        CHECK(is_v4(&cfg.binds[0], "127.0.0.1", 1));
        CHECK(is_v6(&cfg.binds[1], "::1", 2));
    }
    EXPECT_OK_ENV(benv, "-b", "127.0.0.1:3", "a:b");
    CHECK_EQ_INT(cfg.bind_count, 1);
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 3));

    /* every row has its variable: set each to its own default and parse cleanly */
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        const tun_setting_t *s = &tun_settings[i];
        char expect[64];
        snprintf(expect, sizeof(expect), "UWSGI_FAST_");
        CHECK(strncmp(s->env, expect, strlen(expect)) == 0);
        /* the env name is the long flag upper-cased, '-' and '_' alike */
        if (s->long_flag) {
            const char *e = s->env + strlen(expect), *f = s->long_flag;
            bool same = strlen(e) == strlen(f);
            for (size_t k = 0; same && f[k]; k++)
                same = e[k] == (f[k] == '-' ? '_' : toupper((unsigned char)f[k]));
            if (!same)
                fprintf(stderr, "    %s does not match --%s\n", s->env, s->long_flag);
            CHECK(same);
        }
    }
}

static void test_gunicorn_env(void)
{
    /* WEB_CONCURRENCY replaces the CPU-count default, under UWSGI_FAST_WORKERS and -w */
    EXPECT_OK_ENV(ENV("WEB_CONCURRENCY=6"), "a:b");
    CHECK_EQ_INT(cfg.workers, 6);
    EXPECT_OK_ENV(ENV("WEB_CONCURRENCY=6", "UWSGI_FAST_WORKERS=2"), "a:b");
    CHECK_EQ_INT(cfg.workers, 2);
    EXPECT_OK_ENV(ENV("UWSGI_FAST_WORKERS=2", "WEB_CONCURRENCY=6"), "-w9", "a:b");
    CHECK_EQ_INT(cfg.workers, 9);
    EXPECT_OK_ENV(ENV("WEB_CONCURRENCY="), "a:b");
    CHECK_EQ_INT(cfg.workers, tun_usable_cpus() > 4096 ? 4096 : tun_usable_cpus());
    EXPECT_ERR_ENV(ENV("WEB_CONCURRENCY=abc"),
                   "WEB_CONCURRENCY (--workers): \"abc\" is not a whole number (accepted: 1 to "
                   "4096, or auto)",
                   "a:b");
    EXPECT_ERR_ENV(ENV("WEB_CONCURRENCY=0"),
                   "WEB_CONCURRENCY (--workers): \"0\" is out of range (accepted: 1 to 4096, or auto)",
                   "a:b");

    /* PORT: 0.0.0.0:$PORT when no bind is given anywhere */
    EXPECT_OK_ENV(ENV("PORT=5000"), "a:b");
    CHECK_EQ_INT(cfg.bind_count, 1);
    if (cfg.bind_count == 1) {
        CHECK(is_v4(&cfg.binds[0], "0.0.0.0", 5000));
        CHECK_EQ_STR(cfg.binds[0].spec, "0.0.0.0:5000");
    }
    EXPECT_OK_ENV(ENV("PORT=5000"), "-b", "127.0.0.1:6000", "a:b");
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 6000));
    EXPECT_OK_ENV(ENV("PORT=5000", "UWSGI_FAST_BIND=127.0.0.1:6001"), "a:b");
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 6001));
    EXPECT_ERR_ENV(ENV("PORT=abc"),
                   "PORT (--bind): \"0.0.0.0:abc\" has a port \"abc\" that is not a "
                   "number" BIND_ACCEPTED,
                   "a:b");
    EXPECT_OK_ENV(ENV("PORT=abc"), "-b", "127.0.0.1:1", "a:b"); /* overridden: not parsed */

    /* VIRTUAL_ENV: the default virtualenv */
    char venv[128];
    snprintf(venv, sizeof(venv), "VIRTUAL_ENV=%s", tmpdir);
    EXPECT_OK_ENV(ENV(venv), "a:b");
    CHECK_EQ_STR(cfg.virtualenv, tmpdir_real);
    EXPECT_OK_ENV(ENV(venv), "--virtualenv", "", "a:b"); /* "" opts out */
    CHECK(cfg.virtualenv == NULL);
    EXPECT_OK_ENV(ENV(venv, "UWSGI_FAST_VIRTUALENV=/"), "a:b");
    CHECK_EQ_STR(cfg.virtualenv, "/");
    EXPECT_OK_ENV(ENV("VIRTUAL_ENV=/nonexistent/venv"), "--virtualenv", tmpdir, "a:b");
    CHECK_EQ_STR(cfg.virtualenv, tmpdir_real);
    EXPECT_ERR_ENV(ENV("VIRTUAL_ENV=/nonexistent/venv"),
                   "VIRTUAL_ENV (--virtualenv): \"/nonexistent/venv\" does not exist (accepted: "
                   "an existing directory)",
                   "a:b");
    EXPECT_OK_ENV(ENV("VIRTUAL_ENV="), "a:b");
    CHECK(cfg.virtualenv == NULL);
}

static void test_cli_forms(void)
{
    const char *forms[][3] = {
        {"--workers", "4", NULL}, {"--workers=4", NULL, NULL}, {"-w", "4", NULL},
        {"-w4", NULL, NULL},      {"-w=4", NULL, NULL},
    };
    for (size_t i = 0; i < UF_ARRAY_LEN(forms); i++) {
        if (forms[i][1])
            EXPECT_OK((char *)forms[i][0], (char *)forms[i][1], "a:b");
        else
            EXPECT_OK((char *)forms[i][0], "a:b");
        CHECK_EQ_INT(cfg.workers, 4);
    }
    EXPECT_OK("--bind=127.0.0.1:4000", "--limit-request-field_size=10", "a:b");
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 4000));
    CHECK_EQ_INT(cfg.limit_request_field_size, 10);
    EXPECT_OK("--limit-request-field-size", "11", "a:b"); /* the hyphenated spelling too */
    CHECK_EQ_INT(cfg.limit_request_field_size, 11);
    EXPECT_OK("--pythonpath=a=b", "a:b"); /* only the first '=' splits */
    CHECK(cfg.pythonpath_count == 1 && strcmp(cfg.pythonpath[0], "a=b") == 0);
    EXPECT_OK("-w", "3", "-w", "6", "a:b"); /* a scalar given twice: the last wins */
    CHECK_EQ_INT(cfg.workers, 6);

    /* missing values */
    EXPECT_ERR("--workers needs a value (accepted: 1 to 4096, or auto)", "a:b", "--workers");
    EXPECT_ERR("--workers needs a value (accepted: 1 to 4096, or auto)", "a:b", "-w");
    EXPECT_ERR("--bind needs a value" BIND_ACCEPTED, "--bind", "--workers", "2", "a:b");
    EXPECT_ERR("--chdir needs a value (accepted: an existing directory)", "--chdir", "-w", "a:b");
    EXPECT_OK("--error-logfile", "-", "a:b"); /* "-" is a value, not an option */
    CHECK_EQ_STR(cfg.error_logfile, "-");
}

static void test_unknown_flags(void)
{
    EXPECT_ERR("unknown option --worker; did you mean --workers?", "--worker", "3", "a:b");
    EXPECT_ERR("unknown option --worker; did you mean --workers?", "--worker=3", "a:b");
    EXPECT_ERR("unknown option --wokrers; did you mean --workers?", "--wokrers=3", "a:b");
    EXPECT_ERR("unknown option --bnd; did you mean --bind?", "--bnd", "x", "a:b");
    EXPECT_ERR("unknown option --keepalive; did you mean --keep-alive?", "--keepalive", "2", "a:b");
    EXPECT_ERR("unknown option --Workers; did you mean --workers?", "--Workers", "2", "a:b");
    EXPECT_ERR("unknown option --hepl; did you mean --help?", "--hepl");
    EXPECT_ERR("unknown option --print-confg; did you mean --print-config?", "--print-confg");
    EXPECT_ERR("unknown option --timout; did you mean --timeout?", "--timout", "3", "a:b");
    EXPECT_ERR("unknown option --logfile; did you mean --log-file?", "--logfile", "x", "a:b");
    EXPECT_ERR("unknown option --frobnicate (see --help)", "--frobnicate", "a:b");
    EXPECT_ERR("unknown option --x (see --help)", "--x", "a:b");
    EXPECT_ERR("unknown option -x (see --help)", "-x", "a:b");
    EXPECT_ERR("unknown option -W (see --help)", "-W4", "a:b");
    /* the hidden flag is never offered */
    CHECK_EQ_INT(parse(NULL, "--print-settings-markdow", NULL), TUN_ERROR);
    CHECK(strstr(err, "print-settings") && !strstr(err, "did you mean"));
    /* the first problem in argv order is the one reported */
    EXPECT_ERR("unknown option --nope (see --help)", "--nope", "-w", "abc", "a:b");

    CHECK_EQ_INT(edit_distance("worker", 6, "workers", 7), 1);
    CHECK_EQ_INT(edit_distance("hepl", 4, "help", 4), 1);
    CHECK_EQ_INT(edit_distance("", 0, "bind", 4), 4);
    CHECK_EQ_INT(edit_distance("kitten", 6, "sitting", 7), 3);
    CHECK(tun_suggest_flag("zzzzzz", 6) == NULL);
}

static void test_positional(void)
{
    EXPECT_ERR("no application given: name it as MODULE:CALLABLE, e.g. uwsgi-fast "
               "myproject.wsgi:application (or set UWSGI_FAST_APP)",
               "-w", "2");
    EXPECT_ERR("no application given: name it as MODULE:CALLABLE, e.g. uwsgi-fast "
               "myproject.wsgi:application (or set UWSGI_FAST_APP)",
               "--");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_APP="),
                   "no application given: name it as MODULE:CALLABLE, e.g. uwsgi-fast "
                   "myproject.wsgi:application (or set UWSGI_FAST_APP)",
                   "-w", "2");
    EXPECT_ERR("unexpected argument \"extra\": the application is already \"a:b\"", "a:b",
               "extra");
    /* "-" alone is an argument, not an option */
    EXPECT_OK("-");
    CHECK_EQ_STR(cfg.app, "-");
}

/* The help text with each run of blanks and newlines made one space, so wrapped text can be
 * searched for whole. */
static char *squash(const char *text)
{
    char *flat = malloc(strlen(text) + 1), *q = flat;
    for (const char *p = text; *p; p++) {
        if (isspace((unsigned char)*p)) {
            if (q == flat || q[-1] != ' ')
                *q++ = ' ';
        } else {
            *q++ = *p;
        }
    }
    *q = 0;
    return flat;
}

static void test_help_version(void)
{
    CHECK_EQ_INT(parse(NULL, "--help", NULL), TUN_EXIT);
    CHECK(out_text && strncmp(out_text, "usage: uwsgi-fast [OPTIONS] MODULE:CALLABLE\n", 44) == 0);
    CHECK(cfg.app == NULL && cfg.bind_count == 0); /* nothing left allocated */
    char *help = strdup(out_text ? out_text : "");
    char *flat = squash(help);

    /* every flag, alias, metavar, variable, default and section is in it */
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        const tun_setting_t *s = &tun_settings[i];
        char want[128];
        if (s->long_flag) {
            snprintf(want, sizeof(want), "--%s%s%s", s->alias ? s->alias : s->long_flag,
                     s->type == TUN_T_BOOL ? "" : " ", s->type == TUN_T_BOOL ? "" : s->metavar);
            if (!strstr(help, want))
                fprintf(stderr, "    --help lacks \"%s\"\n", want);
            CHECK(strstr(help, want) != NULL);
            snprintf(want, sizeof(want), "--%s", s->long_flag);
            CHECK(strstr(help, want) != NULL);
        } else {
            snprintf(want, sizeof(want), "  %s ", s->metavar);
            CHECK(strstr(help, want) != NULL);
        }
        if (s->short_flag) {
            snprintf(want, sizeof(want), "-%c, --%s", s->short_flag, s->long_flag);
            CHECK(strstr(help, want) != NULL);
        }
        snprintf(want, sizeof(want), "[env: %s]", s->env);
        if (!strstr(help, want))
            fprintf(stderr, "    --help lacks \"%s\"\n", want);
        CHECK(strstr(help, want) != NULL);
        if (!strstr(flat, s->help))
            fprintf(stderr, "    --help lacks \"%s\"\n", s->help);
        CHECK(strstr(flat, s->help) != NULL);
        if (s->def && !s->compat_env) {
            snprintf(want, sizeof(want), "(default: %s)", s->def);
            if (!strstr(flat, want))
                fprintf(stderr, "    --help lacks \"%s\"\n", want);
            CHECK(strstr(flat, want) != NULL);
        }
    }
    for (int sec = 0; sec < TUN_SEC_COUNT; sec++) {
        char want[64];
        snprintf(want, sizeof(want), "\n%s:\n", tun_section_titles[sec]);
        CHECK(strstr(help, want) != NULL);
    }
    CHECK(strstr(help, "(default: 127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set)") != NULL);
    CHECK(strstr(flat, "(default: the number of CPUs available, or $WEB_CONCURRENCY when "
                       "set)") != NULL);
    CHECK(strstr(help, "$VIRTUAL_ENV") != NULL);
    CHECK(strstr(help, "-h, --help") != NULL);
    CHECK(strstr(help, "-v, --version") != NULL);
    CHECK(strstr(help, "print-settings-markdown") == NULL); /* hidden */
    CHECK(strstr(help, "--print-config") != NULL && strstr(help, "--check-config") != NULL);
    CHECK(strstr(help, "uwsgi-fast doctor [--root DIR]") != NULL);
    /* every refused flag is listed, the no-ops apart */
    for (size_t i = 0; i < TUN_N_REFUSED; i++) {
        char want[96];
        if (!tun_refused[i].long_flag)
            continue;
        snprintf(want, sizeof(want), " --%s", tun_refused[i].long_flag);
        CHECK(strstr(help, want) != NULL);
    }
    CHECK(strstr(help, "Accepted without effect: --reuse-port --no-sendfile --worker-tmp-dir") !=
          NULL);
    /* sections appear in table order: Application first, Logging last */
    CHECK(strstr(help, "\nApplication:") < strstr(help, "\nServer socket:"));
    CHECK(strstr(help, "\nHTTP limits:") < strstr(help, "\nLogging:"));
    /* no line runs past the wrap width */
    size_t longest = 0;
    for (const char *line = help; *line;) {
        size_t len = strcspn(line, "\n");
        if (len > longest)
            longest = len;
        line += len + (line[len] == '\n');
    }
    CHECK(longest <= HELP_WIDTH);

    /* -h is the same text; --help wins over a bad environment and over later junk */
    CHECK_EQ_INT(parse(NULL, "-h", NULL), TUN_EXIT);
    CHECK_EQ_STR(out_text, help);
    CHECK_EQ_INT(parse(ENV("UWSGI_FAST_WORKERS=abc", "PORT=x"), "--help", NULL), TUN_EXIT);
    CHECK_EQ_STR(out_text, help);
    CHECK_EQ_INT(parse(NULL, "-w", "2", "--help", "--nope", NULL), TUN_EXIT);
    CHECK_EQ_STR(out_text, help);
    EXPECT_ERR("--help takes no value", "--help=yes");
    free(help);
    free(flat);

    CHECK_EQ_INT(parse(NULL, "--version", NULL), TUN_EXIT);
    CHECK_EQ_STR(out_text, "uwsgi-fast " UF_VERSION "\n");
    CHECK_EQ_INT(parse(NULL, "-v", "a:b", NULL), TUN_EXIT);
    CHECK_EQ_STR(out_text, "uwsgi-fast " UF_VERSION "\n");
    CHECK(strcmp(err, "") == 0);

    /* the hidden flag prints exactly what tun_write_markdown writes */
    char *md = NULL;
    size_t mdlen = 0;
    FILE *f = open_memstream(&md, &mdlen);
    tun_write_markdown(f);
    fclose(f);
    CHECK_EQ_INT(parse(NULL, "--print-settings-markdown", NULL), TUN_EXIT);
    CHECK(out_len == mdlen && memcmp(out_text, md, mdlen) == 0);
    /* one row per setting and per refused gunicorn setting, a heading per section, every
     * variable and config key */
    size_t rows = 0;
    for (const char *p = md; (p = strstr(p, "\n| `")); p++)
        rows++;
    CHECK_EQ_INT(rows, TUN_N_SETTINGS + TUN_N_REFUSED);
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        char want[96];
        if (tun_settings[i].flags & TUN_F_CONFIG)
            continue;
        snprintf(want, sizeof(want), "| `%s` |", tun_settings[i].key);
        CHECK(strstr(md, want) != NULL);
    }
    for (size_t i = 0; i < TUN_N_REFUSED; i++) {
        char want[256];
        snprintf(want, sizeof(want), "| `%s` |", tun_refused[i].key);
        CHECK(strstr(md, want) != NULL);
        snprintf(want, sizeof(want), "| %s |\n", tun_refused[i].reason);
        CHECK(strstr(md, want) != NULL);
    }
    for (size_t i = 0; i < TUN_N_HOOKS; i++) {
        char want[64];
        snprintf(want, sizeof(want), "`%s`", tun_hooks[i]);
        CHECK(strstr(md, want) != NULL);
    }
    for (int sec = 0; sec < TUN_SEC_COUNT; sec++) {
        char want[64];
        snprintf(want, sizeof(want), "\n## %s\n", tun_section_titles[sec]);
        CHECK(strstr(md, want) != NULL);
    }
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        char want[96];
        snprintf(want, sizeof(want), "| `%s` |", tun_settings[i].env);
        CHECK(strstr(md, want) != NULL);
    }
    CHECK(strstr(md, "| `binds` | `-b`, `--bind ADDRESS` | `UWSGI_FAST_BIND` | `bind` | list of "
                     "addresses | 127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set |") != NULL);
    CHECK(strstr(md, "| 1 to 4096, or auto | yes |") != NULL); /* workers: bounds, reloadable */
    CHECK(strstr(md, "| `worker_class` | `-k`, `--worker-class STRING` | planned | `sync`, "
                     "`gthread`, ") != NULL);
    CHECK(strstr(md, "| `threads` | `--threads INT` | `UWSGI_FAST_THREADS` | `threads` |") != NULL);
    CHECK(strstr(md, "| `reuse_port` | `--reuse-port` | accepted, no effect |  |") != NULL);
    CHECK(strstr(md, "| `tmp_upload_dir` | `--tmp-upload-dir DIR` |") != NULL);
    free(md);
}

/* docs/settings.md is generated; a table change without regenerating it fails here. */
static void test_docs_fresh(void)
{
    const char *root = getenv("UF_SOURCE_ROOT");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/docs/settings.md", source_root);
    FILE *f = fopen(path, "rb");
    if (!f && !root) {
        printf("docs freshness not checked: UF_SOURCE_ROOT is unset and %s is missing\n", path);
        return;
    }
    char *want = NULL;
    size_t wantlen = 0;
    FILE *m = open_memstream(&want, &wantlen);
    tun_write_markdown(m);
    fclose(m);

    bool same = false;
    if (f) {
        char *have = malloc(wantlen + 2);
        size_t n = fread(have, 1, wantlen + 1, f);
        same = n == wantlen && memcmp(have, want, wantlen) == 0;
        free(have);
        fclose(f);
    }
    if (!same)
        fprintf(stderr, "docs/settings.md is stale: regenerate with zig-out/bin/uwsgi-fast "
                        "--print-settings-markdown > docs/settings.md\n");
    CHECK(same);
    free(want);
}

static void test_errbuf_and_free(void)
{
    /* a short error buffer truncates, never overflows; NULL is allowed */
    char small[16];
    memset(small, 'x', sizeof(small));
    tun_config_t c;
    char *argv[] = {"uwsgi-fast", "-w", "abc", "a:b", NULL};
    CHECK_EQ_INT(tun_parse(&c, 4, argv, NULL, NULL, small, sizeof(small)), TUN_ERROR);
    CHECK_EQ_INT(strlen(small), sizeof(small) - 1);
    CHECK_EQ_INT(tun_parse(&c, 4, argv, NULL, NULL, NULL, 0), TUN_ERROR);

    /* tun_config_free zeroes and may be repeated; a config survives a second parse */
    char *ok[] = {"uwsgi-fast", "--pythonpath", "a,b", "--chdir", tmpdir, "a:b", NULL};
    CHECK_EQ_INT(tun_parse(&c, 6, ok, NULL, NULL, err, sizeof(err)), TUN_OK);
    tun_config_free(&c);
    tun_config_t zero;
    memset(&zero, 0, sizeof(zero));
    CHECK(memcmp(&c, &zero, sizeof(c)) == 0);
    tun_config_free(&c);
    CHECK_EQ_INT(tun_parse(&c, 6, ok, NULL, NULL, err, sizeof(err)), TUN_OK);
    CHECK_EQ_INT(c.pythonpath_count, 2);
    tun_config_free(&c);

    /* argc of 0 (no argv[0]) is only a missing application */
    CHECK_EQ_INT(tun_parse(&c, 0, argv, ENV("UWSGI_FAST_APP=x:y"), NULL, err, sizeof(err)),
                 TUN_OK);
    CHECK_EQ_STR(c.app, "x:y");
    tun_config_free(&c);
}


/* ---- config files, UWSGI_FAST_CMD_ARGS, refused settings, --print-config ---------------- */

static void write_file(const char *path, const char *text)
{
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

static void remove_tree(const char *dir) { nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS); }

/* The test's own environment without anything the parser would read as a setting, for
 * the tests that run Python (which needs PATH, HOME and pyenv's variables). */
static char **clean_environ(const char *extra)
{
    extern char **environ;
    static char *env[512];
    size_t n = 0;
    for (char **e = environ; *e && n + 2 < UF_ARRAY_LEN(env); e++) {
        if (strncmp(*e, "UWSGI_FAST_", 11) == 0 || strncmp(*e, "WEB_CONCURRENCY=", 16) == 0 ||
            strncmp(*e, "PORT=", 5) == 0 || strncmp(*e, "VIRTUAL_ENV=", 12) == 0 ||
            strncmp(*e, "GUNICORN_CMD_ARGS=", 18) == 0 || strncmp(*e, "FORWARDED_ALLOW_IPS=", 20) == 0)
            continue;
        env[n++] = *e;
    }
    if (extra)
        env[n++] = (char *)extra;
    env[n] = NULL;
    return env;
}

static const tun_source_t *source_named(const char *name)
{
    return &cfg.sources->s[setting_named(name) - tun_settings];
}

/* The line of out_text that starts with `prefix`, copied into line. */
static bool output_line(const char *prefix, char *line, size_t n)
{
    size_t pl = strlen(prefix);
    for (const char *p = out_text; p && *p;) {
        size_t len = strcspn(p, "\n");
        if (len >= pl && memcmp(p, prefix, pl) == 0) {
            snprintf(line, n, "%.*s", (int)len, p);
            return true;
        }
        p += len + (p[len] == '\n');
    }
    line[0] = 0;
    return false;
}

#define EXPECT_LINE(prefix, want)                                                            \
    do {                                                                                     \
        char line_[512];                                                                     \
        output_line(prefix, line_, sizeof(line_));                                           \
        CHECK_EQ_STR(line_, want);                                                           \
    } while (0)

static void test_cmd_args(void)
{
    tun_parse_state_t ps = {.err = err, .errlen = sizeof(err)};
    CHECK_EQ_INT(tun_split_words(&ps, "  a 'b c'  \"d \\\"e\\\" \\\\ \\n\" f\\ g h\\\\i '' j\"k\"l "), 0);
    const char *want[] = {"a", "b c", "d \"e\" \\ \\n", "f g", "h\\i", "", "jkl"};
    CHECK_EQ_INT(ps.nwords, UF_ARRAY_LEN(want));
    for (size_t i = 0; i < ps.nwords && i < UF_ARRAY_LEN(want); i++)
        CHECK_EQ_STR(ps.words[i], want[i]);
    for (size_t i = 0; i < ps.nwords; i++)
        uf_free(ps.words[i]);
    uf_free(ps.words);

    char **env = ENV("UWSGI_FAST_CMD_ARGS=-w 3 --backlog=7 --log-level 'debug' -b \"127.0.0.1:9\"",
                     "UWSGI_FAST_WORKERS=5", "UWSGI_FAST_BACKLOG=6");
    EXPECT_OK_ENV(env, "a:b");
    CHECK_EQ_INT(cfg.workers, 3); /* UWSGI_FAST_CMD_ARGS over UWSGI_FAST_WORKERS */
    CHECK_EQ_INT(cfg.backlog, 7);
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_DEBUG);
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 9));
    CHECK_EQ_INT(source_named("workers")->layer, TUN_L_CMD_ARGS);
    CHECK_EQ_INT(source_named("ring_entries")->layer, TUN_L_DEFAULT);
    EXPECT_OK_ENV(env, "-w", "9", "a:b");
    CHECK_EQ_INT(cfg.workers, 9); /* the command line over UWSGI_FAST_CMD_ARGS */
    CHECK_EQ_INT(cfg.backlog, 7);
    CHECK_EQ_INT(source_named("workers")->layer, TUN_L_CLI);

    /* lists are replaced whole by a higher layer, extended within one */
    char **benv = ENV("UWSGI_FAST_CMD_ARGS=-b 127.0.0.1:1 -b 127.0.0.1:2",
                      "UWSGI_FAST_BIND=127.0.0.1:4");
    EXPECT_OK_ENV(benv, "a:b");
    CHECK_EQ_INT(cfg.bind_count, 2);
    EXPECT_OK_ENV(benv, "-b", "127.0.0.1:3", "a:b");
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 3));

    /* the application may come from it too; an empty one is no layer at all */
    EXPECT_OK_ENV(ENV("UWSGI_FAST_CMD_ARGS=cmd:app"), "-w", "1");
    CHECK_EQ_STR(cfg.app, "cmd:app");
    EXPECT_OK_ENV(ENV("UWSGI_FAST_CMD_ARGS=cmd:app"), "-w", "1", "cli:app");
    CHECK_EQ_STR(cfg.app, "cli:app");
    EXPECT_OK_ENV(ENV("UWSGI_FAST_CMD_ARGS=", "UWSGI_FAST_WORKERS=4"), "a:b");
    CHECK_EQ_INT(cfg.workers, 4);

    /* a bad value the command line overrides is never looked at */
    EXPECT_OK_ENV(ENV("UWSGI_FAST_CMD_ARGS=-w abc"), "-w", "2", "a:b");
    CHECK_EQ_INT(cfg.workers, 2);

    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=-w abc"),
                   "UWSGI_FAST_CMD_ARGS (--workers): \"abc\" is not a whole number (accepted: 1 "
                   "to 4096, or auto)",
                   "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=--wokers 3"),
                   "UWSGI_FAST_CMD_ARGS: unknown option --wokers; did you mean --workers?", "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=-x"),
                   "UWSGI_FAST_CMD_ARGS: unknown option -x (see --help)", "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=-w"),
                   "UWSGI_FAST_CMD_ARGS: --workers needs a value (accepted: 1 to 4096, or auto)",
                   "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=--help"),
                   "UWSGI_FAST_CMD_ARGS: --help is only accepted on the command line", "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=--print-config"),
                   "UWSGI_FAST_CMD_ARGS: --print-config is only accepted on the command line",
                   "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=-v"),
                   "UWSGI_FAST_CMD_ARGS: -v is only accepted on the command line", "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=-w \"3"),
                   "UWSGI_FAST_CMD_ARGS: a quote is not closed in \"-w \"3\"", "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=x:y z:w"),
                   "UWSGI_FAST_CMD_ARGS: unexpected argument \"z:w\": the application is already "
                   "\"x:y\"",
                   "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=-k gevent"),
                   "UWSGI_FAST_CMD_ARGS: -k/--worker-class is not supported yet (planned): workers are io_uring "
                   "event loops calling the WSGI application; ASGI is planned; remove it or set "
                   "it to sync",
                   "a:b");

    /* gunicorn's variable is not read, and says so */
    EXPECT_OK_ENV(ENV("GUNICORN_CMD_ARGS=--workers 3"), "a:b");
    CHECK_EQ_INT(cfg.warning_count, 1);
    if (cfg.warning_count == 1)
        CHECK_EQ_STR(cfg.warnings[0], "GUNICORN_CMD_ARGS is set but not read; put those flags in "
                                      "UWSGI_FAST_CMD_ARGS");
    EXPECT_OK_ENV(ENV("GUNICORN_CMD_ARGS=--workers 3", "UWSGI_FAST_CMD_ARGS=-w 3"), "a:b");
    CHECK_EQ_INT(cfg.warning_count, 0);
}

static void test_refused(void)
{
    /* every refused flag stops the parse with its reason, unless it is a no-op */
    for (size_t i = 0; i < TUN_N_REFUSED; i++) {
        const tun_refusal_t *r = &tun_refused[i];
        if (!r->long_flag)
            continue;
        char flag[96], name[96], msg[512], tail[160] = "";
        snprintf(flag, sizeof(flag), "--%s", r->long_flag);
        refusal_name(r, true, name, sizeof(name));
        if (r->harmless && strcmp(r->harmless, "false") != 0)
            snprintf(tail, sizeof(tail), " or set it to %.*s", (int)strcspn(r->harmless, "|"),
                     r->harmless);
        if (r->kind == TUN_R_PLANNED)
            snprintf(msg, sizeof(msg), "%s is not supported yet (planned): %s; remove it%s", name,
                     r->reason, tail);
        else
            snprintf(msg, sizeof(msg), "%s is not supported: %s; remove it%s", name, r->reason,
                     tail);
        int rc = r->arg ? parse(NULL, flag, "zzz", "a:b", NULL) : parse(NULL, flag, "a:b", NULL);
        if (r->kind == TUN_R_NOOP || (!r->arg && harmless(r, "true"))) {
            /* a no-op; or a switch whose default is on (--suppress-ragged-eofs): the bare
             * flag asks for what gunicorn does anyway */
            CHECK_EQ_INT(rc, TUN_OK);
            CHECK_EQ_STR(cfg.app, "a:b"); /* a value it takes was taken, not the application */
            CHECK_EQ_INT(cfg.sources->note_count, r->kind == TUN_R_NOOP);
        } else {
            CHECK_EQ_INT(rc, TUN_ERROR);
            CHECK_EQ_STR(err, msg);
        }
        /* each harmless value asks for nothing and is accepted, in any case */
        for (const char *p = r->harmless; p && *p;) {
            size_t len = strcspn(p, "|");
            char arg[256];
            snprintf(arg, sizeof(arg), "%s=%.*s", flag, (int)len, p);
            for (char *c = arg + strlen(flag); *c; c++)
                *c = (char)toupper((unsigned char)*c);
            rc = parse(NULL, arg, "a:b", NULL);
            if (rc != TUN_OK)
                fprintf(stderr, "    %s: %s\n", arg, err);
            CHECK_EQ_INT(rc, TUN_OK);
            p += len + (p[len] == '|');
        }
    }

    EXPECT_ERR("-k/--worker-class is not supported yet (planned): workers are io_uring event loops "
               "calling the WSGI application; ASGI is planned; remove it or set it to sync",
               "--worker-class", "gevent", "a:b");
    EXPECT_ERR("-k/--worker-class is not supported yet (planned): workers are io_uring event loops "
               "calling the WSGI application; ASGI is planned; remove it or set it to sync",
               "a:b", "--worker-class"); /* no value at all */
    EXPECT_OK("--worker-class", "gthread", "--threads", "4", "a:b");
    CHECK_EQ_INT(cfg.threads, 4);
    EXPECT_ERR("--threads: \"0\" is out of range (accepted: 1 to 256)", "--threads",
               "0", "a:b");
    EXPECT_OK("--threads", "1", "--threads=1", "a:b");
    EXPECT_ERR("-k/--worker-class is not supported yet (planned): workers are io_uring event loops "
               "calling the WSGI application; ASGI is planned; remove it or set it to sync",
               "-k", "gevent", "a:b");
    EXPECT_ERR("-k/--worker-class is not supported yet (planned): workers are io_uring event loops "
               "calling the WSGI application; ASGI is planned; remove it or set it to sync",
               "-keventlet", "a:b");
    EXPECT_OK("-k", "sync", "-ksync", "--worker-class=gunicorn.workers.sync.SyncWorker", "a:b");
    EXPECT_ERR("-D/--daemon is not supported: run in the foreground under systemd, a container "
               "runtime or supervisord; remove it",
               "-D", "a:b");
    EXPECT_OK("--daemon=false", "a:b");
    EXPECT_ERR("--certfile is not supported: terminate TLS in a proxy in front of uwsgi-fast "
               "(nginx, haproxy, a load balancer); remove it",
               "--certfile", "/etc/cert.pem", "a:b");
    EXPECT_ERR("-u/--user is not supported yet (planned): start uwsgi-fast as the user it should "
               "run as (systemd User=, docker --user); remove it",
               "-u", "www-data", "a:b");
    EXPECT_ERR("--paste is not supported: PasteDeploy is not read; name the WSGI callable as "
               "MODULE:CALLABLE; remove it",
               "--paster", "x.ini", "a:b"); /* named by its main flag */
    EXPECT_OK("--suppress-ragged-eofs", "a:b"); /* gunicorn's default is on */
    EXPECT_ERR("--suppress-ragged-eofs is not supported: terminate TLS in a proxy in front of "
               "uwsgi-fast (nginx, haproxy, a load balancer); remove it or set it to true",
               "--suppress-ragged-eofs=off", "a:b");
    /* refused flags are refused in argument order, before any value is interpreted */
    EXPECT_ERR("--dogstatsd-tags is not supported yet (planned): DogStatsD tags are not sent; "
               "statsd metrics go out untagged; remove it",
               "--dogstatsd-tags", "env:prod", "-w", "abc", "a:b");

    /* the no-ops: accepted, noted for --print-config, their values consumed */
    EXPECT_OK("--reuse-port", "--worker-tmp-dir", "/dev/shm", "--no-sendfile", "a:b");
    CHECK_EQ_STR(cfg.app, "a:b");
    CHECK_EQ_INT(cfg.sources->note_count, 3);
    if (cfg.sources->note_count == 3)
        CHECK_EQ_STR(cfg.sources->notes[0], "--reuse-port (command line): accepted, no effect: "
                                            "every worker always has its own SO_REUSEPORT "
                                            "listener");
    CHECK_EQ_INT(cfg.warning_count, 0);
}

static void test_config_toml(void)
{
    write_file("t1.toml", "# a native config\n"
                          "wsgi_app = \"file:app\"\n"
                          "workers = 3\n"
                          "backlog = 100\n"
                          "\n"
                          "[logging]\n"
                          "loglevel = \"debug\"   # any table, any order\n"
                          "[socket]\n"
                          "bind = [\"127.0.0.1:5001\",\n"
                          "        \"127.0.0.1:5002\",  # two\n"
                          "]\n"
                          "pythonpath = 'x,y'\n"
                          "timeout = 2.5\n"
                          "limit_request_body = 0\n"
                          "max_requests = 1_000\n"
                          "zerocopy_threshold = 32768\n");
    EXPECT_OK("-c", "t1.toml");
    CHECK_EQ_STR(cfg.config, "t1.toml");
    CHECK_EQ_STR(cfg.app, "file:app");
    CHECK_EQ_INT(cfg.workers, 3);
    CHECK_EQ_INT(cfg.backlog, 100);
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_DEBUG);
    CHECK_EQ_INT(cfg.bind_count, 2);
    if (cfg.bind_count == 2)
        CHECK(is_v4(&cfg.binds[1], "127.0.0.1", 5002));
    CHECK_EQ_INT(cfg.pythonpath_count, 2);
    CHECK(cfg.timeout == 2.5);
    CHECK_EQ_INT(cfg.limit_request_body, 0);
    CHECK_EQ_INT(cfg.max_requests, 1000);
    CHECK_EQ_INT(cfg.warning_count, 0); /* a pending setting at its default: no warning */
    CHECK_EQ_INT(source_named("workers")->layer, TUN_L_FILE);
    CHECK_EQ_STR(source_named("workers")->where, "t1.toml:3");
    CHECK_EQ_STR(source_named("binds")->where, "t1.toml:9");
    CHECK_EQ_INT(source_named("ring_entries")->layer, TUN_L_DEFAULT);
    CHECK_EQ_INT(source_named("config")->layer, TUN_L_CLI);
    EXPECT_OK("--config=file:t1.toml"); /* gunicorn's file: prefix */
    CHECK_EQ_STR(cfg.config, "t1.toml");

    /* precedence: environment over file over gunicorn's conventions over default */
    EXPECT_OK_ENV(ENV("UWSGI_FAST_WORKERS=5", "WEB_CONCURRENCY=9", "PORT=7000"), "-c", "t1.toml",
                  "--backlog", "200");
    CHECK_EQ_INT(cfg.workers, 5);
    CHECK_EQ_INT(cfg.backlog, 200);
    CHECK_EQ_INT(cfg.bind_count, 2); /* the file's binds, not $PORT */
    CHECK_EQ_STR(source_named("workers")->where, "UWSGI_FAST_WORKERS");
    write_file("t2.toml", "wsgi_app = \"x:y\"\nring_entries = 64\n");
    EXPECT_OK_ENV(ENV("WEB_CONCURRENCY=9", "PORT=7000"), "-c", "t2.toml");
    CHECK_EQ_INT(cfg.workers, 9);
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "0.0.0.0", 7000));
    CHECK_EQ_INT(cfg.ring_entries, 64);
    CHECK_EQ_INT(source_named("workers")->layer, TUN_L_COMPAT);

    /* which file: UWSGI_FAST_CONFIG, overridden by -c, and -c "" for none */
    EXPECT_OK_ENV(ENV("UWSGI_FAST_CONFIG=t2.toml"), "-w", "1");
    CHECK_EQ_STR(cfg.config, "t2.toml");
    CHECK_EQ_STR(source_named("config")->where, "UWSGI_FAST_CONFIG");
    EXPECT_OK_ENV(ENV("UWSGI_FAST_CONFIG=t2.toml"), "-c", "t1.toml");
    CHECK_EQ_STR(cfg.config, "t1.toml");
    EXPECT_OK_ENV(ENV("UWSGI_FAST_CONFIG=t2.toml"), "-c", "", "a:b");
    CHECK(cfg.config == NULL);
    CHECK_EQ_INT(cfg.ring_entries, 1024);
    EXPECT_OK_ENV(ENV("UWSGI_FAST_CMD_ARGS=-c t2.toml"), "-w", "1");
    CHECK_EQ_STR(cfg.config, "t2.toml");

    /* a bad value in the file that a higher layer overrides is never looked at */
    write_file("bad.toml", "workers = \"many\"\n");
    EXPECT_OK("-c", "bad.toml", "-w", "2", "a:b");

    static const struct {
        const char *text, *err;
    } bad[] = {
        {"workers = 3\nworkers = 4\n", "bad.toml:2: workers is already defined on line 1"},
        {"workers = 3\n[x]\nworkers = 4\n", "bad.toml:3: workers is already set on line 1"},
        {"wrokers = 3\n", "bad.toml:1: wrokers is not a setting; did you mean workers?"},
        {"frobnicate = 3\n",
         "bad.toml:1: frobnicate is not a setting (see docs/settings.md for the keys)"},
        {"on_starting = \"x\"\n",
         "bad.toml:1: on_starting is not a setting (see docs/settings.md for the keys)"},
        {"workers = \"many\"\n", "bad.toml:1: workers (--workers): \"many\" is not a whole number "
                                 "(accepted: 1 to 4096, or auto)"},
        {"workers = 2.5\n", "bad.toml:1: workers (--workers): \"2.5\" is not a whole number "
                            "(accepted: 1 to 4096, or auto)"},
        {"timeout = inf\n",
         "bad.toml:1: timeout (--timeout): \"inf\" is not a number (accepted: 0 to 86400)"},
        {"timeout = [\"1\"]\n",
         "bad.toml:1: timeout (--timeout): a list is not accepted (accepted: 0 to 86400)"},
        {"cpu_pin = \"sometimes\"\n",
         "bad.toml:1: cpu_pin (--cpu-pin): \"sometimes\" is not true or false (accepted: true, "
         "false, yes, no, on, off, 1, 0)"},
        {"chdir = \"/nonexistent/uf\"\n",
         "bad.toml:1: chdir (--chdir): \"/nonexistent/uf\" does not exist (accepted: an existing "
         "directory)"},
        {"bind = []\n", "bad.toml:1: bind (--bind): \"[]\" is not an address" BIND_ACCEPTED},
        {"worker_class = \"gevent\"\n",
         "bad.toml:1: worker_class is not supported yet (planned): workers are io_uring event "
         "loops calling the WSGI application; ASGI is planned; remove it or set it to sync"},
        {"daemon = true\n", "bad.toml:1: daemon is not supported: run in the foreground under "
                            "systemd, a container runtime or supervisord; remove it"},
        {"logconfig_dict = \"x\"\n",
         "bad.toml:1: logconfig_dict is not supported: the error log is written by the C core, "
         "not by Python's logging; use --error-logfile and --log-level; remove it"},
        {"config = \"x.toml\"\n", "bad.toml:1: config cannot be set inside a config file; give "
                                  "it with -c or UWSGI_FAST_CONFIG"},
        {"workers = 3 junk\n", "bad.toml:1: unexpected text after the value"},
        {"workers = 3\nbacklog\n", "bad.toml:2: expected = after the key backlog"},
    };
    for (size_t i = 0; i < UF_ARRAY_LEN(bad); i++) {
        write_file("bad.toml", bad[i].text);
        EXPECT_ERR(bad[i].err, "-c", "bad.toml", "a:b");
    }

    write_file("bad.toml", "wsgi_app = \"\"\n");
    EXPECT_ERR("bad.toml:1: wsgi_app (application (MODULE:CALLABLE)): \"\" is empty (accepted: "
               "MODULE:CALLABLE)",
               "-c", "bad.toml");
    write_file("bad.toml", "zerocopy_threshold = 0\n");
    EXPECT_OK("-c", "bad.toml", "a:b");
    CHECK_EQ_INT(cfg.zerocopy_threshold, 0);
    CHECK_EQ_INT(cfg.warning_count, 0);

    /* gunicorn's harmless values and no-ops are accepted in a file too */
    write_file("ok.toml", "threads = 1\nworker_class = \"sync\"\ndaemon = false\n"
                          "reuse_port = true\nproxy_protocol = \"off\"\nreload_extra_files = []\n"
                          "forwarder_headers = [\"SCRIPT_NAME\", \"PATH_INFO\"]\n");
    EXPECT_OK("-c", "ok.toml", "a:b");
    CHECK_EQ_INT(cfg.sources->note_count, 1);
    if (cfg.sources->note_count == 1)
        CHECK_EQ_STR(cfg.sources->notes[0], "reuse_port (ok.toml): accepted, no effect: every "
                                            "worker always has its own SO_REUSEPORT listener");

    /* the file itself */
    EXPECT_ERR("--config: \"missing.toml\" does not exist (accepted: a .toml file or a gunicorn "
               ".py config file)",
               "-c", "missing.toml", "a:b");
    char msg[512];
    snprintf(msg, sizeof(msg), "--config: \"%s\" is not a file (accepted: a .toml file or a "
                               "gunicorn .py config file)", tmpdir);
    EXPECT_ERR(msg, "-c", tmpdir, "a:b");
    EXPECT_ERR("--config: \"python:myconf\" names a Python module; give the path of its file "
               "instead (accepted: a .toml file or a gunicorn .py config file)",
               "-c", "python:myconf", "a:b");
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CONFIG=missing.toml"),
                   "UWSGI_FAST_CONFIG (--config): \"missing.toml\" does not exist (accepted: a "
                   ".toml file or a gunicorn .py config file)",
                   "a:b");
    EXPECT_ERR("--config needs a value (accepted: a .toml file or a gunicorn .py config file)",
               "a:b", "-c");

    /* the default file in the working directory */
    write_file("uwsgi-fast.toml", "workers = 7\n");
    EXPECT_OK("a:b");
    CHECK_EQ_INT(cfg.workers, 7);
    CHECK_EQ_STR(cfg.config, "uwsgi-fast.toml");
    CHECK_EQ_STR(source_named("config")->where, "found in the working directory");
    CHECK_EQ_INT(source_named("config")->layer, TUN_L_DEFAULT);
    EXPECT_OK("-c", "", "a:b"); /* opted out */
    CHECK(cfg.config == NULL && cfg.workers != 7);
    write_file("gunicorn.conf.py", "workers = 6\n");
    EXPECT_ERR("both ./uwsgi-fast.toml and ./gunicorn.conf.py exist; choose one with -c FILE (or "
               "-c \"\" for neither)",
               "a:b");
    EXPECT_OK("-c", "uwsgi-fast.toml", "a:b");
    CHECK_EQ_INT(cfg.workers, 7);
    unlink("uwsgi-fast.toml");
    unlink("gunicorn.conf.py");
}

static void test_config_py(void)
{
    char **env = clean_environ(NULL);
    write_file("gunicorn.conf.py",
               "import multiprocessing, os\n"
               "bind = '127.0.0.1:6001'\n"
               "workers = 2 * 2\n"
               "threads = 1\n"
               "worker_class = 'sync'\n"
               "preload_app = False\n"
               "keepalive = 7.5\n"
               "loglevel = 'WARNING'\n"
               "raw_env = ['A=1,2', 'B=' + os.path.basename(__file__)]\n"
               "secure_scheme_headers = {'X-PROTO': 'https'}\n"
               "accesslog = None\n"
               "logconfig_dict = {}\n"
               "wsgi_app = 'conf.app:application'\n"
               "timeout = 0\n"
               "pythonpath = ('a', 'b')\n"
               "reuse_port = True\n"
               "_private = 3\n"
               "worker = 9\n"
               "answer = 42\n"
               "print('config prints go to stderr, not into the settings')\n"
               "def on_starting(server):\n    pass\n"
               "def post_fork(server, worker):\n    pass\n"
               "def helper():\n    pass\n"
               "class Thing:\n    pass\n");
    /* read by default from the working directory, as gunicorn does */
    int saved = dup(STDERR_FILENO), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDERR_FILENO); /* the config's print() */
    int rc = parse(env, "-w", "1", "--keep-alive", "1", NULL);
    dup2(saved, STDERR_FILENO);
    CHECK_EQ_INT(rc, TUN_OK);
    if (rc != TUN_OK)
        fprintf(stderr, "    error was: %s\n", err);
    CHECK_EQ_STR(cfg.config, "gunicorn.conf.py");
    CHECK(cfg.bind_count == 1 && is_v4(&cfg.binds[0], "127.0.0.1", 6001));
    CHECK_EQ_INT(cfg.workers, 1);  /* the command line wins */
    CHECK(cfg.keepalive == 1.0);
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_WARNING);
    CHECK_EQ_STR(cfg.app, "conf.app:application");
    CHECK(cfg.timeout == 0.0);
    CHECK_EQ_INT(cfg.raw_env_count, 2);
    if (cfg.raw_env_count == 2) {
        CHECK_EQ_STR(cfg.raw_env[0], "A=1,2");
        CHECK_EQ_STR(cfg.raw_env[1], "B=gunicorn.conf.py");
    }
    CHECK_EQ_STR(cfg.secure_scheme_headers, "X-PROTO=https");
    CHECK_EQ_INT(cfg.pythonpath_count, 2);
    CHECK_EQ_STR(source_named("binds")->where, "gunicorn.conf.py"); /* no line for .py */
    CHECK_EQ_INT(cfg.warning_count, 3);
    if (cfg.warning_count == 3) {
        CHECK_EQ_STR(cfg.warnings[0], "gunicorn.conf.py: worker is not a setting and is ignored; "
                                      "did you mean workers?");
        CHECK_EQ_STR(cfg.warnings[1], "gunicorn.conf.py: the server hook on_starting is not "
                                      "supported yet; it will not be called");
        CHECK_EQ_STR(cfg.warnings[2], "gunicorn.conf.py: the server hook post_fork is not "
                                      "supported yet; it will not be called");
    }
    CHECK_EQ_INT(cfg.sources->note_count, 1); /* reuse_port */
    unlink("gunicorn.conf.py");

    static const struct {
        const char *text, *err;
    } bad[] = {
        {"worker_class = 'gevent'\n",
         "bad.py: worker_class is not supported yet (planned): workers are io_uring event loops "
         "calling the WSGI application; ASGI is planned; remove it or set it to sync"},
        {"dogstatsd_tags = 'env:prod'\n",
         "bad.py: dogstatsd_tags is not supported yet (planned): DogStatsD tags are not sent; "
         "statsd metrics go out untagged; remove it"},
        {"workers = 'x'\n", "bad.py: workers (--workers): \"x\" is not a whole number (accepted: "
                            "1 to 4096, or auto)"},
        {"bind = {'127.0.0.1:1'}\n",
         "bad.py: bind (--bind): a value of type set is not accepted (accepted: HOST:PORT, "
         "[IPV6]:PORT, HOST (port 8000) or :PORT (all IPv4 interfaces), with a port from 1 to "
         "65535)"},
        {"workers = lambda: 3\n", "bad.py: workers (--workers): a value of type function is not "
                                  "accepted (accepted: 1 to 4096, or auto)"},
        {"timeout = float('nan')\n",
         "bad.py: timeout (--timeout): \"nan\" is not a number (accepted: 0 to 86400)"},
        {"raise RuntimeError('boom')\n",
         "the gunicorn config bad.py raised an exception (traceback above)"},
        {"import sys\nsys.exit(0)\n",
         "the gunicorn config bad.py raised an exception (traceback above)"},
        {"workers = (\n", "the gunicorn config bad.py raised an exception (traceback above)"},
        {"wsgi_app = 'x\\0y'\n", "bad.py: a value could not be carried over (line 1: \\u0000 "
                                 "escapes a NUL character, which no setting accepts)"},
    };
    for (size_t i = 0; i < UF_ARRAY_LEN(bad); i++) {
        write_file("bad.py", bad[i].text);
        dup2(devnull, STDERR_FILENO); /* tracebacks */
        int rc = parse(env, "-c", "bad.py", "a:b", NULL);
        dup2(saved, STDERR_FILENO);
        CHECK_EQ_INT(rc, TUN_ERROR);
        CHECK_EQ_STR(err, bad[i].err);
        CHECK(cfg.app == NULL && cfg.sources == NULL);
    }
    /* any name but .toml is Python, as gunicorn reads any name */
    write_file("myconf", "workers = 5\n");
    EXPECT_OK_ENV(env, "-c", "myconf", "a:b");
    CHECK_EQ_INT(cfg.workers, 5);

    /* the interpreter: a missing one is named */
    buf_t text = {0};
    CHECK_EQ_INT(tun_pyconfig_read("/nonexistent/python3", "myconf", env, &text, err,
                                   sizeof(err)), -1);
    CHECK_EQ_STR(err, "cannot run /nonexistent/python3 to read the gunicorn config myconf: No "
                      "such file or directory");
    buf_free(&text);
    /* a virtualenv's python is preferred, one given by a layer above the file */
    char venv[PATH_MAX + 16], bin[PATH_MAX + 32], envvar[PATH_MAX + 64];
    snprintf(venv, sizeof(venv), "%s/venv", tmpdir_real);
    snprintf(bin, sizeof(bin), "%s/bin", venv);
    mkdir(venv, 0700);
    mkdir(bin, 0700);
    snprintf(bin, sizeof(bin), "%s/bin/python3", venv);
    write_file(bin, "#!/bin/sh\necho 'workers = 11'\n");
    chmod(bin, 0700);
    snprintf(envvar, sizeof(envvar), "VIRTUAL_ENV=%s", venv);
    EXPECT_OK_ENV(clean_environ(envvar), "-c", "myconf", "a:b");
    CHECK_EQ_INT(cfg.workers, 11);
    EXPECT_OK_ENV(env, "--virtualenv", venv, "-c", "myconf", "a:b");
    CHECK_EQ_INT(cfg.workers, 11);
    close(devnull);
    close(saved);
    unlink("myconf");
    unlink("bad.py");
}

static void test_workers_auto(void)
{
    int cpus = tun_usable_cpus();
    EXPECT_OK("-w", "auto", "a:b");
    CHECK(cfg.workers_auto);
    CHECK_EQ_INT(cfg.workers, cpus);
    EXPECT_OK("--workers=AUTO", "a:b");
    CHECK(cfg.workers_auto);
    EXPECT_OK_ENV(ENV("UWSGI_FAST_WORKERS=auto"), "a:b");
    CHECK(cfg.workers_auto);
    EXPECT_OK_ENV(ENV("WEB_CONCURRENCY=auto"), "a:b");
    CHECK(cfg.workers_auto);
    EXPECT_OK("-w", "auto", "-w", "3", "a:b"); /* the last one wins, auto included */
    CHECK(!cfg.workers_auto);
    CHECK_EQ_INT(cfg.workers, 3);
    EXPECT_ERR("--workers: \"automatic\" is not a whole number (accepted: 1 to 4096, or auto)",
               "-w", "automatic", "a:b");
    CHECK(!tun_from_default(&cfg, "workers"));
    EXPECT_OK("a:b");
    CHECK(tun_from_default(&cfg, "workers"));
    CHECK(!tun_from_default(&cfg, "no_such_setting"));
}

static void test_other_settings(void)
{
    EXPECT_OK("--forwarded-allow-ips", "*", "a:b");
    CHECK_EQ_STR(cfg.forwarded_allow_ips, "*");
    EXPECT_OK("--forwarded-allow-ips", "10.0.0.0/8, ::1,192.168.1.1/32,fd00::/8", "a:b");
    EXPECT_OK("--forwarded-allow-ips", "", "a:b");
    CHECK(cfg.forwarded_allow_ips == NULL);
    EXPECT_OK_ENV(ENV("FORWARDED_ALLOW_IPS=10.1.1.1"), "a:b"); /* gunicorn reads it too */
    CHECK_EQ_STR(cfg.forwarded_allow_ips, "10.1.1.1");
    const char *ip_acc = " (accepted: *, or IP addresses and networks (ADDRESS/BITS), comma "
                         "separated)";
    const char *bad_ips[] = {"10.0.0.0/33", "::1/129", "10.0.0.0/", "example.com", "10.0.0.0/8x",
                             "1.2.3"};
    for (size_t i = 0; i < UF_ARRAY_LEN(bad_ips); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), "--forwarded-allow-ips: \"%s\" has an item that is not *, an "
                                   "address or a network%s", bad_ips[i], ip_acc);
        EXPECT_ERR(msg, "--forwarded-allow-ips", (char *)bad_ips[i], "a:b");
    }
    EXPECT_OK("--secure-scheme-headers", "X-Proto=https, X-Ssl=on", "a:b");
    CHECK_EQ_STR(cfg.secure_scheme_headers, "X-Proto=https, X-Ssl=on");
    EXPECT_ERR("--secure-scheme-headers: \"X-Proto\" has an item that is not HEADER=VALUE "
               "(accepted: HEADER=VALUE pairs, comma separated)",
               "--secure-scheme-headers", "X-Proto", "a:b");
    EXPECT_ERR("--secure-scheme-headers: \"=https\" has an item that is not HEADER=VALUE "
               "(accepted: HEADER=VALUE pairs, comma separated)",
               "--secure-scheme-headers", "=https", "a:b");
    EXPECT_OK("--root-path", "/api", "--tmp-upload-dir", tmpdir, "a:b");
    CHECK_EQ_STR(cfg.root_path, "/api");
    CHECK_EQ_STR(cfg.tmp_upload_dir, tmpdir_real);
    EXPECT_ERR("--tmp-upload-dir: \"/nonexistent/uf\" does not exist (accepted: an existing "
               "directory)",
               "--tmp-upload-dir", "/nonexistent/uf", "a:b");

    /* -e keeps commas: an environment value is one element */
    EXPECT_OK("-e", "A=1,2", "--env", "B=", "-eC=3", "a:b");
    CHECK_EQ_INT(cfg.raw_env_count, 3);
    if (cfg.raw_env_count == 3) {
        CHECK_EQ_STR(cfg.raw_env[0], "A=1,2");
        CHECK_EQ_STR(cfg.raw_env[1], "B=");
        CHECK_EQ_STR(cfg.raw_env[2], "C=3");
    }
    EXPECT_OK_ENV(ENV("UWSGI_FAST_ENV=D=4,5"), "a:b");
    CHECK(cfg.raw_env_count == 1 && strcmp(cfg.raw_env[0], "D=4,5") == 0);
    EXPECT_ERR("--env: \"A\" is not NAME=VALUE (accepted: NAME=VALUE, one per flag)", "-e", "A",
               "a:b");
    EXPECT_ERR("--env: \"=1\" is not NAME=VALUE (accepted: NAME=VALUE, one per flag)", "-e", "=1",
               "a:b");

    /* 0 forces zero-copy; it is a real setting now, so no warning */
    EXPECT_OK("--zerocopy-threshold", "0", "a:b");
    CHECK_EQ_INT(cfg.zerocopy_threshold, 0);
    CHECK_EQ_INT(cfg.warning_count, 0);
    EXPECT_OK("--limit-request-body", "9007199254740992", "-p", "run/uf.pid", "a:b");
    CHECK_EQ_INT(cfg.limit_request_body, 9007199254740992LL);
    CHECK_EQ_STR(cfg.pidfile, "run/uf.pid"); /* as given */
    EXPECT_OK("-t", "0", "--max-worker-lifetime", "3600", "--reload-on-rss", "512",
              "--memory-reserve", "0", "--max-requests", "1000", "--max-requests-jitter", "50",
              "--header-timeout", "0.5", "--body-timeout", "0", "a:b");
    CHECK(cfg.timeout == 0 && cfg.max_worker_lifetime == 3600 && cfg.header_timeout == 0.5 &&
          cfg.body_timeout == 0);
    CHECK(cfg.reload_on_rss == 512 && cfg.memory_reserve_mb == 0 && cfg.max_requests == 1000 &&
          cfg.max_requests_jitter == 50);
}

static void test_print_check_config(void)
{
    write_file("p.toml", "backlog = 77\n");
    CHECK_EQ_INT(parse(ENV("UWSGI_FAST_TIMEOUT=9", "UWSGI_FAST_CMD_ARGS=--max-requests 5"),
                       "-c", "p.toml", "-w", "3", "--print-config", "--reuse-port", "--cpu-pin",
                       "--zerocopy-threshold=1",
                       "-b", "127.0.0.1:1", "-b", "[::1]:2", "--root-path", "/a \"b\"", NULL),
                 TUN_EXIT);
    CHECK(cfg.app == NULL && cfg.sources == NULL); /* nothing kept */
    CHECK(strncmp(out_text, "# uwsgi-fast " UF_VERSION ": every setting's effective value", 40) ==
          0);
    EXPECT_LINE("workers = ", "workers = 3                                 # command line");
    EXPECT_LINE("backlog = ", "backlog = 77                                # config file "
                              "p.toml:1");
    EXPECT_LINE("timeout = ", "timeout = 9                                 # environment "
                              "UWSGI_FAST_TIMEOUT");
    EXPECT_LINE("max_requests = ", "max_requests = 5                            # "
                                   "UWSGI_FAST_CMD_ARGS");
    EXPECT_LINE("ring_entries = ", "ring_entries = 1024                         # default");
    EXPECT_LINE("bind = ", "bind = [\"127.0.0.1:1\", \"[::1]:2\"]           # command line");
    EXPECT_LINE("root_path = ", "root_path = \"/a \\\"b\\\"\"                      # command line");
    EXPECT_LINE("# config = ", "# config = \"p.toml\"                         # command line");
    EXPECT_LINE("# wsgi_app", "# wsgi_app is not set (required to start)   # default");
    EXPECT_LINE("loglevel = ", "loglevel = \"info\"                           # default");
    EXPECT_LINE("cpu_pin = ", "cpu_pin = true                              # command line");
    EXPECT_LINE("# --reuse-port", "# --reuse-port (command line): accepted, no effect: every "
                                  "worker always has its own SO_REUSEPORT listener");
    EXPECT_LINE("zerocopy_threshold = ", "zerocopy_threshold = 1                      # command line");
    char line[512];
    CHECK(output_line("workers = ", line, sizeof(line)));
    CHECK_EQ_INT(parse(NULL, "-w", "auto", "--print-config", NULL), TUN_EXIT);
    output_line("workers = ", line, sizeof(line));
    char want[256];
    snprintf(want, sizeof(want), "workers = \"auto\"                            # command line; "
                                 "at most %d, fewer if memory is short", tun_usable_cpus());
    CHECK_EQ_STR(line, want);
    CHECK_EQ_INT(parse(NULL, "--print-config", "-w", "abc", NULL), TUN_ERROR); /* validated */

    /* the output is a uwsgi-fast.toml that gives back the same configuration */
    char *argv_full[] = {"uwsgi-fast",
                         "-w", "auto", "-b", "127.0.0.1:1", "--chdir", tmpdir, "--pythonpath",
                         "/p,/q", "-t", "2.25", "--limit-request-body", "123456789012",
                         "--log-level", "error", "--error-logfile", "/tmp/e \"x\".log", "-e",
                         "A=1,2", "--secure-scheme-headers", "", "--cpu-pin", "--numa-pin",
                         "app.mod:create()", NULL};
    int argc_full = (int)UF_ARRAY_LEN(argv_full) - 1;
    tun_config_t a, b;
    char *printed = NULL;
    size_t printed_len = 0;
    CHECK_EQ_INT(tun_parse(&a, argc_full, argv_full, NULL, NULL, err, sizeof(err)), TUN_OK);
    FILE *f = open_memstream(&printed, &printed_len);
    tun_write_config(f, &a);
    fclose(f);
    write_file("roundtrip.toml", printed);
    char *argv_rt[] = {"uwsgi-fast", "-c", "roundtrip.toml", NULL};
    int rc = tun_parse(&b, 3, argv_rt, NULL, NULL, err, sizeof(err));
    CHECK_EQ_INT(rc, TUN_OK);
    if (rc != TUN_OK)
        fprintf(stderr, "    %s\n", err);
    for (size_t i = 0; i < TUN_N_SETTINGS && rc == TUN_OK; i++) {
        buf_t x = {0}, y = {0};
        tun_format_value(&tun_settings[i], &a, &x);
        tun_format_value(&tun_settings[i], &b, &y);
        bool same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
        if (!same && !(tun_settings[i].flags & TUN_F_CONFIG))
            fprintf(stderr, "    %s: %.*s became %.*s\n", tun_settings[i].name, (int)x.len, x.data,
                    (int)y.len, y.data);
        CHECK(same || (tun_settings[i].flags & TUN_F_CONFIG));
        buf_free(&x);
        buf_free(&y);
    }
    tun_config_free(&a);
    tun_config_free(&b);
    free(printed);

    /* --check-config: validates, says so, exits */
    CHECK_EQ_INT(parse(NULL, "--check-config", "a:b", NULL), TUN_EXIT);
    CHECK_EQ_STR(out_text, "uwsgi-fast: the configuration is valid\n");
    CHECK_EQ_INT(parse(NULL, "-c", "p.toml", "--check-config", "--zerocopy-threshold=1", "a:b",
                       NULL),
                 TUN_EXIT);
    CHECK_EQ_STR(out_text, "uwsgi-fast: the configuration is valid; config file: p.toml\n");
    EXPECT_ERR("--backlog: \"0\" is out of range (accepted: 1 to 65535)", "--check-config",
               "--backlog", "0", "a:b");
    EXPECT_ERR("no application given: name it as MODULE:CALLABLE, e.g. uwsgi-fast "
               "myproject.wsgi:application (or set UWSGI_FAST_APP)",
               "--check-config");
    EXPECT_ERR("--check-config takes no value", "--check-config=yes", "a:b");
    /* both: printed, and the application is required */
    EXPECT_ERR("no application given: name it as MODULE:CALLABLE, e.g. uwsgi-fast "
               "myproject.wsgi:application (or set UWSGI_FAST_APP)",
               "--check-config", "--print-config");
    unlink("p.toml");
    unlink("roundtrip.toml");
}

static void test_table_sanity(void)
{
    /* The table's own invariants: unique flags and variables, defaults inside bounds (the
     * defaults test parses each), one positional, help present. */
    int positional = 0;
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        const tun_setting_t *a = &tun_settings[i];
        positional += !a->long_flag;
        CHECK(a->help && a->help[0] && a->metavar && a->metavar[0]);
        CHECK(a->short_flag != 'h' && a->short_flag != 'v');
        for (size_t j = i + 1; j < TUN_N_SETTINGS; j++) {
            const tun_setting_t *b = &tun_settings[j];
            CHECK(strcmp(a->env, b->env) != 0);
            CHECK(!a->short_flag || a->short_flag != b->short_flag);
            if (a->long_flag && b->long_flag)
                CHECK(strcmp(a->long_flag, b->long_flag) != 0);
        }
        if (a->type == TUN_T_INT || a->type == TUN_T_DOUBLE)
            CHECK(a->min <= a->max);
    }
    CHECK_EQ_INT(positional, 1);
    CHECK(setting_named("workers")->reload);
    CHECK(!setting_named("binds")->reload);

    /* config keys are unique, and a refused gunicorn setting clashes with no setting: not
     * its key, not its flags, not a hook */
    int configs = 0;
    for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
        const tun_setting_t *a = &tun_settings[i];
        configs += !!(a->flags & TUN_F_CONFIG);
        CHECK(a->key && a->key[0]);
        for (size_t j = i + 1; j < TUN_N_SETTINGS; j++)
            CHECK(strcmp(a->key, tun_settings[j].key) != 0);
        for (size_t r = 0; r < TUN_N_REFUSED; r++) {
            const tun_refusal_t *f = &tun_refused[r];
            CHECK(strcmp(a->key, f->key) != 0);
            CHECK(!a->short_flag || a->short_flag != f->short_flag);
            if (a->long_flag && f->long_flag)
                CHECK(strcmp(a->long_flag, f->long_flag) != 0);
            if (a->alias && f->long_flag)
                CHECK(strcmp(a->alias, f->long_flag) != 0);
        }
        CHECK(!tun_is_hook(a->key));
        /* a bool default must be a bool word, pending settings must be switchable off */
        if (a->type == TUN_T_BOOL)
            CHECK(a->def && tun_bool_word(a->def) >= 0);
    }
    CHECK_EQ_INT(configs, 1);
    for (size_t r = 0; r < TUN_N_REFUSED; r++) {
        const tun_refusal_t *f = &tun_refused[r];
        CHECK(f->reason && f->reason[0] && !strchr(f->reason, '\n'));
        CHECK(f->short_flag != 'h' && f->short_flag != 'v');
        CHECK(!tun_is_hook(f->key));
        /* a NOOP accepts anything, so a harmless value would say nothing */
        CHECK(f->kind != TUN_R_NOOP || !f->harmless);
        for (size_t q = r + 1; q < TUN_N_REFUSED; q++) {
            CHECK(strcmp(f->key, tun_refused[q].key) != 0);
            CHECK(!f->short_flag || f->short_flag != tun_refused[q].short_flag);
            if (f->long_flag && tun_refused[q].long_flag)
                CHECK(strcmp(f->long_flag, tun_refused[q].long_flag) != 0);
        }
    }
}

int main(void)
{
    const char *root = getenv("UF_SOURCE_ROOT");
    if (!realpath(root ? root : ".", source_root))
        snprintf(source_root, sizeof(source_root), ".");
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/uf-tunables-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (!realpath(tmpdir, tmpdir_real))
        return 1;
    snprintf(tmpfile_path, sizeof(tmpfile_path), "%s/file", tmpdir);
    FILE *f = fopen(tmpfile_path, "w");
    if (f)
        fclose(f);
    snprintf(workdir, sizeof(workdir), "%s/work", tmpdir_real);
    if (mkdir(workdir, 0700) < 0 || chdir(workdir) < 0) {
        perror(workdir);
        return 1;
    }

    test_table_sanity();
    test_defaults();
    test_int_bounds_all_rows();
    test_int_parsing();
    test_double();
    test_strings();
    test_bool();
    test_log_level();
    test_paths();
    test_binds();
    test_env_precedence();
    test_gunicorn_env();
    test_cli_forms();
    test_unknown_flags();
    test_positional();
    test_help_version();
    test_docs_fresh();
    test_errbuf_and_free();
    test_cmd_args();
    test_refused();
    test_config_toml();
    test_config_py();
    test_workers_auto();
    test_other_settings();
    test_print_check_config();

    tun_config_free(&cfg);
    free(out_text);
    if (chdir("/") == 0)
        remove_tree(tmpdir_real);
    return check_done();
}
