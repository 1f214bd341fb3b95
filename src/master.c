/* The master: the process table in action (fork, reap, signal), the churn policy's
 * decisions carried out, the signals, reload, and the loop that ties them together. */
#include "src/master.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/probes.h"
#include "common/log.h"
#include "common/mem.h"
#include "python_bridge/hooks.h"
#include "python_bridge/interp.h"
#include "src/budget.h"
#include "src/capture.h"
#include "src/churn.h"
#include "src/listeners.h"
#include "src/metrics.h"
#include "src/preflight.h"
#include "src/privileges.h"
#include "src/proctitle.h"
#include "src/scoreboard.h"
#include "src/scrape.h"
#include "src/sdnotify.h"
#include "src/share.h"
#include "src/stats.h"
#include "src/steer.h"
#include "src/worker.h"
#include "tunables/host.h"

static const int handled_signals[] = {SIGTERM, SIGINT,  SIGQUIT, SIGHUP,  SIGCHLD,
                                      SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGPIPE};

/* ---- slots --------------------------------------------------------------------- */

/* Opens the listeners of slot k (src/listeners.c) and makes it active. */
static int open_slot(master_t *m, unsigned k, char *err, size_t errlen)
{
    slot_t *s = &m->slots[k];
    s->listeners = listeners_open_slot(&m->ls, k, err, errlen);
    if (!s->listeners)
        return -1;
    s->active = true;
    s->boot = (churn_boot_t){0};
    return 0;
}

static void close_slot(master_t *m, unsigned k)
{
    slot_t *s = &m->slots[k];
    listeners_close_slot(&m->ls, k, s->listeners);
    s->listeners = NULL;
    s->active = false;
}

/* ---- processes ------------------------------------------------------------------- */

/* In the child of spawn(): drops what belongs to the master and becomes the worker of
 * slot k. Never returns. */
/* The NAME of the process titles: --name, else the application, as gunicorn's default. */
static const char *title_name(const tun_config_t *cfg)
{
    return cfg->proc_name ? cfg->proc_name : cfg->app;
}

static void become_worker(master_t *m, unsigned k, sb_slot_t *sb, int capture_fd)
{
    /* --capture-output: fd 1 and 2 become the pipe the master reads; a failure leaves
     * them as they were, which only costs the tag */
    capture_forget(&m->capture);
    if (capture_fd >= 0) {
        int rc = log_capture_stdio(capture_fd);
        if (rc < 0)
            log_warning("--capture-output: %s; the output stays uncaptured", strerror(-rc));
        close(capture_fd);
    }
    /* a worker holds only its own slot's listeners, unless it may steal from the
     * others' (work sharing) */
    for (unsigned j = 0; j < MAX_SLOTS && !m->sharing; j++)
        if (j != k && m->slots[j].listeners)
            for (unsigned b = 0; b < m->nbinds; b++)
                if (!m->slots[j].listeners[b].shared) /* its own too */
                    close(m->slots[j].listeners[b].fd);
    /* nor the master's own sockets: the signalfd, the stats port, its log target */
    log_set_sink(NULL, NULL);
    close(m->sigfd);
    scrape_close(&m->stats);
    if (m->out.ship.fd >= 0)
        close(m->out.ship.fd);
    if (m->out.syslog.fd >= 0)
        close(m->out.syslog.fd);
    if (m->out.statsd.fd >= 0)
        close(m->out.statsd.fd);
    sb->pid = (int32_t)getpid();
    char role[32];
    snprintf(role, sizeof(role), "worker %u", k);
    proctitle_set(role, title_name(m->cfg));
    /* before the application is imported: no application code runs with the master's
     * privileges (except with --preload, by the operator's choice) */
    if (privileges_drop(&m->privs, sb->boot_error, sizeof(sb->boot_error)) < 0) {
        log_error("Worker failed to boot: %s", sb->boot_error);
        _exit(WORKER_EXIT_BOOT);
    }
    worker_main(m->cfg, sb, k, m->slots[k].listeners, m->nbinds,
                m->pinning ? &m->slots[k].place : NULL, m->sharing ? &m->share : NULL);
}

static churn_proc_t *spawn(master_t *m, unsigned k)
{
    churn_proc_t *p = churn_free_proc(&m->churn);
    int sbi = churn_free_sb(&m->churn);
    if (!p || sbi < 0)
        return NULL;
    sb_slot_t *sb = &m->sb.slots[sbi];
    memset(sb, 0, sizeof(*sb));
    uint64_t request_limit = churn_request_limit(m->cfg, (unsigned long)random());
    sb_set64(&sb->request_limit, request_limit);
    sb_set(&sb->generation, m->generation);
    sb_set(&sb->state, SB_BOOTING);
    sb->age = ++m->spawned;
    py_hooks_pre_fork(k, m->target);
    int cap[2] = {-1, -1};
    int cap_rc = m->cfg->capture_output ? capture_pipe_open(cap) : 0;
    if (cap_rc < 0)
        log_warning("--capture-output: no pipe for worker %u: %s; its output stays uncaptured", k,
                    strerror(-cap_rc));
    fflush(NULL);
    py_before_fork(); /* --preload: the interpreter's fork hooks, gc.freeze() */
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid == 0)
        py_after_fork_child();
    else
        py_after_fork_parent();
    if (pid == 0) {
        /* A master killed outright (kill -9, the OOM killer) must not leave its workers
         * serving on: they drain as on TERM, as gunicorn's notice their parent changed. A
         * master gone before the request took effect is caught by the check after it. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != master)
            kill(getpid(), SIGTERM);
        /* written by the worker itself, so the line's [pid] is the worker's, as in gunicorn */
        log_info("Booting worker with pid: %d", (int)getpid());
        if (cap[0] >= 0)
            close(cap[0]);
        become_worker(m, k, sb, cap[1]);
    }
    if (cap[1] >= 0)
        close(cap[1]); /* the worker's alone: its exit is then the pipe's end of file */
    if (pid < 0) {
        log_error("fork failed: %s; retrying", strerror(errno));
        if (cap[0] >= 0)
            close(cap[0]);
        m->slots[k].boot.respawn_at_ms = sb_now_ms() + CHURN_RESPAWN_BACKOFF_MS;
        return NULL;
    }
    if (cap[0] >= 0)
        capture_add(&m->capture, cap[0], pid, (int)k);
    *p = (churn_proc_t){
        .pid = pid,
        .slot = k,
        .sb_index = (unsigned)sbi,
        .generation = m->generation,
        .started_ms = sb_now_ms(),
        .request_limit = request_limit,
    };
    sb->pid = (int32_t)pid;
    py_hooks_forked(pid);
    return p;
}

