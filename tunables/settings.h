/* Settings: tunables/table.h expanded into C data, and the words that describe a row.
 *
 * Owns the descriptor arrays every other tunables module reads: one tun_setting_t per
 * TUN_SETTINGS row (in table order), one tun_refusal_t per refused gunicorn setting, the
 * gunicorn hook names, the section titles and the log level words. They are constant;
 * nothing here has state. Lookups return a row index or -1 ("not found" is an answer, not
 * an error). The descriptions (flag name, what is accepted, the default) are the same
 * words the error messages, --help and docs/settings.md use, so they are written once.
 *
 * Private to tunables/: the public face is tunables/tunables.h. */
#ifndef UF_TUNABLES_SETTINGS_H
#define UF_TUNABLES_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/mem.h"
#include "tunables/table.h"
#include "tunables/tunables.h"

/* What the build says about itself (build.zig defines each; these are a bare compile's).
 * UF_PYTHON is the interpreter whose libpython is embedded: it also runs a
 * gunicorn.conf.py when no virtualenv is configured. */
#ifndef UF_VERSION
#define UF_VERSION "0.0.0-dev"
#endif
#ifndef UF_PYTHON
#define UF_PYTHON "python3"
#endif
#ifndef UF_PYTHON_VERSION
#define UF_PYTHON_VERSION "?"
#endif
#ifndef UF_LINKED
#define UF_LINKED "liburing and mimalloc shared, llhttp compiled in"
#endif

#define TUN_ENV_PREFIX        "UWSGI_FAST_"
#define TUN_CMD_ARGS_ENV      "UWSGI_FAST_CMD_ARGS"
#define TUN_TOML_DEFAULT_FILE "uwsgi-fast.toml"
#define TUN_PY_DEFAULT_FILE   "gunicorn.conf.py"

enum tun_section {
#define X(id, title) TUN_SEC_##id,
    TUN_SECTIONS(X)
#undef X
        TUN_SEC_COUNT
};

/* Counts the rows of an X-macro table at compile time, so array sizes are constants. */
#define TUN_COUNT_ROW(...) +1
enum {
    TUN_N_SETTINGS = 0 TUN_SETTINGS(TUN_COUNT_ROW),
    TUN_N_REFUSED = 0 TUN_REFUSED(TUN_COUNT_ROW),
    TUN_N_HOOKS = 0 TUN_HOOKS(TUN_COUNT_ROW),
};

/* One TUN_SETTINGS row; table.h documents the columns. */
typedef struct tun_setting {
    const char *name;
    enum tun_type type;
    char short_flag;
    const char *long_flag; /* NULL: the positional argument */
    const char *alias;
    const char *metavar;
    const char *env;
    const char *key;
    const char *def;
    double min, max;
    unsigned flags;
    const char *compat_env;
    const char *compat_fmt;
    bool reload;
    enum tun_section section;
    const char *help;
    size_t offset; /* of the field in tun_config_t */
} tun_setting_t;

/* One TUN_REFUSED row: a gunicorn setting uwsgi-fast does not have. */
typedef struct tun_refused_row {
    const char *key;
    char short_flag;
    const char *long_flag; /* NULL: config files only */
    const char *alias;
    const char *arg;      /* NULL: an on/off switch */
    const char *harmless; /* '|'-separated values that ask for nothing */
    enum tun_refusal kind;
    const char *reason;
} tun_refusal_t;

extern const tun_setting_t tun_settings[TUN_N_SETTINGS];
extern const tun_refusal_t tun_refused[TUN_N_REFUSED];
extern const char *const tun_hooks[TUN_N_HOOKS];
extern const char *const tun_section_titles[TUN_SEC_COUNT];
extern const char *const tun_log_levels[LOG_LEVEL_COUNT]; /* indexed by log_level_t */
extern const char *const tun_type_names[];                /* indexed by enum tun_type */

/* The field of cfg that setting s fills. */
static inline void *tun_field(const tun_setting_t *s, tun_config_t *cfg)
{
    return (char *)cfg + s->offset;
}

static inline const void *tun_cfield(const tun_setting_t *s, const tun_config_t *cfg)
{
    return (const char *)cfg + s->offset;
}

/* Row lookups: the index of the setting (or refusal) whose long flag or alias is
 * name[0, len), whose short flag is c, or whose config-file key is key; -1 when none. */
int tun_find_long(const char *name, size_t len);
int tun_find_short(char c);
int tun_find_key(const char *key);
int tun_find_refused_long(const char *name, size_t len);
int tun_find_refused_short(char c);
int tun_find_refused_key(const char *key);

/* The index of gunicorn's server hook `name` in tun_hooks (the called ones first, as
 * enum tun_hook), or -1. */
int tun_hook_index(const char *name);

/* The row of the positional argument (the application) and of the config file setting;
 * the table has exactly one of each (asserted). */
int tun_positional_index(void);
int tun_config_index(void);

/* How a message names setting s: "--LONG", or "application (METAVAR)" for the positional
 * argument. Writes at most n bytes into out, always terminated. */
void tun_flag_name(const tun_setting_t *s, char *out, size_t n);

/* Appends what s accepts: error messages and the docs' "accepted" column. */
void tun_describe_accepted(const tun_setting_t *s, buf_t *b);

/* Appends s's default as --help and the docs show it: never a value computed on this host,
 * so that docs/settings.md is the same everywhere. */
void tun_describe_default(const tun_setting_t *s, buf_t *b);

/* Appends s's help line, with " (accepted, not acted on yet)" for pending settings. */
void tun_describe_help(const tun_setting_t *s, buf_t *b);

/* Appends fmt with its one "%s" replaced by value (fmt without "%s" is appended as is). */
void tun_substitute(buf_t *b, const char *fmt, const char *value);

/* Writes `WHO: "VALUE" WHAT (accepted: ...)` into err and returns TUN_ERROR: the one
 * message for a value setting s does not take. */
int tun_fail_value(const tun_setting_t *s, const char *who, const char *value, const char *what,
                   char *err, size_t errlen);

#endif
