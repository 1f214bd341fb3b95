/* Work sharing: passing a connection's next request on to a sibling worker or the
 * shared queue (loop thread). */
#include "src/handoff.h"

#include "src/pool.h"
#include "src/share.h"
#include "src/stats.h"
#include "src/worker.h"

/* Every byte of c's next request is still in c->in (nothing of a body has been taken out
 * of it), so the connection can travel; and it has not travelled too often. */
bool handoff_can_travel(const conn_t *c)
{
    /* a PROXY protocol header travels ahead of the request when it was kept; the taker
     * parses the bytes again, so they must be the request as it came: not one whose
     * chunk framing was consumed (even an empty chunked body's "0\r\n" is, when the last
     * CRLF comes in a later packet), or the taker would read body bytes as framing */
    return c->hops < SHARE_MAX_HOPS && !c->app_busy && !c->send_inflight && c->spool_fd < 0 &&
           c->req.body_total == 0 && !c->req.compacted &&
           c->in.len + c->pp.raw_len <= SHARE_MAX_BYTES && (!c->pp.used || c->pp.raw);
}

/* The sibling that should take c's request now, or -1: one with a free application
 * thread; when this worker is leaving, any that takes work. */
static int sibling_for(worker_t *w)
{
    return share_pick(w->share, w->index, w->pick_next, w->leaving);
}

/* Every thread of this worker has been in its request for longer than SHARE_PARK_MS: a
 * request that waited here would wait for a slow one. Short requests (a saturated hello
 * world) never look so, and theirs stay: a hand-off costs more than their wait. */
static bool threads_in_long_requests(worker_t *w)
{
    uint64_t youngest = pool_youngest(w->pool);
    return youngest && w->now_ms > youngest + SHARE_PARK_MS;
}

/* Whether a request this worker cannot start should leave it now, for a free sibling or
 * else the shared queue: the worker is leaving, or its threads are in long requests. */
static bool worth_passing_on(worker_t *w)
{
    /* A leaving worker hands all its work on: to a sibling that takes work, else to the
     * shared queue, where a successor takes it once it is ready (so a limit such as
     * --max-requests holds even when every worker is being replaced at once). Alone, with
     * no sibling and so no successor beside it, it serves on until its successor is ready. */
    if (w->leaving)
        return __atomic_load_n(&w->share->table->nslots, __ATOMIC_RELAXED) > 1 ||
               sibling_for(w) >= 0;
    /* Even with no sibling the shared queue is the better place: a request waiting there
     * outlives this worker if it crashes or is killed, as it would in the accept queue. */
    return threads_in_long_requests(w);
}

/* Whether c's next request should leave this worker now: it cannot start it (or is
 * leaving), the request can travel, and waiting here would be long. A draining worker
 * passes on only to a sibling: the shared queue may have no reader left. */
bool handoff_should_pass_on(worker_t *w, conn_t *c)
{
    if (!w->share || (worker_can_start(w) && !w->leaving))
        return false;
    return handoff_can_travel(c) && worth_passing_on(w) && (!w->draining || sibling_for(w) >= 0);
}

/* A request queued for this worker's threads behind busy ones is remembered here, oldest
 * first, so that it can still move (handoff_share_parked) until a thread takes it. */
void handoff_park(worker_t *w, conn_t *c)
{
    c->parked = true;
    c->parked_ms = w->now_ms;
    c->park_next = NULL;
    c->park_prev = w->park_tail;
    if (w->park_tail)
        w->park_tail->park_next = c;
    else
        w->park_head = c;
    w->park_tail = c;
}

void handoff_unpark(worker_t *w, conn_t *c)
{
    if (!c->parked)
        return;
    if (c->park_prev)
        c->park_prev->park_next = c->park_next;
    else
        w->park_head = c->park_next;
    if (c->park_next)
        c->park_next->park_prev = c->park_prev;
    else
        w->park_tail = c->park_prev;
    c->park_prev = c->park_next = NULL;
    c->parked = false;
}

/* The receive has stopped, so c->in holds every byte we took from the socket: send the
 * connection and those bytes to a sibling and close our descriptor (the connection lives
 * on in the sibling). When no sibling takes it after all, it is served here. */
