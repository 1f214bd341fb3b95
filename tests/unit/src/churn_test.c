/* Unit tests for src/churn.c, on a fake clock: the process table (current worker, free
 * entries and scoreboard slots), the request limit with its jitter, the limits that call
 * for a successor (a code change first, max-requests before lifetime, the worker saying it
 * took its last), one limit-driven replacement at a time without work sharing (HUP, a code
 * change and work sharing exempt), the hang verdicts (a late request, a grace for threads that
 * answer the client, a silent loop; never a draining worker, whose kill deadline covers it), the
 * hand-over from an old worker to its successor, the boot back-off and the give-up, the recycle
 * counters, and the memory decisions (RSS, the budget's victim, the cap, the slot goal). */
#include "src/churn.c"

#include "check.h"

#include <string.h>

#define NPROCS 8

static churn_proc_t procs[NPROCS];
static sb_slot_t sb[NPROCS];
static tun_config_t cfg;

/* A fresh table: no workers, the settings all off. */
static churn_t table(void)
{
    memset(procs, 0, sizeof(procs));
    memset(sb, 0, sizeof(sb));
    memset(&cfg, 0, sizeof(cfg));
    return (churn_t){.procs = procs, .nprocs = NPROCS, .sb = sb, .cfg = &cfg};
}

/* Puts worker `pid` in entry i on slot k, scoreboard slot i, in `state`. */
static churn_proc_t *add(unsigned i, pid_t pid, unsigned k, unsigned gen, uint32_t state)
{
    procs[i] = (churn_proc_t){.pid = pid, .slot = k, .sb_index = i, .generation = gen};
    sb[i].state = state;
    return &procs[i];
}

static void test_table(void)
{
    churn_t c = table();
    CHECK(churn_current(&c, 0) == NULL);
    CHECK(churn_free_proc(&c) == &procs[0]);
    CHECK_EQ_INT(churn_free_sb(&c), 0);
    CHECK_EQ_INT(churn_live(&c), 0);
    CHECK(churn_slot_empty(&c, 0));

    churn_proc_t *old = add(0, 10, 0, 1, SB_READY);
    churn_proc_t *succ = add(1, 11, 0, 2, SB_BOOTING);
    add(2, 12, 1, 1, SB_READY);
    CHECK(churn_current(&c, 0) == succ); /* the newest generation */
    CHECK(churn_ready(&c, old));
    CHECK(!churn_ready(&c, succ));
    succ->draining = true;
    CHECK(churn_current(&c, 0) == old); /* one on its way out is not current */
    CHECK(churn_of_pid(&c, 12) == &procs[2]);
    CHECK(churn_of_pid(&c, 99) == NULL);
    CHECK(churn_free_proc(&c) == &procs[3]);
    CHECK_EQ_INT(churn_free_sb(&c), 3);
    procs[1].sb_index = 3; /* scoreboard slots follow sb_index */
    CHECK_EQ_INT(churn_free_sb(&c), 1);
    CHECK_EQ_INT(churn_live(&c), 3);
    CHECK(!churn_slot_empty(&c, 1));
    CHECK(churn_slot_empty(&c, 2));
    CHECK_EQ_STR(churn_reason_name(CHURN_MAX_REQUESTS), "max-requests");
    CHECK_EQ_STR(churn_reason_name(CHURN_BUDGET), "memory budget");
    CHECK_EQ_STR(churn_reason_name(CHURN_NONE), "");
    CHECK_EQ_STR(churn_reason_name(1000), "");
}

