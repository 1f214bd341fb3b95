/* Unit tests for src/http.c: spans, splitting, pipelining, bodies, limits. */
#include "src/http.c"

#include "check.h"

static const http_limits_t default_limits = {4094, 100, 8190, 64 * 1024};

/* Feeds `raw` to a fresh parser `step` bytes at a time, the way receives would grow the
 * connection's input buffer. Returns what the last http_parse returned. */
static long feed(http_req_t *req, buf_t *in, size_t *parsed, const char *raw, size_t len,
                 size_t step)
{
    long r = 0;
    for (size_t i = 0; i < len; i += step) {
        size_t n = len - i < step ? len - i : step;
        buf_append(in, raw + i, n);
        r = http_parse(req, in->data, *parsed, in->len);
        if (r < 0)
            return r;
        *parsed = (size_t)r;
        if (req->complete)
            return r;
        in->len = http_compact(req, in->data, in->len, parsed);
    }
    return r;
}

static bool header_is(const http_req_t *req, const char *base, uint32_t i, const char *name,
                      const char *value)
{
    const http_header_t *h = &req->headers[i];
    return h->name.len == strlen(name) && memcmp(base + h->name.off, name, h->name.len) == 0 &&
           h->value.len == strlen(value) && memcmp(base + h->value.off, value, h->value.len) == 0;
}

static void test_simple_get_every_split(void)
{
    const char raw[] = "GET /a%20b?x=1 HTTP/1.1\r\nHost: example\r\nX-Long:  padded value \t\r\n"
                       "Empty:\r\n\r\n";
    for (size_t step = 1; step <= sizeof(raw) - 1; step++) {
        http_req_t req;
        buf_t in = {0};
        size_t parsed = 0;
        http_req_init(&req, &default_limits);
        long r = feed(&req, &in, &parsed, raw, sizeof(raw) - 1, step);
        CHECK_EQ_INT(r, (long)(sizeof(raw) - 1));
        CHECK(req.complete);
        CHECK(req.keep_alive);
        CHECK_EQ_INT(req.version_minor, 1);
        CHECK_EQ_MEM(in.data + req.method.off, req.method.len, "GET");
        CHECK_EQ_MEM(in.data + req.target.off, req.target.len, "/a%20b?x=1");
        CHECK_EQ_INT(req.header_count, 3);
        CHECK(header_is(&req, in.data, 0, "Host", "example"));
        CHECK(header_is(&req, in.data, 1, "X-Long", "padded value"));
        CHECK(header_is(&req, in.data, 2, "Empty", ""));
        http_req_free(&req);
        buf_free(&in);
    }
}

