/* `uwsgi-fast doctor`: audits a host for uwsgi-fast and prints, for each finding, what to
 * change and the command that changes it.
 *
 * It checks io_uring (kernel version, kernel.io_uring_disabled, seccomp, and on the real
 * host a probe ring), RLIMIT_MEMLOCK and RLIMIT_NOFILE against the planned rings and
 * connections, net.core.somaxconn and net.ipv4.tcp_max_syn_backlog against --backlog,
 * net.ipv4.tcp_migrate_req, the NUMA nodes and their CPUs, cgroup CPU and memory limits,
 * transparent huge pages and the CPU frequency governor, then prints the worker plan
 * (tunables/host.h) it would start with. Every fact comes from files under a root
 * directory, so `--root DIR` audits a fixture tree (DIR/proc/..., DIR/sys/...) exactly as
 * it would audit "/", limits included (DIR/proc/self/limits).
 *
 * Findings are ok, note, warn or BLOCKS; only BLOCKS (uwsgi-fast could not start or serve)
 * makes the exit status 1.
 */
#ifndef UF_TUNABLES_DOCTOR_H
#define UF_TUNABLES_DOCTOR_H

#include <stddef.h>
#include <stdio.h>

#include "tunables/tunables.h"

/* Creates a probe ring on the real host the way the server will: returns 0 when io_uring
 * works (msg: what it supports), -1 when it does not (msg: why, and what to change). main.c
 * passes one built on uring/'s ring_probe, which tunables/ may not include. */
typedef int (*tun_uring_probe_fn)(char *msg, size_t len);

/* The subcommand: argv[0] is "doctor", then [--root DIR] and any server options (the
 * application is optional). Writes the report to out and usage errors to errout. Returns
 * the exit status: 0 when nothing blocks, 1 when something does, 2 for bad usage. probe
 * may be NULL; it is used only when the root is "/". */
int tun_doctor_main(int argc, char **argv, char **envp, FILE *out, FILE *errout,
                    tun_uring_probe_fn probe);

/* The audit of the host under root for the settings cfg. Returns the number of blocking
 * findings, or -errno when root cannot be read. */
int tun_doctor_report(const char *root, const tun_config_t *cfg, tun_uring_probe_fn probe,
                      FILE *out);

/* Bytes of RLIMIT_MEMLOCK one worker's ring pins with the settings in cfg: the provided
 * buffer ring's entries (16 bytes each, rounded up to pages). The receive buffers
 * themselves and, since Linux 5.12, the ring's own memory are charged to the cgroup, not
 * to RLIMIT_MEMLOCK. */
unsigned long long tun_memlock_per_worker(const tun_config_t *cfg);

/* Open files one worker needs with the settings in cfg: a descriptor per connection plus
 * headroom for listeners, the ring, log files and what the application opens. */
unsigned long long tun_nofile_per_worker(const tun_config_t *cfg);

#endif
