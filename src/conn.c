/* The connection state machine and its dispatch: receive, parse, answer, send, close
 * (loop thread). */
#include "src/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/probes.h"
#include "common/log.h"
#include "src/asgiconn.h"
#include "src/filesend.h"
#include "src/handoff.h"
#include "src/loopcall.h"
#include "src/pool.h"
#include "src/reply.h"
#include "src/share.h"
#include "src/spool.h"
#include "src/stats.h"
#include "src/worker.h"
#include "src/wsconn.h"

/* Received bytes we keep unparsed (pipelined while a response is in flight, or a body
 * arriving while its previous piece is being written to the spool file) before we stop
 * reading. */
#define IN_PAUSE_BYTES (1024 * 1024)

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void handle_request(worker_t *w, conn_t *c);
static void start_request(worker_t *w, conn_t *c);
static void send_output(worker_t *w, conn_t *c);

/* ---- settings shared by the worker's connections ------------------------------------ */

int conn_setup(worker_t *w, char *err, size_t errlen)
{
    const tun_config_t *cfg = w->cfg;
    conn_shared_t *sh = &w->conn_shared;
    memset(sh, 0, sizeof(*sh));
    proxy_setup(&sh->proxy, &cfg->forwarded_allow, &cfg->secure_scheme);
    proxyhdr_setup(&sh->pp, cfg);
    uwsgireq_setup(&sh->uw, cfg);
    sh->root_path = cfg->root_path ? cfg->root_path : "";
    sh->root_path_len = strlen(sh->root_path);
    sh->spool_threshold = (uint64_t)cfg->body_spool_threshold;
    const char *dir = cfg->tmp_upload_dir;
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    if (strlen(dir) >= sizeof(sh->spool_dir)) {
        snprintf(err, errlen, "the directory for request bodies is too long: %s", dir);
        return -1;
    }
    snprintf(sh->spool_dir, sizeof(sh->spool_dir), "%s", dir);
    return 0;
}

/* ---- the ring: receiving, sending, closing ------------------------------------------ */

/* Unparsed input beyond which we stop receiving until it has been dealt with. */
static bool input_full(const conn_t *c)
{
    size_t waiting = c->in.len - c->parsed + (c->app ? c->app->stash.len : 0);
    /* (an ASGI body waits in req.body until the application takes it) */
    return waiting > IN_PAUSE_BYTES || (c->asgi.req && c->req.body.len > ASGICONN_BODY_PAUSE) ||
           wsconn_paused(c); /* (a WebSocket whose application has not read its messages) */
}

/* Hands c to an application thread for `step`; the loop goes on when it comes back
 * (on_step_done). The step counts as an operation in flight: the slot stays. c->app was
 * made by conn_open (a worker with threads). */
static void run_step(worker_t *w, conn_t *c, int step)
{
    c->app->step = (uint8_t)step;
    c->app_busy = true;
    if (step == CONN_STEP_CALL)
        w->in_app++; /* until its thread lets go of it (on_step_done) */
    c->ops++;
    pool_submit(w->pool, c);
}

/* The loop is done with the reply: it is finished now, or (with threads) by a
 * CONN_STEP_FINISH in the thread that owns it, which counts as an operation in flight.
 * Returns true in the second case. */
bool conn_reply_release(worker_t *w, conn_t *c)
{
    if (w->pool) {
        run_step(w, c, CONN_STEP_FINISH);
        return true;
    }
    reply_finish(c);
    return false;
}

void conn_recv_start(worker_t *w, conn_t *c)
{
    if (c->recv_armed || c->peer_closed || c->state == CONN_CLOSING)
        return;
    ring_recv_multishot(&w->ring, c->fd, conn_ud(c, OP_RECV));
    c->recv_armed = true;
    c->ops++;
}

/* Stops the multishot receive; the final completion (-ECANCELED, no F_MORE) clears
 * recv_armed, and whoever drains the input starts it again. */
void conn_recv_pause(worker_t *w, conn_t *c)
{
    if (!c->recv_armed || c->recv_cancelling)
        return;
    ring_cancel(&w->ring, conn_ud(c, OP_RECV), conn_ud(c, OP_CANCEL));
    c->recv_cancelling = true;
    c->ops++;
}

void conn_send_start(worker_t *w, conn_t *c)
{
    UF_ASSERT(!c->send_inflight && c->sent < c->out.len);
    ring_send(&w->ring, c->fd, c->out.data + c->sent, c->out.len - c->sent, conn_ud(c, OP_SEND));
    c->send_inflight = true;
    c->ops++;
}

