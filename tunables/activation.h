/* Activation: the sockets a service manager handed over (systemd socket activation, the
 * protocol of sd_listen_fds(3), without libsystemd) read from the environment into binds.
 *
 * The manager binds the sockets, passes them as descriptors 3, 4, ... and says so in
 * LISTEN_FDS (how many), LISTEN_PID (for which process: a child that inherits the
 * environment must not take them too) and LISTEN_FDNAMES (their FileDescriptorName=,
 * colon separated). Pure: the caller reads the variables, and unsets them afterwards as
 * sd_listen_fds(unset_environment=1) does, so that the workers and the application never
 * see them. No state.
 */
#ifndef UF_TUNABLES_ACTIVATION_H
#define UF_TUNABLES_ACTIVATION_H

#include <stddef.h>

#include "tunables/tunables.h"

/* The first descriptor a service manager passes (SD_LISTEN_FDS_START). */
#define TUN_LISTEN_FDS_START 3
/* More sockets than this is not a configuration anybody means. */
#define TUN_LISTEN_FDS_MAX 256

/* The sockets for process `self` from the values of LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES (each NULL when unset). Returns how many (0 when LISTEN_PID is unset or
 * names another process), with *out a new array of that many TUN_BIND_FD binds (the
 * caller's, freed with uf_free; NULL when 0) whose spec says "fd://3 (systemd: NAME)";
 * or TUN_ERROR with why naming the variable. Names are ignored when their count differs
 * from LISTEN_FDS, as sd_listen_fds_with_names(3) then reports them as unknown. */
int tun_activation_parse(const char *pid, const char *fds, const char *names, long self,
                         tun_bind_t **out, char *why, size_t whylen);

#endif
