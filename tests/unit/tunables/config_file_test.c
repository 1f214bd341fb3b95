/* Unit tests of config files (tunables/config_file.c): uwsgi-fast.toml and
 * gunicorn.conf.py, how they map onto the table, and their messages.
 * Shared state and helpers: harness.h. */
#include "harness.h"

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

    /* hooks by dotted path; the ones never called are warned about */
    write_file("t3.toml", "wsgi_app = \"x:y\"\npost_fork = \"app.hooks:post_fork\"\n"
                          "child_exit = \"app.hooks.child_exit\"\nssl_context = \"a:b\"\n");
    EXPECT_OK("-c", "t3.toml");
    CHECK_EQ_INT(cfg.hooks_defined, (1u << TUN_HOOK_post_fork) | (1u << TUN_HOOK_child_exit));
    CHECK_EQ_STR(cfg.hook_specs[TUN_HOOK_post_fork], "app.hooks:post_fork");
    CHECK_EQ_STR(cfg.hook_specs[TUN_HOOK_child_exit], "app.hooks.child_exit");
    CHECK(cfg.hook_specs[TUN_HOOK_on_starting] == NULL);
    CHECK_EQ_INT(cfg.warning_count, 1);
    if (cfg.warning_count == 1)
        CHECK_EQ_STR(cfg.warnings[0], "t3.toml: the server hook ssl_context is not called: "
                                      "uwsgi-fast has no TLS (terminate it at the proxy)");

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
        {"on_starting = \"x\"\n", "bad.toml:1: on_starting: \"x\" names no module; write "
                                  "\"MODULE:FUNCTION\" or \"MODULE.FUNCTION\""},
        {"on_starting = 3\n", "bad.toml:1: on_starting: a server hook in a TOML config is a "
                              "string naming a function, \"MODULE:FUNCTION\" or "
                              "\"MODULE.FUNCTION\""},
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
         "-k/--worker-class: \"gevent\" is not served here (accepted: sync or gthread for WSGI, "
         "asgi or uvicorn.workers.UvicornWorker for ASGI; gevent, eventlet and tornado workers "
         "are not needed: the workers are io_uring loops)"},
        {"daemon = true\n", "bad.toml:1: daemon is not supported: run in the foreground under "
                            "systemd, a container runtime or supervisord; remove it"},
        {"logconfig_dict = \"x\"\n",
         "bad.toml:1: logconfig_dict is not supported: honoured only in a gunicorn.conf.py (the "
         "handlers of gunicorn.error and gunicorn.access); here use --error-logfile, "
         "--error-log-json, --log-level, --access-logfile and --access-log-json; remove it"},
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

    /* a newer gunicorn's setting in a file: the server starts and names it; its default
     * value asks for nothing; on the command line it is refused */
    write_file("g27.toml", "dirty_workers = 2\nhttp_parser = \"auto\"\n");
    EXPECT_OK("-c", "g27.toml", "a:b");
    CHECK_EQ_INT(cfg.warning_count, 1);
    if (cfg.warning_count == 1)
        CHECK_EQ_STR(cfg.warnings[0],
                     "g27.toml:1: dirty_workers is not supported yet and is ignored: gunicorn's "
                     "dirty workers (a second pool for long tasks) are not here");
    EXPECT_ERR("--dirty-workers is not supported yet (planned): gunicorn's dirty workers (a "
               "second pool for long tasks) are not here; remove it or set it to 0",
               "--dirty-workers", "2", "a:b");

    /* the file itself */
    EXPECT_ERR("--config: \"missing.toml\" does not exist (accepted: a .toml file or a gunicorn "
               ".py config file)",
               "-c", "missing.toml", "a:b");
    char msg[512];
    snprintf(msg, sizeof(msg),
             "--config: \"%s\" is not a file (accepted: a .toml file or a "
             "gunicorn .py config file)",
             tmpdir);
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
    write_file("gunicorn.conf.py", "import multiprocessing, os\n"
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
    CHECK_EQ_INT(cfg.workers, 1); /* the command line wins */
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
    CHECK_EQ_INT(cfg.warning_count, 1);
    if (cfg.warning_count == 1)
        CHECK_EQ_STR(cfg.warnings[0], "gunicorn.conf.py: worker is not a setting and is ignored; "
                                      "did you mean workers?");
    /* the hooks are the callables with a hook's name; helper() and Thing are not */
    CHECK_EQ_INT(cfg.hooks_defined, (1u << TUN_HOOK_on_starting) | (1u << TUN_HOOK_post_fork));
    CHECK(cfg.hook_specs[TUN_HOOK_on_starting] == NULL);
    CHECK_EQ_INT(cfg.sources->note_count, 1); /* reuse_port */
    unlink("gunicorn.conf.py");

    static const struct {
        const char *text, *err;
    } bad[] = {
        {"worker_class = 'gevent'\n",
         "-k/--worker-class: \"gevent\" is not served here (accepted: sync or gthread for WSGI, "
         "asgi or uvicorn.workers.UvicornWorker for ASGI; gevent, eventlet and tornado workers "
         "are not needed: the workers are io_uring loops)"},
        {"protocol = 'h2'\n",
         "bad.py: protocol (--protocol): \"h2\" is not http or uwsgi (accepted: http or uwsgi)"},
        {"workers = 'x'\n", "bad.py: workers (--workers): \"x\" is not a whole number (accepted: "
                            "1 to 4096, or auto)"},
        {"bind = {'127.0.0.1:1'}\n",
         "bad.py: bind (--bind): a value of type set is not accepted (accepted: HOST:PORT, "
         "[IPV6]:PORT, HOST (port 8000), :PORT (all IPv4 interfaces) with a port from 1 to "
         "65535, unix:PATH, unix:@NAME or fd://N; uwsgi:// in front of any of them speaks the "
         "uwsgi protocol)"},
        {"workers = lambda: 3\n", "bad.py: workers (--workers): a value of type function is not "
                                  "accepted (accepted: 1 to 4096, or auto)"},
        {"timeout = float('nan')\n",
         "bad.py: timeout (--timeout): \"nan\" is not a number (accepted: 0 to 86400)"},
        {"raise RuntimeError('boom')\n",
         "the gunicorn config bad.py raised an exception (traceback above)"},
        {"import sys\nsys.exit(0)\n",
         "the gunicorn config bad.py raised an exception (traceback above)"},
        {"workers = (\n", "the gunicorn config bad.py raised an exception (traceback above)"},
        {"logconfig_dict = {'loggers': {'gunicorn.error': {'handlers': ['x']}}}\n",
         "bad.py: logconfig_dict: handler 'x' of gunicorn.error is not defined"},
        {"logconfig_dict = {'handlers': {'m': {'class': 'logging.handlers.SMTPHandler'}},\n"
         "  'loggers': {'gunicorn.access': {'handlers': ['m']}}}\n",
         "bad.py: logconfig_dict: handler 'm' of gunicorn.access (logging.handlers.SMTPHandler) is "
         "not honoured: the error log goes to a file, stdout or stderr (logging.FileHandler, "
         "logging.handlers.WatchedFileHandler, logging.StreamHandler), as JSON with a JSON "
         "formatter; for more use --log-syslog or --log-target"},
        {"logconfig_json = '/nonexistent/log.json'\n",
         "bad.py: logconfig_json: cannot read /nonexistent/log.json: [Errno 2] No such file or "
         "directory: '/nonexistent/log.json'"},
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

    /* logconfig_dict: gunicorn.error's handler, formatter and level, gunicorn.access's
     * handler, replacing errorlog, loglevel and accesslog of the same file */
    write_file("logconf.py",
               "errorlog = 'replaced.log'\nloglevel = 'debug'\naccesslog = 'a.log'\n"
               "logconfig_dict = {'version': 1,\n"
               " 'formatters': {'j': {'()': 'pythonjsonlogger.jsonlogger.JsonFormatter'}},\n"
               " 'handlers': {'o': {'class': 'logging.StreamHandler', 'formatter': 'j',\n"
               "                    'stream': 'ext://sys.stdout'},\n"
               "              'n': {'class': 'logging.NullHandler'}},\n"
               " 'loggers': {'gunicorn.error': {'level': 30, 'handlers': ['o']},\n"
               "             'gunicorn.access': {'handlers': ['n']}}}\n");
    EXPECT_OK_ENV(env, "-c", "logconf.py", "a:b");
    CHECK_EQ_STR(cfg.error_logfile, "/dev/stdout");
    CHECK(cfg.error_log_json);
    CHECK_EQ_INT(cfg.log_level, LOG_LEVEL_WARNING);
    CHECK(cfg.accesslog == NULL); /* a NullHandler: no access log */
    CHECK(!cfg.access_log_json);
    /* gunicorn's own handler names, without a formatter: text on stderr, stdout */
    write_file("logconf.py", "logconfig_dict = {'version': 1, 'loggers': {\n"
                             " 'gunicorn.error': {'handlers': ['error_console']},\n"
                             " 'gunicorn.access': {'handlers': ['console']}}}\n");
    EXPECT_OK_ENV(env, "-c", "logconf.py", "a:b");
    CHECK_EQ_STR(cfg.error_logfile, "-");
    CHECK(!cfg.error_log_json);
    CHECK_EQ_STR(cfg.accesslog, "-");
    unlink("logconf.py");

    /* the interpreter: a missing one is named */
    buf_t text = {0};
    CHECK_EQ_INT(tun_pyconfig_read("/nonexistent/python3", "myconf", env, &text, err, sizeof(err)),
                 -1);
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

int main(void)
{
    if (harness_setup())
        return 1;
    test_config_toml();
    test_config_py();
    return harness_done();
}