static void test_pipelined(void)
{
    const char raw[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                       "POST /2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                       "GET /3 HTTP/1.0\r\n\r\n";
    http_req_t req;
    buf_t in = {0};
    http_req_init(&req, &default_limits);
    buf_append(&in, raw, sizeof(raw) - 1);
    const char *targets[] = {"/1", "/2", "/3"};
    size_t from = 0;
    for (int i = 0; i < 3; i++) {
        long r = http_parse(&req, in.data, from, in.len);
        CHECK(r > 0);
        CHECK(req.complete);
        CHECK_EQ_MEM(in.data + req.target.off, req.target.len, targets[i]);
        if (i == 1)
            CHECK_EQ_MEM(req.body.data, req.body.len, "hello");
        if (i == 2) {
            CHECK_EQ_INT(req.version_minor, 0);
            CHECK(!req.keep_alive);
            CHECK_EQ_INT(r, (long)in.len);
        }
        /* the connection answers, then drops what it parsed */
        buf_consume(&in, (size_t)r);
        from = 0;
        http_req_next(&req);
    }
    CHECK(http_idle(&req));
    http_req_free(&req);
    buf_free(&in);
}

static void test_chunked_body_and_compaction(void)
{
    const char raw[] = "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    for (size_t step = 1; step <= 8; step++) {
        http_req_t req;
        buf_t in = {0};
        size_t parsed = 0;
        http_req_init(&req, &default_limits);
        long r = feed(&req, &in, &parsed, raw, sizeof(raw) - 1, step);
        CHECK(r > 0);
        CHECK(req.complete);
        CHECK_EQ_MEM(req.body.data, req.body.len, "hello world");
        /* the headers survived compaction of the body bytes */
        CHECK_EQ_MEM(in.data + req.target.off, req.target.len, "/up");
        CHECK(header_is(&req, in.data, 0, "Transfer-Encoding", "chunked"));
        CHECK(in.len < sizeof(raw) - 1);
        CHECK(req.compacted); /* the buffer is no longer the request as it came */
        http_req_free(&req);
        buf_free(&in);
    }
    /* an empty chunked body whose last CRLF comes later: "0\r\n" is consumed (and the
     * buffer compacted) though not a byte of body arrived; a body-less request is not */
    const char empty[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    http_req_t req;
    buf_t in = {0};
    size_t parsed = 0;
    http_req_init(&req, &default_limits);
    CHECK(feed(&req, &in, &parsed, empty, sizeof(empty) - 1, sizeof(empty) - 1) > 0);
    CHECK(!req.complete && req.body_total == 0 && req.compacted);
    http_req_next(&req);
    CHECK(!req.compacted);
    http_req_free(&req);
    buf_free(&in);
}

static void test_large_body_is_not_buffered_twice(void)
{
    size_t body = 1 << 20;
    char head[128];
    int n = snprintf(head, sizeof(head), "PUT /big HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", body);
    http_req_t req;
    buf_t in = {0};
    size_t parsed = 0;
    http_req_init(&req, &default_limits);
    CHECK(feed(&req, &in, &parsed, head, (size_t)n, (size_t)n) == n);
    char chunk[16384];
    memset(chunk, 'x', sizeof(chunk));
    size_t peak = 0;
    for (size_t sent = 0; sent < body; sent += sizeof(chunk)) {
        feed(&req, &in, &parsed, chunk, sizeof(chunk), sizeof(chunk));
        if (in.len > peak)
            peak = in.len;
    }
    CHECK(req.complete);
    CHECK_EQ_INT(req.body.len, body);
    CHECK(peak <= (size_t)n + sizeof(chunk));
    http_req_free(&req);
    buf_free(&in);
}

static int parse_status(const char *raw, const http_limits_t *limits)
{
    http_req_t req;
    buf_t in = {0};
    size_t parsed = 0;
    http_req_init(&req, limits);
    long r = feed(&req, &in, &parsed, raw, strlen(raw), strlen(raw));
    int status = r < 0 ? req.error_status : (req.complete ? 200 : 0);
    http_req_free(&req);
    buf_free(&in);
    return status;
}

static void test_errors_and_limits(void)
{
    CHECK_EQ_INT(parse_status("GET / HTTP/1.1\r\n\r\n", &default_limits), 200);
    CHECK_EQ_INT(parse_status("GET / HTTP/1.1\r\nHost: a\r\n", &default_limits), 0);
    CHECK_EQ_INT(parse_status("G@T / HTTP/1.1\r\n\r\n", &default_limits), 400);
    CHECK_EQ_INT(parse_status("GET / HTTP/2.0\r\n\r\n", &default_limits), 400);
    CHECK_EQ_INT(parse_status("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", &default_limits), 400);
    CHECK_EQ_INT(parse_status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                              &default_limits),
                 400);
    CHECK_EQ_INT(parse_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                              &default_limits),
                 400);

    http_limits_t tight = {21, 2, 20, 64 * 1024}; /* "GET /0123456 HTTP/1.1" is 21 */
    CHECK_EQ_INT(parse_status("GET /0123456 HTTP/1.1\r\n\r\n", &tight), 200); /* 8 bytes */
    CHECK_EQ_INT(parse_status("GET /0123456789 HTTP/1.1\r\n\r\n", &tight), 414);
    CHECK_EQ_INT(parse_status("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", &tight), 200);
    CHECK_EQ_INT(parse_status("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &tight), 431);
    /* name + value exactly at the field limit, then one byte over */
    CHECK_EQ_INT(parse_status("GET / HTTP/1.1\r\nName: 0123456789abcdef\r\n\r\n", &tight), 200);
    CHECK_EQ_INT(parse_status("GET / HTTP/1.1\r\nName: 0123456789abcdefg\r\n\r\n", &tight), 431);

    http_limits_t small_total = {0, 0, 0, 27}; /* the two fields need 28 */
    CHECK_EQ_INT(parse_status("GET / HTTP/1.1\r\nAAAA: 0123456789\r\nBBBB: 0123456789\r\n\r\n",
                              &small_total),
                 431);
}

static void test_body_limit(void)
{
    http_limits_t lim = {0, 0, 0, 64 * 1024, 10};
    /* a declared length is judged with the headers, before any body byte */
    CHECK_EQ_INT(parse_status("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", &lim),
                 200);
    CHECK_EQ_INT(parse_status("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", &lim), 413);
    CHECK_EQ_INT(parse_status("POST / HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n", &lim),
                 413);
    /* chunked: as soon as a chunk size would carry the total past the limit, before
     * any byte of that chunk */
    CHECK_EQ_INT(parse_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n",
                              &lim),
                 200);
    CHECK_EQ_INT(parse_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5\r\n01234\r\n6\r\n",
                              &lim),
                 413);
    CHECK_EQ_INT(parse_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5\r\n01234\r\n6\r\n567890",
                              &lim),
                 413);

    /* content_length and body_total, also when the owner empties body on the way */
    http_req_t req;
    buf_t in = {0};
    size_t parsed = 0;
    http_req_init(&req, &default_limits);
    CHECK_EQ_INT(req.content_length, -1);
    const char head[] = "PUT / HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc";
    feed(&req, &in, &parsed, head, sizeof(head) - 1, sizeof(head) - 1);
    CHECK_EQ_INT(req.content_length, 6);
    CHECK_EQ_INT(req.body_total, 3);
    req.body.len = 0; /* written to a spool file */
    feed(&req, &in, &parsed, "def", 3, 3);
    CHECK(req.complete);
    CHECK_EQ_INT(req.body_total, 6);
    CHECK_EQ_MEM(req.body.data, req.body.len, "def");
    buf_consume(&in, parsed);
    parsed = 0;
    http_req_next(&req);
    CHECK_EQ_INT(req.content_length, -1);
    CHECK_EQ_INT(req.body_total, 0);
    const char chunked[] =
        "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    feed(&req, &in, &parsed, chunked, sizeof(chunked) - 1, sizeof(chunked) - 1);
    CHECK(req.complete);
    CHECK_EQ_INT(req.content_length, -1);
    CHECK_EQ_INT(req.body_total, 2);
    http_req_free(&req);
    buf_free(&in);
}

