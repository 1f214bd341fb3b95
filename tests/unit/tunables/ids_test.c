/* Unit tests for tunables/ids.c: users and groups by name and by number (a number the
 * database does not know is taken as it is, without a name or primary group), unknown
 * names refused, ids that would mean "unchanged" to the kernel refused, and every umask
 * spelling gunicorn reads (0o22, 022, 0022, 0x12, 0b10010, 18) with the ones it refuses. */
#include "tunables/ids.c"

#include "check.h"

static void test_users(void)
{
    tun_user_t u;
    char why[128];
    CHECK_EQ_INT(tun_user_lookup("root", &u, why, sizeof(why)), 0);
    CHECK(u.known && u.uid == 0 && u.gid == 0);
    CHECK_EQ_STR(u.name, "root");
    CHECK_EQ_INT(tun_user_lookup("0", &u, why, sizeof(why)), 0);
    CHECK(u.known && u.uid == 0);
    CHECK_EQ_STR(u.name, "root"); /* a known number gets its name, for initgroups */
    /* a container's arbitrary uid: no entry, still a uid */
    CHECK_EQ_INT(tun_user_lookup("3999999", &u, why, sizeof(why)), 0);
    CHECK(!u.known && u.uid == 3999999);
    CHECK_EQ_STR(u.name, "");
    CHECK_EQ_INT(tun_user_lookup("no-such-user-here", &u, why, sizeof(why)), -1);
    CHECK_EQ_STR(why, "is not a user on this system");
    /* (uid_t)-1 would tell setresuid to change nothing; beyond it, wrapping */
    CHECK_EQ_INT(tun_user_lookup("4294967295", &u, why, sizeof(why)), -1);
    CHECK_EQ_INT(tun_user_lookup("99999999999", &u, why, sizeof(why)), -1);
    CHECK_EQ_INT(tun_user_lookup("-1", &u, why, sizeof(why)), -1);
    CHECK_EQ_INT(tun_user_lookup("", &u, why, sizeof(why)), -1);
}

static void test_groups(void)
{
    gid_t gid = 7;
    char why[128];
    CHECK_EQ_INT(tun_group_lookup("root", &gid, why, sizeof(why)), 0);
    CHECK_EQ_INT(gid, 0);
    CHECK_EQ_INT(tun_group_lookup("4000000", &gid, why, sizeof(why)), 0);
    CHECK_EQ_INT(gid, 4000000);
    CHECK_EQ_INT(tun_group_lookup("no-such-group-here", &gid, why, sizeof(why)), -1);
    CHECK_EQ_STR(why, "is not a group on this system");
    CHECK_EQ_INT(tun_group_lookup("4294967295", &gid, why, sizeof(why)), -1);
    CHECK_EQ_INT(tun_group_lookup("", &gid, why, sizeof(why)), -1);
}

static void test_modes(void)
{
    static const struct {
        const char *text;
        unsigned mode;
    } good[] = {
        {"0o22", 022},   {"0O22", 022},    {"022", 022}, {"0022", 022},  {"0x12", 022},
        {"0X12", 022},   {"0b10010", 022}, {"18", 022},  {"0", 0},       {"00", 0},
        {"0o777", 0777}, {"511", 0777},    {"0o0", 0},   {"0o077", 077}, {"0xfF", 0377},
    };
    char why[128];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        unsigned m = 12345;
        CHECK_EQ_INT(tun_mode_parse(good[i].text, &m, why, sizeof(why)), 0);
        CHECK_EQ_INT(m, good[i].mode);
    }
    /* decimal 777 is above 0o777 (511); Python's int() would take the blanks, the sign
     * and the underscores, which no umask needs */
    static const char *const bad[] = {"",      "0o",  "0x",  "08",    "0o8", "0o1000",
                                      "512",   "777", "-1",  "+18",   " 18", "18 ",
                                      "0x200", "abc", "1_8", "0o2_2", "0b2", "18.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned m;
        CHECK_EQ_INT(tun_mode_parse(bad[i], &m, why, sizeof(why)), -1);
    }
    CHECK_EQ_STR(why, "is not a mode from 0 to 0o777");
}

int main(void)
{
    test_users();
    test_groups();
    test_modes();
    return check_done();
}
