/* The connection state machine: receive, parse, call the application, send. */
#include "src/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "src/log.h"
#include "src/worker.h"

/* Output is produced in batches of about this size before a send: big enough to amortise
 * the completion, small enough that a streaming body keeps memory bounded. */
#define OUT_HIGH_WATER (64 * 1024)
/* Pipelined bytes we keep while a response is in flight before we stop reading. */
#define IN_PAUSE_BYTES (1024 * 1024)
/* What a connection may keep allocated between requests. */
#define KEEP_BUF_CAP (64 * 1024)

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static uint64_t ud(const conn_t *c, unsigned op) { return ring_ud(op, c->gen, c->slot); }

static void start_recv(worker_t *w, conn_t *c)
{
    if (c->recv_armed || c->peer_closed || c->state == CONN_CLOSING)
        return;
    ring_recv_multishot(&w->ring, c->fd, ud(c, OP_RECV));
    c->recv_armed = true;
    c->ops++;
}

static void start_send(worker_t *w, conn_t *c)
{
    UF_ASSERT(!c->send_inflight && c->sent < c->out.len);
    ring_send(&w->ring, c->fd, c->out.data + c->sent, c->out.len - c->sent, ud(c, OP_SEND));
    c->send_inflight = true;
    c->ops++;
}

/* Closes at once: cancels the receive, closes the socket; the slot returns to the pool
 * when the last completion for it has arrived. */
static void close_now(worker_t *w, conn_t *c)
{
    if (c->state == CONN_CLOSING)
        return;
    c->state = CONN_CLOSING;
    worker_timer_disarm(w, c);
    if (c->reply) {
        py_wsgi_finish(c->reply);   /* close() on the iterable, exactly once */
        c->reply = NULL;
    }
    if (c->recv_armed) {
        ring_cancel(&w->ring, ud(c, OP_RECV), ud(c, OP_CANCEL));
        c->ops++;
    }
    ring_close(&w->ring, c->fd, ud(c, OP_CLOSE));
    c->ops++;
}

/* After the last byte of a response that ends the connection: send our FIN and read
 * (and drop) whatever the client still sends until its FIN, so that closing with unread
 * input does not reset the connection and destroy the response before it is read. */
static void linger(worker_t *w, conn_t *c)
{
    if (c->peer_closed) {
        close_now(w, c);
        return;
    }
    c->state = CONN_LINGERING;
    /* A plain syscall, not IORING_OP_SHUTDOWN: the kernel punts that op to a worker
     * thread which resolves the fd number only when it runs, by which time our close
     * may have freed the number and an accept reused it, shutting down a stranger's
     * connection (seen under Connection: close load). Fixed files will lift this. */
    shutdown(c->fd, SHUT_WR);
    c->in.len = c->parsed = 0;
    start_recv(w, c);
    worker_timer_arm(w, c, CONN_TIMER_LINGER);
}

static void send_error(worker_t *w, conn_t *c, int status)
{
    c->close_after = true;
    c->state = CONN_WRITING;
    buf_reset(&c->out, KEEP_BUF_CAP);
    c->sent = 0;
    resp_write_error(&c->out, status);
    start_send(w, c);
}

static void lookup_peer(conn_t *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    c->have_peer = true;
    c->peer_host[0] = 0;
    c->peer_port = 0;
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &sin->sin_addr, c->peer_host, sizeof(c->peer_host));
        c->peer_port = ntohs(sin->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, c->peer_host, sizeof(c->peer_host));
        c->peer_port = ntohs(sin6->sin6_port);
    }
}

/* Appends a body chunk, cutting it at the Content-Length the application declared. */
static void append_body(worker_t *w, conn_t *c, const char *data, size_t len)
{
    if (c->plan.framing == RESP_LENGTH && c->plan.body_allowed) {
        if ((int64_t)len > c->remaining) {
            log_warning("application sent more than its Content-Length of %lld; truncated",
                        (long long)c->plan.length);
            len = (size_t)c->remaining;
        }
        c->remaining -= (int64_t)len;
    }
    resp_write_body(&c->out, &c->plan, data, len);
}

