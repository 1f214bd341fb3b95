/* Master: listeners, fork, supervise, churn, signals. */
#include "src/master.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/budget.h"
#include "tunables/host.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/net.h"
#include "src/scoreboard.h"
#include "src/share.h"
#include "src/metrics.h"
#include "src/scrape.h"
#include "src/stats.h"
#include "src/steer.h"
#include "python_bridge/interp.h"
#include "src/worker.h"
#include "uring/ring.h"

/* Respawning a worker that dies before it is ready backs off exponentially from this,
 * and gives up after this many failures in a row, so a broken deploy cannot fork-bomb
 * the host. */
#define RESPAWN_BACKOFF_MS 100
#define MAX_BOOT_FAILURES 5
/* After INT/QUIT, or after the timeout notice (SIGABRT), SIGKILL follows this late. */
#define FAST_STOP_MS 1000
/* A worker scaled away keeps serving this long after new connections stop being steered
 * to its listener, so that those already on their way (a handshake in progress joins the
 * accept queue of the listener its SYN chose) are accepted and answered, not reset. */
#define STEER_SETTLE_MS 1000
/* How often worker memory is sampled (RSS for --reload-on-rss and the budget): often
 * enough that a worker leaking fast is caught between two samples. */
#define MEMORY_SAMPLE_MS 250
/* Memory pressure (PSI "some" avg10, percent) above which no worker is started. */
#define PRESSURE_LIMIT 40.0
/* capability number of CAP_IPC_LOCK (linux/capability.h), which lifts RLIMIT_MEMLOCK */
#define CAP_IPC_LOCK_BIT 14
/* Upper bound on worker slots, whatever TTIN asks for. */
#define MAX_SLOTS 1024

enum retire_reason {
    RETIRE_NONE = 0,
    RETIRE_RELOAD,        /* HUP */
    RETIRE_MAX_REQUESTS,
    RETIRE_LIFETIME,
    RETIRE_RSS,
    RETIRE_BUDGET,        /* the workers together exceed the memory budget */
    RETIRE_SCALE_DOWN,    /* TTOU, or a smaller --workers after HUP */
    RETIRE_TIMEOUT,       /* hung: killed, not drained */
};

static const char *const reason_names[] = {
    "", "reload", "max-requests", "max-worker-lifetime", "reload-on-rss", "memory budget",
    "scale-down", "timeout",
};

/* A worker process. A slot normally has one; while it is being replaced it has two: the
 * old one keeps serving until its successor is accepting, then drains. */
typedef struct proc {
    pid_t pid;                  /* 0: entry unused */
    unsigned slot;
    unsigned sb_index;          /* its scoreboard slot */
    unsigned generation;
    uint64_t started_ms;
    uint64_t request_limit;     /* --max-requests with this worker's jitter; 0 = none */
    uint64_t kill_at_ms;        /* SIGKILL deadline once told to stop; 0 = none */
    uint64_t term_at_ms;        /* scaled away: SIGTERM due then (STEER_SETTLE_MS); 0 = none */
    uint8_t retire;             /* enum retire_reason: a successor is wanted */
    bool draining;              /* sent TERM (or SIGABRT): it is on its way out */
    bool has_successor;
} proc_t;

typedef struct slot {
    bool active;                /* false once scaled away */
    worker_listener_t *listeners;   /* nbinds sockets, kept for the master's life */
    unsigned boot_failures;
    uint64_t respawn_at_ms;
    worker_placement_t place;   /* where its workers run (--cpu-pin / --numa-pin) */
    int cpu;                    /* the CPU it is pinned to, -1 if none */
} slot_t;

typedef struct master {
    tun_config_t *cfg;
    int argc;
    char **argv;
    char **envp;
    scoreboard_t sb;
    unsigned nbinds;
    slot_t *slots;              /* MAX_SLOTS entries, nslots in use */
    unsigned nslots;
    unsigned target;            /* workers wanted (after the memory cap) */
    proc_t *procs;              /* 2 * MAX_SLOTS entries */
    unsigned generation;
    uint64_t footprint_bytes;   /* measured PSS of a booted worker, 0 until known */
    uint64_t budget_bytes;      /* memory the workers may use together */
    uint64_t next_sample_ms;
    tun_host_t host;            /* CPUs and NUMA nodes, read once for placement */
    bool pinning;               /* --cpu-pin or --numa-pin */
    bool stopping;
    bool budget_warned;
    bool steering;             /* a reuseport program is attached (see steer) */
    share_t share;             /* --work-sharing: the table, every listener, the inboxes */
    bool sharing;
    steer_t steer;             /* ...and new connections steered to idle workers (eBPF) */
    bool steer_warned;
    uint64_t pressure_logged_ms;
    int exit_code;

    /* observability (src/stats.h, src/metrics.h, src/scrape.h) */
    int sigfd;                  /* signalfd over the blocked signals: read, never handled */
    double start_time;
    scrape_server_t stats;      /* --stats-bind */
    metrics_totals_t retired;   /* counters of the workers that have exited */
    uint64_t recycles[METRICS_RECYCLE_REASONS];
    metrics_slot_t *view_slots;
    metrics_worker_t *view_workers;
    metrics_queue_t *view_queues;   /* per slot and bind: sampled for each view */
    stats_outputs_t out;        /* --log-target (the master's own lines), --statsd-host
                                   (gunicorn.workers, gunicorn.backlog) */
    uint64_t next_statsd_ms;
} master_t;

/* Label values of uwsgi_fast_worker_recycles_total, indexed by enum retire_reason; the
 * last one is a worker that exited without being asked to. */
#define RECYCLE_DIED (METRICS_RECYCLE_REASONS - 1)
static const char *const recycle_labels[METRICS_RECYCLE_REASONS] = {
    "", "reload", "max_requests", "max_worker_lifetime", "reload_on_rss", "memory_budget",
    "scale_down", "timeout", "died",
};

static const int handled_signals[] = {SIGTERM, SIGINT,  SIGQUIT, SIGHUP,  SIGCHLD,
                                      SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGPIPE};

/* ---- listeners ------------------------------------------------------------------ */