static void test_framing_rules(void)
{
    /* obs-fold, framing conflicts, chunked on 1.0, foreign protocols: 400 */
    CHECK_EQ_INT(parse_status("GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", &default_limits), 400);
    CHECK_EQ_INT(parse_status("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: "
                              "chunked\r\n\r\n0\r\n\r\n",
                              &default_limits),
                 400);
    CHECK_EQ_INT(
        parse_status("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding:\r\n\r\nabc",
                     &default_limits),
        400);
    CHECK_EQ_INT(
        parse_status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", &default_limits), 400);
    CHECK_EQ_INT(parse_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                              &default_limits),
                 400);
    CHECK_EQ_INT(parse_status("GET / RTSP/1.0\r\n\r\n", &default_limits), 400);
    CHECK_EQ_INT(parse_status("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", &default_limits), 400);
    CHECK_EQ_INT(parse_status("GET /\x80 HTTP/1.1\r\n\r\n", &default_limits), 200);
    CHECK_EQ_INT(parse_status("GET /\x7f HTTP/1.1\r\n\r\n", &default_limits), 400);
    CHECK_EQ_INT(
        parse_status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                     &default_limits),
        200);

    /* our own reading of Connection: close, whitespace and lists included */
    http_req_t req;
    buf_t in = {0};
    size_t parsed = 0;
    http_req_init(&req, &default_limits);
    const char raw[] = "GET / HTTP/1.1\r\nConnection: keep-alive, close\t\r\n\r\n";
    feed(&req, &in, &parsed, raw, sizeof(raw) - 1, sizeof(raw) - 1);
    CHECK(req.complete);
    CHECK(!req.keep_alive);
    http_req_free(&req);
    buf_free(&in);

    /* trailers are not headers, and a trailer split over reads is fine */
    const char chunked[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n0\r\nX-Trailer: yes\r\n\r\n";
    for (size_t step = 1; step < 12; step++) {
        http_req_init(&req, &default_limits);
        in = (buf_t){0};
        parsed = 0;
        long r = feed(&req, &in, &parsed, chunked, sizeof(chunked) - 1, step);
        CHECK(r > 0 && req.complete);
        CHECK_EQ_INT(req.header_count, 1);
        CHECK_EQ_MEM(req.body.data, req.body.len, "abc");
        http_req_free(&req);
        buf_free(&in);
    }
}