void conn_close_now(worker_t *w, conn_t *c)
{
    if (c->state == CONN_CLOSING)
        return;
    handoff_unpark(w, c);
    if (c->app_busy) {
        /* the thread owns the response: close when it hands the connection back */
        c->app->close_when_back = true;
        return;
    }
    if (c->state == CONN_WRITING)
        stats_request_done(w, c); /* a response cut off: logged with what was sent */
    asgiconn_detach(c, true);
    c->state = CONN_CLOSING;
    UF_PROBE2(conn__close, w->index, c->conn_id);
    worker_timer_disarm(w, c);
    /* a chunk the kernel may still be sending from keeps its reply until the
     * notification (filesend_on_send_zc finishes it then) */
    if (c->reply && !filesend_chunk_busy(c)) {
        c->zc_chunk = NULL;
        conn_reply_release(w, c); /* with threads, the slot waits for it (ops) */
    }
    if (c->recv_armed) {
        ring_cancel(&w->ring, conn_ud(c, OP_RECV), conn_ud(c, OP_CANCEL));
        c->ops++;
    }
    ring_close(&w->ring, c->fd, conn_ud(c, OP_CLOSE));
    c->ops++;
}

/* The slot's last operation has completed: close the files no operation can still use,
 * give the slot back, and leave it clean (a free slot keeps no large buffer). */
static void release(worker_t *w, conn_t *c)
{
    if (c->spool_fd >= 0)
        (worker_syscall(w), close(c->spool_fd));
    if (c->file_fd >= 0)
        (worker_syscall(w), close(c->file_fd));
    if (c->zc_block >= 0) {
        /* every notification has arrived (ops == 0): the kernel is done with it */
        ring_arena_put(&w->ring, c->zc_block);
    }
    wsconn_free(w, c);
    worker_conn_release(w, c);
    conn_reset(c, CONN_RESET_CONNECTION);
}

/* After the last byte of a response that ends the connection: send our FIN and read
 * (and drop) whatever the client still sends until its FIN, so that closing with unread
 * input does not reset the connection and destroy the response before it is read. */
static void linger(worker_t *w, conn_t *c)
{
    if (c->peer_closed) {
        conn_close_now(w, c);
        return;
    }
    c->state = CONN_LINGERING;
    /* A plain syscall, not the ring's shutdown operation: the kernel punts that op to a worker
     * thread which resolves the fd number only when it runs, by which time our close
     * may have freed the number and an accept reused it, shutting down a stranger's
     * connection (seen under Connection: close load). Fixed files will lift this. */
    (worker_syscall(w), shutdown(c->fd, SHUT_WR));
    c->in.len = c->parsed = 0;
    conn_recv_start(w, c);
    worker_timer_arm(w, c, CONN_TIMER_LINGER);
}

void conn_answer_error(worker_t *w, conn_t *c, int status)
{
    if (c->send_inflight) {
        /* only the interim "100 Continue" can be in flight while reading: follow it */
        c->pending_error = (uint16_t)status;
        c->state = CONN_WRITING;
        return;
    }
    c->close_after = true;
    c->status_code = status;
    c->state = CONN_WRITING;
    buf_reset(&c->out, CONN_KEEP_BUF_CAP);
    c->sent = 0;
    /* the answer to HEAD has no body, not even an error's */
    bool head = c->req.method.len == 4 && memcmp(c->in.data + c->req.method.off, "HEAD", 4) == 0;
    resp_write_error(&c->out, status, head);
    conn_send_start(w, c);
}

/* ---- reading a request ---------------------------------------------------------------- */

static void on_spool_write(worker_t *w, conn_t *c, int res)
{
    int r = spool_on_write(w, c, res);
    if (r < 0)
        conn_answer_error(w, c, 500);
    if (r <= 0)
        return;
    conn_process_input(w, c); /* what arrived meanwhile, or the request itself */
    if (c->state != CONN_READING || c->spool_busy)
        return;
    if (c->peer_closed) {
        conn_close_now(w, c); /* cut off mid-request: nothing more will complete it */
        return;
    }
    if (!input_full(c))
        conn_recv_start(w, c);
}

/* The interim "100 Continue" counts as the connection's one send in flight, so the final
 * response can never overtake it, and a short send is resumed like any other. */
void conn_send_continue(worker_t *w, conn_t *c)
{
    ring_send(&w->ring, c->fd, continue_line + c->continue_sent,
              sizeof(continue_line) - 1 - c->continue_sent, conn_ud(c, OP_CONTINUE));
    c->send_inflight = true;
    c->ops++;
}