/* Every socket on a port must set SO_REUSEPORT to share it, so a second server started
 * by mistake on the same port would silently split our traffic. A plain socket bound
 * first (and closed) tells us whether anybody else holds the address. */
static int check_address_free(const tun_bind_t *b, char *err, size_t errlen)
{
    int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int ret = bind(fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0 ? -errno : 0;
    close(fd);
    if (ret < 0)
        snprintf(err, errlen, "cannot bind %s: %s", b->spec,
                 ret == -EADDRINUSE ? "address already in use (is another server running?)"
                                    : strerror(-ret));
    return ret;
}

static int open_listener(const tun_bind_t *b, int backlog, char *err, size_t errlen)
{
    int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", b->spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    /* responses leave in one send; Nagle would only delay the tail of streamed ones.
     * Accepted sockets inherit the option, saving a setsockopt per connection. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A plain accept(2) on the listener (a draining worker's last sweep of its queue)
     * must not block when a sibling took the connection first: the listener stays
     * blocking, because io_uring hands EAGAIN of a non-blocking file back to us instead of
     * waiting, so accept(2) gets a receive timeout instead (its own accepts never wait). */
    struct timeval brief = {.tv_sec = 0, .tv_usec = 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &brief, sizeof(brief));
    if (bind(fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0 || listen(fd, backlog) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", b->spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void close_slot(master_t *m, unsigned k);

/* Opens the listeners of slot k, one per bind address (and, with work sharing, its
 * inbox). */
static int open_slot(master_t *m, unsigned k, char *err, size_t errlen)
{
    slot_t *s = &m->slots[k];
    s->listeners = uf_calloc(m->nbinds, sizeof(worker_listener_t));
    for (unsigned b = 0; b < m->nbinds; b++) {
        int fd = open_listener(&m->cfg->binds[b], m->cfg->backlog, err, errlen);
        if (fd < 0) {
            while (b-- > 0)
                close(s->listeners[b].fd);
            uf_free(s->listeners);
            s->listeners = NULL;
            return -1;
        }
        worker_listener_t *l = &s->listeners[b];
        l->fd = fd;
        if (m->sharing)
            m->share.listen_fds[k * m->nbinds + b] = fd;
        if (m->steer.active || (k == 0 && m->steer.table)) {
            char why[256];
            if (steer_add(&m->steer, k, b, fd, why, sizeof(why)) < 0 && !m->steer_warned) {
                log_warning("Steering to idle workers is off: %s", why);
                m->steer_warned = true;
            }
        }
        net_addr_host((const struct sockaddr *)&m->cfg->binds[b].addr, l->host, sizeof(l->host),
                      &l->port);
    }
    if (m->sharing && share_open_inbox(&m->share, k, err, errlen) < 0) {
        close_slot(m, k);
        return -1;
    }
    s->active = true;
    s->boot_failures = 0;
    s->respawn_at_ms = 0;
    return 0;
}

static void close_slot(master_t *m, unsigned k)
{
    slot_t *s = &m->slots[k];
    for (unsigned b = 0; b < m->nbinds && s->listeners; b++)
        close(s->listeners[b].fd);
    if (m->sharing) {
        for (unsigned b = 0; b < m->nbinds; b++)
            m->share.listen_fds[k * m->nbinds + b] = -1;
        share_close_inbox(&m->share, k);
    }
    uf_free(s->listeners);
    s->listeners = NULL;
    s->active = false;
}

static int read_sysctl(const char *path)
{
    FILE *f = fopen(path, "r");
    int v = -1;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* ---- processes ------------------------------------------------------------------- */

static proc_t *proc_of_pid(master_t *m, pid_t pid)
{
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++)
        if (m->procs[i].pid == pid)
            return &m->procs[i];
    return NULL;
}

/* The worker currently serving slot k and not on its way out, or NULL. */
static proc_t *current_of(master_t *m, unsigned k)
{
    proc_t *best = NULL;
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++) {
        proc_t *p = &m->procs[i];
        if (p->pid > 0 && p->slot == k && !p->draining &&
            (!best || p->generation > best->generation || p->started_ms > best->started_ms))
            best = p;
    }
    return best;
}

static unsigned count_live(const master_t *m)
{
    unsigned n = 0;
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++)
        n += m->procs[i].pid > 0;
    return n;
}

static bool is_ready(const master_t *m, const proc_t *p)
{
    return sb_get(&m->sb.slots[p->sb_index].state) == SB_READY;
}

static int free_sb_index(master_t *m)
{
    for (unsigned i = 0; i < m->sb.count; i++) {
        bool used = false;
        for (unsigned j = 0; j < 2 * MAX_SLOTS && !used; j++)
            used = m->procs[j].pid > 0 && m->procs[j].sb_index == i;
        if (!used)
            return (int)i;
    }
    return -1;
}

static uint64_t pick_request_limit(const tun_config_t *cfg)
{
    if (cfg->max_requests <= 0)
        return 0;
    uint64_t jitter = cfg->max_requests_jitter > 0
                          ? (uint64_t)random() % ((uint64_t)cfg->max_requests_jitter + 1)
                          : 0;
    return (uint64_t)cfg->max_requests + jitter;
}

static proc_t *spawn(master_t *m, unsigned k)
{
    proc_t *p = NULL;
    for (unsigned i = 0; i < 2 * MAX_SLOTS && !p; i++)
        if (m->procs[i].pid == 0)
            p = &m->procs[i];
    int sbi = free_sb_index(m);
    if (!p || sbi < 0)
        return NULL;
    sb_slot_t *sb = &m->sb.slots[sbi];
    memset(sb, 0, sizeof(*sb));
    uint64_t request_limit = pick_request_limit(m->cfg);
    sb_set64(&sb->request_limit, request_limit);
    sb_set(&sb->generation, m->generation);
    sb_set(&sb->state, SB_BOOTING);
    fflush(NULL);
    py_before_fork(); /* --preload: the interpreter's fork hooks, gc.freeze() */
    pid_t pid = fork();
    if (pid == 0)
        py_after_fork_child();
    else
        py_after_fork_parent();
    if (pid < 0) {
        log_error("fork failed: %s; retrying", strerror(errno));
        m->slots[k].respawn_at_ms = sb_now_ms() + RESPAWN_BACKOFF_MS;
        return NULL;
    }
    if (pid == 0) {
        /* a worker holds only its own slot's listeners, unless it may steal from the
         * others' (work sharing) */
        for (unsigned j = 0; j < MAX_SLOTS && !m->sharing; j++)
            if (j != k && m->slots[j].listeners)
                for (unsigned b = 0; b < m->nbinds; b++)
                    close(m->slots[j].listeners[b].fd);
        /* nor the master's own sockets: the signalfd, the stats port, its log target */
        log_set_sink(NULL, NULL);
        close(m->sigfd);
        scrape_close(&m->stats);
        if (m->out.ship.fd >= 0)
            close(m->out.ship.fd);
        if (m->out.statsd.fd >= 0)
            close(m->out.statsd.fd);
        sb->pid = (int32_t)getpid();
        worker_main(m->cfg, sb, k, m->slots[k].listeners, m->nbinds,
                    m->pinning ? &m->slots[k].place : NULL, m->sharing ? &m->share : NULL);
    }
    *p = (proc_t){
        .pid = pid,
        .slot = k,
        .sb_index = (unsigned)sbi,
        .generation = m->generation,
        .started_ms = sb_now_ms(),
        .request_limit = request_limit,
    };
    sb->pid = (int32_t)pid;
    log_info("Booting worker with pid: %d", (int)pid);
    return p;
}

/* Tells a worker to drain (TERM) and arms the SIGKILL that follows if it does not. */
static void retire_now(master_t *m, proc_t *p, int sig, uint64_t grace_ms)
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
    m->stopping = true;
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++) {
        proc_t *p = &m->procs[i];
        if (p->pid > 0) {
            p->draining = false;    /* re-signal even those already draining */
            retire_now(m, p, sig, grace_ms);
        }
    }
}

static void halt(master_t *m, int code, const char *why)
{
    log_error("%s", why);
    m->exit_code = code;
    begin_stop(m, SIGQUIT, FAST_STOP_MS);
}

/* A worker exited: account for boot failures; its slot is refilled by supervise(). */
static void on_exit_of(master_t *m, proc_t *p, int status)
{
    sb_slot_t *sb = &m->sb.slots[p->sb_index];
    slot_t *s = &m->slots[p->slot];
    bool was_ready = sb_get(&sb->state) >= SB_READY;
    pid_t pid = p->pid;
    bool expected = p->draining;
    /* its counters join the totals before the slot can be reused: nothing goes backwards */
    metrics_fold(&m->retired, sb);
    if (p->retire)
        m->recycles[p->retire]++;
    else if (!expected && !m->stopping)
        m->recycles[RECYCLE_DIED]++;
    p->pid = 0;
    if (m->stopping)
        return;
    if (WIFSIGNALED(status)) {
        const char *name = sigabbrev_np(WTERMSIG(status));
        log_error("Worker (pid:%d) was sent SIG%s!", (int)pid, name ? name : "?");
    } else if (!expected || WEXITSTATUS(status) != 0) {
        log_info("Worker (pid:%d) exited with code %d", (int)pid, WEXITSTATUS(status));
    }
    if (was_ready || expected) {
        s->boot_failures = 0;
        return;
    }
    char why[600];
    if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_APP_LOAD) {
        snprintf(why, sizeof(why), "App failed to load: %s", sb->boot_error);
        halt(m, 4, why);
        return;
    }
    s->boot_failures++;
    if (s->boot_failures >= MAX_BOOT_FAILURES) {
        snprintf(why, sizeof(why), "Worker failed to boot %u times in a row, giving up: %s",
                 s->boot_failures, sb->boot_error[0] ? sb->boot_error : "it died before it was ready");
        halt(m, 3, why);
        return;
    }
    uint64_t delay = (uint64_t)RESPAWN_BACKOFF_MS << (s->boot_failures - 1);
    s->respawn_at_ms = sb_now_ms() + delay;
    log_warning("Worker failed to boot; retrying in %llu ms", (unsigned long long)delay);
}

