/* Error log lines on fd 2, one write each. */
#include "common/log.h"

#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    int level;
    int fd;     /* where lines go: 2, or a copy of the former 2 after log_capture_stdio */
    int out_fd; /* the process's stdout for others (the access log's "-"): 1, or a copy */
    int worker; /* -1 in the master */
    bool json;  /* --error-log-json: one JSON object per record */
    log_sink_fn *sink;
    void *sink_ctx;
    bool in_sink;         /* the sink logged: do not feed it its own message */
    pthread_t sink_owner; /* the thread that set the sink: the only one that calls it */
    char path[4096];      /* empty = stderr as inherited */
} log_state = {.level = LOG_LEVEL_INFO, .fd = STDERR_FILENO, .out_fd = STDOUT_FILENO, .worker = -1};

/* Messages logged by other threads (a worker's application threads) for the sink, which
 * is not thread-safe: they wait here until the owner's log_pass_on. Bounded: beyond it
 * the sink misses them, the error log itself still has them. */
#define FOREIGN_BYTES (64 * 1024)
static struct {
    pthread_mutex_t lock;
    size_t len;
    char data[FOREIGN_BYTES]; /* records: level byte, 2-byte length, text */
} foreign = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void queue_foreign(int level, const char *msg, size_t len)
{
    if (len > 0xffff)
        len = 0xffff;
    pthread_mutex_lock(&foreign.lock);
    if (foreign.len + 3 + len <= sizeof(foreign.data)) {
        char *p = foreign.data + foreign.len;
        p[0] = (char)level;
        p[1] = (char)(len >> 8);
        p[2] = (char)(len & 0xff);
        memcpy(p + 3, msg, len);
        foreign.len += 3 + len;
    }
    pthread_mutex_unlock(&foreign.lock);
}

void log_pass_on(void)
{
    if (!log_state.sink || __atomic_load_n(&foreign.len, __ATOMIC_RELAXED) == 0)
        return;
    static char batch[FOREIGN_BYTES];
    pthread_mutex_lock(&foreign.lock);
    size_t n = foreign.len;
    memcpy(batch, foreign.data, n);
    foreign.len = 0;
    pthread_mutex_unlock(&foreign.lock);
    for (size_t at = 0; at + 3 <= n;) {
        size_t len = (size_t)(unsigned char)batch[at + 1] << 8 | (unsigned char)batch[at + 2];
        log_state.sink(log_state.sink_ctx, batch[at], batch + at + 3, len);
        at += 3 + len;
    }
}

static const char *const level_names[LOG_LEVEL_COUNT] = {
    [LOG_LEVEL_DEBUG] = "DEBUG", [LOG_LEVEL_INFO] = "INFO",         [LOG_LEVEL_WARNING] = "WARNING",
    [LOG_LEVEL_ERROR] = "ERROR", [LOG_LEVEL_CRITICAL] = "CRITICAL",
};

const char *log_level_name(int level)
{
    return level >= 0 && level < LOG_LEVEL_COUNT ? level_names[level] : NULL;
}

/* Opens path onto the log's descriptor: fd 2, or its copy once stdio is captured (the
 * copy keeps O_CLOEXEC: it is the worker's own, not the application's children's). */
