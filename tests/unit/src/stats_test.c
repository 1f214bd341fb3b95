/* Unit tests for the part of src/stats.c the master and the workers share: the targets of
 * --stats-bind and --statsd-host, and the outputs set up once for both (the statsd prefix
 * as gunicorn normalises it, the error-log sink counting warnings and worse, statsd lines
 * gathered into one packet in a worker and sent one per datagram in the master). */
#include "src/stats.c"

#include "check.h"

static void test_targets(void)
{
    logship_target_t t;
    char err[400];
    CHECK_EQ_INT(stats_bind_target("127.0.0.1:9100", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t.transport, SHIP_TCP);
    CHECK_EQ_STR(t.spec, "127.0.0.1:9100");
    CHECK_EQ_INT(stats_bind_target("127.0.0.1", &t, err, sizeof(err)), -1); /* no default */
    CHECK(strstr(err, "--stats-bind") != NULL);
    CHECK_EQ_INT(stats_statsd_target("127.0.0.1", &t, err, sizeof(err)), 0); /* port 8125 */
    CHECK_EQ_INT(t.transport, SHIP_UDP);
    CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&t.addr)->sin_port), 8125);
    CHECK_EQ_INT(stats_statsd_target("[::1]:9125", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(ntohs(((struct sockaddr_in6 *)&t.addr)->sin6_port), 9125);
    CHECK_EQ_INT(stats_statsd_target("unix:/run/statsd.sock", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t.transport, SHIP_UNIX);
    CHECK_EQ_INT(stats_statsd_target("unix:", &t, err, sizeof(err)), -1);
    CHECK_EQ_INT(stats_statsd_target("127.0.0.1:0", &t, err, sizeof(err)), -1);
}

static void test_dogstatsd_tags(void)
{
    char out[STATS_TAGS_MAX], err[400];
    CHECK_EQ_INT(stats_dogstatsd_tags("env:prod,service:shop", out, sizeof(out), err, sizeof(err)),
                 0);
    CHECK_EQ_STR(out, "|#env:prod,service:shop");
    CHECK_EQ_INT(stats_dogstatsd_tags(" a:1 , canary ", out, sizeof(out), err, sizeof(err)), 0);
    CHECK_EQ_STR(out, "|#a:1,canary");
    CHECK_EQ_INT(stats_dogstatsd_tags(NULL, out, sizeof(out), err, sizeof(err)), 0);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(stats_dogstatsd_tags("", out, sizeof(out), err, sizeof(err)), 0);
    CHECK_EQ_STR(out, "");
    const char *bad[] = {"a:1,,b:2", "a|b", "#x", "a:1,", " ", "x\ny", "rate@0.5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        CHECK_EQ_INT(stats_dogstatsd_tags(bad[i], out, sizeof(out), err, sizeof(err)), -1);
        CHECK(strstr(err, "--dogstatsd-tags: \"") == err);
        CHECK(strstr(err, "NAME:VALUE") != NULL);
    }
    char small[10];
    CHECK_EQ_INT(stats_dogstatsd_tags("abc:1,def:2", small, sizeof(small), err, sizeof(err)), -1);
    CHECK(strstr(err, "longer than") != NULL);
}

static void test_outputs(void)
{
    tun_config_t cfg = {0};
    char err[400];
    stats_outputs_t none = {0};
    CHECK_EQ_INT(stats_outputs_open(&none, &cfg, -1, err, sizeof(err)), 0);
    CHECK(!none.shipping && !none.statsd_on);
    CHECK_EQ_INT(none.ship.fd, -1);
    CHECK_EQ_INT(none.statsd.fd, -1);

    cfg.statsd_host = "127.0.0.1:8125";
    cfg.statsd_prefix = "app..";
    stats_outputs_t w = {0};
    CHECK_EQ_INT(stats_outputs_open(&w, &cfg, 2, err, sizeof(err)), 0);
    CHECK(w.statsd_on);
    CHECK_EQ_STR(w.prefix, "app.");
    CHECK_EQ_INT(w.statsd.worker, 2);
    w.gather = true;                     /* a worker: one packet per loop round */
    stats_outputs_log(&w, 1, "info", 4); /* info is not counted */
    CHECK_EQ_INT(w.packet.len, 0);
    stats_outputs_log(&w, 2, "careful", 7);
    stats_outputs_log(&w, 4, "down", 4);
    CHECK_EQ_MEM(w.packet.data, w.packet.len,
                 "app.gunicorn.log.warning:1|c|@1.0\napp.gunicorn.log.critical:1|c|@1.0\n");
    CHECK_EQ_INT(w.statsd.fill_count, 0); /* nothing sent yet */

    /* DogStatsD tags end every line, as gunicorn's "|#" suffix */
    cfg.dogstatsd_tags = "env:prod";
    stats_outputs_t tagged = {0};
    CHECK_EQ_INT(stats_outputs_open(&tagged, &cfg, 1, err, sizeof(err)), 0);
    tagged.gather = true;
    stats_outputs_statsd(&tagged, "gunicorn.workers:%u|g", 3u);
    CHECK_EQ_MEM(tagged.packet.data, tagged.packet.len, "app.gunicorn.workers:3|g|#env:prod\n");
    logship_free(&tagged.statsd);
    buf_free(&tagged.packet);
    cfg.dogstatsd_tags = NULL;

    cfg.statsd_prefix = NULL;
    stats_outputs_t m = {0};
    CHECK_EQ_INT(stats_outputs_open(&m, &cfg, -1, err, sizeof(err)), 0);
    CHECK_EQ_STR(m.prefix, "");
    stats_outputs_log(&m, 3, "oops", 4); /* the master: a datagram per line */
    stats_outputs_statsd(&m, "gunicorn.workers:%u|g", 4u);
    CHECK_EQ_INT(m.statsd.fill_count, 2);
    CHECK_EQ_INT(m.packet.len, 0);

    cfg.statsd_host = "127.0.0.1:0";
    stats_outputs_t bad = {0};
    CHECK_EQ_INT(stats_outputs_open(&bad, &cfg, -1, err, sizeof(err)), -1);
    CHECK(strstr(err, "--statsd-host") != NULL);
    logship_free(&w.statsd);
    logship_free(&m.statsd);
    buf_free(&w.packet);
}

int main(void)
{
    test_targets();
    test_dogstatsd_tags();
    test_outputs();
    return check_done();
}
