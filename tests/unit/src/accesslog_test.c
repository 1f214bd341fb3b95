/* Unit tests for src/accesslog.c: the format compiler, every atom, escaping (text and
 * JSON). */
#include "src/accesslog.c"

#include <errno.h>
#include <stdlib.h>

#include "check.h"

static const http_limits_t limits = {4094, 100, 8190, 64 * 1024};

typedef struct fixture {
    http_req_t req;
    buf_t in;
    alog_resp_t resp;
    alog_rec_t rec;
} fixture_t;

static void setup(fixture_t *fx, const char *raw)
{
    memset(fx, 0, sizeof(*fx));
    http_req_init(&fx->req, &limits);
    buf_append(&fx->in, raw, strlen(raw));
    long r = http_parse(&fx->req, fx->in.data, 0, fx->in.len);
    CHECK(r > 0 && fx->req.complete);
    fx->rec = (alog_rec_t){
        .base = fx->in.data,
        .base_len = fx->in.len,
        .req = &fx->req,
        .remote_addr = "192.0.2.7",
        .remote_port = 40123,
        .server_name = "127.0.0.1",
        .server_port = 8000,
        .status = 200,
        .body_bytes = 1234,
        .duration_us = 2345678,
        .wall = {.tv_sec = 0, .tv_nsec = 123456789},
        .pid = 4242,
        .worker = 3,
        .conn_id = 17,
        .resp = &fx->resp,
    };
}

static void teardown(fixture_t *fx)
{
    http_req_free(&fx->req);
    buf_free(&fx->in);
    buf_free(&fx->resp.text);
}

/* Renders rec with `format`; returns a static copy without the newline. */
static const char *render(const char *format, bool json, fixture_t *fx)
{
    static char out[4096];
    alog_fmt_t *f;
    char err[256];
    if (alog_compile(format, &f, err, sizeof(err)) < 0) {
        fprintf(stderr, "    compile failed: %s\n", err);
        return "<compile error>";
    }
    py_header_t hdrs[] = {
        {{"Content-Type", 12}, {"text/html", 9}},
        {{"X-Trace", 7}, {"a\"b", 3}},
    };
    alog_capture(f, &fx->resp, hdrs, 2);
    buf_t b = {0};
    alog_render(f, json, &fx->rec, &b);
    CHECK(b.len > 0 && b.data[b.len - 1] == '\n');
    snprintf(out, sizeof(out), "%.*s", (int)(b.len ? b.len - 1 : 0), b.data);
    buf_free(&b);
    alog_fmt_free(f);
    return out;
}

static void test_default_format(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    fixture_t fx;
    setup(&fx, "GET /a%20b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nReferer: http://r/\r\n"
               "User-Agent: curl/8\r\n\r\n");
    CHECK_EQ_STR(render(ALOG_DEFAULT_FORMAT, false, &fx),
                 "192.0.2.7 - - [01/Jan/1970:00:00:00 +0000] \"GET /a%20b?x=1&y=2 HTTP/1.1\" 200 "
                 "1234 \"http://r/\" \"curl/8\"");
    CHECK_EQ_STR(render(ALOG_DEFAULT_FORMAT, true, &fx),
                 "{\"remote_addr\":\"192.0.2.7\",\"ident\":null,\"user\":null,"
                 "\"time\":\"1970-01-01T00:00:00.123Z\",\"request\":\"GET /a%20b?x=1&y=2 "
                 "HTTP/1.1\",\"status\":200,\"bytes\":1234,\"referer\":\"http://r/\","
                 "\"user_agent\":\"curl/8\"}");
    teardown(&fx);
}

