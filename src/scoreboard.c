/* Shared-memory worker slots. */
#include "src/scoreboard.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

int sb_create(scoreboard_t *sb, unsigned count)
{
    size_t size = (size_t)count * sizeof(sb_slot_t);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    memset(p, 0, size);
    sb->slots = p;
    sb->count = count;
    return 0;
}

void sb_destroy(scoreboard_t *sb)
{
    if (sb->slots)
        munmap(sb->slots, (size_t)sb->count * sizeof(sb_slot_t));
    sb->slots = NULL;
    sb->count = 0;
}

uint64_t sb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
