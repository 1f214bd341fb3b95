/* Unit tests for tunables/lists.c: network lists ('*' anywhere, addresses, networks, bad
 * items leaving the list empty) and NAME=VALUE pairs (blanks around '=' trimmed, empty or
 * over-long parts refused, the list empty after a refusal). */
#include "tunables/lists.c"

#include "check.h"

static void test_netlist(void)
{
    tun_netlist_t l;
    CHECK_EQ_INT(tun_netlist_parse("127.0.0.1, 10.0.0.0/8,2001:db8::/32", &l), 0);
    CHECK(!l.all);
    CHECK_EQ_INT(l.count, 3);
    CHECK_EQ_INT(l.nets[1].prefix, 8);
    CHECK_EQ_INT(l.nets[2].family, AF_INET6);
    tun_netlist_free(&l);
    CHECK(l.nets == NULL && l.count == 0);

    CHECK_EQ_INT(tun_netlist_parse("10.0.0.1, * ", &l), 0);
    CHECK(l.all);
    CHECK_EQ_INT(l.count, 1);
    tun_netlist_free(&l);

    CHECK_EQ_INT(tun_netlist_parse(NULL, &l), 0);
    CHECK(!l.all && l.count == 0);
    CHECK_EQ_INT(tun_netlist_parse(" , ", &l), 0);
    CHECK_EQ_INT(l.count, 0);

    const char *bad[] = {"127.0.0.1,nonsense", "10.0.0.0/33", "**", "*/8", "::1/129",
                         "example.com"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(tun_netlist_parse(bad[i], &l), -1);
        CHECK(l.nets == NULL && l.count == 0 && !l.all);
    }
}

static void test_pairs(void)
{
    tun_pairs_t l;
    CHECK_EQ_INT(tun_pairs_parse("X-Forwarded-Proto = https, X-Forwarded-Ssl=on", &l), 0);
    CHECK_EQ_INT(l.count, 2);
    CHECK_EQ_STR(l.items[0].name, "X-Forwarded-Proto");
    CHECK_EQ_STR(l.items[0].value, "https");
    CHECK_EQ_STR(l.items[1].name, "X-Forwarded-Ssl");
    CHECK_EQ_STR(l.items[1].value, "on");
    tun_pairs_free(&l);
    CHECK(l.items == NULL && l.count == 0);

    /* the value may hold '=' of its own */
    CHECK_EQ_INT(tun_pairs_parse("X-A=b=c", &l), 0);
    CHECK_EQ_STR(l.items[0].value, "b=c");
    tun_pairs_free(&l);

    char longest[TUN_PAIR_PART_MAX + 8];
    memset(longest, 'a', TUN_PAIR_PART_MAX);
    strcpy(longest + TUN_PAIR_PART_MAX, "=1");
    CHECK_EQ_INT(tun_pairs_parse(longest, &l), 0);
    CHECK_EQ_INT(strlen(l.items[0].name), TUN_PAIR_PART_MAX);
    tun_pairs_free(&l);

    char too_long[TUN_PAIR_PART_MAX + 8];
    memset(too_long, 'a', TUN_PAIR_PART_MAX + 1);
    strcpy(too_long + TUN_PAIR_PART_MAX + 1, "=1");
    const char *bad[] = {
        "X-Forwarded-Proto", "=https", "X-Forwarded-Proto=", "X-A = ", "ok=1, =x", too_long};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(tun_pairs_parse(bad[i], &l), -1);
        CHECK(l.items == NULL && l.count == 0);
    }
}

int main(void)
{
    test_netlist();
    test_pairs();
    return check_done();
}