static void reap(master_t *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        proc_t *p = proc_of_pid(m, pid);
        if (p)
            on_exit_of(m, p, status);
        /* anything else is a stray reparented to us as PID 1: reaping it is all */
    }
}

/* ---- churn ------------------------------------------------------------------------- */

/* Recycling for max-requests, lifetime, RSS and budget is one worker at a time, so that
 * the jitter is not the only thing keeping all workers from leaving together. */
static bool recycle_in_progress(const master_t *m)
{
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++) {
        const proc_t *p = &m->procs[i];
        if (p->pid > 0 && p->retire && p->retire != RETIRE_RELOAD &&
            p->retire != RETIRE_SCALE_DOWN && (p->has_successor || p->draining))
            return true;
    }
    return false;
}

/* The worker is to be replaced. With work sharing it is told at once, and stops taking
 * new work (siblings take it) while its successor boots, so a limit such as
 * --max-requests or --reload-on-rss is kept exactly rather than overrun by everything it
 * serves until then. */
static void request_retire(master_t *m, proc_t *p, enum retire_reason why)
{
    if (p->retire)
        return;
    p->retire = (uint8_t)why;
    if (m->sharing)
        sb_set(&m->sb.slots[p->sb_index].retire_asked, 1);
}

/* Per-request deadline (--timeout) and a loop that stopped heart-beating: the worker is
 * told with SIGABRT (its fault handler dumps the Python stack into the error log), killed
 * a second later, and replaced at once. */
static void check_hung(master_t *m, proc_t *p, uint64_t now)
{
    if (m->cfg->timeout <= 0 || p->draining || !is_ready(m, p))
        return;
    sb_slot_t *sb = &m->sb.slots[p->sb_index];
    uint64_t limit = (uint64_t)(m->cfg->timeout * 1000);
    uint64_t start = sb_get64(&sb->request_start_ms);
    uint64_t beat = sb_get64(&sb->heartbeat_ms);
    /* A worker with application threads answers the late request's client itself
     * (500) and says so; it gets up to a second for that before the kill. */
    bool answered = sb_get(&sb->timed_out) || !sb_get(&sb->threads);
    bool request_late = start && now > start + limit && (answered || now > start + limit + 1000);
    bool loop_silent = !start && beat && now > beat + limit + 2 * 1000;
    if (!request_late && !loop_silent)
        return;
    char line[sizeof(sb->request_line) + 1];
    memcpy(line, sb->request_line, sizeof(sb->request_line));
    line[sizeof(sb->request_line)] = 0;
    if (request_late)
        log_critical("WORKER TIMEOUT (pid:%d): request \"%s\" ran longer than %gs; killing it",
                     (int)p->pid, line, m->cfg->timeout);
    else
        log_critical("WORKER TIMEOUT (pid:%d): no heartbeat for %llu ms; killing it",
                     (int)p->pid, (unsigned long long)(now - beat));
    p->retire = RETIRE_TIMEOUT;
    retire_now(m, p, SIGABRT, FAST_STOP_MS);
}

