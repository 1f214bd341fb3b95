/* Unit tests for src/metrics.c: a scoreboard snapshot built by hand (one worker retired,
 * two live on two slots, one slot leaving, two listeners each) rendered as Prometheus
 * text and as JSON, compared byte for byte with the golden copies below; and /ready's
 * verdicts (stopping, nobody ready, saturated by requests or by an accept queue, a
 * listener nobody serves, served by stealing under work sharing). */
#include "src/metrics.c"
#include "src/churn.h"

#include "check.h"

#include <limits.h>
#include <stdlib.h>

static tun_config_t cfg;
static metrics_totals_t retired;
static sb_slot_t sb[2];
static worker_listener_t listeners[2][2];
static metrics_queue_t queues[2][2];
static metrics_slot_t slots[2];
static metrics_worker_t workers[2];
static uint64_t recycles[METRICS_RECYCLE_REASONS];
static const char *const *const recycle_names = churn_reason_labels;

static metrics_view_t snapshot(void)
{
    memset(&cfg, 0, sizeof(cfg));
    memset(sb, 0, sizeof(sb));
    retired = (metrics_totals_t){
        .responses = {1, 0, 10, 2, 3, 1},
        .latency = {5, 4, 3, 2, 1},
        .latency_us_sum = 1234567,
        .bytes_in = 1000,
        .bytes_out = 5000,
        .ws_messages_in = 10,
        .ws_messages_out = 20,
        .ws_bytes_in = 100,
        .ws_bytes_out = 200,
        .alog_lines = 17,
        .alog_dropped = 1,
        .ship_sent = 20,
        .ship_dropped = 2,
        .statsd_dropped = 3,
    };
    for (unsigned i = 0; i < 2; i++) {
        sb[i].generation = 1 + i;
        sb[i].state = i ? SB_BOOTING : SB_READY;
        sb[i].requests = 40 + i;
        sb[i].rss_bytes = (50u + i) << 20;
        sb[i].responses[2] = 30 + i;
        sb[i].responses[5] = i;
        sb[i].latency[0] = 20;
        sb[i].latency[SB_LATENCY_BUCKETS - 1] = 1 + i;
        sb[i].latency_us_sum = 20000000 + i;
        sb[i].ring_enters = 500 + i;
        sb[i].ring_submitted = 900 + i;
        sb[i].ring_completed = 1000 + i;
        sb[i].ring_rounds = 400 + i;
        sb[i].ring_syscalls = 700 + i;
        sb[i].ring_max_per_round = 12 + i;
        sb[i].recv_enobufs = i;
        sb[i].zc_sends = 8 + i;
        sb[i].zc_copied = i;
        for (unsigned p = 0; p < SB_PHASES; p++) {
            sb[i].phase_latency[p][p] = 10 + i; /* parse in the first bucket, send in the 4th */
            sb[i].phase_us_sum[p] = (10 + i) * (p + 1) * 400;
        }
        sb[i].bytes_in = 300;
        sb[i].bytes_out = 700;
        sb[i].ws_messages_in = 5;
        sb[i].ws_messages_out = 6;
        sb[i].ws_bytes_in = 50;
        sb[i].ws_bytes_out = 60;
        sb[i].websockets = 1 + i;
        sb[i].alog_lines = 21;
        sb[i].ship_sent = 4;
        sb[i].handed_off = 6 + i;
        sb[i].taken_over = 2;
        sb[i].connections = 3 + i;
        sb[i].in_flight = 2;
        sb[i].threads = 4;
        sb[i].threads_busy = 1 + i;
        sb[i].app_queue = i;
        for (unsigned b = 0; b < 2; b++) {
            listeners[i][b] = (worker_listener_t){.fd = -1, .port = 8000 + (int)b};
            snprintf(listeners[i][b].host, sizeof(listeners[i][b].host), "%s",
                     b ? "::1" : "127.0.0.1");
            queues[i][b] = (metrics_queue_t){.length = i + b, .limit = 128};
        }
        slots[i] = (metrics_slot_t){.index = i,
                                    .listeners = listeners[i],
                                    .queues = queues[i],
                                    .nlisteners = 2,
                                    .cpu = i ? -1 : 3,
                                    .leaving = i == 1};
        workers[i] = (metrics_worker_t){.slot = i, .pid = 100 + (int)i, .sb = &sb[i]};
    }
    for (unsigned r = 0; r < METRICS_RECYCLE_REASONS; r++)
        recycles[r] = r;
    return (metrics_view_t){
        .cfg = &cfg,
        .pid = 99,
        .start_time = 1700000000.25,
        .retired = &retired,
        .slots = slots,
        .nslots = 2,
        .workers = workers,
        .nworkers = 2,
        .recycles = recycles,
        .recycle_names = recycle_names,
        .master_ship_sent = 5,
        .master_ship_dropped = 1,
        .master_statsd_dropped = 2,
        .budget_bytes = 1ull << 30,
        .footprint_bytes = 40ull << 20,
        .shared_queue = 7,
    };
}