/* Tells a worker to drain (TERM) and arms the SIGKILL that follows if it does not. */
static void retire_now(master_t *m, churn_proc_t *p, int sig, uint64_t grace_ms)
{
    if (p->draining && sig == SIGTERM)
        return;
    p->draining = true;
    p->kill_at_ms = sb_now_ms() + grace_ms;
    kill(p->pid, sig);
}

static uint64_t graceful_ms(const master_t *m)
{
    return (uint64_t)(m->cfg->graceful_timeout * 1000);
}

static void begin_stop(master_t *m, int sig, uint64_t grace_ms)
{
    if (m->stopping && sig == SIGTERM)
        return;
    if (!m->stopping)
        sdnotify_stopping(&m->notify);
    m->stopping = true;
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++) {
        churn_proc_t *p = &m->churn.procs[i];
        if (p->pid > 0) {
            p->draining = false; /* re-signal even those already draining */
            retire_now(m, p, sig, grace_ms);
        }
    }
}

static void halt(master_t *m, int code, const char *why)
{
    log_error("%s", why);
    m->exit_code = code;
    begin_stop(m, SIGQUIT, CHURN_FAST_STOP_MS);
}

/* How a worker ended, in words that say who did it: a signal the master sent keeps
 * gunicorn's "was sent", a fault is a crash, any other signal came from outside (the OOM
 * killer's SIGKILL, an operator); a non-zero exit status is an error, as in gunicorn. */
static void log_exit(pid_t pid, int status, bool expected)
{
    if (WIFEXITED(status)) {
        if (WEXITSTATUS(status) != 0)
            log_error("Worker (pid:%d) exited with code %d", (int)pid, WEXITSTATUS(status));
        else if (!expected)
            log_info("Worker (pid:%d) exited with code 0", (int)pid);
        return;
    }
    int sig = WTERMSIG(status);
    const char *name = sigabbrev_np(sig);
    if (!name)
        name = "?";
    bool sent = expected && (sig == SIGTERM || sig == SIGABRT || sig == SIGKILL);
    bool fault = sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
                 sig == SIGSYS || sig == SIGABRT;
    if (sent)
        log_error("Worker (pid:%d) was sent SIG%s!", (int)pid, name);
    else if (fault)
        log_error("Worker (pid:%d) crashed: SIG%s%s", (int)pid, name,
                  WCOREDUMP(status) ? " (core dumped)" : "");
    else
        log_error("Worker (pid:%d) was killed by SIG%s from outside uwsgi-fast%s", (int)pid, name,
                  sig == SIGKILL ? " (the kernel's OOM killer, or an operator)" : "");
}

/* A worker exited: account for boot failures; its slot is refilled by supervise(). */
static void on_exit_of(master_t *m, churn_proc_t *p, int status)
{
    sb_slot_t *sb = &m->sb.slots[p->sb_index];
    slot_t *s = &m->slots[p->slot];
    bool was_ready = sb_get(&sb->state) >= SB_READY;
    pid_t pid = p->pid;
    bool expected = p->draining;
    /* its counters join the totals before the slot can be reused: nothing goes backwards */
    metrics_fold(&m->retired, sb);
    enum churn_reason kind = churn_recycle_kind(p, m->stopping);
    if (kind)
        m->recycles[kind]++;
    p->pid = 0;
    py_hooks_child_exit(pid);
    if (m->stopping)
        return;
    log_exit(pid, status, expected);
    bool app_failed = WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_APP_LOAD;
    uint64_t delay = 0;
    char why[600];
    switch (churn_on_exit(&s->boot, was_ready, expected, app_failed, sb_now_ms(), &delay)) {
    case CHURN_EXIT_SERVED:
        break;
    case CHURN_EXIT_APP_FAILED:
        snprintf(why, sizeof(why), "App failed to load: %s", sb->boot_error);
        halt(m, 4, why);
        break;
    case CHURN_EXIT_GIVE_UP:
        snprintf(why, sizeof(why), "Worker failed to boot %u times in a row, giving up: %s",
                 s->boot.failures,
                 sb->boot_error[0] ? sb->boot_error : "it died before it was ready");
        halt(m, 3, why);
        break;
    case CHURN_EXIT_RETRY:
        log_warning("Worker failed to boot; retrying in %llu ms", (unsigned long long)delay);
        break;
    }
}

