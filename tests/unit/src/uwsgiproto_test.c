/* Unit tests for src/uwsgiproto.c: a packet as nginx sends it, parsed and walked; every
 * prefix of it needs more; the bytes after the block (the body) are left to the caller;
 * every way a header or block can be wrong (modifier1, datasize over the limit, a length
 * cut off, a key or value past the block, an empty key, too many or too large variables)
 * refused, at every cut where a refusal is already certain. */
#include "src/uwsgiproto.c"

#include "check.h"

#include "common/mem.h"

/* Appends one variable to b at *n. */
static void put_var(uint8_t *b, size_t *n, const char *k, const char *v)
{
    size_t kl = strlen(k), vl = strlen(v);
    b[(*n)++] = (uint8_t)kl, b[(*n)++] = (uint8_t)(kl >> 8);
    memcpy(b + *n, k, kl), *n += kl;
    b[(*n)++] = (uint8_t)vl, b[(*n)++] = (uint8_t)(vl >> 8);
    memcpy(b + *n, v, vl), *n += vl;
}

/* Writes the header for the block that fills b[4, n). */
static void put_header(uint8_t *b, size_t n)
{
    b[0] = 0, b[1] = (uint8_t)(n - 4), b[2] = (uint8_t)((n - 4) >> 8), b[3] = 0;
}

static const uwsgi_limits_t roomy = {.block = 65535, .vars = 100, .var_size = 8190};

static long parse(const uint8_t *b, size_t n, const uwsgi_limits_t *lim, uint32_t *vars,
                  const char **err)
{
    *err = NULL;
    *vars = 12345;
    return uwsgi_parse(b, n, lim, vars, err);
}

static void test_nginx_packet(void)
{
    uint8_t b[1024];
    size_t n = 4;
    put_var(b, &n, "QUERY_STRING", "a=1");
    put_var(b, &n, "REQUEST_METHOD", "POST");
    put_var(b, &n, "CONTENT_TYPE", "");
    put_var(b, &n, "CONTENT_LENGTH", "5");
    put_var(b, &n, "PATH_INFO", "/x y");
    put_var(b, &n, "HTTP_HOST", "example.com");
    put_header(b, n);
    size_t head = n;
    memcpy(b + n, "hello", 5), n += 5;

    uint32_t vars;
    const char *err;
    CHECK_EQ_INT(parse(b, n, &roomy, &vars, &err), (long)head);
    CHECK_EQ_INT(vars, 6);
    CHECK(err == NULL);
    /* a prefix that ends inside the header or block needs more, never an error */
    size_t bad = 0;
    for (size_t k = 0; k < head; k++)
        if (parse(b, k, &roomy, &vars, &err) != 0)
            bad++;
    CHECK_EQ_INT(bad, 0);
    /* and the body, however much of it came, is not the parser's */
    for (size_t k = head; k <= n; k++)
        CHECK_EQ_INT(parse(b, k, &roomy, &vars, &err), (long)head);

    const char *want[][2] = {{"QUERY_STRING", "a=1"}, {"REQUEST_METHOD", "POST"},
                             {"CONTENT_TYPE", ""},    {"CONTENT_LENGTH", "5"},
                             {"PATH_INFO", "/x y"},   {"HTTP_HOST", "example.com"}};
    size_t pos = 0, i = 0;
    uwsgi_var_t v;
    while (uwsgi_next_var(b, &pos, &v)) {
        CHECK(i < 6);
        if (i >= 6)
            break;
        CHECK_EQ_MEM(v.key, v.key_len, want[i][0]);
        CHECK_EQ_MEM(v.value, v.value_len, want[i][1]);
        i++;
    }
    CHECK_EQ_INT(i, 6);
    CHECK_EQ_INT(pos, head - 4);
}

static void test_empty_block(void)
{
    uint8_t b[4] = {0, 0, 0, 0};
    uint32_t vars;
    const char *err;
    CHECK_EQ_INT(parse(b, 4, &roomy, &vars, &err), 4);
    CHECK_EQ_INT(vars, 0);
    size_t pos = 0;
    uwsgi_var_t v;
    CHECK(!uwsgi_next_var(b, &pos, &v));
    /* modifier2 is not read */
    b[3] = 7;
    CHECK_EQ_INT(parse(b, 4, &roomy, &vars, &err), 4);
}

/* The whole of b[0, n) is refused, with a reason; so is every prefix from `from` on, and
 * every shorter one needs more. */
static void expect_error(const char *what, const uint8_t *b, size_t n, size_t from,
                         const uwsgi_limits_t *lim)
{
    uint32_t vars;
    const char *err;
    size_t bad = 0;
    for (size_t k = 0; k <= n; k++) {
        long r = parse(b, k, lim, &vars, &err);
        if (k < from ? r != 0 : r != -1 || err == NULL)
            bad++;
    }
    if (bad)
        fprintf(stderr, "expect_error: %s\n", what);
    CHECK_EQ_INT(bad, 0);
}

