/* Metrics rendering: Prometheus text, JSON and readiness from a view, with no I/O. */
#include "src/metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/probes.h"
#include "src/worker.h"

static const char *const class_names[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

void metrics_fold(metrics_totals_t *t, const sb_slot_t *s)
{
    for (int i = 0; i < 6; i++)
        t->responses[i] += sb_get64(&s->responses[i]);
    for (int i = 0; i < SB_LATENCY_BUCKETS; i++)
        t->latency[i] += sb_get64(&s->latency[i]);
    t->latency_us_sum += sb_get64(&s->latency_us_sum);
    for (int p = 0; p < SB_PHASES; p++) {
        for (int i = 0; i < SB_LATENCY_BUCKETS; i++)
            t->phase_latency[p][i] += sb_get64(&s->phase_latency[p][i]);
        t->phase_us_sum[p] += sb_get64(&s->phase_us_sum[p]);
    }
    t->bytes_in += sb_get64(&s->bytes_in);
    t->bytes_out += sb_get64(&s->bytes_out);
    t->ws_messages_in += sb_get64(&s->ws_messages_in);
    t->ws_messages_out += sb_get64(&s->ws_messages_out);
    t->ws_bytes_in += sb_get64(&s->ws_bytes_in);
    t->ws_bytes_out += sb_get64(&s->ws_bytes_out);
    t->alog_lines += sb_get64(&s->alog_lines);
    t->alog_dropped += sb_get64(&s->alog_dropped);
    t->ship_sent += sb_get64(&s->ship_sent);
    t->ship_dropped += sb_get64(&s->ship_dropped);
    t->statsd_dropped += sb_get64(&s->statsd_dropped);
}

/* Everything counted so far: the retired totals plus every live worker. */
static metrics_totals_t sum_all(const metrics_view_t *v)
{
    metrics_totals_t t = *v->retired;
    for (unsigned i = 0; i < v->nworkers; i++)
        metrics_fold(&t, v->workers[i].sb);
    return t;
}

static const char *state_name(uint32_t s)
{
    switch (s) {
    case SB_BOOTING:
        return "booting";
    case SB_READY:
        return "ready";
    case SB_DRAINING:
        return "draining";
    default:
        return "exited";
    }
}

static void family(buf_t *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter family with one sample per direction. */
static void in_out(buf_t *out, const char *name, const char *help, uint64_t in, uint64_t sent)
{
    family(out, name, "counter", help);
    buf_printf(out, "%s{direction=\"in\"} %llu\n%s{direction=\"out\"} %llu\n", name,
               (unsigned long long)in, name, (unsigned long long)sent);
}

static void listener_label(const worker_listener_t *l, char *out, size_t n)
{
    if (l->af_unix) {
        snprintf(out, n, "unix:%s", l->host);
        return;
    }
    bool v6 = strchr(l->host, ':') != NULL;
    snprintf(out, n, "%s%s%s:%d", v6 ? "[" : "", l->host, v6 ? "]" : "", l->port);
}

/* Whether workers[i] is the first process of its slot in the view: a slot holds two
 * while a successor boots beside the worker it replaces. */
static bool first_of_slot(const metrics_view_t *v, unsigned i)
{
    for (unsigned j = 0; j < i; j++)
        if (v->workers[j].slot == v->workers[i].slot)
            return false;
    return true;
}

/* A family with one sample per worker slot: the scoreboard field at `field`, a uint32_t,
 * or a uint64_t when `wide`, summed over the slot's processes. Labelled by slot, not by
 * pid, so that a recycled worker continues its series instead of starting a new one (a
 * counter falls back when a process leaves, which rate() reads as a reset); the pids are
 * in uwsgi_fast_worker_info. */
static void worker_series(buf_t *out, const metrics_view_t *v, const char *name, const char *type,
                          const char *help, size_t field, bool wide)
{
    family(out, name, type, help);
    for (unsigned i = 0; i < v->nworkers; i++) {
        if (!first_of_slot(v, i))
            continue;
        unsigned long long value = 0;
        for (unsigned j = i; j < v->nworkers; j++) {
            if (v->workers[j].slot != v->workers[i].slot)
                continue;
            const char *at = (const char *)v->workers[j].sb + field;
            value += wide ? sb_get64((const uint64_t *)at) : sb_get((const uint32_t *)at);
        }
        buf_printf(out, "%s{worker=\"%u\"} %llu\n", name, v->workers[i].slot, value);
    }
}

static void worker_gauge(buf_t *out, const metrics_view_t *v, const char *name, const char *help,
                         size_t field)
{
    worker_series(out, v, name, "gauge", help, field, false);
}

/* The accept queues' lengths, or their limits, one sample per listener. */
static void accept_queue_family(buf_t *out, const metrics_view_t *v, bool limits)
{
    const char *name = limits ? "uwsgi_fast_accept_queue_limit" : "uwsgi_fast_accept_queue_length";
    family(out, name, "gauge",
           limits ? "Length at which a listener's accept queue is full (the backlog)."
                  : "Connections waiting in a listener's accept queue.");
    for (unsigned s = 0; s < v->nslots; s++)
        for (unsigned b = 0; b < v->slots[s].nlisteners; b++) {
            char label[128];
            const metrics_queue_t *q = &v->slots[s].queues[b];
            listener_label(&v->slots[s].listeners[b], label, sizeof(label));
            buf_printf(out, "%s{worker=\"%u\",listener=\"%s\"} %u\n", name, v->slots[s].index,
                       label, limits ? q->limit : q->length);
        }
}

static uint64_t request_count(const metrics_totals_t *t)
{
    uint64_t count = 0;
    for (int i = 0; i < SB_LATENCY_BUCKETS; i++)
        count += t->latency[i];
    return count;
}

/* The engine the master chose for the workers (preflight_ring). */
static const char *engine_name(const metrics_view_t *v)
{
    return v->cfg && v->cfg->engine_epoll ? "epoll" : "io_uring";
}

/* One histogram's series: cumulative buckets, sum and count; `labels` ("" or `k="v"`)
 * go in front of le. */
static void prom_histogram(buf_t *out, const char *name, const char *labels,
                           const uint64_t counts[SB_LATENCY_BUCKETS], uint64_t us_sum)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (int i = 0; i < SB_LATENCY_BUCKETS; i++) {
        cum += counts[i];
        if (i < SB_LATENCY_BUCKETS - 1)
            buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                       sb_latency_le_us[i] / 1e6, (unsigned long long)cum);
        else
            buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                       (unsigned long long)cum);
    }
    const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
    buf_printf(out, "%s_sum%s%s%s %.6f\n", name, open, labels, close, us_sum / 1e6);
    buf_printf(out, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)cum);
}