static void sample_memory(master_t *m, uint64_t now)
{
    if (now < m->next_sample_ms && m->footprint_bytes)
        return;
    m->next_sample_ms = now + MEMORY_SAMPLE_MS;
    uint64_t total = 0;
    proc_t *largest = NULL;
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++) {
        proc_t *p = &m->procs[i];
        if (p->pid <= 0 || !is_ready(m, p))
            continue;
        uint64_t rss = budget_rss_bytes(p->pid);
        sb_set64(&m->sb.slots[p->sb_index].rss_bytes, rss);
        total += rss;
        if (p->draining)
            continue;
        if (!m->footprint_bytes) {
            m->footprint_bytes = budget_pss_bytes(p->pid);
            if (m->footprint_bytes)
                log_info("Measured worker footprint: %llu MB (PSS)",
                         (unsigned long long)(m->footprint_bytes >> 20));
        }
        if (m->cfg->reload_on_rss > 0 && rss > (uint64_t)m->cfg->reload_on_rss << 20) {
            if (!p->retire)
                log_info("Worker (pid:%d) RSS %llu MB is over --reload-on-rss %d MB; recycling",
                         (int)p->pid, (unsigned long long)(rss >> 20), m->cfg->reload_on_rss);
            request_retire(m, p, RETIRE_RSS);
        }
        if (!largest || rss > budget_rss_bytes(largest->pid))
            largest = p;
    }
    if (m->budget_bytes && total > m->budget_bytes && largest && !largest->retire) {
        log_warning("Workers use %llu MB together, over the memory budget of %llu MB; "
                    "recycling the largest (pid:%d)",
                    (unsigned long long)(total >> 20), (unsigned long long)(m->budget_bytes >> 20),
                    (int)largest->pid);
        request_retire(m, largest, RETIRE_BUDGET);
    }
}

/* Under memory pressure a new worker would only push the host towards the OOM killer;
 * spawning waits (a replacement keeps its predecessor serving meanwhile). */
static bool memory_pressure_high(master_t *m, uint64_t now)
{
    double pressure = budget_pressure();
    if (pressure < PRESSURE_LIMIT)
        return false;
    if (now >= m->pressure_logged_ms + 10000) {
        log_warning("Memory pressure is %.0f%% (PSI some avg10); not starting workers until "
                    "it falls below %.0f%%",
                    pressure, PRESSURE_LIMIT);
        m->pressure_logged_ms = now;
    }
    return true;
}

/* How many workers fit: the budget over the measured footprint, at least one. */
static unsigned memory_cap(const master_t *m)
{
    if (!m->budget_bytes || !m->footprint_bytes)
        return MAX_SLOTS;
    uint64_t n = m->budget_bytes / m->footprint_bytes;
    return n < 1 ? 1 : n > MAX_SLOTS ? MAX_SLOTS : (unsigned)n;
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

/* Which listener of a bind's reuseport group takes a new connection. Listeners join the
 * group in slot order and only the top slot is ever added or removed, so slot k is
 * index k and the slots in use are indices [0, nslots).
 *
 * With workers pinned, a classic-BPF program sends each new connection to the listener
 * of the worker on the CPU that received it, so the packet, the socket and the worker
 * share one CPU's caches; a CPU without a worker falls back to cpu % n.
 *
 * Without pinning the kernel's own hash over the group is right, except during a
 * scale-down: the listener of a slot being removed stays open while its worker drains,
 * and the kernel would go on queueing new connections there that nobody accepts, to be
 * reset when it closes (or, with net.ipv4.tcp_migrate_req, moved late). So from the
 * first scale-down on, a program spreads new connections by their flow hash over the
 * slots in use only; it is kept up to date as the count changes. */
static void steer(master_t *m, bool shrinking)
{
    if (m->nslots == 0 || (!m->cfg->cpu_pin && !shrinking && !m->steering))
        return;
    if (m->steer.active)
        return;   /* the eBPF program steers only to slots in use (share_table_t.nslots) */
    struct sock_filter code[2 * MAX_SLOTS + 3];
    unsigned n = 0, count = m->nslots;
    if (m->cfg->cpu_pin) {
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                                 (uint32_t)(SKF_AD_OFF + SKF_AD_CPU));
        for (unsigned k = 0; k < count; k++) {
            if (m->slots[k].cpu < 0)
                continue;
            code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                     (uint32_t)m->slots[k].cpu, 0, 1);
            code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, k);
        }
    } else {
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                                 (uint32_t)(SKF_AD_OFF + SKF_AD_RXHASH));
    }
    code[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, count);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = code};
    for (unsigned b = 0; b < m->nbinds; b++)
        if (setsockopt(m->slots[0].listeners[b].fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
                       sizeof(prog)) < 0)
            log_warning("cannot attach the %s program to %s: %s",
                        m->cfg->cpu_pin ? "CPU steering" : "connection steering",
                        m->cfg->binds[b].spec, strerror(errno));
    m->steering = true;
}

