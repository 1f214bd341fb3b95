/* Unit tests for common/net.c: address text for IPv4, IPv6 and other families; networks
 * parsed (bare addresses, prefixes, the limits of each family, junk) and matched
 * (prefix bits inside a byte, IPv4-mapped IPv6 peers, the other family); comma lists
 * trimmed, empty items skipped, the first non-zero return stopping the walk. */
#include "common/net.c"

#include "check.h"

#include <sys/un.h>

static struct sockaddr_storage v4(const char *text, int port)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, text, &s4->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *text, int port)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, text, &s6->sin6_addr);
    return ss;
}

static void test_addr_text(void)
{
    char host[INET6_ADDRSTRLEN], text[NET_ADDR_TEXT_MAX];
    int port;
    struct sockaddr_storage a = v4("10.1.2.3", 8000);
    CHECK_EQ_INT(net_addr_host((struct sockaddr *)&a, host, sizeof(host), &port), AF_INET);
    CHECK_EQ_STR(host, "10.1.2.3");
    CHECK_EQ_INT(port, 8000);
    CHECK_EQ_STR(net_addr_text((struct sockaddr *)&a, text, sizeof(text)), "10.1.2.3:8000");

    struct sockaddr_storage b = v6("2001:db8::1", 443);
    CHECK_EQ_INT(net_addr_host((struct sockaddr *)&b, host, sizeof(host), &port), AF_INET6);
    CHECK_EQ_STR(host, "2001:db8::1");
    CHECK_EQ_INT(port, 443);
    CHECK_EQ_STR(net_addr_text((struct sockaddr *)&b, text, sizeof(text)), "[2001:db8::1]:443");

    struct sockaddr_un u = {.sun_family = AF_UNIX};
    CHECK_EQ_INT(net_addr_host((struct sockaddr *)&u, host, sizeof(host), &port), AF_UNIX);
    CHECK_EQ_STR(host, "");
    CHECK_EQ_INT(port, 0);
    CHECK_EQ_STR(net_addr_text((struct sockaddr *)&u, text, sizeof(text)), "?");
}

static int parses(const char *s)
{
    net_cidr_t n;
    return net_cidr_parse(s, strlen(s), &n) == 0;
}

static void test_unix_text(void)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    size_t off = offsetof(struct sockaddr_un, sun_path);
    char out[120];
    strcpy(un.sun_path, "/run/app.sock");
    /* with and without the NUL counted, as the kernel gives either */
    CHECK_EQ_STR(net_unix_text((struct sockaddr *)&un, (socklen_t)(off + 14), out, sizeof(out)),
                 "/run/app.sock");
    CHECK_EQ_STR(net_unix_text((struct sockaddr *)&un, (socklen_t)(off + 13), out, sizeof(out)),
                 "/run/app.sock");
    memcpy(un.sun_path, "\0web", 4);
    CHECK_EQ_STR(net_unix_text((struct sockaddr *)&un, (socklen_t)(off + 4), out, sizeof(out)),
                 "@web");
    CHECK_EQ_STR(
        net_unix_text((struct sockaddr *)&un, (socklen_t)sizeof(sa_family_t), out, sizeof(out)),
        ""); /* an unnamed client */
    struct sockaddr_storage ss = v4("127.0.0.1", 80);
    CHECK_EQ_STR(
        net_unix_text((struct sockaddr *)&ss, sizeof(struct sockaddr_in), out, sizeof(out)), "");
    memset(un.sun_path, 'a', sizeof(un.sun_path)); /* a full path has no NUL */
    CHECK_EQ_INT(strlen(net_unix_text((struct sockaddr *)&un, sizeof(un), out, sizeof(out))),
                 sizeof(un.sun_path));
}