/* The server and its requests: version, start, responses, latency, bytes. */
static void prom_requests(buf_t *out, const metrics_view_t *v, const metrics_totals_t *tp)
{
    metrics_totals_t t = *tp;
    uint64_t count = request_count(&t);

    family(out, "uwsgi_fast_info", "gauge", "Version of the running server and its I/O engine.");
    buf_printf(out, "uwsgi_fast_info{version=\"%s\",engine=\"%s\"} 1\n", UF_VERSION,
               engine_name(v));
    family(out, "uwsgi_fast_start_time_seconds", "gauge",
           "When the master started, in seconds since the epoch.");
    buf_printf(out, "uwsgi_fast_start_time_seconds %.3f\n", v->start_time);

    family(out, "uwsgi_fast_requests_total", "counter",
           "Requests answered, including responses cut off by the client going away.");
    buf_printf(out, "uwsgi_fast_requests_total %llu\n", (unsigned long long)count);
    family(out, "uwsgi_fast_responses_total", "counter",
           "Responses by status class; none: the connection closed before a status was sent.");
    for (int i = 1; i < 6; i++)
        buf_printf(out, "uwsgi_fast_responses_total{code=\"%s\"} %llu\n", class_names[i],
                   (unsigned long long)t.responses[i]);
    buf_printf(out, "uwsgi_fast_responses_total{code=\"none\"} %llu\n",
               (unsigned long long)t.responses[0]);

    family(out, "uwsgi_fast_request_duration_seconds", "histogram",
           "Time from handing the request to the application to the last byte sent.");
    prom_histogram(out, "uwsgi_fast_request_duration_seconds", "", t.latency, t.latency_us_sum);
    family(out, "uwsgi_fast_request_phase_seconds", "histogram",
           "Each phase of a request, from its first byte to its last: parse (first byte to "
           "complete head), waited (to the application's call), app (to the response head), "
           "send (to the response complete).");
    for (int p = 0; p < SB_PHASES; p++) {
        char label[32];
        snprintf(label, sizeof(label), "phase=\"%s\"", sb_phase_names[p]);
        prom_histogram(out, "uwsgi_fast_request_phase_seconds", label, t.phase_latency[p],
                       t.phase_us_sum[p]);
    }

    family(out, "uwsgi_fast_received_bytes_total", "counter", "Bytes received from clients.");
    buf_printf(out, "uwsgi_fast_received_bytes_total %llu\n", (unsigned long long)t.bytes_in);
    family(out, "uwsgi_fast_sent_bytes_total", "counter", "Bytes sent to clients.");
    buf_printf(out, "uwsgi_fast_sent_bytes_total %llu\n", (unsigned long long)t.bytes_out);
    in_out(out, "uwsgi_fast_websocket_messages_total",
           "WebSocket messages received whole from clients (in) and sent to them (out).",
           t.ws_messages_in, t.ws_messages_out);
    in_out(out, "uwsgi_fast_websocket_payload_bytes_total",
           "Payload bytes of those WebSocket messages.", t.ws_bytes_in, t.ws_bytes_out);
}

