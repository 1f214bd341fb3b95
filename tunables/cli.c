/* CLI: the command line and UWSGI_FAST_CMD_ARGS scanned into (setting, value) pairs (see
 * cli.h). */
#include "tunables/cli.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "tunables/refuse.h"
#include "tunables/suggest.h"
#include "tunables/text.h"
#include "tunables/values.h"

/* One layer being scanned. */
typedef struct scan {
    tun_parse_state_t *ps;
    enum tun_layer layer;
    const char *prefix; /* starts every message: "" on the command line */
    const char *where;  /* the layer as a refusal note names it */
    int count;
    char **args;
    int i; /* the argument being read; a flag that takes the next one advances it */
    int *action;
} scan_t;

/* What reading one option found: go on with the next argument, stop scanning (--help), a
 * setting and its value, or (scan_builtin only) not a built-in flag. */
enum { SCAN_NEXT, SCAN_STOP, SCAN_VALUE, SCAN_NOT_BUILTIN };

/* Whether a following argument is another option rather than this flag's value. "-" (the
 * stderr log file) and negative numbers are values, so they go through validation and get
 * a message about the value instead of a baffling "needs a value". */
static bool looks_like_option(const char *a)
{
    return a[0] == '-' && a[1] && !isdigit((unsigned char)a[1]) && a[1] != '.';
}

static int fail_missing(tun_parse_state_t *ps, const char *prefix, const tun_setting_t *s)
{
    buf_t acc = {0};
    tun_describe_accepted(s, &acc);
    tun_fail(ps->err, ps->errlen, "%s--%s needs a value (accepted: %s)", prefix, s->long_flag,
             tun_buf_cstr(&acc));
    buf_free(&acc);
    return TUN_ERROR;
}

static int fail_unknown(tun_parse_state_t *ps, const char *prefix, const char *arg, size_t len)
{
    if (arg[1] == '-') {
        const char *near = tun_suggest_flag(arg + 2, len - 2);
        if (near)
            return tun_fail(ps->err, ps->errlen, "%sunknown option %.*s; did you mean --%s?",
                            prefix, (int)len, arg, near);
    }
    return tun_fail(ps->err, ps->errlen, "%sunknown option %.*s (see --help)", prefix, (int)len,
                    arg);
}

/* The next argument as this flag's value, unless there is none or it is another option. */
static const char *next_value(scan_t *sc)
{
    if (sc->i + 1 < sc->count && !looks_like_option(sc->args[sc->i + 1]))
        return sc->args[++sc->i];
    return NULL;
}

/* A refused gunicorn flag: its value is the inline one, "true" for a switch, or the next
 * argument, so that the refusal can tell a harmless value. */
static int scan_refused(scan_t *sc, const tun_refusal_t *r, const char *inline_value)
{
    const char *value = inline_value;
    if (!value)
        value = r->arg ? next_value(sc) : "true";
    if (tun_refuse(sc->ps, r, value, sc->prefix, true, sc->where) < 0)
        return TUN_ERROR;
    return SCAN_NEXT;
}

/* --help, --version, --print-settings-markdown, --print-config, --check-config: SCAN_STOP
 * or SCAN_NEXT when name[0, len) is one, SCAN_NOT_BUILTIN when it is not, TUN_ERROR when
 * it is given where it is not accepted. */
static int scan_builtin(scan_t *sc, const char *name, size_t len, bool has_value)
{
    static const struct {
        const char *name;
        int action;
    } builtins[] = {{"help", TUN_ACT_HELP},
                    {"version", TUN_ACT_VERSION},
                    {"print-settings-markdown", TUN_ACT_MARKDOWN},
                    {"print-config", TUN_ACT_PRINT},
                    {"check-config", TUN_ACT_CHECK}};
    int b = -1;
    for (size_t k = 0; k < UF_ARRAY_LEN(builtins); k++)
        if (strlen(builtins[k].name) == len && memcmp(builtins[k].name, name, len) == 0)
            b = (int)k;
    if (b < 0)
        return SCAN_NOT_BUILTIN;
    if (sc->layer != TUN_L_CLI)
        return tun_fail(sc->ps->err, sc->ps->errlen, "%s--%s is only accepted on the command line",
                        sc->prefix, builtins[b].name);
    if (has_value)
        return tun_fail(sc->ps->err, sc->ps->errlen, "--%s takes no value", builtins[b].name);
    if (builtins[b].action >= TUN_ACT_PRINT) {
        *sc->action |= builtins[b].action;
        return SCAN_NEXT;
    }
    *sc->action = builtins[b].action;
    return SCAN_STOP;
}

/* A "--NAME" or "--NAME=VALUE" argument. On SCAN_VALUE, *idx is the setting and *value its
 * value when the argument holds it (NULL: the next argument is the value). */
static int scan_long(scan_t *sc, const char *a, int *idx, const char **value)
{
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int rc = scan_builtin(sc, name, len, eq != NULL);
    if (rc != SCAN_NOT_BUILTIN)
        return rc;
    *idx = tun_find_long(name, len);
    /* --no-NAME switches a boolean off (gunicorn spells its negations so) */
    if (*idx < 0 && len > 3 && memcmp(name, "no-", 3) == 0 && !eq) {
        int neg = tun_find_long(name + 3, len - 3);
        if (neg >= 0 && tun_settings[neg].type == TUN_T_BOOL) {
            *idx = neg;
            *value = "false";
        }
    }
    if (*idx < 0) {
        int r = tun_find_refused_long(name, len);
        if (r < 0)
            return fail_unknown(sc->ps, sc->prefix, a, len + 2);
        return scan_refused(sc, &tun_refused[r], eq ? eq + 1 : NULL);
    }
    if (eq)
        *value = eq + 1;
    else if (tun_settings[*idx].type == TUN_T_BOOL && !*value)
        *value = "true"; /* a bare boolean flag switches it on */
    else if ((tun_settings[*idx].flags & TUN_F_PPMODE) &&
             (sc->i + 1 >= sc->count || tun_proxy_protocol_word(sc->args[sc->i + 1]) < 0))
        /* gunicorn's optional value (argparse nargs="?", const "auto"); only one of its
         * words is taken as the value, so `--proxy-protocol app:wsgi` leaves the
         * application alone where argparse would take it and fail */
        *value = "auto";
    return SCAN_VALUE;
}

