/* Proxy trust: the trusted networks and scheme headers, and reading them. */
#include "src/proxy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"

/* A pair's parts fit the fixed arrays: tunables refuses longer ones. */
_Static_assert(TUN_PAIR_PART_MAX < sizeof(((proxy_scheme_header_t *)0)->name) &&
                   TUN_PAIR_PART_MAX < sizeof(((proxy_scheme_header_t *)0)->value),
               "a pair's parts fit proxy_scheme_header_t");

void proxy_setup(proxy_t *p, const tun_netlist_t *trusted, const tun_pairs_t *schemes)
{
    memset(p, 0, sizeof(*p));
    p->trust_all = trusted->all;
    if (trusted->count) {
        p->trusted = uf_malloc(trusted->count * sizeof(*p->trusted));
        memcpy(p->trusted, trusted->nets, trusted->count * sizeof(*p->trusted));
        p->trusted_count = trusted->count;
    }
    if (schemes->count)
        p->schemes = uf_calloc(schemes->count, sizeof(*p->schemes));
    for (size_t i = 0; i < schemes->count; i++) {
        proxy_scheme_header_t *h = &p->schemes[p->scheme_count++];
        size_t nl = strlen(schemes->items[i].name), vl = strlen(schemes->items[i].value);
        UF_ASSERT(nl <= TUN_PAIR_PART_MAX && vl <= TUN_PAIR_PART_MAX);
        memcpy(h->name, schemes->items[i].name, nl);
        memcpy(h->value, schemes->items[i].value, vl);
        h->name_len = (uint8_t)nl;
        h->value_len = (uint8_t)vl;
    }
}

void proxy_free(proxy_t *p)
{
    uf_free(p->trusted);
    uf_free(p->schemes);
    memset(p, 0, sizeof(*p));
}

bool proxy_trusts(const proxy_t *p, const struct sockaddr *sa)
{
    /* gunicorn trusts every unix-socket peer: only a local process can be one, and the
     * socket's mode says which */
    if (p->trust_all || sa->sa_family == AF_UNIX)
        return true;
    for (size_t i = 0; i < p->trusted_count; i++)
        if (net_cidr_match(&p->trusted[i], sa))
            return true;
    return false;
}

static bool text_is(py_slice_t s, const char *text, size_t len)
{
    return s.len == len && strncasecmp(s.ptr, text, len) == 0;
}

proxy_scheme_t proxy_scheme(const proxy_t *p, bool trusted, const py_header_t *headers,
                            size_t count)
{
    int scheme = -1; /* 0 http, 1 https; -1 not said yet */
    for (size_t i = 0; trusted && i < count; i++) {
        const py_header_t *h = &headers[i];
        if (text_is(h->name, "script_name", 11))
            continue;
        for (size_t k = 0; k < p->scheme_count; k++) {
            const proxy_scheme_header_t *sch = &p->schemes[k];
            if (!text_is(h->name, sch->name, sch->name_len))
                continue;
            int secure = text_is(h->value, sch->value, sch->value_len);
            if (scheme >= 0 && scheme != secure)
                return PROXY_SCHEME_CONFLICT;
            scheme = secure;
        }
    }
    return scheme < 0 ? PROXY_SCHEME_UNSAID : scheme ? PROXY_SCHEME_HTTPS : PROXY_SCHEME_HTTP;
}

/* The bridge drops header names with '_' from the environ; from a trusted proxy,
 * SCRIPT_NAME is the one that means something (gunicorn's forwarder_headers). */
bool proxy_script_name(bool trusted, const py_header_t *headers, size_t count, py_slice_t *out)
{
    bool found = false;
    for (size_t i = 0; trusted && i < count; i++)
        if (text_is(headers[i].name, "script_name", 11)) {
            *out = headers[i].value;
            found = true;
        }
    return found;
}