static void reap(master_t *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        churn_proc_t *p = churn_of_pid(&m->churn, pid);
        if (p)
            on_exit_of(m, p, status);
        /* anything else is a stray reparented to us as PID 1: reaping it is all */
    }
}

/* ---- churn: acting on src/churn.c's decisions ---------------------------------------- */

/* The worker is to be replaced. With work sharing it is told at once, and stops taking
 * new work (siblings take it) while its successor boots, so a limit such as
 * --max-requests or --reload-on-rss is kept exactly rather than overrun by everything it
 * serves until then. */
static void request_retire(master_t *m, churn_proc_t *p, enum churn_reason why)
{
    if (p->retire)
        return;
    p->retire = (uint8_t)why;
    UF_PROBE3(recycle, p->slot, p->pid, (int)why);
    if (m->sharing)
        sb_set(&m->sb.slots[p->sb_index].retire_asked, 1);
}

/* Per-request deadline (--timeout) and a loop that stopped heart-beating: the worker is
 * told with SIGABRT (its fault handler dumps the Python stack into the error log), killed
 * a second later, and replaced at once. */
static void check_hung(master_t *m, churn_proc_t *p, uint64_t now)
{
    enum churn_hang hang = churn_hung(&m->churn, p, now);
    if (hang == CHURN_HANG_NONE)
        return;
    sb_slot_t *sb = &m->sb.slots[p->sb_index];
    char line[sizeof(sb->request_line) + 1];
    memcpy(line, sb->request_line, sizeof(sb->request_line));
    line[sizeof(sb->request_line)] = 0;
    if (hang == CHURN_HANG_REQUEST)
        log_critical("WORKER TIMEOUT (pid:%d): request \"%s\" ran longer than %gs; killing it",
                     (int)p->pid, line, m->cfg->timeout);
    else
        log_critical("WORKER TIMEOUT (pid:%d): no heartbeat for %llu ms; killing it", (int)p->pid,
                     (unsigned long long)(now - sb_get64(&sb->heartbeat_ms)));
    p->retire = CHURN_TIMEOUT;
    UF_PROBE3(recycle, p->slot, p->pid, (int)CHURN_TIMEOUT);
    retire_now(m, p, SIGABRT, CHURN_FAST_STOP_MS);
}

/* Every CHURN_MEMORY_SAMPLE_MS: each ready worker's RSS into the scoreboard, the first
 * footprint (PSS), and the replacements --reload-on-rss and the budget call for. */
static void sample_memory(master_t *m, uint64_t now)
{
    if (now < m->next_sample_ms && m->footprint_bytes)
        return;
    m->next_sample_ms = now + CHURN_MEMORY_SAMPLE_MS;
    for (unsigned i = 0; i < m->churn.nprocs; i++) {
        churn_proc_t *p = &m->churn.procs[i];
        if (p->pid <= 0 || !churn_ready(&m->churn, p))
            continue;
        uint64_t rss = budget_rss_bytes(p->pid);
        sb_set64(&m->sb.slots[p->sb_index].rss_bytes, rss);
        if (p->draining)
            continue;
        if (!m->footprint_bytes) {
            m->footprint_bytes = budget_pss_bytes(p->pid);
            if (m->footprint_bytes)
                log_info("Measured worker footprint: %llu MB (PSS)",
                         (unsigned long long)(m->footprint_bytes >> 20));
        }
        if (churn_over_rss(m->cfg, rss)) {
            if (!p->retire)
                log_info("Worker (pid:%d) RSS %llu MB is over --reload-on-rss %d MB; recycling",
                         (int)p->pid, (unsigned long long)(rss >> 20), m->cfg->reload_on_rss);
            request_retire(m, p, CHURN_RSS);
        }
    }
    uint64_t total;
    churn_proc_t *largest = churn_budget_victim(&m->churn, m->budget_bytes, &total);
    if (largest) {
        log_warning("Workers use %llu MB together, over the memory budget of %llu MB; "
                    "recycling the largest (pid:%d)",
                    (unsigned long long)(total >> 20), (unsigned long long)(m->budget_bytes >> 20),
                    (int)largest->pid);
        request_retire(m, largest, CHURN_BUDGET);
    }
}

/* Under memory pressure a new worker would only push the host towards the OOM killer;
 * spawning waits (a replacement keeps its predecessor serving meanwhile). */
static bool memory_pressure_high(master_t *m, uint64_t now)
{
    double pressure = budget_pressure();
    if (pressure < CHURN_PRESSURE_LIMIT)
        return false;
    if (now >= m->pressure_logged_ms + 10000) {
        log_warning("Memory pressure is %.0f%% (PSI some avg10); not starting workers until "
                    "it falls below %.0f%%",
                    pressure, CHURN_PRESSURE_LIMIT);
        m->pressure_logged_ms = now;
    }
    return true;
}

/* Decides where the slots without a running worker go: a plan for `n` workers over the
 * allowed CPUs and NUMA nodes (tunables/host.c), slot k taking the plan's k-th place.
 * Slots with a running worker keep theirs, so a reload or TTIN never moves a worker. */
