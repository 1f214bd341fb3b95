/* What the tunables unit tests share: each test program includes this once. It includes
 * the .c files of the tunables modules (to reach their static helpers), holds the parsed
 * config and what tun_parse printed, and runs each program in a fresh temporary directory,
 * so that no uwsgi-fast.toml or gunicorn.conf.py of the checkout is picked up as the
 * default config file. Helpers are static inline so a program need not use them all. */
#ifndef UF_TEST_TUNABLES_HARNESS_H
#define UF_TEST_TUNABLES_HARNESS_H

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
static char tmpdir[64];            /* an existing directory, as created */
static char tmpdir_real[PATH_MAX]; /* ...and as realpath() spells it */
static char tmpfile_path[128];
static char source_root[PATH_MAX]; /* the checkout, for docs/settings.md */
static char workdir[PATH_MAX + 8]; /* the working directory: tmpdir/work */

/* Parses "uwsgi-fast ARGS..." (NULL-terminated) with the environment `env`, capturing what
 * tun_parse prints. The previous config is freed first, as the master would on reload. */
static inline int parse(char **env, ...)
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
#define EXPECT_ERR_ENV(env, msg, ...)                                                              \
    do {                                                                                           \
        CHECK_EQ_INT(parse(env, __VA_ARGS__, NULL), TUN_ERROR);                                    \
        CHECK_EQ_STR(err, msg);                                                                    \
        CHECK(cfg.app == NULL && cfg.binds == NULL && cfg.bind_count == 0);                        \
    } while (0)
#define EXPECT_ERR(msg, ...) EXPECT_ERR_ENV(NULL, msg, __VA_ARGS__)
#define EXPECT_OK_ENV(env, ...)                                                                    \
    do {                                                                                           \
        int rc_ = parse(env, __VA_ARGS__, NULL);                                                   \
        CHECK_EQ_INT(rc_, TUN_OK);                                                                 \
        if (rc_ != TUN_OK)                                                                         \
            fprintf(stderr, "    error was: %s\n", err);                                           \
    } while (0)
#define EXPECT_OK(...) EXPECT_OK_ENV(NULL, __VA_ARGS__)

/* The tail of every message about a --bind value. */
#define BIND_ACCEPTED                                                                              \
    " (accepted: HOST:PORT, [IPV6]:PORT, HOST (port 8000), :PORT (all IPv4 interfaces) with a "    \
    "port from 1 to 65535, unix:PATH, unix:@NAME or fd://N; uwsgi:// in front of any of them "     \
    "speaks the uwsgi protocol)"

static inline bool is_v4(const tun_bind_t *b, const char *ip, int port)
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

static inline bool is_v6(const tun_bind_t *b, const char *ip, int port)
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

static inline const tun_setting_t *setting_named(const char *name)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++)
        if (strcmp(tun_settings[i].name, name) == 0)
            return &tun_settings[i];
    fprintf(stderr, "no setting %s\n", name);
    abort();
}

static inline int affinity_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return -1;
    return CPU_COUNT(&set);
}

/* The help text with each run of blanks and newlines made one space, so wrapped text can be
 * searched for whole. */
static inline char *squash(const char *text)
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

static inline void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        abort();
    }
    fputs(text, f);
    fclose(f);
}

static inline int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void remove_tree(const char *dir)
{
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The test's own environment without anything the parser would read as a setting, for
 * the tests that run Python (which needs PATH, HOME and pyenv's variables). */
static inline char **clean_environ(const char *extra)
{
    extern char **environ;
    static char *env[512];
    size_t n = 0;
    for (char **e = environ; *e && n + 2 < UF_ARRAY_LEN(env); e++) {
        if (strncmp(*e, "UWSGI_FAST_", 11) == 0 || strncmp(*e, "WEB_CONCURRENCY=", 16) == 0 ||
            strncmp(*e, "PORT=", 5) == 0 || strncmp(*e, "VIRTUAL_ENV=", 12) == 0 ||
            strncmp(*e, "GUNICORN_CMD_ARGS=", 18) == 0 ||
            strncmp(*e, "FORWARDED_ALLOW_IPS=", 20) == 0)
            continue;
        env[n++] = *e;
    }
    if (extra)
        env[n++] = (char *)extra;
    env[n] = NULL;
    return env;
}

static inline const tun_source_t *source_named(const char *name)
{
    return &cfg.sources->s[setting_named(name) - tun_settings];
}

/* The line of out_text that starts with `prefix`, copied into line. */
static inline bool output_line(const char *prefix, char *line, size_t n)
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

#define EXPECT_LINE(prefix, want)                                                                  \
    do {                                                                                           \
        char line_[512];                                                                           \
        output_line(prefix, line_, sizeof(line_));                                                 \
        CHECK_EQ_STR(line_, want);                                                                 \
    } while (0)

/* Makes the temporary directory (with tmpdir/file, and tmpdir/work as the working
 * directory). Returns 0, or 1 after printing why. */
static inline int harness_setup(void)
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
    return 0;
}

/* Frees what the last parse left and removes the temporary directory; the exit status. */
static inline int harness_done(void)
{
    tun_config_free(&cfg);
    free(out_text);
    if (chdir("/") == 0)
        remove_tree(tmpdir_real);
    return check_done();
}

#endif
