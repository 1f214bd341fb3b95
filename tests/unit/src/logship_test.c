/* Unit tests for src/logship.c: target parsing, framing (JSON and RFC 5424, datagrams and
 * streams), the bounded queue, and non-blocking delivery to a local socket pair. */
#include "src/logship.c"

#include <sys/socket.h>

#include "check.h"

static void test_parse(void)
{
    logship_target_t t;
    char err[256];
    CHECK_EQ_INT(logship_parse("udp://127.0.0.1:514", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t.transport, SHIP_UDP);
    CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&t.addr)->sin_port), 514);
    CHECK_EQ_INT(logship_parse("tcp://[::1]:6000", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t.transport, SHIP_TCP);
    CHECK_EQ_INT(t.addr.ss_family, AF_INET6);
    CHECK_EQ_INT(logship_parse("unix:/dev/log", &t, err, sizeof(err)), 0);
    CHECK_EQ_INT(t.transport, SHIP_UNIX);
    CHECK_EQ_INT(logship_parse("http://x:1", &t, err, sizeof(err)), -1);
    CHECK(strstr(err, "udp://HOST:PORT") != NULL);
    CHECK_EQ_INT(logship_parse("udp://127.0.0.1", &t, err, sizeof(err)), -1);
    CHECK_EQ_INT(logship_parse("udp://127.0.0.1:0", &t, err, sizeof(err)), -1);
    CHECK_EQ_INT(logship_parse("unix:", &t, err, sizeof(err)), -1);
}

static logship_t make(int transport, bool rfc, bool stream)
{
    logship_target_t t = {.transport = transport};
    snprintf(t.spec, sizeof(t.spec), "test");
    logship_t s;
    logship_init(&s, &t, rfc, 2);
    s.stream = stream;
    snprintf(s.host, sizeof(s.host), "h");
    s.pid = 7;
    return s;
}

static void test_json_datagrams(void)
{
    logship_t s = make(SHIP_UDP, false, false);
    logship_error(&s, 3, "boom \"x\"\n", 9);
    const char line[] = "{\"status\":200,\"request\":\"GET / HTTP/1.1\"}";
    logship_access(&s, line, sizeof(line) - 1, NULL, 0, 0);
    /* a line with pid and worker of its own: the head leaves them out, each key once */
    const char own[] = "{\"pid\":9,\"worker\":2,\"status\":200}";
    logship_access(&s, own, sizeof(own) - 1, NULL, 0,
                   LOGSHIP_LINE_HAS_PID | LOGSHIP_LINE_HAS_WORKER);
    const char own_pid[] = "{\"pid\":9}";
    logship_access(&s, own_pid, sizeof(own_pid) - 1, NULL, 0, LOGSHIP_LINE_HAS_PID);
    CHECK_EQ_INT((int)s.fill_count, 4);
    char first[512];
    snprintf(first, sizeof(first), "%.*s", (int)s.fill_ends[0], s.fill.data);
    CHECK(strncmp(first, "{\"type\":\"error\",\"host\":\"h\",\"pid\":7,\"worker\":2,\"time\":\"",
                  54) == 0);
    CHECK(strstr(first, "\"level\":\"ERROR\",\"message\":\"boom \\\"x\\\"\\n\"}") != NULL);
    char second[512];
    snprintf(second, sizeof(second), "%.*s", (int)(s.fill_ends[1] - s.fill_ends[0]),
             s.fill.data + s.fill_ends[0]);
    CHECK_EQ_STR(second, "{\"type\":\"access\",\"host\":\"h\",\"pid\":7,\"worker\":2,"
                         "\"status\":200,\"request\":\"GET / HTTP/1.1\"}");
    char third[512];
    snprintf(third, sizeof(third), "%.*s", (int)(s.fill_ends[2] - s.fill_ends[1]),
             s.fill.data + s.fill_ends[1]);
    CHECK_EQ_STR(third, "{\"type\":\"access\",\"host\":\"h\",\"pid\":9,\"worker\":2,"
                        "\"status\":200}");
    char fourth[512];
    snprintf(fourth, sizeof(fourth), "%.*s", (int)(s.fill_ends[3] - s.fill_ends[2]),
             s.fill.data + s.fill_ends[2]);
    CHECK_EQ_STR(fourth, "{\"type\":\"access\",\"host\":\"h\",\"worker\":2,\"pid\":9}");
    /* RFC 3339, UTC, milliseconds, "Z": the time format of every JSON line */
    const char *t = strstr(first, "\"time\":\"") + 8;
    CHECK(strlen(t) > 25 && t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[23] == 'Z' &&
          t[24] == '"');
    logship_free(&s);
}

static void test_syslog_stream(void)
{
    logship_t s = make(SHIP_TCP, true, true);
    logship_access(&s, NULL, 0, "127.0.0.1 - - \"GET /\" 200", 25, 0);
    logship_error(&s, 2, "careful", 7);
    buf_append(&s.fill, "", 1); /* NUL for the string functions below */
    s.fill.len--;
    /* octet counting: "LEN <14>1 TIME HOST APP PID MSGID - MSG" */
    char *sp = strchr(s.fill.data, ' ');
    CHECK(sp != NULL);
    long len = strtol(s.fill.data, NULL, 10);
    CHECK(strncmp(sp + 1, "<14>1 ", 6) == 0);
    CHECK(strstr(sp + 1, " h uwsgi-fast 7 access - 127.0.0.1 - - \"GET /\" 200") != NULL);
    char *second = sp + 1 + len;
    CHECK(strncmp(second, "", 0) == 0 && strstr(second, " <12>1 ") != NULL);
    CHECK(strstr(second, " h uwsgi-fast 7 error - careful") != NULL);
    logship_free(&s);
}

