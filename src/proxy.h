/* Proxy trust: which peers may speak for the client, and what the scheme headers of such
 * a peer say (gunicorn's forwarded_allow_ips and secure_scheme_headers).
 *
 * Pure: no I/O, no worker, no Python; a proxy_t is built once at worker setup and read
 * from then on, so any thread may call the readers. Its input is typed: the lists that
 * tunables parsed and validated (tunables/lists.h), so nothing here can be malformed.
 */
#ifndef UF_PROXY_H
#define UF_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/net.h"
#include "python_bridge/wsgi.h"
#include "tunables/lists.h"

/* A request header that, from a trusted peer, says https when it holds `value`. */
typedef struct proxy_scheme_header {
    char name[64];  /* compared ignoring case */
    char value[64]; /* the value that means https, compared ignoring case */
    uint8_t name_len, value_len;
} proxy_scheme_header_t;

typedef struct proxy {
    bool trust_all;      /* '*': every peer is trusted */
    net_cidr_t *trusted; /* the trusted networks */
    size_t trusted_count;
    proxy_scheme_header_t *schemes;
    size_t scheme_count;
} proxy_t;

/* What a trusted peer's scheme headers say. */
typedef enum proxy_scheme {
    PROXY_SCHEME_UNSAID = 0, /* none present (or the peer is not trusted) */
    PROXY_SCHEME_HTTP,       /* present, none with its https value */
    PROXY_SCHEME_HTTPS,      /* present, every one with its https value */
    PROXY_SCHEME_CONFLICT,   /* some say https, some do not: answer 400 (as gunicorn) */
} proxy_scheme_t;

/* Fills p with copies of the trusted networks (--forwarded-allow-ips) and the secure
 * scheme headers (--secure-scheme-headers) as tunables parsed them. */
void proxy_setup(proxy_t *p, const tun_netlist_t *trusted, const tun_pairs_t *schemes);

/* Frees what p holds and empties it. */
void proxy_free(proxy_t *p);

/* Whether the peer at sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as
 * its IPv4 address) may speak for the client. A unix-socket peer always may (gunicorn's
 * rule); any other family only with '*'. */
bool proxy_trusts(const proxy_t *p, const struct sockaddr *sa);

/* The scheme the headers say; PROXY_SCHEME_UNSAID when the peer is not `trusted`. A
 * header named SCRIPT_NAME is never read as a scheme header (it is the proxy's mount
 * point: proxy_script_name). */
proxy_scheme_t proxy_scheme(const proxy_t *p, bool trusted, const py_header_t *headers,
                            size_t count);

/* The SCRIPT_NAME a trusted peer sent (the last one wins) into *out; false, with *out
 * untouched, when there is none or the peer is not `trusted`. *out borrows from headers. */
bool proxy_script_name(bool trusted, const py_header_t *headers, size_t count, py_slice_t *out);

#endif
