/* libFuzzer target: the connection state machine (src/conn.c) driven by fake completions.
 *
 * The target includes src/conn.c, so its statics are reachable and nothing in src/ has to
 * change; what conn.c calls outside HTTP framing and response writing is replaced here:
 * the ring (every submission is queued, the fuzzer decides when and how each completes),
 * the worker's timers and slot pool, the application (a fake WSGI reply), the log and
 * the statistics hooks. When conn.c starts calling something new, the link fails naming
 * it: add a stub below.
 *
 * Input: byte 0 picks the application's behaviour (its top bit: a wsgi.file_wrapper
 * file of 20 bytes with one of four Content-Lengths, sent by reads or, with bit 6, by the
 * engine itself as epoll does), byte 1 the spool threshold,
 * keep-alive, whether the application runs in threads (--threads: each step of the
 * response is queued like an operation, and completing it runs the step, as a thread
 * would, while receives, deadlines and drains go on around it) and whether large chunks
 * go out zero-copy (result and notification each an operation) and whether the
 * connection must begin with a PROXY protocol header (--proxy-protocol auto; the fake
 * peer is a unix socket, which the allow list lets in); then a script of
 * events, one command byte each (with an argument byte or payload where needed):
 *   recv data (1..64 bytes from the input) / recv EOF / recv error,
 *   complete the oldest queued operation: fully, short, or with an error,
 *   fire the armed deadline (header, body, idle, linger, drain),
 *   start draining (graceful stop).
 * When the script ends, the connection is driven to its end: queued operations complete,
 * deadlines fire, the peer closes; it must reach release within a bounded number of
 * steps.
 *
 * Invariants (abort on violation), beyond conn.c's own UF_ASSERTs and ASan/UBSan:
 *   - a slot is released only with no operation in flight, and then nothing is queued;
 *   - every provided receive buffer handed to conn.c is recycled exactly once;
 *   - at most one send is in flight;
 *   - every application reply is finished (py_wsgi_finish) exactly once, by release,
 *     and never advanced or finished while the kernel may still read a chunk of it;
 *   - the bytes sent are a sequence of HTTP/1.x responses, and nothing follows a
 *     response that says Connection: close (never a second answer after an error);
 *   - the connection always ends (no state where nothing can happen any more).
 *
 * Past findings, now fixed and kept as seeds by the corpus: a half-closed client whose
 * unfinished pipelined request leaked the connection, and a short "100 Continue" send
 * that was never resumed.
 */
#include <ctype.h>

#include "src/conn.c"
#include "src/proxyproto.h"

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "conn_fuzz invariant: " __VA_ARGS__);                                      \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

#define RECV_BUFS     8
#define RECV_BUF_SIZE 64
#define MAX_OPS       64
#define DRIVE_STEPS   4096

typedef struct fake_op {
    uint64_t ud;
    const char *data; /* sends: the bytes handed to the kernel */
    size_t len;
    uint64_t target; /* cancels: the operation cancelled */
} fake_op_t;

static struct {
    fake_op_t ops[MAX_OPS];
    unsigned nops;
    bool recv_armed;
    uint64_t recv_ud;
    bool buf_out[RECV_BUFS]; /* handed to conn.c, not yet recycled */
    unsigned next_buf;
    unsigned sends_in_flight;
    bool released;
    int app_mode;
    unsigned calls, finishes;
    unsigned zc_live; /* zero-copy sends and notifications still to come */
    int stream_left;
    buf_t sent; /* every byte the fake kernel accepted */
    bool saw_head;
    bool file_reply; /* the application returns a file (file_cl is its Content-Length) */
    int file_cl;
} F;

/* ---- the ring ---------------------------------------------------------------------------- */

static void push(uint64_t ud, const void *data, size_t len, uint64_t target)
{
    if (F.nops == MAX_OPS)
        FAIL("more than %d operations in flight", MAX_OPS);
    F.ops[F.nops++] = (fake_op_t){ud, data, len, target};
}

