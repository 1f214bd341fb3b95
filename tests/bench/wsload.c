/*
 * wsload: the WebSocket echo load generator of tests/bench (the `--only ws` group).
 *
 * Opens N connections to one server on loopback, upgrades each (RFC 6455 handshake:
 * the 101, and Sec-WebSocket-Accept checked against the key sent), then runs a closed
 * loop on every connection: send one masked frame, wait for its echo, check the echo
 * byte for byte, send the next. After the optional warm-up it counts for `--duration`
 * seconds and prints one line "@@WRK_JSON {...}" in the shape of tests/bench/wrk/
 * report.lua's (requests = echoes received in the window), with a "ws" object beside.
 *
 * Invariants:
 * - One thread, one epoll set, level-triggered; the client must not be the bottleneck on
 *   a shared 2-core box, so the hot path allocates nothing (but the round-trip array's
 *   doubling) and makes one syscall per frame each way: a frame is built once into the
 *   connection's output buffer, and a read that leaves room is not followed by one more
 *   to see EAGAIN.
 * - At most one message in flight per connection; its payload is a function of the
 *   connection and its sequence number, so an echo that belongs to another message (or
 *   connection) is caught as a mismatch, not counted.
 * - permessage-deflate is never offered, so every server is measured on plain frames;
 *   a response that negotiates an extension anyway is a handshake failure.
 * - Echoes and round trips count only inside the measured window; errors count in every
 *   phase (a server that fails the first echo fails it before the window opens).
 * - Errors are counted, never fatal: a connection that fails is closed and stays closed;
 *   the run still reports. Exit status 0 when the report was printed, 2 on bad usage.
 *
 * Build: scripts/zig cc -O2 -I. -o wsload tests/bench/wsload.c src/sha1.c src/base64.c -lm
 * (tests/bench/benchenv.py does it, once per version of these sources). The server's own
 * SHA-1 and base64 compute the accept key expected; tests/bench/test_ws.py checks them
 * against Python's hashlib through a handshake with an echo server of its own.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "src/base64.h"
#include "src/sha1.h"

#define MAX_PAYLOAD        (1u << 20)
#define HANDSHAKE_LIMIT_NS (5ull * 1000000000ull) /* every connection open by then, or failed */
#define CLOSE_WAIT_NS      (1000000000ull)        /* bounded wait for the servers' close frames */
/* RFC 6455's GUID; src/wshandshake.h has it too, but includes the Python bridge */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum state { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_DONE };

typedef struct {
    int fd;
    int id;
    enum state st;
    int in_flight;     /* a message sent and not yet echoed */
    uint64_t seq;      /* sequence number of the message in flight (or the next) */
    uint64_t sent_ns;  /* when the message in flight was sent */
    char accept[32];   /* the Sec-WebSocket-Accept expected */
    unsigned char *in; /* bytes read and not yet parsed */
    size_t in_len;
    unsigned char *out; /* bytes to write: the handshake request, a frame, a pong, a close */
    size_t out_len, out_off;
    int want_out; /* EPOLLOUT registered */
} conn_t;

typedef struct {
    /* options */
    const char *host, *path;
    int port, nconn;
    double duration, warmup, timeout;
    size_t size;
    int binary;
    /* echoes and their bytes count in the measured window, the rest in every phase */
    uint64_t echoes, bytes;
    uint64_t err_connect, err_handshake, err_read, err_write, err_timeout;
    uint64_t bad_frames, mismatched, closed_by_server, eof, pings;
    uint64_t opened, close_replies;
    int live; /* connections not ST_DONE */
    /* round trips of the measured window, microseconds */
    uint32_t *rtt;
    size_t rtt_len, rtt_cap;
    int counting;
    /* scratch */
    unsigned char *pattern; /* payloads are windows into it, see payload() */
    size_t in_cap, out_cap;
    uint64_t rng;
} load_t;

