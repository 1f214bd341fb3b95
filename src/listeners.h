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
 * Unix sockets have no SO_REUSEPORT: such a bind has one listener that every slot shares
 * (each worker's ring runs its own multishot accept on it; the kernel wakes one accept
 * per connection). So does a socket handed over (fd://N, systemd socket activation)
 * unless it is a TCP socket with SO_REUSEPORT: then it is slot 0's listener and the
 * other slots' listeners join its group. A shared listener is never closed with a slot,
 * never stolen from (every worker already accepts on it) and never steered; it closes,
 * and a socket file we created is removed, only when the master exits cleanly.
 *
 * Invariants: master only. Listeners join their group in slot order and only the top
 * slot is ever added or removed, so slot k is index k of every group and the slots in
 * use are indices [0, nslots).
 */
#ifndef UF_LISTENERS_H
#define UF_LISTENERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "src/share.h"
#include "src/steer.h"
#include "src/worker.h"
#include "tunables/tunables.h"

/* Upper bound on worker slots, whatever TTIN asks for. */
#define LISTENERS_MAX_SLOTS 1024

/* What one bind listens on, as the master found it at start. */
typedef struct listen_bind {
    struct sockaddr_storage addr; /* where (a socket handed over: its own address) */
    socklen_t addrlen;
    int shared;    /* the one listener every slot accepts from; -1: one per slot */
    int inherited; /* handed over with SO_REUSEPORT: slot 0's listener; -1: none */
    bool unlink;   /* a socket file we created: removed at a clean exit */
} listen_bind_t;

typedef struct listeners {
    const tun_config_t *cfg; /* binds, backlog, --cpu-pin (the master's, kept current) */
    unsigned nbinds;
    listen_bind_t *binds;
    bool activated; /* the binds came from systemd (LISTEN_FDS), not --bind */
    uid_t owner;    /* --user/--group: socket files are given to them; */
    gid_t group;    /* (uid_t)-1 / (gid_t)-1 leave them */
    share_t *share; /* work sharing: every listener and inbox; NULL when off */
    steer_t steer;  /* eBPF steering to idle workers; .active when attached */
    bool steer_warned;
    bool cbpf; /* a classic-BPF program is attached (see listeners_steer) */
} listeners_t;

/* Systemd socket activation: when LISTEN_PID names this process, the sockets of
 * LISTEN_FDS replace cfg's binds (as gunicorn, --bind is then not used) and ls->activated
 * is set. The LISTEN_* variables are unset either way, as sd_listen_fds(1) does, so the
 * workers and the application never see them. Returns the number of sockets taken, or
 * -1 with the reason in err (malformed variables: a setting's fault, exit 2). */
int listeners_activation(listeners_t *ls, tun_config_t *cfg, char *err, size_t errlen);

/* Checks that nobody else holds a TCP bind address, creates the unix sockets (a stale
 * socket file nobody listens on is replaced) and looks at the sockets handed over; with
 * work sharing (share not NULL) tries the eBPF steering (saying why not in one info
 * line), maps the share table and opens the shared queue's inbox. Socket files are
 * created with --umask (gunicorn's default 0 when unset). Returns 0, -1 with the reason
 * in err, or -2 with it when the settings are at fault (a unix socket another server
 * listens on, a path that is not a socket, a descriptor that is not a stream socket):
 * the master then exits 2, as for a bad flag. */
int listeners_init(listeners_t *ls, const tun_config_t *cfg, share_t *share, char *err,
                   size_t errlen);

/* At a clean exit, after every slot closed: closes the shared listeners and removes the
 * socket files we created. Never on reload: the sockets live as long as the master. */
void listeners_release(listeners_t *ls);

/* Opens slot k's listeners, one per bind address (and, with work sharing, its inbox).
 * Returns the array of nbinds listeners (the caller's, freed by listeners_close_slot),
 * or NULL with the reason in err and nothing left open. */
worker_listener_t *listeners_open_slot(listeners_t *ls, unsigned k, char *err, size_t errlen);

/* Closes slot k's own listeners (l may be NULL; shared ones stay) and its inbox, and
 * frees l. */
void listeners_close_slot(listeners_t *ls, unsigned k, worker_listener_t *l);

/* Whether every bind has one listener all slots share (no reuseport group to steer). */
bool listeners_all_shared(const listeners_t *ls);

/* One "Listening at" line per bind address of `l` (slot 0's, which decided the ports),
 * saying for a unix or handed-over socket whether the workers share it. */
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
