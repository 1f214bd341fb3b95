/* Churn policy: when the master starts, replaces, drains or kills a worker, and how many
 * workers it runs, decided from the process table, the scoreboard, the settings and
 * the time alone.
 *
 * Every function here decides and nothing else: no system call, no clock, no log line,
 * no signal, no random number (the master passes in `now`, CLOCK_MONOTONIC ms, and a
 * random value), so tests/unit/src/churn_test.c drives it with a fake clock. The master
 * (src/master.c) samples what needs a system call (RSS, PSS, PSI pressure), asks, and
 * acts on the answer: fork, signal, log.
 *
 * The rules it encodes:
 *  - a worker that dies after it was ready is replaced at once; one that dies before is
 *    retried with back-off (100 ms doubling), and after CHURN_MAX_BOOT_FAILURES in a row
 *    the master gives up; an application that cannot be imported stops it at once;
 *  - a worker to be replaced (max-requests with jitter, lifetime, RSS, the memory budget,
 *    HUP, a code change under --reload) keeps serving until its successor on the same slot
 *    is accepting, then drains; without work sharing, limit-driven recycling is one worker
 *    at a time (HUP and a code change replace them all at once);
 *  - a ready worker whose request outlived --timeout (a second more when its application
 *    threads answer the client themselves), or whose loop stopped beating, is killed; a
 *    draining worker is not timed out, its graceful deadline covers it;
 *  - one worker runs until its footprint is measured; then as many as the budget fits.
 *
 * Invariants: a slot has at most one current worker (not draining) and, while it is
 * being replaced, that worker's successor; the newest generation is current.
 */
#ifndef UF_CHURN_H
#define UF_CHURN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "src/scoreboard.h"
#include "tunables/tunables.h"

/* Respawning a worker that dies before it is ready backs off exponentially from this,
 * and gives up after this many failures in a row, so a broken deploy cannot fork-bomb
 * the host. */
#define CHURN_RESPAWN_BACKOFF_MS 100
#define CHURN_MAX_BOOT_FAILURES  5
/* After INT/QUIT, or after the timeout notice (SIGABRT), SIGKILL follows this late. */
#define CHURN_FAST_STOP_MS 1000
/* A worker scaled away keeps serving this long after new connections stop being steered
 * to its listener, so that those already on their way (a handshake in progress joins the
 * accept queue of the listener its SYN chose) are accepted and answered, not reset. */
#define CHURN_STEER_SETTLE_MS 1000
/* How often worker memory is sampled (RSS for --reload-on-rss and the budget): often
 * enough that a worker leaking fast is caught between two samples. */
#define CHURN_MEMORY_SAMPLE_MS 250
/* Memory pressure (PSI "some" avg10, percent) above which no worker is started. */
#define CHURN_PRESSURE_LIMIT 40.0
/* A worker with application threads answers a late request's client itself (500) and
 * says so (sb timed_out); it gets this long for that before it counts as hung. */
#define CHURN_ANSWER_GRACE_MS 1000
/* A loop that stopped beating is hung this long after --timeout. */
#define CHURN_SILENCE_GRACE_MS 2000

/* Why a worker is replaced; also the index of its recycle counter. */
enum churn_reason {
    CHURN_NONE = 0,
    CHURN_RELOAD, /* HUP */
    CHURN_MAX_REQUESTS,
    CHURN_LIFETIME,
    CHURN_RSS,
    CHURN_BUDGET,      /* the workers together exceed the memory budget */
    CHURN_SCALE_DOWN,  /* TTOU, or a smaller --workers after HUP */
    CHURN_TIMEOUT,     /* hung: killed, not drained */
    CHURN_CODE_CHANGE, /* --reload: a file it watches changed */
    CHURN_DIED,        /* not a reason to replace: it exited without being asked */
};

/* The reasons as metric label values ("max_requests"), indexed by enum churn_reason; ""
 * for CHURN_NONE; CHURN_DIED is a worker that exited without being asked to. */
extern const char *const churn_reason_labels[CHURN_DIED + 1];

/* The reason as the log says it ("max-requests"); "" for CHURN_NONE. */
const char *churn_reason_name(unsigned reason);

/* A worker process. A slot normally has one; while it is being replaced it has two: the
 * old one keeps serving until its successor is accepting, then drains. */
typedef struct churn_proc {
    pid_t pid; /* 0: entry unused */
    unsigned slot;
    unsigned sb_index; /* its scoreboard slot */
    unsigned generation;
    uint64_t started_ms;
    uint64_t request_limit; /* --max-requests with this worker's jitter; 0 = none */
    uint64_t kill_at_ms;    /* SIGKILL deadline once told to stop; 0 = none */
    uint64_t term_at_ms;    /* scaled away: SIGTERM due then (CHURN_STEER_SETTLE_MS) */
    uint8_t retire;         /* enum churn_reason: a successor is wanted */
    bool draining;          /* sent TERM (or SIGABRT): it is on its way out */
    bool has_successor;
} churn_proc_t;

/* A slot's boot record: failures in a row, and when a new worker may be tried. */
typedef struct churn_boot {
    unsigned failures;
    uint64_t respawn_at_ms;
} churn_boot_t;

/* What the policy looks at. */
typedef struct churn {
    churn_proc_t *procs; /* nprocs entries (two per slot), pid 0 = unused */
    unsigned nprocs;
    const sb_slot_t *sb; /* the scoreboard (nprocs slots), by churn_proc_t.sb_index */
    const tun_config_t *cfg;
    bool sharing; /* --work-sharing */
} churn_t;

