/* What the table-driven fuzz targets (toml, cli, alog) share: how a broken invariant is
 * reported. It aborts, so libFuzzer keeps the input as a crash artifact; the line names
 * the target so a CI log says which one. */
#ifndef UF_FUZZ_INVARIANT_H
#define UF_FUZZ_INVARIANT_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_FAIL(target, ...)                                                                     \
    do {                                                                                           \
        fprintf(stderr, target " invariant: " __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

/* The prefix invariants of a stateless parser that gave `got` (a length, 0 for "more",
 * -1 for "refused") for the whole input: every proper prefix of something accepted needs
 * more, a prefix of something not accepted is never accepted, and nothing refused at a
 * prefix is later taken or left waiting. verdict(ctx, k) parses the first k bytes. Every
 * prefix of a short input is checked, else the one the control byte's upper six bits
 * pick, so that long inputs stay fast. */
static inline void fuzz_check_prefixes(const char *target, unsigned char control, size_t n,
                                       long got, long (*verdict)(void *ctx, size_t k), void *ctx)
{
    size_t upto = got > 0 ? (size_t)got : n;
    size_t first = upto <= 256 ? 0 : (size_t)(control >> 2) * upto / 64;
    size_t last = upto <= 256 ? upto : first + 1;
    for (size_t k = first; k < last && k < upto; k++) {
        long p = verdict(ctx, k);
        if ((got > 0 && p != 0) || (got <= 0 && p > 0) || (p < 0 && got >= 0)) {
            fprintf(stderr, "%s invariant: a prefix of %zu bytes gives %ld, the whole %ld\n",
                    target, k, p, got);
            abort();
        }
    }
}

#endif
