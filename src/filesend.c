/* wsgi.file_wrapper bodies and zero-copy sends, through the ring (loop thread). */
#include "src/filesend.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "src/reply.h"
#include "src/worker.h"

/* A wsgi.file_wrapper file is read (and then sent) in blocks of this size; an engine
 * that sends files itself is asked for at most this much at a time. */
#define FILE_BLOCK (256 * 1024)

/* ---- wsgi.file_wrapper bodies ---------------------------------------------------------
 *
 * The file is read through the ring (ring_read_at) into `out`, right
 * behind the response head for the first block, and sent from there; the next read
 * starts when the send has completed, so a connection holds one FILE_BLOCK at most and
 * a slow client slows only its own transfer. We read from a duplicate of the
 * application's descriptor: py_wsgi_finish may close the original (close() on the
 * wrapper closes the file) while a read of ours is still queued, and a queued read names
 * its file by number. Reading and sending copy each byte twice in the kernel; on
 * io_uring, splice through a pipe would save one, and is left for when a profile asks
 * for it (an engine that sends files itself saves it: below).
 */

static void read_file(worker_t *w, conn_t *c)
{
    size_t want = c->file_left < FILE_BLOCK ? (size_t)c->file_left : FILE_BLOCK;
    char *dst = buf_reserve(&c->out, want);
    ring_read_at(&w->ring, c->file_fd, dst, want, (uint64_t)c->file_off, conn_ud(c, OP_FILE_READ));
    c->file_busy = true;
    c->ops++;
}

/* The file body is complete: end its framing and let go of the reply. The loop runs
 * Python only in a worker without threads; with threads the reply is finished by a
 * CONN_STEP_FINISH in its thread before the response is done (reply_ended). An ASGI
 * path send has no reply to let go of. */
static void end_file_body(worker_t *w, conn_t *c)
{
    reply_write_end(c);
    if (!c->reply)
        return;
    if (w->pool)
        c->reply_ended = true;
    else
        reply_finish(c);
}

static void finish_file(worker_t *w, conn_t *c)
{
    (worker_syscall(w), close(c->file_fd));
    c->file_fd = -1;
    end_file_body(w, c);
}

/* The file is sent, or given up: end the body, then send what its end added to `out`,
 * or end the response. */
static void file_done(worker_t *w, conn_t *c)
{
    finish_file(w, c);
    if (c->out.len > c->sent)
        conn_send_start(w, c);
    else
        conn_response_done(w, c);
}

/* ---- file bodies the engine sends itself ------------------------------------------------
 *
 * An engine with features.send_file (epoll, by sendfile(2)) moves the file to the socket
 * from the page cache: the bytes never enter `out`, and each step is one system call
 * where a block costs a read and a send. The head goes first, from `out`; then each
 * ring_send_file asks for up to FILE_BLOCK and the kernel moves what the socket's
 * buffers take. The cap keeps one step short even towards a client that reads as fast
 * as the kernel copies (the loop serves every other connection between two steps), and
 * bounds how long a file not yet in the page cache holds the loop while it is read, as
 * the read path's block does; asking for 1 MiB or for the whole file measured the same
 * CPU per request (a 1 MiB body, wrk -c16). A short result goes on from where it
 * stopped; a result of 0 is the file's end come early (it shrank): the body falls short
 * and the connection closes after it, as with a short read.
 *
 * Only a body framed by Content-Length goes this way, since chunked framing would need a
 * chunk line around every send. No file body is framed otherwise today: a file reply
 * always has a length (the bridge takes it from the file), so resp_write_head always
 * picks Content-Length for it, and the read path does not frame chunks either. Should
 * that change, both paths would need the chunk lines around what they send.
 */
static bool engine_sends_file(const worker_t *w, const conn_t *c)
{
    return w->ring.features.send_file && c->plan.framing == RESP_LENGTH && !c->file_by_read;
}

