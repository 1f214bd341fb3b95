/* The server's listening sockets and which of them a new connection goes to.
 *
 * The master opens one SO_REUSEPORT socket per worker slot and bind address and keeps it
 * for the master's whole life, so a worker that dies or is replaced hands its accept
 * queue to its successor on the same socket. Before any of them it binds each address
 * once without SO_REUSEPORT, so a second server on the same port fails loudly instead
 * of silently sharing the traffic.
 *
 * Which listener of a bind's reuseport group takes a new connection: with work sharing
 * and eBPF, the program of src/steer.c (idle workers first); with --cpu-pin, a
 * classic-BPF program (the worker on the receiving CPU); after a scale-down, a
 * classic-BPF program spreading over the slots in use; otherwise the kernel's hash.
 *
 * Invariants: master only. Listeners join their group in slot order and only the top
 * slot is ever added or removed, so slot k is index k of every group and the slots in
 * use are indices [0, nslots).
 */
#ifndef UF_LISTENERS_H
#define UF_LISTENERS_H

#include <stdbool.h>
#include <stddef.h>

#include "src/share.h"
#include "src/steer.h"
#include "src/worker.h"
#include "tunables/tunables.h"

/* Upper bound on worker slots, whatever TTIN asks for. */
#define LISTENERS_MAX_SLOTS 1024

typedef struct listeners {
    const tun_config_t *cfg; /* binds, backlog, --cpu-pin (the master's, kept current) */
    unsigned nbinds;
    share_t *share; /* work sharing: every listener and inbox; NULL when off */
    steer_t steer;  /* eBPF steering to idle workers; .active when attached */
    bool steer_warned;
    bool cbpf; /* a classic-BPF program is attached (see listeners_steer) */
} listeners_t;

/* Checks that nobody else holds a bind address; with work sharing (share not NULL) tries
 * the eBPF steering (saying why not in one info line), maps the share table and opens
 * the shared queue's inbox. Returns 0, or -1 with the reason in err. */
int listeners_init(listeners_t *ls, const tun_config_t *cfg, share_t *share, char *err,
                   size_t errlen);

/* Opens slot k's listeners, one per bind address (and, with work sharing, its inbox).
 * Returns the array of nbinds listeners (the caller's, freed by listeners_close_slot),
 * or NULL with the reason in err and nothing left open. */
worker_listener_t *listeners_open_slot(listeners_t *ls, unsigned k, char *err, size_t errlen);

/* Closes slot k's listeners (l may be NULL) and its inbox, and frees l. */
void listeners_close_slot(listeners_t *ls, unsigned k, worker_listener_t *l);

/* One "Listening at" line per bind address of `l` (slot 0's, which decided the ports). */
void listeners_log(const listeners_t *ls, const worker_listener_t *l);

/* The slots changed to `nslots` (`shrinking`: fewer than before): attaches the
 * classic-BPF program when one is due. `slot0` are slot 0's listeners and cpu[k] the CPU
 * of slot k (-1: none). Does nothing while the eBPF program steers. */
void listeners_steer(listeners_t *ls, const worker_listener_t *slot0, const int *cpu,
                     unsigned nslots, bool shrinking);

/* Says (one info line) when net.ipv4.tcp_migrate_req is off, since a scale-down may then
 * reset the connections queued on the listener it closes. */
void listeners_check_migrate(void);

#endif