static void place_slots(master_t *m, unsigned n)
{
    if (!m->pinning)
        return;
    tun_plan_t plan = {0};
    tun_plan_place(&m->host, (int)n, &plan);
    for (unsigned k = 0; k < n && k < (unsigned)plan.workers; k++) {
        slot_t *s = &m->slots[k];
        if (s->active && s->cpu >= 0)
            continue;
        int cpu = plan.cpu[k], node = plan.node[k];
        s->cpu = cpu;
        CPU_ZERO(&s->place.cpus);
        s->place.pin_cpus = false;
        if (m->cfg->cpu_pin && cpu >= 0) {
            CPU_SET(cpu, &s->place.cpus);
            s->place.pin_cpus = true;
        } else if (m->cfg->numa_pin && node >= 0) {
            for (int i = 0; i < m->host.nnodes; i++)
                if (m->host.nodes[i].id == node)
                    for (int j = 0; j < m->host.nodes[i].ncpus; j++)
                        CPU_SET(m->host.nodes[i].cpus[j], &s->place.cpus);
            s->place.pin_cpus = true;
        }
        s->place.mem_node = m->cfg->numa_pin ? node : -1;
    }
    tun_plan_free(&plan);
}

/* The slots changed: the reuseport groups' programs follow (src/listeners.c). */
static void steer(master_t *m, bool shrinking)
{
    int cpu[MAX_SLOTS];
    for (unsigned k = 0; k < m->nslots; k++)
        cpu[k] = m->slots[k].cpu;
    listeners_steer(&m->ls, m->slots[0].listeners, cpu, m->nslots, shrinking);
}

/* Brings the number of slots to the target, within the memory budget. */
static void apply_target(master_t *m)
{
    unsigned cap = churn_memory_cap(m->budget_bytes, m->footprint_bytes, MAX_SLOTS);
    unsigned want = m->target < cap ? m->target : cap;
    if (want < m->target && !m->budget_warned) {
        log_warning("Running %u worker%s instead of %u: the memory budget of %llu MB fits %u "
                    "workers of %llu MB",
                    want, want == 1 ? "" : "s", m->target,
                    (unsigned long long)(m->budget_bytes >> 20), want,
                    (unsigned long long)(m->footprint_bytes >> 20));
        m->budget_warned = true;
    }
    /* grow; but until one booted worker has been measured, only one exists, so that
     * starting N workers of unknown size cannot meet the OOM killer */
    unsigned before = m->nslots;
    unsigned goal = churn_slot_goal(want, m->nslots, m->footprint_bytes != 0);
    place_slots(m, want);
    while (m->nslots < goal) {
        char err[600];
        if (open_slot(m, m->nslots, err, sizeof(err)) < 0) {
            log_error("cannot add a worker: %s", err);
            break;
        }
        m->nslots++;
    }
    /* shrink from the top: the highest slot's worker drains and its listener closes */
    while (m->nslots > goal) {
        unsigned k = --m->nslots;
        for (unsigned i = 0; i < m->churn.nprocs; i++) {
            churn_proc_t *p = &m->churn.procs[i];
            if (p->pid > 0 && p->slot == k) {
                p->retire = CHURN_SCALE_DOWN;
                p->term_at_ms = sb_now_ms() + CHURN_STEER_SETTLE_MS;
            }
        }
        m->slots[k].active = false; /* listeners close once its worker is gone */
        m->slots[k].cpu = -1;
    }
    if (m->nslots != before)
        steer(m, m->nslots < before);
}

/* Work sharing: which slots have no worker accepting from their listeners (dead,
 * booting, or on its way out), so that the others steal from them; and how many slots
 * new connections and hand-offs may go to. When that changes the workers are told at
 * once (a signal wakes their loops), since a connection may be waiting on such a
 * listener right now. While stopping every slot is orphaned: nobody takes work. */
static void publish_sharing(master_t *m)
{
    if (!m->sharing)
        return;
    share_table_t *t = m->share.table;
    bool changed = false;
    for (unsigned k = 0; k < MAX_SLOTS; k++) {
        uint8_t orphan = 0;
        if (k < m->nslots && m->slots[k].active) {
            churn_proc_t *cur = churn_current(&m->churn, k);
            orphan = m->stopping || !cur || !churn_ready(&m->churn, cur);
        }
        if (t->orphan[k] != orphan) {
            __atomic_store_n(&t->orphan[k], orphan, __ATOMIC_RELAXED);
            changed = true;
        }
        if (!orphan && k >= m->nslots)
            continue;
        if (orphan && !churn_current(&m->churn, k)) {
            /* nobody serves the slot: no sibling may count on it */
            share_set_free(t, k, 0);
            share_set_taking(t, k, false);
        }
    }
    if (t->nslots != m->nslots) {
        __atomic_store_n(&t->nslots, m->nslots, __ATOMIC_RELAXED);
        changed = true;
    }
    if (!changed)
        return;
    __atomic_store_n(&t->epoch, t->epoch + 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++)
        if (m->churn.procs[i].pid > 0)
            kill(m->churn.procs[i].pid, WORKER_SIG_TOPOLOGY);
}

/* One slot's turn: a worker for an empty slot, the limits of its current worker, and a
 * successor when that worker is to be replaced. */
