/* Unit tests for src/wshandshake.c: RFC 6455's sample key and accept value; a valid
 * handshake in different spellings (case of names and tokens, Connection lists,
 * "keep-alive, Upgrade"); each refusal with its status (method, HTTP/1.0, no Connection
 * upgrade, version missing, wrong or repeated: 426; key missing, repeated, not base64,
 * not 16 bytes); subprotocols over several fields in order, refused when not tokens or
 * too many; the comma-list walker. */
#include "src/wshandshake.c"

#include "check.h"

#include "common/mem.h"

/* clang-format off */
#define H(n, v) {{n, sizeof(n) - 1}, {v, sizeof(v) - 1}}
#define SL(s)   {s, sizeof(s) - 1}

static const py_header_t good[] = {
    H("Host", "example.com"),
    H("Upgrade", "websocket"),
    H("Connection", "Upgrade"),
    H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    H("Sec-WebSocket-Version", "13"),
};
/* clang-format on */

static py_request_t request(const char *method, int minor, const py_header_t *h, size_t n)
{
    return (py_request_t){.method = {method, strlen(method)},
                          .target = SL("/chat"),
                          .version_minor = minor,
                          .headers = h,
                          .header_count = n};
}

static void test_accept(void)
{
    char out[WS_ACCEPT_LEN + 1];
    ws_hs_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    CHECK_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    py_request_t r = request("GET", 1, good, 5);
    ws_hs_t hs;
    CHECK(ws_hs_requested(&r));
    CHECK_EQ_INT(ws_hs_check(&r, &hs), 0);
    CHECK_EQ_STR(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK_EQ_INT(hs.protocol_count, 0);
}

static void test_spellings(void)
{
    const py_header_t h[] = {
        H("upgrade", "h2c, WebSocket"),         H("CONNECTION", "keep-alive"),
        H("connection", "keep-alive, UPGRADE"), H("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA=="),
        H("SEC-WEBSOCKET-VERSION", "13"),
    };
    py_request_t r = request("GET", 1, h, 5);
    ws_hs_t hs;
    CHECK(ws_hs_requested(&r));
    CHECK_EQ_INT(ws_hs_check(&r, &hs), 0);
    /* a plain request, or an upgrade to something else, is no handshake */
    py_request_t plain = request("GET", 1, good, 1);
    CHECK(!ws_hs_requested(&plain));
    const py_header_t h2c[] = {H("Upgrade", "h2c"), H("Connection", "Upgrade")};
    py_request_t other = request("GET", 1, h2c, 2);
    CHECK(!ws_hs_requested(&other));
}

/* The good handshake with header `which` replaced by `with` (or dropped when with.name is
 * NULL, or doubled when twice) gives `status`. */
static void expect(const char *what, const char *method, int minor, size_t which, py_header_t with,
                   bool twice, int status)
{
    py_header_t h[7];
    size_t n = 0;
    for (size_t i = 0; i < 5; i++) {
        if (i != which) {
            h[n++] = good[i];
            continue;
        }
        if (with.name.ptr)
            h[n++] = with;
        if (twice)
            h[n++] = with;
    }
    py_request_t r = request(method, minor, h, n);
    ws_hs_t hs;
    int got = ws_hs_check(&r, &hs);
    if (got != status)
        fprintf(stderr, "%s: got %d, wanted %d\n", what, got, status);
    CHECK_EQ_INT(got, status);
    CHECK(status == 0 || hs.why != NULL);
}

static void test_refusals(void)
{
    const py_header_t none = {{NULL, 0}, {NULL, 0}};
    expect("as given", "GET", 1, 99, none, false, 0);
    expect("POST", "POST", 1, 99, none, false, 400);
    expect("lower-case get", "get", 1, 99, none, false, 400);
    expect("HTTP/1.0", "GET", 0, 99, none, false, 400);
    expect("no Connection", "GET", 1, 2, none, false, 400);
    expect("Connection: close", "GET", 1, 2, (py_header_t)H("Connection", "close"), false, 400);
    expect("no version", "GET", 1, 4, none, false, 426);
    expect("version 8", "GET", 1, 4, (py_header_t)H("Sec-WebSocket-Version", "8"), false, 426);
    expect("version 13, 8", "GET", 1, 4, (py_header_t)H("Sec-WebSocket-Version", "13, 8"), false,
           426);
    expect("two versions", "GET", 1, 4, (py_header_t)H("Sec-WebSocket-Version", "13"), true, 426);
    expect("no key", "GET", 1, 3, none, false, 400);
    expect("two keys", "GET", 1, 3, good[3], true, 400);
    expect("key of 15 bytes", "GET", 1, 3,
           (py_header_t)H("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"), false, 400);
    expect("key of 17 bytes", "GET", 1, 3,
           (py_header_t)H("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA="), false, 400);
    expect("key not base64", "GET", 1, 3,
           (py_header_t)H("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!=="), false, 400);
}

static void test_protocols(void)
{
    py_header_t h[7];
    memcpy(h, good, sizeof(good));
    h[5] = (py_header_t)H("Sec-WebSocket-Protocol", "chat, superchat");
    h[6] = (py_header_t)H("sec-websocket-protocol", " v2.json ,,");
    py_request_t r = request("GET", 1, h, 7);
    ws_hs_t hs;
    CHECK_EQ_INT(ws_hs_check(&r, &hs), 0);
    CHECK_EQ_INT(hs.protocol_count, 3);
    CHECK_EQ_MEM(hs.protocols[0].ptr, hs.protocols[0].len, "chat");
    CHECK_EQ_MEM(hs.protocols[1].ptr, hs.protocols[1].len, "superchat");
    CHECK_EQ_MEM(hs.protocols[2].ptr, hs.protocols[2].len, "v2.json");
    h[6] = (py_header_t)H("Sec-WebSocket-Protocol", "a b");
    CHECK_EQ_INT(ws_hs_check(&r, &hs), 400);
    h[6] = (py_header_t)H("Sec-WebSocket-Protocol", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o");
    CHECK_EQ_INT(ws_hs_check(&r, &hs), 400); /* 2 + 15 = 17 */
    h[6] = (py_header_t)H("Sec-WebSocket-Protocol", "a,b,c,d,e,f,g,h,i,j,k,l,m,n");
    CHECK_EQ_INT(ws_hs_check(&r, &hs), 0);
    CHECK_EQ_INT(hs.protocol_count, WS_PROTOCOLS_MAX);
}

static void test_items(void)
{
    const char *v = " ,a , b\t,, c d ,";
    size_t pos = 0;
    py_slice_t it;
    buf_t seen = {0};
    while (ws_hs_next_item(v, strlen(v), &pos, &it)) {
        buf_append(&seen, it.ptr, it.len);
        buf_append(&seen, "|", 1);
    }
    buf_append(&seen, "", 1);
    CHECK_EQ_STR(seen.data, "a|b|c d|");
    buf_free(&seen);
    pos = 0;
    CHECK(!ws_hs_next_item(" , ,", 4, &pos, &it));
}

int main(void)
{
    test_accept();
    test_spellings();
    test_refusals();
    test_protocols();
    test_items();
    return check_done();
}