/* Per worker and per listener: states, gauges, counters, accept queues. */
/* A worker's own engine: the master's choice until it has set up its ring, which with
 * --engine auto may fall back to epoll on its own. */
static const char *worker_engine(const metrics_view_t *v, const metrics_worker_t *wv)
{
    return sb_get(&wv->sb->on_epoll) ? "epoll" : engine_name(v);
}

/* The engine's counters per worker (docs/research.md), since each worker booted. */
static void prom_ring(buf_t *out, const metrics_view_t *v)
{
    static const struct {
        const char *name, *help;
        size_t field;
    } series[] = {
        {"uwsgi_fast_worker_ring_enters_total",
         "System calls into the engine to submit or wait (the ring's enter, or epoll's wait).",
         offsetof(sb_slot_t, ring_enters)},
        {"uwsgi_fast_worker_ring_submitted_total",
         "Operations handed to the kernel in submission queue entries (io_uring only).",
         offsetof(sb_slot_t, ring_submitted)},
        {"uwsgi_fast_worker_ring_completions_total", "Completions the worker reaped.",
         offsetof(sb_slot_t, ring_completed)},
        {"uwsgi_fast_worker_ring_rounds_total",
         "Passes over the completions that found at least one: completions / rounds is the "
         "mean batch.",
         offsetof(sb_slot_t, ring_rounds)},
        {"uwsgi_fast_worker_ring_syscalls_total",
         "System calls the worker's serving path made, counted where it makes them: the "
         "engine's, the hand-offs to siblings and to application threads (docs/research.md).",
         offsetof(sb_slot_t, ring_syscalls)},
        {"uwsgi_fast_worker_recv_enobufs_total",
         "Receives that ended because no provided buffer was free (--recv-buffers).",
         offsetof(sb_slot_t, recv_enobufs)},
        {"uwsgi_fast_worker_zerocopy_sends_total", "Zero-copy sends (SEND_ZC).",
         offsetof(sb_slot_t, zc_sends)},
        {"uwsgi_fast_worker_zerocopy_copied_total",
         "Zero-copy sends the kernel copied anyway (the notification said so).",
         offsetof(sb_slot_t, zc_copied)},
    };
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++)
        worker_series(out, v, series[i].name, "counter", series[i].help, series[i].field, true);
    worker_gauge(out, v, "uwsgi_fast_worker_ring_max_completions",
                 "The most completions one pass over the completion queue found.",
                 offsetof(sb_slot_t, ring_max_per_round));
}

