/* The PROXY protocol step at the start of a connection (loop thread). */
#include "src/proxyhdr.h"

#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/net.h"
#include "src/admit.h"
#include "src/conn.h"
#include "src/proxyproto.h"
#include "src/worker.h"

_Static_assert(TUN_PROXY_V1 == PP_ACCEPT_V1 && TUN_PROXY_V2 == PP_ACCEPT_V2,
               "tunables' version bits are the parser's");

void proxyhdr_setup(proxyhdr_t *p, const tun_config_t *cfg)
{
    static const tun_pairs_t no_schemes;
    memset(p, 0, sizeof(*p));
    p->versions = cfg->proxy_versions;
    proxy_setup(&p->allow, &cfg->proxy_allow, &no_schemes);
    p->log.protocol = "PROXY protocol";
}

bool proxyhdr_open(worker_t *w, conn_t *c)
{
    proxyhdr_t *p = &w->conn_shared.pp;
    if (!p->versions)
        return true;
    if (!admit_peer(w, c, &p->allow, &p->log, "--proxy-allow-from"))
        return false;
    c->pp.sock_loopback = conn_peer_is_loopback(c); /* before `used` makes it read this */
    c->pp.used = c->pp.waiting = true;
    return true;
}

int proxyhdr_take(worker_t *w, conn_t *c)
{
    pp_result_t r;
    long n = pp_parse((const uint8_t *)c->in.data, c->in.len, w->conn_shared.pp.versions, &r);
    if (n == 0)
        return 0;
    if (n < 0) {
        admit_log_refusal(w, c, &w->conn_shared.pp.log, r.error);
        conn_close_now(w, c);
        return -1;
    }
    c->pp.waiting = false;
    c->pp.ssl = r.ssl;
    if (r.has_addr) {
        /* the peer stays "trusted" or not as the socket's peer was (conn_lookup_peer) */
        net_addr_host((const struct sockaddr *)&r.src, c->peer_host, sizeof(c->peer_host),
                      &c->peer_port);
        net_addr_host((const struct sockaddr *)&r.dst, c->pp.dst_host, sizeof(c->pp.dst_host),
                      &c->pp.dst_port);
    }
    proxyhdr_forget(c);
    if (w->share && n <= PP_TRAVEL_MAX) {
        c->pp.raw = uf_malloc((size_t)n);
        memcpy(c->pp.raw, c->in.data, (size_t)n);
        c->pp.raw_len = (uint16_t)n;
    }
    buf_consume(&c->in, (size_t)n);
    return 1;
}

void proxyhdr_forget(conn_t *c)
{
    uf_free(c->pp.raw);
    c->pp.raw = NULL;
    c->pp.raw_len = 0;
}