static void send_file(worker_t *w, conn_t *c)
{
    size_t want = c->file_left < FILE_BLOCK ? (size_t)c->file_left : FILE_BLOCK;
    ring_send_file(&w->ring, c->fd, c->file_fd, (uint64_t)c->file_off, want,
                   conn_ud(c, OP_SEND_FILE));
    c->send_inflight = true;
    c->ops++;
}

void filesend_on_send_file(worker_t *w, conn_t *c, int res)
{
    c->send_inflight = false;
    if (c->state == CONN_CLOSING)
        return;
    if (res == -EINVAL || res == -ENOSYS) {
        /* a file system that cannot splice, or a sandbox without sendfile: the rest
         * goes the read path, from file_off */
        log_debug("the engine cannot send this file itself (%s): reading it", strerror(-res));
        c->file_by_read = true;
        read_file(w, c);
        return;
    }
    if (res == -EPIPE || res == -ECONNRESET) {
        conn_close_now(w, c); /* the client went away mid-file */
        return;
    }
    if (res < 0)
        log_error("sending a wsgi.file_wrapper file failed: %s", strerror(-res));
    if (res <= 0) {
        c->file_left = 0;
        file_done(w, c);
        return;
    }
    c->body_out += (uint64_t)res;
    c->bytes_out += (uint64_t)res;
    c->file_off += res;
    c->file_left -= res;
    c->remaining -= res;
    if (c->file_left > 0)
        send_file(w, c);
    else
        file_done(w, c);
}

/* ---- zero-copy file bodies -------------------------------------------------------------
 *
 * A large file body with a known length can skip both copies: each block is read through
 * the ring straight into one of the worker's registered send buffers, and sent from there
 * with SEND_ZC, so the kernel transmits from those pages without copying them into socket
 * buffers. The block is reused only after the kernel's notification that it has let go of
 * the pages, not merely after the send's result. The notification also reports whether
 * the kernel copied after all (it always does towards loopback); a connection that sees
 * that stops asking for zero-copy, unless --zerocopy-threshold 0 forces it.
 *
 * The kernel lets go of sent pages only once the peer has acknowledged them, and a peer
 * that has everything we sent may hold its acknowledgement back for its delayed-ACK
 * timer (40 ms on Linux) until more data comes. Waiting for the notification before
 * sending more would stall a transfer for that long, again and again, and with one
 * application thread that keeps the request until its reply is finished (work sharing's
 * default), every other request of the worker with it. So the block is two halves that
 * take turns: the next piece is read into one half and sent while the kernel may still
 * hold the other, whose acknowledgement the new data brings. Each half sends with its
 * own op, because a notification says only which operation it belongs to.
 */

/* The registered send buffers are pinned memory: they are set up on the first transfer
 * that wants them, so a worker that never sends a large file (or only to loopback) never
 * carries them. Without them (RLIMIT_MEMLOCK, an old kernel) every body goes the
 * ordinary way, and the master has said at start what to raise. */
static bool arena_ready(worker_t *w)
{
    if (ring_arena_ready(&w->ring))
        return true;
    if (w->zc_unavailable || !w->ring.features.send_zc)
        return false;
    char err[512];
    if (ring_arena_init(&w->ring, WORKER_ZC_BLOCKS, WORKER_ZC_BLOCK_SIZE, err, sizeof(err)) < 0) {
        log_debug("zero-copy sends off: %s", err);
        w->zc_unavailable = true;
        return false;
    }
    return true;
}

static bool want_zero_copy(worker_t *w, conn_t *c, int64_t length)
{
    int threshold = w->cfg->zerocopy_threshold;
    if (c->plan.framing != RESP_LENGTH)
        return false;
    if (threshold != 0 && (c->zc_off || length < threshold || conn_peer_is_loopback(c)))
        return false;
    return arena_ready(w);
}

static size_t zc_half_size(const worker_t *w)
{
    return ring_arena_block_size(&w->ring) / 2;
}

