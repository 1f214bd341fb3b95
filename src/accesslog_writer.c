/* The access-log writer: batches of whole lines written through the ring. */
#include "src/accesslog_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "src/scoreboard.h"

int alog_writer_open(alog_writer_t *wr, const char *path, ring_t *ring, uint64_t ud, char *err,
                     size_t errlen)
{
    memset(wr, 0, sizeof(*wr));
    wr->fd = -1;
    wr->ring = ring;
    wr->ud = ud;
    if (!path || strcmp(path, "-") == 0) {
        wr->fd = log_stdout_fd(); /* 1, unless --capture-output took it */
    } else {
        wr->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (wr->fd < 0) {
            int e = errno;
            snprintf(err, errlen, "--access-logfile: cannot open \"%s\": %s", path, strerror(e));
            return -e;
        }
        wr->own_fd = true;
        wr->path = uf_strdup(path);
    }
    struct stat st;
    wr->pipe = fstat(wr->fd, &st) == 0 && !S_ISREG(st.st_mode);
    return 0;
}

buf_t *alog_writer_line(alog_writer_t *wr, uint64_t now_ms)
{
    if (wr->fd < 0)
        return NULL;
    if (wr->fill.len >= ALOG_MAX_BYTES) {
        if (wr->dropped_out)
            sb_add64(wr->dropped_out, 1);
        return NULL;
    }
    if (!wr->fill.len)
        wr->first_ms = now_ms ? now_ms : 1;
    return &wr->fill;
}

void alog_writer_commit(alog_writer_t *wr)
{
    wr->fill_lines++;
}

/* The next piece of busy to write: all of it to a file; to a pipe, whole lines up to
 * PIPE_BUF (a single longer line goes whole: it could not be kept whole anyway). */
static size_t next_chunk(const alog_writer_t *wr)
{
    size_t left = wr->busy.len - wr->busy_off;
    if (!wr->pipe || left <= PIPE_BUF)
        return left;
    const char *p = wr->busy.data + wr->busy_off;
    const char *nl = memrchr(p, '\n', PIPE_BUF);
    if (nl)
        return (size_t)(nl - p) + 1;
    nl = memchr(p, '\n', left);
    return nl ? (size_t)(nl - p) + 1 : left;
}

static void submit(alog_writer_t *wr)
{
    wr->chunk = next_chunk(wr);
    ring_write_at(wr->ring, wr->fd, wr->busy.data + wr->busy_off, wr->chunk, (uint64_t)-1, wr->ud);
    wr->inflight = true;
}

static void do_reopen(alog_writer_t *wr)
{
    wr->reopen = false;
    if (!wr->own_fd || !wr->path)
        return;
    int fd = open(wr->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error("cannot reopen the access log %s: %s; still writing to the old file", wr->path,
                  strerror(errno));
        return;
    }
    close(wr->fd);
    wr->fd = fd;
}

void alog_writer_flush(alog_writer_t *wr, uint64_t now_ms, bool force)
{
    if (wr->inflight || !wr->fill.len)
        return;
    if (!force && wr->fill.len < ALOG_FLUSH_BYTES && now_ms < wr->first_ms + ALOG_FLUSH_MS)
        return;
    if (wr->reopen)
        do_reopen(wr);
    buf_t t = wr->busy;
    wr->busy = wr->fill;
    wr->fill = t;
    wr->fill.len = 0;
    wr->busy_off = 0;
    wr->busy_lines = wr->fill_lines;
    wr->fill_lines = 0;
    wr->first_ms = 0;
    submit(wr);
}

void alog_writer_complete(alog_writer_t *wr, int res, uint64_t now_ms)
{
    wr->inflight = false;
    if (res > 0) {
        wr->busy_off += (size_t)res;
        if (wr->busy_off < wr->busy.len) {
            submit(wr); /* a short write, or the next piece towards a pipe */
            return;
        }
        if (wr->lines_out)
            sb_add64(wr->lines_out, wr->busy_lines);
    } else {
        if (now_ms >= wr->error_logged_ms + 10000) {
            log_error("writing the access log failed: %s; %u lines lost",
                      res ? strerror(-res) : "nothing written", wr->busy_lines);
            wr->error_logged_ms = now_ms;
        }
        if (wr->dropped_out)
            sb_add64(wr->dropped_out, wr->busy_lines);
    }
    wr->busy.len = wr->busy_off = 0;
    wr->busy_lines = 0;
    if (wr->busy.cap > 4 * ALOG_FLUSH_BYTES)
        buf_reset(&wr->busy, ALOG_FLUSH_BYTES);
    alog_writer_flush(wr, now_ms, false);
}

int alog_writer_timeout_ms(const alog_writer_t *wr, uint64_t now_ms)
{
    if (!wr->fill.len || wr->inflight)
        return INT32_MAX;
    uint64_t due = wr->first_ms + ALOG_FLUSH_MS;
    return due <= now_ms ? 0 : (int)(due - now_ms);
}

bool alog_writer_idle(const alog_writer_t *wr)
{
    return !wr->inflight && !wr->fill.len;
}

void alog_writer_reopen(alog_writer_t *wr)
{
    wr->reopen = true;
    if (!wr->inflight)
        do_reopen(wr);
}

void alog_writer_close(alog_writer_t *wr)
{
    if (wr->fd < 0)
        return;
    /* a write still in flight finishes in the kernel when the ring goes; what it has
     * not written yet is written here, then what was still gathering */
    buf_t *parts[2] = {wr->inflight ? &wr->busy : NULL, &wr->fill};
    size_t offs[2] = {wr->busy_off + wr->chunk, 0};
    for (int i = 0; i < 2; i++) {
        if (!parts[i])
            continue;
        size_t off = offs[i];
        while (off < parts[i]->len) {
            ssize_t n = write(wr->fd, parts[i]->data + off, parts[i]->len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            off += (size_t)n;
        }
    }
    wr->fill.len = 0;
    if (wr->own_fd)
        close(wr->fd);
    wr->fd = -1;
    buf_free(&wr->fill);
    buf_free(&wr->busy);
    uf_free(wr->path);
    wr->path = NULL;
}
