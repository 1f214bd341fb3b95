/* The PROXY protocol header, versions 1 and 2, parsed from a byte prefix. */
#include "src/proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t v1_prefix[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* v2 byte 12, high nibble: the version; low nibble: the command */
#define V2_VERSION 0x20
#define V2_LOCAL   0x0
#define V2_PROXY   0x1
/* v2 byte 13, high nibble: the address family; low nibble: the transport */
#define FAM_UNSPEC   0x0
#define FAM_INET     0x1
#define FAM_INET6    0x2
#define FAM_UNIX     0x3
#define XPORT_UNSPEC 0x0
#define XPORT_STREAM 0x1
#define XPORT_DGRAM  0x2
/* TLV types we read; every other one is skipped (ALPN, authority, unique id, ...) */
#define TLV_CRC32C     0x03
#define TLV_SSL        0x20
#define SSL_CLIENT_SSL 0x01
/* the SSL TLV's value: client (1 byte) and verify (4 bytes), then sub-TLVs */
#define SSL_FIXED 5

static long fail(pp_result_t *out, const char *why)
{
    out->error = why;
    return -1;
}

/* Whether buf[0, len) agrees with the first len bytes of want (want_len of them). */
static bool prefix_fits(const uint8_t *buf, size_t len, const uint8_t *want, size_t want_len)
{
    return memcmp(buf, want, len < want_len ? len : want_len) == 0;
}

/* ---- version 1: one text line ---------------------------------------------------------- */

/* A decimal port, 0 to 65535, without a leading zero (senders never write one; a
 * receiver that allowed them would read "080" where another reads nothing). */