static void test_every_atom(void)
{
    fixture_t fx;
    setup(&fx, "POST /app/x%2Fy%zz?q=%41 HTTP/1.0\r\nHost: h\r\n"
               "Authorization: Basic dXNlcjpwYXNz\r\nX-Req: one\r\nx-req: two\r\n"
               "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi");
    fx.rec.script_name = "/app/";
    fx.rec.script_name_len = 5;
    CHECK_EQ_STR(render("%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(b)s|%(B)s|%(T)s|%(D)s|%(M)s|%(L)s|"
                        "%(p)s|%(w)s|%(c)s|%(u)s|%(l)s|%%|%(h)s",
                        false, &fx),
                 "POST|/x/y%zz|q=%41|HTTP/1.0|200|1234|1234|2|2345678|2345|2.345678|<4242>|3|17|"
                 "user|-|%|192.0.2.7");
    /* headers: the last of a repeated one wins, names ignore case; o-atoms captured */
    CHECK_EQ_STR(render("%({X-REQ}i)s %({missing}i)s %({content-type}o)s %({x-trace}o)s "
                        "%({nope}o)s",
                        false, &fx),
                 "two - text/html a\\\"b -");
    CHECK_EQ_STR(render("%({remote_port}e)s %({REQUEST_METHOD}e)s %({PATH_INFO}e)s "
                        "%({QUERY_STRING}e)s %({RAW_URI}e)s %({SERVER_NAME}e)s:%({SERVER_PORT}e)s "
                        "%({CONTENT_TYPE}e)s %({HTTP_X_REQ}e)s %({SCRIPT_NAME}e)s "
                        "%({wsgi.url_scheme}e)s %({SERVER_PROTOCOL}e)s",
                        false, &fx),
                 "40123 POST /x/y%zz q=%41 /app/x%2Fy%zz?q=%41 127.0.0.1:8000 text/plain two "
                 "/app/ - HTTP/1.0");
    CHECK_EQ_STR(render("%(D)d %(s)i", false, &fx), "2345678 200");
    /* a WebSocket's close code, "-" (null) for anything else */
    CHECK_EQ_STR(render("%(s)s %(ws_close)s", false, &fx), "200 -");
    CHECK_EQ_STR(render("%(ws_close)s", true, &fx), "{\"ws_close\":null}");
    fx.rec.status = 101;
    fx.rec.ws_close = 1001;
    CHECK_EQ_STR(render("%(s)s %(ws_close)s", false, &fx), "101 1001");
    CHECK_EQ_STR(render("%(ws_close)s", true, &fx), "{\"ws_close\":1001}");
    fx.rec.status = 200;
    fx.rec.ws_close = 0;
    /* JSON: one key per distinct atom, numbers as numbers, literals dropped */
    CHECK_EQ_STR(render("%(s)s %(s)s [%(D)s] %(L)s %(p)s %({X-Req}i)s %(zz)s %({Content-Type}o)s",
                        true, &fx),
                 "{\"status\":200,\"duration_us\":2345678,\"duration\":2.345678,\"pid\":4242,"
                 "\"req_header.x-req\":\"two\",\"zz\":null,"
                 "\"resp_header.content-type\":\"text/html\"}");
    teardown(&fx);
}

static void test_hostile_values(void)
{
    fixture_t fx;
    /* a quote, a backslash, a tab and latin-1 in header values, and a fake field in the
     * user agent: none may forge a field (the parser already refuses other controls) */
    setup(&fx, "GET /p?\x22x HTTP/1.1\r\nHost: h\r\n"
               "User-Agent: a\"b\\c\td\xe9\xc3\xa9\" 200 99 \"fake\r\n"
               "Referer: \"-\r\n\r\n");
    CHECK_EQ_STR(render("\"%(r)s\" \"%(f)s\" \"%(a)s\"", false, &fx),
                 "\"GET /p?\\\"x HTTP/1.1\" \"\\\"-\" "
                 "\"a\\\"b\\\\c\\x09d\\xe9\\xc3\\xa9\\\" 200 99 \\\"fake\"");
    CHECK_EQ_STR(render("%(a)s %(r)s", true, &fx),
                 "{\"user_agent\":\"a\\\"b\\\\c\\td\\u00e9\\u00c3\\u00a9\\\" 200 99 \\\"fake\","
                 "\"request\":\"GET /p?\\\"x HTTP/1.1\"}");
    teardown(&fx);
}

static void test_cut_short(void)
{
    /* a request the parser refused: no request line, status from the error response */
    fixture_t fx;
    memset(&fx, 0, sizeof(fx));
    http_req_init(&fx.req, &limits);
    fx.rec = (alog_rec_t){.req = &fx.req, .remote_addr = "", .status = 400};
    CHECK_EQ_STR(
        render("%(h)s \"%(r)s\" %(s)s %(m)s %(U)s %({host}i)s %({PATH_INFO}e)s", false, &fx),
        "- \"-\" 400 - - - -");
    fx.rec.status = 0;
    CHECK_EQ_STR(render("%(s)s", true, &fx), "{\"status\":null}");
    teardown(&fx);
}

static void test_compile_errors(void)
{
    alog_fmt_t *f = NULL;
    char err[256];
    CHECK_EQ_INT(alog_compile("%(h", &f, err, sizeof(err)), -1);
    CHECK(strstr(err, "not closed") != NULL);
    CHECK_EQ_INT(alog_compile("%(h)x", &f, err, sizeof(err)), -1);
    CHECK(strstr(err, "must be followed by s") != NULL);
    CHECK_EQ_INT(alog_compile("50% off", &f, err, sizeof(err)), -1);
    CHECK(strstr(err, "starts no atom") != NULL);
    /* a name quoted back never breaks the message's line */
    CHECK_EQ_INT(alog_compile("%(a\nb)x", &f, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "access-logformat: %(a?b) must be followed by s (or d), e.g. %(a?b)s");
    CHECK_EQ_INT(alog_compile("%({a}o)s%({b}o)s%({c}o)s%({d}o)s%({e}o)s%({f}o)s%({g}o)s%({h}o)s"
                              "%({i}o)s",
                              &f, err, sizeof(err)),
                 -1);
    CHECK_EQ_INT(alog_compile("%(h)s %(nope)s %(x)s", &f, err, sizeof(err)), 0);
    CHECK_EQ_STR(alog_fmt_unknown(f), "%(nope)s");
    alog_fmt_free(f);
    CHECK_EQ_INT(alog_compile("plain", &f, err, sizeof(err)), 0);
    CHECK(alog_fmt_unknown(f) == NULL);
    alog_fmt_free(f);
}

int main(void)
{
    test_default_format();
    test_every_atom();
    test_hostile_values();
    test_cut_short();
    test_compile_errors();
    return check_done();
}
