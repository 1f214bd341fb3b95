/* Memory accounting for the master: the budget the workers must fit in, and what each
 * worker process costs.
 *
 * The budget is the tightest of cgroup v2 memory.max, cgroup v1 memory.limit_in_bytes
 * and MemTotal, read under a root prefix ("" for the live system) so tests can use a fake
 * /proc and /sys. The master subtracts its reserve and divides by the measured PSS of a
 * booted worker to know how many workers fit.
 */
#ifndef UF_BUDGET_H
#define UF_BUDGET_H

#include <stdint.h>
#include <sys/types.h>

typedef struct budget {
    uint64_t limit_bytes;    /* 0 if nothing could be read */
    char source[64];         /* "cgroup v2 memory.max", "cgroup v1 ...", "MemTotal" */
} budget_t;

/* Fills *b from the files under root. Returns 0, or -ENOENT when no limit was found. */
int budget_read(const char *root, budget_t *b);

/* Resident set size of a process, in bytes (0 if it is gone). */
uint64_t budget_rss_bytes(pid_t pid);

/* Proportional set size (shared pages divided among their users), in bytes; the fair
 * cost of one more worker. 0 if unavailable. */
uint64_t budget_pss_bytes(pid_t pid);

/* Memory pressure: PSI "some avg10" of /proc/pressure/memory in percent, 0 when the
 * kernel has no PSI. */
double budget_pressure(void);

#endif