/* ---- the process table ------------------------------------------------------------- */

/* The entry of `pid`, or NULL. */
churn_proc_t *churn_of_pid(const churn_t *c, pid_t pid);
/* The worker serving slot k and not on its way out (the newest), or NULL. */
churn_proc_t *churn_current(const churn_t *c, unsigned k);
/* An unused entry, or NULL when all are taken. */
churn_proc_t *churn_free_proc(const churn_t *c);
/* A scoreboard slot no live worker uses, or -1. */
int churn_free_sb(const churn_t *c);
/* Whether no live worker (draining ones included) belongs to slot k. */
bool churn_slot_empty(const churn_t *c, unsigned k);
/* Live workers (draining ones included). */
unsigned churn_live(const churn_t *c);
/* Whether p has said it accepts (scoreboard state READY). */
bool churn_ready(const churn_t *c, const churn_proc_t *p);
/* Whether slots [0, nslots) (nslots > 0) each have a ready current worker of
 * `generation` and every older worker has stopped accepting: what sd_notify's READY=1
 * waits for (src/sdnotify.h). */
bool churn_generation_ready(const churn_t *c, unsigned nslots, unsigned generation);

/* ---- decisions ------------------------------------------------------------------------ */

/* The request limit of a new worker: --max-requests plus rnd modulo (jitter + 1), so
 * the workers do not all leave together; 0 when --max-requests is off. */
uint64_t churn_request_limit(const tun_config_t *cfg, unsigned long rnd);

/* A ready current worker's limit it has reached: CHURN_CODE_CHANGE (the worker saw a file
 * it watches change), else CHURN_MAX_REQUESTS (the count of started requests, or the
 * worker saying it took its last), else CHURN_LIFETIME, else CHURN_NONE. */
enum churn_reason churn_limit_reached(const churn_t *c, const churn_proc_t *cur, uint64_t now);

/* Whether a successor for cur (ready, marked to retire) is to start now, memory pressure
 * aside: not when it has one; without work sharing, a limit-driven replacement waits
 * while another is in progress (HUP and a code change do not). */
bool churn_wants_successor(const churn_t *c, const churn_proc_t *cur);

/* Whether an empty slot may get a worker now (its boot back-off has passed). */
bool churn_may_respawn(const churn_boot_t *b, uint64_t now);

enum churn_hang {
    CHURN_HANG_NONE = 0,
    CHURN_HANG_REQUEST, /* a request outlived --timeout */
    CHURN_HANG_SILENT,  /* idle, but its loop stopped beating */
};
/* Whether p is hung (--timeout). Only ready workers that are not draining are judged. */
enum churn_hang churn_hung(const churn_t *c, const churn_proc_t *p, uint64_t now);

enum churn_handover {
    CHURN_HOLD = 0,       /* nothing to do */
    CHURN_TERM_SETTLED,   /* scaled away and new connections have stopped coming */
    CHURN_TERM_REPLACED,  /* its successor accepts: it drains now */
    CHURN_SUCCESSOR_LOST, /* the successor died: a new one is to be tried */
};
/* The next step for a live worker on its way out (or not). */
enum churn_handover churn_handover(const churn_t *c, const churn_proc_t *p, uint64_t now);

/* Whether p was told to stop and its SIGKILL deadline has passed. */
bool churn_kill_due(const churn_proc_t *p, uint64_t now);

enum churn_exit {
    CHURN_EXIT_SERVED = 0, /* it had booted (or was asked to go): failures reset */
    CHURN_EXIT_RETRY,      /* died booting: retry after the back-off */
    CHURN_EXIT_GIVE_UP,    /* CHURN_MAX_BOOT_FAILURES in a row: stop, exit code 3 */
    CHURN_EXIT_APP_FAILED, /* the application cannot be imported: stop, exit code 4 */
};
/* A worker of the slot with boot record b exited (the master is not stopping): updates b
 * and says what follows; for CHURN_EXIT_RETRY the back-off is in *delay_ms. */
enum churn_exit churn_on_exit(churn_boot_t *b, bool was_ready, bool expected, bool app_failed,
                              uint64_t now, uint64_t *delay_ms);

/* Which recycle counter an exited worker adds to: its reason, CHURN_DIED when it left
 * unasked, CHURN_NONE when neither (told to stop with the rest). */
enum churn_reason churn_recycle_kind(const churn_proc_t *p, bool stopping);

/* ---- memory ----------------------------------------------------------------------------- */

/* Whether a sampled RSS is over --reload-on-rss. */
bool churn_over_rss(const tun_config_t *cfg, uint64_t rss);

/* After a memory sample (each ready worker's scoreboard rss_bytes): the worker to recycle
 * because the ready workers together use more than budget_bytes (the largest of those not
 * draining, unless it is already being replaced), or NULL; their sum in *total. */
churn_proc_t *churn_budget_victim(const churn_t *c, uint64_t budget_bytes, uint64_t *total);

/* How many workers fit: the budget over the measured footprint, from 1 to max (max when
 * either is unknown). */
unsigned churn_memory_cap(uint64_t budget_bytes, uint64_t footprint_bytes, unsigned max);

/* The slot count to have now, given `want` workers (the target within the cap) and
 * `nslots` open: grow to want once a worker's footprint is measured (until then to one),
 * shrink from the top, never below one. */
unsigned churn_slot_goal(unsigned want, unsigned nslots, bool measured);

#endif