static void test_expect_continue(void)
{
    http_req_t req;
    buf_t in = {0};
    size_t parsed = 0;
    http_req_init(&req, &default_limits);
    const char raw[] = "PUT / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    feed(&req, &in, &parsed, raw, sizeof(raw) - 1, sizeof(raw) - 1);
    CHECK(req.headers_done);
    CHECK(!req.complete);
    CHECK(req.expect_continue);
    feed(&req, &in, &parsed, "abc", 3, 3);
    CHECK(req.complete);
    CHECK_EQ_MEM(req.body.data, req.body.len, "abc");
    http_req_free(&req);
    buf_free(&in);
}

static void test_finish(void)
{
    http_req_t req;
    http_req_init(&req, &default_limits);
    CHECK_EQ_INT(http_finish(&req, ""), 0); /* idle connection closed: clean */
    buf_t in = {0};
    size_t parsed = 0;
    feed(&req, &in, &parsed, "GET / HT", 8, 8);
    CHECK_EQ_INT(http_finish(&req, in.data), -1);
    http_req_free(&req);
    buf_free(&in);
}

/* The status for raw[0, len) (200 complete, 0 incomplete, else the error), which must be
 * the same whatever the sizes of the pieces it arrives in. */
static int status_every_split(const char *raw, size_t len, const http_limits_t *limits)
{
    int first = -1;
    for (size_t step = 1; step <= len; step = step < 8 ? step + 1 : step * 2) {
        http_req_t req;
        buf_t in = {0};
        size_t parsed = 0;
        http_req_init(&req, limits);
        long r = feed(&req, &in, &parsed, raw, len, step);
        int status = r < 0 ? req.error_status : (req.complete ? 200 : 0);
        http_req_free(&req);
        buf_free(&in);
        if (first < 0)
            first = status;
        CHECK_EQ_INT(status, first);
    }
    return first;
}

#define STATUS_L(lit, limits) status_every_split(lit, sizeof(lit) - 1, limits)
#define STATUS(lit)           STATUS_L(lit, &default_limits)

/* Issue 15, items 1-4: nothing a client sends is held beyond a bounded line. Feeds the
 * attack in pieces and records the most input the connection would have kept. */
