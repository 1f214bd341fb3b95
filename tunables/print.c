/* Print: --print-config (see print.h). */
#include "tunables/print.h"

#include <stdio.h>

#include "tunables/layers.h"
#include "tunables/text.h"

#define PRINT_COLUMN 44 /* where --print-config puts the source comment */

/* Appends s as a TOML basic string. */
static void toml_quote(buf_t *b, const char *s)
{
    buf_append_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            buf_append_str(b, "\\n");
        else if (*p == '\t')
            buf_append_str(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            buf_printf(b, "\\u%04x", *p);
        else
            buf_append(b, p, 1);
    }
    buf_append_str(b, "\"");
}

bool tun_format_value(const tun_setting_t *s, const tun_config_t *cfg, buf_t *b)
{
    const void *f = tun_cfield(s, cfg);
    switch (s->type) {
    case TUN_T_INT:
        if ((s->flags & TUN_F_AUTO) && *(const bool *)((const char *)f + sizeof(int)))
            buf_append_str(b, "\"auto\"");
        else
            buf_printf(b, "%d", *(const int *)f);
        return true;
    case TUN_T_INT64:
        buf_printf(b, "%lld", *(const long long *)f);
        return true;
    case TUN_T_DOUBLE:
        buf_printf(b, "%.15g", *(const double *)f);
        return true;
    case TUN_T_BOOL:
        buf_append_str(b, *(const bool *)f ? "true" : "false");
        return true;
    case TUN_T_LOGLEVEL:
        toml_quote(b, tun_log_levels[*(const int *)f]);
        return true;
    case TUN_T_STRING: {
        const char *v = *(char *const *)f;
        if (!v && (s->flags & (TUN_F_REQUIRED | TUN_F_NONEMPTY)))
            return false;
        toml_quote(b, v ? v : "");
        return true;
    }
    case TUN_T_PATHS: {
        char *const *items = *(char **const *)f;
        size_t n = *(const size_t *)((const char *)f + sizeof(char **));
        buf_append_str(b, "[");
        for (size_t k = 0; k < n; k++) {
            if (k)
                buf_append_str(b, ", ");
            toml_quote(b, items[k]);
        }
        buf_append_str(b, "]");
        return true;
    }
    case TUN_T_BINDS: {
        const tun_bind_t *items = *(tun_bind_t *const *)f;
        size_t n = *(const size_t *)((const char *)f + sizeof(tun_bind_t *));
        buf_append_str(b, "[");
        for (size_t k = 0; k < n; k++) {
            if (k)
                buf_append_str(b, ", ");
            toml_quote(b, items[k].spec);
        }
        buf_append_str(b, "]");
        return true;
    }
    }
    return false;
}

static void describe_source(const tun_source_t *src, buf_t *b)
{
    switch (src->layer) {
    case TUN_L_DEFAULT:
        buf_append_str(b, "default");
        if (src->where[0])
            buf_printf(b, " (%s)", src->where);
        break;
    case TUN_L_COMPAT:
    case TUN_L_ENV:
        buf_printf(b, "environment %s", src->where);
        break;
    case TUN_L_FILE:
        buf_printf(b, "config file %s", src->where);
        break;
    case TUN_L_CMD_ARGS:
        buf_append_str(b, TUN_CMD_ARGS_ENV);
        break;
    case TUN_L_CLI:
        buf_append_str(b, "command line");
        break;
    }
}

static void print_line(buf_t *b, const char *text, const char *comment)
{
    size_t start = b->len;
    buf_append_str(b, text);
    size_t width = b->len - start;
    if (comment) {
        buf_printf(b, "%*s# %s", (int)(width + 2 > PRINT_COLUMN ? 2 : PRINT_COLUMN - width), "",
                   comment);
    }
    buf_append_str(b, "\n");
}

void tun_write_config(FILE *out, const tun_config_t *cfg)
{
    buf_t b = {0};
    buf_printf(&b,
               "# uwsgi-fast %s: every setting's effective value and where it came from.\n"
               "# Valid as a uwsgi-fast.toml; precedence: command line > " TUN_CMD_ARGS_ENV
               " >\n# UWSGI_FAST_<NAME> > config file > default.\n",
               UF_VERSION);
    for (int sec = 0; sec < TUN_SEC_COUNT; sec++) {
        buf_printf(&b, "\n# ---- %s\n", tun_section_titles[sec]);
        for (size_t i = 0; i < TUN_N_SETTINGS; i++) {
            const tun_setting_t *s = &tun_settings[i];
            if ((int)s->section != sec)
                continue;
            buf_t line = {0}, comment = {0};
            const tun_source_t *src = cfg->sources ? &cfg->sources->s[i] : NULL;
            if (src)
                describe_source(src, &comment);
            if (s->flags & TUN_F_CONFIG) {
                /* a config file cannot name a config file, so this line stays a comment */
                buf_printf(&line, "# %s = ", s->key);
                toml_quote(&line, cfg->config ? cfg->config : "");
            } else if (tun_format_value(s, cfg, &line)) {
                buf_t kv = {0};
                buf_printf(&kv, "%s = %.*s", s->key, (int)line.len, line.data);
                buf_free(&line);
                line = kv;
                if (s->type == TUN_T_INT && (s->flags & TUN_F_AUTO) && cfg->workers_auto)
                    buf_printf(&comment, "; at most %d, fewer if memory is short", cfg->workers);
            } else {
                buf_printf(&line, "# %s is not set", s->key);
                if (s->flags & TUN_F_REQUIRED)
                    buf_append_str(&line, " (required to start)");
            }
            print_line(&b, tun_buf_cstr(&line), src ? tun_buf_cstr(&comment) : NULL);
            buf_free(&line);
            buf_free(&comment);
        }
    }
    if (cfg->sources && cfg->sources->note_count) {
        buf_append_str(&b, "\n# ---- gunicorn settings accepted without effect\n");
        for (size_t i = 0; i < cfg->sources->note_count; i++)
            buf_printf(&b, "# %s\n", cfg->sources->notes[i]);
    }
    if (cfg->warning_count) {
        buf_append_str(&b, "\n# ---- warnings\n");
        for (size_t i = 0; i < cfg->warning_count; i++)
            buf_printf(&b, "# warning: %s\n", cfg->warnings[i]);
    }
    fwrite(b.data, 1, b.len, out);
    buf_free(&b);
}
