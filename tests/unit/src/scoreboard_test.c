/* Unit tests for src/scoreboard.c: the slots are zeroed, cache-line aligned and shared
 * with a forked child (what a worker writes, the master reads); the single-writer counter
 * helpers; the latency bucket edges (a bound belongs to its bucket, beyond the last is
 * +Inf); the monotonic clock; and destroy leaving an empty scoreboard. */
#include "src/scoreboard.c"

#include "check.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_shared(void)
{
    scoreboard_t sb = {0};
    CHECK_EQ_INT(sb_create(&sb, 3), 0);
    CHECK_EQ_INT(sb.count, 3);
    CHECK_EQ_INT(sizeof(sb_slot_t) % 64, 0);
    CHECK_EQ_INT((uintptr_t)sb.slots % 64, 0);
    bool zero = true;
    const unsigned char *bytes = (const unsigned char *)sb.slots;
    for (size_t i = 0; i < 3 * sizeof(sb_slot_t); i++)
        zero = zero && bytes[i] == 0;
    CHECK(zero);

    pid_t pid = fork();
    if (pid == 0) {
        sb_slot_t *mine = &sb.slots[1];
        sb_set(&mine->state, SB_READY);
        sb_add64(&mine->requests, 5);
        sb_add64(&mine->requests, 2);
        sb_set64(&mine->heartbeat_ms, 1234);
        _exit(0);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_EQ_INT(status, 0);
    CHECK_EQ_INT(sb_get(&sb.slots[1].state), SB_READY);
    CHECK_EQ_INT(sb_get64(&sb.slots[1].requests), 7);
    CHECK_EQ_INT(sb_get64(&sb.slots[1].heartbeat_ms), 1234);
    CHECK_EQ_INT(sb_get(&sb.slots[0].state), SB_EMPTY); /* its neighbours untouched */
    CHECK_EQ_INT(sb_get(&sb.slots[2].state), SB_EMPTY);

    sb_destroy(&sb);
    CHECK(sb.slots == NULL);
    CHECK_EQ_INT(sb.count, 0);
    sb_destroy(&sb); /* twice is harmless */
}

static void test_buckets(void)
{
    CHECK_EQ_INT(sb_latency_bucket(0), 0);
    CHECK_EQ_INT(sb_latency_bucket(500), 0); /* le="0.0005" holds 500 us */
    CHECK_EQ_INT(sb_latency_bucket(501), 1);
    CHECK_EQ_INT(sb_latency_bucket(1000), 1);
    CHECK_EQ_INT(sb_latency_bucket(250000), 8);
    CHECK_EQ_INT(sb_latency_bucket(10000000), SB_LATENCY_BUCKETS - 2);
    CHECK_EQ_INT(sb_latency_bucket(10000001), SB_LATENCY_BUCKETS - 1); /* +Inf */
    CHECK_EQ_INT(sb_latency_bucket(UINT64_MAX), SB_LATENCY_BUCKETS - 1);
    for (unsigned i = 1; i < SB_LATENCY_BUCKETS - 1; i++)
        CHECK(sb_latency_le_us[i] > sb_latency_le_us[i - 1]);
}

static void test_clock(void)
{
    uint64_t a = sb_now_ms();
    usleep(20000);
    uint64_t b = sb_now_ms();
    CHECK(a > 0);
    CHECK(b >= a + 19 && b < a + 5000);
}

int main(void)
{
    test_shared();
    test_buckets();
    test_clock();
    return check_done();
}