static size_t peak_input(const char *head, char filler, size_t filler_len, int *status)
{
    http_req_t req;
    buf_t in = {0};
    size_t parsed = 0, peak = 0;
    http_req_init(&req, &default_limits);
    long r = feed(&req, &in, &parsed, head, strlen(head), strlen(head));
    char piece[4096];
    memset(piece, filler, sizeof(piece));
    for (size_t sent = 0; r >= 0 && !req.complete && sent < filler_len; sent += sizeof(piece)) {
        r = feed(&req, &in, &parsed, piece, sizeof(piece), sizeof(piece));
        if (in.len > peak)
            peak = in.len;
    }
    *status = r < 0 ? req.error_status : (req.complete ? 200 : 0);
    http_req_free(&req);
    buf_free(&in);
    return peak;
}

static void test_exhaustion_is_bounded(void)
{
    int status;
    /* 1: a chunk extension without end, bare or quoted */
    size_t peak = peak_input("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;",
                             'a', 1 << 20, &status);
    CHECK_EQ_INT(status, 400);
    CHECK(peak < 128 + HTTP_CHUNK_LINE_MAX + 4096);
    peak = peak_input("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"", 'a',
                      1 << 20, &status);
    CHECK_EQ_INT(status, 400);
    CHECK(peak < 128 + HTTP_CHUNK_LINE_MAX + 4096);
    /* leading zeros are part of the same line */
    peak = peak_input("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", '0',
                      1 << 20, &status);
    CHECK_EQ_INT(status, 400);
    CHECK(peak < 128 + HTTP_CHUNK_LINE_MAX + 4096);
    /* 2: empty lines before the request line: a handful, counted in the head */
    peak = peak_input("", '\n', 1 << 20, &status);
    CHECK_EQ_INT(status, 400); /* a bare LF */
    {
        char crlf[4096];
        for (size_t i = 0; i < sizeof(crlf); i += 2)
            memcpy(crlf + i, "\r\n", 2);
        CHECK_EQ_INT(status_every_split(crlf, sizeof(crlf), &default_limits), 400);
        char ok[2 * HTTP_EMPTY_LINES_MAX + 32];
        size_t n = 0;
        for (int i = 0; i < HTTP_EMPTY_LINES_MAX; i++, n += 2)
            memcpy(ok + n, "\r\n", 2);
        memcpy(ok + n, "GET / HTTP/1.1\r\n\r\n", 18);
        CHECK_EQ_INT(status_every_split(ok, n + 18, &default_limits), 200);
        CHECK_EQ_INT(status_every_split(crlf, 2 * HTTP_EMPTY_LINES_MAX + 2, &default_limits), 400);
    }
    /* 3: trailers under the head's limits: count, field size, total */
    peak =
        peak_input("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ", 'a',
                   1 << 20, &status);
    CHECK_EQ_INT(status, 431);
    CHECK(peak < 128 + default_limits.header_bytes + 4096);
    {
        buf_t raw = {0};
        buf_append_str(&raw, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
        for (uint32_t i = 0; i < default_limits.fields; i++)
            buf_append_str(&raw, "T: v\r\n");
        size_t at_limit = raw.len;
        buf_append_str(&raw, "\r\n");
        CHECK_EQ_INT(status_every_split(raw.data, raw.len, &default_limits), 200);
        raw.len = at_limit;
        buf_append_str(&raw, "T: v\r\n\r\n");
        CHECK_EQ_INT(status_every_split(raw.data, raw.len, &default_limits), 431);
        buf_free(&raw);
        /* "Transfer-Encoding" + "chunked" is 24: the field size limit */
        http_limits_t tight = {0, 0, 24, 64 * 1024};
        CHECK_EQ_INT(STATUS_L("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "0\r\nTrailer: 0123456789abcdefgh\r\n\r\n",
                              &tight),
                     431);
        CHECK_EQ_INT(STATUS_L("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "0\r\nTrailer: 0123456789abcdefg\r\n\r\n",
                              &tight),
                     200);
        /* and the trailer section (field lines and the empty line) has a cap of its
         * own, the head's: 60 + 2 + 2 bytes fit in 64 */
        http_limits_t small = {0, 0, 0, 64};
        CHECK_EQ_INT(STATUS_L("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "0\r\nT: 012345678901234567890123456789012345678901234567890123456"
                              "\r\n\r\n",
                              &small),
                     200);
        CHECK_EQ_INT(STATUS_L("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "0\r\nT: 0123456789012345678901234567890123456789012345678901234567"
                              "\r\n\r\n",
                              &small),
                     431);
    }
    /* 4: a chunk size over the body limit is refused at its line (1 GiB + 1 here) */
    http_limits_t gib = {0, 0, 0, 64 * 1024, 1 << 30};
    CHECK_EQ_INT(status_every_split("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "40000001\r\n",
                                    58, &gib),
                 413);
    CHECK_EQ_INT(status_every_split("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "40000000\r\n",
                                    58, &gib),
                 0);
    /* a size beyond 64 bits is malformed, not a large chunk */
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "10000000000000000\r\n"),
                 400);
}

