/* Config file: which one is read, reading it, and mapping its entries onto the table.
 *
 * The file comes from -c/--config on the command line or in UWSGI_FAST_CMD_ARGS, from
 * UWSGI_FAST_CONFIG, or else is ./uwsgi-fast.toml or ./gunicorn.conf.py when present (as
 * gunicorn reads ./gunicorn.conf.py). A .toml file is read with tunables/toml.h; any other
 * file is a gunicorn config run by a Python child process (tunables/pyconfig.h) whose
 * module-level names come back as TOML. Each entry is then a setting's value for the file
 * layer (kept in the parse state; tunables/layers.c applies it if no higher layer wins), a
 * refused gunicorn setting (refused now), a hook (a warning) or an error: unknown keys
 * stop a TOML file, and only near misses of a real key are warned about in a .py file.
 *
 * Private to tunables/. */
#ifndef UF_TUNABLES_CONFIG_FILE_H
#define UF_TUNABLES_CONFIG_FILE_H

#include "tunables/layers.h"

/* Decides which config file to read from the scanned argument layers and ps->envp, reads it
 * into ps->doc and maps it into ps->file (sets ps->cfg->config and the config setting's
 * source). Returns 0 (also when there is no file), or TUN_ERROR with ps->err filled. */
int tun_config_file_read(tun_parse_state_t *ps);

#endif