void ring_recv_multishot(ring_t *r, int fd, uint64_t ud)
{
    if (F.recv_armed)
        FAIL("a second multishot receive armed");
    F.recv_armed = true;
    F.recv_ud = ud;
}

void ring_send(ring_t *r, int fd, const void *data, size_t len, uint64_t ud)
{
    if (ring_ud_op(ud) == OP_SEND && ++F.sends_in_flight > 1)
        FAIL("two sends in flight on one connection");
    push(ud, data, len, 0);
}

void ring_cancel(ring_t *r, uint64_t target_ud, uint64_t ud)
{
    push(ud, NULL, 0, target_ud);
}
void ring_close(ring_t *r, int fd, uint64_t ud)
{
    push(ud, NULL, 0, 0);
}

void ring_write_at(ring_t *r, int fd, const void *data, size_t len, uint64_t offset, uint64_t ud)
{
    push(ud, data, len, 0);
}

void ring_read_at(ring_t *r, int fd, void *data, size_t len, uint64_t offset, uint64_t ud)
{
    memset(data, 'f', len); /* the file's bytes, as far as the connection can tell */
    push(ud, data, len, 0);
}

void ring_buffer_recycle(ring_t *r, unsigned bid)
{
    if (bid >= RECV_BUFS || !F.buf_out[bid])
        FAIL("receive buffer %u recycled but not handed out", bid);
    F.buf_out[bid] = false;
}

/* Zero-copy sends need a registered arena; the fake configuration never enables them. */
int ring_arena_init(ring_t *r, unsigned blocks, size_t block_size, char *err, size_t errlen)
{
    snprintf(err, errlen, "no registered buffers in the fuzz harness");
    return -ENOTSUP;
}
int ring_arena_get(ring_t *r)
{
    return -1;
}
void ring_arena_put(ring_t *r, int index)
{
    FAIL("arena block %d put back, none given", index);
}
void ring_send_zc_fixed(ring_t *r, int fd, int index, size_t offset, size_t len, uint64_t ud)
{
    FAIL("zero-copy send without an arena");
}

/* A zero-copy send of an application chunk: its result, then (after a successful send)
 * a notification, each an operation of its own; until the notification the chunk's
 * memory is the kernel's and the reply must not move on. */
#define NOTIF_MARK 1
void ring_send_zc(ring_t *r, int fd, const void *data, size_t len, uint64_t ud)
{
    if (++F.sends_in_flight > 1)
        FAIL("two sends in flight on one connection");
    F.zc_live++;
    push(ud, data, len, 0);
}

/* The engine's own send of a file (features.send_file): one send on the socket, whose
 * result may be short, 0 (the file shrank) or an error. */
void ring_send_file(ring_t *r, int fd, int file_fd, uint64_t offset, size_t len, uint64_t ud)
{
    if (++F.sends_in_flight > 1)
        FAIL("two sends in flight on one connection");
    push(ud, NULL, len, 0);
}

/* ---- the application threads: a step is an operation the script completes ---------- */

void pool_submit(pool_t *p, conn_t *c)
{
    push(ring_ud(OP_APP, c->gen, c->slot), NULL, 0, 0);
}

/* No thread takes a queued step back here (each is an operation the script completes), and
 * none is ever in a long request. */
bool pool_reclaim(pool_t *p, conn_t *c)
{
    return false;
}
uint64_t pool_youngest(pool_t *p)
{
    return 0;
}

/* The harness's worker keeps no streaks (w->loopcall stays NULL): the loop never calls. */
void py_interp_acquire(void)
{
    FAIL("the loop took the GIL to call the application itself");
}
void py_interp_release(void)
{
    FAIL("the loop released a GIL it cannot hold here");
}

/* ---- work sharing: the harness's worker has no siblings (w->share stays NULL) ------------- */