static void test_generation_ready(void)
{
    churn_t c = table();
    CHECK(!churn_generation_ready(&c, 0, 1)); /* no slots: nothing is ready */
    add(0, 10, 0, 1, SB_READY);
    churn_proc_t *b = add(1, 11, 1, 1, SB_BOOTING);
    CHECK(!churn_generation_ready(&c, 2, 1)); /* slot 1 still booting */
    CHECK(churn_generation_ready(&c, 1, 1));
    sb[1].state = SB_READY;
    CHECK(churn_generation_ready(&c, 2, 1));
    /* HUP: generation 2 boots beside generation 1, which serves on */
    churn_proc_t *s0 = add(2, 12, 0, 2, SB_BOOTING);
    CHECK(!churn_generation_ready(&c, 2, 2));
    sb[2].state = SB_READY;
    CHECK(!churn_generation_ready(&c, 2, 2)); /* slot 1's successor is not there yet */
    add(3, 13, 1, 2, SB_READY);
    b->draining = true;
    /* both old workers are told to go, but they still accept until they say they drain */
    CHECK(!churn_generation_ready(&c, 2, 2));
    sb[0].state = SB_DRAINING;
    CHECK(!churn_generation_ready(&c, 2, 2));
    b->pid = 0; /* gone counts as not accepting */
    CHECK(churn_generation_ready(&c, 2, 2));
    s0->pid = 0; /* slot 0's new worker died: not ready until it is replaced */
    CHECK(!churn_generation_ready(&c, 2, 2));
}

static void test_request_limit(void)
{
    table();
    CHECK_EQ_INT(churn_request_limit(&cfg, 7), 0); /* --max-requests off */
    cfg.max_requests = 100;
    CHECK_EQ_INT(churn_request_limit(&cfg, 7), 100); /* no jitter */
    cfg.max_requests_jitter = 10;
    CHECK_EQ_INT(churn_request_limit(&cfg, 0), 100);
    CHECK_EQ_INT(churn_request_limit(&cfg, 10), 110); /* the jitter is inclusive */
    CHECK_EQ_INT(churn_request_limit(&cfg, 11), 100); /* ...and wraps */
    CHECK_EQ_INT(churn_request_limit(&cfg, 25), 103);
    CHECK_EQ_INT(churn_request_limit(&cfg, (unsigned long)-1), 100 + (unsigned long)-1 % 11);
    cfg.max_requests_jitter = -5; /* a negative jitter is none */
    CHECK_EQ_INT(churn_request_limit(&cfg, 3), 100);
}

static void test_limits(void)
{
    churn_t c = table();
    churn_proc_t *p = add(0, 10, 0, 1, SB_READY);
    p->started_ms = 1000;
    CHECK_EQ_INT(churn_limit_reached(&c, p, 1000000), CHURN_NONE); /* no limits set */
    p->request_limit = 50;
    sb[0].requests = 49;
    CHECK_EQ_INT(churn_limit_reached(&c, p, 2000), CHURN_NONE);
    sb[0].requests = 50;
    CHECK_EQ_INT(churn_limit_reached(&c, p, 2000), CHURN_MAX_REQUESTS);
    sb[0].requests = 10;
    sb[0].limit_reached = 1; /* started its last, some not answered */
    CHECK_EQ_INT(churn_limit_reached(&c, p, 2000), CHURN_MAX_REQUESTS);
    sb[0].limit_reached = 0;
    cfg.max_worker_lifetime = 2;
    CHECK_EQ_INT(churn_limit_reached(&c, p, 3000), CHURN_NONE); /* not yet over */
    CHECK_EQ_INT(churn_limit_reached(&c, p, 3001), CHURN_LIFETIME);
    sb[0].requests = 50; /* both: max-requests is said */
    CHECK_EQ_INT(churn_limit_reached(&c, p, 3001), CHURN_MAX_REQUESTS);
    p->request_limit = 0; /* no limit: the count never matters */
    sb[0].requests = 1000000;
    CHECK_EQ_INT(churn_limit_reached(&c, p, 2000), CHURN_NONE);
    sb[0].code_changed = 1; /* --reload: a watched file changed; said before any limit */
    CHECK_EQ_INT(churn_limit_reached(&c, p, 3001), CHURN_CODE_CHANGE);
    CHECK_EQ_STR(churn_reason_name(CHURN_CODE_CHANGE), "code change");
    CHECK_EQ_STR(churn_reason_labels[CHURN_CODE_CHANGE], "code_change");
    sb[0].code_changed = 0;
}

