/* Unit tests for src/proxy.c: the trusted peers ('*', addresses, networks, IPv4, IPv6 and
 * IPv4-mapped peers, other families), the scheme headers (agreeing, contradicting,
 * absent, names and values in any case, an untrusted peer ignored) and SCRIPT_NAME. The
 * settings' text is parsed by tunables/lists.c, whose refusals tests/unit/tunables/lists_test.c
 * checks. */
#include "src/proxy.c"

#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

/* An AF_INET address when text has no ':', else AF_INET6. */
static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss = {0};
    if (strchr(text, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, text, &s6->sin6_addr);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        inet_pton(AF_INET, text, &s4->sin_addr);
    }
    return ss;
}

/* p from the settings' text, parsed as tunables parses it; -1 when tunables refuses it. */
static int setup(proxy_t *p, const char *allow_ips, const char *scheme_headers)
{
    tun_netlist_t nets;
    tun_pairs_t pairs;
    if (tun_netlist_parse(allow_ips, &nets) < 0)
        return -1;
    if (tun_pairs_parse(scheme_headers, &pairs) < 0) {
        tun_netlist_free(&nets);
        return -1;
    }
    proxy_setup(p, &nets, &pairs);
    tun_netlist_free(&nets);
    tun_pairs_free(&pairs);
    return 0;
}

static bool trusts(const proxy_t *p, struct sockaddr_storage ss)
{
    return proxy_trusts(p, (const struct sockaddr *)&ss);
}

static void test_trusted_peers(void)
{
    proxy_t p;
    CHECK_EQ_INT(setup(&p, "127.0.0.1, 10.0.0.0/8,2001:db8::/32", NULL), 0);
    CHECK_EQ_INT(p.trusted_count, 3);
    CHECK(!p.trust_all);
    CHECK(trusts(&p, addr("127.0.0.1")));
    CHECK(!trusts(&p, addr("127.0.0.2")));
    CHECK(trusts(&p, addr("10.200.1.1")));
    CHECK(!trusts(&p, addr("11.0.0.1")));
    CHECK(trusts(&p, addr("2001:db8:1::5")));
    CHECK(!trusts(&p, addr("2001:db9::5")));
    CHECK(!trusts(&p, addr("::1")));
    /* an IPv4 client of a dual-stack listener */
    CHECK(trusts(&p, addr("::ffff:10.1.2.3")));
    CHECK(trusts(&p, addr("::ffff:127.0.0.1")));
    CHECK(!trusts(&p, addr("::ffff:192.168.0.1")));
    /* a unix-socket peer is trusted whatever the list says, as gunicorn does */
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    CHECK(proxy_trusts(&p, (const struct sockaddr *)&u));
    proxy_free(&p);
    CHECK_EQ_INT(p.trusted_count, 0);
    CHECK(p.trusted == NULL);

    CHECK_EQ_INT(setup(&p, " * ", ""), 0);
    CHECK(p.trust_all);
    CHECK(trusts(&p, addr("203.0.113.9")));
    CHECK(trusts(&p, addr("2001:db8::1")));
    CHECK(proxy_trusts(&p, (const struct sockaddr *)&u));
    proxy_free(&p);

    /* nothing configured: nobody is trusted */
    CHECK_EQ_INT(setup(&p, NULL, NULL), 0);
    CHECK(!trusts(&p, addr("127.0.0.1")));
    proxy_free(&p);

    /* typed input, without strings */
    net_cidr_t net;
    CHECK_EQ_INT(net_cidr_parse("192.168.1.0/24", 14, &net), 0);
    proxy_t typed = {.trusted = &net, .trusted_count = 1};
    CHECK(trusts(&typed, addr("192.168.1.77")));
    CHECK(!trusts(&typed, addr("192.168.2.77")));
}

static void test_scheme_pairs_copied(void)
{
    proxy_t p;
    CHECK_EQ_INT(setup(&p, NULL, "X-Forwarded-Proto = https, X-Forwarded-Ssl=on"), 0);
    CHECK_EQ_INT(p.scheme_count, 2);
    CHECK_EQ_MEM(p.schemes[0].name, p.schemes[0].name_len, "X-Forwarded-Proto");
    CHECK_EQ_MEM(p.schemes[0].value, p.schemes[0].value_len, "https");
    CHECK_EQ_MEM(p.schemes[1].name, p.schemes[1].name_len, "X-Forwarded-Ssl");
    CHECK_EQ_MEM(p.schemes[1].value, p.schemes[1].value_len, "on");
    proxy_free(&p);
    CHECK(p.schemes == NULL && p.scheme_count == 0);
}