static void supervise_slot(master_t *m, unsigned k, uint64_t now)
{
    slot_t *s = &m->slots[k];
    if (!s->active) {
        /* a scaled-away slot keeps its listeners until its last worker has left, so
         * that worker can still answer the connections it accepted */
        if (s->listeners && churn_slot_empty(&m->churn, k))
            close_slot(m, k);
        return;
    }
    churn_proc_t *cur = churn_current(&m->churn, k);
    if (!cur) {
        if (churn_may_respawn(&s->boot, now) && !memory_pressure_high(m, now))
            spawn(m, k);
        return;
    }
    if (!churn_ready(&m->churn, cur))
        return;
    enum churn_reason limit = churn_limit_reached(&m->churn, cur, now);
    if (limit)
        request_retire(m, cur, limit);
    if (!churn_wants_successor(&m->churn, cur) || memory_pressure_high(m, now))
        return;
    /* The successor starts while the old worker still serves; the old one is told
     * to drain only when the successor is accepting (supervise). */
    log_info("Replacing worker (pid:%d): %s", (int)cur->pid, churn_reason_name(cur->retire));
    if (spawn(m, k))
        cur->has_successor = true;
}

static void supervise(master_t *m, uint64_t now)
{
    for (unsigned k = 0; k < MAX_SLOTS; k++)
        supervise_slot(m, k, now);
    /* an old worker whose successor is accepting now drains; so does a scaled-away one
     * once connections have stopped coming its way */
    for (unsigned i = 0; i < m->churn.nprocs; i++) {
        churn_proc_t *p = &m->churn.procs[i];
        switch (churn_handover(&m->churn, p, now)) {
        case CHURN_TERM_SETTLED:
            p->term_at_ms = 0;
            retire_now(m, p, SIGTERM, graceful_ms(m));
            break;
        case CHURN_TERM_REPLACED:
            retire_now(m, p, SIGTERM, graceful_ms(m));
            break;
        case CHURN_SUCCESSOR_LOST:
            p->has_successor = false; /* the successor died; try again */
            break;
        case CHURN_HOLD:
            break;
        }
    }
}

/* ---- signals ------------------------------------------------------------------------ */

/* The hooks of a re-read config replace the old ones (an interpreter is started if the
 * master now has hooks of its own); then nworkers_changed and on_reload, in gunicorn's
 * order, before the new workers are started. */
static void reload_hooks(master_t *m, unsigned old_target)
{
    if (m->hooks || py_hooks_need_master(m->cfg)) {
        char err[600];
        if (preflight_hooks(m->cfg, m->target, m->hooks, err, sizeof(err)) < 0)
            log_error("Reload: %s; the server hooks are not called until a reload that works", err);
        else
            m->hooks = true;
    }
    py_hooks_nworkers_changed(m->target, (int)old_target);
    py_hooks_server_event(TUN_HOOK_on_reload);
}

/* HUP: re-read the settings and replace every worker, each one only after its successor
 * accepts. Settings that need a restart keep their old value, with a warning. */
static void reload(master_t *m)
{
    unsigned old_target = m->target;
    tun_config_t fresh;
    char err[512];
    int r = tun_parse(&fresh, m->argc, m->argv, m->envp, stdout, err, sizeof(err));
    const char *warning = NULL;
    if (r == TUN_OK && stats_check_config(&fresh, &warning, err, sizeof(err)) < 0) {
        tun_config_free(&fresh);
        r = TUN_ERROR;
    }
    if (r == TUN_OK)
        preflight_accesslog_path(&fresh);
    if (r != TUN_OK) {
        log_error("Reload: the new configuration is invalid, keeping the old one: %s",
                  r == TUN_ERROR ? err : "nothing to run");
        if (r == TUN_OK)
            tun_config_free(&fresh);
    } else {
        for (size_t i = 0; i < fresh.warning_count; i++)
            log_warning("Reload: %s", fresh.warnings[i]);
        if (warning)
            log_warning("Reload: %s", warning);
        bool binds_same = fresh.bind_count == m->cfg->bind_count;
        for (size_t i = 0; binds_same && i < fresh.bind_count; i++)
            binds_same = memcmp(&fresh.binds[i].addr, &m->cfg->binds[i].addr,
                                sizeof(fresh.binds[i].addr)) == 0;
        if (!binds_same && !m->ls.activated) /* systemd's sockets are not --bind's */
            log_warning("Reload: --bind changes need a restart; keeping the current listeners");
        /* listeners keep the old addresses, whatever the new file says */
        tun_bind_t *binds = fresh.binds;
        size_t count = fresh.bind_count;
        fresh.binds = m->cfg->binds;
        fresh.bind_count = m->cfg->bind_count;
        m->cfg->binds = binds;
        m->cfg->bind_count = count;
        bool epoll = m->cfg->engine_epoll; /* chosen at start: a restart chooses again */
        tun_config_free(m->cfg);
        *m->cfg = fresh;
        m->cfg->engine_epoll = epoll;
        m->target = (unsigned)m->cfg->workers;
    }
    m->generation++;
    log_info("Handling signal: hup; reloading (generation %u)", m->generation);
    sdnotify_reloading(&m->notify);
    m->ready_pending = true;
    reload_hooks(m, old_target);
    proctitle_set("master", title_name(m->cfg)); /* --name may have changed */
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++)
        if (m->churn.procs[i].pid > 0 && !m->churn.procs[i].draining)
            m->churn.procs[i].retire = CHURN_RELOAD;
    apply_target(m);
}

