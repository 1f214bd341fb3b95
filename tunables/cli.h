/* CLI: the two argument layers, the command line and UWSGI_FAST_CMD_ARGS, scanned into
 * (setting, value) pairs.
 *
 * Scanning does not interpret values: tunables/layers.c applies them later, so that a
 * lower layer is skipped for exactly the settings an argument layer sets. What is decided
 * here: which setting a flag names (long, short, alias, --no-NAME, -w4, -w=4, --flag=V),
 * where its value is, the built-in actions (--help, --version, --print-config,
 * --check-config and the hidden --print-settings-markdown, command line only), unknown
 * flags with a "did you mean", and refused gunicorn flags, in argument order. Values are
 * borrowed from the scanned words. State: only the parse state passed in.
 *
 * Private to tunables/. */
#ifndef UF_TUNABLES_CLI_H
#define UF_TUNABLES_CLI_H

#include <stddef.h>

#include "tunables/layers.h"

/* What the command line asks for besides settings. HELP, VERSION and MARKDOWN end the
 * scan (the low two bits); PRINT and CHECK combine with each other and with settings. */
enum {
    TUN_ACT_NONE = 0,
    TUN_ACT_HELP = 1,
    TUN_ACT_VERSION = 2,
    TUN_ACT_MARKDOWN = 3,
    TUN_ACT_PRINT = 1 << 2,
    TUN_ACT_CHECK = 1 << 3,
};
#define TUN_ACT_ENDS_SCAN 3 /* the mask of HELP, VERSION and MARKDOWN */

/* Scans args[0, count) of `layer` (TUN_L_CLI or TUN_L_CMD_ARGS) into vals (room for count
 * pairs; *nvals is set to how many). --help and friends set *action, and --help, --version
 * and an unknown flag act as soon as they are reached, as in argparse: `--help` works even
 * when the environment holds a bad value. Returns 0, or TUN_ERROR with ps->err filled. */
int tun_scan_args(tun_parse_state_t *ps, enum tun_layer layer, int count, char **args,
                  tun_arg_value_t *vals, size_t *nvals, int *action);

/* Splits text (UWSGI_FAST_CMD_ARGS) into ps->words the way a POSIX shell splits words.
 * Returns 0, or TUN_ERROR with ps->err filled when a quote is not closed. */
int tun_split_words(tun_parse_state_t *ps, const char *text);

#endif
