/* Unit tests for src/proxyproto.c: v1 TCP4, TCP6 and UNKNOWN lines and every way a line
 * can be wrong; v2 PROXY and LOCAL, the INET, INET6, UNIX and UNSPEC families, TLVs (SSL
 * with and without its client bit, sub-TLVs, CRC32C right and wrong, cut short, too long);
 * every valid header cut at every byte (more is needed, never an error), and bytes after
 * a header left to the caller. */
#include "src/proxyproto.c"

#include "check.h"

#include <arpa/inet.h>

#include "common/mem.h"

static const char *host(const struct sockaddr_storage *ss, int *port)
{
    static char text[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
        *port = ntohs(a->sin6_port);
    } else {
        snprintf(text, sizeof(text), "?");
        *port = -1;
    }
    return text;
}

static long parse(const void *b, size_t n, unsigned accept, pp_result_t *r)
{
    memset(r, 0xa5, sizeof(*r));
    r->error = NULL;
    return pp_parse(b, n, accept, r);
}

/* Every proper prefix of a valid header needs more; the whole of it parses to n. */
static void check_prefixes(const void *b, size_t n, unsigned accept)
{
    pp_result_t r;
    size_t bad = 0;
    for (size_t k = 0; k < n; k++)
        if (parse(b, k, accept, &r) != 0)
            bad++;
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(parse(b, n, accept, &r), (long)n);
}

static void expect_error(const char *what, const void *b, size_t n, unsigned accept)
{
    pp_result_t r;
    long got = parse(b, n, accept, &r);
    if (got != -1 || !r.error)
        fprintf(stderr, "expected an error for %s, got %ld\n", what, got);
    CHECK_EQ_INT(got, -1);
    CHECK(r.error != NULL);
}

#define BOTH (PP_ACCEPT_V1 | PP_ACCEPT_V2)

/* r names src:sport -> dst:dport */
static void check_endpoints(const pp_result_t *r, const char *src, int sport, const char *dst,
                            int dport)
{
    int port;
    CHECK(r->has_addr);
    CHECK_EQ_STR(host(&r->src, &port), src);
    CHECK_EQ_INT(port, sport);
    CHECK_EQ_STR(host(&r->dst, &port), dst);
    CHECK_EQ_INT(port, dport);
}

