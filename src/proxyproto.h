/* The PROXY protocol header (HAProxy's specification, versions 1 and 2): the few bytes a
 * TCP proxy sends before the client's own bytes to say whom the connection is really
 * from and to.
 *
 * Pure: bytes in, a verdict out; no I/O, no allocation, no global state, any thread. The
 * caller keeps what arrived and calls pp_parse again on the whole prefix when more comes,
 * so the parser needs no state between calls: a header is at most PP_V1_MAX bytes (v1)
 * or PP_V2_MAX bytes (v2), and a prefix that cannot start a header fails at its first
 * wrong byte rather than waiting for more.
 *
 * Strict by design: a receiver that guesses lets a client choose its own address. v1 is
 * one line of at most 107 bytes ending in CRLF, single spaces, addresses of the family
 * its protocol names, decimal ports without leading zeros; v2 has its 12-byte signature,
 * version 2, a known command, family and transport, an address block that fits the
 * announced length, and TLVs (and the SSL TLV's sub-TLVs) that fit exactly; a CRC32C TLV,
 * when present, must match.
 */
#ifndef UF_PROXYPROTO_H
#define UF_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Which versions a listener takes (gunicorn's v1, v2, auto = both). */
#define PP_ACCEPT_V1 1u
#define PP_ACCEPT_V2 2u

/* The longest v1 header, CRLF included (the specification's bound). */
#define PP_V1_MAX 107
/* The longest v2 header: 16 fixed bytes and a 16-bit length. */
#define PP_V2_MAX (16 + 65535)

/* What a header said. */
typedef struct pp_result {
    uint8_t version; /* 1 or 2 */
    /* The header names the endpoints: src and dst are AF_INET or AF_INET6 addresses.
     * False for a v2 LOCAL command (the proxy's own health check), a v1 UNKNOWN line, and
     * the v2 UNSPEC and UNIX families: the socket's own addresses stand. */
    bool has_addr;
    bool ssl; /* v2: an SSL TLV whose client field has PP2_CLIENT_SSL (TLS to the proxy) */
    struct sockaddr_storage src, dst;
    const char *error; /* on -1: why, a static string */
} pp_result_t;

/* Parses the header at the start of buf[0, len), taking the versions in `accept`
 * (PP_ACCEPT_* bits). Returns the header's length (the bytes after it are the client's),
 * 0 when every byte so far fits a header that has not ended yet, or -1 when buf cannot
 * start one (out->error says why). *out is filled only on success, except out->error. */
long pp_parse(const uint8_t *buf, size_t len, unsigned accept, pp_result_t *out);

#endif