static void on_continue(worker_t *w, conn_t *c, int res)
{
    c->send_inflight = false;
    if (c->state == CONN_CLOSING)
        return;
    if (res < 0) {
        conn_close_now(w, c);
        return;
    }
    c->continue_sent += (uint8_t)res;
    if (c->continue_sent < sizeof(continue_line) - 1) {
        conn_send_continue(w, c);
        return;
    }
    if (c->pending_error) {
        int status = c->pending_error;
        c->pending_error = 0;
        conn_answer_error(w, c, status);
        return;
    }
    if (c->asgi.req) {
        asgiconn_sent(w, c); /* output the application produced meanwhile */
        return;
    }
    if (c->state == CONN_READING && c->req.complete)
        conn_process_input(w, c); /* the body arrived meanwhile: answer it now */
    else if (c->state == CONN_READING && c->peer_closed)
        conn_close_now(w, c); /* half-closed: the body it announced will never come */
}

/* Once per request, when its headers are complete: a declared body above the threshold
 * goes to a file from its first byte, and a client waiting for 100 Continue is told to
 * send the body, now that we know we will take it (a body over --limit-request-body has
 * already failed in the parser with 413, without a 100 Continue). Returns false when the
 * connection is failing. */
static bool headers_ready(worker_t *w, conn_t *c)
{
    const http_req_t *req = &c->req;
    if (w->asgi)
        return true; /* the body streams to the application, which asks for it (asgiconn.h) */
    if (spool_headers_done(w, c) < 0) {
        conn_answer_error(w, c, 500);
        return false;
    }
    if (req->expect_continue && req->version_minor >= 1 && !req->complete && !c->send_inflight) {
        /* a probe that will refuse the method is answered now: no 100 Continue inviting
         * a body that the final 405 does not need */
        const py_request_t probe = {
            .method = {c->in.data + req->method.off, req->method.len},
            .target = {c->in.data + req->target.off, req->target.len},
        };
        if (stats_probe_refuses(w, &probe)) {
            handle_request(w, c); /* not complete, so the connection closes after it */
            return false;
        }
        c->continue_sent = 0;
        conn_send_continue(w, c);
    }
    return true;
}

/* A body is arriving: its deadline is the gap until the next piece (--body-timeout). */
static void arm_body_timer(worker_t *w, conn_t *c)
{
    if (w->cfg->body_timeout > 0)
        worker_timer_arm(w, c, CONN_TIMER_BODY);
    else
        worker_timer_disarm(w, c);
}

/* Parses what has arrived; answers at most one request (the next one waits until this
 * one's response is out). Also called when a spool write completes, to go on. */
void conn_process_input(worker_t *w, conn_t *c)
{
    if (c->state != CONN_READING || c->spool_busy || c->handing_off || c->parked)
        return; /* (a parked request is complete: what follows it waits its turn) */
    if (c->pp.waiting && proxyhdr_take(w, c) <= 0)
        return;
    http_req_t *req = &c->req;
    /* a new request on a worker that cannot start it now: a sibling may, before we even
     * parse it */
    if (c->parsed == 0 && c->in.len && http_idle(req) && handoff_should_pass_on(w, c)) {
        handoff_start(w, c, true);
        return;
    }
    if (!req->complete && c->parsed < c->in.len) {
        if (c->timer == CONN_TIMER_IDLE)
            worker_timer_arm(w, c, CONN_TIMER_HEADER);
        bool had_headers = req->headers_done, had_start = req->started;
        uint64_t had_body = req->body_total;
        long r =
            c->uw.used ? uwsgireq_parse(w, c) : http_parse(req, c->in.data, c->parsed, c->in.len);
        if (r < 0) {
            if (r == -1)
                conn_answer_error(w, c, req->error_status);
            return;
        }
        c->parsed = (size_t)r;
        if (!had_start && req->started) {
            stats_request_first_byte(c);
            UF_PROBE3(request__start, w->index, c->conn_id, c->req_no);
        }
        if (!had_headers && req->headers_done) {
            if (!c->t_mark_ns[STATS_MARK_FIRST_BYTE])
                stats_request_first_byte(c); /* (a uwsgi packet has no request line) */
            stats_request_mark(c, STATS_MARK_HEADERS);
            UF_PROBE3(headers__done, w->index, c->conn_id, c->req_no);
            if (!headers_ready(w, c))
                return;
        }
        if (req->headers_done && !req->complete && (!had_headers || req->body_total > had_body))
            arm_body_timer(w, c);
    }
    if (w->asgi && req->headers_done && !req->complete) {
        /* the application gets the request now and reads the body as it comes */
        c->in.len = http_compact(req, c->in.data, c->in.len, &c->parsed);
        handle_request(w, c);
        return;
    }
    if (!req->complete) {
        c->in.len = http_compact(req, c->in.data, c->in.len, &c->parsed);
        if (spool_more(w, c, false) < 0)
            conn_answer_error(w, c, 500);
        return;
    }
    /* the request goes to the application once all of a spooled body is written, and
     * once a "100 Continue" still being sent is out (its completion comes back here) */
    if (!w->asgi && spool_more(w, c, true) < 0) { /* (ASGI bodies stream, never spooled) */
        conn_answer_error(w, c, 500);
        return;
    }
    if (c->spool_busy || c->send_inflight)
        return;
    worker_timer_disarm(w, c);
    handle_request(w, c);
}