int share_pick(const share_t *s, unsigned self, unsigned start, bool any)
{
    FAIL("a sibling looked for without work sharing");
    return -1;
}
int share_send(const share_t *s, unsigned k, const share_msg_t *m)
{
    FAIL("a connection handed over without work sharing");
    return -ENOSYS;
}
void worker_take_queued(worker_t *w) {}
void worker_request_started(worker_t *w)
{
    w->requests_started++;
}

/* ---- the worker ---------------------------------------------------------------------------- */

static void free_push(worker_t *w, conn_t *c)
{
    w->free_slots[w->free_count++] = c->slot;
    w->active--;
}

void worker_timer_arm(worker_t *w, conn_t *c, int timer)
{
    c->timer = (int8_t)timer;
}
void worker_timer_disarm(worker_t *w, conn_t *c)
{
    c->timer = CONN_TIMER_NONE;
}

void worker_conn_release(worker_t *w, conn_t *c)
{
    UF_ASSERT(c->ops == 0 && c->state == CONN_CLOSING);
    if (F.nops || F.recv_armed)
        FAIL("slot released with %u operations queued%s", F.nops,
             F.recv_armed ? " and a receive armed" : "");
    c->state = CONN_FREE;
    c->timer = CONN_TIMER_NONE;
    free_push(w, c);
    F.released = true;
}

void log_msg(int level, const char *fmt, ...)
{
    (void)level, (void)fmt;
}

/* Observers (access log, statistics): nothing to observe here, and no probe paths. */
void stats_conn_open(worker_t *w, conn_t *c) {}
void stats_request_begin(worker_t *w, conn_t *c) {}
void stats_request_cancel(worker_t *w, conn_t *c) {}
bool stats_probe(worker_t *w, conn_t *c, const py_request_t *pr)
{
    return false;
}
bool stats_probe_refuses(const worker_t *w, const py_request_t *pr)
{
    return false;
}
void stats_response_head(worker_t *w, conn_t *c, const py_reply_t *reply) {}
void stats_request_done(worker_t *w, conn_t *c) {}
uint64_t stats_clock_ns(void)
{
    return 1; /* any non-zero time: the phases are not what is fuzzed */
}
void stats_request_received(const worker_t *w, conn_t *c) {}
void stats_request_carried(conn_t *c, uint64_t first_byte_ns) {}
uint64_t stats_request_first_byte_ns(const conn_t *c)
{
    return 0;
}
void stats_request_first_byte(conn_t *c) {}
void stats_request_mark(conn_t *c, enum stats_mark mark) {}

/* ASGI (src/asgiconn.c): the fuzzed worker serves WSGI, so none of these is reached. */
void asgiconn_start(worker_t *w, conn_t *c, const py_request_t *pr)
{
    FAIL("asgiconn_start in a WSGI worker");
}
void asgiconn_input(worker_t *w, conn_t *c) {}
void wsconn_free(worker_t *w, conn_t *c) {}
void wsconn_drain(worker_t *w, conn_t *c) {}
void wsconn_expire(worker_t *w, conn_t *c, int timer) {}
void asgiconn_sent(worker_t *w, conn_t *c) {}
void asgiconn_detach(conn_t *c, bool gone)
{
    if (c->asgi.req)
        FAIL("an ASGI request on a WSGI worker's connection");
}

/* ---- the application -------------------------------------------------------------------- */

static py_header_t reply_headers[2];
static int app_file_fd = -1; /* the application's file: only duplicated, never read */
#define FILE_LEN 20
static py_reply_t the_reply;
static volatile unsigned touched; /* keeps the reads below from being optimised away */

