/* Settings: the table of tunables/table.h as C data, its lookups, and the words that
 * describe a row (see settings.h). */
#include "tunables/settings.h"

#include <stdio.h>
#include <string.h>

#include "tunables/text.h"

const char *const tun_section_titles[TUN_SEC_COUNT] = {
#define X(id, title) title,
    TUN_SECTIONS(X)
#undef X
};

const tun_setting_t tun_settings[TUN_N_SETTINGS] = {
#define X(name_, type_, short_, long_, alias_, metavar_, env_, key_, def_, min_, max_, flags_,     \
          compat_, cfmt_, reload_, section_, help_)                                                \
    {.name = #name_,                                                                               \
     .type = TUN_T_##type_,                                                                        \
     .short_flag = short_,                                                                         \
     .long_flag = long_,                                                                           \
     .alias = alias_,                                                                              \
     .metavar = metavar_,                                                                          \
     .env = TUN_ENV_PREFIX #env_,                                                                  \
     .key = key_,                                                                                  \
     .def = def_,                                                                                  \
     .min = min_,                                                                                  \
     .max = max_,                                                                                  \
     .flags = flags_,                                                                              \
     .compat_env = compat_,                                                                        \
     .compat_fmt = cfmt_,                                                                          \
     .reload = reload_,                                                                            \
     .section = TUN_SEC_##section_,                                                                \
     .help = help_,                                                                                \
     .offset = offsetof(tun_config_t, name_)},
    TUN_SETTINGS(X)
#undef X
};

const tun_refusal_t tun_refused[TUN_N_REFUSED] = {
#define R(key_, short_, long_, alias_, arg_, harmless_, kind_, reason_)                            \
    {.key = #key_,                                                                                 \
     .short_flag = short_,                                                                         \
     .long_flag = long_,                                                                           \
     .alias = alias_,                                                                              \
     .arg = arg_,                                                                                  \
     .harmless = harmless_,                                                                        \
     .kind = TUN_R_##kind_,                                                                        \
     .reason = reason_},
    TUN_REFUSED(R)
#undef R
};

const char *const tun_hooks[TUN_N_HOOKS] = {
#define H(name_) #name_,
    TUN_HOOKS(H)
#undef H
};

/* Each row's field must have the C type its row's type implies, or the generic setters
 * (tunables/values.c) would write the wrong width. */
#define CTYPE_INT      int
#define CTYPE_INT64    long long
#define CTYPE_DOUBLE   double
#define CTYPE_STRING   char *
#define CTYPE_BOOL     bool
#define CTYPE_PATHS    char **
#define CTYPE_BINDS    tun_bind_t *
#define CTYPE_LOGLEVEL int
#define X(name_, type_, ...)                                                                       \
    _Static_assert(_Generic(((tun_config_t *)0)->name_, CTYPE_##type_ : 1, default : 0),           \
                   "tun_config_t." #name_ " is not of the C type of a " #type_ " setting");
TUN_SETTINGS(X)
#undef X

/* A list setting keeps its element count in the size_t right after its array pointer, and
 * an `auto` setting its flag in the bool right after its int, so the setters can find them
 * from the row's offset alone. A new such setting needs the same layout and a line here. */
_Static_assert(offsetof(tun_config_t, pythonpath_count) ==
                   offsetof(tun_config_t, pythonpath) + sizeof(char **),
               "pythonpath_count must follow pythonpath");
_Static_assert(offsetof(tun_config_t, bind_count) ==
                   offsetof(tun_config_t, binds) + sizeof(tun_bind_t *),
               "bind_count must follow binds");
_Static_assert(offsetof(tun_config_t, raw_env_count) ==
                   offsetof(tun_config_t, raw_env) + sizeof(char **),
               "raw_env_count must follow raw_env");
_Static_assert(offsetof(tun_config_t, workers_auto) ==
                   offsetof(tun_config_t, workers) + sizeof(int),
               "workers_auto must follow workers");

const char *const tun_log_levels[LOG_LEVEL_COUNT] = {
    [LOG_LEVEL_DEBUG] = "debug", [LOG_LEVEL_INFO] = "info",         [LOG_LEVEL_WARNING] = "warning",
    [LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_CRITICAL] = "critical",
};

const char *const tun_type_names[] = {
    [TUN_T_INT] = "int",
    [TUN_T_INT64] = "int",
    [TUN_T_DOUBLE] = "float",
    [TUN_T_STRING] = "string",
    [TUN_T_BOOL] = "bool",
    [TUN_T_PATHS] = "list",
    [TUN_T_BINDS] = "list of addresses",
    [TUN_T_LOGLEVEL] = "log level",
};

/* ---- lookups ---------------------------------------------------------------------- */

/* Whether name[0, len) is the long flag or its alias (either may be NULL). */
static bool is_flag(const char *long_flag, const char *alias, const char *name, size_t len)
{
    return (long_flag && strlen(long_flag) == len && memcmp(long_flag, name, len) == 0) ||
           (alias && strlen(alias) == len && memcmp(alias, name, len) == 0);
}

int tun_find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++)
        if (is_flag(tun_settings[i].long_flag, tun_settings[i].alias, name, len))
            return (int)i;
    return -1;
}