/* The iterable is exhausted: finish the framing and release it. */
static void end_body(worker_t *w, conn_t *c)
{
    if (c->plan.framing == RESP_LENGTH && c->plan.body_allowed && c->remaining > 0) {
        /* fewer bytes than promised: the client can only detect the end by the close */
        log_warning("application sent %lld bytes less than its Content-Length of %lld; "
                    "closing the connection",
                    (long long)c->remaining, (long long)c->plan.length);
        c->close_after = true;
    }
    resp_write_end(&c->out, &c->plan);
    py_wsgi_finish(c->reply);
    c->reply = NULL;
}

/* Pulls chunks from the application until a batch is ready or the body ends. Returns
 * -1 when the iterable raised (the response cannot be completed). */
static int fill_output(worker_t *w, conn_t *c)
{
    while (c->reply && c->out.len < OUT_HIGH_WATER) {
        int r = py_wsgi_next(c->reply);
        if (r < 0)
            return -1;
        if (r == 0) {
            end_body(w, c);
            break;
        }
        append_body(w, c, c->reply->chunk.ptr, c->reply->chunk.len);
    }
    return 0;
}

static void build_request(worker_t *w, conn_t *c, py_request_t *pr)
{
    const http_req_t *req = &c->req;
    const char *base = c->in.data;
    if (w->scratch_cap < req->header_count) {
        w->scratch_cap = req->header_count * 2;
        w->scratch_headers = uf_realloc(w->scratch_headers, w->scratch_cap * sizeof(py_header_t));
    }
    for (uint32_t i = 0; i < req->header_count; i++) {
        const http_header_t *h = &req->headers[i];
        w->scratch_headers[i] = (py_header_t){
            {base + h->name.off, h->name.len},
            {base + h->value.off, h->value.len},
        };
    }
    if (!c->have_peer)
        lookup_peer(c);
    const worker_listener_t *l = &w->listeners[c->listener];
    *pr = (py_request_t){
        .method = {base + req->method.off, req->method.len},
        .target = {base + req->target.off, req->target.len},
        .version_minor = req->version_minor,
        .headers = w->scratch_headers,
        .header_count = req->header_count,
        .body = req->body.data,
        .body_len = req->body.len,
        .remote_addr = c->peer_host,
        .remote_port = c->peer_port,
        .server_name = l->host,
        .server_port = l->port,
    };
}

static void handle_request(worker_t *w, conn_t *c)
{
    py_request_t pr;
    build_request(w, c, &pr);
    if (w->cfg->timeout > 0) {
        /* what the master names if this request outlives --timeout */
        snprintf(w->sb->request_line, sizeof(w->sb->request_line), "%.*s %.*s",
                 (int)pr.method.len, pr.method.ptr, (int)pr.target.len, pr.target.ptr);
    }
    sb_set64(&w->sb->request_start_ms, w->now_ms);
    c->state = CONN_WRITING;
    buf_reset(&c->out, KEEP_BUF_CAP);
    c->sent = 0;

    py_reply_t *reply = py_wsgi_call(w->app, &pr);
    if (!reply) {
        send_error(w, c, 500);
        return;
    }
    c->reply = reply;
    c->plan = (resp_plan_t){
        .version_minor = c->req.version_minor,
        .head_request = pr.method.len == 4 && memcmp(pr.method.ptr, "HEAD", 4) == 0,
        .keep_alive = c->req.keep_alive && !w->draining && !c->peer_closed &&
                      w->cfg->keepalive > 0,
    };
    resp_write_head(&c->out, &c->plan, reply);
    c->remaining = c->plan.length;
    if (!c->plan.keep_alive)
        c->close_after = true;
    if (reply->chunk.len)
        append_body(w, c, reply->chunk.ptr, reply->chunk.len);
    if (reply->done)
        end_body(w, c);
    else if (fill_output(w, c) < 0)
        c->close_after = true;   /* headers are final; send what we have, then close */
    start_send(w, c);
}

