/* Unit tests for src/pool.c, the application threads of a worker. reply_step (the
 * connection's side of a step, src/reply.c) is replaced by a probe, so what is checked is
 * the pool's own promise: every step runs in a pool thread holding the GIL, with the
 * loop's signals blocked and a thread name Python's logging can show; at most N steps
 * run at once and N do run together when the application waits; every connection comes
 * back exactly once through the finished list, announced by the eventfd; the oldest
 * request in a thread is published for --timeout; every step of a request runs in the
 * thread that called the application for it, which serves no other request until the
 * reply is finished; stop joins the threads. */
#include "src/pool.c"
#include "src/worker.h"

#include "check.h"

#include <Python.h>
#include <poll.h>
#include <stdatomic.h>

#define THREADS 4
#define CONNS   64

static atomic_int running, most, steps, bad_gil, bad_mask, bad_name;
static int wait_ms = 20;

/* The second part: requests whose reply lives on after the call (a streamed body) */
static bool streaming;
static py_reply_t a_reply;
static pthread_t served_by[64];
static atomic_int owned, most_owned, wrong_thread;

void reply_step(struct worker *w, conn_t *c)
{
    if (!PyGILState_Check())
        bad_gil++;
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    if (!sigismember(&mask, SIGTERM) || !sigismember(&mask, SIGINT) || sigismember(&mask, SIGABRT))
        bad_mask++;
    PyObject *threading = PyImport_ImportModule("threading");
    PyObject *me = threading ? PyObject_CallMethod(threading, "current_thread", NULL) : NULL;
    PyObject *name = me ? PyObject_GetAttrString(me, "name") : NULL;
    const char *text = name ? PyUnicode_AsUTF8(name) : NULL;
    if (!text || strncmp(text, "uwsgi-fast-thread-", 18) != 0)
        bad_name++;
    Py_XDECREF(name);
    Py_XDECREF(me);
    Py_XDECREF(threading);
    PyErr_Clear();

    int now = ++running;
    for (int seen = most; now > seen && !atomic_compare_exchange_weak(&most, &seen, now);)
        ;
    /* an application waiting on I/O gives the GIL back: the other threads run meanwhile */
    Py_BEGIN_ALLOW_THREADS usleep((useconds_t)wait_ms * 1000);
    Py_END_ALLOW_THREADS running--;
    steps++;
    c->app->result = 1;
    if (!streaming)
        return;
    switch (c->app->step) {
    case CONN_STEP_CALL: {
        served_by[c->slot] = pthread_self();
        c->reply = &a_reply;
        int now = ++owned;
        for (int seen = most_owned;
             now > seen && !atomic_compare_exchange_weak(&most_owned, &seen, now);)
            ;
        break;
    }
    case CONN_STEP_NEXT:
        if (!pthread_equal(served_by[c->slot], pthread_self()))
            wrong_thread++;
        break;
    case CONN_STEP_FINISH:
        if (!pthread_equal(served_by[c->slot], pthread_self()))
            wrong_thread++;
        c->reply = NULL;
        owned--;
        break;
    }
}

static conn_t conns[CONNS];
static conn_app_t apps[CONNS];
static int came_back[CONNS];

/* Waits for the eventfd and takes what finished; returns how many came back. */
static int reap(pool_t *p)
{
    struct pollfd pfd = {.fd = pool_event_fd(p), .events = POLLIN};
    if (poll(&pfd, 1, 5000) != 1)
        return -1;
    uint64_t n;
    if (read(pfd.fd, &n, sizeof(n)) != sizeof(n))
        return -1;
    int count = 0;
    for (conn_t *c = pool_take_done(p); c;) {
        conn_t *next = c->app->next;
        came_back[c->slot]++;
        count++;
        if (streaming && c->app->step != CONN_STEP_FINISH) {
            /* the loop's side: a NEXT after the call, then the FINISH */
            c->app->step = c->app->step == CONN_STEP_CALL ? CONN_STEP_NEXT : CONN_STEP_FINISH;
            pool_submit(p, c);
        }
        c = next;
    }
    return count;
}

int main(void)
{
    char err[256];
    CHECK_EQ_INT(py_interp_init(NULL, err, sizeof(err)), 0);
    py_interp_release(); /* as the worker loop does before starting the threads */

    static worker_t w;
    pool_t *p = pool_start(&w, THREADS, err, sizeof(err));
    CHECK(p != NULL);
    if (!p)
        return check_done();
    for (uint32_t i = 0; i < CONNS; i++) {
        conns[i].slot = i;
        conns[i].app = &apps[i];
        apps[i].step = CONN_STEP_CALL;
        apps[i].req.method = (py_slice_t){"GET", 3};
        apps[i].req.target = (py_slice_t){"/slow", 5};
        pool_submit(p, &conns[i]);
    }

    int back = 0;
    bool saw_oldest = false;
    char line[128] = "";
    while (back < CONNS) {
        uint64_t oldest = pool_oldest(p, line, sizeof(line));
        if (oldest && strcmp(line, "GET /slow") == 0)
            saw_oldest = true;
        int n = reap(p);
        CHECK(n > 0);
        if (n <= 0)
            break;
        back += n;
    }
    CHECK_EQ_INT(back, CONNS);
    CHECK_EQ_INT(steps, CONNS);
    for (int i = 0; i < CONNS; i++) {
        CHECK_EQ_INT(came_back[i], 1);
        CHECK_EQ_INT(apps[i].result, 1);
        CHECK(apps[i].started_ms != 0); /* a CALL step's start, for --timeout */
    }
    CHECK_EQ_INT(most, THREADS); /* never more, and all of them when it waits */
    CHECK_EQ_INT(bad_gil, 0);
    CHECK_EQ_INT(bad_mask, 0);
    CHECK_EQ_INT(bad_name, 0);
    CHECK(saw_oldest);
    CHECK_EQ_INT(pool_oldest(p, line, sizeof(line)), 0); /* all idle again */
    CHECK_EQ_STR(line, "");

    /* a NEXT step keeps the request's start: the clock runs from the application call */
    apps[0].step = CONN_STEP_NEXT;
    apps[0].started_ms = 12345;
    wait_ms = 0;
    pool_submit(p, &conns[0]);
    CHECK_EQ_INT(reap(p), 1);
    CHECK_EQ_INT(apps[0].started_ms, 12345);

    /* Streamed replies: 16 requests on 4 threads, each a CALL, a NEXT and a FINISH */
    streaming = true;
    wait_ms = 2;
    memset(came_back, 0, sizeof(came_back));
    for (uint32_t i = 0; i < 16; i++) {
        apps[i].step = CONN_STEP_CALL;
        conns[i].reply = NULL;
        pool_submit(p, &conns[i]);
    }
    for (back = 0; back < 16 * 3;) {
        int n = reap(p);
        CHECK(n > 0);
        if (n <= 0)
            break;
        back += n;
    }
    CHECK_EQ_INT(back, 16 * 3);
    CHECK_EQ_INT(wrong_thread, 0);     /* every step where its call ran */
    CHECK_EQ_INT(most_owned, THREADS); /* a thread serves one request at a time */
    CHECK_EQ_INT(owned, 0);
    for (int i = 0; i < 16; i++) {
        CHECK_EQ_INT(came_back[i], 3);
        CHECK_EQ_INT(apps[i].thread, -1); /* over: owned by no thread */
    }
    uint32_t busy, queued;
    pool_load(p, &busy, &queued);
    CHECK_EQ_INT(busy, 0);
    CHECK_EQ_INT(queued, 0);

    pool_stop(p);
    py_interp_acquire();
    py_interp_finalize();
    return check_done();
}
