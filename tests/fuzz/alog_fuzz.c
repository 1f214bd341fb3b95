/* libFuzzer target: the --access-logformat compiler of src/accesslog.c (alog_compile), and
 * what the compiled format renders.
 *
 * Input: the format string, up to its first NUL byte (a command-line value cannot hold
 * one). A format that compiles is rendered for one fixed request, as text and as JSON.
 *
 * Invariants (a violation aborts, which libFuzzer reports with the input):
 *   - a refusal starts "access-logformat: " and is one line, whatever bytes the format
 *     holds (a name quoted back shows control bytes as '?');
 *   - the JSON line (--access-log-json) is "{...}\n", ASCII, with no control byte before
 *     its newline: no format can make a line that a log shipper cannot parse;
 *   - the text line ends with its newline;
 *   - nothing crashes, leaks or reads out of bounds (ASan, UBSan).
 *
 * Only the compiler and the renderer run (src/accesslog.c); the writer is another file, so
 * the target needs neither io_uring nor a worker.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/accesslog.h"
#include "tests/fuzz/invariant.h"

#define FAIL(...) FUZZ_FAIL("alog_fuzz", __VA_ARGS__)

static const char request[] = "GET /app/p%20q?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *format = malloc(size + 1);
    memcpy(format, data, size);
    format[size] = 0;

    alog_fmt_t *f = NULL;
    char err[256] = "";
    if (alog_compile(format, &f, err, sizeof(err)) < 0) {
        if (strncmp(err, "access-logformat: ", 18) != 0 || strchr(err, '\n'))
            FAIL("a refusal is not one \"access-logformat: \" line: \"%s\"", err);
        free(format);
        return 0;
    }

    /* One request with no parsed spans (they all render as empty or "-") and a response
     * without the o-headers: what matters here is the format, not the request. */
    http_req_t req;
    memset(&req, 0, sizeof(req));
    alog_resp_t resp;
    memset(&resp, 0, sizeof(resp));
    for (unsigned k = 0; k < ALOG_MAX_OUT; k++)
        resp.len[k] = -1;
    alog_rec_t rec = {.base = request,
                      .base_len = sizeof(request) - 1,
                      .req = &req,
                      .remote_addr = "192.0.2.1",
                      .remote_port = 4242,
                      .server_name = "localhost",
                      .server_port = 8000,
                      .script_name = "/app",
                      .script_name_len = 4,
                      .status = 200,
                      .body_bytes = 12,
                      .duration_us = 1500,
                      .wall = {.tv_sec = 1700000000, .tv_nsec = 5000000},
                      .pid = 7,
                      .worker = 1,
                      .conn_id = 3,
                      .resp = &resp};

    buf_t out = {0};
    alog_render(f, false, &rec, &out);
    if (!out.len || out.data[out.len - 1] != '\n')
        FAIL("a text line does not end with a newline");
    out.len = 0;
    alog_render(f, true, &rec, &out);
    if (out.len < 3 || out.data[0] != '{' || memcmp(out.data + out.len - 2, "}\n", 2) != 0)
        FAIL("a JSON line is not {...}\\n: \"%.*s\"", (int)out.len, out.data);
    for (size_t i = 0; i + 1 < out.len; i++) {
        unsigned char c = (unsigned char)out.data[i];
        if (c < 0x20 || c >= 0x7f)
            FAIL("a JSON line holds byte 0x%02x at %zu", c, i);
    }
    buf_free(&out);
    buf_free(&resp.text);
    alog_fmt_free(f);
    free(format);
    return 0;
}