py_reply_t *py_wsgi_call(py_app_t *app, const py_request_t *req)
{
    /* touch every byte the request borrows: ASan checks that it is all still there */
    unsigned sum = 0;
    for (size_t i = 0; i < req->method.len; i++)
        sum += (unsigned char)req->method.ptr[i];
    for (size_t i = 0; i < req->target.len; i++)
        sum += (unsigned char)req->target.ptr[i];
    for (size_t h = 0; h < req->header_count; h++) {
        for (size_t i = 0; i < req->headers[h].name.len; i++)
            sum += (unsigned char)req->headers[h].name.ptr[i];
        for (size_t i = 0; i < req->headers[h].value.len; i++)
            sum += (unsigned char)req->headers[h].value.ptr[i];
    }
    if (req->body)
        for (size_t i = 0; i < req->body_len; i++)
            sum += (unsigned char)req->body[i];
    touched = sum;
    if (req->method.len == 4 && memcmp(req->method.ptr, "HEAD", 4) == 0)
        F.saw_head = true;
    if (F.calls != F.finishes)
        FAIL("application called while a previous reply is not finished");
    if (F.app_mode == 2)
        return NULL; /* raised before start_response: the server answers 500 */
    F.calls++;
    the_reply = (py_reply_t){
        .status = {"200 OK", 6},
        .status_code = 200,
        .headers = reply_headers,
        .content_length = -1,
        .body_length = -1,
        .file_fd = -1,
    };
    reply_headers[0] = (py_header_t){{"Content-Type", 12}, {"text/plain", 10}};
    the_reply.header_count = 1;
    if (F.file_reply) {
        static char cl[4];
        the_reply.content_length = F.file_cl;
        if (F.file_cl >= 0) {
            int n = snprintf(cl, sizeof(cl), "%d", F.file_cl);
            reply_headers[1] = (py_header_t){{"Content-Length", 14}, {cl, (size_t)n}};
            the_reply.header_count = 2;
        }
        the_reply.file_fd = app_file_fd;
        the_reply.file_length = the_reply.body_length = FILE_LEN;
        the_reply.done = true;
        return &the_reply;
    }
    switch (F.app_mode) {
    case 0: /* a list with one item and its Content-Length */
    case 3: /* ... that promises more than it gives */
        reply_headers[1] = (py_header_t){{"Content-Length", 14}, {F.app_mode == 0 ? "2" : "5", 1}};
        the_reply.header_count = 2;
        the_reply.content_length = F.app_mode == 0 ? 2 : 5;
        the_reply.chunk = (py_slice_t){"ok", 2};
        the_reply.done = true;
        break;
    case 5: /* a generator with its Content-Length: chunks may go out zero-copy */
        reply_headers[1] = (py_header_t){{"Content-Length", 14}, {"20", 2}};
        the_reply.header_count = 2;
        the_reply.content_length = 20;
        /* fall through */
    default: /* a generator: a few chunks, and for mode 4 an exception at the end */
        the_reply.chunk = (py_slice_t){"ab", 2};
        F.stream_left = 3;
        break;
    }
    return &the_reply;
}

int py_wsgi_next(py_reply_t *reply)
{
    if (F.calls == F.finishes)
        FAIL("py_wsgi_next on a finished reply");
    if (F.zc_live)
        FAIL("reply advanced while the kernel may still read its chunk");
    if (F.stream_left > 0) {
        F.stream_left--;
        reply->chunk = (py_slice_t){"cdefgh", 6};
        return 1;
    }
    reply->chunk = (py_slice_t){"", 0};
    reply->done = true;
    return F.app_mode == 4 ? -1 : 0;
}

void py_wsgi_finish(py_reply_t *reply)
{
    if (F.finishes >= F.calls)
        FAIL("py_wsgi_finish called twice for one reply");
    if (F.zc_live)
        FAIL("reply finished while the kernel may still read its chunk");
    F.finishes++;
}

/* ---- driving ------------------------------------------------------------------------------- */

static worker_t W;
static tun_config_t CFG;
static sb_slot_t SB;
static worker_listener_t LISTENER = {.fd = -1, .host = "127.0.0.1", .port = 8000};
static char recv_bufs[RECV_BUFS * RECV_BUF_SIZE];
static int peer_fd = -1;

static conn_t *the_conn(void)
{
    return &W.conns[0];
}

