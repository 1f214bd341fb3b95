/* The master's view of itself: the stats port's view, statsd, sd_notify, log shipping. */
#include "src/master_view.h"

#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "src/budget.h"
#include "src/capture.h"
#include "src/churn.h"
#include "src/logship.h"
#include "src/master.h"
#include "src/scrape.h"
#include "src/sdnotify.h"
#include "src/stats.h"

/* What /metrics, /stats and /ready are made of: the live workers and their listeners,
 * with the accept queues sampled now, so that rendering is pure (src/metrics.h). */
static void fill_view(void *ctx, metrics_view_t *v)
{
    master_t *m = ctx;
    unsigned ns = 0, nw = 0;
    for (unsigned k = 0; k < MAX_SLOTS; k++) {
        const slot_t *s = &m->slots[k];
        if (!s->listeners)
            continue;
        metrics_queue_t *q = &m->view.queues[(size_t)k * m->nbinds];
        for (unsigned b = 0; b < m->nbinds; b++)
            stats_accept_queue(s->listeners[b].fd, &q[b].length, &q[b].limit);
        m->view.slots[ns++] = (metrics_slot_t){.index = k,
                                               .listeners = s->listeners,
                                               .queues = q,
                                               .nlisteners = m->nbinds,
                                               .cpu = s->cpu,
                                               .leaving = !s->active};
    }
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++) {
        const churn_proc_t *p = &m->churn.procs[i];
        if (p->pid <= 0)
            continue;
        /* fresh, not the last 250 ms sample: a scrape is rare and may follow a boot */
        sb_set64(&m->sb.slots[p->sb_index].rss_bytes, budget_rss_bytes(p->pid));
        m->view.workers[nw++] =
            (metrics_worker_t){.slot = p->slot, .pid = p->pid, .sb = &m->sb.slots[p->sb_index]};
    }
    *v = (metrics_view_t){
        .cfg = m->cfg,
        .pid = (int)getpid(),
        .start_time = m->view.start_time,
        .stopping = m->stopping,
        .retired = &m->retired,
        .slots = m->view.slots,
        .nslots = ns,
        .workers = m->view.workers,
        .nworkers = nw,
        .recycles = m->recycles,
        .recycle_names = churn_reason_labels,
        .master_ship_sent = m->out.ship.sent_local,
        .master_ship_dropped = m->out.ship.dropped_local,
        .master_statsd_dropped = m->out.statsd.dropped_local,
        .budget_bytes = m->budget_bytes,
        .footprint_bytes = m->footprint_bytes,
        .sharing = m->sharing,
        .shared_queue = m->sharing ? __atomic_load_n(&m->share.table->queued, __ATOMIC_RELAXED) : 0,
    };
}

/* Once a second, what gunicorn's arbiter reports: the number of workers, and with
 * --enable-backlog-metric the connections waiting in the accept queues. */
void mview_statsd(master_t *m, uint64_t now)
{
    if (!m->out.statsd_on || now < m->view.next_statsd_ms)
        return;
    m->view.next_statsd_ms = now + 1000;
    stats_outputs_statsd(&m->out, "gunicorn.workers:%u|g", churn_live(&m->churn));
    if (m->cfg->enable_backlog_metric) {
        uint64_t waiting = 0;
        for (unsigned k = 0; k < MAX_SLOTS; k++)
            for (unsigned b = 0; m->slots[k].listeners && b < m->nbinds; b++) {
                uint32_t len, limit;
                stats_accept_queue(m->slots[k].listeners[b].fd, &len, &limit);
                waiting += len;
            }
        stats_outputs_statsd(&m->out, "gunicorn.backlog:%llu|ms", (unsigned long long)waiting);
    }
}

/* A line a worker wrote to its stdout or stderr (--capture-output). */
static void captured_line(void *ctx, int pid, int worker, const char *line, size_t len)
{
    master_t *m = ctx;
    log_text_as(pid, worker, line, len);
    stats_outputs_captured(&m->out, pid, worker, line, len);
}

/* Requests answered so far, by every worker that ever ran. */
static uint64_t served(const master_t *m)
{
    uint64_t n = 0;
    for (int i = 0; i < 6; i++)
        n += m->retired.responses[i];
    for (unsigned i = 0; i < m->churn.nprocs; i++)
        if (m->churn.procs[i].pid > 0)
            for (int j = 0; j < 6; j++)
                n += sb_get64(&m->sb.slots[m->churn.procs[i].sb_index].responses[j]);
    return n;
}

/* sd_notify: READY=1 once the generation started last (at start, or by HUP) is ready in
 * every slot, then the watchdog and STATUS= as they fall due. */
void mview_report(master_t *m, uint64_t now)
{
    if (!sdnotify_active(&m->notify))
        return;
    /* until a worker's footprint is known only slot 0 exists: not yet the whole set */
    bool whole = m->footprint_bytes || m->nslots >= m->target;
    if (m->ready_pending && !m->stopping && whole &&
        churn_generation_ready(&m->churn, m->nslots, m->generation)) {
        m->ready_pending = false;
        sdnotify_ready(&m->notify, churn_live(&m->churn), served(m), now);
    }
    sdnotify_tick(&m->notify, churn_live(&m->churn), served(m), now);
}

/* --stats-bind, --log-target and --statsd-host in the master. Returns 0, or -1 with err. */
int mview_start(master_t *m, char *err, size_t errlen)
{
    const tun_config_t *cfg = m->cfg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->view.start_time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    m->view.slots = uf_calloc(MAX_SLOTS, sizeof(metrics_slot_t));
    m->view.workers = uf_calloc(2 * MAX_SLOTS, sizeof(metrics_worker_t));
    m->view.queues = uf_calloc((size_t)MAX_SLOTS * m->nbinds, sizeof(metrics_queue_t));
    m->stats.fd = -1;
    m->out.ship.fd = m->out.syslog.fd = m->out.statsd.fd = -1;
    m->capture.emit = captured_line;
    m->capture.ctx = m;
    if (cfg->stats_bind &&
        scrape_open(&m->stats, cfg->stats_bind, m->cfg, fill_view, m, err, errlen) < 0)
        return -1;
    if (stats_outputs_open(&m->out, cfg, -1, err, errlen) < 0)
        return -1;
    if (m->out.shipping || m->out.syslog_on || m->out.statsd_on)
        log_set_sink(stats_outputs_log, &m->out);
    return 0;
}

/* Sends what the master's log target and statsd hold, without blocking. */
void mview_ship(master_t *m, uint64_t now)
{
    capture_run(&m->capture); /* the workers' output, before it is shipped */
    if (m->out.shipping) {
        logship_direct_run(&m->out.ship, now);
        logship_report_drops(&m->out.ship, now);
    }
    if (m->out.syslog_on) {
        logship_direct_run(&m->out.syslog, now);
        logship_report_drops(&m->out.syslog, now);
    }
    if (m->out.statsd_on)
        logship_direct_run(&m->out.statsd, now);
}
