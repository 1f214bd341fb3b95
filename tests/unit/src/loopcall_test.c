/* Unit tests for src/loopcall.c: a target is called by the loop only after
 * LOOPCALL_STREAK fast, finished calls in a row; one slow or unfinished call takes it
 * back; the query is part of the target; a target that takes another's slot starts over
 * and does not inherit its streak. */
#include "src/loopcall.c"

#include "check.h"

#include <string.h>

static py_request_t request(const char *method, const char *target)
{
    py_request_t pr;
    memset(&pr, 0, sizeof(pr));
    pr.method = (py_slice_t){method, strlen(method)};
    pr.target = (py_slice_t){target, strlen(target)};
    return pr;
}

static uint32_t key_of(const char *method, const char *target)
{
    py_request_t pr = request(method, target);
    return loopcall_key(&pr);
}

static void test_streak(void)
{
    loopcall_t t = {.limit_ns = 200000};
    uint32_t k = key_of("GET", "/hello");
    CHECK(!loopcall_fits(&t, k));
    for (int i = 0; i < LOOPCALL_STREAK - 1; i++)
        loopcall_learn(&t, k, 50000, true);
    CHECK(!loopcall_fits(&t, k)); /* one short */
    loopcall_learn(&t, k, 50000, true);
    CHECK(loopcall_fits(&t, k));
    loopcall_learn(&t, k, 50000, true); /* the streak stays at its top */
    CHECK(loopcall_fits(&t, k));
    loopcall_learn(&t, k, 200000, true); /* at the limit is not under it */
    CHECK(!loopcall_fits(&t, k));
    for (int i = 0; i < LOOPCALL_STREAK; i++)
        loopcall_learn(&t, k, 1000, true);
    CHECK(loopcall_fits(&t, k));
    loopcall_learn(&t, k, 1000, false); /* a streamed body: the thread's again */
    CHECK(!loopcall_fits(&t, k));
}

static void test_keys(void)
{
    CHECK(key_of("GET", "/sleep?ms=0") != key_of("GET", "/sleep?ms=2000"));
    CHECK(key_of("GET", "/a") != key_of("POST", "/a"));
    CHECK(key_of("GET", "/a") == key_of("GET", "/a"));
    CHECK(key_of("", "") != 0);
    loopcall_t t = {.limit_ns = 200000};
    uint32_t fast = key_of("GET", "/sleep?ms=0");
    for (int i = 0; i < LOOPCALL_STREAK; i++)
        loopcall_learn(&t, fast, 1000, true);
    CHECK(loopcall_fits(&t, fast));
    CHECK(!loopcall_fits(&t, key_of("GET", "/sleep?ms=2000")));
}

/* Two keys forced into one slot: the newcomer starts at 0, and the old one, back, too. */
static void test_collision(void)
{
    loopcall_t t = {.limit_ns = 200000};
    uint32_t a = 7, b = 7 + LOOPCALL_SLOTS; /* same slot: (k ^ k >> 16) % SLOTS */
    CHECK(slot_of(&t, a) == slot_of(&t, b));
    for (int i = 0; i < LOOPCALL_STREAK; i++)
        loopcall_learn(&t, a, 1000, true);
    CHECK(loopcall_fits(&t, a));
    CHECK(!loopcall_fits(&t, b));
    loopcall_learn(&t, b, 1000, true);
    CHECK(!loopcall_fits(&t, a));
    CHECK(!loopcall_fits(&t, b));
}

int main(void)
{
    test_streak();
    test_keys();
    test_collision();
    return check_done();
}
