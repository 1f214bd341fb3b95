/* SHA-1 (RFC 3174), for the one place the server needs it: a WebSocket handshake's
 * Sec-WebSocket-Accept (RFC 6455 section 4.2.2), a hash of the client's key and a fixed
 * GUID. SHA-1 is broken for collision resistance, which this use does not rely on: the
 * accept value only proves that the server read the key. A few dozen lines of our own
 * rather than a cryptographic library for one 60-byte hash per connection.
 *
 * Pure: no allocation, no global state, any thread. A zeroed context is not a valid one:
 * start with sha1_init.
 */
#ifndef UF_SHA1_H
#define UF_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_LEN 20

typedef struct sha1 {
    uint32_t h[5];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    size_t used; /* bytes of block filled */
} sha1_t;

void sha1_init(sha1_t *s);
void sha1_update(sha1_t *s, const void *p, size_t n);
/* Pads, writes the digest into out and leaves s spent (sha1_init it to reuse it). */
void sha1_final(sha1_t *s, uint8_t out[SHA1_DIGEST_LEN]);

#endif
