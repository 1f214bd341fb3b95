/* Fuzz builds only: common/mem.c's allocator mapped onto libc malloc.
 *
 * mimalloc takes its memory straight from mmap, so AddressSanitizer cannot see the
 * bounds of a mimalloc block and an overflow of a buf_t would go unnoticed. The fuzz
 * build puts this folder first on the include path; common/mem.c then allocates with
 * malloc, which ASan instruments. Nothing else changes.
 */
#ifndef UF_FUZZ_MIMALLOC_SHIM_H
#define UF_FUZZ_MIMALLOC_SHIM_H

#include <stdlib.h>

#define mi_malloc  malloc
#define mi_calloc  calloc
#define mi_realloc realloc
#define mi_free    free

#endif
