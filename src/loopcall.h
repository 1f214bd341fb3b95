/* Which requests a work-sharing worker's loop calls itself instead of handing them to its
 * application thread (--threads 1, --work-sharing-inline).
 *
 * The hand-off costs two wake-ups of sleeping threads per request (the thread's, then the
 * loop's): on a small view, about a third of the worker's CPU. What it buys is a loop that
 * stays free while the application runs, to pass on requests this worker cannot start.
 * For a call that ends in microseconds there is nothing to stay free for. So every
 * (method, target) -- the whole target, query included, so that /sleep?ms=0 and
 * /sleep?ms=2000 are told apart -- keeps a streak: how many of its latest calls in a row
 * took less than the limit and finished their response within the call. A request whose
 * streak has reached LOOPCALL_STREAK is called by the loop; one slower or unfinished
 * (streamed, file) call resets the streak, and the next ones go to the thread again until
 * they have earned it back. The loop calls only when the thread is idle (the caller's
 * rule), so it never waits for the GIL behind a request.
 *
 * Invariants: the table belongs to the loop thread; it has a fixed size and no
 * allocation; two targets that share a slot take it from each other (the streak starts
 * over), so a collision can only cost the shortcut, never give it.
 */
#ifndef UF_LOOPCALL_H
#define UF_LOOPCALL_H

#include <stdbool.h>
#include <stdint.h>

#include "python_bridge/wsgi.h"

/* Calls in a row under the limit before the loop calls the target itself. */
#define LOOPCALL_STREAK 8
#define LOOPCALL_SLOTS  512

typedef struct loopcall_slot {
    uint32_t key;
    uint8_t streak;
} loopcall_slot_t;

typedef struct loopcall {
    uint64_t limit_ns; /* --work-sharing-inline */
    loopcall_slot_t slots[LOOPCALL_SLOTS];
} loopcall_t;

/* The key of pr's method and target (never 0: 0 marks an empty slot). */
uint32_t loopcall_key(const py_request_t *pr);

/* Whether the loop should call the request with this key itself. */
bool loopcall_fits(const loopcall_t *t, uint32_t key);

/* A call of the key took `ns` in the application; `finished` when its response was
 * complete when the call returned. */
void loopcall_learn(loopcall_t *t, uint32_t key, uint64_t ns, bool finished);

#endif
