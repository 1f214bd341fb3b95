/* The worker process: setup, the completion loop, deadlines, drain. */
#include "src/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <linux/mempolicy.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/probes.h"
#include "python_bridge/asgi.h"
#include "python_bridge/hooks.h"
#include "src/asgiconn.h"
#include "src/handoff.h"
#include "src/loopcall.h"
#include "src/pool.h"
#include "src/reloader.h"

/* How long the loop sleeps at most, so the heartbeat the master watches stays fresh. */
#define MAX_WAIT_MS 1000
/* After our FIN we wait this long for the client's before closing anyway. */
#define LINGER_TIMEOUT_MS 2000
/* At drain, an idle keep-alive connection waits this long (at most its keep-alive) for a
 * request that may already be in flight before it is closed. */
#define DRAIN_GRACE_MS 1000

/* Signal handlers can reach no context but a file-local one: they set a flag and poke
 * the eventfd the ring is reading, which wakes the loop (never a missed wake-up). */
static struct {
    volatile sig_atomic_t term;
    volatile sig_atomic_t quit;
    volatile sig_atomic_t reopen;
    volatile sig_atomic_t topology; /* the master changed which listeners are orphaned */
    volatile sig_atomic_t abort;    /* SIGABRT, with worker_abort defined: Python's handler
                                       runs it once the main thread checks */
    int wake_fd;
} pending = {.wake_fd = -1};

/* Python's own SIGABRT handler (it only notes the signal), called from ours. */
static struct sigaction python_abort;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGABRT) {
        pending.abort = 1;
        python_abort.sa_handler(sig);
    } else if (sig == SIGTERM)
        pending.term = 1;
    else if (sig == SIGUSR1)
        pending.reopen = 1;
    else if (sig == WORKER_SIG_TOPOLOGY)
        pending.topology = 1;
    else
        pending.quit = 1;
    uint64_t one = 1;
    if (write(pending.wake_fd, &one, sizeof(one)) < 0) {
        /* the counter cannot overflow in practice; nothing else is safe to do here */
    }
    errno = saved;
}

/* worker_abort is defined and Python handles SIGABRT now: ours goes in front, so that
 * the loop wakes up and lets the main thread run Python's handler even when no
 * application code is running on it. */