static bool live(uint64_t ud)
{
    conn_t *c = the_conn();
    return c->state != CONN_FREE && ring_ud_gen(ud) == c->gen;
}

static bool trace; /* UF_CONN_FUZZ_TRACE=1: print every event (replaying a finding) */

static void deliver(unsigned op, int res, unsigned flags)
{
    conn_t *c = the_conn();
    if (trace)
        fprintf(stderr, "  deliver op=%u res=%d more=%d | state=%d ops=%u timer=%d recv=%d\n", op,
                res, !!(flags & RING_F_MORE), c->state, c->ops, c->timer, c->recv_armed);
    if (c->state == CONN_FREE)
        FAIL("completion (op %u) for a released slot", op);
    conn_complete(&W, c, op, res, flags);
}

static void recv_data(const uint8_t *p, size_t n)
{
    unsigned bid = F.next_buf++ % RECV_BUFS;
    if (F.buf_out[bid])
        return; /* the kernel would have no buffer: nothing arrives */
    memcpy(recv_bufs + bid * RECV_BUF_SIZE, p, n);
    F.buf_out[bid] = true;
    deliver(OP_RECV, (int)n, RING_F_BUFFER | RING_F_MORE | (bid << RING_F_BUFFER_SHIFT));
}

static void recv_end(int res)
{
    F.recv_armed = false;
    deliver(OP_RECV, res, 0);
}

static bool is_send(const fake_op_t *op)
{
    unsigned kind = ring_ud_op(op->ud);
    return kind == OP_SEND || kind == OP_CONTINUE || kind == OP_SEND_FILE ||
           (kind == OP_SEND_ZC && op->target != NOTIF_MARK);
}

/* Completes queued operation i: how = 0 fully, 1 short, 2 with an error. Sends on the
 * one socket complete in the order they were submitted (their bytes reach the stream in
 * that order), so picking a send completes the oldest send instead. */
static void complete_op(unsigned i, int how)
{
    if (is_send(&F.ops[i]))
        for (unsigned j = 0; j < i; j++)
            if (is_send(&F.ops[j])) {
                i = j;
                break;
            }
    fake_op_t op = F.ops[i];
    memmove(&F.ops[i], &F.ops[i + 1], (F.nops - i - 1) * sizeof(fake_op_t));
    F.nops--;
    unsigned kind = ring_ud_op(op.ud);
    int res = 0;
    unsigned flags = 0;
    switch (kind) {
    case OP_SEND_ZC:
        if (op.target == NOTIF_MARK) {
            F.zc_live--;
            res = how == 1 ? (int)RING_ZC_COPIED : 0;
            flags = RING_F_NOTIF;
            break;
        }
        F.sends_in_flight--;
        res = how == 2 ? -EPIPE : how == 1 && op.len > 1 ? (int)(op.len / 2) : (int)op.len;
        if (res > 0) {
            buf_append(&F.sent, op.data, (size_t)res);
            push(op.ud, NULL, 0, NOTIF_MARK); /* the kernel lets go of the memory later */
            flags = RING_F_MORE;
        } else {
            F.zc_live--;
        }
        break;
    case OP_SEND:
    case OP_CONTINUE:
        if (kind == OP_SEND)
            F.sends_in_flight--;
        res = how == 2 ? -EPIPE : how == 1 && op.len > 1 ? (int)(op.len / 2) : (int)op.len;
        if (res > 0)
            buf_append(&F.sent, op.data, (size_t)res);
        break;
    case OP_SEND_FILE: {
        /* an error is the client's (gone), the file system's (cannot splice: the rest is
         * read) or the disk's; short includes 0, the file's end come early */
        static const int errs[] = {-EPIPE, -EINVAL, -EIO};
        F.sends_in_flight--;
        res = how == 2 ? errs[op.len % 3] : how == 1 ? (int)(op.len / 2) : (int)op.len;
        for (int k = 0; k < res; k++)
            buf_append(&F.sent, "f", 1);
        break;
    }
    case OP_SPOOL_WRITE:
    case OP_FILE_READ:
        res = how == 2 ? -EIO : how == 1 && op.len > 1 ? (int)(op.len / 2) : (int)op.len;
        break;
    case OP_CANCEL:
        /* the cancelled multishot receive ends first, with -ECANCELED */
        if (F.recv_armed && op.target == F.recv_ud && live(op.target))
            recv_end(-ECANCELED);
        res = 0;
        break;
    case OP_CLOSE:
        res = 0;
        break;
    case OP_APP:
        if (!live(op.ud))
            FAIL("a step queued for a previous tenant");
        reply_step(&W, the_conn()); /* what the thread does, then hands it back */
        res = 0;
        break;
    default:
        FAIL("unexpected operation %u queued", kind);
    }
    if (live(op.ud))
        deliver(kind, res, flags);
    else if (kind == OP_SEND || kind == OP_CONTINUE || kind == OP_SEND_ZC || kind == OP_SEND_FILE)
        FAIL("send completion for a previous tenant");
}

