/* Churn policy: pure decisions over the process table, the scoreboard and the time. */
#include "src/churn.h"

#include <stddef.h>

static const char *const reason_names[] = {
    "",
    "reload",
    "max-requests",
    "max-worker-lifetime",
    "reload-on-rss",
    "memory budget",
    "scale-down",
    "timeout",
    "code change",
    "died",
};

const char *const churn_reason_labels[CHURN_DIED + 1] = {
    "",
    "reload",
    "max_requests",
    "max_worker_lifetime",
    "reload_on_rss",
    "memory_budget",
    "scale_down",
    "timeout",
    "code_change",
    "died",
};

const char *churn_reason_name(unsigned reason)
{
    return reason < sizeof(reason_names) / sizeof(reason_names[0]) ? reason_names[reason] : "";
}

/* ---- the process table ------------------------------------------------------------- */

churn_proc_t *churn_of_pid(const churn_t *c, pid_t pid)
{
    for (unsigned i = 0; i < c->nprocs; i++)
        if (c->procs[i].pid == pid)
            return &c->procs[i];
    return NULL;
}

churn_proc_t *churn_current(const churn_t *c, unsigned k)
{
    churn_proc_t *best = NULL;
    for (unsigned i = 0; i < c->nprocs; i++) {
        churn_proc_t *p = &c->procs[i];
        if (p->pid > 0 && p->slot == k && !p->draining &&
            (!best || p->generation > best->generation || p->started_ms > best->started_ms))
            best = p;
    }
    return best;
}

churn_proc_t *churn_free_proc(const churn_t *c)
{
    return churn_of_pid(c, 0);
}

int churn_free_sb(const churn_t *c)
{
    for (unsigned i = 0; i < c->nprocs; i++) {
        bool used = false;
        for (unsigned j = 0; j < c->nprocs && !used; j++)
            used = c->procs[j].pid > 0 && c->procs[j].sb_index == i;
        if (!used)
            return (int)i;
    }
    return -1;
}

bool churn_slot_empty(const churn_t *c, unsigned k)
{
    for (unsigned i = 0; i < c->nprocs; i++)
        if (c->procs[i].pid > 0 && c->procs[i].slot == k)
            return false;
    return true;
}

unsigned churn_live(const churn_t *c)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->nprocs; i++)
        n += c->procs[i].pid > 0;
    return n;
}

bool churn_ready(const churn_t *c, const churn_proc_t *p)
{
    return sb_get(&c->sb[p->sb_index].state) == SB_READY;
}

bool churn_generation_ready(const churn_t *c, unsigned nslots, unsigned generation)
{
    for (unsigned k = 0; k < nslots; k++) {
        const churn_proc_t *p = churn_current(c, k);
        if (!p || p->generation != generation || !churn_ready(c, p))
            return false;
    }
    /* an older worker that still accepts would answer after the manager heard READY=1 */
    for (unsigned i = 0; i < c->nprocs; i++) {
        const churn_proc_t *p = &c->procs[i];
        if (p->pid > 0 && p->generation != generation &&
            sb_get(&c->sb[p->sb_index].state) != SB_DRAINING)
            return false;
    }
    return nslots > 0;
}

/* ---- decisions ------------------------------------------------------------------------ */

uint64_t churn_request_limit(const tun_config_t *cfg, unsigned long rnd)
{
    if (cfg->max_requests <= 0)
        return 0;
    uint64_t jitter =
        cfg->max_requests_jitter > 0 ? (uint64_t)rnd % ((uint64_t)cfg->max_requests_jitter + 1) : 0;
    return (uint64_t)cfg->max_requests + jitter;
}

enum churn_reason churn_limit_reached(const churn_t *c, const churn_proc_t *cur, uint64_t now)
{
    const sb_slot_t *sb = &c->sb[cur->sb_index];
    if (sb_get(&sb->code_changed))
        return CHURN_CODE_CHANGE;
    if (cur->request_limit &&
        (sb_get64(&sb->requests) >= cur->request_limit || sb_get(&sb->limit_reached)))
        return CHURN_MAX_REQUESTS;
    if (c->cfg->max_worker_lifetime > 0 &&
        now - cur->started_ms > (uint64_t)(c->cfg->max_worker_lifetime * 1000))
        return CHURN_LIFETIME;
    return CHURN_NONE;
}

/* Whether every worker is replaced at once for this reason: HUP, and a code change under
 * --reload (each worker sees it; one at a time, old code would answer for seconds). */
static bool all_at_once(unsigned reason)
{
    return reason == CHURN_RELOAD || reason == CHURN_CODE_CHANGE;
}

/* Recycling for max-requests, lifetime, RSS and budget is one worker at a time, so that
 * the jitter is not the only thing keeping all workers from leaving together. */
static bool recycle_in_progress(const churn_t *c)
{
    for (unsigned i = 0; i < c->nprocs; i++) {
        const churn_proc_t *p = &c->procs[i];
        if (p->pid > 0 && p->retire && !all_at_once(p->retire) && p->retire != CHURN_SCALE_DOWN &&
            (p->has_successor || p->draining))
            return true;
    }
    return false;
}

