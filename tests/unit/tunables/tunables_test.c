/* Unit tests of tunables: defaults, every type's parsing and bounds, listen addresses, the
 * precedence of command line over environment over default (with gunicorn's
 * WEB_CONCURRENCY, PORT and VIRTUAL_ENV), error messages, --help, and that the committed
 * docs/settings.md matches the table. Includes the .c to reach its static helpers. */
#include "tunables/tunables.c"

#include <arpa/inet.h>
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

static const setting_t *setting_named(const char *name)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
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
    int cpus = affinity_cpus();
    CHECK(cpus >= 1);
    CHECK_EQ_INT(cfg.workers, cpus > 4096 ? 4096 : cpus);
    CHECK(cfg.graceful_timeout == 30.0);
    CHECK(cfg.keepalive == 2.0);
    CHECK_EQ_INT(cfg.worker_connections, 1000);
    CHECK_EQ_INT(cfg.ring_entries, 1024);
    CHECK_EQ_INT(cfg.recv_buffers, 512);
    CHECK_EQ_INT(cfg.recv_buffer_size, 16384);
    CHECK_EQ_INT(cfg.limit_request_line, 4094);
    CHECK_EQ_INT(cfg.limit_request_fields, 100);
    CHECK_EQ_INT(cfg.limit_request_field_size, 8190);
    CHECK_EQ_STR(cfg.error_logfile, "-");
    CHECK_EQ_INT(cfg.log_level, TUN_LOG_INFO);
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
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        if (s->type != TUN_T_INT)
            continue;
        char flag[64], v[32], msg[256];
        snprintf(flag, sizeof(flag), "--%s", s->long_flag);
        const char *accepted = (s->flags & TUN_F_POW2) ? "a power of two from %.0f to %.0f"
                                                       : "%.0f to %.0f";
        char acc[64];
        snprintf(acc, sizeof(acc), accepted, s->min, s->max);

        for (int k = 0; k < 2; k++) {
            double bound = k ? s->max : s->min;
            snprintf(v, sizeof(v), "%.0f", bound);
            EXPECT_OK(flag, v, "a:b");
            CHECK_EQ_INT(*(int *)field_of(s, &cfg), (long long)bound);

            snprintf(v, sizeof(v), "%.0f", k ? s->max + 1 : s->min - 1);
            snprintf(msg, sizeof(msg), "%s: \"%s\" is out of range (accepted: %s)", flag, v, acc);
            EXPECT_ERR(msg, flag, v, "a:b");
        }
        snprintf(msg, sizeof(msg), "%s: \"abc\" is not a whole number (accepted: %s)", flag, acc);
        EXPECT_ERR(msg, flag, "abc", "a:b");
    }
}

