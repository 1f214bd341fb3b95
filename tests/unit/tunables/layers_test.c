/* Unit tests of the layering (tunables/layers.c): the precedence of command line over
 * UWSGI_FAST_CMD_ARGS over environment over config file over default, gunicorn's
 * WEB_CONCURRENCY, PORT and VIRTUAL_ENV, the error buffer and tun_config_free.
 * Shared state and helpers: harness.h. */
#include "harness.h"

static void test_env_precedence(void)
{
    char **env = ENV("UWSGI_FAST_WORKERS=3", "UWSGI_FAST_BACKLOG=100", "UWSGI_FAST_LOG_LEVEL=debug",
                     "UWSGI_FAST_KEEP_ALIVE=7.5", "UWSGI_FAST_LIMIT_REQUEST_FIELD_SIZE=77",
                     "UWSGI_FAST_ERROR_LOGFILE=/e.log", "UWSGI_FAST_APP=env:app");
    EXPECT_OK_ENV(env, "--backlog", "200");
    CHECK_EQ_INT(cfg.workers, 3);   /* env over default */
    CHECK_EQ_INT(cfg.backlog, 200); /* command line over env */
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
    EXPECT_ERR_ENV(
        ENV("WEB_CONCURRENCY=0"),
        "WEB_CONCURRENCY (--workers): \"0\" is out of range (accepted: 1 to 4096, or auto)", "a:b");

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
    CHECK_EQ_INT(tun_parse(&c, 0, argv, ENV("UWSGI_FAST_APP=x:y"), NULL, err, sizeof(err)), TUN_OK);
    CHECK_EQ_STR(c.app, "x:y");
    tun_config_free(&c);
}

/* --reload's settings: the engine is one of gunicorn's three, extra files repeat without
 * splitting on commas, and --preload cannot come with --reload. */
static void test_reload_settings(void)
{
    EXPECT_OK("a:b");
    CHECK(!cfg.reload);
    CHECK_EQ_STR(cfg.reload_engine, "auto");
    CHECK_EQ_INT(cfg.reload_extra_files_count, 0);
    EXPECT_OK("--reload", "--reload-engine", "poll", "--reload-extra-file", "t/a,b.html",
              "--reload-extra-file", "conf/*.ini", "a:b");
    CHECK(cfg.reload);
    CHECK_EQ_STR(cfg.reload_engine, "poll");
    CHECK_EQ_INT(cfg.reload_extra_files_count, 2);
    if (cfg.reload_extra_files_count == 2)
        CHECK_EQ_STR(cfg.reload_extra_files[0], "t/a,b.html");
    EXPECT_ERR("--reload-engine: \"fsevents\" is not an engine (accepted: auto, inotify or poll)",
               "--reload-engine", "fsevents", "a:b");
    EXPECT_ERR("--reload does not work with --preload: every worker is forked from the master's "
               "import and would run the old code again; drop --preload while developing",
               "--reload", "--preload", "a:b");
    EXPECT_OK("--reload=false", "--preload", "a:b");
}

/* --engine: auto unless named; only the three engines. */
static void test_engine_setting(void)
{
    EXPECT_OK("a:b");
    CHECK_EQ_STR(cfg.engine, "auto");
    CHECK(!cfg.engine_epoll); /* the master's to choose */
    EXPECT_OK("--engine", "epoll", "a:b");
    CHECK_EQ_STR(cfg.engine, "epoll");
    EXPECT_OK("--engine=io_uring", "a:b");
    CHECK_EQ_STR(cfg.engine, "io_uring");
    EXPECT_ERR("--engine: \"kqueue\" is not an engine (accepted: auto, io_uring or epoll)",
               "--engine", "kqueue", "a:b");
}

int main(void)
{
    if (harness_setup())
        return 1;
    test_env_precedence();
    test_gunicorn_env();
    test_errbuf_and_free();
    test_reload_settings();
    test_engine_setting();
    return harness_done();
}
