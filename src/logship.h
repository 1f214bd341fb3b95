/* Log shipping (--log-target, --log-syslog): access and error lines sent to a collector
 * over UDP, TCP or a unix socket, as JSON objects or RFC 5424 or RFC 3164 syslog messages.
 *
 * Each process ships its own lines: a worker from its ring (ring_send, connecting with
 * ring_connect), the master with non-blocking sends from its poll loop. A unix
 * datagram target (/dev/log) is served the master's way in a worker too, at the end of
 * each loop round (see logship_ring_start). Lines are
 * queued in a bounded buffer (two of SHIP_MAX_BYTES: one gathering, one being sent) and
 * a collector that is slow, stalled or gone never blocks anything: when the queue is
 * full the line is dropped and counted, and the counts reach the metrics and, at most
 * every 10 s, the error log. A TCP connection that fails is retried with back-off (1 s
 * doubling to 30 s); what waited meanwhile goes out once it is back.
 *
 * Framing: a datagram carries one message; on a stream, JSON lines and RFC 3164 messages
 * end in a newline, RFC 5424 messages are octet-counted (RFC 6587). Sends are plain copies;
 * zero-copy from registered buffers is left to the send path's arena (issue 5) and would only pay
 * for collectors on another host.
 */
#ifndef UF_LOGSHIP_H
#define UF_LOGSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/mem.h"
#include "uring/ring.h"

#define SHIP_MAX_BYTES (1024 * 1024) /* per buffer; lines beyond are dropped */
#define SHIP_MAX_MSG   8192          /* longer messages are cut */

enum ship_transport { SHIP_UDP, SHIP_TCP, SHIP_UNIX };

typedef struct logship_target {
    int transport; /* enum ship_transport */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char spec[300]; /* as given, for messages */
} logship_target_t;

/* Parses udp://HOST:PORT, tcp://HOST:PORT or unix:/PATH (host names resolved now).
 * Returns 0, or -1 with one line in err. */
int logship_parse(const char *spec, logship_target_t *t, char *err, size_t errlen);

#define SHIP_TAG_MAX 40 /* a syslog tag base; RFC 5424 allows 48 bytes with ".access" */

typedef struct logship {
    logship_target_t target;
    bool syslog;            /* syslog messages (else JSON objects) */
    bool rfc3164;           /* ...in RFC 3164's form (else RFC 5424's) */
    int facility;           /* syslog facility code: 1 (user) unless logship_set_syslog said */
    char tag[SHIP_TAG_MAX]; /* "" : APP-NAME uwsgi-fast; else TAG.error, TAG.access */
    bool stream;            /* TCP or a unix stream socket */
    int fd;                 /* -1: not connected */
    bool connecting;
    bool inflight; /* busy is being sent */
    bool ring_mode;
    int worker; /* -1 for the master */
    int pid;
    char host[128];
    ring_t *ring;
    unsigned op_send, op_connect;
    uint64_t retry_at_ms;
    uint64_t backoff_ms;

    buf_t fill, busy;                /* framed messages */
    uint32_t *fill_ends, *busy_ends; /* datagrams: end offset of each message */
    uint32_t fill_count, busy_count, ends_cap;
    size_t busy_off;        /* stream: bytes of busy sent */
    uint32_t dgram_pending; /* datagrams of busy still in flight */
    uint32_t dgram_failed;
    int dgram_err; /* errno of the last failed datagram */
    buf_t scratch;

    uint64_t *sent_out, *dropped_out; /* counters to add to; may point at the locals */
    uint64_t sent_local, dropped_local;
    uint64_t dropped_reported, report_ms;
    bool failing_logged;
} logship_t;

/* Prepares s for `t`: syslog (RFC 5424, facility user, APP-NAME uwsgi-fast) or JSON
 * messages. `worker` is the worker id, -1 for the master. No socket yet. */
void logship_init(logship_t *s, const logship_target_t *t, bool syslog, int worker);
/* Makes s send syslog messages in RFC 3164's form or RFC 5424's, with `facility` and the
 * tag base `tag` (src/syslogcfg.h's syslogcfg_tag; ".error" or ".access" is added). */
void logship_set_syslog(logship_t *s, bool rfc3164, int facility, const char *tag);
void logship_free(logship_t *s);

/* Queues an error-log line (a log_level_t of common/log.h). */
void logship_error(logship_t *s, int level, const char *msg, size_t len);
/* The same for a line of another process: a worker's captured output, which the master
 * ships (pid and worker name that worker; worker -1 for none). */
void logship_error_as(logship_t *s, int level, int pid, int worker, const char *msg, size_t len);
/* Keys of a shipped JSON line's head that an access line may carry itself: the head
 * leaves them to the line, so that every key appears once. */
#define LOGSHIP_LINE_HAS_PID    1u
#define LOGSHIP_LINE_HAS_WORKER 2u

/* Queues an access line: `json` is the line as a JSON object, `text` as text (either
 * without its newline; only the one the format needs is used, the other may be NULL).
 * `line_keys`: LOGSHIP_LINE_HAS_* for the keys the JSON line has of its own. */
void logship_access(logship_t *s, const char *json, size_t jlen, const char *text, size_t tlen,
                    unsigned line_keys);

/* Queues a message as it is (statsd packets). */
void logship_raw(logship_t *s, const char *msg, size_t len);

/* Whether access lines are wanted as JSON (else as text). */
static inline bool logship_wants_json(const logship_t *s)
{
    return !s->syslog;
}

/* ---- in a worker: through the ring ----------------------------------------------------
 * user_data of the sends is op_send with the slot holding the message index, of the
 * connect op_connect. */
void logship_ring_start(logship_t *s, ring_t *ring, unsigned op_send, unsigned op_connect,
                        uint64_t now_ms);
/* Sends what is queued when nothing is in flight (and connects when it is time). */
void logship_ring_flush(logship_t *s, uint64_t now_ms);
void logship_ring_complete(logship_t *s, unsigned op, int res, uint64_t now_ms);
/* Nothing queued and nothing in flight (or the collector is unreachable, in which case
 * waiting would not help). */
bool logship_ring_idle(const logship_t *s);

/* ---- in the master: non-blocking sends from its poll loop ---------------------------- */
/* The descriptor to poll and for what (0 when nothing to wait for); -1 when none. */
int logship_direct_fd(const logship_t *s, short *events);
void logship_direct_run(logship_t *s, uint64_t now_ms);

/* Logs, at most every 10 s, how many lines were dropped since the last report. */
void logship_report_drops(logship_t *s, uint64_t now_ms);

#endif
