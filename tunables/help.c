/* Help: the --help text, generated from the settings table (tun_write_help in
 * tunables.h, which is this file's interface). */
#include <stdio.h>
#include <string.h>

#include "tunables/settings.h"
#include "tunables/text.h"

#define HELP_WIDTH  100
#define HELP_INDENT 32

/* Appends text to a help entry, wrapping at HELP_WIDTH with continuation lines indented to
 * HELP_INDENT. An atomic piece ("(default: …)", "[env: …]") is kept on one line, so a
 * reader grepping for an environment variable finds it whole, unless it could not fit on
 * any line. */
static void wrap(buf_t *b, size_t *col, const char *text, bool atomic)
{
    const char *p = text;
    if (strlen(text) > HELP_WIDTH - HELP_INDENT)
        atomic = false;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = atomic ? strlen(p) : strcspn(p, " ");
        if (*col > HELP_INDENT && *col + 1 + len > HELP_WIDTH) {
            buf_printf(b, "\n%*s", HELP_INDENT, "");
            *col = HELP_INDENT;
        } else if (*col > HELP_INDENT) {
            buf_append_str(b, " ");
            (*col)++;
        }
        buf_append(b, p, len);
        *col += len;
        p += len;
    }
}

static void help_entry(buf_t *b, const char *flags, const char *text, const char *deflt,
                       const char *env)
{
    size_t col = 2 + strlen(flags);
    buf_printf(b, "  %s", flags);
    if (col + 2 > HELP_INDENT) {
        buf_printf(b, "\n%*s", HELP_INDENT, "");
    } else {
        buf_printf(b, "%*s", (int)(HELP_INDENT - col), "");
    }
    col = HELP_INDENT;
    wrap(b, &col, text, false);
    if (deflt)
        wrap(b, &col, deflt, true);
    if (env)
        wrap(b, &col, env, true);
    buf_append_str(b, "\n");
}

static void help_flags(const tun_setting_t *s, buf_t *b)
{
    if (!s->long_flag) {
        buf_append_str(b, s->metavar);
        return;
    }
    if (s->short_flag)
        buf_printf(b, "-%c, ", s->short_flag);
    else
        buf_append_str(b, "    ");
    buf_printf(b, "--%s", s->long_flag);
    if (s->alias)
        buf_printf(b, ", --%s", s->alias);
    if (s->type != TUN_T_BOOL)
        buf_printf(b, " %s", s->metavar);
}

/* Every setting, by section: flags, help, default and environment variable. */
static void help_settings(buf_t *b)
{
    for (int sec = 0; sec < TUN_SEC_COUNT; sec++) {
        buf_printf(b, "\n%s:\n", tun_section_titles[sec]);
        for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
            const tun_setting_t *s = &tun_settings[i];
            if ((int)s->section != sec)
                continue;
            buf_t flags = {0}, deflt = {0}, env = {0}, text = {0};
            help_flags(s, &flags);
            tun_describe_help(s, &text);
            if (s->flags & TUN_F_REQUIRED) {
                buf_append_str(&deflt, "(required)");
            } else {
                buf_append_str(&deflt, "(default: ");
                tun_describe_default(s, &deflt);
                buf_append_str(&deflt, ")");
            }
            buf_printf(&env, "[env: %s]", s->env);
            help_entry(b, tun_buf_cstr(&flags), tun_buf_cstr(&text), tun_buf_cstr(&deflt),
                       tun_buf_cstr(&env));
            buf_free(&flags);
            buf_free(&deflt);
            buf_free(&env);
            buf_free(&text);
        }
    }
}

/* The refused gunicorn flags, wrapped, and those accepted without effect. */
static void help_refused(buf_t *b)
{
    buf_append_str(b, "\ngunicorn flags that are refused with a reason (see docs/settings.md):\n");
    size_t col = 2;
    buf_append_str(b, "  ");
    for (size_t i = 0; i < TUN_N_REFUSED; i++) {
        const tun_refusal_t *r = &tun_refused[i];
        if (!r->long_flag || r->kind == TUN_R_NOOP)
            continue;
        char one[96];
        snprintf(one, sizeof(one), "--%s", r->long_flag);
        size_t len = strlen(one);
        if (col > 2 && col + 1 + len > HELP_WIDTH) {
            buf_append_str(b, "\n  ");
            col = 2;
        } else if (col > 2) {
            buf_append_str(b, " ");
            col++;
        }
        buf_append_str(b, one);
        col += len;
    }
    buf_append_str(b, "\nAccepted without effect:");
    for (size_t i = 0; i < TUN_N_REFUSED; i++)
        if (tun_refused[i].kind == TUN_R_NOOP && tun_refused[i].long_flag)
            buf_printf(b, " --%s", tun_refused[i].long_flag);
    buf_append_str(b, "\n");
}

void tun_write_help(FILE *out)
{
    buf_t b = {0};
    buf_append_str(&b, "usage: uwsgi-fast [OPTIONS] MODULE:CALLABLE\n"
                       "       uwsgi-fast doctor [--root DIR] [OPTIONS]\n"
                       "\n"
                       "Serves the Python WSGI application MODULE:CALLABLE over HTTP/1.1 from "
                       "pre-forked workers,\n"
                       "each with its own io_uring ring. Options follow gunicorn's names and "
                       "meanings; `doctor`\n"
                       "audits this host for uwsgi-fast and prints what to change.\n"
                       "\n"
                       "Every setting can also come from a config file (-c; uwsgi-fast.toml or a "
                       "gunicorn.conf.py,\n"
                       "under the key shown in docs/settings.md), from the environment variable "
                       "shown beside it,\n"
                       "and from " TUN_CMD_ARGS_ENV ". Precedence: command line > " TUN_CMD_ARGS_ENV
                       " > environment\n"
                       "> config file > gunicorn's WEB_CONCURRENCY, PORT, VIRTUAL_ENV and "
                       "FORWARDED_ALLOW_IPS > default.\n"
                       "Values are given as --flag VALUE or --flag=VALUE, and -w 4 or -w4.\n");
    help_settings(&b);
    buf_append_str(&b, "\nOther options:\n");
    help_entry(&b, "-h, --help", "show this help and exit", NULL, NULL);
    help_entry(&b, "-v, --version", "print the version and exit", NULL, NULL);
    help_entry(&b, "    --print-config",
               "print every effective setting and where it came from, then exit", NULL, NULL);
    help_entry(&b, "    --check-config",
               "validate the settings and exit: 0 when they are valid, 2 when not", NULL, NULL);

    help_refused(&b);
    fwrite(b.data, 1, b.len, out);
    buf_free(&b);
}
