/* Layers: tun_parse's state, shared by the modules that fill it, and where each value came
 * from.
 *
 * A setting takes its value from the highest layer that has one: command line >
 * UWSGI_FAST_CMD_ARGS > UWSGI_FAST_<NAME> > config file > compat variable > default.
 * tunables/layers.c runs tun_parse: tunables/cli.c scans the two argument layers into
 * (setting, value) pairs, tunables/config_file.c reads the config file into per-setting
 * entries, and layers.c then applies, for each setting, the one layer that wins. This
 * header is layers.c's interface to those modules: the parse state they fill and the
 * record of sources --print-config shows. The state lives on tun_parse's stack for one
 * call; nothing here is global.
 *
 * Private to tunables/. */
#ifndef UF_TUNABLES_LAYERS_H
#define UF_TUNABLES_LAYERS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "tunables/settings.h"
#include "tunables/toml.h"

/* The layers, lowest first; a setting takes its value from the highest one that has it. */
enum tun_layer { TUN_L_DEFAULT, TUN_L_COMPAT, TUN_L_FILE, TUN_L_ENV, TUN_L_CMD_ARGS, TUN_L_CLI };

typedef struct tun_source {
    enum tun_layer layer;
    char where[256]; /* the variable, "FILE:LINE", ... as --print-config shows it */
} tun_source_t;

/* Owned by the tun_config_t it describes (cfg->sources); freed by tun_config_free. */
struct tun_sources {
    tun_source_t s[TUN_N_SETTINGS];
    char **notes; /* accepted gunicorn settings without effect, for --print-config */
    size_t note_count;
};

typedef struct tun_arg_value {
    int setting;
    const char *value; /* borrowed from argv or the split UWSGI_FAST_CMD_ARGS */
} tun_arg_value_t;

typedef struct tun_file_value {
    const toml_value_t *value; /* NULL: the file does not set it */
    int line;                  /* 0 for a .py config */
} tun_file_value_t;

typedef struct tun_parse_state {
    tun_config_t *cfg;
    char **envp;
    char *err;
    size_t errlen;
    tun_arg_value_t *cli, *cmd;
    size_t ncli, ncmd;
    char **words; /* UWSGI_FAST_CMD_ARGS split like a shell would */
    size_t nwords;
    toml_doc_t doc;
    tun_file_value_t file[TUN_N_SETTINGS];
    char file_name[PATH_MAX]; /* the config file as given, for messages */
    bool file_is_py;
    struct tun_sources *src;
} tun_parse_state_t;

/* The value of name in envp ("K=V" strings, NULL-terminated; envp may be NULL), or NULL
 * when it is not there. Borrowed from envp. */
const char *tun_env_get(char **envp, const char *name);

/* Appends line (taking ownership) to a growable array of strings. */
void tun_list_add(char ***items, size_t *count, char *line);

/* Adds one formatted line (cut at 511 bytes) to cfg->warnings. */
void tun_add_warning(tun_config_t *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
