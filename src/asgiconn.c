/* The ASGI side of a connection: body to receive(), send() to the ring (loop thread). */
#include "src/asgiconn.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/probes.h"
#include "src/filesend.h"
#include "src/response.h"
#include "src/stats.h"
#include "src/uwsgireq.h"
#include "src/worker.h"
#include "src/wsconn.h"

/* ---- what receive() and send() ask of the connection ----------------------------------- */

static int take_body(void *ctx, void *owner, py_slice_t *data, bool *more)
{
    worker_t *w = ctx;
    conn_t *c = owner;
    http_req_t *req = &c->req;
    if (req->body.len || req->complete) {
        *data = (py_slice_t){req->body.data ? req->body.data : "", req->body.len};
        *more = !req->complete;
        return 1;
    }
    /* The application waits for the body: a client that asked is told to send it now,
     * unless a response has begun (a final status makes the body moot, RFC 9110 10.1.1). */
    if (req->expect_continue && req->version_minor >= 1 && !c->asgi.continued && !c->asgi.head) {
        c->asgi.continued = true;
        if (!c->send_inflight)
            conn_send_continue(w, c);
    }
    conn_recv_start(w, c); /* paused while the body waited: the application reads now */
    return 0;
}

static void body_taken(void *ctx, void *owner)
{
    worker_t *w = ctx;
    conn_t *c = owner;
    buf_reset(&c->req.body, CONN_KEEP_BUF_CAP);
    if (!c->req.complete && c->state == CONN_WRITING)
        conn_recv_start(w, c);
}

/* The response head into dst, with the first body piece (or a path send's file). */
static void write_head(worker_t *w, conn_t *c, buf_t *dst, const py_reply_t *head)
{
    /* the rest of a body the application did not wait for is never read: the connection
     * cannot carry another request after this response */
    if (!c->req.complete)
        c->plan.keep_alive = false;
    resp_write_head(dst, &c->plan, head);
    stats_response_head(w, c, head);
    c->remaining = c->plan.length;
    if (!c->plan.keep_alive)
        c->close_after = true;
    c->asgi.head = true;
}

/* Bytes were added to the buffer that is not the kernel's: start sending them, or finish
 * the response if nothing is left to send. Returns what body() does: 1 when the output
 * is above the high-water mark. */
static int queued(worker_t *w, conn_t *c)
{
    if (!c->send_inflight) {
        if (c->out.len > c->sent)
            conn_send_start(w, c);
        else if (c->asgi.ended)
            conn_response_done(w, c); /* (detaches the request: the bridge allows it) */
        return 0;
    }
    return c->asgi.next.len > ASGICONN_HIGH_WATER;
}

/* A piece of the response into the buffer that is not the kernel's. */
static int body(void *ctx, void *owner, const py_reply_t *head, const char *data, size_t len,
                bool more, const char **why)
{
    worker_t *w = ctx;
    conn_t *c = owner;
    buf_t *dst = c->send_inflight ? &c->asgi.next : &c->out;
    /* a Content-Length the body breaks is the application's error, found before a byte of
     * the head is written, where possible, so that it can still become a 500 */
    int64_t left = head ? head->content_length : c->remaining;
    bool counted = head ? head->content_length >= 0 : c->plan.framing == RESP_LENGTH;
    bool bodyless =
        head ? c->plan.head_request || head->status_code == 204 || head->status_code == 304
             : !c->plan.body_allowed;
    if (counted && !bodyless && (int64_t)len > left) {
        *why = "Response content longer than Content-Length";
        return -1;
    }
    if (counted && !bodyless && !more && (int64_t)len < left) {
        *why = "Response content shorter than Content-Length";
        return -1;
    }
    if (head)
        write_head(w, c, dst, head);
    if (c->plan.body_allowed) {
        if (c->plan.framing == RESP_LENGTH)
            c->remaining -= (int64_t)len;
        c->body_out += len;
        resp_write_body(dst, &c->plan, data, len);
    }
    if (!more) {
        resp_write_end(dst, &c->plan);
        c->asgi.ended = true;
    }
    return queued(w, c);
}

/* The end of a response whose last body piece came with `more` (it ends with trailers). */
static int trailers(void *ctx, void *owner, const py_header_t *fields, size_t count,
                    const char **why)
{
    worker_t *w = ctx;
    conn_t *c = owner;
    if (c->plan.framing == RESP_LENGTH && c->plan.body_allowed && c->remaining > 0) {
        *why = "Response content shorter than Content-Length";
        return -1;
    }
    resp_write_end_trailers(c->send_inflight ? &c->asgi.next : &c->out, &c->plan, fields, count);
    c->asgi.ended = true;
    return queued(w, c);
}

/* http.response.pathsend: the file goes the way of a wsgi.file_wrapper body (through the
 * ring, zero-copy from registered buffers where it pays: src/filesend.h). */
static int pathsend(void *ctx, void *owner, const py_reply_t *head, int fd, int64_t length,
                    const char **why)
{
    worker_t *w = ctx;
    conn_t *c = owner;
    if (head->content_length > length && !c->plan.head_request && head->status_code != 204 &&
        head->status_code != 304) {
        *why = "Response content shorter than Content-Length (the file is smaller)";
        return -1;
    }
    write_head(w, c, &c->out, head); /* (`out` is free while the 100 is in flight: that one
                                         is sent from a constant) */
    c->asgi.ended = true;
    if (c->send_inflight) { /* the interim 100: the file follows it (asgiconn_sent) */
        c->asgi.path_fd = fd;
        c->asgi.path_len = length;
        return 0;
    }
    filesend_fd(w, c, fd, 0, length);
    return 0;
}