static void chain_abort_signal(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, &python_abort);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(WORKER_SIG_TOPOLOGY, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    /* these are the master's to act on; a worker must not die of them */
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGTTIN, &sa, NULL);
    sigaction(SIGTTOU, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The one worker context, reachable from the fork handler below. */
static worker_t *current_worker;

/* The engine the master chose (preflight_ring). With --engine auto a worker whose
 * io_uring fails after all (a --user the kernel does not admit, RLIMIT_MEMLOCK of the
 * user) serves on epoll rather than failing to boot, and says why. */
static int setup_ring(worker_t *w, char *err, size_t errlen)
{
    const tun_config_t *cfg = w->cfg;
    unsigned bufs = (unsigned)cfg->recv_buffers, size = (unsigned)cfg->recv_buffer_size;
    if (cfg->engine_epoll)
        return ring_init_epoll(&w->ring, bufs, size, err, errlen);
    int ret = ring_init_ex(&w->ring, (unsigned)cfg->ring_entries, bufs, size,
                           w->asgi ? RING_INIT_POLLED : 0, err, errlen);
    if (ret < 0 && (!cfg->engine || strcmp(cfg->engine, "auto") == 0)) {
        log_warning("Engine: epoll for this worker, since its ring failed (--engine auto): %s",
                    err);
        ret = ring_init_epoll(&w->ring, bufs, size, err, errlen);
    }
    return ret;
}

/* A child the application forks must not inherit a usable ring or our eventfd. */
static void forget_after_fork(void)
{
    if (!current_worker)
        return;
    ring_forget_after_fork(&current_worker->ring);
    close(current_worker->wake_fd);
    if (current_worker->pool)
        close(pool_event_fd(current_worker->pool)); /* its threads are not in the child */
    current_worker = NULL;
}

static _Noreturn void boot_failed(worker_t *w, int code, const char *why)
{
    snprintf(w->sb->boot_error, sizeof(w->sb->boot_error), "%s", why);
    log_error("Worker failed to boot: %s", why);
    py_hooks_worker_exit(); /* gunicorn calls it on every way out */
    _exit(code);
}

void worker_timer_disarm(worker_t *w, conn_t *c)
{
    if (c->timer == CONN_TIMER_NONE)
        return;
    timer_queue_t *q = &w->timers[c->timer];
    if (c->timer_prev)
        c->timer_prev->timer_next = c->timer_next;
    else
        q->head = c->timer_next;
    if (c->timer_next)
        c->timer_next->timer_prev = c->timer_prev;
    else
        q->tail = c->timer_prev;
    c->timer_prev = c->timer_next = NULL;
    c->timer = CONN_TIMER_NONE;
}

void worker_timer_arm(worker_t *w, conn_t *c, int timer)
{
    worker_timer_disarm(w, c);
    timer_queue_t *q = &w->timers[timer];
    c->deadline_ms = w->now_ms + q->duration_ms;
    c->timer = (int8_t)timer;
    c->timer_prev = q->tail;
    c->timer_next = NULL;
    if (q->tail)
        q->tail->timer_next = c;
    else
        q->head = c;
    q->tail = c;
}

static int next_timeout_ms(worker_t *w)
{
    int timeout = MAX_WAIT_MS;
    int flush = stats_timeout_ms(w); /* a batch of log lines falling due */
    if (flush < timeout)
        timeout = flush;
    for (int i = 0; i < CONN_TIMER_COUNT; i++) {
        const conn_t *head = w->timers[i].head;
        if (!head)
            continue;
        int64_t left = (int64_t)head->deadline_ms - (int64_t)w->now_ms;
        if (left < timeout)
            timeout = left < 0 ? 0 : (int)left;
    }
    if (w->park_head) {
        /* a parked request may go to a sibling once it has waited SHARE_PARK_MS; after
         * that, look for a free one every millisecond */
        int64_t left = (int64_t)(w->park_head->parked_ms + SHARE_PARK_MS) - (int64_t)w->now_ms;
        int wait = left > 1 ? (int)left : 1; /* a request that cannot travel: 1 ms */
        if (wait < timeout)
            timeout = wait;
    }
    if (w->pool && w->oldest_ms && w->cfg->timeout > 0 && !w->timed_out) {
        int64_t left =
            (int64_t)(w->oldest_ms + (uint64_t)(w->cfg->timeout * 1000)) - (int64_t)w->now_ms;
        if (left < timeout)
            timeout = left < 0 ? 0 : (int)left;
    }
    return timeout;
}

static void expire_timers(worker_t *w)
{
    for (int i = 0; i < CONN_TIMER_COUNT; i++) {
        conn_t *c;
        while ((c = w->timers[i].head) && c->deadline_ms <= w->now_ms) {
            worker_timer_disarm(w, c);
            conn_expire(w, c, i);
        }
    }
}

void worker_conn_release(worker_t *w, conn_t *c)
{
    UF_ASSERT(c->ops == 0 && c->state == CONN_CLOSING);
    worker_timer_disarm(w, c);
    c->state = CONN_FREE; /* conn.c resets the rest (conn_reset) */
    w->free_slots[w->free_count++] = c->slot;
    w->active--;
}

static void arm_accept(worker_t *w, unsigned i)
{
    ring_accept_multishot(&w->ring, w->listeners[i].fd, ring_ud(OP_ACCEPT, 0, i));
    w->accepts_live++;
}

static void arm_wake(worker_t *w)
{
    ring_read(&w->ring, w->wake_fd, &w->wake_value, sizeof(w->wake_value), ring_ud(OP_WAKE, 0, 0));
}

#define REFUSED_LINGER_MS 1000

static void defer_close(worker_t *w, int fd)
{
    unsigned cap = UF_ARRAY_LEN(w->refused);
    if (w->refused_count == cap) {
        (worker_syscall(w), close(w->refused[w->refused_head].fd)); /* the oldest goes now */
        w->refused_head = (w->refused_head + 1) % cap;
        w->refused_count--;
    }
    unsigned slot = (w->refused_head + w->refused_count) % cap;
    w->refused[slot].fd = fd;
    w->refused[slot].close_at_ms = w->now_ms + REFUSED_LINGER_MS;
    w->refused_count++;
}

static void close_refused(worker_t *w, bool all)
{
    unsigned cap = UF_ARRAY_LEN(w->refused);
    while (w->refused_count && (all || w->refused[w->refused_head].close_at_ms <= w->now_ms)) {
        (worker_syscall(w), close(w->refused[w->refused_head].fd));
        w->refused_head = (w->refused_head + 1) % cap;
        w->refused_count--;
    }
}

#define REFUSE_LOG_EVERY_MS 1000

void worker_refuse(worker_t *w, int fd)
{
    /* Over --worker-connections: refuse politely rather than queue without bound. The
     * socket is new, so its send buffer takes the few bytes at once; the close may reset
     * it if the client already sent its request, but the 503 is in its receive queue
     * first. */
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                               "Connection: close\r\nRetry-After: 1\r\n\r\n";
    if ((worker_syscall(w), send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0) {
        /* nothing more to do for a client that is already gone */
    }
    (worker_syscall(w), shutdown(fd, SHUT_WR));
    defer_close(w, fd);
    /* a connection storm refuses thousands a second: one line a second says it, with
     * the count of the refusals since the last one */
    long long held =
        log_throttle(&w->refuse_logged_ms, &w->refuse_unlogged, w->now_ms, REFUSE_LOG_EVERY_MS);
    if (held > 0)
        log_warning("worker connection limit (%d) reached; connection refused with 503 "
                    "(%lld more refused since the last such line)",
                    w->cfg->worker_connections, held);
    else if (held == 0)
        log_warning("worker connection limit (%d) reached; connection refused with 503",
                    w->cfg->worker_connections);
}

static void take_connection(worker_t *w, int fd, unsigned bind)
{
    if (w->free_count == 0)
        worker_refuse(w, fd);
    else
        conn_open(w, fd, bind);
}

/* A connection accepted at drain time goes to a worker that takes work (the successor
 * on this very listener after a reload, or a sibling); only when there is none does
 * this worker answer it itself, with Connection: close. */
static void pass_on_or_take(worker_t *w, int fd, unsigned bind)
{
    share_msg_t m = {.fd = fd, .bind = (uint16_t)bind, .hops = 1};
    int k = w->share ? share_pick(w->share, (unsigned)-1, w->pick_next++, true) : -1;
    if (k >= 0 && (worker_syscall(w), share_send(w->share, (unsigned)k, &m)) == 0) {
        (worker_syscall(w), close(fd));
        sb_add64(&w->sb->handed_off, 1);
        return;
    }
    take_connection(w, fd, bind);
}

/* An accept of ours on a shared listener was cancelled (this worker drains, or stops
 * stealing from a sibling). The kernel wakes one waiting accept per new connection; a
 * connection whose wake-up went to ours, which we had not acted on yet (deferred task
 * work runs only when we enter the ring), would sit in the queue until the next
 * connection wakes another worker: take whatever is queued now. A draining worker passes
 * it on; a stealer serves it. The check first costs no wait when the queue is empty. */
static void sweep_listener(worker_t *w, int fd, unsigned bind)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) != 1)
            return;
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC); /* SO_RCVTIMEO bounds a lost race */
        if (c < 0)
            return;
        if (w->draining)
            pass_on_or_take(w, c, bind);
        else
            take_connection(w, c, bind);
    }
}