/* A "-x", "-xVALUE" or "-x=VALUE" argument; results as scan_long's. */
static int scan_short(scan_t *sc, const char *a, int *idx, const char **value)
{
    if ((a[1] == 'h' || a[1] == 'v') && !a[2]) {
        if (sc->layer != TUN_L_CLI)
            return tun_fail(sc->ps->err, sc->ps->errlen,
                            "%s-%c is only accepted on the command line", sc->prefix, a[1]);
        *sc->action = a[1] == 'h' ? TUN_ACT_HELP : TUN_ACT_VERSION;
        return SCAN_STOP;
    }
    const char *inline_value = a[2] ? (a[2] == '=' ? a + 3 : a + 2) : NULL;
    *idx = tun_find_short(a[1]);
    if (*idx < 0) {
        int r = tun_find_refused_short(a[1]);
        if (r < 0)
            return fail_unknown(sc->ps, sc->prefix, a, 2);
        return scan_refused(sc, &tun_refused[r], inline_value);
    }
    if (inline_value) /* -w4, and -w=4 as argparse also reads it */
        *value = inline_value;
    else if (tun_settings[*idx].type == TUN_T_BOOL)
        *value = "true";
    return SCAN_VALUE;
}

/* The bare argument: the application, given once per layer. */
static int add_positional(scan_t *sc, const char *a, tun_arg_value_t *vals, size_t *nvals)
{
    int idx = tun_positional_index();
    for (size_t k = 0; k < *nvals; k++)
        if (vals[k].setting == idx)
            return tun_fail(sc->ps->err, sc->ps->errlen,
                            "%sunexpected argument \"%.*s\": the application is already "
                            "\"%.*s\"",
                            sc->prefix, TUN_SHOWN(a), TUN_SHOWN(vals[k].value));
    vals[(*nvals)++] = (tun_arg_value_t){idx, a};
    return 0;
}

int tun_scan_args(tun_parse_state_t *ps, enum tun_layer layer, int count, char **args,
                  tun_arg_value_t *vals, size_t *nvals, int *action)
{
    scan_t sc = {.ps = ps,
                 .layer = layer,
                 .prefix = layer == TUN_L_CLI ? "" : TUN_CMD_ARGS_ENV ": ",
                 .where = layer == TUN_L_CLI ? "command line" : TUN_CMD_ARGS_ENV,
                 .count = count,
                 .args = args,
                 .action = action};
    bool options_done = false;
    *nvals = 0;
    for (sc.i = 0; sc.i < count; sc.i++) {
        const char *a = args[sc.i];
        if (options_done || a[0] != '-' || !a[1]) {
            if (add_positional(&sc, a, vals, nvals) < 0)
                return TUN_ERROR;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        int idx = -1;
        const char *value = NULL;
        int rc = a[1] == '-' ? scan_long(&sc, a, &idx, &value) : scan_short(&sc, a, &idx, &value);
        if (rc < 0)
            return TUN_ERROR;
        if (rc == SCAN_STOP)
            return 0;
        if (rc == SCAN_NEXT)
            continue;
        if (!value && !(value = next_value(&sc)))
            return fail_missing(ps, sc.prefix, &tun_settings[idx]);
        vals[(*nvals)++] = (tun_arg_value_t){idx, value};
    }
    return 0;
}

/* Splits UWSGI_FAST_CMD_ARGS the way a POSIX shell splits words (what gunicorn's
 * GUNICORN_CMD_ARGS gets from shlex.split): blanks separate, '...' is literal, "..."
 * honours \" \\ \$ \` only, and a backslash outside quotes escapes the next character. */
int tun_split_words(tun_parse_state_t *ps, const char *text)
{
    buf_t w = {0};
    bool in_word = false;
    const char *p = text;
    while (*p) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\n') {
            if (in_word) {
                tun_list_add(&ps->words, &ps->nwords, uf_strdup(tun_buf_cstr(&w)));
                w.len = 0;
                in_word = false;
            }
            p++;
            continue;
        }
        in_word = true;
        if (c == '\'') {
            const char *close = strchr(p + 1, '\'');
            if (!close)
                goto unterminated;
            buf_append(&w, p + 1, (size_t)(close - p - 1));
            p = close + 1;
        } else if (c == '"') {
            for (p++; *p != '"'; p++) {
                if (!*p)
                    goto unterminated;
                if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                    p++;
                buf_append(&w, p, 1);
            }
            p++;
        } else if (c == '\\') {
            if (p[1])
                p++;
            buf_append(&w, p, 1);
            p++;
        } else {
            buf_append(&w, p, 1);
            p++;
        }
    }
    if (in_word)
        tun_list_add(&ps->words, &ps->nwords, uf_strdup(tun_buf_cstr(&w)));
    buf_free(&w);
    return 0;
unterminated:
    buf_free(&w);
    return tun_fail(ps->err, ps->errlen, TUN_CMD_ARGS_ENV ": a quote is not closed in \"%.*s\"",
                    TUN_SHOWN(text));
}