/* ---- the peer ------------------------------------------------------------------------ */

bool conn_lookup_peer(worker_t *w, conn_t *c, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof(*ss);
    c->have_peer = true;
    c->trusted = false;
    c->peer_host[0] = 0;
    c->peer_port = 0;
    if ((worker_syscall(w), getpeername(c->fd, (struct sockaddr *)ss, &len)) < 0)
        return false;
    /* a unix peer is its bound path, "" as a rule (gunicorn's REMOTE_ADDR from accept) */
    c->peer_unix = ss->ss_family == AF_UNIX;
    if (c->peer_unix)
        net_unix_text((const struct sockaddr *)ss, len, c->peer_host, sizeof(c->peer_host));
    else
        net_addr_host((const struct sockaddr *)ss, c->peer_host, sizeof(c->peer_host),
                      &c->peer_port);
    c->trusted = proxy_trusts(&w->conn_shared.proxy, (const struct sockaddr *)ss);
    return true;
}

bool conn_peer_is_loopback(const conn_t *c)
{
    if (c->pp.used)
        return c->pp.sock_loopback;
    return c->peer_unix || strncmp(c->peer_host, "127.", 4) == 0 ||
           strcmp(c->peer_host, "::1") == 0 || strncmp(c->peer_host, "::ffff:127.", 11) == 0;
}

/* ---- answering a request ---------------------------------------------------------------- */

/* Fills pr from the parsed request. Returns 0, or the status to answer instead: 400 when
 * a trusted proxy's scheme headers contradict each other (as gunicorn does). */
static int build_request(worker_t *w, conn_t *c, py_request_t *pr)
{
    const http_req_t *req = &c->req;
    const char *base = c->in.data;
    /* With threads, the request lives on in its thread while the loop builds the next
     * one: each connection has its own headers. Otherwise one array serves them all. */
    py_header_t **headers = c->app ? &c->app->headers : &w->scratch_headers;
    size_t *cap = c->app ? &c->app->headers_cap : &w->scratch_cap;
    if (*cap < req->header_count) {
        *cap = req->header_count * 2;
        *headers = uf_realloc(*headers, *cap * sizeof(py_header_t));
    }
    if (!c->have_peer) {
        struct sockaddr_storage ss;
        conn_lookup_peer(w, c, &ss);
    }
    const conn_shared_t *sh = &w->conn_shared;
    for (uint32_t i = 0; i < req->header_count; i++) {
        const http_header_t *h = &req->headers[i];
        (*headers)[i] = (py_header_t){
            {base + h->name.off, h->name.len},
            {base + h->value.off, h->value.len},
        };
    }
    py_slice_t script_name = {sh->root_path, sh->root_path_len};
    proxy_script_name(c->trusted, *headers, req->header_count, &script_name);
    proxy_scheme_t scheme = proxy_scheme(&sh->proxy, c->trusted, *headers, req->header_count);
    if (scheme == PROXY_SCHEME_CONFLICT)
        return 400;
    const worker_listener_t *l = &w->listeners[c->listener];
    bool spooled = c->spool_fd >= 0;
    *pr = (py_request_t){
        .method = {base + req->method.off, req->method.len},
        .target = {base + req->target.off, req->target.len},
        .version_minor = req->version_minor,
        .headers = *headers,
        .header_count = req->header_count,
        .body = spooled ? NULL : req->body.data,
        .body_len = spooled ? c->spool_len : req->body.len,
        .body_fd = c->spool_fd,
        .script_name = script_name,
        .https = scheme == PROXY_SCHEME_HTTPS || c->pp.ssl,
        .remote_addr = c->peer_host,
        .remote_port = c->peer_port,
        .server_name = c->pp.dst_host[0] ? c->pp.dst_host : l->host,
        .server_port = c->pp.dst_host[0] ? c->pp.dst_port : l->port,
        .unix_socket = l->af_unix && !c->pp.dst_host[0],
    };
    if (c->uw.used)
        uwsgireq_request(w, c, pr);
    return 0;
}

/* Back on the loop thread after reply_call. */
static void start_response(worker_t *w, conn_t *c, int called)
{
    if (called < 0)
        conn_answer_error(w, c, 500);
    else if (c->reply && c->reply->file_fd >= 0)
        filesend_start(w, c);
    else
        conn_send_start(w, c);
}

static void handle_request(worker_t *w, conn_t *c)
{
    if (handoff_should_pass_on(w, c)) {
        handoff_start(w, c, true);
        return;
    }
    bool may_move = w->share && !worker_can_start(w) && handoff_can_travel(c);
    start_request(w, c);
    if (may_move && c->app_busy)
        handoff_park(w, c); /* queued behind busy threads: it may still move */
}