static void on_accept(worker_t *w, unsigned listener, int res, bool more)
{
    if (!more)
        w->accepts_live--;
    if (res >= 0)
        take_connection(w, res, listener);
    else if (res == -ECANCELED && w->draining && (w->share || w->listeners[listener].shared))
        sweep_listener(w, w->listeners[listener].fd, listener);
    else if (res != -ECANCELED)
        log_error("accept failed: %s", strerror(-res));
    if (!more && !w->draining && res != -ECANCELED)
        arm_accept(w, listener);
}

/* ---- work sharing (src/share.h) --------------------------------------------------------- */

static uint64_t steal_ud(const worker_t *w, unsigned slot, unsigned bind, unsigned op)
{
    return ring_ud(op, 0, slot * w->share->nbinds + bind);
}

static void arm_steal(worker_t *w, unsigned slot, unsigned bind)
{
    int fd = w->share->listen_fds[slot * w->share->nbinds + bind];
    ring_accept_multishot(&w->ring, fd, steal_ud(w, slot, bind, OP_STEAL));
    w->accepts_live++;
}

/* Accepts from the listeners of slots that have no worker accepting (dead, booting,
 * leaving), and stops when they have one again. Every idle sibling arms them: the kernel
 * wakes one waiter per connection, so there is no thundering herd. */
static void update_steals(worker_t *w)
{
    const share_t *sh = w->share;
    uint32_t epoch = __atomic_load_n(&sh->table->epoch, __ATOMIC_RELAXED);
    if (epoch == w->steal_epoch && !w->draining)
        return;
    w->steal_epoch = epoch;
    for (unsigned k = 0; k < SHARE_MAX_SLOTS; k++) {
        if (k == w->index || sh->listen_fds[k * sh->nbinds] < 0)
            continue;
        /* a leaving worker steals too: it hands what it accepts on, or serves it when no
         * sibling takes work */
        bool want = !w->draining && __atomic_load_n(&sh->table->orphan[k], __ATOMIC_RELAXED);
        if (want == (bool)w->stealing[k])
            continue;
        w->stealing[k] = want;
        for (unsigned b = 0; b < sh->nbinds; b++) {
            if (w->listeners[b].shared)
                continue; /* one socket for every slot: our own accept serves it */
            if (want)
                arm_steal(w, k, b);
            else
                ring_cancel(&w->ring, steal_ud(w, k, b, OP_STEAL),
                            steal_ud(w, k, b, OP_STEAL_CANCEL));
        }
    }
}

static void on_steal(worker_t *w, unsigned index, int res, bool more)
{
    unsigned slot = index / w->share->nbinds, bind = index % w->share->nbinds;
    if (!more)
        w->accepts_live--;
    if (res >= 0)
        take_connection(w, res, bind);
    else if (res == -ECANCELED)
        sweep_listener(w, w->share->listen_fds[index], bind);
    else if (res != -EBADF && res != -EINVAL)
        log_error("accept from worker slot %u's listener failed: %s", slot, strerror(-res));
    if (!more && res != -ECANCELED && w->stealing[slot] && !w->draining)
        arm_steal(w, slot, bind);
}

static void arm_inbox(worker_t *w)
{
    ring_poll_in_multishot(&w->ring, w->share->inbox_fds[w->index], ring_ud(OP_INBOX, 0, 0));
    w->inbox_armed = true;
}

static void adopt(worker_t *w, share_msg_t *m)
{
    sb_add64(&w->sb->taken_over, 1);
    if (m->bind >= w->listener_count)
        (worker_syscall(w), close(m->fd));
    else if (w->free_count == 0)
        worker_refuse(w, m->fd);
    else
        conn_adopt(w, m);
}

static void publish_free(worker_t *w);
static void take_from_queue(worker_t *w);

void worker_take_queued(worker_t *w)
{
    if (!w->share)
        return;
    take_from_queue(w);
    publish_free(w);
}

