/* Socket address text, CIDR networks and comma lists. */
#include "common/net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

int net_addr_host(const struct sockaddr *sa, char *host, size_t hostlen, int *port)
{
    host[0] = 0;
    *port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, (socklen_t)hostlen);
        *port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, (socklen_t)hostlen);
        *port = ntohs(s6->sin6_port);
    }
    return sa->sa_family;
}

char *net_unix_text(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n = len > off ? len - off : 0;
    if (n > sizeof(un->sun_path))
        n = sizeof(un->sun_path);
    out[0] = 0;
    if (sa->sa_family != AF_UNIX || n == 0 || outlen < 2)
        return out;
    /* an abstract name is n bytes after the leading NUL, NULs allowed; a path ends at
     * its NUL, which the kernel may or may not count in len */
    if (un->sun_path[0] == 0)
        snprintf(out, outlen, "@%.*s", (int)(n - 1), un->sun_path + 1);
    else
        snprintf(out, outlen, "%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
    return out;
}

char *net_addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN];
    int port;
    int family = net_addr_host(sa, host, sizeof(host), &port);
    if (family == AF_INET6)
        snprintf(out, outlen, "[%s]:%d", host, port);
    else if (family == AF_INET)
        snprintf(out, outlen, "%s:%d", host, port);
    else
        snprintf(out, outlen, "?");
    return out;
}

int net_cidr_parse(const char *text, size_t len, net_cidr_t *out)
{
    char addr[INET6_ADDRSTRLEN + 8];
    if (len == 0 || len >= sizeof(addr))
        return -1;
    memcpy(addr, text, len);
    addr[len] = 0;
    char *slash = strchr(addr, '/');
    if (slash)
        *slash = 0;
    net_cidr_t net = {0};
    unsigned bits;
    if (inet_pton(AF_INET, addr, net.addr) == 1) {
        net.family = AF_INET;
        bits = 32;
    } else if (inet_pton(AF_INET6, addr, net.addr) == 1) {
        net.family = AF_INET6;
        bits = 128;
    } else {
        return -1;
    }
    net.prefix = (uint8_t)bits;
    if (slash) {
        /* decimal digits only: strtoul would also take blanks, signs and "0x" */
        const char *d = slash + 1;
        size_t n = strspn(d, "0123456789");
        if (n == 0 || n > 3 || d[n])
            return -1;
        unsigned p = 0;
        for (size_t i = 0; i < n; i++)
            p = p * 10 + (unsigned)(d[i] - '0');
        if (p > bits)
            return -1;
        net.prefix = (uint8_t)p;
    }
    *out = net;
    return 0;
}

bool net_cidr_match(const net_cidr_t *net, const struct sockaddr *sa)
{
    const uint8_t *a;
    int family;
    if (sa->sa_family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        family = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
        a = family == AF_INET ? a6->s6_addr + 12 : a6->s6_addr;
    } else {
        return false;
    }
    if (net->family != family)
        return false;
    unsigned full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(a, net->addr, full) != 0)
        return false;
    return !rest || !((a[full] ^ net->addr[full]) & (0xff << (8 - rest)) & 0xff);
}

int net_for_each_item(const char *list, net_item_fn *fn, void *ctx)
{
    const char *p = list ? list : "";
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            int rc = fn(ctx, a, (size_t)(b - a));
            if (rc)
                return rc;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}
