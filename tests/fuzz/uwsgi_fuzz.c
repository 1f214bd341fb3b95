/* libFuzzer target: the uwsgi protocol's request packet parser, src/uwsgiproto.c.
 *
 * Input: one control byte, then the bytes a front end sends first. The control byte's
 * low two bits choose the limits (0: none, 1: tight, 2: the server's defaults, 3: a tiny
 * block); the rest is where a prefix is cut for the consistency check.
 *
 * Invariants (a violation aborts, which libFuzzer reports with the input):
 *   - the verdict is -1 with a reason, 0, or a length n with 4 <= n <= the input and
 *     n - 4 within the block limit;
 *   - walking an accepted packet's variables yields exactly the count uwsgi_parse gave,
 *     every key non-empty, every slice inside [4, n), the last ending at n, each within
 *     the size limit;
 *   - the parser is stateless and looks no further than the block: the same bytes give
 *     the same verdict; bytes after an accepted packet change nothing; every proper
 *     prefix of an accepted packet needs more (0); a prefix of refused input is never
 *     accepted;
 *   - nothing crashes or reads out of bounds (ASan, UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/uwsgiproto.h"
#include "tests/fuzz/invariant.h"

#define FAIL(...) FUZZ_FAIL("uwsgi_fuzz", __VA_ARGS__)

static const uwsgi_limits_t limit_sets[4] = {
    {0, 0, 0},
    {256, 4, 16},
    {65535, 164, 8190},
    {8, 0, 0},
};

static long parse(const uint8_t *b, size_t n, const uwsgi_limits_t *lim, uint32_t *vars)
{
    const char *err = NULL;
    long got = uwsgi_parse(b, n, lim, vars, &err);
    if (got < -1 || got > (long)n || (got > 0 && got < 4))
        FAIL("verdict %ld for %zu bytes", got, n);
    if (got == -1 && !err)
        FAIL("a refusal without a reason");
    return got;
}

static void check_vars(const uint8_t *b, long n, uint32_t count, const uwsgi_limits_t *lim)
{
    if (lim->block && (size_t)n - 4 > lim->block)
        FAIL("a block of %ld bytes over the limit %u", n - 4, lim->block);
    size_t pos = 0;
    uint32_t seen = 0;
    uwsgi_var_t v;
    const uint8_t *end = b + n;
    while (uwsgi_next_var(b, &pos, &v)) {
        seen++;
        if (v.key_len == 0)
            FAIL("an empty key");
        if (v.key < b + 4 || v.key + v.key_len > end || v.value < v.key + v.key_len ||
            v.value + v.value_len > end)
            FAIL("a variable outside the block");
        if (lim->var_size && (uint32_t)v.key_len + v.value_len > lim->var_size)
            FAIL("a variable of %u bytes over the limit", v.key_len + v.value_len);
        if (seen > count)
            break;
    }
    if (seen != count)
        FAIL("%u variables walked, %u counted", seen, count);
    if (4 + pos != (size_t)n)
        FAIL("the walk ends at %zu, the block at %ld", 4 + pos, n);
}

struct prefix_ctx {
    const uint8_t *b;
    const uwsgi_limits_t *lim;
};

static long prefix_verdict(void *arg, size_t k)
{
    struct prefix_ctx *ctx = arg;
    uint32_t vars;
    return parse(ctx->b, k, ctx->lim, &vars);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uwsgi_limits_t *lim = &limit_sets[data[0] & 3];
    const uint8_t *b = data + 1;
    size_t n = size - 1;
    uint32_t vars = 0, again_vars = 0;
    long got = parse(b, n, lim, &vars);
    if (parse(b, n, lim, &again_vars) != got || (got > 0 && vars != again_vars))
        FAIL("two verdicts for the same bytes");
    if (got > 0) {
        check_vars(b, got, vars, lim);
        if (parse(b, (size_t)got, lim, &again_vars) != got)
            FAIL("the body changed the verdict");
    }
    struct prefix_ctx ctx = {b, lim};
    fuzz_check_prefixes("uwsgi_fuzz", data[0], n, got, prefix_verdict, &ctx);
    return 0;
}