/* Brings the number of slots to the target, within the memory budget. */
static void apply_target(master_t *m)
{
    unsigned want = m->target < memory_cap(m) ? m->target : memory_cap(m);
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
    place_slots(m, want);
    while (m->nslots < want) {
        if (!m->footprint_bytes && m->nslots >= 1)
            break;
        char err[600];
        if (open_slot(m, m->nslots, err, sizeof(err)) < 0) {
            log_error("cannot add a worker: %s", err);
            break;
        }
        m->nslots++;
    }
    /* shrink from the top: the highest slot's worker drains and its listener closes */
    while (m->nslots > want && m->nslots > 1) {
        unsigned k = --m->nslots;
        for (unsigned i = 0; i < 2 * MAX_SLOTS; i++)
            if (m->procs[i].pid > 0 && m->procs[i].slot == k) {
                m->procs[i].retire = RETIRE_SCALE_DOWN;
                m->procs[i].term_at_ms = sb_now_ms() + STEER_SETTLE_MS;
            }
        m->slots[k].active = false;   /* listeners close once its worker is gone */
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
            proc_t *cur = current_of(m, k);
            orphan = m->stopping || !cur || !is_ready(m, cur);
        }
        if (t->orphan[k] != orphan) {
            __atomic_store_n(&t->orphan[k], orphan, __ATOMIC_RELAXED);
            changed = true;
        }
        if (!orphan && k >= m->nslots)
            continue;
        if (orphan && !current_of(m, k)) {
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
        if (m->procs[i].pid > 0)
            kill(m->procs[i].pid, WORKER_SIG_TOPOLOGY);
}

static void supervise(master_t *m, uint64_t now)
{
    for (unsigned k = 0; k < MAX_SLOTS; k++) {
        slot_t *s = &m->slots[k];
        if (!s->active) {
            /* a scaled-away slot keeps its listeners until its last worker has left, so
             * that worker can still answer the connections it accepted */
            if (s->listeners) {
                bool busy = false;
                for (unsigned i = 0; i < 2 * MAX_SLOTS && !busy; i++)
                    busy = m->procs[i].pid > 0 && m->procs[i].slot == k;
                if (!busy)
                    close_slot(m, k);
            }
            continue;
        }
        proc_t *cur = current_of(m, k);
        if (!cur) {
            if (now >= s->respawn_at_ms && !memory_pressure_high(m, now))
                spawn(m, k);
            continue;
        }
        if (!is_ready(m, cur))
            continue;
        sb_slot_t *sb = &m->sb.slots[cur->sb_index];
        if (cur->request_limit && (sb_get64(&sb->requests) >= cur->request_limit ||
                                   sb_get(&sb->limit_reached)))
            request_retire(m, cur, RETIRE_MAX_REQUESTS);
        if (m->cfg->max_worker_lifetime > 0 &&
            now - cur->started_ms > (uint64_t)(m->cfg->max_worker_lifetime * 1000))
            request_retire(m, cur, RETIRE_LIFETIME);
        if (!cur->retire || cur->has_successor)
            continue;
        /* With work sharing a worker being recycled has already stopped taking work:
         * holding its successor back would only leave its share undone. */
        if (cur->retire != RETIRE_RELOAD && !m->sharing && recycle_in_progress(m))
            continue;
        if (memory_pressure_high(m, now))
            continue;
        /* The successor starts while the old worker still serves; the old one is told
         * to drain only when the successor is accepting (below). */
        log_info("Replacing worker (pid:%d): %s", (int)cur->pid, reason_names[cur->retire]);
        if (spawn(m, k))
            cur->has_successor = true;
    }
    /* an old worker whose successor is accepting now drains; so does a scaled-away one
     * once connections have stopped coming its way */
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++) {
        proc_t *p = &m->procs[i];
        if (p->pid > 0 && p->term_at_ms && now >= p->term_at_ms) {
            p->term_at_ms = 0;
            retire_now(m, p, SIGTERM, graceful_ms(m));
        }
        if (p->pid <= 0 || !p->has_successor || p->draining)
            continue;
        proc_t *succ = current_of(m, p->slot);
        if (succ && succ != p && is_ready(m, succ))
            retire_now(m, p, SIGTERM, graceful_ms(m));
        else if (!succ || succ == p)
            p->has_successor = false;   /* the successor died; try again */
    }
}

/* ---- signals ------------------------------------------------------------------------ */

/* A relative --access-logfile is taken from the directory the server was started in, as
 * the error log is, however --chdir (or --preload's import) moves the workers later; USR1
 * then reopens the same file too. */
static void absolute_accesslog(tun_config_t *cfg)
{
    if (!cfg->accesslog || cfg->accesslog[0] == '/' || strcmp(cfg->accesslog, "-") == 0)
        return;
    char cwd[4096];
    if (!getcwd(cwd, sizeof(cwd)))
        return;
    size_t n = strlen(cwd) + strlen(cfg->accesslog) + 2;
    char *abs = uf_malloc(n);
    snprintf(abs, n, "%s/%s", cwd, cfg->accesslog);
    uf_free(cfg->accesslog);
    cfg->accesslog = abs;
}

/* HUP: re-read the settings and replace every worker, each one only after its successor
 * accepts. Settings that need a restart keep their old value, with a warning. */
static void reload(master_t *m)
{
    tun_config_t fresh;
    char err[512];
    int r = tun_parse(&fresh, m->argc, m->argv, m->envp, stdout, err, sizeof(err));
    const char *warning = NULL;
    if (r == TUN_OK && stats_check_config(&fresh, &warning, err, sizeof(err)) < 0) {
        tun_config_free(&fresh);
        r = TUN_ERROR;
    }
    if (r == TUN_OK)
        absolute_accesslog(&fresh);
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
        if (!binds_same)
            log_warning("Reload: --bind changes need a restart; keeping the current listeners");
        /* listeners keep the old addresses, whatever the new file says */
        tun_bind_t *binds = fresh.binds;
        size_t count = fresh.bind_count;
        fresh.binds = m->cfg->binds;
        fresh.bind_count = m->cfg->bind_count;
        m->cfg->binds = binds;
        m->cfg->bind_count = count;
        tun_config_free(m->cfg);
        *m->cfg = fresh;
        m->target = (unsigned)m->cfg->workers;
    }
    m->generation++;
    log_info("Handling signal: hup; reloading (generation %u)", m->generation);
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++)
        if (m->procs[i].pid > 0 && !m->procs[i].draining)
            m->procs[i].retire = RETIRE_RELOAD;
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
        begin_stop(m, SIGQUIT, FAST_STOP_MS);
        break;
    case SIGHUP:
        if (!m->stopping)
            reload(m);
        break;
    case SIGUSR1:
        log_reopen();
        log_info("Handling signal: usr1; log files reopened");
        for (unsigned i = 0; i < 2 * MAX_SLOTS; i++)
            if (m->procs[i].pid > 0)
                kill(m->procs[i].pid, SIGUSR1);
        break;
    case SIGTTIN:
        if (m->target < MAX_SLOTS)
            m->target++;
        log_info("Handling signal: ttin; %u worker%s wanted", m->target, m->target == 1 ? "" : "s");
        apply_target(m);
        break;
    case SIGTTOU:
        if (m->target > 1)
            m->target--;
        log_info("Handling signal: ttou; %u worker%s wanted", m->target, m->target == 1 ? "" : "s");
        apply_target(m);
        break;
    default:
        break;   /* CHLD: reaped at the top of the loop; PIPE, USR2: nothing to do */
    }
}