#include "header_literal.h"

static void test_scheme(void)
{
    proxy_t p;
    CHECK_EQ_INT(setup(&p, "*", "X-Forwarded-Proto=https,X-Forwarded-Ssl=on"), 0);

    const py_header_t none[] = {H("Host", "a"), H("Accept", "*/*")};
    CHECK_EQ_INT(proxy_scheme(&p, true, none, 2), PROXY_SCHEME_UNSAID);
    CHECK_EQ_INT(proxy_scheme(&p, true, NULL, 0), PROXY_SCHEME_UNSAID);

    const py_header_t https[] = {H("Host", "a"), H("x-forwarded-proto", "HTTPS")};
    CHECK_EQ_INT(proxy_scheme(&p, true, https, 2), PROXY_SCHEME_HTTPS);
    const py_header_t http[] = {H("X-FORWARDED-PROTO", "http")};
    CHECK_EQ_INT(proxy_scheme(&p, true, http, 1), PROXY_SCHEME_HTTP);

    const py_header_t agree[] = {H("X-Forwarded-Proto", "https"), H("X-Forwarded-Ssl", "On")};
    CHECK_EQ_INT(proxy_scheme(&p, true, agree, 2), PROXY_SCHEME_HTTPS);
    const py_header_t agree_http[] = {H("X-Forwarded-Proto", "http"), H("X-Forwarded-Ssl", "off")};
    CHECK_EQ_INT(proxy_scheme(&p, true, agree_http, 2), PROXY_SCHEME_HTTP);

    const py_header_t clash[] = {H("X-Forwarded-Proto", "https"), H("X-Forwarded-Ssl", "off")};
    CHECK_EQ_INT(proxy_scheme(&p, true, clash, 2), PROXY_SCHEME_CONFLICT);
    const py_header_t twice[] = {H("X-Forwarded-Proto", "http"), H("X-Forwarded-Proto", "https")};
    CHECK_EQ_INT(proxy_scheme(&p, true, twice, 2), PROXY_SCHEME_CONFLICT);
    /* a value that only starts like the secure one is not it */
    const py_header_t prefix[] = {H("X-Forwarded-Proto", "httpsx")};
    CHECK_EQ_INT(proxy_scheme(&p, true, prefix, 1), PROXY_SCHEME_HTTP);

    /* an untrusted peer says nothing, even when contradicting itself */
    CHECK_EQ_INT(proxy_scheme(&p, false, https, 2), PROXY_SCHEME_UNSAID);
    CHECK_EQ_INT(proxy_scheme(&p, false, clash, 2), PROXY_SCHEME_UNSAID);

    /* no scheme headers configured */
    proxy_t bare = {.trust_all = true};
    CHECK_EQ_INT(proxy_scheme(&bare, true, https, 2), PROXY_SCHEME_UNSAID);
    proxy_free(&p);
}

static void test_script_name(void)
{
    const py_header_t h[] = {H("Host", "a"), H("Script_Name", "/one"), H("SCRIPT_NAME", "/two")};
    py_slice_t out = {"/root", 5};
    CHECK(!proxy_script_name(false, h, 3, &out));
    CHECK_EQ_MEM(out.ptr, out.len, "/root");
    CHECK(!proxy_script_name(true, h, 1, &out));
    CHECK_EQ_MEM(out.ptr, out.len, "/root");
    CHECK(proxy_script_name(true, h, 3, &out));
    CHECK_EQ_MEM(out.ptr, out.len, "/two");

    /* a scheme header configured under that name is not read as one */
    proxy_t p;
    CHECK_EQ_INT(setup(&p, "*", "SCRIPT_NAME=https"), 0);
    const py_header_t s[] = {H("SCRIPT_NAME", "https")};
    CHECK_EQ_INT(proxy_scheme(&p, true, s, 1), PROXY_SCHEME_UNSAID);
    proxy_free(&p);
}

int main(void)
{
    test_trusted_peers();
    test_scheme_pairs_copied();
    test_scheme();
    test_script_name();
    return check_done();
}
