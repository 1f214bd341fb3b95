/* Memory accounting for the master: what each worker process costs and how much
 * pressure the host is under. (The budget itself, from cgroups and MemTotal, is read by
 * tunables/host.c, which `doctor` shares.) The master divides the budget by the
 * measured PSS of a booted worker to know how many workers fit.
 */
#ifndef UF_BUDGET_H
#define UF_BUDGET_H

#include <stdint.h>
#include <sys/types.h>

/* Resident set size of a process, in bytes (0 if it is gone). */
uint64_t budget_rss_bytes(pid_t pid);

/* Proportional set size (shared pages divided among their users), in bytes; the fair
 * cost of one more worker. 0 if unavailable. */
uint64_t budget_pss_bytes(pid_t pid);

/* Memory pressure: PSI "some avg10" of /proc/pressure/memory in percent, 0 when the
 * kernel has no PSI. */
double budget_pressure(void);

#endif