static void prom_workers(buf_t *out, const metrics_view_t *v)
{
    unsigned states[4] = {0};
    for (unsigned i = 0; i < v->nworkers; i++)
        states[sb_get(&v->workers[i].sb->state) & 3]++;
    family(out, "uwsgi_fast_workers", "gauge", "Worker processes by state.");
    for (unsigned s = SB_BOOTING; s <= SB_DRAINING; s++)
        buf_printf(out, "uwsgi_fast_workers{state=\"%s\"} %u\n", state_name(s), states[s]);

    family(out, "uwsgi_fast_worker_info", "gauge",
           "The processes serving each worker slot (two while a successor boots), by pid, "
           "with the engine each runs on (one whose io_uring failed runs on epoll).");
    for (unsigned i = 0; i < v->nworkers; i++)
        buf_printf(out, "uwsgi_fast_worker_info{worker=\"%u\",pid=\"%d\",engine=\"%s\"} 1\n",
                   v->workers[i].slot, v->workers[i].pid, worker_engine(v, &v->workers[i]));
    worker_gauge(out, v, "uwsgi_fast_worker_connections", "Client connections a worker holds open.",
                 offsetof(sb_slot_t, connections));
    worker_gauge(out, v, "uwsgi_fast_worker_websockets",
                 "Open WebSockets a worker holds (accepted, not yet closed).",
                 offsetof(sb_slot_t, websockets));
    worker_gauge(out, v, "uwsgi_fast_worker_requests_in_flight",
                 "Requests a worker has handed to the application and not finished answering.",
                 offsetof(sb_slot_t, in_flight));
    worker_gauge(out, v, "uwsgi_fast_worker_threads",
                 "Application threads of a worker (--threads; 0 when its loop calls the "
                 "application).",
                 offsetof(sb_slot_t, threads));
    worker_gauge(out, v, "uwsgi_fast_worker_threads_busy",
                 "Application threads working on a request now.",
                 offsetof(sb_slot_t, threads_busy));
    worker_gauge(out, v, "uwsgi_fast_worker_app_queue",
                 "Complete requests waiting for a free application thread.",
                 offsetof(sb_slot_t, app_queue));
    family(out, "uwsgi_fast_shared_queue", "gauge",
           "Complete requests waiting for whichever worker has an application thread free first "
           "(work sharing: they waited behind long requests, or their worker is leaving).");
    buf_printf(out, "uwsgi_fast_shared_queue %d\n", v->shared_queue > 0 ? (int)v->shared_queue : 0);
    worker_series(out, v, "uwsgi_fast_worker_handed_off_total", "counter",
                  "Requests a worker passed, with their connection, to a sibling or the shared "
                  "queue because it could not start them soon (work sharing).",
                  offsetof(sb_slot_t, handed_off), true);
    prom_ring(out, v);
    worker_series(out, v, "uwsgi_fast_worker_taken_over_total", "counter",
                  "Requests a worker took over from a sibling or the shared queue.",
                  offsetof(sb_slot_t, taken_over), true);
    worker_series(out, v, "uwsgi_fast_worker_requests_total", "counter",
                  "Requests served by each worker process since it started.",
                  offsetof(sb_slot_t, requests), true);
    worker_series(out, v, "uwsgi_fast_worker_rss_bytes", "gauge", "Resident memory of each worker.",
                  offsetof(sb_slot_t, rss_bytes), true);

    accept_queue_family(out, v, false);
    accept_queue_family(out, v, true);
}