static int open_onto_stderr(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (fd != log_state.fd) {
        int rc = log_state.fd == STDERR_FILENO ? dup2(fd, log_state.fd)
                                               : dup3(fd, log_state.fd, O_CLOEXEC);
        if (rc < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        close(fd);
    }
    return 0;
}

int log_init(const char *path, int level, char *err, size_t errlen)
{
    log_state.level = level;
    if (!path || strcmp(path, "-") == 0 || strcmp(path, "/dev/stderr") == 0) {
        log_state.path[0] = 0;
        return 0;
    }
    if (strcmp(path, "/dev/stdout") == 0) {
        /* stdout itself, not a file opened by that name: under systemd or docker it is a
         * socket or a pipe, which open(2) of /dev/stdout may refuse or reopen apart */
        log_state.path[0] = 0;
        if (dup2(STDOUT_FILENO, STDERR_FILENO) < 0) {
            int e = -errno;
            snprintf(err, errlen, "--error-logfile: cannot use stdout: %s", strerror(-e));
            return e;
        }
        return 0;
    }
    snprintf(log_state.path, sizeof(log_state.path), "%s", path);
    int ret = open_onto_stderr(path);
    if (ret < 0)
        snprintf(err, errlen, "--error-logfile: cannot open \"%s\": %s", path, strerror(-ret));
    return ret;
}

int log_reopen(void)
{
    return log_state.path[0] ? open_onto_stderr(log_state.path) : 0;
}

/* Writes n bytes to fd 2, the whole of them: one write(2) unless the kernel takes less
 * (a traceback larger than a pipe's buffer), so lines never interleave mid-line. */
static void write_out(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(log_state.fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* "[time] [pid] [LEVEL] " and, for a worker (worker >= 0), "[worker N] " into line;
 * returns the length. level must have a name. */
static size_t put_head_of(char *line, size_t size, int level, int pid, int worker)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, size, "[%Y-%m-%d %H:%M:%S +0000] ", &tm);
    n += (size_t)snprintf(line + n, size - n, "[%d] [%s] ", pid, level_names[level]);
    if (worker >= 0)
        n += (size_t)snprintf(line + n, size - n, "[worker %d] ", worker);
    return n;
}

static size_t put_head(char *line, size_t size, int level)
{
    return put_head_of(line, size, level, (int)getpid(), log_state.worker);
}

void log_put_rfc3339(buf_t *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char text[48];
    size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(text + n, sizeof(text) - n, ".%03ldZ", (long)(ts.tv_nsec / 1000000));
    buf_append(out, text, n);
}

/* The record as JSON instead of its text line: the message is the text line's message
 * (escaped as there, a traceback after a newline), so both forms say the same. */
static void write_json(int level, int pid, int worker, const char *msg, size_t len)
{
    buf_t b = {0};
    buf_append_str(&b, "{\"time\":\"");
    log_put_rfc3339(&b);
    buf_printf(&b, "\",\"level\":\"%s\",\"pid\":%d,", level_names[level], pid);
    if (worker >= 0)
        buf_printf(&b, "\"worker\":%d,", worker);
    buf_append_str(&b, "\"message\":\"");
    buf_append_json(&b, msg, len);
    buf_append_str(&b, "\"}\n");
    write_out(b.data, b.len);
    buf_free(&b);
}

/* Writes line[0, n] (line[n] must be the closing newline), or its JSON form, for the
 * process `pid` and `worker`; the message is line[msg_at, n). */
static void write_record(int level, int pid, int worker, const char *line, size_t n, size_t msg_at)
{
    if (log_state.json)
        write_json(level, pid, worker, line + msg_at, n - msg_at);
    else
        write_out(line, n + 1);
}

/* Hands the message line[msg_at, n) to the sink (or queues it for the sink's thread),
 * then writes the record. */
static void emit(int level, const char *line, size_t n, size_t msg_at)
{
    if (log_state.sink && !pthread_equal(pthread_self(), log_state.sink_owner)) {
        queue_foreign(level, line + msg_at, n - msg_at);
    } else if (log_state.sink && !log_state.in_sink) {
        log_state.in_sink = true;
        log_state.sink(log_state.sink_ctx, level, line + msg_at, n - msg_at);
        log_state.in_sink = false;
    }
    write_record(level, (int)getpid(), log_state.worker, line, n, msg_at);
}

/* Returns the level to log at, or -1 when the level filter drops the message. */
static int admit(int level)
{
    if (level < log_state.level)
        return -1;
    return log_level_name(level) ? level : LOG_LEVEL_CRITICAL;
}

void log_msg(int level, const char *fmt, ...)
{
    if ((level = admit(level)) < 0)
        return;
    char line[2048];
    size_t n = put_head(line, sizeof(line), level);
    size_t msg_at = n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : n + (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n] = '\n';
    emit(level, line, n, msg_at);
}

/* Appends s[0, len) to b with the bytes that could break or forge log lines written as
 * \xNN: in a one-line message every control character, DEL, every byte above it and the
 * backslash itself (so that "\x0a" in the output always means an escape); in detail lines
 * (multiline) the control characters but newline and tab, and DEL: UTF-8 text and
 * backslashes stay readable, as Python printed them. A one-line message is cut after
 * TEXT_MAX bytes of output, with "..." at the end. */
#define TEXT_MAX 2000
static void put_escaped(buf_t *b, const char *s, size_t len, bool multiline)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len;
    size_t room = 4 * len; /* every byte escaped */
    if (!multiline && room > TEXT_MAX + 3)
        room = TEXT_MAX + 3;
    char *out = buf_reserve(b, room);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool esc = multiline ? (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f
                             : c < 0x20 || c >= 0x7f || c == '\\';
        if (!multiline && o + 4 > TEXT_MAX) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (esc) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    b->len = start + o;
}

void log_text(int level, const char *msg, size_t len)
{
    log_text_detail(level, msg, len, NULL, 0);
}

void log_text_detail(int level, const char *msg, size_t len, const char *detail, size_t dlen)
{
    if ((level = admit(level)) < 0)
        return;
    char head[160];
    buf_t b = {0};
    size_t msg_at = put_head(head, sizeof(head), level);
    buf_append(&b, head, msg_at);
    put_escaped(&b, msg, len, false);
    while (dlen && detail[dlen - 1] == '\n')
        dlen--; /* the line's own newline ends the record */
    if (dlen) {
        buf_append(&b, "\n", 1);
        put_escaped(&b, detail, dlen, true);
    }
    size_t n = b.len;
    buf_append(&b, "\n", 1);
    emit(level, b.data, n, msg_at);
    buf_free(&b);
}

void log_text_as(int pid, int worker, const char *msg, size_t len)
{
    char head[160];
    buf_t b = {0};
    size_t msg_at = put_head_of(head, sizeof(head), LOG_LEVEL_INFO, pid, worker);
    buf_append(&b, head, msg_at);
    put_escaped(&b, msg, len, false);
    size_t n = b.len;
    buf_append(&b, "\n", 1);
    write_record(LOG_LEVEL_INFO, pid, worker, b.data, n, msg_at);
    buf_free(&b);
}

int log_capture_stdio(int wfd)
{
    int err_copy = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (err_copy < 0)
        return -errno;
    int out_copy = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (out_copy < 0 || dup2(wfd, STDOUT_FILENO) < 0 || dup2(wfd, STDERR_FILENO) < 0) {
        int e = -errno;
        if (out_copy >= 0) {
            dup2(out_copy, STDOUT_FILENO);
            close(out_copy);
        }
        dup2(err_copy, STDERR_FILENO);
        close(err_copy);
        return e;
    }
    log_state.fd = err_copy;
    log_state.out_fd = out_copy;
    return 0;
}

int log_stdout_fd(void)
{
    return log_state.out_fd;
}

void log_set_json(bool json)
{
    log_state.json = json;
}

void log_set_worker(int id)
{
    log_state.worker = id;
}

void log_set_sink(log_sink_fn *fn, void *ctx)
{
    log_state.sink = fn;
    log_state.sink_ctx = ctx;
    log_state.sink_owner = pthread_self();
}
