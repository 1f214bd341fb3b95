/* The application threads of a worker: a FIFO of requests, N threads each serving one
 * request at a time from its call to its close, a finished list. */
#include "src/pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "python_bridge/interp.h"
#include "common/probes.h"
#include "common/log.h"
#include "src/reply.h"
#include "src/scoreboard.h"
#include "src/stats.h"

typedef struct pool_thread {
    pool_t *pool;
    pthread_t tid;
    unsigned index;
    bool started;
    conn_t *owner;       /* the request this thread serves until its reply is finished */
    conn_t *pinned;      /* the next step of that request, handed to this thread */
    pthread_cond_t mine; /* a pinned step arrived, or stopping */
    uint64_t since_ms;   /* atomic: start of the request being worked on, 0 = idle */
    char line[128];      /* its request line, written before since_ms is published */
} pool_thread_t;

struct pool {
    struct worker *w;
    pthread_mutex_t lock;
    pthread_cond_t work; /* a new request queued, or stopping (for threads that own none) */
    conn_t *queue_head, *queue_tail;
    conn_t *done_head, *done_tail;
    bool stopping;
    uint32_t queued; /* in the queue */
    uint32_t busy;   /* atomic: threads that own a request */
    int event_fd;
    uint64_t syscalls; /* atomic: the threads' futex waits and wakes, and eventfd pokes */
    unsigned count;
    pool_thread_t *threads;
};

static void list_push(conn_t **head, conn_t **tail, conn_t *c)
{
    c->app->next = NULL;
    if (*tail)
        (*tail)->app->next = c;
    else
        *head = c;
    *tail = c;
}

/* "GET /path" of the request, for the master's timeout message. */
static void publish(pool_thread_t *t, const conn_app_t *a)
{
    const py_request_t *r = &a->req;
    snprintf(t->line, sizeof(t->line), "%.*s %.*s", (int)r->method.len, r->method.ptr,
             (int)r->target.len, r->target.ptr);
    __atomic_store_n(&t->since_ms, a->started_ms, __ATOMIC_RELEASE);
}

/* pthread_cond_wait under the lock. A wait that sleeps is a system call (futex) and so
 * was the signal that woke it: both counted here, where the sleeper knows it slept
 * (docs/research.md: system calls per request; not the lock's own futex calls). */
static void sleep_on(pool_t *p, pthread_cond_t *cond)
{
    pthread_cond_wait(cond, &p->lock);
    UF_COUNT_ATOMIC(p->syscalls, 2);
}

static void *thread_main(void *arg)
{
    pool_thread_t *t = arg;
    pool_t *p = t->pool;
    /* Signals are the loop thread's: delivered there, they interrupt its wait. */
    sigset_t block;
    sigfillset(&block);
    sigdelset(&block, SIGABRT); /* the master's --timeout kill dumps every stack */
    sigdelset(&block, SIGSEGV);
    sigdelset(&block, SIGBUS);
    sigdelset(&block, SIGFPE);
    sigdelset(&block, SIGILL);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    char name[32];
    snprintf(name, sizeof(name), "uwsgi-fast-thread-%u", t->index + 1);
    py_thread_t *py = py_thread_attach(name);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        /* A thread that owns a request takes only that request's steps: what Python code
         * keeps in the thread (thread-locals such as a database connection, a context
         * variable such as Flask's request context) stays with the request from the
         * call to the close, as under gunicorn's gthread. One without takes a new
         * request from the queue. */
        conn_t *c;
        if (t->owner) {
            while (!t->pinned && !p->stopping)
                sleep_on(p, &t->mine);
            c = t->pinned;
            if (!c)
                break;
            t->pinned = NULL;
        } else {
            while (!p->queue_head && !p->stopping)
                sleep_on(p, &p->work);
            c = p->queue_head;
            if (!c)
                break;
            p->queue_head = c->app->next;
            if (!p->queue_head)
                p->queue_tail = NULL;
            p->queued--;
            t->owner = c;
            __atomic_add_fetch(&p->busy, 1, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&p->lock);

        conn_app_t *a = c->app;
        bool call = a->step == CONN_STEP_CALL;
        if (call)
            a->started_ms = sb_now_ms();
        publish(t, a);
        uint64_t began = call ? stats_clock_ns() : 0;
        py_thread_enter(py);
        reply_step(p->w, c);
        py_thread_leave(py);
        if (call)
            a->call_ns = stats_clock_ns() - began;
        __atomic_store_n(&t->since_ms, 0, __ATOMIC_RELEASE);
        /* the request is over once its reply is gone (or never came: the call failed) */
        bool over = c->reply == NULL;
        a->thread = over ? -1 : (int16_t)t->index;

        pthread_mutex_lock(&p->lock);
        if (over) {
            t->owner = NULL;
            __atomic_sub_fetch(&p->busy, 1, __ATOMIC_RELAXED);
        }
        bool was_empty = !p->done_head;
        list_push(&p->done_head, &p->done_tail, c);
        pthread_mutex_unlock(&p->lock);
        /* One poke per batch: the loop takes the whole list, so a non-empty list means a
         * poke is already on its way. */
        uint64_t one = 1;
        if (was_empty &&
            (UF_COUNT_ATOMIC(p->syscalls, 1), write(p->event_fd, &one, sizeof(one))) < 0)
            log_error("cannot wake the worker loop: %s", strerror(errno));
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    py_thread_detach(py);
    return NULL;
}

pool_t *pool_start(struct worker *w, unsigned threads, char *err, size_t errlen)
{
    pool_t *p = uf_calloc(1, sizeof(*p));
    p->w = w;
    p->count = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    p->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->event_fd < 0) {
        snprintf(err, errlen, "--threads: eventfd failed: %s", strerror(errno));
        uf_free(p);
        return NULL;
    }
    p->threads = uf_calloc(threads, sizeof(pool_thread_t));
    for (unsigned i = 0; i < threads; i++) {
        pool_thread_t *t = &p->threads[i];
        t->pool = p;
        t->index = i;
        pthread_cond_init(&t->mine, NULL);
        int rc = pthread_create(&t->tid, NULL, thread_main, t);
        if (rc != 0) {
            snprintf(err, errlen, "--threads %u: cannot start thread %u: %s", threads, i + 1,
                     strerror(rc));
            pool_stop(p);
            return NULL;
        }
        t->started = true;
        char name[16];
        snprintf(name, sizeof(name), "uwsgi-fast:%u", i + 1);
        pthread_setname_np(t->tid, name);
    }
    return p;
}

