/* Unit tests of the argument layers (tunables/cli.c, refuse.c, suggest.c): the forms
 * of a flag, unknown flags and suggestions, the positional argument, UWSGI_FAST_CMD_ARGS,
 * and the refused gunicorn settings.
 * Shared state and helpers: harness.h. */
#include "harness.h"

#define WORKER_CLASS_REFUSED(name)                                                                 \
    "-k/--worker-class: \"" name "\" is not served here (accepted: sync or gthread for WSGI, "     \
    "asgi or uvicorn.workers.UvicornWorker for ASGI; gevent, eventlet and tornado workers are "    \
    "not needed: the workers are io_uring loops)"
#define WORKER_CLASS_GEVENT WORKER_CLASS_REFUSED("gevent")

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

/* --proxy-protocol takes gunicorn's words, stores the canonical one, and alone means auto
 * without swallowing the application after it; --proxy-allow-from is a network list. */
static void test_proxy_protocol(void)
{
    EXPECT_OK("a:b");
    CHECK_EQ_STR(cfg.proxy_protocol, "off");
    CHECK_EQ_INT(cfg.proxy_versions, 0);
    CHECK(!cfg.proxy_allow.all && cfg.proxy_allow.count == 2);
    static const struct {
        const char *word, *stored;
        unsigned versions;
    } words[] = {
        {"off", "off", 0},  {"False", "off", 0},   {"0", "off", 0},
        {"none", "off", 0}, {" auto ", "auto", 3}, {"TRUE", "auto", 3},
        {"1", "auto", 3},   {"v1", "v1", 1},       {"V2", "v2", 2},
    };
    for (size_t i = 0; i < UF_ARRAY_LEN(words); i++) {
        EXPECT_OK("--proxy-protocol", (char *)words[i].word, "a:b");
        CHECK_EQ_STR(cfg.proxy_protocol, words[i].stored);
        CHECK_EQ_INT(cfg.proxy_versions, words[i].versions);
    }
    EXPECT_OK("--proxy-protocol", "a:b");
    CHECK_EQ_STR(cfg.proxy_protocol, "auto");
    CHECK_EQ_STR(cfg.app, "a:b");
    EXPECT_OK("a:b", "--proxy-protocol");
    CHECK_EQ_INT(cfg.proxy_versions, 3);
    EXPECT_OK("--proxy-protocol", "--workers", "2", "a:b");
    CHECK_EQ_INT(cfg.proxy_versions, 3);
    CHECK_EQ_INT(cfg.workers, 2);
    EXPECT_OK("--proxy-protocol=v1", "a:b");
    CHECK_EQ_INT(cfg.proxy_versions, 1);
    EXPECT_ERR("--proxy-protocol: \"v3\" is not a PROXY protocol mode (accepted: off, v1, v2 or "
               "auto (also false, none, 0, true, 1))",
               "--proxy-protocol=v3", "a:b");
    EXPECT_ERR("--proxy-protocol: \"\" is empty (accepted: off, v1, v2 or auto (also false, "
               "none, 0, true, 1))",
               "--proxy-protocol=", "a:b");
    EXPECT_OK("--proxy-allow-from", "10.0.0.0/8, *", "a:b");
    CHECK(cfg.proxy_allow.all && cfg.proxy_allow.count == 1);
    EXPECT_ERR("--proxy-allow-from: \"10.0.0.300\" has an item that is not *, an address or a "
               "network (accepted: *, or IP addresses and networks (ADDRESS/BITS), comma "
               "separated)",
               "--proxy-allow-from", "10.0.0.300", "a:b");
}

/* --protocol takes http or uwsgi in any case (stored in lower case); a bind written
 * uwsgi://ADDRESS speaks uwsgi on its own; --uwsgi-allow-from is a network list. */
static void test_uwsgi_protocol(void)
{
    EXPECT_OK("a:b");
    CHECK_EQ_STR(cfg.protocol, "http");
    CHECK(!cfg.uwsgi);
    CHECK(!cfg.uwsgi_allow.all && cfg.uwsgi_allow.count == 2);
    EXPECT_OK("--protocol", " UWSGI ", "a:b");
    CHECK_EQ_STR(cfg.protocol, "uwsgi");
    CHECK(cfg.uwsgi);
    EXPECT_OK("--protocol=Http", "a:b");
    CHECK_EQ_STR(cfg.protocol, "http");
    CHECK(!cfg.uwsgi);
    EXPECT_ERR("--protocol: \"h2\" is not http or uwsgi (accepted: http or uwsgi)", "--protocol=h2",
               "a:b");
    EXPECT_OK("-b", "uwsgi://127.0.0.1:9000", "-b", "127.0.0.1:9001", "-b",
              "uwsgi://unix:/tmp/uf-test.sock", "a:b");
    CHECK(cfg.bind_count == 3 && is_v4(&cfg.binds[0], "127.0.0.1", 9000) && cfg.binds[0].uwsgi);
    CHECK(is_v4(&cfg.binds[1], "127.0.0.1", 9001) && !cfg.binds[1].uwsgi);
    CHECK(cfg.binds[2].kind == TUN_BIND_UNIX && cfg.binds[2].uwsgi);
    CHECK_EQ_STR(cfg.binds[0].spec, "uwsgi://127.0.0.1:9000");
    EXPECT_OK("--uwsgi-allow-from", "10.0.0.0/8", "a:b");
    CHECK(!cfg.uwsgi_allow.all && cfg.uwsgi_allow.count == 1);
    EXPECT_OK("--uwsgi-allow-from", "*", "a:b");
    CHECK(cfg.uwsgi_allow.all);
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
    EXPECT_ERR("unexpected argument \"extra\": the application is already \"a:b\"", "a:b", "extra");
    /* "-" alone is an argument, not an option */
    EXPECT_OK("-");
    CHECK_EQ_STR(cfg.app, "-");
}