/* Registered send buffers are locked memory, charged to RLIMIT_MEMLOCK of the user
 * unless the process holds CAP_IPC_LOCK. Says exactly what to raise when the workers'
 * arenas do not fit; the workers then send without zero-copy. */
static void check_memlock(const master_t *m)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    FILE *f = fopen("/proc/self/status", "r");
    unsigned long long cap_eff = 0;
    if (f) {
        char line[256];
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "CapEff: %llx", &cap_eff) == 1)
                break;
        fclose(f);
    }
    if (cap_eff & (1ULL << CAP_IPC_LOCK_BIT))
        return;
    unsigned long long need =
        (unsigned long long)m->target * ring_arena_bytes(WORKER_ZC_BLOCKS, WORKER_ZC_BLOCK_SIZE);
    if (need <= rl.rlim_cur)
        return;
    log_warning("RLIMIT_MEMLOCK is %llu KiB but %u workers need %llu KiB of registered send "
                "buffers; zero-copy sends are off. Raise it: ulimit -l %llu (shell), "
                "LimitMEMLOCK=%lluK (systemd), or --ulimit memlock=%llu (docker)",
                (unsigned long long)rl.rlim_cur >> 10, m->target, need >> 10, (need >> 10) + 1024,
                (need >> 10) + 1024, need + (1ULL << 20));
}

