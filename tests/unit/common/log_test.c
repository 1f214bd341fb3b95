/* Unit tests for common/log.c: the line format "[time] [pid] [LEVEL] [worker N] message",
 * the level filter, levels outside the enum, long messages cut; the sink (every admitted
 * message, never its own), a message from another thread queued until log_pass_on;
 * log_text's escaping and cut, log_text_detail's unprefixed lines; --error-logfile and
 * log_reopen. fd 2 is redirected to a memory file around each call to read the lines. */
#include "common/log.c"

#include "check.h"

#include <stdlib.h>
#include <sys/mman.h>

/* ---- capturing fd 2 ---------------------------------------------------------------- */

static int saved_stderr = -1;

static void capture_begin(void)
{
    fflush(stderr);
    int fd = memfd_create("log-capture", 0);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* What was written to fd 2 since capture_begin, in a static buffer; fd 2 is restored. */
static const char *capture_end(void)
{
    static char text[65536];
    ssize_t got = pread(2, text, sizeof(text) - 1, 0);
    text[got > 0 ? got : 0] = 0;
    dup2(saved_stderr, 2);
    close(saved_stderr);
    return text;
}

/* The line's prefix: "[YYYY-MM-DD HH:MM:SS +0000] [<our pid>] [". Returns what follows
 * it, or NULL when the line does not start so. */
static const char *after_time_and_pid(const char *line)
{
    int y, mo, d, h, mi, s, pid, n = 0;
    if (sscanf(line, "[%4d-%2d-%2d %2d:%2d:%2d +0000] [%d] [%n", &y, &mo, &d, &h, &mi, &s, &pid,
               &n) != 7 ||
        n == 0)
        return NULL;
    return pid == (int)getpid() && y >= 2024 && mo >= 1 && mo <= 12 ? line + n : NULL;
}

/* ---- a sink that records ------------------------------------------------------------- */

static struct {
    int calls;
    int level;
    char msg[8192];
    bool log_from_sink; /* the sink logs a line of its own (it must not get it back) */
} got;

static void record(void *ctx, int level, const char *msg, size_t len)
{
    CHECK(ctx == &got);
    got.calls++;
    got.level = level;
    snprintf(got.msg, sizeof(got.msg), "%.*s", (int)len, msg);
    if (got.log_from_sink)
        log_error("from the sink");
}

/* ---- the tests ----------------------------------------------------------------------- */

static void test_format(void)
{
    capture_begin();
    log_info("hello %d", 5);
    const char *out = capture_end();
    const char *rest = after_time_and_pid(out);
    CHECK(rest != NULL);
    CHECK_EQ_STR(rest, "INFO] hello 5\n");

    log_set_worker(3);
    capture_begin();
    log_warning("tagged");
    out = capture_end();
    rest = after_time_and_pid(out);
    CHECK(rest != NULL);
    CHECK_EQ_STR(rest, "WARNING] [worker 3] tagged\n");
    log_set_worker(-1);

    capture_begin();
    log_msg(99, "out of range");
    out = capture_end();
    CHECK(strstr(out, "[CRITICAL] out of range\n") != NULL);

    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    capture_begin();
    log_info("%s", big);
    out = capture_end();
    size_t len = strlen(out);
    CHECK(len < 2048 && len > 2000);
    CHECK(out[len - 1] == '\n' && strchr(out, '\n') == out + len - 1);

    CHECK_EQ_STR(log_level_name(LOG_LEVEL_DEBUG), "DEBUG");
    CHECK_EQ_STR(log_level_name(LOG_LEVEL_CRITICAL), "CRITICAL");
    CHECK(log_level_name(-1) == NULL && log_level_name(LOG_LEVEL_COUNT) == NULL);
}

static void test_level_filter(void)
{
    char err[256] = "";
    CHECK_EQ_INT(log_init("-", LOG_LEVEL_WARNING, err, sizeof(err)), 0);
    log_set_sink(record, &got);
    got.calls = 0;
    capture_begin();
    log_info("dropped");
    log_debug("dropped too");
    log_text(LOG_LEVEL_INFO, "dropped", 7);
    log_error("kept");
    const char *out = capture_end();
    CHECK(strstr(out, "dropped") == NULL);
    CHECK(strstr(out, "[ERROR] kept\n") != NULL);
    CHECK_EQ_INT(got.calls, 1); /* the sink sees what the log admits, nothing else */
    log_set_sink(NULL, NULL);
    log_init(NULL, LOG_LEVEL_INFO, err, sizeof(err));
}

static void test_sink(void)
{
    memset(&got, 0, sizeof(got));
    log_set_sink(record, &got);
    log_set_worker(2);
    capture_begin();
    log_warning("to the sink %s", "too");
    const char *out = capture_end();
    CHECK(strstr(out, "[worker 2] to the sink too\n") != NULL);
    CHECK_EQ_INT(got.calls, 1);
    CHECK_EQ_INT(got.level, LOG_LEVEL_WARNING);
    CHECK_EQ_STR(got.msg, "to the sink too"); /* the message alone, without the prefix */

    /* a sink that logs gets its own line written, not fed back to it */
    got.log_from_sink = true;
    capture_begin();
    log_error("first");
    out = capture_end();
    got.log_from_sink = false;
    CHECK_EQ_INT(got.calls, 2);
    CHECK_EQ_STR(got.msg, "first");
    CHECK(strstr(out, "] first\n") != NULL && strstr(out, "] from the sink\n") != NULL);
    log_set_worker(-1);
    log_set_sink(NULL, NULL);
}

static void *log_from_thread(void *arg)
{
    (void)arg;
    log_error("from an application thread");
    static const char tb[] = "Traceback (most recent call last):\n  boom\n";
    log_text_detail(LOG_LEVEL_CRITICAL, "with detail", 11, tb, sizeof(tb) - 1);
    return NULL;
}

static void test_foreign_thread(void)
{
    memset(&got, 0, sizeof(got));
    log_set_sink(record, &got);
    log_pass_on(); /* nothing queued: nothing happens */
    CHECK_EQ_INT(got.calls, 0);
    pthread_t t;
    capture_begin();
    pthread_create(&t, NULL, log_from_thread, NULL);
    pthread_join(t, NULL);
    const char *out = capture_end();
    /* the error log has them at once; the sink only from its own thread */
    CHECK(strstr(out, "] from an application thread\n") != NULL);
    CHECK(strstr(out, "] with detail\nTraceback (most recent call last):\n  boom\n") != NULL);
    CHECK_EQ_INT(got.calls, 0);
    log_pass_on();
    CHECK_EQ_INT(got.calls, 2);
    CHECK_EQ_INT(got.level, LOG_LEVEL_CRITICAL);
    CHECK_EQ_STR(got.msg, "with detail\nTraceback (most recent call last):\n  boom");
    log_pass_on(); /* passed on once only */
    CHECK_EQ_INT(got.calls, 2);
    log_set_sink(NULL, NULL);
}

static void test_text(void)
{
    memset(&got, 0, sizeof(got));
    log_set_sink(record, &got);
    static const char msg[] = "GET /a\nb\\c\x01\x7f\xff\r";
    capture_begin();
    log_text(LOG_LEVEL_ERROR, msg, sizeof(msg) - 1);
    const char *out = capture_end();
    const char *rest = after_time_and_pid(out);
    CHECK(rest != NULL);
    CHECK_EQ_STR(rest, "ERROR] GET /a\\x0ab\\x5cc\\x01\\x7f\\xff\\x0d\n");
    CHECK_EQ_STR(got.msg, "GET /a\\x0ab\\x5cc\\x01\\x7f\\xff\\x0d");

    /* a NUL is a byte like any other: the length says where the message ends */
    capture_begin();
    log_text(LOG_LEVEL_ERROR, "a\0b", 3);
    out = capture_end();
    CHECK(strstr(out, "] a\\x00b\n") != NULL);

    /* cut at about 2,000 bytes of output, with "..." */
    char *big = malloc(10000);
    memset(big, '\n', 10000);
    capture_begin();
    log_text(LOG_LEVEL_ERROR, big, 10000);
    out = capture_end();
    free(big);
    size_t len = strlen(out);
    CHECK(len > 2000 && len < 2200);
    CHECK(len > 4 && memcmp(out + len - 4, "...\n", 4) == 0);
    CHECK(strchr(out, '\n') == out + len - 1);

    /* detail lines: unprefixed, newline and tab kept, UTF-8 and backslashes too, other
     * controls escaped; trailing newlines folded into the record's own */
    static const char tb[] = "Traceback:\n\tFile \"C:\\x\xc3\xa9.py\"\n\x1b[31mRed\n\n";
    capture_begin();
    log_text_detail(LOG_LEVEL_ERROR, "Error handling request GET /", 28, tb, sizeof(tb) - 1);
    out = capture_end();
    rest = after_time_and_pid(out);
    CHECK(rest != NULL);
    CHECK_EQ_STR(rest, "ERROR] Error handling request GET /\nTraceback:\n\tFile "
                       "\"C:\\x\xc3\xa9.py\"\n\\x1b[31mRed\n");
    CHECK_EQ_STR(got.msg, "Error handling request GET /\nTraceback:\n\tFile "
                          "\"C:\\x\xc3\xa9.py\"\n\\x1b[31mRed");

    /* no detail: just the line */
    capture_begin();
    log_text_detail(LOG_LEVEL_ERROR, "alone", 5, "\n", 1);
    out = capture_end();
    CHECK(strstr(out, "] alone\n") != NULL && strchr(out, '\n') == out + strlen(out) - 1);
    log_set_sink(NULL, NULL);
}

static void test_logfile(void)
{
    char dir[] = "/tmp/uf-log-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128], moved[128], err[256] = "";
    snprintf(path, sizeof(path), "%s/error.log", dir);
    snprintf(moved, sizeof(moved), "%s/error.log.1", dir);
    int saved = dup(2);
    CHECK_EQ_INT(log_init(path, LOG_LEVEL_INFO, err, sizeof(err)), 0);
    log_info("into the file");
    rename(path, moved);
    CHECK_EQ_INT(log_reopen(), 0);
    log_info("into the new file");
    dup2(saved, 2);
    close(saved);
    log_init(NULL, LOG_LEVEL_INFO, err, sizeof(err));

    char text[512] = "";
    FILE *f = fopen(moved, "r");
    CHECK(f && fread(text, 1, sizeof(text) - 1, f) > 0);
    if (f)
        fclose(f);
    CHECK(strstr(text, "] into the file\n") && !strstr(text, "new file"));
    memset(text, 0, sizeof(text));
    f = fopen(path, "r");
    CHECK(f && fread(text, 1, sizeof(text) - 1, f) > 0);
    if (f)
        fclose(f);
    CHECK(strstr(text, "] into the new file\n") != NULL);

    CHECK(log_init("/nonexistent-dir/x.log", LOG_LEVEL_INFO, err, sizeof(err)) < 0);
    CHECK(strstr(err, "--error-logfile") != NULL);
    log_init(NULL, LOG_LEVEL_INFO, err, sizeof(err));
    unlink(path);
    unlink(moved);
    rmdir(dir);
}

/* --capture-output: another process's line (log_text_as) has that process's pid and
 * worker, INFO whatever the level; log_capture_stdio moves fd 1 and 2 to a pipe while the
 * log's own lines keep going where fd 2 went. */
static void test_capture_stdio(void)
{
    capture_begin();
    log_init(NULL, LOG_LEVEL_ERROR, NULL, 0);
    log_text_as(4242, 3, "printed\tby the app", 18);
    log_text_as(4243, -1, "x", 1);
    log_init(NULL, LOG_LEVEL_INFO, NULL, 0);
    const char *text = capture_end();
    CHECK(strstr(text, "] [4242] [INFO] [worker 3] printed\\x09by the app\n") != NULL);
    CHECK(strstr(text, "] [4243] [INFO] x\n") != NULL);

    capture_begin();
    int p[2];
    CHECK_EQ_INT(pipe(p), 0);
    CHECK_EQ_INT(log_stdout_fd(), 1);
    CHECK_EQ_INT(log_capture_stdio(p[1]), 0);
    close(p[1]);
    CHECK(log_stdout_fd() > 2);
    CHECK_EQ_INT(write(1, "out\n", 4), 4);
    CHECK_EQ_INT(write(2, "err\n", 4), 4);
    log_info("own line");
    char piped[64] = "";
    CHECK_EQ_INT(read(p[0], piped, sizeof(piped) - 1), 8);
    CHECK_EQ_STR(piped, "out\nerr\n");
    /* the log's line went to the former fd 2 (the memory file), not into the pipe */
    static char text2[4096];
    ssize_t got2 = pread(log_state.fd, text2, sizeof(text2) - 1, 0);
    text2[got2 > 0 ? got2 : 0] = 0;
    CHECK(strstr(text2, "] own line\n") != NULL);
    close(p[0]);
    /* back as before, for the harness's own output */
    dup2(log_state.out_fd, 1);
    close(log_state.out_fd);
    log_state.out_fd = 1;
    dup2(saved_stderr, 2);
    close(saved_stderr);
    close(log_state.fd);
    log_state.fd = 2;
}

/* --error-log-json: one object per record, the text line's message inside it (a
 * traceback after a newline), "worker" only for a worker; the sink still gets the text. */
static void test_json(void)
{
    log_set_json(true);
    capture_begin();
    log_warning("disk \"%s\" full", "/var");
    log_set_worker(2);
    log_text_detail(LOG_LEVEL_ERROR, "Error handling request", 22, "Traceback:\n  boom\n", 18);
    log_text_as(77, 1, "captured", 8);
    log_set_worker(-1);
    const char *text = capture_end();
    log_set_json(false);
    char want[256];
    snprintf(want, sizeof(want),
             "\",\"level\":\"WARNING\",\"pid\":%d,\"message\":\"disk \\\"/var\\\" full\"}\n",
             (int)getpid());
    CHECK(strncmp(text, "{\"time\":\"", 9) == 0);
    CHECK(strstr(text, want) != NULL);
    CHECK(text[13] == '-' && text[19] == 'T' && text[28] == '.' && text[32] == 'Z');
    snprintf(want, sizeof(want),
             "\"level\":\"ERROR\",\"pid\":%d,\"worker\":2,\"message\":\"Error handling "
             "request\\nTraceback:\\n  boom\"}\n",
             (int)getpid());
    CHECK(strstr(text, want) != NULL);
    CHECK(strstr(text, "\"level\":\"INFO\",\"pid\":77,\"worker\":1,\"message\":\"captured\"}\n") !=
          NULL);
    /* one line per record */
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK_EQ_INT(lines, 3);
}

int main(void)
{
    test_format();
    test_level_filter();
    test_sink();
    test_foreign_thread();
    test_text();
    test_logfile();
    test_json();
    test_capture_stdio();
    return check_done();
}