/* Recycling, the log outputs and the memory budget. */
static void prom_churn_outputs(buf_t *out, const metrics_view_t *v, const metrics_totals_t *tp)
{
    const metrics_totals_t t = *tp;
    family(out, "uwsgi_fast_worker_recycles_total", "counter",
           "Workers that left, by why: replaced (reload, limits, memory), scaled down, killed "
           "for a timeout, or died.");
    for (unsigned r = 1; r < METRICS_RECYCLE_REASONS; r++)
        buf_printf(out, "uwsgi_fast_worker_recycles_total{reason=\"%s\"} %llu\n",
                   v->recycle_names[r], (unsigned long long)v->recycles[r]);

    family(out, "uwsgi_fast_access_log_lines_total", "counter", "Access log lines written.");
    buf_printf(out, "uwsgi_fast_access_log_lines_total %llu\n", (unsigned long long)t.alog_lines);
    family(out, "uwsgi_fast_access_log_dropped_total", "counter",
           "Access log lines dropped because the file could not keep up.");
    buf_printf(out, "uwsgi_fast_access_log_dropped_total %llu\n",
               (unsigned long long)t.alog_dropped);
    family(out, "uwsgi_fast_log_target_sent_total", "counter", "Lines sent to --log-target.");
    buf_printf(out, "uwsgi_fast_log_target_sent_total %llu\n",
               (unsigned long long)(t.ship_sent + v->master_ship_sent));
    family(out, "uwsgi_fast_log_target_dropped_total", "counter",
           "Lines --log-target did not take in time (slow, stalled or unreachable collector).");
    buf_printf(out, "uwsgi_fast_log_target_dropped_total %llu\n",
               (unsigned long long)(t.ship_dropped + v->master_ship_dropped));
    family(out, "uwsgi_fast_statsd_dropped_total", "counter", "statsd packets dropped.");
    buf_printf(out, "uwsgi_fast_statsd_dropped_total %llu\n",
               (unsigned long long)(t.statsd_dropped + v->master_statsd_dropped));

    family(out, "uwsgi_fast_memory_budget_bytes", "gauge",
           "Memory the workers may use together (cgroup limit or MemTotal, minus the reserve).");
    buf_printf(out, "uwsgi_fast_memory_budget_bytes %llu\n", (unsigned long long)v->budget_bytes);
    family(out, "uwsgi_fast_worker_footprint_bytes", "gauge",
           "Measured memory (PSS) of a freshly booted worker; 0 until measured.");
    buf_printf(out, "uwsgi_fast_worker_footprint_bytes %llu\n",
               (unsigned long long)v->footprint_bytes);
}

void metrics_prometheus(const metrics_view_t *v, buf_t *out)
{
    metrics_totals_t t = sum_all(v);
    prom_requests(out, v, &t);
    prom_workers(out, v);
    prom_churn_outputs(out, v, &t);
}

/* {"buckets":[{"le":..,"count":..},...],"sum_seconds":..}: per bucket, not cumulative. */
static void json_histogram(buf_t *out, const uint64_t counts[SB_LATENCY_BUCKETS], uint64_t us_sum)
{
    buf_append_str(out, "{\"buckets\":[");
    for (int i = 0; i < SB_LATENCY_BUCKETS; i++) {
        if (i < SB_LATENCY_BUCKETS - 1)
            buf_printf(out, "%s{\"le\":%g,\"count\":%llu}", i ? "," : "", sb_latency_le_us[i] / 1e6,
                       (unsigned long long)counts[i]);
        else
            buf_printf(out, ",{\"le\":null,\"count\":%llu}", (unsigned long long)counts[i]);
    }
    buf_printf(out, "],\"sum_seconds\":%.6f}", us_sum / 1e6);
}

/* A worker's phases in /stats: each one's count and mean, since the worker booted. */
static void json_worker_phases(buf_t *out, const sb_slot_t *s)
{
    buf_append_str(out, "\"phases\":{");
    for (int p = 0; p < SB_PHASES; p++) {
        uint64_t n = 0;
        for (int i = 0; i < SB_LATENCY_BUCKETS; i++)
            n += sb_get64(&s->phase_latency[p][i]);
        uint64_t sum = sb_get64(&s->phase_us_sum[p]);
        buf_printf(out, "%s\"%s\":{\"count\":%llu,\"mean_seconds\":%.6f}", p ? "," : "",
                   sb_phase_names[p], (unsigned long long)n, n ? sum / 1e6 / (double)n : 0.0);
    }
    buf_append_str(out, "},");
}