static void handle_signal(master_t *m, int sig)
{
    switch (sig) {
    case SIGTERM:
        log_info("Handling signal: term");
        begin_stop(m, SIGTERM, graceful_ms(m));
        break;
    case SIGINT:
    case SIGQUIT:
        log_info("Handling signal: %s", sig == SIGINT ? "int" : "quit");
        begin_stop(m, SIGQUIT, CHURN_FAST_STOP_MS);
        break;
    case SIGHUP:
        if (!m->stopping)
            reload(m);
        privileges_own_logs(&m->privs, m->cfg); /* the access log may have moved */
        break;
    case SIGUSR1:
        log_reopen();
        privileges_own_logs(&m->privs, m->cfg); /* before the workers reopen them */
        log_info("Handling signal: usr1; log files reopened");
        for (unsigned i = 0; i < 2 * MAX_SLOTS; i++)
            if (m->churn.procs[i].pid > 0)
                kill(m->churn.procs[i].pid, SIGUSR1);
        break;
    case SIGTTIN:
        if (m->target < MAX_SLOTS) {
            m->target++;
            py_hooks_nworkers_changed(m->target, (int)m->target - 1);
        }
        log_info("Handling signal: ttin; %u worker%s wanted", m->target, m->target == 1 ? "" : "s");
        apply_target(m);
        break;
    case SIGTTOU:
        if (m->target > 1) {
            m->target--;
            py_hooks_nworkers_changed(m->target, (int)m->target + 1);
        }
        log_info("Handling signal: ttou; %u worker%s wanted", m->target, m->target == 1 ? "" : "s");
        apply_target(m);
        break;
    default:
        break; /* CHLD: reaped at the top of the loop; PIPE, USR2: nothing to do */
    }
}

/* Waits (poll, at most `ms`) for a signal, a stats client or a log socket to be ready. */
static void wait_events(master_t *m, int ms)
{
    unsigned want = 5 + SCRAPE_MAX_CLIENTS + capture_open_count(&m->capture);
    if (want > m->pfds_cap) {
        m->pfds_cap = want + 8;
        m->pfds = uf_realloc(m->pfds, m->pfds_cap * sizeof(*m->pfds));
    }
    struct pollfd *pfd = m->pfds;
    unsigned n = 0;
    pfd[n++] = (struct pollfd){.fd = m->sigfd, .events = POLLIN};
    n += scrape_pollfds(&m->stats, pfd + n, SCRAPE_MAX_CLIENTS + 1);
    logship_t *ships[3] = {m->out.shipping ? &m->out.ship : NULL,
                           m->out.syslog_on ? &m->out.syslog : NULL,
                           m->out.statsd_on ? &m->out.statsd : NULL};
    for (int i = 0; i < 3; i++) {
        short ev;
        int fd = ships[i] ? logship_direct_fd(ships[i], &ev) : -1;
        if (fd >= 0 && ev)
            pfd[n++] = (struct pollfd){.fd = fd, .events = ev};
    }
    n += capture_pollfds(&m->capture, pfd + n, m->pfds_cap - n);
    if (poll(pfd, n, ms) < 0 && errno != EINTR)
        log_error("poll failed: %s", strerror(errno));
}

/* The startup banner beyond the lines above it: what an operator checks first. */
static void banner(master_t *m)
{
    const tun_config_t *cfg = m->cfg;
    log_info("Python %s, virtualenv: %s%s", py_version(),
             cfg->virtualenv ? cfg->virtualenv : "none", cfg->preload ? ", preloaded" : "");
    char line[512];
    size_t n = 0;
    for (unsigned k = 0; k < m->nslots && n < sizeof(line) - 40; k++) {
        const slot_t *s = &m->slots[k];
        int node = s->place.mem_node;
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%u: cpu %d", k ? ", " : "", k, s->cpu);
        if (node >= 0)
            n += (size_t)snprintf(line + n, sizeof(line) - n, " node %d", node);
    }
    if (cfg->engine_epoll)
        log_info("Engine: epoll (--engine %s; registered buffers, SEND_ZC and kernel multishot "
                 "are io_uring only)",
                 cfg->engine ? cfg->engine : "auto");
    else
        log_info("Engine: io_uring (--engine %s)", cfg->engine ? cfg->engine : "auto");
    if (m->pinning)
        log_info("Worker placement (%s): %s%s", cfg->cpu_pin ? "--cpu-pin" : "--numa-pin", line,
                 m->nslots < m->target ? " (the rest once a worker's footprint is measured)" : "");
    else
        log_info("Worker placement: not pinned (--cpu-pin / --numa-pin are off)");
    if (m->sharing)
        log_info("Work sharing: on (a request that would wait goes to an idle worker or the "
                 "shared queue; idle workers accept for booting or dying ones); new connections "
                 "go to %s",
                 listeners_all_shared(&m->ls) ? "the worker whose accept the kernel wakes "
                                                "(every listener is shared)"
                 : cfg->cpu_pin               ? "the worker on the receiving CPU"
                 : m->ls.steer.active         ? "idle workers first (reuseport eBPF)"
                                              : "the listener the kernel's hash picks");
    else if (cfg->app_interface == TUN_IFACE_ASGI)
        log_info("Work sharing: off (ASGI: each worker's event loop interleaves its own "
                 "connections' requests)");
    else
        log_info("Work sharing: off (each worker serves only its own connections)");
    if (cfg->accesslog)
        log_info("Access log: %s (%s)", strcmp(cfg->accesslog, "-") ? cfg->accesslog : "stdout",
                 cfg->access_log_json ? "JSON" : "text");
    if (m->out.shipping)
        log_info("Log target: %s (%s)", cfg->log_target, m->out.ship.syslog ? "RFC 5424" : "JSON");
    if (m->out.syslog_on)
        log_info("Syslog: %s (%s, facility %d, tag %s.error%s)", m->out.syslog.target.spec,
                 m->out.syslog.rfc3164 ? "RFC 3164" : "RFC 5424", m->out.syslog.facility,
                 m->out.syslog.tag, m->out.syslog_access ? ", access lines too" : "");
    if (m->stats.fd >= 0)
        log_info("Stats: http://%s/metrics (Prometheus), /stats (JSON), /health, /ready",
                 m->stats.addr);
    if (m->out.statsd_on)
        log_info("statsd: %s%s%s", cfg->statsd_host, m->out.prefix[0] ? ", prefix " : "",
                 m->out.prefix);
    if (cfg->reload)
        log_warning("Reloader is on (--reload, engine %s): workers are replaced when a Python "
                    "file they imported changes. Use in development only!",
                    cfg->reload_engine);
    if (cfg->health_path || cfg->ready_path) {
        char sat[64] = "";
        if (cfg->ready_saturation > 0)
            snprintf(sat, sizeof(sat), ", saturated above %d", cfg->ready_saturation);
        log_info("Probes: health %s, ready %s%s", cfg->health_path ? cfg->health_path : "off",
                 cfg->ready_path ? cfg->ready_path : "off", sat);
    }
}