int tun_find_short(char c)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++)
        if (c && tun_settings[i].short_flag == c)
            return (int)i;
    return -1;
}

int tun_find_key(const char *key)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++)
        if (strcmp(tun_settings[i].key, key) == 0)
            return (int)i;
    return -1;
}

int tun_find_refused_long(const char *name, size_t len)
{
    for (size_t i = 0; i < TUN_N_REFUSED; i++)
        if (is_flag(tun_refused[i].long_flag, tun_refused[i].alias, name, len))
            return (int)i;
    return -1;
}

int tun_find_refused_short(char c)
{
    for (size_t i = 0; i < TUN_N_REFUSED; i++)
        if (c && tun_refused[i].short_flag == c)
            return (int)i;
    return -1;
}

int tun_find_refused_key(const char *key)
{
    for (size_t i = 0; i < TUN_N_REFUSED; i++)
        if (strcmp(tun_refused[i].key, key) == 0)
            return (int)i;
    return -1;
}

const char *tun_hook_name(enum tun_hook h)
{
    return tun_hooks[h];
}

int tun_hook_index(const char *name)
{
    for (size_t i = 0; i < TUN_N_HOOKS; i++)
        if (strcmp(tun_hooks[i], name) == 0)
            return (int)i;
    return -1;
}

/* The setting given as the bare argument (the application). */
int tun_positional_index(void)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++)
        if (!tun_settings[i].long_flag)
            return (int)i;
    UF_ASSERT(!"the table has a positional setting");
    return -1;
}

int tun_config_index(void)
{
    for (size_t i = 0; i < TUN_N_SETTINGS; i++)
        if (tun_settings[i].flags & TUN_F_CONFIG)
            return (int)i;
    UF_ASSERT(!"the table has a config file setting");
    return -1;
}

/* ---- descriptions --------------------------------------------------------------------- */

/* How a message names the setting: its long flag, or for the positional argument, what
 * it is. */
void tun_flag_name(const tun_setting_t *s, char *out, size_t n)
{
    if (s->long_flag)
        snprintf(out, n, "--%s", s->long_flag);
    else
        snprintf(out, n, "application (%s)", s->metavar);
}