/* The "workers" member of /stats: each live worker with its listeners' accept queues. */
static void json_workers(buf_t *out, const metrics_view_t *v)
{
    buf_append_str(out, "\"workers\":[");
    for (unsigned i = 0; i < v->nworkers; i++) {
        const metrics_worker_t *wv = &v->workers[i];
        const sb_slot_t *s = wv->sb;
        buf_printf(out,
                   "%s{\"worker\":%u,\"pid\":%d,\"generation\":%u,\"state\":\"%s\","
                   "\"engine\":\"%s\",\"requests\":%llu,\"in_flight\":%u,\"connections\":%u,\"rss_"
                   "bytes\":%llu,"
                   "\"threads\":%u,\"threads_busy\":%u,\"app_queue\":%u,",
                   i ? "," : "", wv->slot, wv->pid, sb_get(&s->generation),
                   state_name(sb_get(&s->state)), worker_engine(v, wv),
                   (unsigned long long)sb_get64(&s->requests), sb_get(&s->in_flight),
                   sb_get(&s->connections), (unsigned long long)sb_get64(&s->rss_bytes),
                   sb_get(&s->threads), sb_get(&s->threads_busy), sb_get(&s->app_queue));
        json_worker_phases(out, s);
        buf_printf(out,
                   "\"ring\":{\"enters\":%llu,\"submitted\":%llu,\"completions\":%llu,"
                   "\"rounds\":%llu,\"max_completions\":%u,\"syscalls\":%llu,"
                   "\"recv_enobufs\":%llu,"
                   "\"zerocopy_sends\":%llu,\"zerocopy_copied\":%llu},",
                   (unsigned long long)sb_get64(&s->ring_enters),
                   (unsigned long long)sb_get64(&s->ring_submitted),
                   (unsigned long long)sb_get64(&s->ring_completed),
                   (unsigned long long)sb_get64(&s->ring_rounds), sb_get(&s->ring_max_per_round),
                   (unsigned long long)sb_get64(&s->ring_syscalls),
                   (unsigned long long)sb_get64(&s->recv_enobufs),
                   (unsigned long long)sb_get64(&s->zc_sends),
                   (unsigned long long)sb_get64(&s->zc_copied));
        buf_append_str(out, "\"accept_queue\":[");
        for (unsigned k = 0; k < v->nslots; k++) {
            if (v->slots[k].index != wv->slot)
                continue;
            for (unsigned b = 0; b < v->slots[k].nlisteners; b++) {
                char name[128];
                const metrics_queue_t *q = &v->slots[k].queues[b];
                listener_label(&v->slots[k].listeners[b], name, sizeof(name));
                buf_printf(out, "%s{\"listener\":\"%s\",\"length\":%u,\"limit\":%u}", b ? "," : "",
                           name, q->length, q->limit);
            }
            buf_printf(out, "],\"cpu\":%d}", v->slots[k].cpu);
            break;
        }
        if (out->len && out->data[out->len - 1] == '[')
            buf_append_str(out, "],\"cpu\":-1}");
    }
}