static void test_obs_fold_and_host(void)
{
    /* 5: obs-fold after an empty value, or after a value of only spaces */
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 35\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"),
                 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost:\r\n evil\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: x\r\nConnection:\r\n close\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:   \r\n 35\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n"), 400);
    /* 6: one Host, and a host */
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"), 200);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 200);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n"), 200);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 200);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 200); /* empty: allowed */
    /* missing Host: served unless required */
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\n\r\n"), 200);
    http_limits_t strict = default_limits;
    strict.require_host = true;
    CHECK_EQ_INT(status_every_split("GET / HTTP/1.1\r\n\r\n", 18, &strict), 400);
    CHECK_EQ_INT(status_every_split("GET / HTTP/1.0\r\n\r\n", 18, &strict), 200);
    CHECK_EQ_INT(status_every_split("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, &strict), 200);
}

static void test_request_line_forms(void)
{
    /* 7: the asterisk is OPTIONS's, authority-form is CONNECT's */
    CHECK_EQ_INT(STATUS("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    CHECK_EQ_INT(STATUS("CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("CONNECT * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("CONNECT http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), 200);
    CHECK_EQ_INT(STATUS("GET example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET http://example.com/a?b HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    /* 9: any token is a method, and its body is framed as usual */
    const char *methods[] = {"PURGE", "MKCALENDAR", "QUERY", "FOO", "-BLARGH", "M-SEARCH", "x"};
    for (size_t i = 0; i < UF_ARRAY_LEN(methods); i++) {
        char raw[128];
        int n = snprintf(raw, sizeof(raw),
                         "%s / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"
                         "hiGET / HTTP/1.1\r\n\r\n",
                         methods[i]);
        http_req_t req;
        buf_t in = {0};
        size_t parsed = 0;
        http_req_init(&req, &default_limits);
        long r = feed(&req, &in, &parsed, raw, (size_t)n, (size_t)n);
        CHECK(req.complete);
        CHECK_EQ_MEM(in.data + req.method.off, req.method.len, methods[i]);
        CHECK_EQ_MEM(req.body.data, req.body.len, "hi");
        CHECK_EQ_INT(r, n - 18); /* the pipelined GET is left for next time */
        http_req_free(&req);
        buf_free(&in);
    }
    CHECK_EQ_INT(STATUS("GE(T / HTTP/1.1\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET\t/ HTTP/1.1\r\n\r\n"), 400);
    /* 12: raw bytes >= 0x80 in the target pass; control bytes do not */
    CHECK_EQ_INT(STATUS("GET /\xc3\xa0%20k HTTP/1.0\r\n\r\n"), 200);
    CHECK_EQ_INT(STATUS("GET /a\tb HTTP/1.1\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET /a\x01 HTTP/1.1\r\n\r\n"), 400);
    CHECK_EQ_INT(status_every_split("GET /a\0b HTTP/1.1\r\n\r\n", 21, &default_limits), 400);
    /* 13: one line end (CRLF) and one space, everywhere */
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\nHost: x\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: x\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\nHost: x\r\n\n"), 400);
    CHECK_EQ_INT(STATUS("\nGET / HTTP/1.1\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET  / HTTP/1.1\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET /  HTTP/1.1\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS(" GET / HTTP/1.1\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1 \r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\r\n\r\n"), 400);
    CHECK_EQ_INT(STATUS("GET /\r HTTP/1.1\r\n\r\n"), 400);
    /* a line that can no longer be valid fails before its end arrives */
    CHECK_EQ_INT(STATUS("PUT /url HTTP/1.1\r\nContent-Length: 3\r\n\rabc"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r\n Host: foo"), 400);
    CHECK_EQ_INT(STATUS("GET /a\x01"), 400);
    CHECK_EQ_INT(STATUS("(GET"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1\r"), 0);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.0"), 0);
    CHECK_EQ_INT(STATUS("GET / HTTP/5.6"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.12"), 400);
    CHECK_EQ_INT(STATUS("GET / RTSP"), 400);
    CHECK_EQ_INT(STATUS("GET / HTTP/1.1 "), 400);
}

static void test_upgrade_and_values(void)
{
    /* 8: an Upgrade we do not take leaves the connection on HTTP/1.1 */
    const char raw[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                       "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
                       "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
    http_req_t req;
    buf_t in = {0};
    http_req_init(&req, &default_limits);
    buf_append(&in, raw, sizeof(raw) - 1);
    long r = http_parse(&req, in.data, 0, in.len);
    CHECK(r > 0 && req.complete && req.keep_alive);
    http_req_next(&req);
    r = http_parse(&req, in.data, (size_t)r, in.len);
    CHECK_EQ_INT(r, (long)in.len);
    CHECK(req.complete && req.keep_alive);
    CHECK_EQ_MEM(in.data + req.target.off, req.target.len, "/2");
    http_req_free(&req);
    buf_free(&in);
    /* 10: chunk extensions, BWS and quoted strings; CR, LF and NUL stay out */
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5;foo=\"a\\\"b\"\r\nhello\r\n0\r\n\r\n"),
                 200);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5;a=b;c\r\nhello\r\n0\r\n\r\n"),
                 200);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5 ; a = b\r\nhello\r\n0;x\r\n\r\n"),
                 200);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n"),
                 400);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5;a=\"x\ny\"\r\nhello\r\n0\r\n\r\n"),
                 400);
    CHECK_EQ_INT(status_every_split("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "5;a=x\0y\r\nhello\r\n0\r\n\r\n",
                                    68, &default_limits),
                 400);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5 \r\nhello\r\n0\r\n\r\n"),
                 400);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5;\r\nhello\r\n0\r\n\r\n"),
                 400);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5;a=\r\nhello\r\n0\r\n\r\n"),
                 400);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nhelloX\r\n0\r\n\r\n"),
                 400);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nhello\n0\r\n\r\n"),
                 400);
    /* 11: OWS around a value is not part of it */
    http_req_init(&req, &default_limits);
    in = (buf_t){0};
    size_t parsed = 0;
    const char tab[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\t\r\n\r\nhello";
    feed(&req, &in, &parsed, tab, sizeof(tab) - 1, 3);
    CHECK(req.complete);
    CHECK_EQ_MEM(req.body.data, req.body.len, "hello");
    CHECK_EQ_INT(req.content_length, 5);
    http_req_free(&req);
    buf_free(&in);
    CHECK_EQ_INT(STATUS("POST / HTTP/1.1\r\nContent-Length: \t5 \t\r\n\r\nhello"), 200);
}

int main(void)
{
    test_simple_get_every_split();
    test_pipelined();
    test_chunked_body_and_compaction();
    test_large_body_is_not_buffered_twice();
    test_errors_and_limits();
    test_body_limit();
    test_expect_continue();
    test_framing_rules();
    test_finish();
    test_exhaustion_is_bounded();
    test_obs_fold_and_host();
    test_request_line_forms();
    test_upgrade_and_values();
    return check_done();
}
