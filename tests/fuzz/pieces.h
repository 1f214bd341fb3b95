/* What the byte-stream fuzz targets (http, chunk) share: how the bytes a client sends are
 * cut into the pieces that receives would deliver. Byte 1 of the input seeds a small
 * xorshift, so the sizes depend on the input only. */
#ifndef UF_FUZZ_PIECES_H
#define UF_FUZZ_PIECES_H

#include <stddef.h>
#include <stdint.h>

#define MAX_PIECE 64

static uint32_t piece_seed(const uint8_t *data, size_t size)
{
    return 0x9e3779b9u ^ data[1] ^ ((uint32_t)size << 16);
}

static uint32_t next_piece(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    /* mostly tiny pieces: splits inside tokens are what the glue must survive */
    return (x & 3) ? 1 + (x >> 8) % 4 : 1 + (x >> 8) % MAX_PIECE;
}

#endif
