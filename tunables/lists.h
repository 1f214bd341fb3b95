/* The typed forms of the list settings the request path reads: networks (an IPLIST such
 * as --forwarded-allow-ips) and NAME=VALUE pairs (a PAIRS list such as
 * --secure-scheme-headers). tun_parse fills them from the validated text once, so the
 * workers get data, not strings to parse again.
 *
 * Pure: allocation only (common/mem.h), no I/O; a filled list is read-only.
 */
#ifndef UF_TUN_LISTS_H
#define UF_TUN_LISTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/net.h"

/* "*" and networks: `all` when "*" is one of the items. */
typedef struct tun_netlist {
    bool all;
    net_cidr_t *nets;
    size_t count;
} tun_netlist_t;

/* The longest name or value of a pair, in bytes. */
#define TUN_PAIR_PART_MAX 63

typedef struct tun_pair {
    char *name; /* blanks around the '=' trimmed */
    char *value;
} tun_pair_t;

typedef struct tun_pairs {
    tun_pair_t *items;
    size_t count;
} tun_pairs_t;

/* Parses a comma list of "*", ADDRESS and ADDRESS/BITS items (NULL is empty) into out.
 * Returns 0, or -1 at the first bad item (out is then empty). */
int tun_netlist_parse(const char *list, tun_netlist_t *out);

/* Parses a comma list of NAME=VALUE items, each part non-empty and at most
 * TUN_PAIR_PART_MAX bytes (NULL is empty). Returns 0, or -1 at the first bad item (out is
 * then empty). */
int tun_pairs_parse(const char *list, tun_pairs_t *out);

void tun_netlist_free(tun_netlist_t *l);
void tun_pairs_free(tun_pairs_t *l);

#endif