static bool v1_port(const uint8_t *s, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* An address of `family` into ss (port still 0). inet_pton is strict enough: dotted quads
 * of four decimal parts without leading zeros, and the IPv6 text forms. */
static bool v1_addr(const uint8_t *s, size_t n, int family, struct sockaddr_storage *ss)
{
    char text[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof(text))
        return false;
    memcpy(text, s, n);
    text[n] = 0;
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        return inet_pton(AF_INET, text, &a->sin_addr) == 1;
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    return inet_pton(AF_INET6, text, &a->sin6_addr) == 1;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", "PROXY TCP6 ...", or "PROXY UNKNOWN"
 * followed by anything up to the CRLF (which the receiver ignores). */
static long parse_v1(const uint8_t *b, size_t len, pp_result_t *out)
{
    if (!prefix_fits(b, len, v1_prefix, sizeof(v1_prefix)))
        return fail(out, "v1: the line does not start with \"PROXY \"");
    /* the CR must come early enough for its LF to be byte PP_V1_MAX at the latest */
    size_t scan = len < PP_V1_MAX - 1 ? len : PP_V1_MAX - 1, cr = 0;
    while (cr < scan && b[cr] != '\r') {
        if (b[cr] < 0x20 || b[cr] > 0x7e)
            return fail(out, "v1: a byte that is not printable text");
        cr++;
    }
    if (cr == scan)
        return len >= PP_V1_MAX - 1 ? fail(out, "v1: no CRLF within 107 bytes") : 0;
    if (cr + 1 == len)
        return 0;
    if (b[cr + 1] != '\n')
        return fail(out, "v1: CR not followed by LF");
    long total = (long)cr + 2;

    /* the fields after "PROXY ", single spaces between them */
    const uint8_t *f[5];
    size_t flen[5], nf = 0, at = sizeof(v1_prefix);
    static const char unknown[] = "UNKNOWN";
    if (cr - at >= sizeof(unknown) - 1 && memcmp(b + at, unknown, sizeof(unknown) - 1) == 0 &&
        (cr - at == sizeof(unknown) - 1 || b[at + sizeof(unknown) - 1] == ' ')) {
        memset(out, 0, sizeof(*out));
        out->version = 1;
        return total;
    }
    while (at <= cr) {
        size_t end = at;
        while (end < cr && b[end] != ' ')
            end++;
        if (end == at)
            return fail(out, "v1: an empty field (two spaces, or a space at the end)");
        if (nf == 5)
            return fail(out, "v1: more than five fields after PROXY");
        f[nf] = b + at;
        flen[nf++] = end - at;
        at = end + 1;
    }
    if (nf != 5)
        return fail(out, "v1: fewer than five fields after PROXY");
    int family;
    if (flen[0] == 4 && memcmp(f[0], "TCP4", 4) == 0)
        family = AF_INET;
    else if (flen[0] == 4 && memcmp(f[0], "TCP6", 4) == 0)
        family = AF_INET6;
    else
        return fail(out, "v1: the protocol is not TCP4, TCP6 or UNKNOWN");
    pp_result_t r = {.version = 1, .has_addr = true};
    uint16_t sport, dport;
    if (!v1_addr(f[1], flen[1], family, &r.src) || !v1_addr(f[2], flen[2], family, &r.dst))
        return fail(out, "v1: an address that is not of the protocol's family");
    if (!v1_port(f[3], flen[3], &sport) || !v1_port(f[4], flen[4], &dport))
        return fail(out, "v1: a port that is not a decimal number from 0 to 65535");
    set_port(&r.src, sport);
    set_port(&r.dst, dport);
    *out = r;
    return total;
}

/* ---- version 2: binary --------------------------------------------------------------- */

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* CRC32C (Castagnoli, reflected) of buf, with the four bytes at skip counted as zeros:
 * the checksum TLV covers the whole header with its own value zeroed. Bitwise: it runs
 * once per header that carries one, and headers are short. */
static uint32_t crc32c(const uint8_t *buf, size_t len, size_t skip)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= (i >= skip && i < skip + 4) ? 0 : buf[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
    }
    return ~crc;
}

/* Walks the TLVs in p[0, n): each a type, a 16-bit length and that many bytes, which must
 * fit. The SSL TLV's sub-TLVs are walked the same way. *crc_at is the offset of a CRC32C
 * value from p, or stays SIZE_MAX. Returns 0 or -1 (out->error set). */
static int walk_tlvs(const uint8_t *p, size_t n, bool nested, pp_result_t *out, size_t *crc_at)
{
    size_t at = 0;
    while (at < n) {
        if (n - at < 3)
            return (int)fail(out, "v2: a TLV cut short in its type and length");
        uint8_t type = p[at];
        size_t vlen = be16(p + at + 1);
        at += 3;
        if (vlen > n - at)
            return (int)fail(out, "v2: a TLV longer than what is left of the header");
        if (!nested && type == TLV_SSL) {
            if (vlen < SSL_FIXED)
                return (int)fail(out, "v2: an SSL TLV shorter than its client and verify fields");
            if (p[at] & SSL_CLIENT_SSL)
                out->ssl = true;
            if (walk_tlvs(p + at + SSL_FIXED, vlen - SSL_FIXED, true, out, crc_at) < 0)
                return -1;
        } else if (!nested && type == TLV_CRC32C) {
            if (vlen != 4)
                return (int)fail(out, "v2: a CRC32C TLV whose length is not 4");
            if (*crc_at != SIZE_MAX)
                return (int)fail(out, "v2: two CRC32C TLVs");
            *crc_at = at;
        }
        at += vlen;
    }
    return 0;
}

static long parse_v2(const uint8_t *b, size_t len, pp_result_t *out)
{
    if (!prefix_fits(b, len, v2_sig, sizeof(v2_sig)))
        return fail(out, "v2: not the v2 signature");
    if (len > 12 && (b[12] & 0xf0) != V2_VERSION)
        return fail(out, "v2: the version is not 2");
    if (len > 12 && (b[12] & 0x0f) != V2_LOCAL && (b[12] & 0x0f) != V2_PROXY)
        return fail(out, "v2: the command is neither LOCAL nor PROXY");
    bool local = len > 12 && (b[12] & 0x0f) == V2_LOCAL;
    /* LOCAL (a proxy's own health check) discards the address block, family and all */
    size_t addr_len = 0;
    unsigned fam = 0;
    if (len > 13 && !local) {
        fam = b[13] >> 4;
        unsigned xport = b[13] & 0x0f;
        if (xport > XPORT_DGRAM)
            return fail(out, "v2: an unknown transport");
        switch (fam) {
        case FAM_UNSPEC:
            break;
        case FAM_INET:
        case FAM_INET6:
            if (xport != XPORT_STREAM)
                return fail(out, "v2: an IP address family whose transport is not STREAM");
            addr_len = fam == FAM_INET ? 12 : 36;
            break;
        case FAM_UNIX:
            addr_len = 216;
            break;
        default:
            return fail(out, "v2: an unknown address family");
        }
    }
    if (len < 16)
        return 0;
    size_t body = be16(b + 14), total = 16 + body;
    if (addr_len > body)
        return fail(out, "v2: the length is shorter than the address block");
    if (len < total)
        return 0;

    pp_result_t r = {.version = 2};
    if (local) {
        *out = r;
        return (long)total;
    }
    const uint8_t *a = b + 16;
    if (fam == FAM_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&r.src, *d = (struct sockaddr_in *)&r.dst;
        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        memcpy(&d->sin_addr, a + 4, 4);
        memcpy(&s->sin_port, a + 8, 2); /* both in network order already */
        memcpy(&d->sin_port, a + 10, 2);
        r.has_addr = true;
    } else if (fam == FAM_INET6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&r.src, *d = (struct sockaddr_in6 *)&r.dst;
        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a, 16);
        memcpy(&d->sin6_addr, a + 16, 16);
        memcpy(&s->sin6_port, a + 32, 2);
        memcpy(&d->sin6_port, a + 34, 2);
        r.has_addr = true;
    }
    size_t crc_at = SIZE_MAX;
    if (walk_tlvs(a + addr_len, body - addr_len, false, &r, &crc_at) < 0)
        return fail(out, r.error);
    if (crc_at != SIZE_MAX) {
        size_t off = 16 + addr_len + crc_at;
        uint32_t want = (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 |
                        (uint32_t)b[off + 2] << 8 | b[off + 3];
        if (crc32c(b, total, off) != want)
            return fail(out, "v2: the CRC32C does not match");
    }
    *out = r;
    return (long)total;
}

long pp_parse(const uint8_t *buf, size_t len, unsigned accept, pp_result_t *out)
{
    if (len == 0)
        return 0;
    /* the two versions differ in their first byte: 'P' or CR */
    if (buf[0] == v1_prefix[0] && (accept & PP_ACCEPT_V1))
        return parse_v1(buf, len, out);
    if (buf[0] == v2_sig[0] && (accept & PP_ACCEPT_V2))
        return parse_v2(buf, len, out);
    if (accept == PP_ACCEPT_V1)
        return fail(out, "not a PROXY protocol v1 header");
    if (accept == PP_ACCEPT_V2)
        return fail(out, "not a PROXY protocol v2 header");
    return fail(out, "not a PROXY protocol header");
}