/* The one place running out of memory ends the program. */
static void *xrealloc(void *old, size_t n)
{
    void *p = realloc(old, n);
    if (p == NULL) {
        fprintf(stderr, "wsload: out of memory (%zu bytes) at %s:%d\n", n, __FILE__, __LINE__);
        abort();
    }
    return p;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t next_rand(load_t *L)
{
    /* xorshift64*: mask keys and handshake keys need to vary, not to be secret */
    L->rng ^= L->rng >> 12;
    L->rng ^= L->rng << 25;
    L->rng ^= L->rng >> 27;
    return L->rng * 0x2545F4914F6CDD1Dull;
}

/* ---- payloads --------------------------------------------------------------------- */

/* The payload of message `seq` on connection `id`: a window into one pattern, at an
 * offset that moves with both numbers, so an echo of the previous message or of another
 * connection's differs (and checking an echo is one memcmp). Text: printable ASCII
 * (valid UTF-8 by construction), period 94; binary: every byte value, period 256. */
#define PATTERN_PERIOD 256

static const unsigned char *payload(const load_t *L, int id, uint64_t seq)
{
    uint64_t s = (uint64_t)id * 7919u + seq * 104729u;
    return L->pattern + s % (L->binary ? 256 : 94);
}

static unsigned char *make_pattern(size_t size, int binary)
{
    unsigned char *p = xrealloc(NULL, size + PATTERN_PERIOD);
    for (size_t i = 0; i < size + PATTERN_PERIOD; i++)
        p[i] = binary ? (unsigned char)i : (unsigned char)('!' + i % 94);
    return p;
}

/* ---- connection I/O ---------------------------------------------------------------- */

static void watch(int ep, conn_t *c, int out)
{
    if (c->want_out == out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static void finish(load_t *L, int ep, conn_t *c)
{
    if (c->st == ST_DONE)
        return;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->st = ST_DONE;
    L->live--;
    c->in_flight = 0;
}

/* Writes what is queued. Returns 0 (written or waiting for EPOLLOUT), -1 when the
 * connection failed (counted, closed). */
static int flush_out(load_t *L, int ep, conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            watch(ep, c, 1);
            return 0;
        }
        if (n <= 0) {
            L->err_write++;
            finish(L, ep, c);
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_len = c->out_off = 0;
    watch(ep, c, 0);
    return 0;
}

/* Appends one masked client frame (FIN set) to the output buffer. */
static void queue_frame(load_t *L, conn_t *c, int opcode, const unsigned char *p, size_t n)
{
    unsigned char *o = c->out + c->out_len;
    size_t h = 0;
    o[h++] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        o[h++] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        o[h++] = 0x80 | 126;
        o[h++] = (unsigned char)(n >> 8);
        o[h++] = (unsigned char)n;
    } else {
        o[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            o[h++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    uint32_t key = (uint32_t)next_rand(L);
    unsigned char m[4] = {(unsigned char)(key >> 24), (unsigned char)(key >> 16),
                          (unsigned char)(key >> 8), (unsigned char)key};
    memcpy(o + h, m, 4);
    h += 4;
    /* eight bytes at a time: at 4 KiB per message the masking is most of the client's
     * own work */
    uint64_t m8;
    unsigned char mm[8] = {m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]};
    memcpy(&m8, mm, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= m8;
        memcpy(o + h + i, &w, 8);
    }
    for (; i < n; i++)
        o[h + i] = p[i] ^ m[i & 3];
    c->out_len += h + n;
}

static int send_message(load_t *L, int ep, conn_t *c)
{
    queue_frame(L, c, L->binary ? 2 : 1, payload(L, c->id, c->seq), L->size);
    c->in_flight = 1;
    c->sent_ns = now_ns();
    return flush_out(L, ep, c);
}

static void start_close(load_t *L, int ep, conn_t *c)
{
    unsigned char code[2] = {1000 >> 8, 1000 & 0xff};
    /* appended: a message frame may still be half written (out_cap holds both) */
    queue_frame(L, c, 8, code, 2);
    c->st = ST_CLOSING;
    flush_out(L, ep, c);
}

static void record_rtt(load_t *L, uint64_t ns)
{
    if (L->rtt_len == L->rtt_cap) {
        L->rtt_cap = L->rtt_cap ? 2 * L->rtt_cap : 65536;
        L->rtt = xrealloc(L->rtt, L->rtt_cap * sizeof *L->rtt);
    }
    uint64_t us = ns / 1000;
    L->rtt[L->rtt_len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Parses the handshake response in c->in. Returns 1 when open (leftover bytes kept),
 * 0 when more input is needed, -1 on a failed handshake. */
static int parse_handshake(conn_t *c)
{
    unsigned char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL)
        return c->in_len > 8192 ? -1 : 0;
    size_t head = (size_t)(end - c->in) + 4;
    char *h = (char *)c->in;
    h[head - 2] = '\0'; /* the head is parsed as a C string; the frames after are kept */
    if (strncmp(h, "HTTP/1.1 101", 12) != 0)
        return -1;
    int accept_ok = 0;
    for (char *line = strstr(h, "\r\n"); line != NULL && line[2] != '\0';
         line = strstr(line + 2, "\r\n")) {
        char *name = line + 2;
        char *colon = strchr(name, ':');
        char *eol = strstr(name, "\r\n");
        if (colon == NULL || (eol != NULL && colon > eol))
            continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vlen = (eol ? (size_t)(eol - v) : strlen(v));
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        size_t nlen = (size_t)(colon - name);
        if (nlen == 20 && strncasecmp(name, "Sec-WebSocket-Accept", 20) == 0)
            accept_ok = vlen == strlen(c->accept) && memcmp(v, c->accept, vlen) == 0;
        else if (nlen == 24 && strncasecmp(name, "Sec-WebSocket-Extensions", 24) == 0 && vlen)
            return -1; /* nothing was offered: an extension here breaks the comparison */
    }
    if (!accept_ok)
        return -1;
    memmove(c->in, c->in + head, c->in_len - head);
    c->in_len -= head;
    return 1;
}

/* Handles the complete frames in c->in. Returns 0, or -1 when the connection ended. */
static int parse_frames(load_t *L, int ep, conn_t *c)
{
    size_t off = 0;
    int rc = 0;
    while (c->st == ST_OPEN || c->st == ST_CLOSING) {
        unsigned char *p = c->in + off;
        size_t avail = c->in_len - off;
        if (avail < 2)
            break;
        int fin = p[0] & 0x80, rsv = p[0] & 0x70, op = p[0] & 0x0f, masked = p[1] & 0x80;
        uint64_t n = p[1] & 0x7f;
        size_t h = 2;
        if (n == 126) {
            if (avail < 4)
                break;
            n = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (n == 127) {
            if (avail < 10)
                break;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | p[2 + i];
            h = 10;
        }
        /* a server's frames are never masked, and an echo is one unfragmented frame (the
         * payloads are far below any server's fragmentation size) */
        if (masked || rsv || !fin || n > MAX_PAYLOAD) {
            L->bad_frames++;
            rc = -1;
            break;
        }
        if (avail < h + n)
            break;
        const unsigned char *body = p + h;
        off += h + (size_t)n;
        if (op == 9) { /* ping: answer with a pong of the same payload */
            L->pings++;
            if (c->st == ST_OPEN) {
                queue_frame(L, c, 10, body, (size_t)n);
                if (flush_out(L, ep, c) < 0)
                    return -1;
            }
            continue;
        }
        if (op == 10)
            continue;
        if (op == 8) {
            if (c->st == ST_CLOSING)
                L->close_replies++;
            else
                L->closed_by_server++;
            rc = -1;
            break;
        }
        if (c->st == ST_CLOSING)
            continue; /* an echo still on its way when the run ended */
        int want_op = L->binary ? 2 : 1;
        if (op != want_op || !c->in_flight || n != L->size) {
            L->bad_frames++;
            rc = -1;
            break;
        }
        if (memcmp(body, payload(L, c->id, c->seq), L->size) != 0) {
            L->mismatched++;
            rc = -1;
            break;
        }
        uint64_t t = now_ns();
        if (L->counting) {
            L->echoes++;
            L->bytes += L->size;
            record_rtt(L, t - c->sent_ns);
        }
        c->in_flight = 0;
        c->seq++;
        if (send_message(L, ep, c) < 0)
            return -1;
    }
    if (rc < 0) {
        finish(L, ep, c);
        return -1;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return 0;
}

static void on_readable(load_t *L, int ep, conn_t *c)
{
    for (;;) {
        if (c->in_len == L->in_cap) {
            L->bad_frames++; /* a frame larger than any echo */
            finish(L, ep, c);
            return;
        }
        ssize_t n = read(c->fd, c->in + c->in_len, L->in_cap - c->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            if (c->st == ST_HANDSHAKE)
                L->err_handshake++;
            else if (c->st == ST_OPEN)
                (n == 0 ? L->eof++ : L->err_read++);
            finish(L, ep, c);
            return;
        }
        /* a read that left room found the socket drained: level-triggered epoll reports
         * the next bytes, so no second read() just to see EAGAIN */
        int drained = (size_t)n < L->in_cap - c->in_len;
        c->in_len += (size_t)n;
        if (c->st == ST_HANDSHAKE) {
            int r = parse_handshake(c);
            if (r == 0) {
                if (drained)
                    return;
                continue;
            }
            if (r < 0) {
                L->err_handshake++;
                finish(L, ep, c);
                return;
            }
            c->st = ST_OPEN;
            L->opened++;
            if (send_message(L, ep, c) < 0)
                return;
        }
        if (parse_frames(L, ep, c) < 0 || drained)
            return;
    }
}

static void on_writable(load_t *L, int ep, conn_t *c)
{
    if (c->st == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            L->err_connect++;
            finish(L, ep, c);
            return;
        }
        c->st = ST_HANDSHAKE;
    }
    flush_out(L, ep, c);
}

static int open_conn(load_t *L, int ep, conn_t *c, const struct sockaddr_in *sa)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    unsigned char raw[16], digest[SHA1_DIGEST_LEN];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = next_rand(L);
        memcpy(raw + i, &r, 8);
    }
    char key[32];
    base64_encode(key, raw, 16);
    sha1_t sha;
    sha1_init(&sha);
    sha1_update(&sha, key, strlen(key));
    sha1_update(&sha, WS_GUID, strlen(WS_GUID));
    sha1_final(&sha, digest);
    base64_encode(c->accept, digest, SHA1_DIGEST_LEN);
    c->out_len = (size_t)snprintf((char *)c->out, L->out_cap,
                                  "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                                  "Sec-WebSocket-Version: 13\r\n\r\n",
                                  L->path, L->host, L->port, key);
    c->out_off = 0;
    c->st = ST_CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->want_out = 1;
    if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(c->fd);
        c->st = ST_DONE;
        return -e;
    }
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    L->live++;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct(const uint32_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q / 100.0 * (double)n);
    return v[i >= n ? n - 1 : i];
}

static void report(load_t *L, uint64_t window_ns)
{
    qsort(L->rtt, L->rtt_len, sizeof *L->rtt, cmp_u32);
    double sum = 0, sq = 0;
    for (size_t i = 0; i < L->rtt_len; i++)
        sum += L->rtt[i];
    double mean = L->rtt_len ? sum / (double)L->rtt_len : 0;
    for (size_t i = 0; i < L->rtt_len; i++)
        sq += (L->rtt[i] - mean) * (L->rtt[i] - mean);
    double sd = L->rtt_len > 1 ? sqrt(sq / (double)(L->rtt_len - 1)) : 0;
    uint64_t read_err = L->err_read + L->bad_frames + L->mismatched + L->closed_by_server + L->eof;
    const uint32_t *v = L->rtt;
    size_t n = L->rtt_len;
    printf("@@WRK_JSON {\"requests\":%llu,\"duration_us\":%llu,\"bytes\":%llu,"
           "\"errors\":{\"connect\":%llu,\"read\":%llu,\"write\":%llu,\"status\":%llu,"
           "\"timeout\":%llu},"
           "\"latency_us\":{\"min\":%.0f,\"mean\":%.1f,\"stdev\":%.1f,\"max\":%.0f,\"p50\":%.0f,"
           "\"p75\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"p999\":%.0f},"
           "\"ws\":{\"connections\":%d,\"opened\":%llu,\"message_bytes\":%zu,\"opcode\":\"%s\","
           "\"handshake_failed\":%llu,\"bad_frames\":%llu,\"mismatched\":%llu,"
           "\"closed_by_server\":%llu,\"eof\":%llu,\"read_errors\":%llu,\"pings\":%llu,"
           "\"close_replies\":%llu}}\n",
           (unsigned long long)L->echoes, (unsigned long long)(window_ns / 1000),
           (unsigned long long)L->bytes, (unsigned long long)L->err_connect,
           (unsigned long long)read_err, (unsigned long long)L->err_write,
           (unsigned long long)L->err_handshake, (unsigned long long)L->err_timeout,
           n ? (double)v[0] : 0.0, mean, sd, n ? (double)v[n - 1] : 0.0, pct(v, n, 50),
           pct(v, n, 75), pct(v, n, 90), pct(v, n, 99), pct(v, n, 99.9), L->nconn,
           (unsigned long long)L->opened, L->size, L->binary ? "binary" : "text",
           (unsigned long long)L->err_handshake, (unsigned long long)L->bad_frames,
           (unsigned long long)L->mismatched, (unsigned long long)L->closed_by_server,
           (unsigned long long)L->eof, (unsigned long long)L->err_read,
           (unsigned long long)L->pings, (unsigned long long)L->close_replies);
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr, "usage: wsload --port P [--host 127.0.0.1] [--path /] [--connections 100]\n"
                    "              [--duration 2] [--warmup 0] [--size 32] [--binary] "
                    "[--timeout 5] [--seed N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    load_t L = {.host = "127.0.0.1",
                .path = "/",
                .nconn = 100,
                .duration = 2,
                .timeout = 5,
                .size = 32,
                .rng = 0x9E3779B97F4A7C15ull};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--binary") == 0) {
            L.binary = 1;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--port") == 0)
            L.port = atoi(v);
        else if (strcmp(a, "--host") == 0)
            L.host = v;
        else if (strcmp(a, "--path") == 0)
            L.path = v;
        else if (strcmp(a, "--connections") == 0)
            L.nconn = atoi(v);
        else if (strcmp(a, "--duration") == 0)
            L.duration = atof(v);
        else if (strcmp(a, "--warmup") == 0)
            L.warmup = atof(v);
        else if (strcmp(a, "--size") == 0)
            L.size = (size_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--timeout") == 0)
            L.timeout = atof(v);
        else if (strcmp(a, "--seed") == 0)
            L.rng ^= strtoull(v, NULL, 10) * 0xBF58476D1CE4E5B9ull;
        else
            usage();
    }
    if (L.port <= 0 || L.nconn <= 0 || L.duration <= 0 || L.size > MAX_PAYLOAD ||
        strlen(L.path) > 1024)
        usage();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)L.port)};
    if (inet_pton(AF_INET, L.host, &sa.sin_addr) != 1)
        usage();

    /* an echo frame is at most 10 header bytes + payload; the handshake response fits in
     * 8 KiB; both buffers hold one of each with room to spare */
    L.in_cap = L.size + 16 + 8192;
    L.out_cap = 2 * (L.size + 16) + 2048;
    L.pattern = make_pattern(L.size, L.binary);
    conn_t *conns = calloc((size_t)L.nconn, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || ep < 0) {
        fprintf(stderr, "wsload: setup failed: %s\n", strerror(errno));
        return 2;
    }
    for (int i = 0; i < L.nconn; i++) {
        conn_t *c = &conns[i];
        c->id = i;
        c->in = xrealloc(NULL, L.in_cap);
        c->out = xrealloc(NULL, L.out_cap);
        if (open_conn(&L, ep, c, &sa) < 0)
            L.err_connect++;
    }

    /* Phases: handshakes (until every connection is open or failed), warm-up, the
     * measured window, then the close handshake. L.counting is 1 only in the window. */
    uint64_t t0 = now_ns(), start = 0, stop = 0, close_until = 0, next_scan = 0;
    uint64_t timeout_ns = (uint64_t)(L.timeout * 1e9);
    struct epoll_event evs[256];
    while (L.live > 0) {
        int n = epoll_wait(ep, evs, 256, 10);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->st == ST_DONE)
                continue;
            if (evs[i].events & (EPOLLOUT | EPOLLERR))
                on_writable(&L, ep, c);
            if (c->st != ST_DONE && c->st != ST_CONNECTING &&
                (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(&L, ep, c);
        }
        uint64_t t = now_ns();
        if (close_until) {
            if (t >= close_until)
                break;
            continue;
        }
        if (L.counting && t >= stop) {
            L.counting = 0;
            close_until = t + CLOSE_WAIT_NS;
            for (int i = 0; i < L.nconn; i++)
                if (conns[i].st == ST_OPEN)
                    start_close(&L, ep, &conns[i]);
            continue;
        }
        if (t < next_scan)
            continue;
        /* every 10 ms: the phase, and the messages that waited too long */
        next_scan = t + 10000000ull;
        if (start == 0) {
            int pending = 0;
            for (int i = 0; i < L.nconn; i++)
                pending += conns[i].st == ST_CONNECTING || conns[i].st == ST_HANDSHAKE;
            if (pending > 0 && t - t0 < HANDSHAKE_LIMIT_NS)
                continue;
            for (int i = 0; i < L.nconn; i++)
                if (conns[i].st == ST_CONNECTING || conns[i].st == ST_HANDSHAKE) {
                    L.err_handshake++;
                    finish(&L, ep, &conns[i]);
                }
            start = t + (uint64_t)(L.warmup * 1e9);
            stop = start + (uint64_t)(L.duration * 1e9);
            continue;
        }
        if (!L.counting && t >= start)
            L.counting = 1;
        for (int i = 0; L.counting && i < L.nconn; i++) {
            conn_t *c = &conns[i];
            if (c->st == ST_OPEN && c->in_flight && t - c->sent_ns > timeout_ns) {
                L.err_timeout++;
                finish(&L, ep, c);
            }
        }
    }
    if (L.counting || (start && stop > now_ns()))
        stop = now_ns(); /* every connection failed before the end: the window ends here */
    for (int i = 0; i < L.nconn; i++)
        if (conns[i].st != ST_DONE)
            finish(&L, ep, &conns[i]);
    report(&L, (start && stop > start ? stop - start : 0));
    return 0;
}
