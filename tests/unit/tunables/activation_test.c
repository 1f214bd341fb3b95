/* Unit tests for tunables/activation.c: LISTEN_PID for us or another process, LISTEN_FDS
 * counted from descriptor 3, LISTEN_FDNAMES matched to them (and ignored when their count
 * differs), and the malformed values refused by name. */
#include "tunables/activation.c"

#include "check.h"

static void test_ours(void)
{
    tun_bind_t *b;
    char why[200];
    CHECK_EQ_INT(tun_activation_parse("42", "2", "web:admin", 42, &b, why, sizeof(why)), 2);
    if (b) {
        CHECK_EQ_INT(b[0].kind, TUN_BIND_FD);
        CHECK_EQ_INT(b[0].fd, 3);
        CHECK_EQ_INT(b[1].fd, 4);
        CHECK_EQ_STR(b[0].spec, "fd://3 (systemd: web)");
        CHECK_EQ_STR(b[1].spec, "fd://4 (systemd: admin)");
        uf_free(b);
    }
    /* names that do not match the count are unknown, not shifted */
    CHECK_EQ_INT(tun_activation_parse("42", "2", "web", 42, &b, why, sizeof(why)), 2);
    if (b) {
        CHECK_EQ_STR(b[0].spec, "fd://3 (systemd)");
        CHECK_EQ_STR(b[1].spec, "fd://4 (systemd)");
        uf_free(b);
    }
    CHECK_EQ_INT(tun_activation_parse("42", "1", "::", 42, &b, why, sizeof(why)), 1);
    if (b) {
        CHECK_EQ_STR(b[0].spec, "fd://3 (systemd)");
        uf_free(b);
    }
    CHECK_EQ_INT(tun_activation_parse("42", "0", NULL, 42, &b, why, sizeof(why)), 0);
    CHECK(b == NULL);
}

static void test_not_ours(void)
{
    tun_bind_t *b;
    char why[200];
    CHECK_EQ_INT(tun_activation_parse(NULL, "2", NULL, 42, &b, why, sizeof(why)), 0);
    CHECK(b == NULL);
    /* the variables a parent received and its child inherited */
    CHECK_EQ_INT(tun_activation_parse("41", "2", NULL, 42, &b, why, sizeof(why)), 0);
    CHECK(b == NULL);
}

static void test_malformed(void)
{
    tun_bind_t *b;
    char why[200];
    CHECK_EQ_INT(tun_activation_parse("x", "1", NULL, 42, &b, why, sizeof(why)), TUN_ERROR);
    CHECK_EQ_STR(why, "LISTEN_PID=\"x\" is not a process id");
    CHECK_EQ_INT(tun_activation_parse("42", "-1", NULL, 42, &b, why, sizeof(why)), TUN_ERROR);
    CHECK_EQ_STR(why, "LISTEN_FDS=\"-1\" is not a number of sockets");
    CHECK_EQ_INT(tun_activation_parse("42", NULL, NULL, 42, &b, why, sizeof(why)), TUN_ERROR);
    CHECK_EQ_STR(why, "LISTEN_FDS=\"\" is not a number of sockets");
    CHECK_EQ_INT(tun_activation_parse("42", "5000", NULL, 42, &b, why, sizeof(why)), TUN_ERROR);
    CHECK_EQ_STR(why, "LISTEN_FDS=5000 is more than 256 sockets");
    CHECK(b == NULL);
}

int main(void)
{
    test_ours();
    test_not_ours();
    test_malformed();
    return check_done();
}
