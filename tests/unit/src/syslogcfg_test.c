/* Unit tests for src/syslogcfg.c: gunicorn's facility names, address spellings and tag. */
#include "src/syslogcfg.c"

#include <arpa/inet.h>
#include <sys/un.h>

#include "check.h"

static void test_facility(void)
{
    CHECK_EQ_INT(syslogcfg_facility("user"), 1);
    CHECK_EQ_INT(syslogcfg_facility("LOCAL7"), 23);
    CHECK_EQ_INT(syslogcfg_facility("security"), 4); /* gunicorn's deprecated auth */
    CHECK_EQ_INT(syslogcfg_facility("kern"), 0);
    CHECK_EQ_INT(syslogcfg_facility("local8"), -1);
    CHECK_EQ_INT(syslogcfg_facility(""), -1);
    CHECK_EQ_INT(syslogcfg_facility(NULL), -1);
    CHECK(strncmp(syslogcfg_facility_names(), "auth, authpriv, cron,", 21) == 0);
    CHECK(strstr(syslogcfg_facility_names(), "local7") != NULL);
}

static int port_of(const logship_target_t *t)
{
    return ntohs(((const struct sockaddr_in *)&t->addr)->sin_port);
}

static void test_address(void)
{
    logship_target_t t;
    char err[256];
    CHECK_EQ_INT(syslogcfg_address("udp://127.0.0.1:5514", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t.transport, SHIP_UDP);
    CHECK_EQ_INT(port_of(&t), 5514);
    CHECK_EQ_STR(t.spec, "udp://127.0.0.1:5514");
    /* gunicorn's default port */
    CHECK_EQ_INT(syslogcfg_address("udp://localhost", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(port_of(&t), 514);
    CHECK_EQ_INT(syslogcfg_address("tcp://127.0.0.1", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t.transport, SHIP_TCP);
    CHECK_EQ_INT(port_of(&t), 514);
    CHECK_EQ_INT(syslogcfg_address("tcp://[::1]", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t.addr.ss_family, AF_INET6);
    /* unix, both spellings, with gunicorn's socket-type suffix */
    CHECK_EQ_INT(syslogcfg_address("unix:///dev/log", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t.transport, SHIP_UNIX);
    CHECK_EQ_STR(((struct sockaddr_un *)&t.addr)->sun_path, "/dev/log");
    CHECK_EQ_INT(syslogcfg_address("unix:/run/x.sock#dgram", &t, err, sizeof(err)), 0);
    CHECK_EQ_STR(((struct sockaddr_un *)&t.addr)->sun_path, "/run/x.sock");
    CHECK_EQ_INT(syslogcfg_address("unix:///dev/log#stream", &t, err, sizeof(err)), 0);
    /* refused, each with the accepted forms */
    const char *bad[] = {"http://x:1",  "udp://127.0.0.1:0",     "udp://1.2.3.4:99999", "unix://",
                         "unix:/x#raw", "udp://1.2.3.4:5#dgram", "localhost:514"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        CHECK_EQ_INT(syslogcfg_address(bad[i], &t, err, sizeof(err)), -1);
        CHECK(strncmp(err, "--log-syslog-to: \"", 18) == 0);
        CHECK(strstr(err, "udp://HOST[:PORT], tcp://HOST[:PORT], unix://PATH") != NULL);
    }
    CHECK_EQ_INT(syslogcfg_address("udp://no-such-host.invalid:514", &t, err, sizeof(err)), -1);
    CHECK(strncmp(err, "--log-syslog-to: cannot resolve", 31) == 0);
}

static void test_tag(void)
{
    char tag[SHIP_TAG_MAX];
    syslogcfg_tag(NULL, "myapp.wsgi:application", tag, sizeof(tag));
    CHECK_EQ_STR(tag, "gunicorn.myapp.wsgi.application");
    syslogcfg_tag("shop", "x:app", tag, sizeof(tag));
    CHECK_EQ_STR(tag, "gunicorn.shop");
    syslogcfg_tag("my shop[1]", NULL, tag, sizeof(tag));
    CHECK_EQ_STR(tag, "gunicorn.my_shop_1_");
    syslogcfg_tag("", NULL, tag, sizeof(tag));
    CHECK_EQ_STR(tag, "gunicorn.uwsgi-fast");
    char small[12];
    syslogcfg_tag("averyveryverylongprefix", NULL, small, sizeof(small));
    CHECK_EQ_STR(small, "gunicorn.av");
}

int main(void)
{
    test_facility();
    test_address();
    test_tag();
    return check_done();
}
