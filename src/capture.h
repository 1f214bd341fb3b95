/* --capture-output: the application's stdout and stderr, line by line, into the error
 * log with the worker's tag, and shipped like the worker's other lines.
 *
 * Each worker process gets a pipe when it is forked: the child makes it its fd 1 and 2
 * (common/log.h's log_capture_stdio; its own log lines keep going to the error log
 * directly), and the master keeps the read end, non-blocking, in its poll loop. The
 * master and not the worker drains it because the worker's loop thread is also the
 * thread that runs the application: an application printing more than a pipe holds
 * (64 KiB) from that thread would wait for itself. The master reads whatever a worker
 * writes, C extensions and child processes included, and what is in the pipe when a
 * worker dies is still read. A pipe is closed at its end of file, which comes when the
 * worker and every child process it left behind have closed the write end.
 *
 * Memory is bounded: a pipe holds one partial line of at most CAPTURE_LINE_MAX bytes; a
 * longer line is written as several lines of that length. Single-threaded (the master's).
 */
#ifndef UF_CAPTURE_H
#define UF_CAPTURE_H

#include <poll.h>
#include <stddef.h>

#define CAPTURE_LINE_MAX 1024 /* below the error log's longest message (about 2,000 bytes) */

/* Called for each line, without its newline (and without a '\r' before it). */
typedef void capture_emit_fn(void *ctx, int pid, int worker, const char *line, size_t len);

typedef struct capture_pipe {
    int fd; /* read end; -1 when the slot is free */
    int pid;
    int worker;
    size_t len; /* of the partial line in `line` */
    char line[CAPTURE_LINE_MAX];
} capture_pipe_t;

typedef struct capture {
    capture_pipe_t *pipes;
    unsigned count; /* slots used (some may be free, fd -1) */
    unsigned cap;
    capture_emit_fn *emit;
    void *ctx;
} capture_t;

/* Before forking a worker: a pipe, both ends close-on-exec. Returns 0 or -errno. */
int capture_pipe_open(int fds[2]);

/* In the master after the fork: takes the read end (made non-blocking) for the worker's
 * pid and id. */
void capture_add(capture_t *c, int rfd, int pid, int worker);

/* Appends a pollfd for each open pipe (at most room); returns how many. */
unsigned capture_pollfds(const capture_t *c, struct pollfd *out, unsigned room);
/* Open pipes, for sizing the poll set. */
unsigned capture_open_count(const capture_t *c);

/* Reads what every pipe holds now, emitting its complete lines; a pipe at its end of file
 * emits its partial line and is closed. */
void capture_run(capture_t *c);

/* Splits data into lines for p (the part of capture_run that reads no descriptor). */
void capture_feed(capture_t *c, capture_pipe_t *p, const char *data, size_t len);

/* In a worker just forked: drops the master's read ends without reading them. */
void capture_forget(capture_t *c);

/* At the master's exit: what is left is read (until nothing is there), then all closed. */
void capture_close(capture_t *c);

#endif
