/* Suggest: "did you mean" for a mistyped flag or config-file key.
 *
 * Compares the typo with every supported name by optimal string alignment distance and
 * offers the closest one when at most a third of its letters are wrong. Refused gunicorn
 * flags are never offered: suggesting a flag that is then refused would only send the
 * user round twice. No state.
 *
 * Private to tunables/. */
#ifndef UF_TUNABLES_SUGGEST_H
#define UF_TUNABLES_SUGGEST_H

#include <stddef.h>

/* The long flag (without dashes) closest to name[0, len), or NULL when none is close
 * enough to be a typo. Borrowed from the settings table. */
const char *tun_suggest_flag(const char *name, size_t len);

/* The config-file key closest to name, or NULL when none is close enough. */
const char *tun_suggest_key(const char *name);

#endif
