/* Unit tests for src/pool.c, the application threads of a worker. conn_app_step (the
 * connection's side of a step, src/conn.c) is replaced by a probe, so what is checked is
 * the pool's own promise: every step runs in a pool thread holding the GIL, with the
 * loop's signals blocked and a thread name Python's logging can show; at most N steps
 * run at once and N do run together when the application waits; every connection comes
 * back exactly once through the finished list, announced by the eventfd; the oldest
 * request in a thread is published for --timeout; stop joins the threads. */
#include "src/pool.c"
#include "src/worker.h"

#include "check.h"

#include <Python.h>
#include <poll.h>
#include <stdatomic.h>

#define THREADS 4
#define CONNS 64

static atomic_int running, most, steps, bad_gil, bad_mask, bad_name;
static int wait_ms = 20;

void conn_app_step(struct worker *w, conn_t *c)
{
    if (!PyGILState_Check())
        bad_gil++;
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    if (!sigismember(&mask, SIGTERM) || !sigismember(&mask, SIGINT) ||
        sigismember(&mask, SIGABRT))
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
    Py_BEGIN_ALLOW_THREADS
    usleep((useconds_t)wait_ms * 1000);
    Py_END_ALLOW_THREADS
    running--;
    steps++;
    c->app->result = 1;
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
    for (conn_t *c = pool_take_done(p); c; c = c->app->next) {
        came_back[c->slot]++;
        count++;
    }
    return count;
}

int main(void)
{
    char err[256];
    CHECK_EQ_INT(py_interp_init(NULL, err, sizeof(err)), 0);
    py_interp_release();   /* as the worker loop does before starting the threads */

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
        CHECK(apps[i].started_ms != 0);   /* a CALL step's start, for --timeout */
    }
    CHECK_EQ_INT(most, THREADS);         /* never more, and all of them when it waits */
    CHECK_EQ_INT(bad_gil, 0);
    CHECK_EQ_INT(bad_mask, 0);
    CHECK_EQ_INT(bad_name, 0);
    CHECK(saw_oldest);
    CHECK_EQ_INT(pool_oldest(p, line, sizeof(line)), 0);   /* all idle again */
    CHECK_EQ_STR(line, "");

    /* a NEXT step keeps the request's start: the clock runs from the application call */
    apps[0].step = CONN_STEP_NEXT;
    apps[0].started_ms = 12345;
    wait_ms = 0;
    pool_submit(p, &conns[0]);
    CHECK_EQ_INT(reap(p), 1);
    CHECK_EQ_INT(apps[0].started_ms, 12345);

    pool_stop(p);
    py_interp_acquire();
    py_interp_finalize();
    return check_done();
}
