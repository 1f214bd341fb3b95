/* The access-log writer: lines rendered by src/accesslog.h, written through the worker's
 * ring in batches.
 *
 * The writer (alog_writer_t) owns the file and two buffers: lines are appended to one
 * while the kernel writes the other (ring_write_at, appending). A batch goes out when
 * it passes ALOG_FLUSH_BYTES or ALOG_FLUSH_MS after its first line, whichever is first,
 * and at drain. Lines are whole in every write, so workers appending to one O_APPEND file
 * never interleave mid-line; towards a pipe, writes are cut at PIPE_BUF on line
 * boundaries, the size up to which a pipe keeps writes whole. If the disk stalls and a
 * batch reaches ALOG_MAX_BYTES, lines are dropped and counted rather than the worker
 * blocking or growing without bound. Single-threaded, per worker.
 */
#ifndef UF_ACCESSLOG_WRITER_H
#define UF_ACCESSLOG_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/mem.h"
#include "uring/ring.h"

#define ALOG_FLUSH_BYTES (64 * 1024)       /* a batch this large is written at once */
#define ALOG_FLUSH_MS    100               /* the longest a line waits in memory */
#define ALOG_MAX_BYTES   (4 * 1024 * 1024) /* lines waiting beyond this are dropped */

typedef struct alog_writer {
    int fd;        /* -1: closed */
    bool own_fd;   /* we opened it (not stdout) */
    bool pipe;     /* cut writes at PIPE_BUF */
    bool inflight; /* the kernel is writing busy[busy_off, len) */
    bool reopen;   /* USR1 arrived: reopen before the next write */
    char *path;    /* NULL for stdout */
    ring_t *ring;
    uint64_t ud;
    buf_t fill; /* lines gathered */
    buf_t busy; /* lines being written */
    size_t busy_off;
    size_t chunk; /* bytes of the write in flight */
    uint32_t fill_lines, busy_lines;
    uint64_t first_ms;   /* when fill got its first line; 0 when empty */
    uint64_t *lines_out; /* counters to add to (the worker's scoreboard slot) */
    uint64_t *dropped_out;
    uint64_t error_logged_ms;
} alog_writer_t;

/* Opens `path` for appending ("-" = stdout). Returns 0, or -errno with err filled. */
int alog_writer_open(alog_writer_t *wr, const char *path, ring_t *ring, uint64_t ud, char *err,
                     size_t errlen);

/* Where the next line goes, or NULL when too much is waiting (the caller drops the line;
 * it has been counted). Call alog_writer_commit after appending the line. */
buf_t *alog_writer_line(alog_writer_t *wr, uint64_t now_ms);
void alog_writer_commit(alog_writer_t *wr);

/* Starts a write if none is in flight and a batch is due (`force`: whatever is there). */
void alog_writer_flush(alog_writer_t *wr, uint64_t now_ms, bool force);

/* The completion of the write submitted with `ud`. */
void alog_writer_complete(alog_writer_t *wr, int res, uint64_t now_ms);

/* Milliseconds until a batch is due (INT32_MAX when none is waiting). */
int alog_writer_timeout_ms(const alog_writer_t *wr, uint64_t now_ms);

/* True when nothing is waiting and nothing is in flight. */
bool alog_writer_idle(const alog_writer_t *wr);

/* USR1: the file is reopened by name before the next write (after the one in flight). */
void alog_writer_reopen(alog_writer_t *wr);

/* At exit after a fast stop: writes what is left with plain write(2). */
void alog_writer_close(alog_writer_t *wr);

#endif
