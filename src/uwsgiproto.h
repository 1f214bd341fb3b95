/* The uwsgi protocol's request packet (the one nginx's uwsgi_pass sends): a 4-byte header,
 * a block of variables, then the request body.
 *
 *   byte 0     modifier1: 0 for a WSGI request (the only kind taken here)
 *   bytes 1-2  datasize: the block's length, 16-bit little-endian
 *   byte 3     modifier2: 0 from nginx; not read
 *   block      variables, back to back, each: 16-bit LE key length, key, 16-bit LE value
 *              length, value (CGI names: REQUEST_METHOD, PATH_INFO, HTTP_HOST, ...)
 *   body       CONTENT_LENGTH bytes (nginx always sends a length: it reads a chunked
 *              client body whole before passing it on)
 *
 * Pure: bytes in, a verdict out; no I/O, no allocation, no global state, any thread. The
 * caller keeps what arrived and calls uwsgi_parse again on the whole prefix when more
 * comes, so the parser needs no state between calls; the header and block are at most
 * 4 + 65535 bytes, and the limits cut that further. A wrong modifier1 or a datasize over
 * the limit fails at once; the block is checked when all of it is there.
 *
 * Strict by design: every variable lies inside the block, the last one ends exactly at
 * its end, no key is empty, and the count and sizes stay inside the limits.
 */
#ifndef UF_UWSGIPROTO_H
#define UF_UWSGIPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fixed header's length. */
#define UWSGI_HEADER_LEN 4

/* What a packet may hold; 0 leaves a bound unlimited. */
typedef struct uwsgi_limits {
    uint32_t block;    /* bytes of the variables block (datasize) */
    uint32_t vars;     /* variables in the block */
    uint32_t var_size; /* key + value bytes of one variable */
} uwsgi_limits_t;

/* One variable: slices of the caller's buffer. */
typedef struct uwsgi_var {
    const uint8_t *key;
    const uint8_t *value;
    uint16_t key_len;
    uint16_t value_len;
} uwsgi_var_t;

/* Checks the packet's header and variables at the start of buf[0, len). Returns the
 * length of header and block together (the body starts there), 0 when every byte so far
 * fits a packet whose block has not all arrived, or -1 when buf cannot start a valid one
 * (*error, a static string, says why). *vars is set to the variable count on success. */
long uwsgi_parse(const uint8_t *buf, size_t len, const uwsgi_limits_t *lim, uint32_t *vars,
                 const char **error);

/* Walks the variables of a packet uwsgi_parse accepted (buf its start): *pos starts at 0.
 * Returns true with *var filled and *pos advanced, false after the last one. */
bool uwsgi_next_var(const uint8_t *buf, size_t *pos, uwsgi_var_t *var);

#endif