static void write_pidfile(const char *path)
{
    if (!path)
        return;
    FILE *f = fopen(path, "w");
    if (!f) {
        log_error("cannot write the pid file %s: %s", path, strerror(errno));
        return;
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
}

/* --preload: the application is imported here, once, and the workers inherit it. An
 * import error has printed its traceback; the master stops before forking anything. */
static int preload_app(const tun_config_t *cfg)
{
    char err[512];
    py_interp_options_t opts = worker_python_options(cfg);
    if (py_preload(&opts, cfg->app, err, sizeof(err)) < 0) {
        log_error("App failed to load: %s", err);
        return -1;
    }
    return 0;
}

/* ---- observability ------------------------------------------------------------------ */

/* What /metrics, /stats and /ready are made of: the live workers and their listeners,
 * with the accept queues sampled now, so that rendering is pure (src/metrics.h). */
static void fill_view(void *ctx, metrics_view_t *v)
{
    master_t *m = ctx;
    unsigned ns = 0, nw = 0;
    for (unsigned k = 0; k < MAX_SLOTS; k++) {
        const slot_t *s = &m->slots[k];
        if (!s->listeners)
            continue;
        metrics_queue_t *q = &m->view_queues[(size_t)k * m->nbinds];
        for (unsigned b = 0; b < m->nbinds; b++)
            stats_accept_queue(s->listeners[b].fd, &q[b].length, &q[b].limit);
        m->view_slots[ns++] = (metrics_slot_t){.index = k,
                                               .listeners = s->listeners,
                                               .queues = q,
                                               .nlisteners = m->nbinds,
                                               .cpu = s->cpu,
                                               .leaving = !s->active};
    }
    for (unsigned i = 0; i < 2 * MAX_SLOTS; i++) {
        const proc_t *p = &m->procs[i];
        if (p->pid <= 0)
            continue;
        /* fresh, not the last 250 ms sample: a scrape is rare and may follow a boot */
        sb_set64(&m->sb.slots[p->sb_index].rss_bytes, budget_rss_bytes(p->pid));
        m->view_workers[nw++] = (metrics_worker_t){
            .slot = p->slot, .pid = p->pid, .sb = &m->sb.slots[p->sb_index]};
    }
    *v = (metrics_view_t){
        .cfg = m->cfg,
        .pid = (int)getpid(),
        .start_time = m->start_time,
        .stopping = m->stopping,
        .retired = &m->retired,
        .slots = m->view_slots,
        .nslots = ns,
        .workers = m->view_workers,
        .nworkers = nw,
        .recycles = m->recycles,
        .recycle_names = recycle_labels,
        .master_ship_sent = m->out.ship.sent_local,
        .master_ship_dropped = m->out.ship.dropped_local,
        .master_statsd_dropped = m->out.statsd.dropped_local,
        .budget_bytes = m->budget_bytes,
        .footprint_bytes = m->footprint_bytes,
        .sharing = m->sharing,
        .shared_queue = m->sharing ? __atomic_load_n(&m->share.table->queued, __ATOMIC_RELAXED) : 0,
    };
}

/* Once a second, what gunicorn's arbiter reports: the number of workers, and with
 * --enable-backlog-metric the connections waiting in the accept queues. */
static void statsd_push(master_t *m, uint64_t now)
{
    if (!m->out.statsd_on || now < m->next_statsd_ms)
        return;
    m->next_statsd_ms = now + 1000;
    stats_outputs_statsd(&m->out, "gunicorn.workers:%u|g", count_live(m));
    if (m->cfg->enable_backlog_metric) {
        uint64_t waiting = 0;
        for (unsigned k = 0; k < MAX_SLOTS; k++)
            for (unsigned b = 0; m->slots[k].listeners && b < m->nbinds; b++) {
                uint32_t len, limit;
                stats_accept_queue(m->slots[k].listeners[b].fd, &len, &limit);
                waiting += len;
            }
        stats_outputs_statsd(&m->out, "gunicorn.backlog:%llu|ms", (unsigned long long)waiting);
    }
}

/* --stats-bind, --log-target and --statsd-host in the master. Returns 0, or -1 with err. */
static int start_observability(master_t *m, char *err, size_t errlen)
{
    const tun_config_t *cfg = m->cfg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->start_time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    m->view_slots = uf_calloc(MAX_SLOTS, sizeof(metrics_slot_t));
    m->view_workers = uf_calloc(2 * MAX_SLOTS, sizeof(metrics_worker_t));
    m->view_queues = uf_calloc((size_t)MAX_SLOTS * m->nbinds, sizeof(metrics_queue_t));
    m->stats.fd = -1;
    m->out.ship.fd = m->out.statsd.fd = -1;
    if (cfg->stats_bind && scrape_open(&m->stats, cfg->stats_bind, fill_view, m, err, errlen) < 0)
        return -1;
    if (stats_outputs_open(&m->out, cfg, -1, err, errlen) < 0)
        return -1;
    if (m->out.shipping || m->out.statsd_on)
        log_set_sink(stats_outputs_log, &m->out);
    return 0;
}

/* Sends what the master's log target and statsd hold, without blocking. */
static void ship_master(master_t *m, uint64_t now)
{
    if (m->out.shipping) {
        logship_direct_run(&m->out.ship, now);
        logship_report_drops(&m->out.ship, now);
    }
    if (m->out.statsd_on)
        logship_direct_run(&m->out.statsd, now);
}

/* Waits (poll, at most `ms`) for a signal, a stats client or a log socket to be ready. */
static void wait_events(master_t *m, int ms)
{
    struct pollfd pfd[4 + SCRAPE_MAX_CLIENTS];
    unsigned n = 0;
    pfd[n++] = (struct pollfd){.fd = m->sigfd, .events = POLLIN};
    n += scrape_pollfds(&m->stats, pfd + n, SCRAPE_MAX_CLIENTS + 1);
    logship_t *ships[2] = {m->out.shipping ? &m->out.ship : NULL, m->out.statsd_on ? &m->out.statsd : NULL};
    for (int i = 0; i < 2; i++) {
        short ev;
        int fd = ships[i] ? logship_direct_fd(ships[i], &ev) : -1;
        if (fd >= 0 && ev)
            pfd[n++] = (struct pollfd){.fd = fd, .events = ev};
    }
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
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%u: cpu %d", k ? ", " : "", k,
                              s->cpu);
        if (node >= 0)
            n += (size_t)snprintf(line + n, sizeof(line) - n, " node %d", node);
    }
    if (m->pinning)
        log_info("Worker placement (%s): %s%s", cfg->cpu_pin ? "--cpu-pin" : "--numa-pin", line,
                 m->nslots < m->target ? " (the rest once a worker's footprint is measured)" : "");
    else
        log_info("Worker placement: not pinned (--cpu-pin / --numa-pin are off)");
    if (m->sharing)
        log_info("Work sharing: on (a request that would wait goes to an idle worker or the "
                 "shared queue; idle workers accept for booting or dying ones); new connections "
                 "go to %s",
                 cfg->cpu_pin          ? "the worker on the receiving CPU"
                 : m->steer.active     ? "idle workers first (reuseport eBPF)"
                                       : "the listener the kernel's hash picks");
    else
        log_info("Work sharing: off (each worker serves only its own connections)");
    if (cfg->accesslog)
        log_info("Access log: %s (%s)", strcmp(cfg->accesslog, "-") ? cfg->accesslog : "stdout",
                 cfg->access_log_json ? "JSON" : "text");
    if (m->out.shipping)
        log_info("Log target: %s (%s)", cfg->log_target,
                 m->out.ship.rfc5424 ? "RFC 5424" : "JSON");
    if (m->stats.fd >= 0)
        log_info("Stats: http://%s/metrics (Prometheus), /stats (JSON), /health, /ready",
                 m->stats.addr);
    if (m->out.statsd_on)
        log_info("statsd: %s%s%s", cfg->statsd_host, m->out.prefix[0] ? ", prefix " : "",
                 m->out.prefix);
    if (cfg->health_path || cfg->ready_path) {
        char sat[64] = "";
        if (cfg->ready_saturation > 0)
            snprintf(sat, sizeof(sat), ", saturated above %d", cfg->ready_saturation);
        log_info("Probes: health %s, ready %s%s", cfg->health_path ? cfg->health_path : "off",
                 cfg->ready_path ? cfg->ready_path : "off", sat);
    }
}