/* The error log, the observability outputs and the settings only the master checks.
 * Returns 0, or the exit code: 2 for a wrong setting (as a bad flag), 1 otherwise. */
static int start_logging(master_t *m)
{
    tun_config_t *cfg = m->cfg;
    char err[600];
    /* settings the table cannot check (formats, addresses): wrong is exit 2, as a bad flag */
    const char *warning;
    if (stats_check_config(cfg, &warning, err, sizeof(err)) < 0) {
        fprintf(stderr, "uwsgi-fast: %s\n", err);
        return 2;
    }
    preflight_accesslog_path(cfg);
    log_set_json(cfg->error_log_json);
    if (log_init(cfg->error_logfile, cfg->log_level, err, sizeof(err)) < 0) {
        fprintf(stderr, "uwsgi-fast: %s\n", err);
        return 1;
    }
    if (mview_start(m, err, sizeof(err)) < 0) {
        log_critical("%s", err);
        return 1;
    }
    log_info("Starting uwsgi-fast %s%s", UF_VERSION,
             UF_INSTRUMENTS ? "" : " (built without instruments: -Dinstruments=false)");
    proctitle_set("master", title_name(m->cfg));
    if (warning)
        log_warning("%s", warning);
    return 0;
}

/* Blocks the signals the master handles and opens the signalfd it reads them from.
 * Returns 0 or -1 (logged). */
