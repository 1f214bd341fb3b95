/* Markdown: docs/settings.md, generated from the settings table (tun_write_markdown in
 * tunables.h, which is this file's interface). */
#include <stdio.h>
#include <string.h>

#include "tunables/settings.h"
#include "tunables/text.h"

/* Appends text escaped for a Markdown table cell. */
static void md_cell(buf_t *b, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|')
            buf_append_str(b, "\\|");
        else if (*p == '\n')
            buf_append_str(b, " ");
        else
            buf_append(b, p, 1);
    }
}

static void md_code(buf_t *b, const char *text)
{
    buf_append_str(b, "`");
    md_cell(b, text);
    buf_append_str(b, "`");
}

static void md_refused_flags(buf_t *b, const tun_refusal_t *r)
{
    buf_t cell = {0};
    if (!r->long_flag) {
        buf_append_str(b, "config file only");
        return;
    }
    if (r->short_flag) {
        buf_printf(&cell, "-%c", r->short_flag);
        md_code(b, tun_buf_cstr(&cell));
        buf_append_str(b, ", ");
        cell.len = 0;
    }
    buf_printf(&cell, "--%s%s%s", r->long_flag, r->arg ? " " : "", r->arg ? r->arg : "");
    md_code(b, tun_buf_cstr(&cell));
    if (r->alias) {
        cell.len = 0;
        buf_printf(&cell, "--%s%s%s", r->alias, r->arg ? " " : "", r->arg ? r->arg : "");
        buf_append_str(b, ", ");
        md_code(b, tun_buf_cstr(&cell));
    }
    buf_free(&cell);
}

/* One row of a section's table: a setting's name, flags, variable, key, type, default,
 * what it accepts, whether HUP applies it, and its help. */
static void md_setting_row(buf_t *b, const tun_setting_t *s)
{
    buf_t cell = {0};
    buf_append_str(b, "| ");
    md_code(b, s->name);
    buf_append_str(b, " | ");
    if (!s->long_flag) {
        md_code(b, s->metavar);
        buf_append_str(b, " (positional)");
    } else {
        if (s->short_flag) {
            buf_printf(&cell, "-%c", s->short_flag);
            md_code(b, tun_buf_cstr(&cell));
            buf_append_str(b, ", ");
            cell.len = 0;
        }
        const char *mv = s->type == TUN_T_BOOL ? "" : s->metavar;
        buf_printf(&cell, "--%s%s%s", s->long_flag, *mv ? " " : "", mv);
        md_code(b, tun_buf_cstr(&cell));
        if (s->alias) {
            cell.len = 0;
            buf_printf(&cell, "--%s%s%s", s->alias, *mv ? " " : "", mv);
            buf_append_str(b, ", ");
            md_code(b, tun_buf_cstr(&cell));
        }
    }
    buf_append_str(b, " | ");
    md_code(b, s->env);
    buf_append_str(b, " | ");
    if (s->flags & TUN_F_CONFIG)
        buf_append_str(b, "—");
    else
        md_code(b, s->key);
    buf_append_str(b, " | ");
    md_cell(b, tun_type_names[s->type]);
    buf_append_str(b, " | ");
    cell.len = 0;
    tun_describe_default(s, &cell);
    md_cell(b, tun_buf_cstr(&cell));
    buf_append_str(b, " | ");
    cell.len = 0;
    tun_describe_accepted(s, &cell);
    md_cell(b, tun_buf_cstr(&cell));
    buf_append_str(b, " | ");
    buf_append_str(b, s->reload ? "yes" : "no");
    buf_append_str(b, " | ");
    cell.len = 0;
    tun_describe_help(s, &cell);
    md_cell(b, tun_buf_cstr(&cell));
    buf_append_str(b, " |\n");
    buf_free(&cell);
}

/* One row of the refused gunicorn settings' table. */
static void md_refused_row(buf_t *b, const tun_refusal_t *r)
{
    static const char *const status[] = {
        [TUN_R_PLANNED] = "planned",
        [TUN_R_NEVER] = "not supported",
        [TUN_R_NOOP] = "accepted, no effect",
        [TUN_R_LATER] = "planned (a config file's entry is ignored with a warning)"};
    buf_append_str(b, "| ");
    md_code(b, r->key);
    buf_append_str(b, " | ");
    md_refused_flags(b, r);
    buf_printf(b, " | %s | ", status[r->kind]);
    if (r->harmless) {
        const char *p = r->harmless;
        while (*p) {
            size_t len = strcspn(p, "|");
            char alt[128];
            snprintf(alt, sizeof(alt), "%.*s", (int)len, p);
            if (p != r->harmless)
                buf_append_str(b, ", ");
            md_code(b, alt);
            p += len + (p[len] == '|');
        }
    }
    buf_append_str(b, " | ");
    md_cell(b, r->reason);
    buf_append_str(b, " |\n");
}