static void take_from_queue(worker_t *w)
{
    share_table_t *t = w->share->table;
    share_msg_t m;
    /* a leaving worker takes from the queue only when it is alone (see worth_passing_on) */
    if (w->leaving && __atomic_load_n(&t->nslots, __ATOMIC_RELAXED) > 1)
        return;
    while (worker_can_start(w) && __atomic_load_n(&t->queued, __ATOMIC_RELAXED) > 0) {
        int got =
            (worker_syscall(w), share_recv(w->share->queue_fd, w->inbox_buf, SHARE_MAX_BYTES, &m));
        if (got <= 0) {
            return;
        }
        __atomic_sub_fetch(&t->queued, 1, __ATOMIC_RELAXED);
        adopt(w, &m);
    }
}

static void arm_queue(worker_t *w)
{
    ring_poll_in_multishot(&w->ring, w->share->queue_fd, ring_ud(OP_QUEUE, 0, 0));
    w->queue_armed = true;
}

/* Something was put in the shared queue: a worker with a free thread takes it (a busy
 * one looks again when a thread frees). */
static void on_queue(worker_t *w, int res, bool more)
{
    if (!more) {
        w->queue_armed = false;
        if (res != -ECANCELED && !w->draining)
            arm_queue(w);
    }
    if (res >= 0) {
        worker_take_queued(w);
    }
}

/* Connections siblings handed over: each is served as if its bytes had just arrived. */
static void on_inbox(worker_t *w, int res, bool more)
{
    if (!more) {
        w->inbox_armed = false;
        if (res != -ECANCELED && !w->draining)
            arm_inbox(w);
    }
    if (res < 0)
        return;
    share_msg_t m;
    int got;
    while ((got = (worker_syscall(w), share_recv(w->share->inbox_fds[w->index], w->inbox_buf,
                                                 SHARE_MAX_BYTES, &m))) > 0)
        adopt(w, &m);
    if (got < 0)
        log_error("reading handed-over connections failed: %s", strerror(-got));
}

/* This worker stops taking new work: siblings stop choosing it, and what reaches it
 * (its listener, its keep-alive connections) is handed to them from now on. From here
 * it never writes its table entries again, so its successor's values are not undone. */
static void become_leaving(worker_t *w, const char *why)
{
    if (!w->share || w->leaving)
        return;
    w->leaving = true;
    share_set_free(w->share->table, w->index, 0);
    share_set_taking(w->share->table, w->index, false);
    update_steals(w);
    log_info("Worker stops taking new work (%s); siblings take it", why);
}

/* The free threads that siblings and the steering program read, as soon as a thread is
 * free again (worker_take_queued), not only at the round's end: the client whose response
 * went out at once may open its next connection before the round ends, and steering
 * must not find this worker busy then (the connection would land on a busy sibling and
 * be handed on). */
static void publish_free(worker_t *w)
{
    if (w->leaving)
        return;
    share_set_free(w->share->table, w->index, worker_can_start(w) ? w->threads - w->in_app : 0);
}

/* With work sharing, --max-requests: the worker leaves once it has started its last
 * request. Returns true when it does. */
static bool leave_at_limit(worker_t *w)
{
    uint64_t limit = sb_get64(&w->sb->request_limit);
    if (!limit || w->requests_started < limit)
        return false;
    sb_set(&w->sb->limit_reached, 1);
    become_leaving(w, "--max-requests reached");
    return true;
}

/* Checked as each request starts, not only once a round: a loop that calls fast requests
 * itself (src/loopcall.h) starts a whole round of them before the round ends, and those
 * past the limit must go to siblings (it was 523 for a limit of 500 on epoll). */
void worker_request_started(worker_t *w)
{
    w->requests_started++;
    if (w->share && !w->leaving)
        leave_at_limit(w);
}

/* What siblings read about this worker, once a round: a plain store when it changed. */
static void publish_share(worker_t *w)
{
    if (w->leaving)
        return;
    if (sb_get(&w->sb->retire_asked)) {
        become_leaving(w, "it is being replaced");
        return;
    }
    if (leave_at_limit(w))
        return;
    share_table_t *t = w->share->table;
    publish_free(w);
    if (!__atomic_load_n(&t->taking[w->index], __ATOMIC_RELAXED))
        share_set_taking(t, w->index, true);
}

/* --timeout with application threads: the loop is still free, so it answers the client
 * of the request that ran too long (gunicorn answers 500 too) before the master kills the
 * worker, and hands everything else to siblings meanwhile. */
static void check_timeout(worker_t *w)
{
    if (w->timed_out || w->cfg->timeout <= 0 || !w->oldest_ms)
        return;
    uint64_t limit = (uint64_t)(w->cfg->timeout * 1000);
    if (w->now_ms <= w->oldest_ms + limit) /* (start times are whole milliseconds) */
        return;
    conn_t *c = pool_late(w->pool, w->now_ms - limit);
    if (c)
        conn_answer_timeout(w, c);
    w->timed_out = true;
    sb_set(&w->sb->timed_out, 1);
    become_leaving(w, "a request outlived --timeout");
}

