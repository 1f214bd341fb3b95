/* Networks and NAME=VALUE pairs parsed from their comma lists. */
#include "tunables/lists.h"

#include <string.h>

#include "common/mem.h"

static int add_net(void *arg, const char *item, size_t len)
{
    tun_netlist_t *l = arg;
    if (len == 1 && item[0] == '*') {
        l->all = true;
        return 0;
    }
    net_cidr_t net;
    if (net_cidr_parse(item, len, &net) < 0)
        return -1;
    l->nets = uf_realloc(l->nets, (l->count + 1) * sizeof(*l->nets));
    l->nets[l->count++] = net;
    return 0;
}

int tun_netlist_parse(const char *list, tun_netlist_t *out)
{
    memset(out, 0, sizeof(*out));
    if (net_for_each_item(list, add_net, out)) {
        tun_netlist_free(out);
        return -1;
    }
    return 0;
}

static int add_pair(void *arg, const char *item, size_t len)
{
    tun_pairs_t *l = arg;
    const char *eq = memchr(item, '=', len);
    if (!eq)
        return -1;
    size_t nl = (size_t)(eq - item), vl = len - nl - 1;
    const char *v = eq + 1;
    while (nl && (item[nl - 1] == ' ' || item[nl - 1] == '\t'))
        nl--;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    if (!nl || !vl || nl > TUN_PAIR_PART_MAX || vl > TUN_PAIR_PART_MAX)
        return -1;
    l->items = uf_realloc(l->items, (l->count + 1) * sizeof(*l->items));
    l->items[l->count++] = (tun_pair_t){uf_strndup(item, nl), uf_strndup(v, vl)};
    return 0;
}

int tun_pairs_parse(const char *list, tun_pairs_t *out)
{
    memset(out, 0, sizeof(*out));
    if (net_for_each_item(list, add_pair, out)) {
        tun_pairs_free(out);
        return -1;
    }
    return 0;
}

void tun_netlist_free(tun_netlist_t *l)
{
    uf_free(l->nets);
    memset(l, 0, sizeof(*l));
}

void tun_pairs_free(tun_pairs_t *l)
{
    for (size_t i = 0; i < l->count; i++) {
        uf_free(l->items[i].name);
        uf_free(l->items[i].value);
    }
    uf_free(l->items);
    memset(l, 0, sizeof(*l));
}