static void fire_timer(void)
{
    conn_t *c = the_conn();
    if (c->state == CONN_FREE || c->timer == CONN_TIMER_NONE)
        return;
    int t = c->timer;
    c->timer = CONN_TIMER_NONE;
    if (trace)
        fprintf(stderr, "  timer %d fires | state=%d\n", t, c->state);
    conn_expire(&W, c, t);
}

/* Parses the bytes sent as HTTP/1.1 responses; nothing may follow Connection: close. */
static void check_sent(void)
{
    if (!F.sent.len)
        return;
    const char *p = F.sent.data, *end = F.sent.data + F.sent.len;
    bool closed = false;
    while (p < end) {
        if (closed)
            FAIL("%zu bytes sent after a Connection: close response", (size_t)(end - p));
        if (end - p < 12 || (memcmp(p, "HTTP/1.1 ", 9) != 0 && memcmp(p, "HTTP/1.0 ", 9) != 0))
            FAIL("sent bytes do not start a response: %.20s", p);
        const char *head_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!head_end)
            return; /* cut off by the end of the connection */
        int status = atoi(p + 9);
        size_t head_len = (size_t)(head_end + 4 - p);
        long long length = -1;
        bool chunked = false;
        for (const char *h = p; h < head_end; h = memchr(h, '\n', (size_t)(head_end - h)) + 1) {
            if (!strncasecmp(h, "Content-Length: ", 16))
                length = atoll(h + 16);
            else if (!strncasecmp(h, "Transfer-Encoding: chunked", 26))
                chunked = true;
            else if (!strncasecmp(h, "Connection: close", 17))
                closed = true;
            if (!memchr(h, '\n', (size_t)(head_end - h)))
                break;
        }
        p += head_len;
        if (status >= 100 && status < 200)
            continue;
        if (chunked) {
            for (;;) {
                /* the chunk-size line ends at its CRLF: parse only up to there (the
                 * sent bytes are not NUL-terminated) */
                const char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);
                if (!nl)
                    return;
                long n = 0;
                for (const char *q = p; q < nl && isxdigit((unsigned char)*q); q++)
                    n = n * 16 + (isdigit((unsigned char)*q)
                                      ? *q - '0'
                                      : (tolower((unsigned char)*q) - 'a' + 10));
                p = nl + 2 + n + 2;
                if (p > end)
                    return;
                if (n == 0)
                    break;
            }
        } else if (length >= 0) {
            if (length > end - p)
                return;
            p += length;
        } else {
            return; /* close-delimited: the rest is the body */
        }
    }
}

