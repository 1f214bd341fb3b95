/* The error log: gunicorn-style lines "[time] [pid] [LEVEL] message" on file descriptor 2;
 * a worker's lines carry its id as well: "[time] [pid] [LEVEL] [worker 3] message".
 *
 * log_text and log_text_detail take a message of known length with any bytes in it,
 * escaped; the detail of the latter (a traceback) follows the line unprefixed, the only
 * multi-line records in the log.
 *
 * log_init opens --error-logfile and makes it fd 2, so that everything written to stderr
 * (Python tracebacks included) lands in the same file. With --capture-output a worker's
 * fd 1 and 2 become a pipe the master reads (src/capture.h), and its own lines go to a
 * copy of the former fd 2 instead. Each line goes out in one
 * write(2), so lines from the master and the workers never interleave mid-line. The
 * level and path are set once in the master before forking and are read-only after.
 * A process may add a sink that receives every logged message as well (--log-target);
 * the sink only queues, it must not log itself (a message it logs is not passed on).
 * Only the thread that set the sink calls it: a message logged by another thread (an
 * application thread, --threads) waits in a small queue until that thread calls
 * log_pass_on, which the worker loop does every round.
 */
#ifndef UF_LOG_H
#define UF_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* path "-" (or NULL, or /dev/stderr) keeps stderr; /dev/stdout makes fd 2 a copy of fd 1
 * (the error log then goes where stdout goes). Returns 0, or -errno with err filled. */
int log_init(const char *path, int level, char *err, size_t errlen);

/* Reopens the log file (after logrotate moved it); a no-op for stderr. Returns 0/-errno. */
int log_reopen(void);

/* The levels, lowest first; --log-level's words are their names in lower case. */
typedef enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_CRITICAL,
} log_level_t;
#define LOG_LEVEL_COUNT (LOG_LEVEL_CRITICAL + 1)

/* "DEBUG", "INFO", ...; NULL for a value outside the enum. */
const char *log_level_name(int level);

/* Logs one line at `level` (below the --log-level: nothing; outside the enum: CRITICAL).
 * The message is cut at about 2 KiB. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs msg[0, len), which may hold any bytes (a request target, text from Python), as one
 * line: control characters, DEL, bytes above it and the backslash are written as \xNN, so
 * the message can neither break its line nor forge another. The escaped text is cut at
 * about 2,000 bytes, ending in "...". The sink gets the escaped text. */
void log_text(int level, const char *msg, size_t len);

/* log_text, then `detail` (dlen bytes, may be 0): lines that belong to the message, such
 * as a Python traceback, written below its line as they are (gunicorn's layout), in the
 * same write(2). Control characters other than newline and tab are escaped as \xNN;
 * trailing newlines are dropped. The sink gets the message, a newline and the detail. */
void log_text_detail(int level, const char *msg, size_t len, const char *detail, size_t dlen);

/* A line of a worker's captured output (--capture-output), written by the master that
 * read it: the head names that worker's pid and id (worker -1: none), the level is INFO,
 * and it is written whatever --log-level says, as gunicorn writes captured output.
 * Escaped and cut as log_text does. Not passed to the sink: the caller ships it. */
void log_text_as(int pid, int worker, const char *msg, size_t len);

/* --capture-output, in a worker: makes fd 1 and fd 2 the write end wfd (the caller
 * closes wfd), while the error log goes on to a copy of the former fd 2 and
 * log_stdout_fd() returns a copy of the former fd 1 (the access log's "-"). Returns 0, or
 * -errno with nothing changed. */
int log_capture_stdio(int wfd);

/* The process's stdout for lines meant for it (the access log's "-"): 1, or the copy
 * log_capture_stdio kept. */
int log_stdout_fd(void);

/* --error-log-json: each record as one JSON object,
 * {"time":"2026-11-25T22:45:28.123Z","level":"INFO","pid":9132,"worker":0,"message":"..."}
 * ("worker" only in a worker's; the message as the text line has it, a traceback after a
 * newline inside it). Set once in the master before forking. */
void log_set_json(bool json);

/* Appends the current time as RFC 3339 in UTC with milliseconds and "Z", the time format
 * of every JSON line uwsgi-fast writes or ships. */
struct buf;
void log_put_rfc3339(struct buf *out);

/* In a worker: the id its lines carry (-1, the default, for the master). */
void log_set_worker(int id);

/* Every message at or above the level goes to fn as well (NULL removes the sink). */
typedef void log_sink_fn(void *ctx, int level, const char *msg, size_t len);
void log_set_sink(log_sink_fn *fn, void *ctx);

/* In the thread that set the sink: hands it what other threads logged meanwhile. */
void log_pass_on(void);

/* For a line that may be due thousands of times a second (a connection storm, a scan):
 * whether to write it now, at most once per every_ms. Returns -1 to hold it back (counted
 * in *held), or the count held back since the last line written, for this one to say;
 * *last_ms and *held are the caller's, zero at first. */
static inline long long log_throttle(uint64_t *last_ms, uint64_t *held, uint64_t now_ms,
                                     uint64_t every_ms)
{
    if (*last_ms && now_ms < *last_ms + every_ms) {
        (*held)++;
        return -1;
    }
    long long n = (long long)*held;
    *last_ms = now_ms ? now_ms : 1;
    *held = 0;
    return n;
}

#define log_debug(...)    log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)     log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warning(...)  log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...)    log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_critical(...) log_msg(LOG_LEVEL_CRITICAL, __VA_ARGS__)

#endif