/* The golden copy tests/fixtures/metrics/<name>, with @VERSION@ standing for UF_VERSION. */
static void golden(const char *name, char *out, size_t outlen)
{
    const char *src = getenv("UF_SOURCE_ROOT");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/tests/fixtures/metrics/%s", src ? src : ".", name);
    static char text[65536];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = 0;
    CHECK(n > 0);
    /* the copies are the default build's; one without instruments says so in /stats */
    char *flag = strstr(text, "\"instruments\":true");
    if (flag && !UF_INSTRUMENTS && n + 1 < sizeof(text)) {
        char *v = flag + strlen("\"instruments\":");
        memmove(v + 5, v + 4, strlen(v + 4) + 1); /* "true" -> "false", a byte longer */
        memcpy(v, "false", 5);
    }
    const char *at = strstr(text, "@VERSION@");
    if (!at) {
        snprintf(out, outlen, "%s", text);
        return;
    }
    snprintf(out, outlen, "%.*s%s%s", (int)(at - text), text, UF_VERSION, at + 9);
}

/* UF_UPDATE_GOLDEN=1: writes the rendering as the new golden copy (UF_VERSION back to
 * @VERSION@), for a change to the output that is meant; review the diff before committing. */
static void update_golden(const buf_t *got, const char *name)
{
    const char *src = getenv("UF_SOURCE_ROOT");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/tests/fixtures/metrics/%s", src ? src : ".", name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    const char *at = memmem(got->data, got->len, UF_VERSION, strlen(UF_VERSION));
    size_t head = at ? (size_t)(at - got->data) : got->len;
    fwrite(got->data, 1, head, f);
    if (at) {
        fputs("@VERSION@", f);
        fwrite(at + strlen(UF_VERSION), 1, got->len - head - strlen(UF_VERSION), f);
    }
    fclose(f);
}

/* Compares the rendering with the golden copy; on a difference, prints the first line
 * that differs (the whole text is long). */
static void check_golden(const buf_t *got, const char *name)
{
    if (getenv("UF_UPDATE_GOLDEN")) {
        update_golden(got, name);
        return;
    }
    static char want[65536];
    golden(name, want, sizeof(want));
    size_t n = strlen(want);
    bool same = got->len == n && memcmp(got->data, want, n) == 0;
    CHECK(same);
    if (same)
        return;
    size_t i = 0;
    while (i < n && i < got->len && want[i] == got->data[i])
        i++;
    while (i > 0 && want[i - 1] != '\n') /* from the start of that line */
        i--;
    fprintf(stderr, "%s differs at byte %zu:\n  want: %.120s\n  got:  %.*s\n", name, i, want + i,
            (int)(got->len - i < 120 ? got->len - i : 120), got->data + i);
}

typedef void render_fn(const metrics_view_t *v, buf_t *out);

/* Renders v afresh into out, NUL-terminated for strstr (the NUL not counted in len). */
static const char *render(render_fn *fn, const metrics_view_t *v, buf_t *out)
{
    out->len = 0;
    fn(v, out);
    buf_append(out, "", 1);
    out->len--;
    return out->data;
}

static void test_prometheus(void)
{
    metrics_view_t v = snapshot();
    buf_t out = {0};
    render(metrics_prometheus, &v, &out);
    check_golden(&out, "two-workers.prom");
    /* no worker, nothing retired: every family is still there, the per-worker ones empty */
    v.nworkers = 0;
    v.nslots = 0;
    metrics_totals_t none = {0};
    v.retired = &none;
    const char *text = render(metrics_prometheus, &v, &out);
    CHECK(strstr(text, "uwsgi_fast_requests_total 0\n") != NULL);
    CHECK(strstr(text, "# TYPE uwsgi_fast_worker_connections gauge\n# HELP") != NULL);
    CHECK(strstr(text, "uwsgi_fast_request_duration_seconds_bucket{le=\"+Inf\"} 0\n") != NULL);
    buf_free(&out);
}

static void test_json(void)
{
    metrics_view_t v = snapshot();
    buf_t out = {0};
    render(metrics_json, &v, &out);
    check_golden(&out, "two-workers.json");
    /* a worker whose slot has no view (a leftover of a slot already closed) */
    v.nslots = 1;
    const char *text = render(metrics_json, &v, &out);
    CHECK(strstr(text, "},\"accept_queue\":[],\"cpu\":-1}]}\n") != NULL);
    buf_free(&out);
}

static void check_ready(const metrics_view_t *v, bool want, const char *why_want)
{
    char why[160];
    CHECK_EQ_INT(metrics_ready(v, why, sizeof(why)), want);
    CHECK_EQ_STR(why, why_want);
}