static void setup_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    trace = getenv("UF_CONN_FUZZ_TRACE") != NULL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0)
        peer_fd = sv[0];
    app_file_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    W.cfg = &CFG;
    W.sb = &SB;
    W.listeners = &LISTENER;
    W.listener_count = 1;
    W.limits = (http_limits_t){
        .request_line = 256, .fields = 16, .field_size = 256, .header_bytes = 2048, .body = 4096};
    W.conns = uf_calloc(1, sizeof(conn_t));
    W.free_slots = uf_calloc(1, sizeof(uint32_t));
    W.free_count = 1;
    W.ring.buf_base = recv_bufs;
    W.ring.buf_count = RECV_BUFS;
    W.ring.buf_size = RECV_BUF_SIZE;
    http_req_init(&W.conns[0].req, &W.limits);
    W.conns[0].fd = -1;
    W.conns[0].spool_fd = W.conns[0].file_fd = -1;
    W.conns[0].timer = CONN_TIMER_NONE;
    W.conn_shared.spool_threshold = 1 << 20;
    snprintf(W.conn_shared.spool_dir, sizeof(W.conn_shared.spool_dir), "/tmp");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    setup_once();
    free(F.sent.data);
    memset(&F, 0, sizeof(F));
    F.app_mode = data[0] % 6;
    F.file_reply = (data[0] & 0x80) != 0;
    F.file_cl = (int[]){-1, FILE_LEN / 2, FILE_LEN, FILE_LEN + 10}[(data[0] >> 3) & 3];
    W.ring.features.send_file = (data[0] & 0x40) != 0;
    CFG.keepalive = (data[1] & 1) ? 2 : 0;
    W.conn_shared.spool_threshold = (data[1] & 2) ? 16 : 1 << 20;
    W.pool = (data[1] & 4) ? (pool_t *)&W : NULL; /* never dereferenced: pool_submit above */
    W.ring.features.send_zc = (data[1] & 8) != 0;
    CFG.zerocopy_threshold = (data[1] & 16) ? 0 : 4;
    W.conn_shared.pp.versions = (data[1] & 32) ? (PP_ACCEPT_V1 | PP_ACCEPT_V2) : 0;
    W.draining = false;
    conn_t *c = the_conn();
    if (c->state != CONN_FREE || W.free_count != 1)
        FAIL("previous connection not released");
    conn_open(&W, peer_fd, 0);

    size_t i = 2;
    while (i < size && !F.released) {
        uint8_t cmd = data[i++];
        switch (cmd % 8) {
        case 0:
        case 1:
        case 2: { /* data: the most common event */
            size_t n = 1 + (cmd >> 3) % RECV_BUF_SIZE;
            if (n > size - i)
                n = size - i;
            if (n && F.recv_armed && live(F.recv_ud))
                recv_data(data + i, n);
            i += n;
            break;
        }
        case 3:
            if (F.recv_armed && live(F.recv_ud))
                recv_end((cmd & 8) ? -ECONNRESET : 0);
            break;
        case 4:
        case 5:
            if (F.nops)
                complete_op((cmd >> 3) % F.nops, (cmd >> 6) % 3);
            break;
        case 6:
            fire_timer();
            break;
        case 7:
            if (!W.draining && c->state != CONN_FREE) {
                W.draining = true;
                conn_drain(&W, c);
            }
            break;
        }
    }

    /* drive it to its end: operations complete, deadlines pass, the peer goes away */
    for (int step = 0; !F.released; step++) {
        if (step == DRIVE_STEPS)
            FAIL("connection never ended (state %d, %u ops queued, timer %d, ops %u)", c->state,
                 F.nops, c->timer, c->ops);
        if (F.nops)
            complete_op(0, 0);
        else if (c->timer != CONN_TIMER_NONE)
            fire_timer();
        else if (F.recv_armed && live(F.recv_ud))
            recv_end(0);
        else
            FAIL("connection stuck: nothing queued, no deadline, no receive (state %d)", c->state);
    }
    for (unsigned b = 0; b < RECV_BUFS; b++)
        if (F.buf_out[b])
            FAIL("receive buffer %u never recycled", b);
    if (F.calls != F.finishes)
        FAIL("%u replies, %u finished", F.calls, F.finishes);
    if (!F.saw_head)
        check_sent();
    return 0;
}