static void test_cidr_parse(void)
{
    net_cidr_t n;
    CHECK_EQ_INT(net_cidr_parse("10.0.0.0/8", 10, &n), 0);
    CHECK_EQ_INT(n.family, AF_INET);
    CHECK_EQ_INT(n.prefix, 8);
    CHECK_EQ_INT(n.addr[0], 10);
    CHECK_EQ_INT(net_cidr_parse("::1", 3, &n), 0);
    CHECK_EQ_INT(n.family, AF_INET6);
    CHECK_EQ_INT(n.prefix, 128);
    /* only the first len bytes count: the item of a list is not NUL-terminated */
    CHECK_EQ_INT(net_cidr_parse("127.0.0.1,::1", 9, &n), 0);
    CHECK_EQ_INT(n.prefix, 32);

    CHECK(parses("0.0.0.0/0"));
    CHECK(parses("192.168.1.7/32"));
    CHECK(parses("fd00::/8"));
    CHECK(parses("::/128"));
    CHECK(!parses("10.0.0.0/33"));
    CHECK(!parses("fd00::/129"));
    CHECK(!parses("10.0.0.0/"));
    CHECK(!parses("10.0.0.0/ 8"));
    CHECK(!parses("10.0.0.0/+8"));
    CHECK(!parses("10.0.0.0/0x8"));
    CHECK(!parses("10.0.0.0/0008"));
    CHECK(!parses("*"));
    CHECK(!parses(""));
    CHECK(!parses("localhost"));
    CHECK(!parses("10.0.0"));
    CHECK(!parses("1:2:3:4:5:6:7:8:9"));
    CHECK(!parses("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128 and more"));
}

static bool in(const char *net, struct sockaddr_storage ss)
{
    net_cidr_t n;
    if (net_cidr_parse(net, strlen(net), &n) < 0)
        return false;
    return net_cidr_match(&n, (struct sockaddr *)&ss);
}

static void test_cidr_match(void)
{
    CHECK(in("10.0.0.0/8", v4("10.200.3.4", 1)));
    CHECK(!in("10.0.0.0/8", v4("11.0.0.1", 1)));
    CHECK(in("192.168.4.0/22", v4("192.168.7.255", 1))); /* prefix ends inside a byte */
    CHECK(!in("192.168.4.0/22", v4("192.168.8.0", 1)));
    CHECK(in("0.0.0.0/0", v4("203.0.113.9", 1)));
    CHECK(in("127.0.0.1", v4("127.0.0.1", 1)));
    CHECK(!in("127.0.0.1", v4("127.0.0.2", 1)));
    /* a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d */
    CHECK(in("127.0.0.1", v6("::ffff:127.0.0.1", 1)));
    CHECK(in("::ffff:127.0.0.0/104", v6("::ffff:127.0.0.1", 1)) == false); /* matched as IPv4 */
    CHECK(in("2001:db8::/32", v6("2001:db8:ffff::1", 1)));
    CHECK(!in("2001:db8::/33", v6("2001:db8:8000::1", 1)));
    CHECK(!in("::1", v4("127.0.0.1", 1))); /* other family */
    CHECK(!in("127.0.0.1", v6("::1", 1)));
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    net_cidr_t any;
    net_cidr_parse("0.0.0.0/0", 9, &any);
    CHECK(!net_cidr_match(&any, (struct sockaddr *)&u));
}

typedef struct seen {
    char items[8][32];
    int count;
    int stop_at; /* return 7 at this item, -1 never */
} seen_t;

static int collect(void *ctx, const char *item, size_t len)
{
    seen_t *s = ctx;
    snprintf(s->items[s->count], sizeof(s->items[0]), "%.*s", (int)len, item);
    return s->count++ == s->stop_at ? 7 : 0;
}

static void test_items(void)
{
    seen_t s = {.stop_at = -1};
    CHECK_EQ_INT(net_for_each_item(" a , b\t,,\n c ,", collect, &s), 0);
    CHECK_EQ_INT(s.count, 3);
    CHECK_EQ_STR(s.items[0], "a");
    CHECK_EQ_STR(s.items[1], "b");
    CHECK_EQ_STR(s.items[2], "c");

    seen_t none = {.stop_at = -1};
    CHECK_EQ_INT(net_for_each_item(NULL, collect, &none), 0);
    CHECK_EQ_INT(net_for_each_item(" , ,", collect, &none), 0);
    CHECK_EQ_INT(none.count, 0);

    seen_t stop = {.stop_at = 1};
    CHECK_EQ_INT(net_for_each_item("x,y,z", collect, &stop), 7);
    CHECK_EQ_INT(stop.count, 2);
}

int main(void)
{
    test_addr_text();
    test_unix_text();
    test_cidr_parse();
    test_cidr_match();
    test_items();
    return check_done();
}