/* What the master names if a request the loop calls outlives --timeout (with threads,
 * the loop publishes the oldest request of any thread: pool_oldest; ASGI marks each step
 * of a task instead). */
static void publish_loop_call(worker_t *w, const py_request_t *pr)
{
    if (w->cfg->timeout > 0)
        snprintf(w->sb->request_line, sizeof(w->sb->request_line), "%.*s %.*s", (int)pr->method.len,
                 pr->method.ptr, (int)pr->target.len, pr->target.ptr);
    sb_set64(&w->sb->request_start_ms, w->now_ms);
}

/* Whether the loop calls c's request itself (src/loopcall.h): its target has earned it,
 * the thread is idle (so the GIL is not held for a request), and the whole body is here
 * (wsgi.input must not wait for bytes only the loop can receive). */
static bool loop_may_call(const worker_t *w, const conn_t *c)
{
    return w->loopcall && w->in_app == 0 && c->req.complete &&
           loopcall_fits(w->loopcall, c->app->route);
}

/* The call as the thread would make it, in the loop. A response the call did not finish
 * (a streamed body, a file) is the thread's from here on: its next step goes through the
 * pool's queue and the thread takes it over, as for a request it called itself. */
static void call_in_loop(worker_t *w, conn_t *c)
{
    conn_app_t *a = c->app;
    publish_loop_call(w, &a->req);
    a->step = CONN_STEP_CALL;
    c->app_busy = true; /* reply.h's rule: Python runs inside a step */
    py_interp_acquire();
    uint64_t began = stats_clock_ns();
    int called = reply_call(w, c, &a->req);
    uint64_t took = stats_clock_ns() - began;
    py_interp_release();
    c->app_busy = false;
    sb_set64(&w->sb->request_start_ms, w->oldest_ms); /* the threads' oldest again */
    bool finished = c->reply == NULL;
    loopcall_learn(w->loopcall, a->route, took, finished);
    if (!finished) {
        a->started_ms = w->now_ms;
        a->thread = -1;
        w->in_app++; /* until the thread lets go of it (on_step_done) */
    }
    start_response(w, c, called);
}

/* Calls the application for c's complete request (or answers it from C). */
static void start_request(worker_t *w, conn_t *c)
{
    worker_request_started(w);
    py_request_t local, *pr = w->pool ? &c->app->req : &local;
    stats_request_begin(w, c);
    int status = build_request(w, c, pr);
    if (status) {
        conn_answer_error(w, c, status);
        return;
    }
    if (!w->pool && !w->asgi)
        publish_loop_call(w, pr);
    c->state = CONN_WRITING;
    buf_reset(&c->out, CONN_KEEP_BUF_CAP);
    c->sent = 0;
    if (!c->req.complete)
        c->close_after = true;   /* answered before its whole body: nothing can follow it */
    if (stats_probe(w, c, pr)) { /* --health-path, --ready-path: answered without Python */
        conn_send_start(w, c);
        return;
    }
    c->reply_ended = false;
    c->plan = (resp_plan_t){
        .version_minor = c->uw.used ? 0 : c->req.version_minor, /* uwsgi: never chunked */
        .head_request = pr->method.len == 4 && memcmp(pr->method.ptr, "HEAD", 4) == 0,
        .keep_alive = c->req.keep_alive && !w->draining && !c->peer_closed && w->cfg->keepalive > 0,
    };
    if (w->pool) {
        c->app->started_ms = 0;
        if (w->loopcall)
            c->app->route = loopcall_key(pr);
        if (loop_may_call(w, c))
            call_in_loop(w, c);
        else
            run_step(w, c, CONN_STEP_CALL);
        return;
    }
    if (w->asgi) {
        c->close_after = false; /* decided with the head, when the body may be whole */
        asgiconn_start(w, c, pr);
        return;
    }
    start_response(w, c, reply_call(w, c, pr));
}

/* A step came back from its thread: the response is the loop's again. */
static void on_step_done(worker_t *w, conn_t *c)
{
    conn_app_t *a = c->app;
    c->app_busy = false;
    handoff_unpark(w, c); /* a thread took it: it stays */
    if (a->thread < 0) {
        w->in_app--; /* the request is over for its thread: it may take another */
        worker_take_queued(w);
    }
    if (a->stash.len) {
        buf_append(&c->in, a->stash.data, a->stash.len);
        buf_reset(&a->stash, CONN_KEEP_BUF_CAP);
    }
    if (c->state == CONN_CLOSING)
        return; /* the reply of a closed connection, finished */
    if (a->close_when_back) {
        a->close_when_back = false;
        conn_close_now(w, c);
        return;
    }
    switch (a->step) {
    case CONN_STEP_CALL:
        if (w->loopcall)
            loopcall_learn(w->loopcall, a->route, a->call_ns, c->reply == NULL);
        start_response(w, c, a->result);
        break;
    case CONN_STEP_NEXT:
        if (a->result < 0)
            conn_close_now(w, c); /* headers are out; only the close can tell the client */
        else
            send_output(w, c);
        break;
    case CONN_STEP_FINISH:
        conn_response_done(w, c);
        break;
    }
    if (c->state != CONN_CLOSING && !c->recv_armed && !input_full(c))
        conn_recv_start(w, c); /* paused while the stash filled up */
}

