/* Unit tests of what tunables prints (tunables/help.c, markdown.c, print.c): --help,
 * --version, --print-config, --check-config, and that the committed docs/settings.md
 * matches the table.
 * Shared state and helpers: harness.h. */
#include "harness.h"

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

    /* the first line is the version alone (scripts read it); then the Python, with the
     * virtualenv the server would use, and the engines */
    static const char first[] = "uwsgi-fast " UF_VERSION "\npython " UF_PYTHON_VERSION " ";
    CHECK_EQ_INT(parse(NULL, "--version", NULL), TUN_EXIT);
    CHECK(strncmp(out_text, first, strlen(first)) == 0);
    CHECK(strstr(out_text, "virtualenv: none\nengines: io_uring and epoll") != NULL);
    CHECK_EQ_INT(parse(ENV("VIRTUAL_ENV=/srv/app/.venv"), "-v", "a:b", NULL), TUN_EXIT);
    CHECK(strncmp(out_text, first, strlen(first)) == 0);
    CHECK(strstr(out_text, "virtualenv: /srv/app/.venv\n") != NULL);
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
    CHECK(strstr(md, "| `worker_class` | `-k`, `--worker-class sync\\|gthread\\|asgi` | "
                     "`UWSGI_FAST_WORKER_CLASS` | `worker_class` |") != NULL);
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

static void test_print_check_config(void)
{
    write_file("p.toml", "backlog = 77\n");
    CHECK_EQ_INT(parse(ENV("UWSGI_FAST_TIMEOUT=9", "UWSGI_FAST_CMD_ARGS=--max-requests 5"), "-c",
                       "p.toml", "-w", "3", "--print-config", "--reuse-port", "--cpu-pin",
                       "--zerocopy-threshold=1", "-b", "127.0.0.1:1", "-b", "[::1]:2",
                       "--root-path", "/a \"b\"", NULL),
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
    EXPECT_LINE("zerocopy_threshold = ",
                "zerocopy_threshold = 1                      # command line");
    char line[512];
    CHECK(output_line("workers = ", line, sizeof(line)));
    CHECK_EQ_INT(parse(NULL, "-w", "auto", "--print-config", NULL), TUN_EXIT);
    output_line("workers = ", line, sizeof(line));
    char want[256];
    snprintf(want, sizeof(want),
             "workers = \"auto\"                            # command line; "
             "at most %d, fewer if memory is short",
             tun_usable_cpus());
    CHECK_EQ_STR(line, want);
    CHECK_EQ_INT(parse(NULL, "--print-config", "-w", "abc", NULL), TUN_ERROR); /* validated */

    /* the output is a uwsgi-fast.toml that gives back the same configuration */
    char *argv_full[] = {"uwsgi-fast",
                         "-w",
                         "auto",
                         "-b",
                         "127.0.0.1:1",
                         "--chdir",
                         tmpdir,
                         "--pythonpath",
                         "/p,/q",
                         "-t",
                         "2.25",
                         "--limit-request-body",
                         "123456789012",
                         "--log-level",
                         "error",
                         "--error-logfile",
                         "/tmp/e \"x\".log",
                         "-e",
                         "A=1,2",
                         "--secure-scheme-headers",
                         "",
                         "--cpu-pin",
                         "--numa-pin",
                         "app.mod:create()",
                         NULL};
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
    CHECK_EQ_INT(
        parse(NULL, "-c", "p.toml", "--check-config", "--zerocopy-threshold=1", "a:b", NULL),
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

int main(void)
{
    if (harness_setup())
        return 1;
    test_help_version();
    test_docs_fresh();
    test_print_check_config();
    return harness_done();
}
