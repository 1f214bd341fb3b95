/* Unit tests of the value parsers and the table (tunables/values.c, bind.c, settings.c):
 * defaults, every type's parsing and bounds, listen addresses, table sanity, `auto`
 * workers and the settings without a group of their own.
 * Shared state and helpers: harness.h. */
#include "harness.h"

#include <stddef.h>
#include <sys/un.h>

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
        CHECK(tun_hook_index(a->key) < 0);
        /* a bool default must be a bool word, pending settings must be switchable off */
        if (a->type == TUN_T_BOOL)
            CHECK(a->def && tun_bool_word(a->def) >= 0);
    }
    CHECK_EQ_INT(configs, 1);
    for (size_t r = 0; r < TUN_N_REFUSED; r++) {
        const tun_refusal_t *f = &tun_refused[r];
        CHECK(f->reason && f->reason[0] && !strchr(f->reason, '\n'));
        CHECK(f->short_flag != 'h' && f->short_flag != 'v');
        CHECK(tun_hook_index(f->key) < 0);
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
        const char *accepted =
            (s->flags & TUN_F_POW2) ? "a power of two from %.0f to %.0f" : "%.0f to %.0f";
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
    EXPECT_ERR("--workers: \"abc\" is not a whole number (accepted: 1 to 4096, or auto)",
               "--workers", "abc", "a:b");
    EXPECT_ERR("--workers: \"4.5\" is not a whole number (accepted: 1 to 4096, or auto)", "-w",
               "4.5", "a:b");
    EXPECT_ERR("--workers: \"1e3\" is not a whole number (accepted: 1 to 4096, or auto)", "-w",
               "1e3", "a:b");
    EXPECT_ERR("--workers: \" 4\" is not a whole number (accepted: 1 to 4096, or auto)", "-w", " 4",
               "a:b");
    EXPECT_ERR("--workers: \"4 \" is not a whole number (accepted: 1 to 4096, or auto)", "-w", "4 ",
               "a:b");
    EXPECT_ERR("--workers: \"\" is not a whole number (accepted: 1 to 4096, or auto)",
               "--workers=", "a:b");
    EXPECT_ERR("--workers: \"-\" is not a whole number (accepted: 1 to 4096, or auto)", "-w", "-",
               "a:b");
    EXPECT_ERR("--workers: \"0\" is out of range (accepted: 1 to 4096, or auto)", "-w", "0", "a:b");
    EXPECT_ERR("--workers: \"-3\" is out of range (accepted: 1 to 4096, or auto)", "-w", "-3",
               "a:b");
    EXPECT_ERR(
        "--workers: \"99999999999999999999999\" is out of range (accepted: 1 to 4096, or auto)",
        "-w", "99999999999999999999999", "a:b");
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
    snprintf(msg, sizeof(msg),
             "--chdir: \"%s\" is not a directory (accepted: an existing directory)", tmpfile_path);
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

    /* unix sockets: a path (with its NUL counted), gunicorn's unix://PATH, an abstract
     * name (a leading NUL, none at the end); mixed freely with TCP and descriptors */
    EXPECT_OK("-b", "unix:/run/app.sock", "-b", "127.0.0.1:7000", "-b", "unix://run.sock", "-b",
              "unix:@web", "-b", "fd://3", "a:b");
    CHECK_EQ_INT(cfg.bind_count, 5);
    if (cfg.bind_count == 5) {
        const struct sockaddr_un *un = (const void *)&cfg.binds[0].addr;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        CHECK_EQ_INT(cfg.binds[0].kind, TUN_BIND_UNIX);
        CHECK_EQ_INT(un->sun_family, AF_UNIX);
        CHECK_EQ_STR(un->sun_path, "/run/app.sock");
        CHECK_EQ_INT(cfg.binds[0].addrlen, off + 14);
        CHECK_EQ_INT(cfg.binds[1].kind, TUN_BIND_TCP);
        un = (const void *)&cfg.binds[2].addr;
        CHECK_EQ_STR(un->sun_path, "run.sock");
        un = (const void *)&cfg.binds[3].addr;
        CHECK(un->sun_path[0] == 0 && memcmp(un->sun_path + 1, "web", 3) == 0);
        CHECK_EQ_INT(cfg.binds[3].addrlen, off + 4);
        CHECK_EQ_INT(cfg.binds[4].kind, TUN_BIND_FD);
        CHECK_EQ_INT(cfg.binds[4].fd, 3);
        CHECK_EQ_STR(cfg.binds[4].spec, "fd://3");
    }
    char longpath[120] = "unix:/";
    memset(longpath + 6, 'p', 107);
    longpath[113] = 0; /* 108 bytes of path leave no room for its NUL */
    CHECK_EQ_INT(parse(NULL, "-b", longpath, "a:b", NULL), TUN_ERROR);
    CHECK(strstr(err, "has a socket path longer than 107 bytes") != NULL);
    longpath[112] = 0; /* 107 fit */
    CHECK_EQ_INT(parse(NULL, "-b", longpath, "a:b", NULL), TUN_OK);

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
    EXPECT_ERR("--bind: \"[]:80\" has no IPv6 address between [ and ]" BIND_ACCEPTED, "-b", "[]:80",
               "a:b");
    EXPECT_ERR("--bind: \"[127.0.0.1]:80\" has \"127.0.0.1\" between [ and ], which is not an "
               "IPv6 address" BIND_ACCEPTED,
               "-b", "[127.0.0.1]:80", "a:b");
    EXPECT_ERR("--bind: \"unix:\" has no socket path after unix:" BIND_ACCEPTED, "-b",
               "unix:", "a:b");
    EXPECT_ERR("--bind: \"unix:@\" has no socket name after unix:" BIND_ACCEPTED, "-b", "unix:@",
               "a:b");
    EXPECT_ERR("--bind: \"fd://\" has no descriptor number after fd://" BIND_ACCEPTED, "-b",
               "fd://", "a:b");
    EXPECT_ERR("--bind: \"fd://3x\" has \"3x\" after fd://, which is not a descriptor "
               "number" BIND_ACCEPTED,
               "-b", "fd://3x", "a:b");
    EXPECT_ERR("--bind: \"fd://3\" and \"fd://03\" are the same address", "-b", "fd://3", "-b",
               "fd://03", "a:b");
    EXPECT_ERR("--bind: \"unix:/tmp/a\" and \"unix:///tmp/a\" are the same address", "-b",
               "unix:/tmp/a", "-b", "unix:///tmp/a", "a:b");
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

/* --user, --group, --initgroups and --umask through every layer, gunicorn's spellings,
 * and the one-line refusals (exit 2) of names this system does not know. */
static void test_privileges(void)
{
    EXPECT_OK("a:b");
    CHECK(cfg.user == NULL && cfg.group == NULL && cfg.umask == NULL && !cfg.initgroups);
    EXPECT_OK("-u", "root", "-g", "root", "-m", "0o22", "--initgroups", "a:b");
    CHECK_EQ_STR(cfg.user, "root");
    CHECK_EQ_STR(cfg.group, "root");
    CHECK_EQ_STR(cfg.umask, "0o22");
    CHECK(cfg.initgroups);
    EXPECT_OK("--user=65534", "--group=65534", "--umask=022", "--initgroups=false", "a:b");
    CHECK_EQ_STR(cfg.user, "65534");
    CHECK_EQ_STR(cfg.umask, "022");
    CHECK(!cfg.initgroups);
    EXPECT_OK_ENV(ENV("UWSGI_FAST_USER=root", "UWSGI_FAST_UMASK=18", "UWSGI_FAST_INITGROUPS=1"),
                  "a:b");
    CHECK_EQ_STR(cfg.user, "root");
    CHECK_EQ_STR(cfg.umask, "18");
    CHECK(cfg.initgroups);
    EXPECT_OK_ENV(ENV("UWSGI_FAST_CMD_ARGS=-u 0 -g 0 -m 0x12"), "a:b");
    CHECK_EQ_STR(cfg.group, "0");
    CHECK_EQ_STR(cfg.umask, "0x12");
    EXPECT_ERR("--user: \"no-such-user-here\" is not a user on this system (accepted: a user "
               "name (getent passwd) or a numeric user id)",
               "--user", "no-such-user-here", "a:b");
    EXPECT_ERR("--group: \"no-such-group-here\" is not a group on this system (accepted: a "
               "group name (getent group) or a numeric group id)",
               "-g", "no-such-group-here", "a:b");
    EXPECT_ERR("--umask: \"0o1000\" is not a mode from 0 to 0o777 (accepted: 0 to 0o777, in "
               "octal (0o22 or 022), hex (0x12) or decimal (18))",
               "--umask", "0o1000", "a:b");
    EXPECT_ERR("--umask: \"08\" is not a mode from 0 to 0o777 (accepted: 0 to 0o777, in octal "
               "(0o22 or 022), hex (0x12) or decimal (18))",
               "--umask", "08", "a:b");
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
    const char *bad_ips[] = {"10.0.0.0/33", "::1/129",     "10.0.0.0/",
                             "example.com", "10.0.0.0/8x", "1.2.3"};
    for (size_t i = 0; i < UF_ARRAY_LEN(bad_ips); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "--forwarded-allow-ips: \"%s\" has an item that is not *, an "
                 "address or a network%s",
                 bad_ips[i], ip_acc);
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
    /* a name longer than the proxy code keeps is refused here, at start */
    char long_pair[TUN_PAIR_PART_MAX + 8], long_msg[256];
    memset(long_pair, 'X', TUN_PAIR_PART_MAX + 1);
    strcpy(long_pair + TUN_PAIR_PART_MAX + 1, "=1");
    snprintf(long_msg, sizeof(long_msg),
             "--secure-scheme-headers: \"%s\" has an item that is not HEADER=VALUE "
             "(accepted: HEADER=VALUE pairs, comma separated)",
             long_pair);
    EXPECT_ERR(long_msg, "--secure-scheme-headers", long_pair, "a:b");
    /* the typed forms the workers read */
    EXPECT_OK("--forwarded-allow-ips", "10.0.0.0/8, *", "--secure-scheme-headers", "X-P=https",
              "a:b");
    CHECK(cfg.forwarded_allow.all);
    CHECK_EQ_INT(cfg.forwarded_allow.count, 1);
    CHECK_EQ_INT(cfg.secure_scheme.count, 1);
    CHECK_EQ_STR(cfg.secure_scheme.items[0].value, "https");
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

int main(void)
{
    if (harness_setup())
        return 1;
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
    test_workers_auto();
    test_other_settings();
    test_privileges();
    return harness_done();
}