static void test_ready(void)
{
    metrics_view_t v = snapshot();
    /* slot 1 is leaving, so its booting worker does not matter */
    check_ready(&v, true, "ready");
    slots[1].leaving = false;
    check_ready(&v, false, "worker 1's listener has no worker accepting from it");
    v.sharing = true; /* ...unless a sibling steals from it */
    check_ready(&v, true, "ready");
    cfg.ready_saturation = 1;
    check_ready(&v, false, "saturated: worker 0 has 2 requests in flight");
    cfg.ready_saturation = 2;
    queues[1][1].length = 3; /* a queue over the threshold */
    check_ready(&v, false, "saturated: 3 connections wait in worker 1's accept queue");
    cfg.ready_saturation = 0; /* no threshold: queues do not matter */
    check_ready(&v, true, "ready");
    sb[0].state = SB_DRAINING;
    check_ready(&v, false, "no worker has loaded the application yet");
    v.stopping = true;
    check_ready(&v, false, "stopping");
}

static void test_fold(void)
{
    metrics_totals_t t = {0};
    snapshot();
    metrics_fold(&t, &sb[0]);
    metrics_fold(&t, &sb[1]);
    CHECK_EQ_INT(t.responses[2], 61);
    CHECK_EQ_INT(t.responses[5], 1);
    CHECK_EQ_INT(t.latency[0], 40);
    CHECK_EQ_INT(t.latency[SB_LATENCY_BUCKETS - 1], 3);
    CHECK_EQ_INT(t.latency_us_sum, 40000001);
    CHECK_EQ_INT(t.bytes_in, 600);
    CHECK_EQ_INT(t.bytes_out, 1400);
    CHECK_EQ_INT(t.alog_lines, 42);
    CHECK_EQ_INT(t.ship_sent, 8);
}

/* A successor booting beside the worker it replaces: one sample per slot (the sum), and
 * both pids in uwsgi_fast_worker_info, so a recycle starts no new series. */
static void test_slot_with_two_processes(void)
{
    metrics_view_t v = snapshot();
    workers[1].slot = 0; /* pid 101 now shares slot 0 with pid 100 */
    buf_t out = {0};
    const char *text = render(metrics_prometheus, &v, &out);
    CHECK(strstr(text, "uwsgi_fast_worker_connections{worker=\"0\"} 7\n") != NULL); /* 3 + 4 */
    CHECK(strstr(text, "uwsgi_fast_worker_connections{worker=\"1\"}") == NULL);
    CHECK(strstr(text, "uwsgi_fast_worker_requests_total{worker=\"0\"} 81\n") != NULL);
    CHECK(
        strstr(text, "uwsgi_fast_worker_info{worker=\"0\",pid=\"100\",engine=\"io_uring\"} 1\n") !=
        NULL);
    CHECK(
        strstr(text, "uwsgi_fast_worker_info{worker=\"0\",pid=\"101\",engine=\"io_uring\"} 1\n") !=
        NULL);
    const char *series = strstr(text, "uwsgi_fast_worker_threads_busy{");
    CHECK(series && strstr(series + 1, "uwsgi_fast_worker_threads_busy{worker=\"0\"}") == NULL);
    buf_free(&out);
}

/* With --engine auto a worker whose own io_uring failed runs on epoll beside siblings on
 * io_uring: each worker's series names its own engine, the info line the master's. */
static void test_worker_on_epoll(void)
{
    metrics_view_t v = snapshot();
    sb[1].on_epoll = 1;
    buf_t out = {0};
    const char *text = render(metrics_prometheus, &v, &out);
    CHECK(strstr(text, "uwsgi_fast_info{version=\"" UF_VERSION "\",engine=\"io_uring\"} 1\n") !=
          NULL);
    CHECK(
        strstr(text, "uwsgi_fast_worker_info{worker=\"0\",pid=\"100\",engine=\"io_uring\"} 1\n") !=
        NULL);
    CHECK(strstr(text, "uwsgi_fast_worker_info{worker=\"1\",pid=\"101\",engine=\"epoll\"} 1\n") !=
          NULL);
    text = render(metrics_json, &v, &out);
    CHECK(strstr(text, "\"worker\":0,\"pid\":100,\"generation\":1,\"state\":\"ready\",\"engine\":"
                       "\"io_uring\"") != NULL);
    CHECK(strstr(text, "\"worker\":1,\"pid\":101,\"generation\":2,\"state\":\"booting\",\"engine\":"
                       "\"epoll\"") != NULL);
    buf_free(&out);
}

int main(void)
{
    test_prometheus();
    test_worker_on_epoll();
    test_slot_with_two_processes();
    test_json();
    test_ready();
    test_fold();
    return check_done();
}