static void start_drain(worker_t *w)
{
    if (w->draining)
        return;
    w->draining = true;
    w->drain_started_ms = w->now_ms;
    sb_set(&w->sb->state, SB_DRAINING);
    if (w->share) {
        /* a draining worker takes nothing more: not from siblings' listeners, not from
         * its inbox, whose datagrams are its successor's */
        w->leaving = true;
        update_steals(w);
        handoff_unpark_all(w);
        if (w->inbox_armed)
            ring_cancel(&w->ring, ring_ud(OP_INBOX, 0, 0), ring_ud(OP_INBOX_CANCEL, 0, 0));
        if (w->queue_armed)
            ring_cancel(&w->ring, ring_ud(OP_QUEUE, 0, 0), ring_ud(OP_QUEUE_CANCEL, 0, 0));
    }
    for (unsigned i = 0; i < w->listener_count; i++)
        ring_cancel(&w->ring, ring_ud(OP_ACCEPT, 0, i), ring_ud(OP_ACCEPT_CANCEL, 0, i));
    for (uint32_t i = 0; i < (uint32_t)w->cfg->worker_connections; i++)
        if (w->conns[i].state != CONN_FREE)
            conn_drain(w, &w->conns[i]);
}

static void arm_pool(worker_t *w)
{
    ring_read(&w->ring, pool_event_fd(w->pool), &w->pool_value, sizeof(w->pool_value),
              ring_ud(OP_POOL, 0, 0));
}

/* Connections whose step came back from an application thread go on from there. */
static void reap_pool(worker_t *w)
{
    conn_t *c = pool_take_done(w->pool);
    while (c) {
        conn_t *next = c->app->next; /* going on may queue c again */
        conn_complete(w, c, OP_APP, 0, 0);
        c = next;
    }
}

/* The master's --timeout looks at the scoreboard: with threads, the oldest request any
 * thread is working on. The metrics show how busy the threads are. */
static void publish_pool(worker_t *w)
{
    uint32_t busy, queued;
    pool_load(w->pool, &busy, &queued);
    sb_set(&w->sb->threads_busy, busy);
    sb_set(&w->sb->app_queue, queued);
    char line[sizeof(w->sb->request_line)];
    uint64_t oldest = pool_oldest(w->pool, line, sizeof(line));
    if (oldest == w->oldest_ms)
        return;
    if (oldest)
        memcpy(w->sb->request_line, line, sizeof(line));
    sb_set64(&w->sb->request_start_ms, oldest);
    w->oldest_ms = oldest;
}

static void dispatch(worker_t *w, const ring_event_t *ev)
{
    switch (ev->op) {
    case OP_ACCEPT:
        on_accept(w, ev->slot, ev->res, ev->more);
        return;
    case OP_WAKE:
        if (!w->stop_now)
            arm_wake(w);
        return;
    case OP_ACCEPT_CANCEL:
    case OP_STEAL_CANCEL:
    case OP_INBOX_CANCEL:
        return;
    case OP_STEAL:
        on_steal(w, ev->slot, ev->res, ev->more);
        return;
    case OP_INBOX:
        on_inbox(w, ev->res, ev->more);
        return;
    case OP_QUEUE:
        on_queue(w, ev->res, ev->more);
        return;
    case OP_QUEUE_CANCEL:
        return;
    case OP_RELOAD:
        reloader_complete(w, ev->res);
        return;
    case OP_POOL:
        if (!w->stop_now)
            arm_pool(w);
        reap_pool(w);
        return;
    case OP_ALOG_WRITE:
    case OP_SHIP_SEND:
    case OP_SHIP_CONNECT:
    case OP_STATSD_SEND:
        stats_complete(w, ev->op, ev->res);
        return;
    default:
        break;
    }
    UF_ASSERT(ev->slot < (uint32_t)w->cfg->worker_connections);
    conn_t *c = &w->conns[ev->slot];
    if (c->state == CONN_FREE || c->gen != ev->gen) {
        /* cannot happen while ops are counted right; keep the buffer in any case */
        if (ev->buffer)
            ring_buffer_recycle(&w->ring, ev->bid);
        log_debug("stale completion op=%u slot=%u", ev->op, ev->slot);
        return;
    }
    conn_complete(w, c, ev->op, ev->res, ev->flags);
}

static void setup_pool(worker_t *w)
{
    uint32_t n = (uint32_t)w->cfg->worker_connections;
    w->conns = uf_calloc(n, sizeof(conn_t));
    w->free_slots = uf_calloc(n, sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++) {
        w->conns[i].slot = i;
        w->conns[i].timer = CONN_TIMER_NONE;
        http_req_init(&w->conns[i].req, &w->limits);
        w->free_slots[i] = n - 1 - i; /* low slots first: warmer cache lines */
    }
    w->free_count = n;
}

static void setup_limits(worker_t *w)
{
    http_limits_from_config(&w->limits, w->cfg);
}

/* Pins the process and binds its memory before anything is allocated. Failures are
 * logged, not fatal: an unpinned worker still serves correctly. */
static void apply_placement(const worker_placement_t *place)
{
    if (!place)
        return;
    if (place->pin_cpus && sched_setaffinity(0, sizeof(place->cpus), &place->cpus) < 0)
        log_warning("cannot pin the worker to its CPUs: %s", strerror(errno));
    if (place->mem_node >= 0) {
        unsigned long mask[16] = {0};
        if (place->mem_node < (int)(sizeof(mask) * 8)) {
            mask[place->mem_node / (8 * sizeof(long))] |= 1UL
                                                          << (place->mem_node % (8 * sizeof(long)));
            if (syscall(SYS_set_mempolicy, MPOL_BIND, mask, sizeof(mask) * 8 + 1) < 0)
                log_warning("cannot bind the worker's memory to node %d: %s", place->mem_node,
                            strerror(errno));
        }
    }
}