bool churn_wants_successor(const churn_t *c, const churn_proc_t *cur)
{
    if (!cur->retire || cur->has_successor)
        return false;
    /* With work sharing a worker being recycled has already stopped taking work:
     * holding its successor back would only leave its share undone. */
    return all_at_once(cur->retire) || c->sharing || !recycle_in_progress(c);
}

bool churn_may_respawn(const churn_boot_t *b, uint64_t now)
{
    return now >= b->respawn_at_ms;
}

enum churn_hang churn_hung(const churn_t *c, const churn_proc_t *p, uint64_t now)
{
    double timeout = c->cfg->timeout;
    if (timeout <= 0 || p->draining || !churn_ready(c, p))
        return CHURN_HANG_NONE;
    const sb_slot_t *sb = &c->sb[p->sb_index];
    uint64_t limit = (uint64_t)(timeout * 1000);
    uint64_t start = sb_get64(&sb->request_start_ms);
    uint64_t beat = sb_get64(&sb->heartbeat_ms);
    bool answered = sb_get(&sb->timed_out) || !sb_get(&sb->threads);
    if (start && now > start + limit && (answered || now > start + limit + CHURN_ANSWER_GRACE_MS))
        return CHURN_HANG_REQUEST;
    if (!start && beat && now > beat + limit + CHURN_SILENCE_GRACE_MS)
        return CHURN_HANG_SILENT;
    return CHURN_HANG_NONE;
}

enum churn_handover churn_handover(const churn_t *c, const churn_proc_t *p, uint64_t now)
{
    if (p->pid <= 0)
        return CHURN_HOLD;
    if (p->term_at_ms && now >= p->term_at_ms)
        return CHURN_TERM_SETTLED;
    if (!p->has_successor || p->draining)
        return CHURN_HOLD;
    const churn_proc_t *succ = churn_current(c, p->slot);
    if (succ && succ != p && churn_ready(c, succ))
        return CHURN_TERM_REPLACED;
    if (!succ || succ == p)
        return CHURN_SUCCESSOR_LOST;
    return CHURN_HOLD;
}

bool churn_kill_due(const churn_proc_t *p, uint64_t now)
{
    return p->kill_at_ms && now >= p->kill_at_ms;
}

enum churn_exit churn_on_exit(churn_boot_t *b, bool was_ready, bool expected, bool app_failed,
                              uint64_t now, uint64_t *delay_ms)
{
    if (was_ready || expected) {
        b->failures = 0;
        return CHURN_EXIT_SERVED;
    }
    if (app_failed)
        return CHURN_EXIT_APP_FAILED;
    b->failures++;
    if (b->failures >= CHURN_MAX_BOOT_FAILURES)
        return CHURN_EXIT_GIVE_UP;
    *delay_ms = (uint64_t)CHURN_RESPAWN_BACKOFF_MS << (b->failures - 1);
    b->respawn_at_ms = now + *delay_ms;
    return CHURN_EXIT_RETRY;
}

enum churn_reason churn_recycle_kind(const churn_proc_t *p, bool stopping)
{
    if (p->retire)
        return (enum churn_reason)p->retire;
    return !p->draining && !stopping ? CHURN_DIED : CHURN_NONE;
}

/* ---- memory ----------------------------------------------------------------------------- */

bool churn_over_rss(const tun_config_t *cfg, uint64_t rss)
{
    return cfg->reload_on_rss > 0 && rss > (uint64_t)cfg->reload_on_rss << 20;
}

churn_proc_t *churn_budget_victim(const churn_t *c, uint64_t budget_bytes, uint64_t *total)
{
    churn_proc_t *largest = NULL;
    uint64_t most = 0;
    *total = 0;
    for (unsigned i = 0; i < c->nprocs; i++) {
        churn_proc_t *p = &c->procs[i];
        if (p->pid <= 0 || !churn_ready(c, p))
            continue;
        uint64_t rss = sb_get64(&c->sb[p->sb_index].rss_bytes);
        *total += rss;
        if (!p->draining && (!largest || rss > most)) {
            largest = p;
            most = rss;
        }
    }
    if (budget_bytes && *total > budget_bytes && largest && !largest->retire)
        return largest;
    return NULL;
}

unsigned churn_memory_cap(uint64_t budget_bytes, uint64_t footprint_bytes, unsigned max)
{
    if (!budget_bytes || !footprint_bytes)
        return max;
    uint64_t n = budget_bytes / footprint_bytes;
    return n < 1 ? 1 : n > max ? max : (unsigned)n;
}

unsigned churn_slot_goal(unsigned want, unsigned nslots, bool measured)
{
    if (want > nslots)
        return measured ? want : nslots >= 1 ? nslots : 1;
    if (want < nslots)
        return want > 1 ? want : 1;
    return nslots;
}
