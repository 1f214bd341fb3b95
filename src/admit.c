/* Who may connect to a front end's protocol, and the refusals' lines (loop thread). */
#include "src/admit.h"

#include <stdio.h>
#include <sys/socket.h>

#include "common/log.h"
#include "src/conn.h"
#include "src/worker.h"

#define REFUSE_LOG_EVERY_MS 1000

void admit_log_refusal(worker_t *w, const conn_t *c, admit_log_t *l, const char *why)
{
    long long held = log_throttle(&l->logged_ms, &l->unlogged, w->now_ms, REFUSE_LOG_EVERY_MS);
    const char *host = c->peer_host[0] ? c->peer_host : "?";
    if (held > 0)
        log_warning("%s: connection from %s port %d refused: %s (%lld more refused since the "
                    "last such line)",
                    l->protocol, host, c->peer_port, why, held);
    else if (held == 0)
        log_warning("%s: connection from %s port %d refused: %s", l->protocol, host, c->peer_port,
                    why);
}

bool admit_peer(worker_t *w, conn_t *c, const proxy_t *allow, admit_log_t *l, const char *setting)
{
    struct sockaddr_storage ss;
    if (!conn_lookup_peer(w, c, &ss)) {
        conn_close_now(w, c); /* gone already */
        return false;
    }
    bool ip = ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
    if (ip && !proxy_trusts(allow, (const struct sockaddr *)&ss)) {
        char why[64];
        snprintf(why, sizeof(why), "not in %s", setting);
        admit_log_refusal(w, c, l, why);
        conn_close_now(w, c);
        return false;
    }
    return true;
}
