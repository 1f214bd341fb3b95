/* Accounts and modes: a --user or --group value (a name or a number) into the ids the
 * kernel takes, and a --umask value in any of gunicorn's spellings into a mode.
 *
 * values.c calls these to validate a value when it is set, so an unknown user stops the
 * server at parse time (exit 2); src/privileges.c calls them again at start to get the
 * ids it drops to. Names go through the system's user and group databases (NSS:
 * /etc/passwd, LDAP, ...); numbers are taken as they are, as gunicorn takes them, so a
 * container's arbitrary uid works without a passwd entry.
 *
 * No state; each function returns 0, or -1 with why in the caller's buffer (the words
 * that follow the quoted value in tun_fail_value's message).
 */
#ifndef UF_TUNABLES_IDS_H
#define UF_TUNABLES_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A user as --user names it. */
typedef struct tun_user {
    uid_t uid;
    gid_t gid;      /* primary group; meaningful only when `known` */
    bool known;     /* in the user database: a number that is not has no name or group */
    char name[256]; /* for initgroups; "" when not known */
} tun_user_t;

/* A name, or a decimal number (any uid, known or not). */
int tun_user_lookup(const char *v, tun_user_t *u, char *why, size_t whylen);

/* A group name, or a decimal number. */
int tun_group_lookup(const char *v, gid_t *gid, char *why, size_t whylen);

/* gunicorn's --umask spellings: its command line reads "022" and "0022" as octal (a
 * leading 0 followed by a digit), and both its command line and config file take
 * Python's int(x, 0): "0o22", "0x12", "0b10010" and decimal "18". Any of them up to
 * 0o777. */
int tun_mode_parse(const char *v, unsigned *mode, char *why, size_t whylen);

#endif
