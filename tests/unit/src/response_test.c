/* Unit tests for src/response.c: framing decisions and the bytes on the wire. */
#include "src/response.c"

#include "check.h"

static py_reply_t reply_with(const char *status, int code, const py_header_t *headers, size_t count,
                             int64_t content_length, int64_t body_length, const char *chunk,
                             bool done)
{
    return (py_reply_t){
        .status = {status, strlen(status)},
        .status_code = code,
        .headers = headers,
        .header_count = count,
        .content_length = content_length,
        .body_length = body_length,
        .chunk = {chunk, strlen(chunk)},
        .done = done,
    };
}

#include "header_literal.h"

static bool has_line(const buf_t *out, const char *line)
{
    buf_t copy = {0};
    buf_append(&copy, out->data, out->len);
    buf_append(&copy, "", 1);
    bool found = strstr(copy.data, line) != NULL;
    buf_free(&copy);
    return found;
}

static void test_known_length(void)
{
    py_header_t hs[] = {H("Content-Type", "text/plain")};
    py_reply_t r = reply_with("200 OK", 200, hs, 1, -1, 13, "Hello, World!", false);
    resp_plan_t plan = {.version_minor = 1, .keep_alive = true};
    buf_t out = {0};
    resp_write_head(&out, &plan, &r);
    CHECK_EQ_INT(plan.framing, RESP_LENGTH);
    CHECK_EQ_INT(plan.length, 13);
    CHECK(plan.keep_alive);
    CHECK(out.len > 17 && memcmp(out.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(has_line(&out, "\r\nContent-Type: text/plain\r\n"));
    CHECK(has_line(&out, "\r\nContent-Length: 13\r\n"));
    CHECK(has_line(&out, "\r\nServer: uwsgi-fast\r\n"));
    CHECK(has_line(&out, "\r\nDate: "));
    CHECK(!has_line(&out, "Connection:"));
    CHECK(out.len > 4 && memcmp(out.data + out.len - 4, "\r\n\r\n", 4) == 0);
    buf_free(&out);
}

static void test_unknown_length(void)
{
    py_reply_t r = reply_with("200 OK", 200, NULL, 0, -1, -1, "part", false);
    resp_plan_t plan = {.version_minor = 1, .keep_alive = true};
    buf_t out = {0};
    resp_write_head(&out, &plan, &r);
    CHECK_EQ_INT(plan.framing, RESP_CHUNKED);
    CHECK(has_line(&out, "Transfer-Encoding: chunked\r\n"));
    size_t head = out.len;
    resp_write_body(&out, &plan, "hello world!!!!!!", 17);
    resp_write_end(&out, &plan);
    CHECK_EQ_MEM(out.data + head, out.len - head, "11\r\nhello world!!!!!!\r\n0\r\n\r\n");
    buf_free(&out);

    /* HTTP/1.0 cannot chunk: the close delimits the body */
    plan = (resp_plan_t){.version_minor = 0, .keep_alive = true};
    resp_write_head(&out, &plan, &r);
    CHECK_EQ_INT(plan.framing, RESP_CLOSE);
    CHECK(!plan.keep_alive);
    CHECK(memcmp(out.data, "HTTP/1.0 200 OK\r\n", 17) == 0);
    CHECK(has_line(&out, "Connection: close\r\n"));
    buf_free(&out);
}

static void test_app_headers_win(void)
{
    py_header_t hs[] = {H("content-length", "5"), H("Server", "mine"), H("Date", "x"),
                        H("Transfer-Encoding", "gzip"), H("Connection", "close")};
    py_reply_t r = reply_with("200 OK", 200, hs, 5, 5, -1, "", false);
    resp_plan_t plan = {.version_minor = 1, .keep_alive = true};
    buf_t out = {0};
    resp_write_head(&out, &plan, &r);
    CHECK_EQ_INT(plan.framing, RESP_LENGTH);
    CHECK_EQ_INT(plan.length, 5);
    CHECK(!plan.keep_alive); /* the application asked to close */
    CHECK(has_line(&out, "content-length: 5\r\n"));
    CHECK(!has_line(&out, "Content-Length"));
    CHECK(has_line(&out, "Server: mine\r\n"));
    CHECK(!has_line(&out, "uwsgi-fast"));
    CHECK(!has_line(&out, "gzip")); /* framing is ours */
    CHECK(has_line(&out, "Connection: close\r\n"));
    buf_free(&out);
}

static void test_no_body_statuses(void)
{
    py_reply_t r = reply_with("204 No Content", 204, NULL, 0, -1, -1, "", false);
    resp_plan_t plan = {.version_minor = 1, .keep_alive = true};
    buf_t out = {0};
    resp_write_head(&out, &plan, &r);
    CHECK(!plan.body_allowed);
    CHECK(!has_line(&out, "Content-Length"));
    CHECK(!has_line(&out, "Transfer-Encoding"));
    CHECK(plan.keep_alive);
    buf_free(&out);

    /* HEAD keeps the Content-Length GET would send, but no body */
    r = reply_with("200 OK", 200, NULL, 0, -1, 13, "Hello, World!", true);
    plan = (resp_plan_t){.version_minor = 1, .keep_alive = true, .head_request = true};
    resp_write_head(&out, &plan, &r);
    CHECK(!plan.body_allowed);
    CHECK(has_line(&out, "Content-Length: 13\r\n"));
    size_t head = out.len;
    resp_write_body(&out, &plan, "Hello, World!", 13);
    CHECK_EQ_INT(out.len, head);
    buf_free(&out);

    /* HEAD with an unknown length: no chunking announced, nothing to delimit */
    r = reply_with("200 OK", 200, NULL, 0, -1, -1, "x", false);
    plan = (resp_plan_t){.version_minor = 1, .keep_alive = true, .head_request = true};
    resp_write_head(&out, &plan, &r);
    CHECK(!has_line(&out, "Transfer-Encoding"));
    CHECK(plan.keep_alive);
    buf_free(&out);
}

static void test_http10_keep_alive(void)
{
    py_reply_t r = reply_with("200 OK", 200, NULL, 0, -1, 2, "ok", true);
    resp_plan_t plan = {.version_minor = 0, .keep_alive = true};
    buf_t out = {0};
    resp_write_head(&out, &plan, &r);
    CHECK(has_line(&out, "Connection: keep-alive\r\n"));
    CHECK(has_line(&out, "Content-Length: 2\r\n"));
    buf_free(&out);
}

static void test_error(void)
{
    buf_t out = {0};
    resp_write_error(&out, 431, false);
    CHECK(memcmp(out.data, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0);
    CHECK(has_line(&out, "Connection: close\r\n"));
    CHECK(has_line(&out, "Content-Length: 32\r\n"));
    CHECK(has_line(&out, "\r\n\r\nRequest Header Fields Too Large\n"));
    buf_free(&out);
    resp_write_error(&out, 400, true);
    CHECK(has_line(&out, "Content-Length: 0\r\n"));
    CHECK(memcmp(out.data + out.len - 4, "\r\n\r\n", 4) == 0);
    buf_free(&out);
}

/* Trailer fields follow the last chunk, minus those a trailer must not carry; other
 * framings cannot carry them at all. */
static void test_trailers(void)
{
    py_header_t fields[] = {H("X-Checksum", "abc"), H("Content-Length", "9"),
                            H("set-cookie", "a=b"), H("Server-Timing", "app;dur=3")};
    py_reply_t r = reply_with("200 OK", 200, NULL, 0, -1, -1, "", false);
    resp_plan_t plan = {.version_minor = 1, .keep_alive = true};
    buf_t out = {0};
    resp_write_head(&out, &plan, &r);
    size_t head = out.len;
    resp_write_body(&out, &plan, "hi", 2);
    resp_write_end_trailers(&out, &plan, fields, 4);
    CHECK_EQ_MEM(out.data + head, out.len - head,
                 "2\r\nhi\r\n0\r\nX-Checksum: abc\r\nServer-Timing: app;dur=3\r\n\r\n");
    out.len = head;
    resp_write_end_trailers(&out, &plan, NULL, 0);
    CHECK_EQ_MEM(out.data + head, out.len - head, "0\r\n\r\n");
    buf_free(&out);

    r = reply_with("200 OK", 200, NULL, 0, 2, -1, "", false);
    plan = (resp_plan_t){.version_minor = 1, .keep_alive = true};
    resp_write_head(&out, &plan, &r);
    head = out.len;
    resp_write_body(&out, &plan, "hi", 2);
    resp_write_end_trailers(&out, &plan, fields, 4);
    CHECK_EQ_MEM(out.data + head, out.len - head, "hi");
    buf_free(&out);
}

int main(void)
{
    test_known_length();
    test_trailers();
    test_unknown_length();
    test_app_headers_win();
    test_no_body_statuses();
    test_http10_keep_alive();
    test_error();
    return check_done();
}