/* The whole response is out: close, or get ready for the next request on the
 * connection and answer it at once if it is already here (pipelining). */
void conn_response_done(worker_t *w, conn_t *c)
{
    /* with threads the reply is closed in its thread first (close() may run application
     * code), and the finished step comes back here */
    if (c->reply && conn_reply_release(w, c))
        return;
    stats_request_done(w, c); /* metrics and the access log line, while c->in holds it */
    asgiconn_detach(c, false);
    sb_set64(&w->sb->requests, sb_get64(&w->sb->requests) + 1);
    if (!w->pool && !w->asgi)
        sb_set64(&w->sb->request_start_ms, 0);
    if (!c->spool_busy)
        spool_close(c); /* the application is done with the body */
    if (c->close_after) {
        linger(w, c);
        return;
    }
    conn_reset(c, CONN_RESET_REQUEST);
    c->state = CONN_READING;
    if (c->peer_closed && c->in.len == 0) {
        conn_close_now(w, c);
        return;
    }
    conn_recv_start(w, c);
    if (c->in.len) {
        conn_process_input(w, c);
        /* the client has half-closed: a request it left unfinished never will be */
        if (c->peer_closed && c->state == CONN_READING && !c->send_inflight)
            conn_close_now(w, c);
    } else {
        /* This response promised keep-alive, so the client may send again even though
         * we are draining: wait a little and answer that request with a close. */
        worker_timer_arm(w, c, w->draining ? CONN_TIMER_DRAIN : CONN_TIMER_IDLE);
    }
}

static void on_send(worker_t *w, conn_t *c, int res)
{
    c->send_inflight = false;
    if (c->state == CONN_CLOSING)
        return;
    if (res < 0) {
        if (res != -EPIPE && res != -ECONNRESET)
            log_debug("send failed: %s", strerror(-res));
        conn_close_now(w, c);
        return;
    }
    c->sent += (size_t)res;
    c->bytes_out += (uint64_t)res;
    UF_PROBE4(send__done, w->index, c->conn_id, c->req_no, res);
    if (c->sent < c->out.len) {
        conn_send_start(w, c); /* partial send: the socket buffer was full */
        return;
    }
    c->out.len = c->sent = 0;
    if (c->zc_chunk) {
        filesend_chunk(w, c); /* the large chunk that follows what `out` held */
        return;
    }
    conn_send_more(w, c);
}

/* Everything produced so far is sent: go on with the body, or end the response. */
void conn_send_more(worker_t *w, conn_t *c)
{
    if (filesend_more(w, c))
        return;
    if (c->asgi.req) {
        asgiconn_sent(w, c);
        return;
    }
    if (c->reply && !c->reply_ended) {
        if (w->pool) {
            run_step(w, c, CONN_STEP_NEXT);
            return;
        }
        if (reply_fill(w, c) < 0) {
            conn_close_now(w, c); /* headers are out; only the close can tell the client */
            return;
        }
    }
    send_output(w, c);
}

/* Sends what the application produced: `out`, then a zero-copy chunk; with nothing
 * left, the response is done. */
static void send_output(worker_t *w, conn_t *c)
{
    if (c->out.len > c->sent)
        conn_send_start(w, c);
    else if (c->zc_chunk)
        filesend_chunk(w, c);
    else
        conn_response_done(w, c);
}