/* A packet of the `ok` variables is taken under lim, one of the `bad` ones refused. */
static void at_limit(const char *what, const uwsgi_limits_t *lim, const char *ok[][2], size_t nok,
                     const char *bad[][2], size_t nbad)
{
    uint8_t b[256];
    size_t n = 4;
    for (size_t i = 0; i < nok; i++)
        put_var(b, &n, ok[i][0], ok[i][1]);
    put_header(b, n);
    uint32_t vars;
    const char *err;
    CHECK_EQ_INT(parse(b, n, lim, &vars, &err), (long)n);
    CHECK_EQ_INT(vars, nok);
    n = 4;
    for (size_t i = 0; i < nbad; i++)
        put_var(b, &n, bad[i][0], bad[i][1]);
    put_header(b, n);
    expect_error(what, b, n, n, lim);
}

static void test_header_errors(void)
{
    uint8_t b[16] = {1, 0, 0, 0};
    expect_error("modifier1 1", b, 4, 1, &roomy);
    b[0] = 30; /* uWSGI's PATH_INFO-fixing modifier: not ours */
    expect_error("modifier1 30", b, 4, 1, &roomy);
    /* datasize over the limit, known as soon as the header is in */
    uwsgi_limits_t small = {.block = 100};
    b[0] = 0, b[1] = 101, b[2] = 0;
    expect_error("datasize 101 > 100", b, 4, 4, &small);
    b[1] = 0, b[2] = 1; /* 256 */
    expect_error("datasize 256 > 100", b, 4, 4, &small);
    b[1] = 100, b[2] = 0; /* exactly the limit: waits for the block */
    uint32_t vars;
    const char *err;
    CHECK_EQ_INT(parse(b, 4, &small, &vars, &err), 0);
}

static void test_block_errors(void)
{
    uint8_t b[256];
    size_t n;
    /* a key length cut off: one byte where two belong */
    n = 4;
    put_var(b, &n, "A", "b");
    b[n++] = 1;
    put_header(b, n);
    expect_error("key length cut", b, n, n, &roomy);
    /* a key past the block */
    n = 4;
    b[n++] = 10, b[n++] = 0;
    memcpy(b + n, "ABC", 3), n += 3;
    put_header(b, n);
    expect_error("key past the block", b, n, n, &roomy);
    /* a value length cut off */
    n = 4;
    b[n++] = 1, b[n++] = 0, b[n++] = 'K', b[n++] = 3;
    put_header(b, n);
    expect_error("value length cut", b, n, n, &roomy);
    /* no value length at all */
    n = 4;
    b[n++] = 1, b[n++] = 0, b[n++] = 'K';
    put_header(b, n);
    expect_error("value length missing", b, n, n, &roomy);
    /* a value past the block */
    n = 4;
    put_var(b, &n, "K", "value");
    b[n - 6] = 6; /* the value's length says 6, 5 bytes follow */
    put_header(b, n);
    expect_error("value past the block", b, n, n, &roomy);
    /* a value length of 0xffff in a small block */
    n = 4;
    b[n++] = 1, b[n++] = 0, b[n++] = 'K', b[n++] = 0xff, b[n++] = 0xff;
    put_header(b, n);
    expect_error("value length 65535", b, n, n, &roomy);
    /* an empty key */
    n = 4;
    put_var(b, &n, "", "v");
    put_header(b, n);
    expect_error("empty key", b, n, n, &roomy);
    /* too many variables; a variable over the size limit (key + value) */
    static const char *two_vars[][2] = {{"A", "1"}, {"B", "2"}};
    static const char *three_vars[][2] = {{"A", "1"}, {"B", "2"}, {"C", "3"}};
    at_limit("three variables, two allowed", &(uwsgi_limits_t){.vars = 2}, two_vars, 2, three_vars,
             3);
    static const char *four_bytes[][2] = {{"AB", "12"}};
    static const char *five_bytes[][2] = {{"AB", "123"}};
    at_limit("a 5-byte variable, 4 allowed", &(uwsgi_limits_t){.var_size = 4}, four_bytes, 1,
             five_bytes, 1);
}

/* Every 16-bit datasize with no limit: a block of that many zero bytes is a run of
 * empty keys, refused; a block of one large variable is taken. */
static void test_sizes(void)
{
    static uint8_t b[4 + 65535];
    uwsgi_limits_t none = {0};
    uint32_t vars;
    const char *err;
    size_t wrong = 0;
    for (size_t size = 5; size <= 65535; size = size * 3 + 1) {
        memset(b, 0, sizeof(b));
        b[1] = (uint8_t)size, b[2] = (uint8_t)(size >> 8);
        if (parse(b, 4 + size, &none, &vars, &err) != -1)
            wrong++;
        size_t vlen = size - 5;
        b[4] = 1, b[5] = 0, b[6] = 'K', b[7] = (uint8_t)vlen, b[8] = (uint8_t)(vlen >> 8);
        if (parse(b, 4 + size, &none, &vars, &err) != (long)(4 + size) || vars != 1)
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
}

int main(void)
{
    test_nginx_packet();
    test_empty_block();
    test_header_errors();
    test_block_errors();
    test_sizes();
    return check_done();
}
