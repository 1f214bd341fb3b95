/* Base64 (RFC 4648 section 4, the standard alphabet with '=' padding): encoding, and a
 * strict decoding that takes only canonical text (no white space, padding only at the end
 * and only as much as the length needs, zero bits where padding leaves bits over), which
 * is what a WebSocket key must be.
 *
 * Pure: no allocation, any thread.
 */
#ifndef UF_BASE64_H
#define UF_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The encoded length of n bytes (padding included), without a NUL. */
static inline size_t base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Writes the encoding of p[0, n) and a NUL into out (base64_encoded_len(n) + 1 bytes of
 * room). Returns the encoded length. */
size_t base64_encode(char *out, const uint8_t *p, size_t n);

/* The value of one character of the alphabet, -1 for any other (padding included). */
int base64_value(char c);

/* Decodes the canonical text s[0, n) into out (room for n / 4 * 3 bytes). Returns the
 * decoded length, or -1 when s is not canonical base64. */
long base64_decode(uint8_t *out, const char *s, size_t n);

#endif
