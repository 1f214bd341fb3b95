/* Proxy trust: parsing the trusted networks and scheme headers, and reading them. */
#include "src/proxy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"

typedef struct setup_ctx {
    proxy_t *p;
    char *err;
    size_t errlen;
} setup_ctx_t;

/* "*", an address, or an address/prefix network (gunicorn accepts the same). */
static int add_trusted(void *arg, const char *item, size_t len)
{
    setup_ctx_t *x = arg;
    proxy_t *p = x->p;
    if (len == 1 && item[0] == '*') {
        p->trust_all = true;
        return 0;
    }
    net_cidr_t net;
    if (net_cidr_parse(item, len, &net) < 0) {
        snprintf(x->err, x->errlen,
                 "--forwarded-allow-ips: \"%.*s\" is not '*', an IP address or a network "
                 "(ADDRESS/BITS)",
                 (int)len, item);
        return -1;
    }
    p->trusted = uf_realloc(p->trusted, (p->trusted_count + 1) * sizeof(*p->trusted));
    p->trusted[p->trusted_count++] = net;
    return 0;
}

/* "NAME=VALUE", blanks around the '=' ignored: one secure scheme header. */
static int add_scheme(void *arg, const char *item, size_t len)
{
    setup_ctx_t *x = arg;
    const char *eq = memchr(item, '=', len);
    proxy_scheme_header_t h = {{0}, {0}, 0, 0};
    size_t nl = eq ? (size_t)(eq - item) : 0, vl = eq ? len - nl - 1 : 0;
    while (nl && item[nl - 1] == ' ')
        nl--;
    const char *v = eq ? eq + 1 : NULL;
    while (vl && *v == ' ') {
        v++;
        vl--;
    }
    if (!eq || !nl || !vl || nl >= sizeof(h.name) || vl >= sizeof(h.value)) {
        snprintf(x->err, x->errlen,
                 "--secure-scheme-headers: \"%.*s\" is not HEADER=VALUE (e.g. "
                 "X-Forwarded-Proto=https)",
                 (int)len, item);
        return -1;
    }
    memcpy(h.name, item, nl);
    memcpy(h.value, v, vl);
    h.name_len = (uint8_t)nl;
    h.value_len = (uint8_t)vl;
    proxy_t *p = x->p;
    p->schemes = uf_realloc(p->schemes, (p->scheme_count + 1) * sizeof(*p->schemes));
    p->schemes[p->scheme_count++] = h;
    return 0;
}

int proxy_setup(proxy_t *p, const char *allow_ips, const char *scheme_headers, char *err,
                size_t errlen)
{
    memset(p, 0, sizeof(*p));
    setup_ctx_t x = {p, err, errlen};
    if (net_for_each_item(allow_ips, add_trusted, &x) ||
        net_for_each_item(scheme_headers, add_scheme, &x)) {
        proxy_free(p);
        return -1;
    }
    return 0;
}

void proxy_free(proxy_t *p)
{
    uf_free(p->trusted);
    uf_free(p->schemes);
    memset(p, 0, sizeof(*p));
}

bool proxy_trusts(const proxy_t *p, const struct sockaddr *sa)
{
    if (p->trust_all)
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
    int scheme = -1;   /* 0 http, 1 https; -1 not said yet */
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
