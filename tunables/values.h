/* Values: the parsers that turn one setting's text into its typed field of tun_config_t.
 *
 * Every value, whichever layer it comes from (command line, UWSGI_FAST_CMD_ARGS, the
 * environment, a config file, the default), goes through tun_set_value, so a setting is
 * validated the same way everywhere and rejected with the same message. The parsers read
 * the table's bounds and flags (tunables/settings.h); they keep no state. Checks that need
 * the file system (TUN_F_DIR) or name resolution (--bind, tunables/bind.h) happen here,
 * at parse time, so a typo stops the master before it forks.
 *
 * Private to tunables/. */
#ifndef UF_TUNABLES_VALUES_H
#define UF_TUNABLES_VALUES_H

#include "tunables/settings.h"

/* Parses v as setting s into its field of cfg. Scalars are replaced; lists are extended,
 * because a setting takes its value from one layer only (see tun_parse) and a list within
 * a layer is built by repeating the flag. `who` names the source in messages. Returns 0,
 * or TUN_ERROR with one line in err (err may be NULL to only test the value). */
int tun_set_value(const tun_setting_t *s, tun_config_t *cfg, const char *v, const char *who,
                  char *err, size_t errlen);

/* Empties list setting s (PATHS or BINDS) in cfg, so that a higher layer's list replaces a
 * lower one's. */
void tun_clear_list(const tun_setting_t *s, tun_config_t *cfg);

/* 1 for true, yes, on, 1; 0 for false, no, off, 0 (any case); -1 for anything else. */
int tun_bool_word(const char *v);

/* gunicorn's --proxy-protocol words as TUN_PROXY_V1 | TUN_PROXY_V2 bits: off, false, 0 and
 * none are 0; auto, true and 1 are both; v1 and v2 (any case, blanks around ignored); -1
 * for anything else. tun_proxy_protocol_name gives the word stored for such bits. */
int tun_proxy_protocol_word(const char *v);
const char *tun_proxy_protocol_name(unsigned versions);

/* CPUs the workers can use on this host: the affinity mask capped by a cgroup CPU quota
 * (sysconf's online count when the host cannot be read); at least 1. */
int tun_usable_cpus(void);

#endif
