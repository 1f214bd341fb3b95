/* Small network helpers every folder needs: a socket address as text, address networks
 * (CIDR) parsed and matched, and the comma-separated lists settings are written in.
 *
 * Pure functions: no allocation, no logging, no global state; safe from any thread.
 */
#ifndef UF_NET_H
#define UF_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for the longest text net_addr_text writes: "[" IPv6 "]:" port. */
#define NET_ADDR_TEXT_MAX 64

/* The host of an AF_INET or AF_INET6 address into host (at least INET6_ADDRSTRLEN bytes)
 * and its port into *port. Any other family gives "" and port 0. Returns the family. */
int net_addr_host(const struct sockaddr *sa, char *host, size_t hostlen, int *port);

/* The name of a unix socket address of `len` bytes (as getsockname or accept give it)
 * into out: its path, "@name" for the abstract namespace (as systemd and ss write it), or
 * "" for an unnamed socket (a client that did not bind). Returns out. */
char *net_unix_text(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen);

/* "a.b.c.d:port" or "[v6]:port" into out (NET_ADDR_TEXT_MAX bytes); "?" for another
 * family. Returns out. */
char *net_addr_text(const struct sockaddr *sa, char *out, size_t outlen);

/* An address network: the first `prefix` bits of addr (network order). */
typedef struct net_cidr {
    uint8_t addr[16];
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t prefix;
} net_cidr_t;

/* Parses "ADDRESS" or "ADDRESS/BITS" (IPv4 or IPv6) from text[0, len). Returns 0, or -1
 * when it is neither (out is then untouched). "*" is not a network: callers that accept
 * "anything" test for it first. */
int net_cidr_parse(const char *text, size_t len, net_cidr_t *out);

/* Whether sa (AF_INET or AF_INET6) lies in net. An IPv4 peer of a dual-stack socket shows
 * up as ::ffff:a.b.c.d and is matched as a.b.c.d. */
bool net_cidr_match(const net_cidr_t *net, const struct sockaddr *sa);

/* Calls fn(ctx, item, len) for each comma-separated item of list (NULL is empty), white space
 * trimmed from both ends and empty items skipped. Stops at the first
 * non-zero return and returns it; 0 when every item was seen. */
typedef int net_item_fn(void *ctx, const char *item, size_t len);
int net_for_each_item(const char *list, net_item_fn *fn, void *ctx);

#endif
