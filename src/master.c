/* Master: listeners, fork, supervise, signals. */
#include "src/master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/log.h"
#include "src/mem.h"
#include "src/scoreboard.h"
#include "src/worker.h"
#include "uring/ring.h"

/* Respawning a worker that dies before it is ready backs off exponentially from this,
 * and gives up after this many failures in a row, so a broken deploy cannot fork-bomb
 * the host. */
#define RESPAWN_BACKOFF_MS 100
#define MAX_BOOT_FAILURES 5
/* After INT/QUIT, workers get this long to exit before SIGKILL. */
#define FAST_STOP_MS 1000

typedef struct worker_proc {
    pid_t pid;
    unsigned generation;
    unsigned boot_failures;
    uint64_t respawn_at_ms;
    bool retiring;              /* sent TERM for a restart; its successor follows */
} worker_proc_t;

typedef struct master {
    tun_config_t *cfg;
    scoreboard_t sb;
    unsigned nworkers;
    unsigned nbinds;
    worker_listener_t *listeners;   /* nworkers x nbinds, slot-major */
    worker_proc_t *procs;
    unsigned generation;
    bool stopping;
    bool killed;
    uint64_t stop_deadline_ms;
    int exit_code;
} master_t;

static const int handled_signals[] = {SIGTERM, SIGINT,  SIGQUIT, SIGHUP,  SIGCHLD,
                                      SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGPIPE};

static void describe_addr(const struct sockaddr *sa, char *host, size_t hostlen, int *port)
{
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, (socklen_t)hostlen);
        *port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, (socklen_t)hostlen);
        *port = ntohs(s4->sin_port);
    }
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

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

static int open_listener(struct sockaddr_storage *addr, socklen_t addrlen, int backlog,
                         const char *spec, char *err, size_t errlen)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    /* responses leave in one send; Nagle would only delay the tail of streamed ones.
     * Accepted sockets inherit the option, saving a setsockopt per connection. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)addr, addrlen) < 0 || listen(fd, backlog) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Opens nworkers x nbinds listeners, in slot order. Port 0 means "any": the first socket
 * picks the port and the others share it. */
static int open_listeners(master_t *m, char *err, size_t errlen)
{
    m->listeners = uf_calloc((size_t)m->nworkers * m->nbinds, sizeof(worker_listener_t));
    for (unsigned b = 0; b < m->nbinds; b++) {
        tun_bind_t *bind_cfg = &m->cfg->binds[b];
        struct sockaddr_storage addr = bind_cfg->addr;
        char host[64];
        int port;
        describe_addr((struct sockaddr *)&addr, host, sizeof(host), &port);
        if (port != 0 && check_address_free(bind_cfg, err, errlen) < 0)
            return -1;
        for (unsigned k = 0; k < m->nworkers; k++) {
            int fd = open_listener(&addr, bind_cfg->addrlen, m->cfg->backlog, bind_cfg->spec,
                                   err, errlen);
            if (fd < 0)
                return -1;
            if (port == 0) {
                socklen_t len = bind_cfg->addrlen;
                getsockname(fd, (struct sockaddr *)&addr, &len);
                describe_addr((struct sockaddr *)&addr, host, sizeof(host), &port);
                set_port(&addr, port);
                bind_cfg->addr = addr;
            }
            worker_listener_t *l = &m->listeners[k * m->nbinds + b];
            l->fd = fd;
            snprintf(l->host, sizeof(l->host), "%s", host);
            l->port = port;
        }
        log_info("Listening at: http://%s%s%s:%d (%d)", addr.ss_family == AF_INET6 ? "[" : "",
                 host, addr.ss_family == AF_INET6 ? "]" : "", port, (int)getpid());
    }
    return 0;
}