static void test_v1(void)
{
    pp_result_t r;
    const char tcp4[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
    size_t hlen = strlen("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
    CHECK_EQ_INT(parse(tcp4, sizeof(tcp4) - 1, BOTH, &r), (long)hlen);
    CHECK_EQ_INT(r.version, 1);
    CHECK(!r.ssl);
    check_endpoints(&r, "192.0.2.1", 56324, "198.51.100.2", 443);
    check_prefixes(tcp4, hlen, BOTH);
    check_prefixes(tcp4, hlen, PP_ACCEPT_V1);

    const char tcp6[] = "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 0 65535\r\n";
    CHECK_EQ_INT(parse(tcp6, sizeof(tcp6) - 1, BOTH, &r), (long)sizeof(tcp6) - 1);
    check_endpoints(&r, "2001:db8::1", 0, "::ffff:10.0.0.1", 65535);
    check_prefixes(tcp6, sizeof(tcp6) - 1, BOTH);

    /* the longest TCP6 line still fits in 107 bytes */
    const char wide[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    CHECK(sizeof(wide) - 1 <= PP_V1_MAX);
    CHECK_EQ_INT(parse(wide, sizeof(wide) - 1, BOTH, &r), (long)sizeof(wide) - 1);

    const char unk[] = "PROXY UNKNOWN\r\n";
    CHECK_EQ_INT(parse(unk, sizeof(unk) - 1, BOTH, &r), (long)sizeof(unk) - 1);
    CHECK_EQ_INT(r.version, 1);
    CHECK(!r.has_addr && !r.ssl);
    check_prefixes(unk, sizeof(unk) - 1, BOTH);
    const char unk2[] = "PROXY UNKNOWN ffff:: 1::2 1 2\r\n"; /* the rest is ignored */
    CHECK_EQ_INT(parse(unk2, sizeof(unk2) - 1, BOTH, &r), (long)sizeof(unk2) - 1);
    CHECK(!r.has_addr);

    /* 107 bytes exactly, then 108 */
    char line[200];
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + PP_V1_MAX - 2, "\r\n", 2);
    check_prefixes(line, PP_V1_MAX, BOTH);
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + PP_V1_MAX - 1, "\r\n", 2);
    CHECK_EQ_INT(parse(line, PP_V1_MAX - 2, BOTH, &r), 0);
    expect_error("108 bytes", line, PP_V1_MAX + 1, BOTH);
    expect_error("no CRLF at 106 bytes", line, PP_V1_MAX - 1, BOTH);
}

static void test_v1_errors(void)
{
    static const char *const bad[] = {
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",     /* bare LF */
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\rX",    /* CR without LF */
        "PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n",  /* two spaces */
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n",  /* a space at the end */
        "PROXY  TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",  /* a space at the start */
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",       /* four fields */
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 7\r\n", /* six fields */
        "PROXY TCP5 192.0.2.1 198.51.100.2 56324 443\r\n",   /* protocol */
        "PROXY tcp4 192.0.2.1 198.51.100.2 56324 443\r\n",   /* protocol's case */
        "PROXY UNKNOWNX\r\n",                                /* not UNKNOWN */
        "PROXY TCP4 2001:db8::1 198.51.100.2 56324 443\r\n", /* family mismatch */
        "PROXY TCP6 192.0.2.1 2001:db8::2 56324 443\r\n",    /* family mismatch */
        "PROXY TCP4 192.0.2.01 198.51.100.2 56324 443\r\n",  /* leading zero */
        "PROXY TCP4 192.0.2 198.51.100.2 56324 443\r\n",     /* three parts */
        "PROXY TCP4 192.0.2.256 198.51.100.2 56324 443\r\n", /* part above 255 */
        "PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",   /* port above 65535 */
        "PROXY TCP4 192.0.2.1 198.51.100.2 0443 443\r\n",    /* port's leading zero */
        "PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n",      /* sign */
        "PROXY TCP4 192.0.2.1 198.51.100.2 123456 443\r\n",  /* six digits */
        "PROXY TCP4 192.0.2.1 198.51.100.2 80 4a3\r\n",      /* not decimal */
        "PROXY TCP4 192.0.2.1\t198.51.100.2 56324 443\r\n",  /* a control byte */
        "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:1 ::1 1 2\r\n", /* too long */
        "PROXY \r\n",                                                       /* nothing */
        "PROXY\r\n",                                                        /* no space */
        "proxy TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",                  /* case */
        "GET / HTTP/1.1\r\n",                                               /* no header at all */
        "PROXY TCP4 \xc3\xa9 198.51.100.2 56324 443\r\n",                   /* not ASCII */
    };
    for (size_t i = 0; i < UF_ARRAY_LEN(bad); i++)
        expect_error(bad[i], bad[i], strlen(bad[i]), BOTH);
    /* a v1 line when only v2 is taken */
    const char ok[] = "PROXY UNKNOWN\r\n";
    expect_error("v1 to a v2 listener", ok, sizeof(ok) - 1, PP_ACCEPT_V2);
    /* fails at its first wrong byte, without waiting for a CRLF */
    expect_error("G", "G", 1, BOTH);
    expect_error("PROXI", "PROXI", 5, BOTH);
    expect_error("nul", "PROXY \0", 7, BOTH);
}

/* A v2 header: signature, ver_cmd, fam, then `body` of n bytes; the length is n. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *body, size_t n)
{
    memcpy(out, v2_sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
    memcpy(out + 16, body, n);
    return 16 + n;
}

static void test_v2(void)
{
    uint8_t b[600], body[512];
    pp_result_t r;

    /* PROXY, INET, STREAM */
    uint8_t in4[12] = {192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb};
    size_t n = v2(b, 0x21, 0x11, in4, sizeof(in4));
    memcpy(b + n, "GET", 3);
    CHECK_EQ_INT(parse(b, n + 3, BOTH, &r), (long)n);
    CHECK_EQ_INT(r.version, 2);
    CHECK(!r.ssl);
    check_endpoints(&r, "192.0.2.1", 56324, "198.51.100.2", 443);
    check_prefixes(b, n, BOTH);
    check_prefixes(b, n, PP_ACCEPT_V2);
    expect_error("v2 to a v1 listener", b, n, PP_ACCEPT_V1);

    /* PROXY, INET6, STREAM */
    memset(body, 0, 36);
    inet_pton(AF_INET6, "2001:db8::7", body);
    inet_pton(AF_INET6, "2001:db8::8", body + 16);
    body[32] = 0x30, body[33] = 0x39; /* 12345 */
    body[34] = 0x00, body[35] = 0x50; /* 80 */
    n = v2(b, 0x21, 0x21, body, 36);
    CHECK_EQ_INT(parse(b, n, BOTH, &r), (long)n);
    check_endpoints(&r, "2001:db8::7", 12345, "2001:db8::8", 80);
    check_prefixes(b, n, BOTH);

    /* PROXY, UNIX, STREAM and DGRAM: the socket's own addresses stand */
    memset(body, 0, 216);
    memcpy(body, "/run/haproxy.sock", 17);
    n = v2(b, 0x21, 0x31, body, 216);
    CHECK_EQ_INT(parse(b, n, BOTH, &r), (long)n);
    CHECK(!r.has_addr);
    check_prefixes(b, n, BOTH);
    n = v2(b, 0x21, 0x32, body, 216);
    CHECK_EQ_INT(parse(b, n, BOTH, &r), (long)n);

    /* PROXY, UNSPEC: no addresses */
    n = v2(b, 0x21, 0x00, body, 0);
    CHECK_EQ_INT(parse(b, n, BOTH, &r), 16);
    CHECK(!r.has_addr && !r.ssl);
    check_prefixes(b, n, BOTH);

    /* LOCAL: the block is discarded, whatever its family says */
    memset(body, 0xee, 40);
    n = v2(b, 0x20, 0xff, body, 40);
    CHECK_EQ_INT(parse(b, n, BOTH, &r), (long)n);
    CHECK_EQ_INT(r.version, 2);
    CHECK(!r.has_addr && !r.ssl);
    check_prefixes(b, n, BOTH);
}