static void on_recv(worker_t *w, conn_t *c, int res, unsigned flags)
{
    if (!(flags & RING_F_MORE))
        c->recv_armed = c->recv_cancelling = false;
    if (res > 0) {
        stats_request_received(w, c);
        sb_add64(&w->sb->bytes_in, (uint64_t)res);
        unsigned bid = ring_buffer_id(flags);
        if (c->state != CONN_CLOSING && c->state != CONN_LINGERING)
            buf_append(c->app_busy ? &c->app->stash : &c->in, ring_buffer(&w->ring, bid),
                       (size_t)res);
        ring_buffer_recycle(&w->ring, bid);
    } else if (res == 0) {
        c->peer_closed = true;
    } else if (res == -ENOBUFS) {
        UF_COUNT(w->recv_enobufs, 1); /* not an end: the receive is armed again */
    } else if (res != -ECANCELED) {
        c->peer_closed = true; /* reset or other error: nothing more will come */
    }

    if (c->handing_off) {
        if (!c->recv_armed)
            handoff_finish(w, c); /* every byte the receive took is in c->in */
        return;
    }
    switch (c->state) {
    case CONN_READING:
        conn_process_input(w, c);
        if (c->peer_closed) {
            /* idle, or cut off mid-request: nothing more will come to complete it (a
             * spool write in flight finishes first and then looks again) */
            if (c->state == CONN_READING && !c->spool_busy && !c->parked)
                conn_close_now(w, c);
            return;
        }
        break;
    case CONN_WRITING:
        if (c->asgi.req) {
            asgiconn_input(w, c); /* the body the task reads, or its client gone */
            if (c->state == CONN_CLOSING)
                return;
        }
        break;
    case CONN_LINGERING:
        if (c->peer_closed) {
            conn_close_now(w, c);
            return;
        }
        break;
    default:
        return;
    }
    /* Keep the bytes for later, but stop reading when a client sends far more than we
     * can take yet (pipelining ahead of our answers, or a body faster than its spool
     * file): the multishot recv is cancelled and re-armed when the input drains. */
    if (c->state != CONN_LINGERING && input_full(c)) {
        conn_recv_pause(w, c);
        return;
    }
    conn_recv_start(w, c);
}

void conn_reset(conn_t *c, conn_reset_scope_t scope)
{
    c->hops = 0; /* the next request may travel again */
    if (scope == CONN_RESET_REQUEST)
        buf_consume(&c->in, c->parsed); /* pipelined bytes stay for the next request */
    else
        c->in.len = 0;
    c->parsed = 0;
    if (c->in.len == 0)
        buf_reset(&c->in, CONN_KEEP_BUF_CAP);
    buf_reset(&c->out, CONN_KEEP_BUF_CAP);
    buf_reset(&c->asgi.next, CONN_KEEP_BUF_CAP);
    c->sent = 0;
    if (scope == CONN_RESET_REQUEST) {
        http_req_next(&c->req);
        c->req_no++;
        c->t_carry_ns = c->in.len ? c->t_recv_ns : 0; /* pipelined: the next one's first byte */
        return;
    }
    c->t_carry_ns = 0;
    memset(c->t_mark_ns, 0, sizeof(c->t_mark_ns));
    http_req_reset(&c->req);
    c->timer = CONN_TIMER_NONE;
    c->recv_armed = c->send_inflight = c->peer_closed = c->close_after = false;
    c->handing_off = c->parked = c->to_queue = false;
    c->have_peer = c->trusted = c->peer_unix = false;
    proxyhdr_forget(c);
    memset(&c->pp, 0, sizeof(c->pp));
    c->uw.used = false;
    c->uw.head_len = 0; /* (its variables' array stays with the slot) */
    c->spool_busy = c->file_busy = c->file_by_read = c->recv_cancelling = false;
    c->app_busy = c->reply_ended = false;
    c->asgi.head = c->asgi.ended = c->asgi.continued = false;
    c->asgi.path_fd = -1;
    if (c->app) {
        c->app->close_when_back = false;
        c->app->thread = -1;
    }
    c->ops = 0;
    c->reply = NULL;
    c->spool_fd = c->file_fd = -1;
    c->spool_len = 0;
    c->zc_block = -1;
    c->zc_pending = c->zc_notifs[0] = c->zc_notifs[1] = 0;
    c->zc_half = 0;
    c->zc_chunk = NULL;
    c->zc_off = false;
    c->pending_error = 0;
    c->t_start_ns = 0;
    c->status_code = 0;
    c->body_out = c->bytes_out = 0;
}

/* Gives fd a slot of the pool, every per-connection field fresh. */
static conn_t *take_slot(worker_t *w, int fd, unsigned listener)
{
    UF_ASSERT(w->free_count > 0);
    uint32_t slot = w->free_slots[--w->free_count];
    conn_t *c = &w->conns[slot];
    c->fd = fd;
    c->slot = slot;
    c->gen = (c->gen + 1) & 0xffffff;
    if (c->gen == 0)
        c->gen = 1;
    c->listener = (uint16_t)listener;
    if (w->pool && !c->app)
        c->app = uf_calloc(1, sizeof(*c->app));
    conn_reset(c, CONN_RESET_CONNECTION);
    c->state = CONN_READING;
    w->active++;
    stats_conn_open(w, c);
    return c;
}

void conn_open(worker_t *w, int fd, unsigned listener)
{
    conn_t *c = take_slot(w, fd, listener);
    if (!proxyhdr_open(w, c) || !uwsgireq_open(w, c))
        return;
    conn_recv_start(w, c);
    worker_timer_arm(w, c, CONN_TIMER_HEADER);
}