static void test_cmd_args(void)
{
    tun_parse_state_t ps = {.err = err, .errlen = sizeof(err)};
    CHECK_EQ_INT(
        tun_split_words(&ps, "  a 'b c'  \"d \\\"e\\\" \\\\ \\n\" f\\ g h\\\\i '' j\"k\"l "), 0);
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
    char **benv =
        ENV("UWSGI_FAST_CMD_ARGS=-b 127.0.0.1:1 -b 127.0.0.1:2", "UWSGI_FAST_BIND=127.0.0.1:4");
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
    EXPECT_ERR_ENV(ENV("UWSGI_FAST_CMD_ARGS=-k gevent"), WORKER_CLASS_GEVENT, "a:b");

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
        if (r->kind == TUN_R_PLANNED || r->kind == TUN_R_LATER)
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

    EXPECT_ERR(WORKER_CLASS_GEVENT, "--worker-class", "gevent", "a:b");
    EXPECT_ERR("--worker-class needs a value (accepted: non-empty text)", "a:b",
               "--worker-class"); /* no value at all */
    EXPECT_OK("--worker-class", "gthread", "--threads", "4", "a:b");
    CHECK_EQ_INT(cfg.threads, 4);
    EXPECT_ERR("--threads: \"0\" is out of range (accepted: 1 to 256)", "--threads", "0", "a:b");
    EXPECT_OK("--threads", "1", "--threads=1", "a:b");
    EXPECT_ERR(WORKER_CLASS_GEVENT, "-k", "gevent", "a:b");
    EXPECT_ERR(WORKER_CLASS_REFUSED("eventlet"), "-keventlet", "a:b");
    EXPECT_OK("-k", "uvicorn.workers.UvicornWorker", "a:b");
    CHECK_EQ_INT(cfg.app_interface, TUN_IFACE_ASGI);
    EXPECT_OK("--interface", "asgi", "--loop", "asyncio", "--asgi-lifespan", "off", "a:b");
    CHECK_EQ_INT(cfg.app_interface, TUN_IFACE_ASGI);
    CHECK_EQ_STR(cfg.asgi_lifespan, "off");
    EXPECT_OK("-k", "sync", "-ksync", "--worker-class=gunicorn.workers.sync.SyncWorker", "a:b");
    EXPECT_ERR("-D/--daemon is not supported: run in the foreground under systemd, a container "
               "runtime or supervisord; remove it",
               "-D", "a:b");
    EXPECT_OK("--daemon=false", "a:b");
    EXPECT_ERR("--certfile is not supported: terminate TLS in a proxy in front of uwsgi-fast "
               "(nginx, haproxy, a load balancer); remove it",
               "--certfile", "/etc/cert.pem", "a:b");
    EXPECT_ERR("--paste is not supported: PasteDeploy is not read; name the WSGI callable as "
               "MODULE:CALLABLE; remove it",
               "--paster", "x.ini", "a:b");     /* named by its main flag */
    EXPECT_OK("--suppress-ragged-eofs", "a:b"); /* gunicorn's default is on */
    EXPECT_ERR("--suppress-ragged-eofs is not supported: terminate TLS in a proxy in front of "
               "uwsgi-fast (nginx, haproxy, a load balancer); remove it or set it to true",
               "--suppress-ragged-eofs=off", "a:b");
    /* refused flags are refused in argument order, before any value is interpreted */
    EXPECT_ERR("--http-protocols is not supported: only HTTP/1.1 is served; put an HTTP/2 "
               "proxy in front; remove it or set it to h1",
               "--http-protocols", "h2", "-w", "abc", "a:b");

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

int main(void)
{
    if (harness_setup())
        return 1;
    test_cli_forms();
    test_proxy_protocol();
    test_uwsgi_protocol();
    test_unknown_flags();
    test_positional();
    test_cmd_args();
    test_refused();
    return harness_done();
}
