/* What the table-driven fuzz targets (toml, cli, alog) share: how a broken invariant is
 * reported. It aborts, so libFuzzer keeps the input as a crash artifact; the line names
 * the target so a CI log says which one. */
#ifndef UF_FUZZ_INVARIANT_H
#define UF_FUZZ_INVARIANT_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_FAIL(target, ...)                                                                     \
    do {                                                                                           \
        fprintf(stderr, target " invariant: " __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

#endif