/* in4 followed by the TLVs in tlv[0, tn) */
static size_t v2_inet_tlvs(uint8_t *b, const uint8_t *tlv, size_t tn)
{
    uint8_t body[512] = {127, 0, 0, 1, 127, 0, 0, 2, 0x10, 0x00, 0x00, 0x50};
    memcpy(body + 12, tlv, tn);
    return v2(b, 0x21, 0x11, body, 12 + tn);
}

static void test_v2_tlvs(void)
{
    uint8_t b[600];
    pp_result_t r;

    /* ALPN "h2", then SSL: client SSL|CERT_CONN, verify 0, sub-TLVs version "TLSv1.3" and
     * CN "x", then NOOP */
    const uint8_t ssl[] = {0x01, 0x00, 0x02, 'h',  '2',  0x20, 0x00, 0x13, 0x03, 0,   0,
                           0,    0,    0x21, 0x00, 0x07, 'T',  'L',  'S',  'v',  '1', '.',
                           '3',  0x22, 0x00, 0x01, 'x',  0x04, 0x00, 0x02, 0,    0};
    size_t n = v2_inet_tlvs(b, ssl, sizeof(ssl));
    CHECK_EQ_INT(parse(b, n, BOTH, &r), (long)n);
    CHECK(r.ssl && r.has_addr);
    check_prefixes(b, n, BOTH);

    /* SSL without the client bit (the proxy took TLS, the client did not use it) */
    const uint8_t plain[] = {0x20, 0x00, 0x05, 0x00, 0, 0, 0, 0};
    n = v2_inet_tlvs(b, plain, sizeof(plain));
    CHECK_EQ_INT(parse(b, n, BOTH, &r), (long)n);
    CHECK(!r.ssl);

    /* SSL with UNSPEC: the TLVs start right after the fixed part */
    uint8_t u[64];
    n = v2(u, 0x21, 0x00, (const uint8_t[]){0x20, 0x00, 0x05, 0x01, 0, 0, 0, 0}, 8);
    CHECK_EQ_INT(parse(u, n, BOTH, &r), (long)n);
    CHECK(r.ssl && !r.has_addr);

    /* CRC32C: the test vector, then a header carrying a right and a wrong one */
    CHECK_EQ_INT(crc32c((const uint8_t *)"123456789", 9, SIZE_MAX), 0xe3069283u);
    uint8_t crc_tlv[] = {0x03, 0x00, 0x04, 0, 0, 0, 0};
    n = v2_inet_tlvs(b, crc_tlv, sizeof(crc_tlv));
    uint32_t c = crc32c(b, n, n - 4);
    b[n - 4] = (uint8_t)(c >> 24), b[n - 3] = (uint8_t)(c >> 16);
    b[n - 2] = (uint8_t)(c >> 8), b[n - 1] = (uint8_t)c;
    CHECK_EQ_INT(parse(b, n, BOTH, &r), (long)n);
    check_prefixes(b, n, BOTH);
    b[20] ^= 1; /* a changed address */
    expect_error("wrong crc", b, n, BOTH);

    static const struct {
        const char *what;
        uint8_t tlv[16];
        size_t n;
    } bad[] = {
        {"type only", {0x04}, 1},
        {"type and half a length", {0x04, 0x00}, 2},
        {"value past the end", {0x04, 0x00, 0x03, 0, 0}, 5},
        {"short SSL", {0x20, 0x00, 0x04, 0x01, 0, 0, 0}, 7},
        {"SSL sub-TLV past its TLV", {0x20, 0x00, 0x08, 0x01, 0, 0, 0, 0, 0x21, 0x00, 0x09}, 11},
        {"SSL sub-TLV cut short", {0x20, 0x00, 0x06, 0x01, 0, 0, 0, 0, 0x21}, 9},
        {"CRC of 3 bytes", {0x03, 0x00, 0x03, 0, 0, 0}, 6},
        {"two CRCs", {0x03, 0x00, 0x04, 0, 0, 0, 0, 0x03, 0x00, 0x04, 0, 0, 0, 0}, 14},
    };
    for (size_t i = 0; i < UF_ARRAY_LEN(bad); i++) {
        n = v2_inet_tlvs(b, bad[i].tlv, bad[i].n);
        expect_error(bad[i].what, b, n, BOTH);
    }
}

