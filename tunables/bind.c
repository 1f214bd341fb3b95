/* Bind: one --bind listen address parsed and resolved (see bind.h). */
#include "tunables/bind.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "tunables/text.h"

/* Splits p (after any "tcp://") into host (hostlen bytes) and the text after its colon
 * (*port, NULL when there is none); *bracketed says the host was written [IPV6]. */
static int split_host_port(const char *p, char *host, size_t hostlen, const char **port,
                           bool *bracketed, char *why, size_t whylen)
{
    *port = NULL;
    *bracketed = false;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close)
            return tun_fail(why, whylen, "has no closing ]");
        size_t len = (size_t)(close - p - 1);
        if (len == 0 || len >= hostlen)
            return tun_fail(why, whylen, "has no IPv6 address between [ and ]");
        memcpy(host, p + 1, len);
        host[len] = 0;
        *bracketed = true;
        if (close[1] == ':')
            *port = close + 2;
        else if (close[1])
            return tun_fail(why, whylen, "has \"%s\" after ] where :PORT belongs", close + 1);
        return 0;
    }
    const char *colon = strchr(p, ':');
    if (colon && strchr(colon + 1, ':'))
        return tun_fail(why, whylen,
                        "has more than one colon; write IPv6 addresses in "
                        "brackets, e.g. [::1]:8000");
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    if (len >= hostlen)
        return tun_fail(why, whylen, "has a host name that is too long");
    memcpy(host, p, len);
    host[len] = 0;
    if (colon)
        *port = colon + 1;
    if (!host[0]) {
        if (!colon)
            return tun_fail(why, whylen, "is empty");
        strcpy(host, "0.0.0.0"); /* ":8000", as gunicorn binds ("", 8000) */
    }
    return 0;
}

/* The port number of the text after the colon (NULL: the default port). */
static int parse_port(const char *port, long *out, char *why, size_t whylen)
{
    *out = TUN_DEFAULT_PORT;
    if (!port)
        return 0;
    if (!*port)
        return tun_fail(why, whylen, "has no port after the colon");
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
        return tun_fail(why, whylen, "has a port \"%s\" that is not a number", port);
    *out = strtol(port, NULL, 10);
    if (*out < 1 || *out > 65535)
        return tun_fail(why, whylen, "has a port %ld outside 1 to 65535", *out);
    return 0;
}

/* Resolves host and port into out->addr, preferring the first IPv4 address. */
static int resolve(const char *host, long portnum, bool bracketed, tun_bind_t *out, char *why,
                   size_t whylen)
{
    /* Numeric service always; a bracketed host must be a numeric IPv6 address, so no
     * lookup can leave the machine for it. */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
    if (bracketed)
        hints.ai_flags |= AI_NUMERICHOST;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%ld", portnum);
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        if (bracketed)
            return tun_fail(why, whylen, "has \"%s\" between [ and ], which is not an IPv6 address",
                            host);
        return tun_fail(why, whylen, "cannot be resolved: %s",
                        rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    }
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
    for (const struct addrinfo *ai = res; ai && !pick; ai = ai->ai_next)
        if (ai->ai_family == AF_INET6)
            pick = ai;
    if (!pick || pick->ai_addrlen > sizeof(out->addr)) {
        freeaddrinfo(res);
        return tun_fail(why, whylen, "resolves to no IPv4 or IPv6 address");
    }
    memcpy(&out->addr, pick->ai_addr, pick->ai_addrlen);
    out->addrlen = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* "unix:" is followed by a path, "//" and a path (gunicorn's regex takes both), or
 * "@NAME": the abstract namespace, no file, gone with its last descriptor. */
static int parse_unix(const char *p, tun_bind_t *out, char *why, size_t whylen)
{
    if (strncmp(p, "//", 2) == 0)
        p += 2;
    struct sockaddr_un *un = (struct sockaddr_un *)&out->addr;
    size_t len = strlen(p);
    bool abstract = p[0] == '@';
    if (len == 0 || (abstract && len == 1))
        return tun_fail(why, whylen, "has no socket %s after unix:", abstract ? "name" : "path");
    /* a path needs its NUL inside sun_path; an abstract name has the leading NUL instead */
    if (len >= sizeof(un->sun_path))
        return tun_fail(why, whylen, "has a socket %s longer than %zu bytes",
                        abstract ? "name" : "path", sizeof(un->sun_path) - (abstract ? 0 : 1));
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, p, len);
    if (abstract)
        un->sun_path[0] = 0;
    out->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + !abstract);
    out->kind = TUN_BIND_UNIX;
    return 0;
}

static int parse_fd(const char *p, tun_bind_t *out, char *why, size_t whylen)
{
    if (!*p)
        return tun_fail(why, whylen, "has no descriptor number after fd://");
    if (strspn(p, "0123456789") != strlen(p) || strlen(p) > 9)
        return tun_fail(why, whylen, "has \"%s\" after fd://, which is not a descriptor number", p);
    out->fd = (int)strtol(p, NULL, 10);
    out->kind = TUN_BIND_FD;
    return 0;
}

int tun_bind_parse(const char *spec, tun_bind_t *out, char *why, size_t whylen)
{
    char host[256];
    const char *port;
    bool bracketed;
    long portnum;

    memset(out, 0, sizeof(*out));
    if (strlen(spec) >= sizeof(out->spec))
        return tun_fail(why, whylen, "is too long");
    snprintf(out->spec, sizeof(out->spec), "%s", spec);

    const char *p = spec;
    if (strncmp(p, "uwsgi://", 8) == 0) {
        out->uwsgi = true; /* the rest is any of the other forms */
        p += 8;
    }
    if (strncmp(p, "unix:", 5) == 0)
        return parse_unix(p + 5, out, why, whylen);
    if (strncmp(p, "fd://", 5) == 0)
        return parse_fd(p + 5, out, why, whylen);
    if (strncmp(p, "tcp://", 6) == 0)
        p += 6;
    if (split_host_port(p, host, sizeof(host), &port, &bracketed, why, whylen) < 0 ||
        parse_port(port, &portnum, why, whylen) < 0)
        return TUN_ERROR;
    return resolve(host, portnum, bracketed, out, why, whylen);
}
