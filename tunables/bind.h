/* Bind: one --bind listen address, parsed the way gunicorn reads it and resolved.
 *
 * Accepts "HOST:PORT", "[IPV6]:PORT", "HOST" (port 8000) and ":PORT" (all IPv4
 * interfaces), with an optional "tcp://" in front; "unix:PATH" (also "unix://PATH", as
 * gunicorn) and "unix:@NAME" for the abstract namespace; "fd://N" for a socket the
 * caller already bound; any of these with "uwsgi://" in front speaks the uwsgi protocol
 * ("uwsgi://127.0.0.1:9000", "uwsgi://unix:/run/app.sock"). A host name is resolved here, with
 * getaddrinfo, and its first IPv4 address preferred, as gunicorn's AF_INET socket for a name would;
 * a bracketed host must be a numeric IPv6 address, so no lookup leaves the machine for it. Whether
 * a path or a descriptor is usable is the master's business (src/listeners.c). No state.
 *
 * Private to tunables/: tunables/values.c calls it for each element of a BINDS setting. */
#ifndef UF_TUNABLES_BIND_H
#define UF_TUNABLES_BIND_H

#include <stddef.h>

#include "tunables/tunables.h"

#define TUN_DEFAULT_PORT 8000

/* Parses spec into out (zeroed first; out->spec keeps the text for messages). Returns 0,
 * or TUN_ERROR with the reason in why (whylen bytes) as a phrase that follows the value,
 * without the setting's name: "has no port after the colon". */
int tun_bind_parse(const char *spec, tun_bind_t *out, char *why, size_t whylen);

#endif