static void test_v2_errors(void)
{
    uint8_t b[600], body[300] = {0};
    size_t n;

    n = v2(b, 0x21, 0x11, body, 12);
    b[11] = 0x0b;
    expect_error("signature", b, n, BOTH);
    expect_error("signature, early", b, 12, BOTH);
    /* each fails as soon as `cut` bytes show the fault (0: the whole header) */
    static const struct {
        const char *what;
        uint8_t ver_cmd, fam;
        size_t body, cut;
    } bad[] = {
        {"version 1 in v2 form", 0x11, 0x11, 12, 13},
        {"version 3", 0x31, 0x11, 12, 0},
        {"command 2", 0x22, 0x11, 12, 13},
        {"family 4", 0x21, 0x41, 12, 14},
        {"transport 3", 0x21, 0x13, 12, 14},
        {"INET over DGRAM", 0x21, 0x12, 12, 0},
        {"INET over UNSPEC", 0x21, 0x10, 12, 0},
        {"INET block cut", 0x21, 0x11, 11, 16},
        {"INET6 block cut", 0x21, 0x21, 35, 0},
        {"UNIX block cut", 0x21, 0x31, 215, 0},
    };
    for (size_t i = 0; i < UF_ARRAY_LEN(bad); i++) {
        n = v2(b, bad[i].ver_cmd, bad[i].fam, body, bad[i].body);
        expect_error(bad[i].what, b, bad[i].cut ? bad[i].cut : n, BOTH);
    }
    /* a long header waits for all of itself, and no more */
    uint8_t big[16 + 1000] = {0};
    n = v2(big, 0x21, 0x11, body, 12);
    big[14] = 1000 >> 8, big[15] = 1000 & 0xff;
    pp_result_t r;
    CHECK_EQ_INT(parse(big, 16 + 999, BOTH, &r), 0);
    /* the zero padding after the address is TLV type 0, length 0: three bytes each, and
     * 988 is not a multiple of three */
    expect_error("padding", big, 16 + 1000, BOTH);
}

int main(void)
{
    test_v1();
    test_v1_errors();
    test_v2();
    test_v2_tlvs();
    test_v2_errors();
    return check_done();
}