void handoff_finish(worker_t *w, conn_t *c)
{
    c->handing_off = false;
    int k = sibling_for(w);
    w->pick_next++;
    bool to_queue = k < 0 && c->to_queue && !w->draining;
    c->to_queue = false;
    if (to_queue)
        k = (int)SHARE_QUEUE;
    share_msg_t m = {
        .fd = c->fd,
        .bind = c->listener,
        .hops = (uint16_t)(c->hops + 1),
        .data = c->in.data,
        .len = c->in.len,
        .first_byte_ns = stats_request_first_byte_ns(c), /* the time it spent here is waited */
    };
    buf_t with_header = {0}; /* the PROXY header the sibling reads first, then the request */
    if (c->pp.raw) {
        buf_append(&with_header, c->pp.raw, c->pp.raw_len);
        buf_append(&with_header, c->in.data, c->in.len);
        m.data = with_header.data;
        m.len = with_header.len;
    }
    if (to_queue)
        m.hops = SHARE_MAX_HOPS; /* whoever takes it from the queue has a thread free */
    /* the queue's count goes up before the datagram is there, never after: a reader woken
     * by the datagram must not find the count still at 0 and leave it waiting */
    int32_t *queued = &w->share->table->queued;
    if (to_queue)
        __atomic_add_fetch(queued, 1, __ATOMIC_RELAXED);
    bool sent = (k >= 0 || to_queue) && m.len <= SHARE_MAX_BYTES &&
                (worker_syscall(w), share_send(w->share, (unsigned)k, &m)) == 0;
    buf_free(&with_header);
    if (sent) {
        sb_add64(&w->sb->handed_off, 1);
        c->in.len = c->parsed = 0;
        conn_close_now(w, c);
        return;
    }
    if (to_queue)
        __atomic_sub_fetch(queued, 1, __ATOMIC_RELAXED);
    c->hops = SHARE_MAX_HOPS; /* served here, and not offered again */
    conn_recv_start(w, c);
    conn_process_input(w, c);
}

/* Stops the receive first: a multishot recv may still deliver bytes that must travel
 * with the connection (on_recv appends them, then finishes the hand-off). With
 * `to_queue`, the shared queue takes it when no sibling is free by then. */
void handoff_start(worker_t *w, conn_t *c, bool to_queue)
{
    handoff_unpark(w, c);
    c->to_queue = to_queue;
    c->handing_off = true;
    worker_timer_disarm(w, c);
    if (c->recv_armed) {
        conn_recv_pause(w, c);
        return;
    }
    handoff_finish(w, c);
}

/* Takes c's request back from the threads' queue, before any thread has taken it, and
 * undoes what starting it did; returns false when a thread has it already. */
static bool reclaim(worker_t *w, conn_t *c)
{
    if (!pool_reclaim(w->pool, c))
        return false;
    c->app_busy = false;
    c->ops--;
    w->in_app--;
    w->requests_started--;
    stats_request_cancel(w, c);
    c->state = CONN_READING;
    buf_reset(&c->out, CONN_KEEP_BUF_CAP);
    if (c->app->stash.len) { /* what arrived meanwhile travels too */
        buf_append(&c->in, c->app->stash.data, c->app->stash.len);
        buf_reset(&c->app->stash, CONN_KEEP_BUF_CAP);
    }
    return true;
}

void handoff_share_parked(worker_t *w)
{
    /* While the shared queue holds requests, requests waiting here join it too: threads
     * that free up take from it, oldest first, as from one queue for all workers */
    bool pass_on =
        worth_passing_on(w) || __atomic_load_n(&w->share->table->queued, __ATOMIC_RELAXED) > 0;
    conn_t *c = w->park_head;
    while (c) {
        conn_t *next = c->park_next;
        bool move = pass_on || (w->now_ms >= c->parked_ms + SHARE_PARK_MS && sibling_for(w) >= 0);
        if (!move)
            break; /* the rest are younger, or no sibling is free */
        handoff_unpark(w, c);
        if (reclaim(w, c))
            handoff_start(w, c, pass_on);
        c = next;
    }
}

void handoff_unpark_all(worker_t *w)
{
    while (w->park_head)
        handoff_unpark(w, w->park_head); /* they stay in the threads' queue */
}