static void test_successor(void)
{
    churn_t c = table();
    churn_proc_t *a = add(0, 10, 0, 1, SB_READY);
    churn_proc_t *b = add(1, 11, 1, 1, SB_READY);
    CHECK(!churn_wants_successor(&c, a)); /* nothing to replace */
    a->retire = CHURN_MAX_REQUESTS;
    CHECK(churn_wants_successor(&c, a));
    b->retire = CHURN_RSS;
    CHECK(churn_wants_successor(&c, a));  /* b waits for its successor: not yet */
    b->has_successor = true;              /* b's replacement is under way */
    CHECK(!churn_wants_successor(&c, a)); /* one at a time */
    c.sharing = true;
    CHECK(churn_wants_successor(&c, a)); /* ...unless work sharing */
    c.sharing = false;
    a->retire = CHURN_RELOAD;
    CHECK(churn_wants_successor(&c, a)); /* HUP replaces every worker at once */
    a->retire = CHURN_CODE_CHANGE;
    CHECK(churn_wants_successor(&c, a)); /* so does a code change under --reload */
    a->retire = CHURN_LIFETIME;
    b->retire = CHURN_SCALE_DOWN; /* a scale-down is not a recycle */
    CHECK(churn_wants_successor(&c, a));
    b->retire = CHURN_BUDGET;
    b->has_successor = false;
    b->draining = true; /* draining counts as in progress */
    CHECK(!churn_wants_successor(&c, a));
    b->draining = false;
    a->has_successor = true; /* it has one already */
    CHECK(!churn_wants_successor(&c, a));

    churn_boot_t boot = {.respawn_at_ms = 500};
    CHECK(!churn_may_respawn(&boot, 499));
    CHECK(churn_may_respawn(&boot, 500));
}

static void test_hung(void)
{
    churn_t c = table();
    churn_proc_t *p = add(0, 10, 0, 1, SB_READY);
    sb[0].request_start_ms = 1000;
    CHECK_EQ_INT(churn_hung(&c, p, 1000000), CHURN_HANG_NONE); /* --timeout off */
    cfg.timeout = 5;
    CHECK_EQ_INT(churn_hung(&c, p, 6000), CHURN_HANG_NONE);
    CHECK_EQ_INT(churn_hung(&c, p, 6001), CHURN_HANG_REQUEST);
    sb[0].state = SB_BOOTING; /* only ready workers are judged */
    CHECK_EQ_INT(churn_hung(&c, p, 60000), CHURN_HANG_NONE);
    sb[0].state = SB_READY;

    /* with application threads the worker answers the client itself, then says so */
    sb[0].threads = 4;
    CHECK_EQ_INT(churn_hung(&c, p, 6001), CHURN_HANG_NONE);
    CHECK_EQ_INT(churn_hung(&c, p, 7000), CHURN_HANG_NONE);
    CHECK_EQ_INT(churn_hung(&c, p, 7001), CHURN_HANG_REQUEST); /* the grace is over */
    sb[0].timed_out = 1;
    CHECK_EQ_INT(churn_hung(&c, p, 6001), CHURN_HANG_REQUEST); /* answered: at once */

    /* fractional --timeout */
    sb[0].threads = 0;
    cfg.timeout = 0.5;
    CHECK_EQ_INT(churn_hung(&c, p, 1500), CHURN_HANG_NONE);
    CHECK_EQ_INT(churn_hung(&c, p, 1501), CHURN_HANG_REQUEST);

    /* idle, but the loop stopped beating */
    cfg.timeout = 5;
    sb[0].request_start_ms = 0;
    CHECK_EQ_INT(churn_hung(&c, p, 100000), CHURN_HANG_NONE); /* never beat yet */
    sb[0].heartbeat_ms = 1000;
    CHECK_EQ_INT(churn_hung(&c, p, 8000), CHURN_HANG_NONE);
    CHECK_EQ_INT(churn_hung(&c, p, 8001), CHURN_HANG_SILENT);
}

