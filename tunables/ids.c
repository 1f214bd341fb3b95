/* Accounts and modes: user and group names or numbers, and umask spellings (see ids.h). */
#include "tunables/ids.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"

/* A decimal id that fits uid_t/gid_t and is not -1, which the set*id calls read as
 * "leave unchanged". */
static bool decimal_id(const char *v, unsigned long *out)
{
    if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 10)
        return false;
    unsigned long n = strtoul(v, NULL, 10);
    if (n >= 0xffffffffUL)
        return false;
    *out = n;
    return true;
}

/* The reentrant lookups want a buffer whose size is a guess; the entry of a large group
 * can exceed it, so the buffer grows on ERANGE. Each getter has getpwnam_r's shape. */
typedef int (*lookup_fn)(const void *key, void *entry, char *buf, size_t size, void **res);

static int user_by_name(const void *key, void *entry, char *buf, size_t size, void **res)
{
    return getpwnam_r(key, entry, buf, size, (struct passwd **)res);
}

static int user_by_id(const void *key, void *entry, char *buf, size_t size, void **res)
{
    return getpwuid_r(*(const uid_t *)key, entry, buf, size, (struct passwd **)res);
}

static int group_by_name(const void *key, void *entry, char *buf, size_t size, void **res)
{
    return getgrnam_r(key, entry, buf, size, (struct group **)res);
}

/* Returns the entry (filled into `entry`, its strings in *buf, which the caller frees)
 * or NULL when there is none. "None" comes back as 0, ENOENT, ESRCH, EBADF or EPERM
 * depending on the NSS module (getpwnam_r(3)), so any failure reads as "not found". */
static void *lookup(lookup_fn fn, const void *key, void *entry, char **buf)
{
    void *res = NULL;
    int e = ERANGE;
    for (size_t size = 4096; e == ERANGE && size <= (1 << 20); size *= 2) {
        uf_free(*buf);
        *buf = uf_malloc(size);
        e = fn(key, entry, *buf, size, &res);
    }
    return e == 0 ? res : NULL;
}

int tun_user_lookup(const char *v, tun_user_t *u, char *why, size_t whylen)
{
    memset(u, 0, sizeof(*u));
    unsigned long n;
    bool number = decimal_id(v, &n);
    uid_t uid = (uid_t)n;
    struct passwd pw;
    char *buf = NULL;
    bool found = number ? lookup(user_by_id, &uid, &pw, &buf) != NULL
                        : lookup(user_by_name, v, &pw, &buf) != NULL;
    if (!found && !number) {
        uf_free(buf);
        snprintf(why, whylen, "is not a user on this system");
        return -1;
    }
    u->uid = found ? pw.pw_uid : uid;
    u->known = found;
    if (found) {
        u->gid = pw.pw_gid;
        snprintf(u->name, sizeof(u->name), "%s", pw.pw_name);
    }
    uf_free(buf);
    return 0;
}

int tun_group_lookup(const char *v, gid_t *gid, char *why, size_t whylen)
{
    unsigned long n;
    if (decimal_id(v, &n)) {
        *gid = (gid_t)n;
        return 0;
    }
    struct group gr;
    char *buf = NULL;
    bool found = lookup(group_by_name, v, &gr, &buf) != NULL;
    if (found)
        *gid = gr.gr_gid;
    uf_free(buf);
    if (!found)
        snprintf(why, whylen, "is not a group on this system");
    return found ? 0 : -1;
}

/* Digits of `base` only (Python's int() would also take underscores between digits; a
 * umask never needs them). */
static bool digits_of(const char *p, int base, unsigned long *out)
{
    static const char all[] = "0123456789abcdef";
    if (!*p)
        return false;
    unsigned long n = 0;
    for (; *p; p++) {
        const char *d = strchr(all, *p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        if (!d || d - all >= base)
            return false;
        n = n * (unsigned long)base + (unsigned long)(d - all);
        if (n > 0777)
            return false; /* also stops an overflow long before it could happen */
    }
    *out = n;
    return true;
}

int tun_mode_parse(const char *v, unsigned *mode, char *why, size_t whylen)
{
    unsigned long n;
    bool ok;
    if (v[0] == '0' && (v[1] == 'o' || v[1] == 'O'))
        ok = digits_of(v + 2, 8, &n);
    else if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
        ok = digits_of(v + 2, 16, &n);
    else if (v[0] == '0' && (v[1] == 'b' || v[1] == 'B'))
        ok = digits_of(v + 2, 2, &n);
    else if (v[0] == '0' && v[1])
        ok = digits_of(v + 1, 8, &n); /* gunicorn's command line: 022 is 0o22 */
    else
        ok = digits_of(v, 10, &n);
    if (!ok) {
        snprintf(why, whylen, "is not a mode from 0 to 0o777");
        return -1;
    }
    *mode = (unsigned)n;
    return 0;
}