static void zc_read(worker_t *w, conn_t *c)
{
    size_t half = zc_half_size(w);
    size_t want = c->file_left < (int64_t)half ? (size_t)c->file_left : half;
    ring_read_at(&w->ring, c->file_fd, ring_arena_block(&w->ring, c->zc_block) + c->zc_half * half,
                 want, (uint64_t)c->file_off, conn_ud(c, OP_ZC_READ));
    c->file_busy = true;
    c->ops++;
}

static void zc_send(worker_t *w, conn_t *c)
{
    if (c->zc_chunk)
        ring_send_zc(&w->ring, c->fd, c->zc_chunk + c->zc_sent, c->zc_len - c->zc_sent,
                     conn_ud(c, OP_SEND_ZC));
    else
        ring_send_zc_fixed(&w->ring, c->fd, c->zc_block, c->zc_half * zc_half_size(w) + c->zc_sent,
                           c->zc_len - c->zc_sent,
                           conn_ud(c, c->zc_half ? OP_SEND_ZC_2 : OP_SEND_ZC));
    c->send_inflight = true;
    c->ops++; /* covers the result and, when F_MORE says one follows, the notification */
    w->zc_sends++;
}

/* The piece in one half is sent: read the next into the other half once the kernel has
 * let go of it, or finish once it has let go of both. A transfer whose sends the kernel
 * copied anyway continues the ordinary way. Called again by each notification until it
 * can go on. */
static void zc_next(worker_t *w, conn_t *c)
{
    if (c->file_left > 0 && (!c->zc_off || w->cfg->zerocopy_threshold == 0)) {
        uint8_t other = c->zc_half ^ 1;
        if (c->zc_notifs[other])
            return;
        c->zc_half = other;
        zc_read(w, c);
        return;
    }
    if (c->zc_pending)
        return;
    if (c->file_left > 0) {
        ring_arena_put(&w->ring, c->zc_block);
        c->zc_block = -1;
        read_file(w, c);
        return;
    }
    ring_arena_put(&w->ring, c->zc_block);
    c->zc_block = -1;
    file_done(w, c);
}

/* A read of the file completed. Returns false when the connection is closing; on an
 * error, or a file that shrank, the rest of the body is given up (file_left 0): it
 * falls short and the connection closes after it. */
static bool file_read_done(conn_t *c, int res)
{
    c->file_busy = false;
    if (c->state == CONN_CLOSING)
        return false;
    if (res < 0)
        log_error("reading a wsgi.file_wrapper file failed: %s", strerror(-res));
    if (res <= 0)
        c->file_left = 0;
    return true;
}

void filesend_on_zc_read(worker_t *w, conn_t *c, int res)
{
    if (!file_read_done(c, res))
        return;
    if (res <= 0) {
        zc_next(w, c);
        return;
    }
    c->zc_len = (uint32_t)res;
    c->zc_sent = 0;
    c->body_out += (uint64_t)res;
    c->file_off += res;
    c->file_left -= res;
    c->remaining -= res;
    zc_send(w, c);
}

/* A chunk SEND_ZC is still sending from, or will be told about by a notification. */
bool filesend_chunk_busy(const conn_t *c)
{
    return c->zc_chunk && (c->send_inflight || c->zc_pending);
}

/* A connection closed while the kernel sent from a chunk: once it has let go, the reply
 * the chunk belongs to can be finished (conn_close_now left it for then). */
static void finish_after_zc(worker_t *w, conn_t *c)
{
    if (!c->zc_chunk || filesend_chunk_busy(c))
        return;
    c->zc_chunk = NULL;
    if (c->reply)
        conn_reply_release(w, c);
}

