/* The application side of a response: calling the WSGI application, turning its head and
 * chunks into response bytes in c->out, and closing its iterable.
 *
 * Thread rule: every function here runs Python, so it is called only by the thread that
 * holds the GIL for this request:
 *   - without --threads, the loop thread (it is the worker's only Python thread);
 *   - with --threads, the application thread that owns the request (src/pool.c), through
 *     reply_step; the loop thread of such a worker never calls into this file (it never
 *     takes the GIL) and hands each step to the pool instead (conn.c: run_step).
 * Nothing here decides which case it is in: the caller's thread is the answer, and a
 * reply is therefore always finished at once (there is no "finish later" branch here; the
 * loop's deferral lives in conn.c and src/filesend.c). reply_call and reply_fill assert
 * the rule: with threads, c must be inside a step (c->app_busy).
 *
 * While a step runs in an application thread the connection's response state (out,
 * plan, reply, remaining, body_out, close_after, zc_chunk) is the thread's: the loop
 * touches none of it until the step comes back (c->app_busy). reply_write_end is the one
 * function free of Python; the loop uses it for file bodies.
 */
#ifndef UF_REPLY_H
#define UF_REPLY_H

#include "python_bridge/wsgi.h"
#include "src/conn.h"

struct worker;

/* Calls the application for pr and writes the head and the first output into c->out (a
 * large first chunk may instead be left in c->zc_chunk for a zero-copy send). Returns 0,
 * or -1 when the application failed before its headers were final (the caller answers
 * 500). With a wsgi.file_wrapper reply only the head is written: the loop sends the file. */
int reply_call(struct worker *w, conn_t *c, const py_request_t *pr);

/* Pulls chunks from the iterable into c->out until a batch is ready or the body ends (then
 * the framing is ended and the reply finished). Returns 0, or -1 when the iterable raised
 * (the response cannot be completed: the caller closes the connection). */
int reply_fill(struct worker *w, conn_t *c);

/* close() on the iterable, exactly once, and forgets it (c->reply NULL). */
void reply_finish(conn_t *c);

/* Runs the step c->app->step names (CONN_STEP_CALL, _NEXT or _FINISH) and leaves its
 * outcome in c->app->result. Called by an application thread (src/pool.c). */
void reply_step(struct worker *w, conn_t *c);

/* Ends the body's framing in c->out (the last chunk of a chunked body); a body shorter
 * than its Content-Length marks the connection to close after it. Runs no Python: any
 * thread that owns the response state may call it. */
void reply_write_end(conn_t *c);

#endif