/* A deadline setting in milliseconds; 0 ("no limit") becomes a deadline that never comes
 * (about 146 million years), so the queues need no special case. */
static uint64_t seconds_ms(double seconds)
{
    return seconds > 0 ? (uint64_t)(seconds * 1000) : (uint64_t)1 << 62;
}

/* How the application is called (--interface, --worker-class), said once per worker. An
 * ASGI worker uses neither application threads nor work sharing (docs/architecture.md). */
static void choose_interface(worker_t *w)
{
    const tun_config_t *cfg = w->cfg;
    static const char *const wants[] = {"auto", "wsgi", "asgi"};
    char how[160], err[512];
    int iface = cfg->app_interface;
    int asgi = py_asgi_detect(w->app, wants[iface >= 0 && iface <= 2 ? iface : 0], how, sizeof(how),
                              err, sizeof(err));
    if (asgi < 0)
        boot_failed(w, WORKER_EXIT_APP_LOAD, err);
    w->asgi = asgi == 1;
    if (!w->asgi) {
        if (cfg->app_interface == TUN_IFACE_AUTO)
            log_debug("Interface: %s", how);
        return;
    }
    log_info("Interface: %s%s", how,
             w->share ? " (work sharing does not apply: the event loop interleaves requests)" : "");
    if (cfg->threads > 1)
        log_warning("--threads %d is ignored: an ASGI application runs as tasks on the worker's "
                    "event loop",
                    cfg->threads);
    w->share = NULL;
    w->threads = 1;
}

/* The event loop and the lifespan startup, last in boot: the worker is ready only once
 * the application's startup has completed. */
static void open_asgi(worker_t *w)
{
    const tun_config_t *cfg = w->cfg;
    char how[96], err[512];
    asgiconn_ops_init(&w->asgi_ops, w);
    py_asgi_config_t acfg = {
        .loop = cfg->asgi_loop ? cfg->asgi_loop : "auto",
        .lifespan = cfg->asgi_lifespan ? cfg->asgi_lifespan : "auto",
        .root_path = w->conn_shared.root_path,
        .root_path_len = w->conn_shared.root_path_len,
        .disconnect_grace = cfg->asgi_disconnect_grace_period,
    };
    if (py_asgi_open(w->app, &acfg, &w->asgi_ops, how, sizeof(how), err, sizeof(err)) < 0)
        boot_failed(w, WORKER_EXIT_APP_LOAD, err);
    log_info("ASGI: event loop %s over the %s engine", how, ring_engine_name(&w->ring));
    if (py_asgi_startup(err, sizeof(err)) < 0)
        boot_failed(w, WORKER_EXIT_APP_LOAD, err);
}

/* The loop woke for a round (or boots): one clock read serves its timers and stamps its
 * receives. */
static void woke(worker_t *w)
{
    w->now_ns = stats_clock_ns();
    w->now_ms = w->now_ns / 1000000;
}

/* Everything a worker sets up before it serves: its context, signals, the application,
 * the ring, the connection pool, the application threads and the first accepts. A
 * failure ends the process (boot_failed) with the exit code the master reads. */