/* The task ended: whatever the application left undone is answered here. */
static void done(void *ctx, void *owner, bool failed)
{
    worker_t *w = ctx;
    conn_t *c = owner;
    if (wsconn_done(w, c, failed))
        return;
    if (c->asgi.ended)
        return;
    if (!c->asgi.head) {
        if (!failed && !c->peer_closed)
            log_error("ASGI application returned without starting a response to %.*s %.*s; "
                      "answered 500",
                      (int)c->req.method.len, c->in.data + c->req.method.off,
                      (int)c->req.target.len, c->in.data + c->req.target.off);
        c->asgi.ended = true;
        conn_answer_error(w, c, 500);
        return;
    }
    if (!failed && !c->peer_closed)
        log_error("ASGI application returned without completing its response to %.*s %.*s; "
                  "closing the connection",
                  (int)c->req.method.len, c->in.data + c->req.method.off, (int)c->req.target.len,
                  c->in.data + c->req.target.off);
    conn_close_now(w, c); /* the head is out: only the close can tell the client */
}

void asgiconn_ops_init(py_asgi_ops_t *ops, worker_t *w)
{
    *ops = (py_asgi_ops_t){
        .ctx = w,
        .take_body = take_body,
        .body_taken = body_taken,
        .body = body,
        .pathsend = pathsend,
        .trailers = trailers,
        .done = done,
    };
    wsconn_ops_init(ops);
}

/* ---- the connection's side ----------------------------------------------------------------- */

void asgiconn_start(worker_t *w, conn_t *c, const py_request_t *pr)
{
    /* "METHOD TARGET", cut to fit: what --timeout names (no printf on this path) */
    char line[sizeof(w->sb->request_line)];
    size_t m = pr->method.len < sizeof(line) - 2 ? pr->method.len : sizeof(line) - 2;
    size_t t = pr->target.len < sizeof(line) - 2 - m ? pr->target.len : sizeof(line) - 2 - m;
    memcpy(line, pr->method.ptr, m);
    line[m] = ' ';
    memcpy(line + m + 1, pr->target.ptr, t);
    line[m + 1 + t] = 0;
    c->asgi.head = c->asgi.ended = false;
    /* a client that sent the body without waiting needs no 100 Continue */
    c->asgi.continued = !c->req.expect_continue || c->req.complete;
    py_request_t ws_pr = *pr;
    int ws = wsconn_start(w, c, &ws_pr);
    if (ws < 0)
        return; /* a handshake refused: answered, no task */
    stats_request_mark(c, STATS_MARK_CALL);
    UF_PROBE3(app__call, w->index, c->conn_id, c->req_no);
    c->asgi.req = py_asgi_start(ws ? &ws_pr : pr, c, line);
    if (!c->asgi.req) {
        c->asgi.ended = true;
        conn_answer_error(w, c, 500);
    }
}

void asgiconn_input(worker_t *w, conn_t *c)
{
    if (c->ws) {
        wsconn_input(w, c);
        return;
    }
    http_req_t *req = &c->req;
    if (!req->complete && c->parsed < c->in.len) {
        uint64_t had = req->body_total;
        long r =
            c->uw.used ? uwsgireq_parse(w, c) : http_parse(req, c->in.data, c->parsed, c->in.len);
        if (r < 0) {
            /* a framing error in a body the application is reading: the response may
             * have begun, so only the close can tell the client */
            conn_close_now(w, c);
            return;
        }
        c->parsed = (size_t)r;
        if (!req->complete)
            c->in.len = http_compact(req, c->in.data, c->in.len, &c->parsed);
        if (req->complete)
            worker_timer_disarm(w, c);
        else if (req->body_total > had && w->cfg->body_timeout > 0)
            worker_timer_arm(w, c, CONN_TIMER_BODY);
        if ((req->body_total > had || req->complete) && c->asgi.req)
            py_asgi_body_ready(c->asgi.req);
    }
    if (c->peer_closed && c->asgi.req)
        py_asgi_disconnect(c->asgi.req);
}

void asgiconn_sent(worker_t *w, conn_t *c)
{
    if (c->asgi.path_fd >= 0) {
        int fd = c->asgi.path_fd;
        c->asgi.path_fd = -1;
        filesend_fd(w, c, fd, 0, c->asgi.path_len);
        return;
    }
    if (c->out.len > c->sent) { /* the end of a file body's framing */
        conn_send_start(w, c);
        return;
    }
    if (c->asgi.next.len) {
        buf_t t = c->out;
        c->out = c->asgi.next;
        c->asgi.next = t;
        c->asgi.next.len = 0;
        c->sent = 0;
        conn_send_start(w, c);
        if (c->asgi.req)
            py_asgi_send_ready(c->asgi.req);
        return;
    }
    if (c->asgi.ended) {
        conn_response_done(w, c);
        return;
    }
    if (c->asgi.req)
        py_asgi_send_ready(c->asgi.req);
}

void asgiconn_detach(conn_t *c, bool gone)
{
    py_asgi_req_t *r = c->asgi.req;
    if (!r)
        return;
    c->asgi.req = NULL;
    if (c->asgi.path_fd >= 0) {
        close(c->asgi.path_fd); /* its send never began */
        c->asgi.path_fd = -1;
    }
    py_asgi_detach(r, gone);
}