static void spawn(master_t *m, unsigned k)
{
    worker_proc_t *p = &m->procs[k];
    sb_slot_t *slot = &m->sb.slots[k];
    memset(slot, 0, sizeof(*slot));
    p->generation = m->generation;
    p->retiring = false;
    sb_set(&slot->generation, p->generation);
    sb_set(&slot->state, SB_BOOTING);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork failed: %s; retrying", strerror(errno));
        p->respawn_at_ms = sb_now_ms() + RESPAWN_BACKOFF_MS;
        return;
    }
    if (pid == 0) {
        /* a worker holds only its own slot's listeners */
        for (unsigned j = 0; j < m->nworkers * m->nbinds; j++)
            if (j / m->nbinds != k)
                close(m->listeners[j].fd);
        slot->pid = (int32_t)getpid();
        worker_main(m->cfg, slot, k, &m->listeners[k * m->nbinds], m->nbinds);
    }
    p->pid = pid;
    slot->pid = (int32_t)pid;
    log_info("Booting worker with pid: %d", (int)pid);
}

static void signal_workers(master_t *m, int sig)
{
    for (unsigned k = 0; k < m->nworkers; k++)
        if (m->procs[k].pid > 0)
            kill(m->procs[k].pid, sig);
}

static void begin_stop(master_t *m, int sig, uint64_t grace_ms)
{
    if (m->stopping && sig == SIGTERM)
        return;
    m->stopping = true;
    m->stop_deadline_ms = sb_now_ms() + grace_ms;
    signal_workers(m, sig);
}

static void halt(master_t *m, int code, const char *why)
{
    log_error("%s", why);
    m->exit_code = code;
    begin_stop(m, SIGQUIT, FAST_STOP_MS);
}

/* A worker exited: decide between respawn now, respawn later, and giving up. */
static void on_worker_exit(master_t *m, unsigned k, int status)
{
    worker_proc_t *p = &m->procs[k];
    sb_slot_t *slot = &m->sb.slots[k];
    bool was_ready = sb_get(&slot->state) >= SB_READY;
    pid_t pid = p->pid;
    p->pid = 0;
    if (m->stopping)
        return;
    if (WIFSIGNALED(status))
        log_error("Worker (pid:%d) was sent %s!", (int)pid, sigabbrev_np(WTERMSIG(status))
                                                                 ? sigabbrev_np(WTERMSIG(status))
                                                                 : "a signal");
    else if (WEXITSTATUS(status) != 0 || !p->retiring)
        log_info("Worker (pid:%d) exited with code %d", (int)pid, WEXITSTATUS(status));

    if (was_ready) {
        p->boot_failures = 0;
        p->respawn_at_ms = 0;
        return;
    }
    char why[600];
    if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_APP_LOAD) {
        snprintf(why, sizeof(why), "App failed to load: %s", slot->boot_error);
        halt(m, 4, why);
        return;
    }
    p->boot_failures++;
    if (p->boot_failures >= MAX_BOOT_FAILURES) {
        snprintf(why, sizeof(why), "Worker failed to boot %u times in a row, giving up: %s",
                 p->boot_failures,
                 slot->boot_error[0] ? slot->boot_error : "it died before it was ready");
        halt(m, 3, why);
        return;
    }
    uint64_t delay = (uint64_t)RESPAWN_BACKOFF_MS << (p->boot_failures - 1);
    p->respawn_at_ms = sb_now_ms() + delay;
    log_warning("Worker failed to boot; retrying in %llu ms", (unsigned long long)delay);
}

static void reap(master_t *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (unsigned k = 0; k < m->nworkers; k++) {
            if (m->procs[k].pid == pid) {
                on_worker_exit(m, k, status);
                break;
            }
        }
        /* anything else is a stray reparented to us as PID 1: reaping it is all */
    }
}

static bool any_alive(const master_t *m)
{
    for (unsigned k = 0; k < m->nworkers; k++)
        if (m->procs[k].pid > 0)
            return true;
    return false;
}

/* HUP: every worker drains and is replaced by a fresh one that re-imports the
 * application. Listeners stay open throughout, so connections arriving meanwhile wait in
 * the accept queue rather than being refused. */
