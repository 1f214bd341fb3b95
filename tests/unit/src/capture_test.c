/* Unit tests for src/capture.c: a worker's output split into lines (partial writes joined,
 * "\r\n" ends, long lines in pieces of CAPTURE_LINE_MAX), and pipes read to their end. */
#include "src/capture.c"

#include "check.h"

static struct {
    int n;
    char lines[16][CAPTURE_LINE_MAX + 1];
    int pid, worker;
} seen;

static void record(void *ctx, int pid, int worker, const char *line, size_t len)
{
    (void)ctx;
    seen.pid = pid;
    seen.worker = worker;
    if (seen.n < 16)
        snprintf(seen.lines[seen.n++], sizeof(seen.lines[0]), "%.*s", (int)len, line);
}

static void test_feed(void)
{
    capture_t c = {.emit = record};
    capture_pipe_t p = {.fd = -1, .pid = 9, .worker = 2};
    memset(&seen, 0, sizeof(seen));
    capture_feed(&c, &p, "one\ntw", 6);
    CHECK_EQ_INT(seen.n, 1);
    CHECK_EQ_STR(seen.lines[0], "one");
    CHECK_EQ_INT(seen.pid, 9);
    CHECK_EQ_INT(seen.worker, 2);
    capture_feed(&c, &p, "o\r\n\nthree", 9);
    CHECK_EQ_INT(seen.n, 3);
    CHECK_EQ_STR(seen.lines[1], "two");
    CHECK_EQ_STR(seen.lines[2], "");
    CHECK_EQ_INT((int)p.len, 5); /* "three" waits for its newline */

    /* a long line: pieces of CAPTURE_LINE_MAX, the partial line first filling the first */
    memset(&seen, 0, sizeof(seen));
    char big[2 * CAPTURE_LINE_MAX + 11];
    memset(big, 'x', sizeof(big));
    big[sizeof(big) - 1] = '\n';
    capture_feed(&c, &p, big, sizeof(big));
    CHECK_EQ_INT(seen.n, 3);
    CHECK(strncmp(seen.lines[0], "three", 5) == 0 && strlen(seen.lines[0]) == CAPTURE_LINE_MAX);
    CHECK_EQ_INT((int)strlen(seen.lines[1]), CAPTURE_LINE_MAX);
    CHECK_EQ_INT((int)strlen(seen.lines[2]), 5 + 10);
    CHECK_EQ_INT((int)p.len, 0);
    /* exactly CAPTURE_LINE_MAX and its newline: one line, no empty one after it */
    memset(&seen, 0, sizeof(seen));
    char exact[CAPTURE_LINE_MAX + 1];
    memset(exact, 'y', sizeof(exact));
    exact[CAPTURE_LINE_MAX] = '\n';
    capture_feed(&c, &p, exact, sizeof(exact));
    CHECK_EQ_INT(seen.n, 1);
}

static void test_pipes(void)
{
    capture_t c = {.emit = record};
    int a[2], b[2];
    CHECK_EQ_INT(capture_pipe_open(a), 0);
    CHECK_EQ_INT(capture_pipe_open(b), 0);
    capture_add(&c, a[0], 100, 0);
    capture_add(&c, b[0], 101, 1);
    CHECK_EQ_INT(capture_open_count(&c), 2);
    struct pollfd pfd[4];
    CHECK_EQ_INT(capture_pollfds(&c, pfd, 4), 2);
    memset(&seen, 0, sizeof(seen));
    CHECK_EQ_INT(write(a[1], "from a\nunfinished", 17), 17);
    capture_run(&c); /* reads what is there, does not wait */
    CHECK_EQ_INT(seen.n, 1);
    CHECK_EQ_STR(seen.lines[0], "from a");
    close(a[1]); /* the worker is gone: its partial line, then the pipe closes */
    capture_run(&c);
    CHECK_EQ_INT(seen.n, 2);
    CHECK_EQ_STR(seen.lines[1], "unfinished");
    CHECK_EQ_INT(capture_open_count(&c), 1);
    /* a freed slot is reused */
    int d[2];
    CHECK_EQ_INT(capture_pipe_open(d), 0);
    capture_add(&c, d[0], 102, 0);
    CHECK_EQ_INT(c.count, 2);
    CHECK_EQ_INT(write(b[1], "last", 4), 4);
    capture_close(&c); /* b's writer is still open: what is there is emitted anyway */
    CHECK_EQ_STR(seen.lines[2], "last");
    CHECK_EQ_INT(seen.pid, 101);
    CHECK(c.pipes == NULL && c.count == 0);
    close(b[1]);
    close(d[1]);
}

int main(void)
{
    test_feed();
    test_pipes();
    return check_done();
}
