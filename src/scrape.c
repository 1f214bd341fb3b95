/* The stats port: accepts scrapers, answers from the master's view, never blocks. */
#include "src/scrape.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/net.h"
#include "src/stats.h"

/* A request to the stats port must arrive and be answered within this. */
#define CLIENT_TIMEOUT_MS 2000

int scrape_open(scrape_server_t *srv, const char *spec, const tun_config_t *cfg,
                scrape_view_fn *fill, void *ctx, char *err, size_t errlen)
{
    memset(srv, 0, sizeof(*srv));
    srv->fd = -1;
    for (int i = 0; i < SCRAPE_MAX_CLIENTS; i++)
        srv->clients[i].fd = -1;
    srv->cfg = cfg;
    srv->fill = fill;
    srv->ctx = ctx;
    logship_target_t t;
    if (stats_bind_target(spec, &t, err, errlen) < 0)
        return -1;
    int fd = socket(t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&t.addr, t.addrlen) < 0 || listen(fd, 64) < 0) {
        snprintf(err, errlen, "--stats-bind: cannot listen on %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    srv->fd = fd;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        net_addr_text((const struct sockaddr *)&ss, srv->addr, sizeof(srv->addr));
    return 0;
}

unsigned scrape_pollfds(const scrape_server_t *srv, struct pollfd *pfd, unsigned max)
{
    unsigned n = 0;
    if (srv->fd < 0)
        return 0;
    if (n < max)
        pfd[n++] = (struct pollfd){.fd = srv->fd, .events = POLLIN};
    for (int i = 0; i < SCRAPE_MAX_CLIENTS && n < max; i++) {
        const scrape_client_t *cl = &srv->clients[i];
        if (cl->fd >= 0)
            pfd[n++] = (struct pollfd){.fd = cl->fd, .events = cl->out.len ? POLLOUT : POLLIN};
    }
    return n;
}

static void client_close(scrape_client_t *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
    cl->in_len = 0;
    buf_free(&cl->out);
    cl->out_off = 0;
}

static void respond(scrape_server_t *srv, scrape_client_t *cl, int status, const char *type,
                    const buf_t *body, bool head)
{
    char h[256];
    int n = snprintf(h, sizeof(h),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status,
                     status == 200   ? "OK"
                     : status == 404 ? "Not Found"
                     : status == 405 ? "Method Not Allowed"
                     : status == 503 ? "Service Unavailable"
                                     : "Bad Request",
                     type, body->len);
    buf_append(&cl->out, h, (size_t)n);
    if (!head)
        buf_append(&cl->out, body->data, body->len);
}

static void answer(scrape_server_t *srv, scrape_client_t *cl)
{
    buf_t body = {0};
    char *sp = memchr(cl->in, ' ', cl->in_len);
    char *sp2 = sp ? memchr(sp + 1, ' ', cl->in_len - (size_t)(sp + 1 - cl->in)) : NULL;
    if (!sp || !sp2) {
        buf_append_str(&body, "bad request\n");
        respond(srv, cl, 400, "text/plain; charset=utf-8", &body, false);
        buf_free(&body);
        return;
    }
    size_t mlen = (size_t)(sp - cl->in);
    bool head = mlen == 4 && memcmp(cl->in, "HEAD", 4) == 0;
    bool get = mlen == 3 && memcmp(cl->in, "GET", 3) == 0;
    char *path = sp + 1;
    size_t plen = (size_t)(sp2 - path);
    char *q = memchr(path, '?', plen);
    if (q)
        plen = (size_t)(q - path);
#define PATH_IS(s) (plen == strlen(s) && memcmp(path, s, plen) == 0)
    if (!get && !head) {
        buf_append_str(&body, "use GET\n");
        respond(srv, cl, 405, "text/plain; charset=utf-8", &body, false);
        buf_free(&body);
        return;
    }
    const tun_config_t *cfg = srv->cfg;
    bool metrics = PATH_IS("/metrics"), stats = PATH_IS("/stats");
    bool ready = PATH_IS("/ready") || (cfg->ready_path && PATH_IS(cfg->ready_path));
    /* the view costs a getsockopt per listener and a /proc read per worker: only the
     * paths that show it pay for it (a liveness probe every second does not) */
    metrics_view_t v;
    memset(&v, 0, sizeof(v));
    if (metrics || stats || ready)
        srv->fill(srv->ctx, &v);
    if (metrics) {
        metrics_prometheus(&v, &body);
        respond(srv, cl, 200, "text/plain; version=0.0.4; charset=utf-8", &body, head);
    } else if (stats) {
        metrics_json(&v, &body);
        respond(srv, cl, 200, "application/json", &body, head);
    } else if (PATH_IS("/health") || (cfg->health_path && PATH_IS(cfg->health_path))) {
        buf_append_str(&body, "ok\n");
        respond(srv, cl, 200, "text/plain; charset=utf-8", &body, head);
    } else if (ready) {
        char why[160];
        bool ok = metrics_ready(&v, why, sizeof(why));
        buf_append_str(&body, why);
        buf_append(&body, "\n", 1);
        respond(srv, cl, ok ? 200 : 503, "text/plain; charset=utf-8", &body, head);
    } else {
        buf_append_str(&body, "not found: try /metrics, /stats, /health or /ready\n");
        respond(srv, cl, 404, "text/plain; charset=utf-8", &body, head);
    }
#undef PATH_IS
    buf_free(&body);
}

void scrape_run(scrape_server_t *srv, uint64_t now_ms)
{
    if (srv->fd < 0)
        return;
    for (;;) {
        int fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break;
        scrape_client_t *cl = NULL;
        for (int i = 0; i < SCRAPE_MAX_CLIENTS && !cl; i++)
            if (srv->clients[i].fd < 0)
                cl = &srv->clients[i];
        if (!cl) {
            close(fd); /* more scrapers at once than anyone needs */
            continue;
        }
        cl->fd = fd;
        cl->in_len = 0;
        cl->out_off = 0;
        cl->deadline_ms = now_ms + CLIENT_TIMEOUT_MS;
    }
    for (int i = 0; i < SCRAPE_MAX_CLIENTS; i++) {
        scrape_client_t *cl = &srv->clients[i];
        if (cl->fd < 0)
            continue;
        if (now_ms > cl->deadline_ms) {
            client_close(cl);
            continue;
        }
        if (!cl->out.len) {
            ssize_t n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - 1 - cl->in_len, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                client_close(cl);
                continue;
            }
            if (n > 0)
                cl->in_len += (size_t)n;
            cl->in[cl->in_len] = 0;
            if (!strstr(cl->in, "\r\n\r\n") && !strstr(cl->in, "\n\n")) {
                if (cl->in_len >= sizeof(cl->in) - 1)
                    client_close(cl); /* a request head this large is not a scrape */
                continue;
            }
            answer(srv, cl);
        }
        while (cl->out_off < cl->out.len) {
            ssize_t n = send(cl->fd, cl->out.data + cl->out_off, cl->out.len - cl->out_off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0) {
                if (errno != EAGAIN && errno != EINTR)
                    client_close(cl);
                break;
            }
            cl->out_off += (size_t)n;
        }
        if (cl->fd >= 0 && cl->out.len && cl->out_off >= cl->out.len)
            client_close(cl);
    }
}

void scrape_close(scrape_server_t *srv)
{
    for (int i = 0; i < SCRAPE_MAX_CLIENTS; i++)
        if (srv->clients[i].fd >= 0)
            client_close(&srv->clients[i]);
    if (srv->fd >= 0)
        close(srv->fd);
    srv->fd = -1;
}