static void test_int_parsing(void)
{
    EXPECT_ERR("--workers: \"abc\" is not a whole number (accepted: 1 to 4096)", "--workers", "abc",
               "a:b");
    EXPECT_ERR("--workers: \"4.5\" is not a whole number (accepted: 1 to 4096)", "-w", "4.5", "a:b");
    EXPECT_ERR("--workers: \"1e3\" is not a whole number (accepted: 1 to 4096)", "-w", "1e3", "a:b");
    EXPECT_ERR("--workers: \" 4\" is not a whole number (accepted: 1 to 4096)", "-w", " 4", "a:b");
    EXPECT_ERR("--workers: \"4 \" is not a whole number (accepted: 1 to 4096)", "-w", "4 ", "a:b");
    EXPECT_ERR("--workers: \"\" is not a whole number (accepted: 1 to 4096)", "--workers=", "a:b");
    EXPECT_ERR("--workers: \"-\" is not a whole number (accepted: 1 to 4096)", "-w", "-", "a:b");
    EXPECT_ERR("--workers: \"0\" is out of range (accepted: 1 to 4096)", "-w", "0", "a:b");
    EXPECT_ERR("--workers: \"-3\" is out of range (accepted: 1 to 4096)", "-w", "-3", "a:b");
    EXPECT_ERR("--workers: \"99999999999999999999999\" is out of range (accepted: 1 to 4096)", "-w",
               "99999999999999999999999", "a:b");
    EXPECT_ERR("--workers: \"4294967297\" is out of range (accepted: 1 to 4096)", "-w",
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
    /* No row is a bool yet, so the parser is exercised directly. */
    const setting_t fake = {.name = "fake", .type = TUN_T_BOOL, .long_flag = "fake"};
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
}

static void test_log_level(void)
{
    const char *names[] = {"debug", "info", "warning", "error", "critical"};
    for (int i = 0; i < 5; i++) {
        EXPECT_OK("--log-level", names[i], "a:b");
        CHECK_EQ_INT(cfg.log_level, i);
    }
    CHECK_EQ_INT(TUN_LOG_DEBUG, 0);
    CHECK_EQ_INT(TUN_LOG_CRITICAL, 4);
    EXPECT_OK("--log-level=WARNING", "a:b");
    CHECK_EQ_INT(cfg.log_level, TUN_LOG_WARNING);
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
    CHECK_EQ_INT(cfg.log_level, TUN_LOG_DEBUG);
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
                   "to 4096)",
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
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
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
    CHECK_EQ_INT(cfg.workers, affinity_cpus() > 4096 ? 4096 : affinity_cpus());
    EXPECT_ERR_ENV(ENV("WEB_CONCURRENCY=abc"),
                   "WEB_CONCURRENCY (--workers): \"abc\" is not a whole number (accepted: 1 to "
                   "4096)",
                   "a:b");
    EXPECT_ERR_ENV(ENV("WEB_CONCURRENCY=0"),
                   "WEB_CONCURRENCY (--workers): \"0\" is out of range (accepted: 1 to 4096)",
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
    EXPECT_ERR("--workers needs a value (accepted: 1 to 4096)", "a:b", "--workers");
    EXPECT_ERR("--workers needs a value (accepted: 1 to 4096)", "a:b", "-w");
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
    CHECK(closest_flag("zzzzzz", 6) == NULL);
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
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        char want[128];
        if (s->long_flag) {
            snprintf(want, sizeof(want), "--%s %s", s->alias ? s->alias : s->long_flag,
                     s->metavar);
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
    for (int sec = 0; sec < SEC_COUNT; sec++) {
        char want[64];
        snprintf(want, sizeof(want), "\n%s:\n", section_titles[sec]);
        CHECK(strstr(help, want) != NULL);
    }
    CHECK(strstr(help, "(default: 127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set)") != NULL);
    CHECK(strstr(flat, "(default: the number of CPUs available, or $WEB_CONCURRENCY when "
                       "set)") != NULL);
    CHECK(strstr(help, "$VIRTUAL_ENV") != NULL);
    CHECK(strstr(help, "-h, --help") != NULL);
    CHECK(strstr(help, "-v, --version") != NULL);
    CHECK(strstr(help, "print-settings-markdown") == NULL); /* hidden */
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
    /* one row per setting, a heading per section, every variable */
    size_t rows = 0;
    for (const char *p = md; (p = strstr(p, "\n| `")); p++)
        rows++;
    CHECK_EQ_INT(rows, N_SETTINGS);
    for (int sec = 0; sec < SEC_COUNT; sec++) {
        char want[64];
        snprintf(want, sizeof(want), "\n## %s\n", section_titles[sec]);
        CHECK(strstr(md, want) != NULL);
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char want[96];
        snprintf(want, sizeof(want), "| `%s` |", settings[i].env);
        CHECK(strstr(md, want) != NULL);
    }
    CHECK(strstr(md, "| `binds` | `-b`, `--bind ADDRESS` | `UWSGI_FAST_BIND` | list of addresses "
                     "| 127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set |") != NULL);
    CHECK(strstr(md, "| 1 to 4096 | yes |") != NULL); /* workers: bounds, reloadable */
    free(md);
}

/* docs/settings.md is generated; a table change without regenerating it fails here. */
static void test_docs_fresh(void)
{
    const char *root = getenv("UF_SOURCE_ROOT");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/docs/settings.md", root ? root : ".");
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

static void test_table_sanity(void)
{
    /* The table's own invariants: unique flags and variables, defaults inside bounds (the
     * defaults test parses each), one positional, help present. */
    int positional = 0;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *a = &settings[i];
        positional += !a->long_flag;
        CHECK(a->help && a->help[0] && a->metavar && a->metavar[0]);
        CHECK(a->short_flag != 'h' && a->short_flag != 'v');
        for (size_t j = i + 1; j < N_SETTINGS; j++) {
            const setting_t *b = &settings[j];
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
}

int main(void)
{
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

    tun_config_free(&cfg);
    free(out_text);
    unlink(tmpfile_path);
    rmdir(tmpdir);
    return check_done();
}