/* A worker whose request runs late while it drains is not timed out: it was told to go,
 * and its SIGKILL deadline (the graceful timeout) ends it. */
static void test_timeout_while_draining(void)
{
    churn_t c = table();
    cfg.timeout = 5;
    cfg.graceful_timeout = 30;
    churn_proc_t *p = add(0, 10, 0, 1, SB_READY);
    sb[0].request_start_ms = 1000;
    p->draining = true;
    p->kill_at_ms = 2000 + 30000;
    CHECK_EQ_INT(churn_hung(&c, p, 6001), CHURN_HANG_NONE);
    CHECK_EQ_INT(churn_hung(&c, p, 31999), CHURN_HANG_NONE);
    CHECK(!churn_kill_due(p, 31999));
    CHECK(churn_kill_due(p, 32000));
    /* and one that times out while its successor boots is killed, not drained */
    p->draining = false;
    p->kill_at_ms = 0;
    p->retire = CHURN_MAX_REQUESTS;
    p->has_successor = true;
    add(1, 11, 0, 2, SB_BOOTING);
    CHECK_EQ_INT(churn_hung(&c, p, 6001), CHURN_HANG_REQUEST);
    CHECK(!churn_kill_due(p, 1000000)); /* no deadline until it is told */
}

static void test_handover(void)
{
    churn_t c = table();
    churn_proc_t *old = add(0, 10, 0, 1, SB_READY);
    CHECK_EQ_INT(churn_handover(&c, old, 5000), CHURN_HOLD);
    old->retire = CHURN_RELOAD;
    old->has_successor = true;
    churn_proc_t *succ = add(1, 11, 0, 2, SB_BOOTING);
    CHECK_EQ_INT(churn_handover(&c, old, 5000), CHURN_HOLD); /* successor booting */
    CHECK_EQ_INT(churn_handover(&c, succ, 5000), CHURN_HOLD);
    sb[1].state = SB_READY;
    CHECK_EQ_INT(churn_handover(&c, old, 5000), CHURN_TERM_REPLACED);
    old->draining = true;
    CHECK_EQ_INT(churn_handover(&c, old, 5000), CHURN_HOLD); /* told already */
    old->draining = false;
    succ->pid = 0; /* the successor died */
    CHECK_EQ_INT(churn_handover(&c, old, 5000), CHURN_SUCCESSOR_LOST);

    /* scaled away: TERM once connections have stopped coming its way */
    old->has_successor = false;
    old->retire = CHURN_SCALE_DOWN;
    old->term_at_ms = 6000;
    CHECK_EQ_INT(churn_handover(&c, old, 5999), CHURN_HOLD);
    CHECK_EQ_INT(churn_handover(&c, old, 6000), CHURN_TERM_SETTLED);
    old->pid = 0; /* an unused entry: nothing */
    CHECK_EQ_INT(churn_handover(&c, old, 6000), CHURN_HOLD);
}