/* The signal goes out after the unlock: a thread woken while the loop still held the lock
 * would run only to block on it again: two more futex calls and a second wake-up per
 * request, which strace shows on hello with 2 workers (work sharing sends every request
 * through this pool). Nothing is lost: a thread checks its condition under the lock
 * before it waits. */
void pool_submit(pool_t *p, conn_t *c)
{
    pthread_cond_t *wake;
    pthread_mutex_lock(&p->lock);
    int16_t owner = c->app->step == CONN_STEP_CALL ? -1 : c->app->thread;
    if (owner >= 0) {
        pool_thread_t *t = &p->threads[owner];
        UF_ASSERT(t->owner == c && !t->pinned);
        t->pinned = c;
        wake = &t->mine;
    } else {
        list_push(&p->queue_head, &p->queue_tail, c);
        p->queued++;
        wake = &p->work;
    }
    pthread_mutex_unlock(&p->lock);
    pthread_cond_signal(wake);
}

bool pool_reclaim(pool_t *p, conn_t *c)
{
    bool found = false;
    pthread_mutex_lock(&p->lock);
    for (conn_t *prev = NULL, *q = p->queue_head; q; prev = q, q = q->app->next) {
        if (q != c)
            continue;
        if (prev)
            prev->app->next = q->app->next;
        else
            p->queue_head = q->app->next;
        if (p->queue_tail == q)
            p->queue_tail = prev;
        p->queued--;
        found = true;
        break;
    }
    pthread_mutex_unlock(&p->lock);
    return found;
}

uint64_t pool_syscalls(const pool_t *p)
{
    return __atomic_load_n(&p->syscalls, __ATOMIC_RELAXED);
}

int pool_event_fd(const pool_t *p)
{
    return p->event_fd;
}

conn_t *pool_take_done(pool_t *p)
{
    pthread_mutex_lock(&p->lock);
    conn_t *list = p->done_head;
    p->done_head = p->done_tail = NULL;
    pthread_mutex_unlock(&p->lock);
    return list;
}

uint64_t pool_oldest(pool_t *p, char *line, size_t linelen)
{
    uint64_t oldest = 0;
    const pool_thread_t *who = NULL;
    for (unsigned i = 0; i < p->count; i++) {
        uint64_t since = __atomic_load_n(&p->threads[i].since_ms, __ATOMIC_ACQUIRE);
        if (since && (!oldest || since < oldest)) {
            oldest = since;
            who = &p->threads[i];
        }
    }
    if (linelen)
        snprintf(line, linelen, "%s", who ? who->line : "");
    return oldest;
}

uint64_t pool_youngest(pool_t *p)
{
    uint64_t youngest = 0;
    for (unsigned i = 0; i < p->count; i++) {
        uint64_t since = __atomic_load_n(&p->threads[i].since_ms, __ATOMIC_ACQUIRE);
        if (!since)
            return 0;
        if (since > youngest)
            youngest = since;
    }
    return youngest;
}

conn_t *pool_late(pool_t *p, uint64_t before_ms)
{
    conn_t *late = NULL;
    pthread_mutex_lock(&p->lock); /* owner is written under it */
    for (unsigned i = 0; i < p->count && !late; i++) {
        uint64_t since = __atomic_load_n(&p->threads[i].since_ms, __ATOMIC_ACQUIRE);
        if (since && since <= before_ms)
            late = p->threads[i].owner;
    }
    pthread_mutex_unlock(&p->lock);
    return late;
}

void pool_load(pool_t *p, uint32_t *busy, uint32_t *queued)
{
    *busy = __atomic_load_n(&p->busy, __ATOMIC_RELAXED);
    *queued = __atomic_load_n(&p->queued, __ATOMIC_RELAXED); /* a gauge: no lock needed */
}

void pool_stop(pool_t *p)
{
    pthread_mutex_lock(&p->lock);
    UF_ASSERT(!p->queue_head);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    for (unsigned i = 0; i < p->count; i++)
        pthread_cond_signal(&p->threads[i].mine);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->count; i++)
        if (p->threads[i].started)
            pthread_join(p->threads[i].tid, NULL);
    close(p->event_fd);
    for (unsigned i = 0; i < p->count; i++)
        pthread_cond_destroy(&p->threads[i].mine);
    uf_free(p->threads);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    uf_free(p);
}
