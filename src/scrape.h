/* The stats port (--stats-bind): a small HTTP/1.1 server in the master that answers
 * /metrics (Prometheus), /stats (JSON), /health and /ready, one request per connection.
 *
 * It never blocks the master: the listener and its clients are non-blocking and served
 * from the master's poll loop (scrape_pollfds, then scrape_run). What it answers comes
 * from a view the master fills when a request is complete (src/metrics.h renders it).
 * At most SCRAPE_MAX_CLIENTS are served at once, each within a deadline; a request head
 * that does not fit the client's buffer is not a scrape and is closed.
 */
#ifndef UF_SCRAPE_H
#define UF_SCRAPE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"
#include "src/metrics.h"

#define SCRAPE_MAX_CLIENTS 16

typedef struct scrape_client {
    int fd; /* -1: free */
    char in[2048];
    size_t in_len;
    buf_t out;
    size_t out_off;
    uint64_t deadline_ms;
} scrape_client_t;

/* Fills v with what the master knows now (called once per request answered). */
typedef void scrape_view_fn(void *ctx, metrics_view_t *v);

typedef struct scrape_server {
    int fd;         /* the listener, -1 when off */
    char addr[128]; /* as bound, for the banner */
    scrape_client_t clients[SCRAPE_MAX_CLIENTS];
    const tun_config_t *cfg; /* the master's settings (--health-path, --ready-path) */
    scrape_view_fn *fill;    /* called only for the paths that show the view */
    void *ctx;
} scrape_server_t;

/* Binds --stats-bind (HOST:PORT); cfg stays the master's for the server's life (a reload
 * changes what it points to, not where). Returns 0, or -1 with err filled. */
int scrape_open(scrape_server_t *srv, const char *spec, const tun_config_t *cfg,
                scrape_view_fn *fill, void *ctx, char *err, size_t errlen);
/* Adds the descriptors to poll; returns how many were added (at most `max`). */
unsigned scrape_pollfds(const scrape_server_t *srv, struct pollfd *pfd, unsigned max);
/* Accepts, reads, answers and writes whatever is ready, without blocking. */
void scrape_run(scrape_server_t *srv, uint64_t now_ms);
/* Closes everything (also in a freshly forked worker, which must not hold them). */
void scrape_close(scrape_server_t *srv);

#endif