/* Parses what has arrived; answers at most one request (the next one waits until this
 * one's response is out). */
static void process_input(worker_t *w, conn_t *c)
{
    if (c->state != CONN_READING || c->parsed >= c->in.len)
        return;
    if (c->timer == CONN_TIMER_IDLE)
        worker_timer_arm(w, c, CONN_TIMER_HEADER);
    bool had_headers = c->req.headers_done;
    long r = http_parse(&c->req, c->in.data, c->parsed, c->in.len);
    if (r < 0) {
        send_error(w, c, c->req.error_status);
        return;
    }
    c->parsed = (size_t)r;
    if (c->req.complete) {
        worker_timer_disarm(w, c);
        handle_request(w, c);
        return;
    }
    c->in.len = http_compact(&c->req, c->in.data, c->in.len, &c->parsed);
    if (!had_headers && c->req.headers_done && c->req.expect_continue &&
        c->req.version_minor >= 1 && !c->send_inflight) {
        /* the body is wanted: tell the client to send it instead of waiting */
        ring_send(&w->ring, c->fd, continue_line, sizeof(continue_line) - 1,
                  ud(c, OP_CONTINUE));
        c->ops++;
    }
}

/* The whole response is out: close, or get ready for the next request on the
 * connection and answer it at once if it is already here (pipelining). */
static void response_done(worker_t *w, conn_t *c)
{
    sb_set64(&w->sb->requests, sb_get64(&w->sb->requests) + 1);
    sb_set64(&w->sb->request_start_ms, 0);
    if (c->close_after) {
        linger(w, c);
        return;
    }
    buf_consume(&c->in, c->parsed);
    c->parsed = 0;
    if (c->in.len == 0)
        buf_reset(&c->in, KEEP_BUF_CAP);
    buf_reset(&c->out, KEEP_BUF_CAP);
    http_req_next(&c->req);
    c->state = CONN_READING;
    if (c->peer_closed && c->in.len == 0) {
        close_now(w, c);
        return;
    }
    start_recv(w, c);
    if (c->in.len)
        process_input(w, c);
    else
        /* This response promised keep-alive, so the client may send again even though
         * we are draining: wait a little and answer that request with a close. */
        worker_timer_arm(w, c, w->draining ? CONN_TIMER_DRAIN : CONN_TIMER_IDLE);
}

static void on_send(worker_t *w, conn_t *c, int res)
{
    c->send_inflight = false;
    if (c->state == CONN_CLOSING)
        return;
    if (res < 0) {
        if (res != -EPIPE && res != -ECONNRESET)
            log_debug("send failed: %s", strerror(-res));
        close_now(w, c);
        return;
    }
    c->sent += (size_t)res;
    if (c->sent < c->out.len) {
        start_send(w, c);    /* partial send: the socket buffer was full */
        return;
    }
    c->out.len = c->sent = 0;
    if (c->reply && fill_output(w, c) < 0) {
        close_now(w, c);     /* headers are out; only the close can tell the client */
        return;
    }
    if (c->out.len) {
        start_send(w, c);
        return;
    }
    response_done(w, c);
}

