/* Engine-neutral completions: the user_data encoding, the completion flags word and the
 * decoded completion (ring_event_t) that the worker loop and the connection code see.
 *
 * This header knows no io_uring: it is the part of the engine seam (uring/ring.h) that an
 * epoll engine shares verbatim. The io_uring engine's flags word is bit for bit the
 * kernel's cqe->flags (uring/ring.h asserts it), so decoding a CQE is a copy and a few
 * shifts; another engine builds the same word from what it did itself.
 *
 * Invariants:
 *   - user_data is op (8) | generation (24) | slot (32), encoded and decoded only here.
 *     The generation lets the owner of a slot ignore completions of a previous tenant.
 *   - every completion carries the user_data its operation was submitted with; an
 *     operation with `more` set will complete again with the same user_data, and the
 *     first completion without `more` is its last.
 *   - `buffer` set: provided buffer `bid` holds the `res` bytes received and belongs to
 *     the caller until it hands it back with ring_buffer_recycle (exactly once).
 *   - `notif` set: the zero-copy notification of a send_zc; `res` is 0 or has
 *     RING_ZC_COPIED set, and the send's memory is the caller's again.
 */
#ifndef UF_URING_EVENT_H
#define UF_URING_EVENT_H

#include <stdbool.h>
#include <stdint.h>

/* ---- user_data ------------------------------------------------------------------------ */

static inline uint64_t ring_ud(unsigned op, uint32_t gen, uint32_t slot)
{
    return ((uint64_t)(op & 0xff) << 56) | ((uint64_t)(gen & 0xffffff) << 32) | slot;
}
static inline unsigned ring_ud_op(uint64_t ud)
{
    return (unsigned)(ud >> 56);
}
static inline uint32_t ring_ud_gen(uint64_t ud)
{
    return (uint32_t)(ud >> 32) & 0xffffff;
}
static inline uint32_t ring_ud_slot(uint64_t ud)
{
    return (uint32_t)ud;
}

/* ---- the completion flags word --------------------------------------------------------
 * What conn_complete() and friends take as `flags`. The values are io_uring's CQE flags
 * (the engine that matters most decodes for free); the high 16 bits carry the buffer id. */
#define RING_F_BUFFER       (1U << 0) /* a provided buffer was used: see ring_buffer_id() */
#define RING_F_MORE         (1U << 1) /* more completions of this operation follow */
#define RING_F_NOTIF        (1U << 3) /* zero-copy notification, not a send result */
#define RING_F_BUFFER_SHIFT 16
/* In the res of a zero-copy notification: the kernel copied after all (loopback always
 * does), so zero-copy bought nothing towards this peer. */
#define RING_ZC_COPIED (1U << 31)

static inline unsigned ring_buffer_id(unsigned flags)
{
    return flags >> RING_F_BUFFER_SHIFT;
}

/* ---- the decoded completion ----------------------------------------------------------- */

typedef struct ring_event {
    int32_t res;    /* >= 0: the result (bytes, a descriptor, poll events); < 0: -errno */
    uint32_t flags; /* RING_F_* and the buffer id: the word conn_complete() takes */
    uint32_t slot;  /* from user_data */
    uint32_t gen;   /* from user_data */
    uint16_t bid;   /* provided buffer holding the data when `buffer` */
    uint8_t op;     /* from user_data */
    bool more;      /* RING_F_MORE: not the operation's last completion */
    bool notif;     /* RING_F_NOTIF: a zero-copy notification */
    bool buffer;    /* RING_F_BUFFER: `bid` is valid and is now the caller's */
} ring_event_t;

/* Fills *ev from one raw completion. Pure arithmetic, no branches: inlined into the
 * loop, the fields the caller does not read cost nothing. */
static inline void ring_event_decode(ring_event_t *ev, uint64_t ud, int32_t res, uint32_t flags)
{
    ev->res = res;
    ev->flags = flags;
    ev->slot = ring_ud_slot(ud);
    ev->gen = ring_ud_gen(ud);
    ev->op = (uint8_t)ring_ud_op(ud);
    ev->bid = (uint16_t)ring_buffer_id(flags);
    ev->more = (flags & RING_F_MORE) != 0;
    ev->notif = (flags & RING_F_NOTIF) != 0;
    ev->buffer = (flags & RING_F_BUFFER) != 0;
}

#endif