int master_run(tun_config_t *cfg, int argc, char **argv, char **envp)
{
    static master_t m;   /* the one master context */
    char err[600];
    m.cfg = cfg;
    m.argc = argc;
    m.argv = argv;
    m.envp = envp;
    m.nbinds = (unsigned)cfg->bind_count;
    m.target = (unsigned)cfg->workers;

    /* settings the table cannot check (formats, addresses): wrong is exit 2, as a bad flag */
    const char *warning;
    if (stats_check_config(cfg, &warning, err, sizeof(err)) < 0) {
        fprintf(stderr, "uwsgi-fast: %s\n", err);
        return 2;
    }
    absolute_accesslog(cfg);
    if (log_init(cfg->error_logfile, cfg->log_level, err, sizeof(err)) < 0) {
        fprintf(stderr, "uwsgi-fast: %s\n", err);
        return 1;
    }
    if (start_observability(&m, err, sizeof(err)) < 0) {
        log_critical("%s", err);
        return 1;
    }
    log_info("Starting uwsgi-fast %s", UF_VERSION);
    if (warning)
        log_warning("%s", warning);

    ring_features_t features;
    if (ring_probe(&features, err, sizeof(err)) < 0) {
        log_critical("%s", err);
        return 1;
    }
    char desc[256];
    ring_features_describe(&features, desc, sizeof(desc));
    log_info("io_uring features: %s", desc);
    if (read_sysctl("/proc/sys/net/ipv4/tcp_migrate_req") == 0)
        log_info("net.ipv4.tcp_migrate_req is 0: a scale-down (TTOU) may reset connections "
                 "queued on the listener it closes; enable it with: sysctl -w "
                 "net.ipv4.tcp_migrate_req=1");

    if (tun_host_read("/", &m.host) < 0)
        memset(&m.host, 0, sizeof(m.host));
    uint64_t limit = m.host.mem_limit && (!m.host.mem_total || m.host.mem_limit < m.host.mem_total)
                         ? m.host.mem_limit
                         : m.host.mem_total;
    uint64_t reserve = (uint64_t)cfg->memory_reserve_mb << 20;
    m.budget_bytes = limit > reserve ? limit - reserve : 0;
    log_info("Memory budget: %llu MB (%s: %llu MB, minus a %d MB reserve)",
             (unsigned long long)(m.budget_bytes >> 20),
             limit == m.host.mem_limit && limit ? m.host.mem_limit_from : "MemTotal",
             (unsigned long long)(limit >> 20), cfg->memory_reserve_mb);
    m.pinning = cfg->cpu_pin || cfg->numa_pin;

    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < UF_ARRAY_LEN(handled_signals); i++)
        sigaddset(&set, handled_signals[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    /* Still no handler: the blocked signals are read from a descriptor, so the loop can
     * wait for them and for the stats port and log sockets in one poll, and none is lost
     * between two waits (a pending signal keeps the descriptor readable). */
    m.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (m.sigfd < 0) {
        log_critical("signalfd failed: %s", strerror(errno));
        return 1;
    }

    /* listeners of the first slot: they decide the port when the bind asked for port 0 */
    for (unsigned b = 0; b < m.nbinds; b++) {
        if (check_address_free(&cfg->binds[b], err, sizeof(err)) < 0) {
            log_critical("%s", err);
            return 1;
        }
    }
    m.sharing = cfg->work_sharing;
    m.steer.table_map = -1;
    if (m.sharing && !cfg->cpu_pin &&
        steer_open(&m.steer, sizeof(share_table_t), m.nbinds, offsetof(share_table_t, nslots),
                   offsetof(share_table_t, free), SHARE_MAX_SLOTS, err, sizeof(err)) < 0)
        log_info("Steering to idle workers is off (%s): new connections are spread by the "
                 "kernel's hash and passed on by busy workers", err);
    if (m.sharing) {
        int rc = share_create(&m.share, m.nbinds, m.steer.table);
        if (rc < 0) {
            log_critical("work sharing: cannot map the share table: %s", strerror(-rc));
            return 1;
        }
        if (share_open_inbox(&m.share, SHARE_QUEUE, err, sizeof(err)) < 0) {
            log_critical("%s", err);
            return 1;
        }
        /* a worker forked before its handler is installed must not die of it */
        sigset_t topo;
        sigemptyset(&topo);
        sigaddset(&topo, WORKER_SIG_TOPOLOGY);
        sigprocmask(SIG_BLOCK, &topo, NULL);
    }
    m.slots = uf_calloc(MAX_SLOTS, sizeof(slot_t));
    for (unsigned k = 0; k < MAX_SLOTS; k++)
        m.slots[k].cpu = -1;
    m.procs = uf_calloc(2 * MAX_SLOTS, sizeof(proc_t));
    if (open_slot(&m, 0, err, sizeof(err)) < 0) {
        log_critical("%s", err);
        return 1;
    }
    m.nslots = 1;
    for (unsigned b = 0; b < m.nbinds; b++) {
        const worker_listener_t *l = &m.slots[0].listeners[b];
        bool v6 = cfg->binds[b].addr.ss_family == AF_INET6;
        log_info("Listening at: http://%s%s%s:%d (%d)", v6 ? "[" : "", l->host, v6 ? "]" : "",
                 l->port, (int)getpid());
    }
    if (sb_create(&m.sb, 2 * MAX_SLOTS) < 0) {
        log_critical("cannot map the scoreboard: %s", strerror(errno));
        return 1;
    }
    if (cfg->preload && preload_app(cfg) < 0)
        return 4;
    check_memlock(&m);
    write_pidfile(cfg->pidfile);
    srandom((unsigned)getpid() ^ (unsigned)time(NULL));
    log_info("Using %s%u worker%s", cfg->workers_auto ? "up to " : "", m.target,
             m.target == 1 ? "" : "s");
    apply_target(&m);
    banner(&m);

    for (;;) {
        reap(&m);
        uint64_t now = sb_now_ms();
        if (m.stopping) {
            if (count_live(&m) == 0)
                break;
        } else {
            sample_memory(&m, now);
            if (m.footprint_bytes && m.nslots < m.target)
                apply_target(&m);
            supervise(&m, now);
        }
        publish_sharing(&m);
        for (unsigned i = 0; i < 2 * MAX_SLOTS; i++) {
            proc_t *p = &m.procs[i];
            if (p->pid <= 0)
                continue;
            if (!m.stopping)
                check_hung(&m, p, now);
            if (p->kill_at_ms && now >= p->kill_at_ms) {
                log_warning("Worker (pid:%d) did not stop in time; sending SIGKILL", (int)p->pid);
                kill(p->pid, SIGKILL);
                p->kill_at_ms = 0;
            }
        }
        ship_master(&m, now);
        statsd_push(&m, now);
        wait_events(&m, 50);
        struct signalfd_siginfo si;
        while (read(m.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
            handle_signal(&m, (int)si.ssi_signo);
        scrape_run(&m.stats, sb_now_ms());
    }
    log_info("Shutting down: Master");
    /* the master's last lines reach the log target if it takes them within a second */
    for (uint64_t end = sb_now_ms() + 1000; m.out.shipping && sb_now_ms() < end;) {
        ship_master(&m, sb_now_ms());
        if (!m.out.ship.fill.len && !m.out.ship.busy.len)
            break;
        wait_events(&m, 20);
    }
    log_set_sink(NULL, NULL);
    scrape_close(&m.stats);
    logship_free(&m.out.ship);
    logship_free(&m.out.statsd);
    close(m.sigfd);
    for (unsigned k = 0; k < MAX_SLOTS; k++)
        if (m.slots[k].listeners)
            close_slot(&m, k);
    if (cfg->pidfile)
        unlink(cfg->pidfile);
    sb_destroy(&m.sb);
    if (m.sharing)
        share_destroy(&m.share);
    steer_close(&m.steer);
    uf_free(m.procs);
    uf_free(m.slots);
    return m.exit_code;
}