/* RFC 3164 (--log-syslog's default): "<PRI>Mmm dd hh:mm:ss HOST TAG.KIND[PID]: MSG", the
 * facility in the PRI, newline-framed on a stream; RFC 5424 carries the tag as APP-NAME. */
static void test_rfc3164(void)
{
    logship_t s = make(SHIP_UDP, true, false);
    logship_set_syslog(&s, true, 19, "gunicorn.app");
    logship_error(&s, 3, "boom", 4);
    logship_access(&s, "{}", 2, "GET / 200", 9, 0);
    CHECK_EQ_INT((int)s.fill_count, 2);
    char first[256], second[256];
    snprintf(first, sizeof(first), "%.*s", (int)s.fill_ends[0], s.fill.data);
    snprintf(second, sizeof(second), "%.*s", (int)(s.fill_ends[1] - s.fill_ends[0]),
             s.fill.data + s.fill_ends[0]);
    /* <PRI> = local3 (19) * 8 + error (3) */
    CHECK(strncmp(first, "<155>", 5) == 0);
    CHECK(first[8] == ' ' && first[11] == ' ' && first[14] == ':' && first[17] == ':');
    CHECK_EQ_STR(first + 20, " h gunicorn.app.error[7]: boom");
    CHECK(strncmp(second, "<158>", 5) == 0);
    CHECK_EQ_STR(second + 20, " h gunicorn.app.access[7]: GET / 200");
    logship_free(&s);

    logship_t t = make(SHIP_TCP, true, true);
    logship_set_syslog(&t, true, 1, "gunicorn.app");
    logship_error(&t, 1, "one", 3);
    logship_error(&t, 1, "two", 3);
    buf_append(&t.fill, "", 1);
    t.fill.len--;
    char *nl = strchr(t.fill.data, '\n');
    CHECK(nl != NULL && strncmp(t.fill.data, "<14>", 4) == 0 && strncmp(nl - 3, "one", 3) == 0);
    CHECK(nl && strncmp(nl + 1, "<14>", 4) == 0 && t.fill.data[t.fill.len - 1] == '\n');
    logship_free(&t);

    logship_t u = make(SHIP_UDP, true, false);
    logship_set_syslog(&u, false, 16, "gunicorn.app");
    logship_error(&u, 2, "careful", 7);
    buf_append(&u.fill, "", 1);
    CHECK(strncmp(u.fill.data, "<132>1 ", 7) == 0);
    CHECK(strstr(u.fill.data, " h gunicorn.app.error 7 error - careful") != NULL);
    logship_free(&u);
}

static void test_bounded_queue(void)
{
    logship_t s = make(SHIP_UDP, false, false);
    char msg[4000];
    memset(msg, 'm', sizeof(msg));
    int n = 0;
    while (s.dropped_local == 0 && n < 10000) {
        logship_error(&s, 1, msg, sizeof(msg));
        n++;
    }
    CHECK(s.dropped_local == 1);
    CHECK(s.fill.len <= SHIP_MAX_BYTES);
    CHECK(n > 200);
    /* a message longer than SHIP_MAX_MSG is cut */
    logship_t t = make(SHIP_UDP, true, false);
    char big[3 * SHIP_MAX_MSG];
    memset(big, 'b', sizeof(big));
    logship_error(&t, 1, big, sizeof(big));
    CHECK_EQ_INT((int)t.fill_ends[0], SHIP_MAX_MSG);
    logship_free(&s);
    logship_free(&t);
}

static void test_direct_delivery(void)
{
    /* the master's way: non-blocking sends on a connected datagram socket */
    int sv[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    logship_t s = make(SHIP_UNIX, false, false);
    s.fd = sv[0];
    for (int i = 0; i < 3; i++) {
        char m[16];
        logship_raw(&s, m, (size_t)snprintf(m, sizeof(m), "msg %d", i));
    }
    logship_direct_run(&s, 1000);
    CHECK_EQ_INT((int)s.sent_local, 3);
    for (int i = 0; i < 3; i++) {
        char got[32] = {0}, want[16];
        snprintf(want, sizeof(want), "msg %d", i);
        CHECK(recv(sv[1], got, sizeof(got) - 1, MSG_DONTWAIT) > 0);
        CHECK_EQ_STR(got, want);
    }
    short ev;
    CHECK_EQ_INT(logship_direct_fd(&s, &ev), sv[0]);
    CHECK_EQ_INT(ev, 0); /* nothing left to send */
    logship_free(&s);    /* closes sv[0] */
    close(sv[1]);
}

int main(void)
{
    test_parse();
    test_json_datagrams();
    test_syslog_stream();
    test_rfc3164();
    test_bounded_queue();
    test_direct_delivery();
    return check_done();
}
