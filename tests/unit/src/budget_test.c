/* Unit tests for src/budget.c: RSS and PSS of this process (and their growth when it
 * touches memory), 0 for a process that does not exist, and a pressure reading within
 * 0-100 (0 where the kernel has no PSI). */
#include "src/budget.c"

#include "check.h"

#include <stdlib.h>
#include <sys/mman.h>

static void test_rss(void)
{
    uint64_t before = budget_rss_bytes(getpid());
    CHECK(before > 0);
    CHECK_EQ_INT(before % (uint64_t)sysconf(_SC_PAGESIZE), 0);
    size_t size = 32u << 20;
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 1, size); /* resident now */
    uint64_t after = budget_rss_bytes(getpid());
    CHECK(after >= before + size - (size >> 3));
    uint64_t pss = budget_pss_bytes(getpid());
    /* smaps_rollup exists since Linux 4.14; where it does not, 0 is the documented answer */
    if (pss)
        CHECK(pss >= size - (size >> 3));
    munmap(p, size);
    CHECK(budget_rss_bytes(getpid()) < after);

    /* pid_max is at most 2^22: this pid cannot exist */
    CHECK_EQ_INT(budget_rss_bytes((pid_t)(1 << 23)), 0);
    CHECK_EQ_INT(budget_pss_bytes((pid_t)(1 << 23)), 0);
}

static void test_pressure(void)
{
    double p = budget_pressure();
    CHECK(p >= 0 && p <= 100);
}

int main(void)
{
    test_rss();
    test_pressure();
    return check_done();
}
