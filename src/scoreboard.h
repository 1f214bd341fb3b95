/* The scoreboard: one cache-line-aligned slot per worker in a MAP_SHARED page set up by
 * the master before forking. A worker writes only its own slot; the master reads all of
 * them. Fields are plain integers written with relaxed atomics: readers need freshness,
 * not ordering (a stale heartbeat by one tick is harmless).
 */
#ifndef UF_SCOREBOARD_H
#define UF_SCOREBOARD_H

#include <stdint.h>
#include <sys/types.h>

enum sb_state {
    SB_EMPTY = 0,    /* no process */
    SB_BOOTING,      /* forked, loading the application */
    SB_READY,        /* accepting */
    SB_DRAINING,     /* stopped accepting, finishing in-flight requests */
};

typedef struct sb_slot {
    int32_t pid;
    uint32_t generation;
    uint32_t state;              /* enum sb_state */
    uint32_t _pad;
    uint64_t heartbeat_ms;       /* CLOCK_MONOTONIC, updated by the worker loop */
    uint64_t requests;           /* served since this worker booted */
    uint64_t request_start_ms;   /* 0 when idle */
    uint64_t rss_bytes;          /* sampled by the master */
    char request_line[128];      /* "GET /path" of the current request (with --timeout) */
    char boot_error[312];        /* why the worker could not boot, for the master's message */
} __attribute__((aligned(64))) sb_slot_t;

typedef struct scoreboard {
    sb_slot_t *slots;
    unsigned count;
} scoreboard_t;

/* Maps `count` shared slots. Returns 0 or -errno. */
int sb_create(scoreboard_t *sb, unsigned count);
void sb_destroy(scoreboard_t *sb);

uint64_t sb_now_ms(void);

static inline void sb_set(uint32_t *field, uint32_t v) { __atomic_store_n(field, v, __ATOMIC_RELAXED); }
static inline uint32_t sb_get(const uint32_t *field) { return __atomic_load_n(field, __ATOMIC_RELAXED); }
static inline void sb_set64(uint64_t *field, uint64_t v) { __atomic_store_n(field, v, __ATOMIC_RELAXED); }
static inline uint64_t sb_get64(const uint64_t *field) { return __atomic_load_n(field, __ATOMIC_RELAXED); }

#endif