static void restart_workers(master_t *m)
{
    m->generation++;
    log_info("Handling signal: hup; restarting workers (generation %u)", m->generation);
    for (unsigned k = 0; k < m->nworkers; k++) {
        if (m->procs[k].pid > 0) {
            m->procs[k].retiring = true;
            kill(m->procs[k].pid, SIGTERM);
        }
    }
}

static void handle_signal(master_t *m, int sig)
{
    switch (sig) {
    case SIGTERM:
        log_info("Handling signal: term");
        begin_stop(m, SIGTERM, (uint64_t)(m->cfg->graceful_timeout * 1000));
        break;
    case SIGINT:
    case SIGQUIT:
        log_info("Handling signal: %s", sig == SIGINT ? "int" : "quit");
        begin_stop(m, SIGQUIT, FAST_STOP_MS);
        break;
    case SIGHUP:
        if (!m->stopping)
            restart_workers(m);
        break;
    case SIGUSR1:
        log_reopen();
        log_info("Handling signal: usr1; log files reopened");
        signal_workers(m, SIGUSR1);
        break;
    case SIGTTIN:
    case SIGTTOU:
        log_warning("Handling signal: %s: changing the worker count at run time is not "
                    "supported yet; ignored",
                    sig == SIGTTIN ? "ttin" : "ttou");
        break;
    default:
        break;   /* CHLD: reaped at the top of the loop; PIPE, USR2: nothing to do */
    }
}

int master_run(tun_config_t *cfg)
{
    static master_t m;   /* the one master context */
    char err[600];
    m.cfg = cfg;
    m.nworkers = (unsigned)cfg->workers;
    m.nbinds = (unsigned)cfg->bind_count;

    if (log_init(cfg->error_logfile, cfg->log_level, err, sizeof(err)) < 0) {
        fprintf(stderr, "uwsgi-fast: %s\n", err);
        return 1;
    }
    log_info("Starting uwsgi-fast %s", UF_VERSION);

    ring_features_t features;
    if (ring_probe(&features, err, sizeof(err)) < 0) {
        log_critical("%s", err);
        return 1;
    }
    char desc[256];
    ring_features_describe(&features, desc, sizeof(desc));
    log_info("io_uring features: %s", desc);

    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < UF_ARRAY_LEN(handled_signals); i++)
        sigaddset(&set, handled_signals[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);

    if (open_listeners(&m, err, sizeof(err)) < 0) {
        log_critical("%s", err);
        return 1;
    }
    if (sb_create(&m.sb, m.nworkers) < 0) {
        log_critical("cannot map the scoreboard: %s", strerror(errno));
        return 1;
    }
    m.procs = uf_calloc(m.nworkers, sizeof(worker_proc_t));
    log_info("Using %u worker%s", m.nworkers, m.nworkers == 1 ? "" : "s");
    for (unsigned k = 0; k < m.nworkers; k++)
        spawn(&m, k);

    for (;;) {
        reap(&m);
        uint64_t now = sb_now_ms();
        if (m.stopping) {
            if (!any_alive(&m))
                break;
            if (now >= m.stop_deadline_ms && !m.killed) {
                log_warning("Workers did not stop in time; sending SIGKILL");
                signal_workers(&m, SIGKILL);
                m.killed = true;
            }
        } else {
            for (unsigned k = 0; k < m.nworkers; k++)
                if (m.procs[k].pid == 0 && now >= m.procs[k].respawn_at_ms)
                    spawn(&m, k);
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &ts);
        if (sig > 0)
            handle_signal(&m, sig);
    }
    log_info("Shutting down: Master");
    for (unsigned j = 0; j < m.nworkers * m.nbinds; j++)
        close(m.listeners[j].fd);
    sb_destroy(&m.sb);
    uf_free(m.procs);
    uf_free(m.listeners);
    return m.exit_code;
}