static void test_exit(void)
{
    churn_boot_t b = {.failures = 3, .respawn_at_ms = 0};
    uint64_t delay = 0;
    CHECK_EQ_INT(churn_on_exit(&b, true, false, false, 1000, &delay), CHURN_EXIT_SERVED);
    CHECK_EQ_INT(b.failures, 0);
    b.failures = 2;
    CHECK_EQ_INT(churn_on_exit(&b, false, true, false, 1000, &delay), CHURN_EXIT_SERVED);
    CHECK_EQ_INT(b.failures, 0); /* asked to go while booting: no failure */
    CHECK_EQ_INT(churn_on_exit(&b, false, false, true, 1000, &delay), CHURN_EXIT_APP_FAILED);
    CHECK_EQ_INT(b.failures, 0);

    /* died booting: 100, 200, 400, 800 ms, then give up */
    uint64_t expect = 100;
    for (unsigned i = 1; i < CHURN_MAX_BOOT_FAILURES; i++, expect *= 2) {
        CHECK_EQ_INT(churn_on_exit(&b, false, false, false, 1000 * i, &delay), CHURN_EXIT_RETRY);
        CHECK_EQ_INT(b.failures, i);
        CHECK_EQ_INT(delay, expect);
        CHECK_EQ_INT(b.respawn_at_ms, 1000 * i + expect);
    }
    CHECK_EQ_INT(churn_on_exit(&b, false, false, false, 9000, &delay), CHURN_EXIT_GIVE_UP);
    CHECK_EQ_INT(b.failures, CHURN_MAX_BOOT_FAILURES);

    churn_proc_t p = {.pid = 5};
    CHECK_EQ_INT(churn_recycle_kind(&p, false), CHURN_DIED);
    CHECK_EQ_INT(churn_recycle_kind(&p, true), CHURN_NONE); /* stopping */
    p.draining = true;
    CHECK_EQ_INT(churn_recycle_kind(&p, false), CHURN_NONE); /* told to go */
    p.retire = CHURN_RSS;
    CHECK_EQ_INT(churn_recycle_kind(&p, true), CHURN_RSS);
    p.retire = CHURN_TIMEOUT;
    CHECK_EQ_INT(churn_recycle_kind(&p, false), CHURN_TIMEOUT);
}

static void test_memory(void)
{
    churn_t c = table();
    CHECK(!churn_over_rss(&cfg, 1ull << 40)); /* --reload-on-rss off */
    cfg.reload_on_rss = 100;
    CHECK(!churn_over_rss(&cfg, 100ull << 20));
    CHECK(churn_over_rss(&cfg, (100ull << 20) + 1));

    churn_proc_t *a = add(0, 10, 0, 1, SB_READY);
    churn_proc_t *b = add(1, 11, 1, 1, SB_READY);
    churn_proc_t *d = add(2, 12, 2, 1, SB_READY);
    add(3, 13, 3, 1, SB_BOOTING);
    sb[0].rss_bytes = 300;
    sb[1].rss_bytes = 500;
    sb[2].rss_bytes = 900;
    sb[3].rss_bytes = 5000; /* not ready: not counted */
    d->draining = true;     /* counted, never chosen */
    uint64_t total = 0;
    CHECK(churn_budget_victim(&c, 0, &total) == NULL); /* no budget */
    CHECK_EQ_INT(total, 1700);
    CHECK(churn_budget_victim(&c, 1700, &total) == NULL); /* at the budget is fine */
    CHECK(churn_budget_victim(&c, 1699, &total) == b);    /* the largest not draining */
    b->retire = CHURN_RSS;
    CHECK(churn_budget_victim(&c, 1699, &total) == NULL); /* already being replaced */
    b->retire = 0;
    sb[0].rss_bytes = 500; /* a tie: the first one found */
    CHECK(churn_budget_victim(&c, 10, &total) == a);

    CHECK_EQ_INT(churn_memory_cap(0, 100, 64), 64);
    CHECK_EQ_INT(churn_memory_cap(1000, 0, 64), 64);
    CHECK_EQ_INT(churn_memory_cap(1000, 300, 64), 3);
    CHECK_EQ_INT(churn_memory_cap(100, 300, 64), 1); /* at least one */
    CHECK_EQ_INT(churn_memory_cap(1ull << 40, 1, 64), 64);

    CHECK_EQ_INT(churn_slot_goal(4, 0, false), 1); /* one until its footprint is known */
    CHECK_EQ_INT(churn_slot_goal(4, 1, false), 1);
    CHECK_EQ_INT(churn_slot_goal(4, 1, true), 4);
    CHECK_EQ_INT(churn_slot_goal(4, 6, false), 4); /* shrinking needs no measurement */
    CHECK_EQ_INT(churn_slot_goal(0, 3, true), 1);  /* never below one */
    CHECK_EQ_INT(churn_slot_goal(2, 2, true), 2);
}

int main(void)
{
    test_table();
    test_generation_ready();
    test_request_limit();
    test_limits();
    test_successor();
    test_hung();
    test_timeout_while_draining();
    test_handover();
    test_exit();
    test_memory();
    return check_done();
}
