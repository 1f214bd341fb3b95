/* Steering new connections to idle workers: a reuseport eBPF program per bind address
 * that reads the share table (src/share.h) and picks the listener of a worker with a free
 * application thread.
 *
 * The kernel runs the program for every new connection on the bind's reuseport group.
 * It starts at the slot the connection's hash names (so even load keeps the kernel's
 * spread) and takes the first slot from there whose worker has a thread free; when none
 * has, the hashed slot. Only slots [0, nslots) are chosen, so a slot being scaled away
 * gets no new connections. The share table itself lives in the program's array map,
 * mapped into the master (BPF_F_MMAPABLE) before the workers fork, so their plain stores
 * are what the program reads, with no system call.
 *
 * Where eBPF cannot be loaded (no CAP_BPF, a seccomp profile, an old kernel) nothing of
 * this exists: steer_open says why, the table is ordinary shared memory, and the
 * hand-offs of work sharing balance what the kernel's hash spreads.
 *
 * Invariants: master only; the listener of slot k is entry k of its bind's socket array.
 */
#ifndef UF_STEER_H
#define UF_STEER_H

#include <stdbool.h>
#include <stddef.h>

#define STEER_MAX_BINDS 16

typedef struct steer {
    bool active;   /* the programs are attached (set by the caller once slot 0's
                      listeners of every reuseport group were added) */
    int table_map; /* the share table's map, -1 = none */
    void *table;   /* ... mapped here (table_size bytes) */
    size_t table_size;
    unsigned nbinds;
    int sockets[STEER_MAX_BINDS]; /* per bind: its REUSEPORT_SOCKARRAY map */
    int progs[STEER_MAX_BINDS];   /* per bind: its program, attached to the group */
} steer_t;

/* Makes the table's map (table_size bytes, zeroed, mapped shared), the socket arrays and
 * the programs for `nbinds` binds. Returns 0, or -1 with why in err (nothing is left
 * open); the caller then makes the table itself. */
int steer_open(steer_t *st, size_t table_size, unsigned nbinds, size_t off_nslots, size_t off_free,
               unsigned max_slots, char *err, size_t errlen);

/* Slot k's listener of bind b has been opened: enters it into the bind's array and, for
 * the first listener of a bind, attaches the program to its group. A bind whose one
 * listener every slot shares has no group and is never added. Returns 0, or -1 with why
 * in err (steering is then off for good: steer->active false). */
int steer_add(steer_t *st, unsigned k, unsigned b, int listen_fd, char *err, size_t errlen);

/* Closes the maps and programs (the table's mapping stays the caller's to unmap). */
void steer_close(steer_t *st);

#endif