void conn_adopt(worker_t *w, const share_msg_t *m)
{
    conn_t *c = take_slot(w, m->fd, m->bind);
    /* with --proxy-protocol every connection begins with its header: one handed over
     * unread (accepted while its worker drained) has it still to come, one with a request
     * has it in front of the request (src/handoff.c) */
    if (!proxyhdr_open(w, c) || !uwsgireq_open(w, c))
        return;
    c->hops = (uint8_t)m->hops;
    stats_request_carried(c, m->first_byte_ns);
    buf_append(&c->in, m->data, m->len);
    conn_recv_start(w, c);
    worker_timer_arm(w, c, CONN_TIMER_HEADER);
    conn_process_input(w, c);
}

void conn_answer_timeout(worker_t *w, conn_t *c)
{
    static const char head[] = "HTTP/1.1 500 Internal Server Error\r\n"
                               "Content-Type: text/plain\r\n"
                               "Connection: close\r\n"
                               "Content-Length: 22\r\n\r\n";
    static const char body[] = "Internal Server Error\n";
    _Static_assert(sizeof(body) - 1 == 22, "Content-Length above");
    (void)w;
    /* Nothing is in flight on c while its thread holds it, so this send cannot overtake
     * or interleave with one of ours; after part of a response only the close can tell. */
    if (c->bytes_out == 0 && !c->send_inflight) {
        struct iovec iov[2] = {{(void *)head, sizeof(head) - 1}, {(void *)body, sizeof(body) - 1}};
        if (writev(c->fd, iov, 2) < 0) {
            /* the client is gone: nothing to tell */
        }
    }
    shutdown(c->fd, SHUT_WR);
}

void conn_complete(worker_t *w, conn_t *c, unsigned op, int res, unsigned flags)
{
    /* Every op's completion ends it, except a multishot recv that says more will come
     * and a zero-copy send, whose notification may follow (filesend_on_send_zc counts those). */
    if (op == OP_RECV ? !(flags & RING_F_MORE) : op != OP_SEND_ZC && op != OP_SEND_ZC_2)
        c->ops--;
    switch (op) {
    case OP_RECV:
        on_recv(w, c, res, flags);
        break;
    case OP_SEND:
        on_send(w, c, res);
        break;
    case OP_SPOOL_WRITE:
        on_spool_write(w, c, res);
        break;
    case OP_FILE_READ:
        filesend_on_read(w, c, res);
        break;
    case OP_ZC_READ:
        filesend_on_zc_read(w, c, res);
        break;
    case OP_SEND_ZC:
    case OP_SEND_ZC_2:
        filesend_on_send_zc(w, c, op, res, flags);
        break;
    case OP_SEND_FILE:
        filesend_on_send_file(w, c, res);
        break;
    case OP_CONTINUE:
        on_continue(w, c, res);
        break;
    case OP_APP:
        on_step_done(w, c);
        break;
    case OP_CANCEL:
    case OP_CLOSE:
        break;
    default:
        UF_ASSERT(!"unknown connection op");
    }
    if (c->state == CONN_CLOSING && c->ops == 0)
        release(w, c);
}

void conn_expire(worker_t *w, conn_t *c, int timer)
{
    if (timer == CONN_TIMER_WS_PING || timer == CONN_TIMER_WS_PONG) {
        wsconn_expire(w, c, timer);
        return;
    }
    if (timer == CONN_TIMER_BODY && c->asgi.req && !c->recv_armed && !c->peer_closed) {
        /* the receive is paused because the application does not read: not the client's
         * delay */
        worker_timer_arm(w, c, CONN_TIMER_BODY);
        return;
    }
    /* (a PROXY protocol header that did not come in time gets no HTTP answer: the proxy
     * speaks the protocol, not HTTP, until its header is out) */
    if ((timer == CONN_TIMER_HEADER || timer == CONN_TIMER_BODY) && c->state == CONN_READING &&
        !c->send_inflight && !c->pp.waiting && (!http_idle(&c->req) || c->parsed < c->in.len)) {
        /* a request was started but not finished in time */
        conn_answer_error(w, c, 408);
        return;
    }
    /* idle keep-alive, a silent new connection, or lingering: nothing more is owed */
    conn_close_now(w, c);
    if (c->ops == 0)
        release(w, c);
}

void conn_drain(worker_t *w, conn_t *c)
{
    if (c->ws) {
        wsconn_drain(w, c); /* a WebSocket never ends by itself: it is told to go */
        return;
    }
    /* An idle keep-alive connection is not closed at once: its client may have sent the
     * next request already, and closing under it would fail that request. It gets a
     * short grace period; a request that lands is answered with Connection: close. */
    if (c->state == CONN_READING && http_idle(&c->req) && c->parsed >= c->in.len)
        worker_timer_arm(w, c, CONN_TIMER_DRAIN);
}
