/* Refuse: what happens when a gunicorn setting uwsgi-fast does not have is given.
 *
 * Each row of TUN_REFUSED is refused with its reason (planned or never), accepted without
 * effect (noted for --print-config), or accepted when its value is harmless: the value
 * gunicorn itself uses when the setting is absent, so it asks for nothing. The command line,
 * UWSGI_FAST_CMD_ARGS and config files all come here, so a refusal reads the same
 * wherever it was given. State: only the notes it adds to the parse state's sources.
 *
 * Private to tunables/. */
#ifndef UF_TUNABLES_REFUSE_H
#define UF_TUNABLES_REFUSE_H

#include <stdbool.h>

#include "tunables/layers.h"

/* Applies refused setting r given as `value` (NULL when a config file gave a value of a
 * type no gunicorn default has). `prefix` starts the message ("" on the command line),
 * `as_flag` names it by its flags rather than its key, `where` says where it was given.
 * Returns 0 when it is accepted (a no-op, noted in ps->src, or a harmless value), or
 * TUN_ERROR with the reason in ps->err. */
int tun_refuse(tun_parse_state_t *ps, const tun_refusal_t *r, const char *value, const char *prefix,
               bool as_flag, const char *where);

#endif