void tun_write_markdown(FILE *out)
{
    buf_t b = {0};
    buf_append_str(
        &b,
        "# Settings\n"
        "\n"
        "<!-- Generated from tunables/table.h by `uwsgi-fast --print-settings-markdown`; "
        "do not edit by hand. -->\n"
        "\n"
        "Every setting can be given on the command line, in `" TUN_CMD_ARGS_ENV "`, in its "
        "environment\n"
        "variable, or in a config file under its *key* (see [configuration.md](configuration.md)"
        "). A\n"
        "setting takes its value from the first of these that has one:\n"
        "\n"
        "1. the command line,\n"
        "2. `" TUN_CMD_ARGS_ENV "` (flags, split like a shell would, as gunicorn's "
        "`GUNICORN_CMD_ARGS`),\n"
        "3. its environment variable `UWSGI_FAST_<NAME>`,\n"
        "4. the config file (`-c FILE`, or `./uwsgi-fast.toml` or `./gunicorn.conf.py` when "
        "present),\n"
        "5. gunicorn's conventions where they apply (`WEB_CONCURRENCY`, `PORT`, "
        "`VIRTUAL_ENV`),\n"
        "6. the default.\n"
        "\n"
        "A list is never merged across these layers: the list from the highest layer replaces the\n"
        "others. Flags take their value as `--flag VALUE` or `--flag=VALUE`, short flags as `-w 4` "
        "or\n"
        "`-w4`. An empty environment variable counts as unset. `uwsgi-fast --print-config` shows\n"
        "every effective value and which layer it came from; `--check-config` validates and "
        "exits.\n"
        "\n"
        "A value that is not accepted stops uwsgi-fast at start with one line naming the "
        "setting and\n"
        "what it accepts, and exit status 2.\n"
        "\n"
        "*Reloadable* settings take their new value on a graceful reload (`kill -HUP` on the "
        "master);\n"
        "the others need a restart.\n");
    for (int sec = 0; sec < TUN_SEC_COUNT; sec++) {
        buf_printf(&b, "\n## %s\n\n", tun_section_titles[sec]);
        buf_append_str(&b, "| setting | flags | environment | config key | type | default | "
                           "accepted | reloadable | description |\n");
        buf_append_str(&b, "|---|---|---|---|---|---|---|---|---|\n");
        for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
            const tun_setting_t *s = &tun_settings[i];
            if ((int)s->section != sec)
                continue;
            md_setting_row(&b, s);
        }
    }

    buf_append_str(
        &b, "\n## gunicorn settings uwsgi-fast does not have\n"
            "\n"
            "Each of these, given on the command line, in `" TUN_CMD_ARGS_ENV "` or in a config "
            "file, stops\n"
            "uwsgi-fast at start with its reason (exit status 2); none is ignored silently. The "
            "values in\n"
            "the *harmless* column ask for nothing and are accepted (they are gunicorn's own "
            "defaults).\n"
            "*Accepted, no effect* settings are taken as they are because uwsgi-fast already "
            "behaves so.\n"
            "The settings of gunicorn 24-27 for features not here yet (HTTP/2, ASGI, WebSockets, "
            "dirty workers,\n"
            "the control socket) stop it as flags, but in a config file written for that "
            "gunicorn each is\n"
            "ignored with a warning that names it.\n"
            "\n"
            "| gunicorn setting | flags | status | harmless | reason |\n"
            "|---|---|---|---|---|\n");
    for (size_t i = 0; i < TUN_N_REFUSED; i++)
        md_refused_row(&b, &tun_refused[i]);
    buf_append_str(&b, "\n## gunicorn server hooks\n\n"
                       "A gunicorn.conf.py may define these, and a uwsgi-fast.toml may name "
                       "them as\n`hook = \"MODULE:FUNCTION\"`; docs/configuration.md says "
                       "where and when each runs: ");
    for (size_t i = 0; i < TUN_N_CALLED_HOOKS; i++) {
        if (i)
            buf_append_str(&b, ", ");
        md_code(&b, tun_hooks[i]);
    }
    buf_append_str(&b, ".\n\nThese are recognised and never called, with a warning at start "
                       "naming each one\ndefined (no TLS here; no dirty workers yet): ");
    for (size_t i = TUN_N_CALLED_HOOKS; i < TUN_N_HOOKS; i++) {
        if (i > TUN_N_CALLED_HOOKS)
            buf_append_str(&b, ", ");
        md_code(&b, tun_hooks[i]);
    }
    buf_append_str(&b, ".\n");
    fwrite(b.data, 1, b.len, out);
    buf_free(&b);
}