void filesend_on_send_zc(worker_t *w, conn_t *c, unsigned op, int res, unsigned flags)
{
    unsigned half = op == OP_SEND_ZC_2;
    if (flags & RING_F_NOTIF) {
        c->ops--;
        c->zc_pending--;
        c->zc_notifs[half]--;
        if ((unsigned)res & RING_ZC_COPIED) {
            w->zc_copied++;
            c->zc_off = true;
        }
    } else {
        if (flags & RING_F_MORE) {
            c->zc_pending++;
            c->zc_notifs[half]++;
        } else
            c->ops--;
        c->send_inflight = false;
        if (c->state == CONN_CLOSING) {
            finish_after_zc(w, c);
            return;
        }
        if (res < 0) {
            if (res != -EPIPE && res != -ECONNRESET)
                log_debug("zero-copy send failed: %s", strerror(-res));
            conn_close_now(w, c);
            finish_after_zc(w, c);
            return;
        }
        c->zc_sent += (uint32_t)res;
        c->bytes_out += (uint64_t)res;
        if (c->zc_sent < c->zc_len) {
            zc_send(w, c); /* partial: the rest from where it stopped */
            return;
        }
    }
    if (c->state == CONN_CLOSING) {
        finish_after_zc(w, c);
        return;
    }
    if (c->send_inflight || c->file_busy || c->zc_sent < c->zc_len)
        return;
    if (!c->zc_chunk) {
        zc_next(w, c);
        return;
    }
    if (c->zc_pending)
        return;
    /* the chunk is out and the kernel has let go of it: the reply may move on */
    c->zc_chunk = NULL;
    c->zc_len = c->zc_sent = 0;
    conn_send_more(w, c);
}

/* Called with the head in `out`. Sends at most the application's Content-Length (PEP
 * 3333), and nothing for HEAD, 204 and 304. */
void filesend_start(worker_t *w, conn_t *c)
{
    const py_reply_t *reply = c->reply;
    int fd = -1;
    if (c->plan.body_allowed && reply->file_length > 0) {
        fd = (worker_syscall(w), fcntl(reply->file_fd, F_DUPFD_CLOEXEC, 0));
        if (fd < 0)
            log_error("cannot duplicate the descriptor of a wsgi.file_wrapper file: %s",
                      strerror(errno)); /* the body falls short: the connection closes */
    }
    filesend_fd(w, c, fd, reply->file_offset, reply->file_length);
}

void filesend_fd(worker_t *w, conn_t *c, int fd, int64_t offset, int64_t length)
{
    int64_t n = length;
    if (c->plan.framing == RESP_LENGTH && n > c->remaining)
        n = c->remaining;
    if (!c->plan.body_allowed || n <= 0 || fd < 0) {
        if (fd >= 0)
            (worker_syscall(w), close(fd));
        end_file_body(w, c);
        conn_send_start(w, c);
        return;
    }
    c->file_fd = fd;
    c->file_off = offset;
    c->file_left = n;
    c->file_by_read = false;
    if (want_zero_copy(w, c, n) && (c->zc_block = ring_arena_get(&w->ring)) >= 0) {
        c->zc_len = c->zc_sent = 0;
        c->zc_half = 1;        /* the first piece goes into half 0 */
        conn_send_start(w, c); /* the head first, from `out`; on_send then starts the blocks */
        return;
    }
    if (engine_sends_file(w, c)) {
        conn_send_start(w, c); /* the head first; on_send then hands the file to the engine */
        return;
    }
    read_file(w, c);
}

void filesend_on_read(worker_t *w, conn_t *c, int res)
{
    if (!file_read_done(c, res))
        return;
    if (res <= 0) {
        file_done(w, c);
        return;
    }
    c->out.len += (size_t)res;
    c->body_out += (uint64_t)res;
    c->file_off += res;
    c->file_left -= res;
    if (c->plan.framing == RESP_LENGTH)
        c->remaining -= res;
    conn_send_start(w, c);
}

bool filesend_more(worker_t *w, conn_t *c)
{
    if (c->file_fd < 0)
        return false;
    if (c->zc_block >= 0) {
        zc_next(w, c);
        return true;
    }
    if (c->file_left > 0) {
        if (engine_sends_file(w, c))
            send_file(w, c);
        else
            read_file(w, c);
        return true;
    }
    finish_file(w, c);
    return false;
}

void filesend_chunk(worker_t *w, conn_t *c)
{
    zc_send(w, c);
}
