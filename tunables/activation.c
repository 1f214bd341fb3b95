/* Activation: systemd's LISTEN_* variables read into binds (see activation.h). */
#include "tunables/activation.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "tunables/text.h"

/* A whole non-negative decimal number (at most 9 digits) into *out. */
static bool whole(const char *s, long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 9 || strspn(s, "0123456789") != n)
        return false;
    *out = strtol(s, NULL, 10);
    return true;
}

/* The i-th colon-separated name of `names` (n of them) into out, or "" when there are not
 * exactly n. */
static void name_of(const char *names, size_t i, size_t n, char *out, size_t outlen)
{
    out[0] = 0;
    if (!names)
        return;
    size_t count = 1;
    for (const char *p = names; *p; p++)
        count += *p == ':';
    if (count != n)
        return;
    const char *p = names;
    for (size_t k = 0; k < i; k++)
        p = strchr(p, ':') + 1;
    size_t len = strcspn(p, ":");
    snprintf(out, outlen, "%.*s", (int)len, p);
}

int tun_activation_parse(const char *pid, const char *fds, const char *names, long self,
                         tun_bind_t **out, char *why, size_t whylen)
{
    long owner, n;
    *out = NULL;
    if (!pid)
        return 0;
    if (!whole(pid, &owner))
        return tun_fail(why, whylen, "LISTEN_PID=\"%.*s\" is not a process id", TUN_SHOWN(pid));
    if (owner != self)
        return 0; /* meant for the process that started us, not for us */
    if (!fds || !whole(fds, &n))
        return tun_fail(why, whylen, "LISTEN_FDS=\"%.*s\" is not a number of sockets",
                        TUN_SHOWN(fds ? fds : ""));
    if (n > TUN_LISTEN_FDS_MAX)
        return tun_fail(why, whylen, "LISTEN_FDS=%ld is more than %d sockets", n,
                        TUN_LISTEN_FDS_MAX);
    if (n == 0)
        return 0;
    tun_bind_t *b = uf_calloc((size_t)n, sizeof(tun_bind_t));
    for (long i = 0; i < n; i++) {
        char name[256];
        name_of(names, (size_t)i, (size_t)n, name, sizeof(name));
        b[i].kind = TUN_BIND_FD;
        b[i].fd = TUN_LISTEN_FDS_START + (int)i;
        snprintf(b[i].spec, sizeof(b[i].spec), "fd://%d (systemd%s%s)", b[i].fd,
                 name[0] ? ": " : "", name);
    }
    *out = b;
    return (int)n;
}