static void boot(worker_t *w, const worker_placement_t *place)
{
    const tun_config_t *cfg = w->cfg;
    char err[512];
    woke(w);
    w->timers[CONN_TIMER_HEADER].duration_ms = seconds_ms(cfg->header_timeout);
    w->timers[CONN_TIMER_IDLE].duration_ms = (uint64_t)(cfg->keepalive * 1000);
    w->timers[CONN_TIMER_LINGER].duration_ms = LINGER_TIMEOUT_MS;
    w->timers[CONN_TIMER_BODY].duration_ms = seconds_ms(cfg->body_timeout);
    w->timers[CONN_TIMER_WS_PING].duration_ms = seconds_ms(cfg->ws_ping_interval);
    w->timers[CONN_TIMER_WS_PONG].duration_ms = seconds_ms(cfg->ws_ping_timeout);
    w->timers[CONN_TIMER_DRAIN].duration_ms =
        w->timers[CONN_TIMER_IDLE].duration_ms < DRAIN_GRACE_MS
            ? w->timers[CONN_TIMER_IDLE].duration_ms
            : DRAIN_GRACE_MS;

    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->wake_fd < 0)
        boot_failed(w, WORKER_EXIT_BOOT, "eventfd failed");
    pending.wake_fd = w->wake_fd;
    install_signals();

    py_interp_options_t popts = worker_python_options(cfg);
    /* the master's interpreter, when it runs one for --preload or its hooks */
    if (!py_interp_running() && py_interp_init(&popts, err, sizeof(err)) < 0)
        boot_failed(w, WORKER_EXIT_BOOT, err);
    int hooked = py_hooks_post_fork(cfg, w->index, w->sb->age, (int)getppid(), err, sizeof(err));
    if (hooked == -1)
        boot_failed(w, WORKER_EXIT_APP_LOAD, err);
    if (hooked == -2)
        boot_failed(w, WORKER_EXIT_BOOT, "the post_fork hook raised (traceback above)");
    w->app = py_app_preloaded(); /* --preload: imported by the master before the fork */
    if (!w->app) {
        w->reloader = reloader_open(cfg);
        w->app = py_app_load(cfg->app, err, sizeof(err));
        if (!w->app && w->reloader)
            w->app = reloader_stand_in(w->reloader, cfg->app, err);
        if (!w->app)
            boot_failed(w, WORKER_EXIT_APP_LOAD, err);
    }
    choose_interface(w);
    if (py_hooks_post_worker_init(w->app) < 0)
        boot_failed(w, WORKER_EXIT_BOOT, "the post_worker_init hook raised (traceback above)");
    if (py_hooks_arm_abort())
        chain_abort_signal();
    if (conn_setup(w, err, sizeof(err)) < 0)
        boot_failed(w, WORKER_EXIT_BOOT, err);

    if (setup_ring(w, err, sizeof(err)) < 0)
        boot_failed(w, WORKER_EXIT_BOOT, err);
    sb_set(&w->sb->on_epoll, w->ring.ep != NULL);
    current_worker = w;
    pthread_atfork(NULL, NULL, forget_after_fork);
    /* io-wq threads (file I/O for spooled bodies) follow the worker's placement, and a
     * few are enough: they must not outnumber the CPUs they share */
    ring_limit_iowq(&w->ring, place && place->pin_cpus ? &place->cpus : NULL, 2, 4);
    setup_limits(w);
    setup_pool(w);
    if (stats_worker_init(w, err, sizeof(err)) < 0)
        boot_failed(w, WORKER_EXIT_BOOT, err);
    /* wsgi.multiprocess as gunicorn has it: more than one worker configured */
    if (!w->asgi && py_wsgi_prepare(cfg->threads > 1, cfg->workers > 1) < 0)
        boot_failed(w, WORKER_EXIT_BOOT, "cannot set up the WSGI bridge");
    if (w->share) {
        w->stealing = uf_calloc(SHARE_MAX_SLOTS, 1);
        w->inbox_buf = uf_malloc(SHARE_MAX_BYTES);
    }
    /* With work sharing the loop never runs the application, even with one thread: it
     * must stay free to pass on what this worker cannot start. (An ASGI worker has
     * neither: its loop is the application's.) */
    if (!w->asgi && (cfg->threads > 1 || w->share)) {
        /* From here on the loop thread never holds the GIL: the application threads
         * take it for their steps, and a loop waiting for it would stall every
         * connection. The shared objects were made above, so the threads need not race
         * to make them. */
        py_interp_release();
        w->pool = pool_start(w, (unsigned)cfg->threads, err, sizeof(err));
        if (!w->pool)
            boot_failed(w, WORKER_EXIT_BOOT, err);
        arm_pool(w);
        sb_set(&w->sb->threads, (uint32_t)cfg->threads);
        if (cfg->threads == 1 && cfg->work_sharing_inline > 0) {
            w->loopcall = uf_calloc(1, sizeof(*w->loopcall));
            w->loopcall->limit_ns = (uint64_t)cfg->work_sharing_inline * 1000;
        }
    }
    for (unsigned i = 0; i < w->listener_count; i++)
        arm_accept(w, i);
    arm_wake(w);
    if (w->share) {
        arm_inbox(w);
        arm_queue(w);
        publish_share(w);
        update_steals(w);
    }
    if (w->asgi)
        open_asgi(w);
}

/* What the loop does once a round, after the completions: the pool's finished steps, the
 * work shared with siblings, signals, deadlines and the observability outputs. */
/* The engine's counters into the scoreboard: a few stores a round. */
static void publish_ring(worker_t *w)
{
    if (!UF_INSTRUMENTS)
        return; /* (a build without them: the series read 0) */
    const ring_counters_t *k = &w->ring.counters;
    sb_slot_t *sb = w->sb;
    sb_set64(&sb->ring_enters, k->enters);
    sb_set64(&sb->ring_submitted, k->submitted);
    sb_set64(&sb->ring_completed, k->completed);
    sb_set64(&sb->ring_rounds, k->rounds);
    sb_set64(&sb->ring_syscalls,
             ring_syscalls(&w->ring) + w->syscalls + (w->pool ? pool_syscalls(w->pool) : 0));
    sb_set(&sb->ring_max_per_round, k->max_per_round);
    sb_set64(&sb->recv_enobufs, w->recv_enobufs);
    sb_set64(&sb->zc_sends, w->zc_sends);
    sb_set64(&sb->zc_copied, w->zc_copied);
}

static void end_round(worker_t *w)
{
    publish_ring(w);
    if (w->pool) {
        reap_pool(w); /* steps that finished after their poke was read */
        publish_pool(w);
        check_timeout(w);
        log_pass_on();
    }
    if (w->share && !w->draining) {
        handoff_share_parked(w);
        publish_share(w);
        pending.topology = 0;
        update_steals(w);
    }
    ring_buffers_publish(&w->ring);

    if (pending.reopen) {
        pending.reopen = 0;
        log_reopen();
        stats_reopen(w);
    }
    if (pending.abort)
        py_hooks_check_signals(); /* worker_abort: does not return */
    if (pending.quit && !w->stop_now) {
        py_hooks_worker_int();
        w->stop_now = true;
    } else if (pending.term)
        start_drain(w);
    expire_timers(w);
    close_refused(w, false);
    if (w->reloader)
        reloader_tick(w);
    stats_tick(w); /* log lines and statsd packets gathered in this round */
}

