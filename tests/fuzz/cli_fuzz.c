/* libFuzzer target: the command-line scanner and the layered parse of tunables/ (tun_parse),
 * and the UWSGI_FAST_CMD_ARGS word splitter and scanner behind it.
 *
 * Input: text. Its lines are the arguments after "uwsgi-fast" (at most 64), parsed with an
 * empty environment; the whole text up to its first NUL is also split as
 * UWSGI_FAST_CMD_ARGS would be and scanned as that layer.
 *
 * What the target must never do is act on the machine, so it keeps three things out:
 *   - config files: arguments that name one (-c, --config) are dropped, the working
 *     directory is an empty directory that no longer exists (so no ./uwsgi-fast.toml or
 *     ./gunicorn.conf.py can be found, and nothing can be created there), and
 *     tun_pyconfig_read is stubbed to refuse, so no Python process is ever started;
 *   - name resolution: --bind and -b are dropped, because a host name would go to the
 *     resolver (and the network) on every run; listen-address syntax has its own checks
 *     in the unit tests and the default address is numeric;
 *   - output: --help, --print-config and friends write to /dev/null.
 * Everything else only reads: --chdir and friends stat() a path, the default worker count
 * reads /proc and /sys. The scan of the UWSGI_FAST_CMD_ARGS layer interprets no value, so
 * it needs no filter.
 *
 * Invariants (a violation aborts, which libFuzzer reports with the input):
 *   - tun_parse answers TUN_OK, TUN_EXIT or TUN_ERROR; on TUN_ERROR err is one non-empty
 *     line; on TUN_EXIT and TUN_ERROR the config is left zeroed;
 *   - an accepted config has at least one listen address, and prints (--print-config)
 *     without fault;
 *   - the scanner's pairs name real settings and hold values;
 *   - nothing crashes, leaks or reads out of bounds (ASan, UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tunables/cli.h"
#include "tunables/pyconfig.h"
#include "tunables/tunables.h"
#include "tests/fuzz/invariant.h"

#define FAIL(...) FUZZ_FAIL("cli_fuzz", __VA_ARGS__)

#define MAX_ARGS 64

static FILE *devnull;

/* No gunicorn.conf.py is ever run: config flags are dropped and the working directory is
 * empty, and should either be missed, this refuses instead of starting Python. */
int tun_pyconfig_read(const char *python, const char *path, char **envp, buf_t *out, char *err,
                      size_t errlen)
{
    (void)python, (void)envp, (void)out;
    snprintf(err, errlen, "cli_fuzz: %s was not run", path);
    return -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char dir[] = "/tmp/cli_fuzz.XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) < 0 || rmdir(dir) < 0) {
        perror("cli_fuzz: an empty working directory");
        exit(1);
    }
    devnull = fopen("/dev/null", "w");
    if (!devnull) {
        perror("cli_fuzz: /dev/null");
        exit(1);
    }
    return 0;
}

/* Whether arg would make tun_parse read a config file or resolve a host name; the value
 * of a separate-word flag then stays behind as a positional argument, which is harmless. */
static bool dropped(const char *a)
{
    static const char *const longs[] = {"--config", "--bind"};
    if (a[0] == '-' && (a[1] == 'c' || a[1] == 'b'))
        return true;
    for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
        size_t n = strlen(longs[i]);
        if (strncmp(a, longs[i], n) == 0 && (a[n] == 0 || a[n] == '='))
            return true;
    }
    return false;
}

static void check_parse(char *text)
{
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "uwsgi-fast";
    for (char *line = strtok(text, "\n"); line && argc <= MAX_ARGS; line = strtok(NULL, "\n"))
        if (!dropped(line))
            argv[argc++] = line;
    argv[argc] = NULL;

    char *env[] = {NULL};
    tun_config_t cfg;
    char err[512];
    int rc = tun_parse(&cfg, argc, argv, env, devnull, err, sizeof(err));
    if (rc != TUN_OK && rc != TUN_EXIT && rc != TUN_ERROR)
        FAIL("tun_parse answered %d", rc);
    if (rc == TUN_ERROR && (!err[0] || strchr(err, '\n')))
        FAIL("an error is not one non-empty line: \"%s\"", err);
    if (rc != TUN_OK) {
        static const tun_config_t zero;
        if (memcmp(&cfg, &zero, sizeof(cfg)) != 0)
            FAIL("tun_parse answered %d and left the config filled", rc);
        return;
    }
    if (cfg.bind_count < 1)
        FAIL("an accepted config has no listen address");
    tun_write_config(devnull, &cfg);
    tun_config_free(&cfg);
}

/* The UWSGI_FAST_CMD_ARGS layer: split, then scanned (values are not applied). */
static void check_cmd_args(const char *text)
{
    char err[512];
    struct tun_sources *src = uf_calloc(1, sizeof(*src));
    tun_parse_state_t ps = {.err = err, .errlen = sizeof(err), .src = src};
    if (tun_split_words(&ps, text) == 0) {
        tun_arg_value_t *vals = uf_calloc(ps.nwords + 1, sizeof(*vals));
        size_t n = 0;
        int action = 0;
        if (tun_scan_args(&ps, TUN_L_CMD_ARGS, (int)ps.nwords, ps.words, vals, &n, &action) == 0) {
            for (size_t k = 0; k < n; k++)
                if (vals[k].setting < 0 || vals[k].setting >= TUN_N_SETTINGS || !vals[k].value)
                    FAIL("scanned pair %zu names setting %d", k, vals[k].setting);
        } else if (!err[0]) {
            FAIL("a refused UWSGI_FAST_CMD_ARGS left no message");
        }
        uf_free(vals);
    }
    for (size_t i = 0; i < ps.nwords; i++)
        uf_free(ps.words[i]);
    uf_free(ps.words);
    for (size_t i = 0; i < src->note_count; i++)
        uf_free(src->notes[i]);
    uf_free(src->notes);
    uf_free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    check_cmd_args(text);
    check_parse(text); /* last: strtok cuts text into lines */
    free(text);
    return 0;
}
