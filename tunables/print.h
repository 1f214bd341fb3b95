/* Print: --print-config, every effective value and where it came from, as TOML that a
 * uwsgi-fast.toml could hold (tun_write_config in tunables.h).
 *
 * Also the one place a value is turned back into text, which tunables/layers.c uses to
 * tell whether a setting holds its default. No state.
 *
 * Private to tunables/ (tun_write_config itself is public). */
#ifndef UF_TUNABLES_PRINT_H
#define UF_TUNABLES_PRINT_H

#include <stdbool.h>

#include "tunables/settings.h"

/* Appends the effective value of s in cfg as TOML. Returns false (appending nothing) when
 * the value is unset and TOML cannot say so: a required or non-empty string without one. */
bool tun_format_value(const tun_setting_t *s, const tun_config_t *cfg, buf_t *b);

#endif
