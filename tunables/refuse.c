/* Refuse: gunicorn settings uwsgi-fast does not have, refused with a reason or accepted
 * when they ask for nothing (see refuse.h). */
#include "tunables/refuse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tunables/text.h"
#include "tunables/values.h"

/* How a refused setting is named to the user: its flags on a command line, its key in a
 * config file. */
static void refusal_name(const tun_refusal_t *r, bool as_flag, char *out, size_t n)
{
    if (!as_flag || !r->long_flag)
        snprintf(out, n, "%s", r->key);
    else if (r->short_flag)
        snprintf(out, n, "-%c/--%s", r->short_flag, r->long_flag);
    else
        snprintf(out, n, "--%s", r->long_flag);
}

/* Whether `value` is one of the refusal's harmless values: the value gunicorn itself uses
 * when the setting is absent, so it asks uwsgi-fast for nothing. Booleans compare as
 * booleans, anything else without regard to case. */
static bool harmless(const tun_refusal_t *r, const char *value)
{
    if (!r->harmless || !value)
        return false;
    const char *p = r->harmless;
    while (*p) {
        size_t len = strcspn(p, "|");
        char alt[128];
        snprintf(alt, sizeof(alt), "%.*s", (int)len, p);
        int a = tun_bool_word(alt), v = tun_bool_word(value);
        if (a >= 0 && (strcmp(alt, "true") == 0 || strcmp(alt, "false") == 0)) {
            if (v == a)
                return true;
        } else if (strcasecmp(alt, value) == 0) {
            return true;
        }
        p += len + (p[len] == '|');
    }
    return false;
}

int tun_refuse(tun_parse_state_t *ps, const tun_refusal_t *r, const char *value, const char *prefix,
               bool as_flag, const char *where)
{
    char name[96];
    refusal_name(r, as_flag, name, sizeof(name));
    if (r->kind == TUN_R_NOOP) {
        char note[512];
        snprintf(note, sizeof(note), "%s (%s): accepted, no effect: %s", name, where, r->reason);
        tun_list_add(&ps->src->notes, &ps->src->note_count, uf_strdup(note));
        return 0;
    }
    if (harmless(r, value))
        return 0;
    if (r->kind == TUN_R_LATER && !as_flag) {
        /* a config file written for a newer gunicorn: it still starts, and says so */
        tun_add_warning(ps->cfg, "%s%s is not supported yet and is ignored: %s", prefix, name,
                        r->reason);
        return 0;
    }
    char tail[160] = "";
    if (r->harmless && strcmp(r->harmless, "false") != 0) {
        size_t len = strcspn(r->harmless, "|");
        snprintf(tail, sizeof(tail), " or set it to %.*s", (int)len, r->harmless);
    }
    if (r->kind == TUN_R_PLANNED || r->kind == TUN_R_LATER)
        return tun_fail(ps->err, ps->errlen, "%s%s is not supported yet (planned): %s; remove it%s",
                        prefix, name, r->reason, tail);
    return tun_fail(ps->err, ps->errlen, "%s%s is not supported: %s; remove it%s", prefix, name,
                    r->reason, tail);
}