/* What a setting accepts, for error messages and the docs' "accepted" column. */
void tun_describe_accepted(const tun_setting_t *s, buf_t *b)
{
    switch (s->type) {
    case TUN_T_INT:
    case TUN_T_INT64:
        if (s->flags & TUN_F_POW2)
            buf_printf(b, "a power of two from %.0f to %.0f", s->min, s->max);
        else
            buf_printf(b, "%.0f to %.0f", s->min, s->max);
        if (s->flags & TUN_F_AUTO)
            buf_append_str(b, ", or auto");
        break;
    case TUN_T_DOUBLE:
        buf_printf(b, "%g to %g", s->min, s->max);
        break;
    case TUN_T_STRING:
        if (s->flags & TUN_F_CONFIG)
            buf_append_str(b, "a .toml file or a gunicorn .py config file");
        else if (s->flags & TUN_F_IPLIST)
            buf_append_str(b, "*, or IP addresses and networks (ADDRESS/BITS), comma separated");
        else if (s->flags & TUN_F_PAIRS)
            buf_append_str(b, "HEADER=VALUE pairs, comma separated");
        else if (s->flags & TUN_F_DIR)
            buf_append_str(b, "an existing directory");
        else if (s->flags & TUN_F_USER)
            buf_append_str(b, "a user name (getent passwd) or a numeric user id");
        else if (s->flags & TUN_F_GROUP)
            buf_append_str(b, "a group name (getent group) or a numeric group id");
        else if (s->flags & TUN_F_PPMODE)
            buf_append_str(b, "off, v1, v2 or auto (also false, none, 0, true, 1)");
        else if (s->flags & TUN_F_PROTOCOL)
            buf_append_str(b, "http or uwsgi");
        else if (s->flags & TUN_F_MODE)
            buf_append_str(b, "0 to 0o777, in octal (0o22 or 022), hex (0x12) or decimal (18)");
        else if (!s->long_flag)
            buf_append_str(b, s->metavar);
        else if (s->flags & TUN_F_NONEMPTY)
            buf_append_str(b, "non-empty text");
        else
            buf_append_str(b, "any text");
        break;
    case TUN_T_BOOL:
        buf_append_str(b, "true, false, yes, no, on, off, 1, 0");
        break;
    case TUN_T_PATHS:
        if (s->flags & TUN_F_PAIRS)
            buf_append_str(b, "NAME=VALUE, one per flag");
        else
            buf_append_str(b, "directories, comma separated");
        break;
    case TUN_T_BINDS:
        buf_append_str(b, "HOST:PORT, [IPV6]:PORT, HOST (port 8000), :PORT (all IPv4 "
                          "interfaces) with a port from 1 to 65535, unix:PATH, unix:@NAME "
                          "or fd://N; uwsgi:// in front of any of them speaks the uwsgi "
                          "protocol");
        break;
    case TUN_T_LOGLEVEL:
        for (size_t i = 0; i < LOG_LEVEL_COUNT; i++)
            buf_printf(b, "%s%s", i ? ", " : "", tun_log_levels[i]);
        break;
    }
}

/* Writes `fmt` with its one "%s" replaced by `value`. Done by hand rather than through
 * printf so that a format column can never be misread as more conversions. */
void tun_substitute(buf_t *b, const char *fmt, const char *value)
{
    const char *at = strstr(fmt, "%s");
    if (!at) {
        buf_append_str(b, fmt);
        return;
    }
    buf_append(b, fmt, (size_t)(at - fmt));
    buf_append_str(b, value);
    buf_append_str(b, at + 2);
}

/* The default as --help and the docs show it: never the value computed on this host, so
 * that docs/settings.md is the same everywhere. */
void tun_describe_default(const tun_setting_t *s, buf_t *b)
{
    if (s->flags & TUN_F_REQUIRED) {
        buf_append_str(b, "required");
        return;
    }
    if (s->flags & TUN_F_CONFIG)
        buf_append_str(b, "./" TUN_TOML_DEFAULT_FILE " or ./" TUN_PY_DEFAULT_FILE " when present");
    else if (s->flags & TUN_F_CPUS)
        buf_append_str(b, "the number of CPUs available");
    else if (s->def)
        buf_append_str(b, s->def);
    else
        buf_append_str(b, "none");
    if (s->compat_env) {
        char var[64];
        snprintf(var, sizeof(var), "$%s", s->compat_env);
        buf_append_str(b, ", or ");
        tun_substitute(b, s->compat_fmt, var);
        if (strcmp(s->compat_fmt, "%s") == 0)
            buf_append_str(b, " when set");
        else
            buf_printf(b, " when %s is set", s->compat_env);
    }
}

/* The one message for a value a setting does not take. */
int tun_fail_value(const tun_setting_t *s, const char *who, const char *value, const char *what,
                   char *err, size_t errlen)
{
    buf_t acc = {0};
    tun_describe_accepted(s, &acc);
    tun_fail(err, errlen, "%s: \"%.*s\" %s (accepted: %s)", who, TUN_SHOWN(value), what,
             tun_buf_cstr(&acc));
    buf_free(&acc);
    return TUN_ERROR;
}

/* Pending settings say so wherever their help is shown. */
void tun_describe_help(const tun_setting_t *s, buf_t *b)
{
    buf_append_str(b, s->help);
    if (s->flags & TUN_F_PENDING)
        buf_append_str(b, " (accepted, not acted on yet)");
}
