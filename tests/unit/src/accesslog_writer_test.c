/* Unit tests for src/accesslog_writer.c: lines batched until due, written through a real
 * ring, a line arriving during a write, a reopen after a rename, and writes towards a pipe
 * cut at whole lines within PIPE_BUF. */
#include "src/accesslog_writer.c"

#include <errno.h>
#include <stdlib.h>

#include "check.h"

/* Reaps one completion of the writer. Returns its result. */
static int reap(ring_t *r)
{
    for (int i = 0; i < 50; i++) {
        ring_wait(r, 100);
        struct io_uring_cqe *cqe;
        if (io_uring_peek_cqe(&r->uring, &cqe) == 0) {
            int res = cqe->res;
            io_uring_cqe_seen(&r->uring, cqe);
            return res;
        }
    }
    return -ETIME;
}

static void test_writer(void)
{
    ring_t r;
    char err[256];
    if (ring_init(&r, 64, 8, 4096, err, sizeof(err)) < 0) {
        printf("    (writer test skipped: %s)\n", err);
        return;
    }
    char path[] = "/tmp/uf-alog-XXXXXX";
    int tmp = mkstemp(path);
    CHECK(tmp >= 0);
    close(tmp);
    alog_writer_t wr;
    uint64_t lines = 0, dropped = 0;
    CHECK_EQ_INT(alog_writer_open(&wr, path, &r, 99, err, sizeof(err)), 0);
    wr.lines_out = &lines;
    wr.dropped_out = &dropped;
    CHECK(!wr.pipe);
    /* two lines: nothing is written before the batch is due */
    for (int i = 0; i < 2; i++) {
        buf_t *b = alog_writer_line(&wr, 1000);
        buf_append_str(b, i ? "second\n" : "first\n");
        alog_writer_commit(&wr);
    }
    alog_writer_flush(&wr, 1050, false);
    CHECK(!wr.inflight);
    CHECK_EQ_INT(alog_writer_timeout_ms(&wr, 1050), 50);
    alog_writer_flush(&wr, 1100, false); /* ALOG_FLUSH_MS after the first line */
    CHECK(wr.inflight);
    /* a line while the write is in flight goes to the other buffer */
    buf_t *b = alog_writer_line(&wr, 1101);
    buf_append_str(b, "third\n");
    alog_writer_commit(&wr);
    int res = reap(&r);
    CHECK_EQ_INT(res, 13);
    alog_writer_complete(&wr, res, 1102);
    CHECK(!wr.inflight); /* third is not due yet */
    CHECK_EQ_INT((int)lines, 2);
    alog_writer_flush(&wr, 1102, true); /* drain: whatever is there */
    res = reap(&r);
    alog_writer_complete(&wr, res, 1103);
    CHECK(alog_writer_idle(&wr));
    CHECK_EQ_INT((int)lines, 3);
    /* a rename and a reopen: the next batch goes to a new file of the same name */
    char moved[64];
    snprintf(moved, sizeof(moved), "%s.1", path);
    CHECK_EQ_INT(rename(path, moved), 0);
    alog_writer_reopen(&wr);
    b = alog_writer_line(&wr, 2000);
    buf_append_str(b, "fourth\n");
    alog_writer_commit(&wr);
    alog_writer_close(&wr); /* written synchronously */
    char text[128] = {0};
    FILE *f = fopen(moved, "r");
    CHECK(f && fread(text, 1, sizeof(text) - 1, f) > 0);
    if (f)
        fclose(f);
    CHECK_EQ_STR(text, "first\nsecond\nthird\n");
    memset(text, 0, sizeof(text));
    f = fopen(path, "r");
    CHECK(f && fread(text, 1, sizeof(text) - 1, f) > 0);
    if (f)
        fclose(f);
    CHECK_EQ_STR(text, "fourth\n");
    CHECK_EQ_INT((int)dropped, 0);
    unlink(path);
    unlink(moved);
    ring_exit(&r);
}

static void test_pipe_chunks(void)
{
    /* towards a pipe, writes stop at the last whole line within PIPE_BUF */
    alog_writer_t wr;
    memset(&wr, 0, sizeof(wr));
    wr.pipe = true;
    for (int i = 0; i < 100; i++)
        buf_append_str(&wr.busy, "0123456789012345678901234567890123456789012345678\n"); /* 50 */
    CHECK_EQ_INT((int)next_chunk(&wr), (PIPE_BUF / 50) * 50);
    wr.busy_off = 4900;
    CHECK_EQ_INT((int)next_chunk(&wr), 100);
    buf_free(&wr.busy);
}

int main(void)
{
    test_writer();
    test_pipe_chunks();
    return check_done();
}
