/* The application threads of a worker (--threads N, N > 1).
 *
 * The worker's loop thread keeps the ring and every connection, and never holds the GIL.
 * What needs Python is a step of a response (src/reply.c, reply_step): calling the
 * application and producing the first output, producing the next batch of a streamed
 * body, or closing the iterable. The loop hands the connection to the pool with the step
 * to run (pool_submit); a thread runs it with the GIL and puts the connection on the
 * finished list, poking an eventfd that the ring is reading. The loop
 * then takes the whole list (pool_take_done) and goes on as for any completion: sends
 * still go out through the one ring.
 *
 * Invariants: while a connection is in the pool (c->app_busy) its response state (out,
 * reply, plan, remaining) is the thread's and the loop touches none of it; bytes that
 * arrive meanwhile are kept aside (conn_app_t.stash), so c->in, which the request's
 * slices point into, never moves under the thread. A request belongs to the thread that
 * called the application for it until its reply is finished: its later steps are handed
 * to that thread (conn_app_t.thread), which takes no other request meanwhile, so what
 * Python code keeps per thread for a request (thread-locals, context variables such as
 * Flask's request context) is still there when a streamed body resumes or is closed. So
 * at most N requests are in the application at once; the rest wait in FIFO order in a
 * queue that holds a connection at most once, so it is bounded by --worker-connections.
 * Idle keep-alive connections cost no thread.
 *
 * The master's --timeout needs to know how long the oldest request has been in the
 * application: each thread publishes when its current request started, and the loop
 * copies the oldest into the scoreboard every round (pool_oldest).
 */
#ifndef UF_POOL_H
#define UF_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/conn.h"

struct worker;
typedef struct pool pool_t;

/* Starts `threads` application threads for w; the calling thread must not hold the GIL.
 * Returns NULL with one line in err. */
pool_t *pool_start(struct worker *w, unsigned threads, char *err, size_t errlen);

/* Queues c, whose conn_app_t says which step to run. */
void pool_submit(pool_t *p, conn_t *c);

/* Takes c out of the queue if no thread has taken it yet; returns whether it did. */
bool pool_reclaim(pool_t *p, conn_t *c);

/* The eventfd that becomes readable when a step has finished. */
int pool_event_fd(const pool_t *p);
/* The system calls the threads' hand-offs have made: futex waits that slept and the
 * wakes that ended them, eventfd pokes to the loop (any thread may read it). */
uint64_t pool_syscalls(const pool_t *p);

/* Takes every connection whose step has finished, in a list linked through c->app->next
 * (oldest first); NULL when none. */
conn_t *pool_take_done(pool_t *p);

/* The start (CLOCK_MONOTONIC ms) of the oldest request a thread is working on, 0 when all
 * are idle; its request line goes into line (NUL-terminated, cut to linelen). */
uint64_t pool_oldest(pool_t *p, char *line, size_t linelen);

/* The start (CLOCK_MONOTONIC ms) of the most recent request the threads are working on
 * when every thread is working on one; 0 when a thread is idle. How long the workers'
 * requests have been running tells a short wait from a long one (work sharing). */
uint64_t pool_youngest(pool_t *p);

/* The connection of a request a thread has been working on since before `before_ms`
 * (CLOCK_MONOTONIC), or NULL; for --timeout's answer. */
conn_t *pool_late(pool_t *p, uint64_t before_ms);

/* How many threads are working on a step, and how many steps wait for one. */
void pool_load(pool_t *p, uint32_t *busy, uint32_t *queued);

/* Stops and joins the threads; no step may be queued or running. */
void pool_stop(pool_t *p);

#endif