/* A drained worker leaves: its connections are gone, its accepts ended, its last
 * access log lines written. The accepts must be gone first: an accept still armed while
 * the process winds down would take the kernel's wake-up for a new connection (one
 * waiter is woken per connection) and leave that connection unseen in the queue. */
static bool drained(worker_t *w)
{
    return w->draining && w->active == 0 && w->accepts_live == 0 && stats_drained(w);
}

static void dispatch_all(worker_t *w)
{
    ring_event_t ev;
    ring_iter_t it = ring_events_begin(&w->ring);
    while (ring_events_next(&w->ring, &it, &ev))
        dispatch(w, &ev);
    ring_events_end(&w->ring, &it);
}

/* ---- an ASGI worker: the rounds, driven by its asyncio loop ---------------------------- */

/* One round without waiting (py_asgi_host_t.round): what serve() does between two waits,
 * then a submit, since nothing else will until the loop calls again. */
static int asgi_round(void *ctx, bool *again, bool *finished)
{
    worker_t *w = ctx;
    int ret = ring_wait(&w->ring, 0);
    if (ret < 0 && ret != -ETIME && ret != -EINTR) {
        log_error("reaping completions failed: %s", strerror(-ret));
        w->stop_now = true;
    }
    woke(w);
    sb_set64(&w->sb->heartbeat_ms, w->now_ms);
    dispatch_all(w);
    end_round(w);
    *finished = w->stop_now || drained(w);
    ret = ring_submit(&w->ring);
    if (ret < 0)
        log_error("submitting to the ring failed: %s", strerror(-ret));
    *again = ret > 0;
    return next_timeout_ms(w);
}

/* A step of a request's task begins (line) or ends (NULL): --timeout watches it as it
 * watches a WSGI request, and names the request whose step never ended. */
static void asgi_step(void *ctx, const char *line)
{
    worker_t *w = ctx;
    if (w->cfg->timeout <= 0)
        return;
    if (line) {
        snprintf(w->sb->request_line, sizeof(w->sb->request_line), "%s", line);
        sb_set64(&w->sb->request_start_ms, sb_now_ms());
    } else {
        sb_set64(&w->sb->request_start_ms, 0);
    }
}

/* Runs the event loop until the worker has drained (or must stop now), then lets tasks
 * that outlived their responses and the lifespan shutdown have what is left of
 * --graceful-timeout. */
static void serve_asgi(worker_t *w)
{
    py_asgi_host_t host = {
        .fd = ring_poll_fd(&w->ring),
        .ctx = w,
        .round = asgi_round,
        .step = asgi_step,
    };
    py_asgi_run(&host);
    if (w->stop_now)
        return;
    double budget = w->cfg->graceful_timeout;
    if (w->draining)
        budget -= (double)(sb_now_ms() - w->drain_started_ms) / 1000.0;
    py_asgi_shutdown(budget > 0.5 ? budget - 0.25 : 0.25);
}

/* The loop: wait, dispatch every completion, end the round; until a fast stop, or a
 * drain that has nothing left. */
static void serve(worker_t *w)
{
    if (w->asgi) {
        serve_asgi(w);
        return;
    }
    while (!w->stop_now) {
        if (drained(w))
            break;
        int timeout = next_timeout_ms(w);
        if (!w->pool)
            py_interp_release();
        int ret = ring_wait(&w->ring, timeout);
        if (!w->pool)
            py_interp_acquire();
        if (ret < 0 && ret != -ETIME && ret != -EINTR) {
            log_error("waiting for completions failed: %s", strerror(-ret));
            break;
        }
        woke(w);
        sb_set64(&w->sb->heartbeat_ms, w->now_ms);
        dispatch_all(w);
        end_round(w);
    }
}

_Noreturn void worker_main(const tun_config_t *cfg, sb_slot_t *sb, unsigned index,
                           worker_listener_t *listeners, unsigned listener_count,
                           const worker_placement_t *place, const share_t *share)
{
    log_set_worker((int)index);
    log_set_sink(NULL, NULL); /* the master's, inherited: its lines are its own */
    apply_placement(place);
    static worker_t w; /* the one worker context; static so its address is stable */
    w.cfg = cfg;
    w.sb = sb;
    w.index = index;
    w.listeners = listeners;
    w.listener_count = listener_count;
    w.share = share;
    w.threads = (uint32_t)cfg->threads;
    boot(&w, place);
    sb_set(&sb->state, SB_READY);
    serve(&w);
    if (w.zc_sends)
        log_info("Worker exiting: %llu zero-copy sends, %llu of them copied by the kernel",
                 (unsigned long long)w.zc_sends, (unsigned long long)w.zc_copied);
    if (w.pool && !w.stop_now)
        pool_stop(w.pool); /* idle: every connection, and so every step, is done */
    py_hooks_worker_exit();
    if (!w.stop_now)
        py_interp_finalize(); /* atexit handlers run on a graceful exit */
    stats_worker_exit(&w);
    ring_exit(&w.ring);
    fflush(NULL);
    _exit(WORKER_EXIT_OK);
}