static void on_recv(worker_t *w, conn_t *c, int res, unsigned flags)
{
    if (!(flags & IORING_CQE_F_MORE))
        c->recv_armed = false;
    if (res > 0) {
        unsigned bid = ring_buffer_id(flags);
        if (c->state != CONN_CLOSING && c->state != CONN_LINGERING)
            buf_append(&c->in, ring_buffer(&w->ring, bid), (size_t)res);
        ring_buffer_recycle(&w->ring, bid);
    } else if (res == 0) {
        c->peer_closed = true;
    } else if (res != -ENOBUFS && res != -ECANCELED) {
        c->peer_closed = true;   /* reset or other error: nothing more will come */
    }

    switch (c->state) {
    case CONN_READING:
        process_input(w, c);
        if (c->peer_closed) {
            /* idle, or cut off mid-request: nothing more will come to complete it */
            if (c->state == CONN_READING)
                close_now(w, c);
            return;
        }
        break;
    case CONN_WRITING:
        /* Keep the bytes for later, but stop reading when a client pipelines far more
         * than we answer: the multishot recv is cancelled and re-armed when we parse. */
        if (c->in.len - c->parsed > IN_PAUSE_BYTES && c->recv_armed) {
            ring_cancel(&w->ring, ud(c, OP_RECV), ud(c, OP_CANCEL));
            c->ops++;
            return;
        }
        break;
    case CONN_LINGERING:
        if (c->peer_closed) {
            close_now(w, c);
            return;
        }
        break;
    default:
        return;
    }
    if (!c->recv_armed && c->state != CONN_CLOSING && !c->peer_closed &&
        (c->state != CONN_WRITING || c->in.len - c->parsed <= IN_PAUSE_BYTES))
        start_recv(w, c);
}

void conn_open(worker_t *w, int fd, unsigned listener)
{
    UF_ASSERT(w->free_count > 0);
    uint32_t slot = w->free_slots[--w->free_count];
    conn_t *c = &w->conns[slot];
    c->fd = fd;
    c->slot = slot;
    c->gen = (c->gen + 1) & 0xffffff;
    if (c->gen == 0)
        c->gen = 1;
    c->state = CONN_READING;
    c->timer = CONN_TIMER_NONE;
    c->recv_armed = c->send_inflight = c->peer_closed = c->close_after = false;
    c->have_peer = false;
    c->listener = (uint16_t)listener;
    c->ops = 0;
    c->in.len = c->parsed = 0;
    c->out.len = c->sent = 0;
    c->reply = NULL;
    http_req_reset(&c->req);
    w->active++;
    start_recv(w, c);
    worker_timer_arm(w, c, CONN_TIMER_HEADER);
}

void conn_complete(worker_t *w, conn_t *c, unsigned op, int res, unsigned flags)
{
    switch (op) {
    case OP_RECV:
        if (!(flags & IORING_CQE_F_MORE))
            c->ops--;
        on_recv(w, c, res, flags);
        break;
    case OP_SEND:
        c->ops--;
        on_send(w, c, res);
        break;
    case OP_CONTINUE:
    case OP_CANCEL:
    case OP_CLOSE:
        c->ops--;
        if (op == OP_CONTINUE && res < 0 && c->state == CONN_READING)
            close_now(w, c);
        break;
    default:
        UF_ASSERT(!"unknown connection op");
    }
    if (c->state == CONN_CLOSING && c->ops == 0)
        worker_conn_release(w, c);
}

void conn_expire(worker_t *w, conn_t *c, int timer)
{
    if (timer == CONN_TIMER_HEADER && c->state == CONN_READING && !c->send_inflight &&
        (!http_idle(&c->req) || c->parsed < c->in.len)) {
        /* a request was started but not finished in time */
        send_error(w, c, 408);
        return;
    }
    /* idle keep-alive, a silent new connection, or lingering: nothing more is owed */
    close_now(w, c);
    if (c->ops == 0)
        worker_conn_release(w, c);
}

void conn_drain(worker_t *w, conn_t *c)
{
    /* An idle keep-alive connection is not closed at once: its client may have sent the
     * next request already, and closing under it would fail that request. It gets a
     * short grace period; a request that lands is answered with Connection: close. */
    if (c->state == CONN_READING && http_idle(&c->req) && c->parsed >= c->in.len)
        worker_timer_arm(w, c, CONN_TIMER_DRAIN);
}