static int open_signals(master_t *m)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < UF_ARRAY_LEN(handled_signals); i++)
        sigaddset(&set, handled_signals[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    /* Still no handler: the blocked signals are read from a descriptor, so the loop can
     * wait for them and for the stats port and log sockets in one poll, and none is lost
     * between two waits (a pending signal keeps the descriptor readable). */
    m->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (m->sigfd < 0) {
        log_critical("signalfd failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* The listeners of the first slot (they decide the port when a bind asked for port 0),
 * work sharing's table, the slot and process tables, the scoreboard. Returns 0, or -1 or
 * -2 (a setting's fault) as listeners_init, logged. */
static int open_slots(master_t *m)
{
    char err[600];
    /* an ASGI worker's event loop interleaves its own connections' requests and hands
     * none on (choose_interface): with the interface known here, share nothing */
    m->sharing = m->cfg->work_sharing && m->cfg->app_interface != TUN_IFACE_ASGI;
    m->ls.owner = m->privs.drop ? m->privs.uid : (uid_t)-1;
    m->ls.group = m->privs.drop ? m->privs.gid : (gid_t)-1;
    int rc = listeners_init(&m->ls, m->cfg, m->sharing ? &m->share : NULL, err, sizeof(err));
    if (rc < 0) {
        log_critical("%s", err);
        return rc;
    }
    if (m->sharing) {
        /* a worker forked before its handler is installed must not die of it */
        sigset_t topo;
        sigemptyset(&topo);
        sigaddset(&topo, WORKER_SIG_TOPOLOGY);
        sigprocmask(SIG_BLOCK, &topo, NULL);
    }
    m->slots = uf_calloc(MAX_SLOTS, sizeof(slot_t));
    for (unsigned k = 0; k < MAX_SLOTS; k++)
        m->slots[k].cpu = -1;
    m->churn = (churn_t){.procs = uf_calloc(2 * MAX_SLOTS, sizeof(churn_proc_t)),
                         .nprocs = 2 * MAX_SLOTS,
                         .cfg = m->cfg,
                         .sharing = m->sharing};
    if (open_slot(m, 0, err, sizeof(err)) < 0) {
        log_critical("%s", err);
        return -1;
    }
    m->nslots = 1;
    listeners_log(&m->ls, m->slots[0].listeners);
    if (sb_create(&m->sb, 2 * MAX_SLOTS) < 0) {
        log_critical("cannot map the scoreboard: %s", strerror(errno));
        return -1;
    }
    m->churn.sb = m->sb.slots;
    return 0;
}

/* Everything before the loop, up to the first workers. Returns 0 or the exit code. */
static int start(master_t *m)
{
    tun_config_t *cfg = m->cfg;
    char err[600];
    int rc = start_logging(m);
    if (rc)
        return rc;
    /* first: the application's environment (a hook's, --preload's) must not see LISTEN_* */
    if (listeners_activation(&m->ls, cfg, err, sizeof(err)) < 0) {
        log_critical("socket activation: %s", err);
        return 2;
    }
    m->nbinds = (unsigned)cfg->bind_count;
    sdnotify_open(&m->notify, sb_now_ms());
    m->ready_pending = true;
    if (privileges_setup(&m->privs, cfg, err, sizeof(err)) < 0) {
        log_critical("%s", err);
        return 2;
    }
    if (preflight_ring(cfg, err, sizeof(err)) < 0) {
        log_critical("%s", err);
        return 1;
    }
    listeners_check_migrate();
    if (tun_host_read("/", &m->host) < 0)
        memset(&m->host, 0, sizeof(m->host));
    m->budget_bytes = preflight_memory_budget(&m->host, cfg->memory_reserve_mb);
    m->pinning = cfg->cpu_pin || cfg->numa_pin;
    if (py_hooks_need_master(cfg)) {
        /* gunicorn's order: the worker count is set, then on_starting, then the
         * listeners, then when_ready */
        if (preflight_hooks(cfg, m->target, false, err, sizeof(err)) < 0) {
            log_critical("%s", err);
            return 4;
        }
        m->hooks = true;
        py_hooks_nworkers_changed(m->target, -1);
        py_hooks_server_event(TUN_HOOK_on_starting);
    }
    if (open_signals(m) < 0)
        return 1;
    rc = open_slots(m);
    if (rc < 0)
        return rc == -2 ? 2 : 1;
    if (cfg->preload && preflight_preload(cfg) < 0)
        return 4;
    py_hooks_server_event(TUN_HOOK_when_ready);
    if (!cfg->engine_epoll) /* epoll pins nothing */
        preflight_memlock(m->target);
    preflight_pidfile(cfg->pidfile);
    srandom((unsigned)getpid() ^ (unsigned)time(NULL));
    log_info("Using %s%u worker%s", cfg->workers_auto ? "up to " : "", m->target,
             m->target == 1 ? "" : "s");
    apply_target(m);
    banner(m);
    return 0;
}

/* Each round: reap, decide and act on churn, publish the sharing state, enforce kill
 * deadlines, ship logs and statsd, then wait (50 ms at most) for a signal, a scraper or
 * a log socket. Returns once stopping and every worker is gone. */
static void run(master_t *m)
{
    for (;;) {
        reap(m);
        uint64_t now = sb_now_ms();
        if (m->stopping) {
            if (churn_live(&m->churn) == 0)
                break;
        } else {
            sample_memory(m, now);
            if (m->footprint_bytes && m->nslots < m->target)
                apply_target(m);
            supervise(m, now);
        }
        publish_sharing(m);
        for (unsigned i = 0; i < m->churn.nprocs; i++) {
            churn_proc_t *p = &m->churn.procs[i];
            if (p->pid <= 0)
                continue;
            if (!m->stopping)
                check_hung(m, p, now);
            if (churn_kill_due(p, now)) {
                log_warning("Worker (pid:%d) did not stop in time; sending SIGKILL", (int)p->pid);
                kill(p->pid, SIGKILL);
                p->kill_at_ms = 0;
            }
        }
        mview_ship(m, now);
        mview_statsd(m, now);
        mview_report(m, now);
        if (m->hooks)
            py_interp_release(); /* threads a hook started run meanwhile, as in gunicorn */
        wait_events(m, 50);
        if (m->hooks)
            py_interp_acquire();
        struct signalfd_siginfo si;
        while (read(m->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
            handle_signal(m, (int)si.ssi_signo);
        scrape_run(&m->stats, sb_now_ms());
    }
}

/* After the last worker: the last log lines, then everything the master holds. */
static void shut_down(master_t *m)
{
    py_hooks_server_event(TUN_HOOK_on_exit);
    capture_close(&m->capture); /* what the last workers wrote */
    log_info("Shutting down: Master");
    /* the master's last lines reach the log target and syslog if they take them within a
     * second */
    for (uint64_t end = sb_now_ms() + 1000; sb_now_ms() < end;) {
        mview_ship(m, sb_now_ms());
        const logship_t *a = &m->out.ship, *b = &m->out.syslog;
        if (!a->fill.len && !a->busy.len && !b->fill.len && !b->busy.len)
            break;
        wait_events(m, 20);
    }
    log_set_sink(NULL, NULL);
    scrape_close(&m->stats);
    logship_free(&m->out.ship);
    logship_free(&m->out.syslog);
    logship_free(&m->out.statsd);
    uf_free(m->pfds);
    close(m->sigfd);
    for (unsigned k = 0; k < MAX_SLOTS; k++)
        if (m->slots[k].listeners)
            close_slot(m, k);
    listeners_release(&m->ls);
    sdnotify_close(&m->notify);
    if (m->cfg->pidfile)
        unlink(m->cfg->pidfile);
    sb_destroy(&m->sb);
    if (m->sharing)
        share_destroy(&m->share);
    steer_close(&m->ls.steer);
    uf_free(m->churn.procs);
    uf_free(m->slots);
}

int master_run(tun_config_t *cfg, int argc, char **argv, char **envp)
{
    static master_t m; /* the one master context */
    m.cfg = cfg;
    m.argc = argc;
    m.argv = argv;
    m.envp = envp;
    m.nbinds = (unsigned)cfg->bind_count;
    m.target = (unsigned)cfg->workers;
    int rc = start(&m);
    if (rc) {
        listeners_release(&m.ls); /* no socket file outlives a failed start */
        return rc;
    }
    run(&m);
    shut_down(&m);
    return m.exit_code;
}
