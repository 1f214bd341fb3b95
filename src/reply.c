/* The application side of a response: call, chunks into response bytes, close (GIL held). */
#include "src/reply.h"

#include <stdint.h>

#include "common/log.h"
#include "common/probes.h"
#include "src/response.h"
#include "src/stats.h"
#include "src/worker.h"

/* Output is produced in batches of about this size before a send: big enough to amortise
 * the completion, small enough that a streaming body keeps memory bounded. */
#define OUT_HIGH_WATER (64 * 1024)

/* The thread rule of reply.h, checked where Python is about to run: with --threads only
 * inside a step, which the loop marked (app_busy) before handing c to the pool and
 * unmarks only once the step has come back, so the loop thread can never pass here. */
static void assert_python_may_run(const worker_t *w, const conn_t *c)
{
    UF_ASSERT(!w->pool || c->app_busy);
}

/* How much of a chunk of len bytes the response takes (all of it, unless it runs past
 * the application's Content-Length), counted as sent body. */
static size_t take_body(conn_t *c, size_t len)
{
    if (c->plan.framing == RESP_LENGTH && c->plan.body_allowed) {
        if ((int64_t)len > c->remaining) {
            log_warning("application sent more than its Content-Length of %lld; truncated",
                        (long long)c->plan.length);
            len = (size_t)c->remaining;
        }
        c->remaining -= (int64_t)len;
    }
    if (c->plan.body_allowed)
        c->body_out += len; /* %(b)s */
    return len;
}

/* Whether a chunk of the application's goes out by SEND_ZC from its own memory. Called
 * in an application thread too: it reads only what the loop does not change meanwhile
 * (the ring's features; zc_off, which only notifications set, and they have all come). */
static bool chunk_zero_copy(worker_t *w, const conn_t *c, size_t len)
{
    int threshold = w->cfg->zerocopy_threshold;
    if (c->plan.framing != RESP_LENGTH || !c->plan.body_allowed || !w->ring.features.send_zc ||
        len == 0 || len > UINT32_MAX)
        return false;
    return threshold == 0 || (!c->zc_off && len >= (size_t)threshold && !conn_peer_is_loopback(c));
}

/* Adds a body chunk to the response: copied into `out`, or, when it is large enough to be
 * worth it, left where it is to be sent by SEND_ZC after `out` (zc_chunk). Returns true
 * in the second case: the reply must not be advanced until that send is over. */
static bool add_chunk(worker_t *w, conn_t *c, const char *data, size_t len)
{
    if (!chunk_zero_copy(w, c, len)) {
        resp_write_body(&c->out, &c->plan, data, take_body(c, len));
        return false;
    }
    len = take_body(c, len);
    if (!len)
        return false;
    c->zc_chunk = data;
    c->zc_len = (uint32_t)len;
    c->zc_sent = 0;
    return true;
}

void reply_write_end(conn_t *c)
{
    if (c->plan.framing == RESP_LENGTH && c->plan.body_allowed && c->remaining > 0) {
        /* fewer bytes than promised: the client can only detect the end by the close */
        log_warning("application sent %lld bytes less than its Content-Length of %lld; "
                    "closing the connection",
                    (long long)c->remaining, (long long)c->plan.length);
        c->close_after = true;
    }
    resp_write_end(&c->out, &c->plan);
}

void reply_finish(conn_t *c)
{
    c->reply->body_sent = (int64_t)c->body_out;
    py_wsgi_finish(c->reply); /* close() on the iterable, exactly once */
    c->reply = NULL;
    c->reply_ended = false;
}

/* The body is complete: finish the framing and release the iterable, at once: whoever
 * runs this holds the GIL (see the header). */
static void end_body(conn_t *c)
{
    reply_write_end(c);
    reply_finish(c);
}

/* Whether every byte the application's Content-Length promised is in the response: what
 * the iterable still yields can only be its end. */
static bool body_complete(const conn_t *c)
{
    return c->plan.framing == RESP_LENGTH && c->plan.body_allowed && c->remaining == 0;
}

/* Why a generator gets one chunk per send: PEP 3333 forbids delaying a block while the
 * application produces the next one (a server-sent event followed by a sleep must reach
 * the client before the sleep ends), and asking a generator for its next chunk may block
 * for as long as it likes. So once `out` holds something, the application is only asked
 * again after the send has completed. Chunks that need no application code (a list's
 * items, bytes queued by write()) are batched up to OUT_HIGH_WATER.
 *
 * The exception is a body that is complete by its Content-Length: the client already has
 * all it waits for in `out`, and the iterable can only end (or yield what is cut off).
 * Asking for that end at once saves a whole step: a framework's response iterable
 * (Flask's, Django's with CommonMiddleware) is a generator over one body, so without this
 * every such request would take a second trip through the application thread after its
 * send, each trip two wake-ups of sleeping threads, about as much CPU as the view. */
int reply_fill(worker_t *w, conn_t *c)
{
    assert_python_may_run(w, c);
    while (c->reply && c->out.len < OUT_HIGH_WATER && !c->zc_chunk) {
        if (c->out.len && !c->reply->next_ready && !c->reply->done && !body_complete(c))
            break;
        int r = py_wsgi_next(c->reply);
        if (r < 0)
            return -1;
        if (r == 0) {
            end_body(c);
            break;
        }
        add_chunk(w, c, c->reply->chunk.ptr, c->reply->chunk.len);
    }
    return 0;
}

int reply_call(worker_t *w, conn_t *c, const py_request_t *pr)
{
    assert_python_may_run(w, c);
    /* here, in the thread that calls it: a request queued for a free application thread
     * has been waiting until now */
    stats_request_mark(c, STATS_MARK_CALL);
    UF_PROBE3(app__call, w->index, c->conn_id, c->req_no);
    py_reply_t *reply = py_wsgi_call(w->app, pr);
    if (!reply)
        return -1;
    c->reply = reply;
    resp_write_head(&c->out, &c->plan, reply);
    stats_response_head(w, c, reply);
    c->remaining = c->plan.length;
    if (!c->plan.keep_alive)
        c->close_after = true;
    if (reply->file_fd >= 0)
        return 0; /* the loop sends the file (filesend_start) */
    if (reply->chunk.len && add_chunk(w, c, reply->chunk.ptr, reply->chunk.len))
        return 0; /* the chunk goes first; the end (done) is found after it (reply_fill) */
    if (reply->done)
        end_body(c);
    else if (reply_fill(w, c) < 0)
        c->close_after = true; /* headers are final; send what we have, then close */
    return 0;
}

void reply_step(worker_t *w, conn_t *c)
{
    conn_app_t *a = c->app;
    switch (a->step) {
    case CONN_STEP_CALL:
        a->result = (int8_t)reply_call(w, c, &a->req);
        break;
    case CONN_STEP_NEXT:
        a->result = (int8_t)reply_fill(w, c);
        break;
    case CONN_STEP_FINISH:
        reply_finish(c);
        a->result = 0;
        break;
    default:
        UF_ASSERT(!"unknown application step");
    }
}
