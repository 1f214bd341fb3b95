/* libFuzzer target: the PROXY protocol header parser, src/proxyproto.c.
 *
 * Input: one control byte, then the bytes a client sends first. The control byte's low
 * two bits choose the versions taken (0 and 3: both, 1: v1, 2: v2); the rest is where a
 * prefix is cut for the consistency check.
 *
 * Invariants (a violation aborts, which libFuzzer reports with the input):
 *   - the verdict is -1 with a reason, 0, or a length n with 0 < n <= the input, at most
 *     107 for v1 and 16 + 65535 for v2;
 *   - an accepted header has version 1 or 2, a v1 header never says ssl, and when it names
 *     endpoints both are AF_INET or both AF_INET6;
 *   - the parser is stateless and looks no further than the header: the same bytes give
 *     the same verdict; every proper prefix of an accepted header needs more (0); a prefix
 *     of refused input is never accepted; input refused at a prefix stays refused;
 *   - nothing crashes or reads out of bounds (ASan, UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/proxyproto.h"
#include "tests/fuzz/invariant.h"

#define FAIL(...) FUZZ_FAIL("proxy_fuzz", __VA_ARGS__)

static long parse(const uint8_t *b, size_t n, unsigned accept, pp_result_t *r)
{
    memset(r, 0, sizeof(*r));
    long got = pp_parse(b, n, accept, r);
    if (got < -1 || got > (long)n)
        FAIL("verdict %ld for %zu bytes", got, n);
    if (got == -1 && !r->error)
        FAIL("a refusal without a reason");
    return got;
}

static void check_result(const pp_result_t *r, long n)
{
    if (r->version != 1 && r->version != 2)
        FAIL("version %u", r->version);
    if (r->version == 1 && (n > 107 || r->ssl))
        FAIL("a v1 header of %ld bytes, ssl %d", n, r->ssl);
    if (n > 16 + 65535)
        FAIL("a header of %ld bytes", n);
    if (r->has_addr) {
        int f = r->src.ss_family;
        if ((f != AF_INET && f != AF_INET6) || r->dst.ss_family != f)
            FAIL("endpoint families %d and %d", f, r->dst.ss_family);
    }
}

struct prefix_ctx {
    const uint8_t *b;
    unsigned accept;
};

static long prefix_verdict(void *arg, size_t k)
{
    struct prefix_ctx *ctx = arg;
    pp_result_t r;
    return parse(ctx->b, k, ctx->accept, &r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned accept = data[0] & 3;
    if (accept == 0)
        accept = PP_ACCEPT_V1 | PP_ACCEPT_V2;
    const uint8_t *b = data + 1;
    size_t n = size - 1;
    pp_result_t r, again;
    long got = parse(b, n, accept, &r);
    if (parse(b, n, accept, &again) != got)
        FAIL("two verdicts for the same bytes");
    if (got > 0) {
        check_result(&r, got);
        if (memcmp(&r, &again, sizeof(r)) != 0)
            FAIL("two results for the same bytes");
    }
    struct prefix_ctx ctx = {b, accept};
    fuzz_check_prefixes("proxy_fuzz", data[0], n, got, prefix_verdict, &ctx);
    return 0;
}