void metrics_json(const metrics_view_t *v, buf_t *out)
{
    metrics_totals_t t = sum_all(v);
    uint64_t count = request_count(&t);
    char why[128];
    bool ready = metrics_ready(v, why, sizeof(why));
    buf_printf(out,
               "{\"version\":\"%s\",\"engine\":\"%s\",\"instruments\":%s,\"pid\":%d,"
               "\"start_time\":%.3f,\"stopping\":%s,\"ready\":%s,",
               UF_VERSION, engine_name(v), UF_INSTRUMENTS ? "true" : "false", v->pid, v->start_time,
               v->stopping ? "true" : "false", ready ? "true" : "false");
    buf_printf(out, "\"requests\":%llu,\"shared_queue\":%d,\"responses\":{",
               (unsigned long long)count, v->shared_queue > 0 ? (int)v->shared_queue : 0);
    for (int i = 1; i < 6; i++)
        buf_printf(out, "\"%s\":%llu,", class_names[i], (unsigned long long)t.responses[i]);
    buf_printf(out, "\"none\":%llu},", (unsigned long long)t.responses[0]);
    buf_append_str(out, "\"latency\":");
    json_histogram(out, t.latency, t.latency_us_sum);
    buf_append_str(out, ",\"phases\":{");
    for (int p = 0; p < SB_PHASES; p++) {
        buf_printf(out, "%s\"%s\":", p ? "," : "", sb_phase_names[p]);
        json_histogram(out, t.phase_latency[p], t.phase_us_sum[p]);
    }
    buf_append_str(out, "},");
    buf_printf(out, "\"bytes_in\":%llu,\"bytes_out\":%llu,", (unsigned long long)t.bytes_in,
               (unsigned long long)t.bytes_out);
    unsigned long long ws_open = 0;
    for (unsigned i = 0; i < v->nworkers; i++)
        ws_open += sb_get(&v->workers[i].sb->websockets);
    buf_printf(out,
               "\"websockets\":{\"open\":%llu,\"messages_in\":%llu,\"messages_out\":%llu,"
               "\"bytes_in\":%llu,\"bytes_out\":%llu},",
               ws_open, (unsigned long long)t.ws_messages_in, (unsigned long long)t.ws_messages_out,
               (unsigned long long)t.ws_bytes_in, (unsigned long long)t.ws_bytes_out);
    buf_printf(out, "\"access_log\":{\"lines\":%llu,\"dropped\":%llu},",
               (unsigned long long)t.alog_lines, (unsigned long long)t.alog_dropped);
    buf_printf(out, "\"log_target\":{\"sent\":%llu,\"dropped\":%llu},",
               (unsigned long long)(t.ship_sent + v->master_ship_sent),
               (unsigned long long)(t.ship_dropped + v->master_ship_dropped));
    buf_append_str(out, "\"recycles\":{");
    for (unsigned r = 1; r < METRICS_RECYCLE_REASONS; r++)
        buf_printf(out, "%s\"%s\":%llu", r > 1 ? "," : "", v->recycle_names[r],
                   (unsigned long long)v->recycles[r]);
    buf_printf(out, "},\"memory\":{\"budget_bytes\":%llu,\"footprint_bytes\":%llu},",
               (unsigned long long)v->budget_bytes, (unsigned long long)v->footprint_bytes);
    json_workers(out, v);
    buf_append_str(out, "]}\n");
}

bool metrics_ready(const metrics_view_t *v, char *why, size_t whylen)
{
    if (v->stopping) {
        snprintf(why, whylen, "stopping");
        return false;
    }
    unsigned ready = 0;
    int thr = v->cfg->ready_saturation;
    for (unsigned i = 0; i < v->nworkers; i++) {
        const sb_slot_t *s = v->workers[i].sb;
        if (sb_get(&s->state) != SB_READY)
            continue;
        ready++;
        if (thr > 0 && sb_get(&s->in_flight) > (uint32_t)thr) {
            snprintf(why, whylen, "saturated: worker %u has %u requests in flight",
                     v->workers[i].slot, sb_get(&s->in_flight));
            return false;
        }
    }
    if (!ready) {
        snprintf(why, whylen, "no worker has loaded the application yet");
        return false;
    }
    /* every listener needs a worker accepting from it: its own, or (work sharing) any
     * ready sibling, which steals from the listeners of booting, dead or leaving workers */
    for (unsigned k = 0; !v->sharing && k < v->nslots; k++) {
        if (v->slots[k].leaving)
            continue;
        bool served = false;
        for (unsigned i = 0; i < v->nworkers && !served; i++)
            served = v->workers[i].slot == v->slots[k].index &&
                     sb_get(&v->workers[i].sb->state) == SB_READY;
        if (!served) {
            snprintf(why, whylen, "worker %u's listener has no worker accepting from it",
                     v->slots[k].index);
            return false;
        }
    }
    for (unsigned k = 0; thr > 0 && k < v->nslots; k++)
        for (unsigned b = 0; b < v->slots[k].nlisteners; b++) {
            uint32_t len = v->slots[k].queues[b].length;
            if (len > (uint32_t)thr) {
                snprintf(why, whylen, "saturated: %u connections wait in worker %u's accept queue",
                         len, v->slots[k].index);
                return false;
            }
        }
    snprintf(why, whylen, "ready");
    return true;
}
