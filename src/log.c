/* Error log lines on fd 2, one write each. */
#include "src/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    int level;
    int worker;           /* -1 in the master */
    log_sink_fn *sink;
    void *sink_ctx;
    bool in_sink;         /* the sink logged: do not feed it its own message */
    char path[4096];      /* empty = stderr as inherited */
} log_state = {.level = 1, .worker = -1};

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

static int open_onto_stderr(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (fd != STDERR_FILENO) {
        if (dup2(fd, STDERR_FILENO) < 0) {
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
    if (!path || strcmp(path, "-") == 0) {
        log_state.path[0] = 0;
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

void log_msg(int level, const char *fmt, ...)
{
    if (level < log_state.level)
        return;
    if (level < 0 || level > 4)
        level = 4;
    char line[2048];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof(line), "[%Y-%m-%d %H:%M:%S +0000] ", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "[%d] [%s] ", (int)getpid(),
                          level_names[level]);
    if (log_state.worker >= 0)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "[worker %d] ", log_state.worker);
    size_t msg_at = n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : n + (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    if (log_state.sink && !log_state.in_sink) {
        log_state.in_sink = true;
        log_state.sink(log_state.sink_ctx, level, line + msg_at, n - msg_at);
        log_state.in_sink = false;
    }
    line[n++] = '\n';
    /* one write: lines from several processes never interleave mid-line */
    ssize_t w;
    do {
        w = write(STDERR_FILENO, line, n);
    } while (w < 0 && errno == EINTR);
}

void log_set_worker(int id) { log_state.worker = id; }

void log_set_sink(log_sink_fn *fn, void *ctx)
{
    log_state.sink = fn;
    log_state.sink_ctx = ctx;
}
