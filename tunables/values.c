/* Values: each setting's text parsed into its typed field (see values.h). Each parser
 * returns 0, or TUN_ERROR with err filled. */
#include "tunables/values.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/net.h"
#include "tunables/bind.h"
#include "tunables/host.h"
#include "tunables/ids.h"
#include "tunables/text.h"

/* The default of --workers, and what `auto` starts from. */
int tun_usable_cpus(void)
{
    tun_host_t h;
    if (tun_host_read("/", &h) < 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (int)n : 1;
    }
    int n = tun_host_usable_cpus(&h);
    tun_host_free(&h);
    return n;
}

static int parse_integer(const tun_setting_t *s, const char *v, long long *out, const char *who,
                         char *err, size_t errlen)
{
    const char *digits = v + (*v == '+' || *v == '-');
    if (!*digits || strspn(digits, "0123456789") != strlen(digits))
        return tun_fail_value(s, who, v, "is not a whole number", err, errlen);
    errno = 0;
    long long n = strtoll(v, NULL, 10);
    if (errno == ERANGE || n < (long long)s->min || n > (long long)s->max)
        return tun_fail_value(s, who, v, "is out of range", err, errlen);
    if ((s->flags & TUN_F_POW2) && (n <= 0 || (n & (n - 1))))
        return tun_fail_value(s, who, v, "is not a power of two", err, errlen);
    *out = n;
    return 0;
}

static int parse_int(const tun_setting_t *s, const char *v, int *out, const char *who, char *err,
                     size_t errlen)
{
    long long n;
    bool *is_auto = (s->flags & TUN_F_AUTO) ? (bool *)((char *)out + sizeof(int)) : NULL;
    if (is_auto && strcasecmp(v, "auto") == 0) {
        /* The master lowers this bound to what fits in memory (tun_plan_workers). */
        int cpus = tun_usable_cpus();
        *out = cpus < s->min ? (int)s->min : cpus > s->max ? (int)s->max : cpus;
        *is_auto = true;
        return 0;
    }
    if (parse_integer(s, v, &n, who, err, errlen) < 0)
        return TUN_ERROR;
    *out = (int)n;
    if (is_auto)
        *is_auto = false;
    return 0;
}

static int parse_double(const tun_setting_t *s, const char *v, double *out, const char *who,
                        char *err, size_t errlen)
{
    /* strtod alone would also take "inf", "nan", hex floats and leading blanks; a duration
     * is written in decimal. */
    char *end;
    if (!*v || strspn(v, "0123456789.eE+-") != strlen(v) || !strpbrk(v, "0123456789"))
        return tun_fail_value(s, who, v, "is not a number", err, errlen);
    errno = 0;
    double d = strtod(v, &end);
    if (*end)
        return tun_fail_value(s, who, v, "is not a number", err, errlen);
    if (errno == ERANGE || !isfinite(d) || d < s->min || d > s->max)
        return tun_fail_value(s, who, v, "is out of range", err, errlen);
    *out = d;
    return 0;
}

int tun_bool_word(const char *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < UF_ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* v is `word` as gunicorn compares its choice settings: stripped, ignoring case. */
static bool word_is(const char *v, const char *word)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return strlen(word) == n && strncasecmp(v, word, n) == 0;
}

int tun_proxy_protocol_word(const char *v)
{
    static const struct {
        const char *word;
        int versions;
    } words[] = {
        {"off", 0},
        {"false", 0},
        {"0", 0},
        {"none", 0},
        {"auto", TUN_PROXY_V1 | TUN_PROXY_V2},
        {"true", TUN_PROXY_V1 | TUN_PROXY_V2},
        {"1", TUN_PROXY_V1 | TUN_PROXY_V2},
        {"v1", TUN_PROXY_V1},
        {"v2", TUN_PROXY_V2},
    };
    for (size_t i = 0; i < UF_ARRAY_LEN(words); i++)
        if (word_is(v, words[i].word))
            return words[i].versions;
    return -1;
}

/* --protocol's words as gunicorn takes them (stripped, any case): the canonical word, or
 * NULL for anything else. */
static const char *protocol_word(const char *v)
{
    static const char *const words[] = {"http", "uwsgi"};
    for (size_t i = 0; i < UF_ARRAY_LEN(words); i++)
        if (word_is(v, words[i]))
            return words[i];
    return NULL;
}

const char *tun_proxy_protocol_name(unsigned versions)
{
    static const char *const names[] = {"off", "v1", "v2", "auto"};
    return names[versions & 3];
}

static int parse_bool(const tun_setting_t *s, const char *v, bool *out, const char *who, char *err,
                      size_t errlen)
{
    int b = tun_bool_word(v);
    if (b < 0)
        return tun_fail_value(s, who, v, "is not true or false", err, errlen);
    *out = b;
    return 0;
}

static int parse_log_level(const tun_setting_t *s, const char *v, int *out, const char *who,
                           char *err, size_t errlen)
{
    for (size_t i = 0; i < LOG_LEVEL_COUNT; i++) {
        if (strcasecmp(v, tun_log_levels[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return tun_fail_value(s, who, v, "is not a log level", err, errlen);
}

/* An IPLIST: items "*", an IPv4 or IPv6 address, or one with /BITS. */
static bool valid_netlist(const char *v)
{
    tun_netlist_t l;
    if (tun_netlist_parse(v, &l) < 0)
        return false;
    tun_netlist_free(&l);
    return true;
}

/* A PAIRS list: items NAME=VALUE, both non-empty and short. */
static bool valid_pairs(const char *v)
{
    tun_pairs_t l;
    if (tun_pairs_parse(v, &l) < 0)
        return false;
    tun_pairs_free(&l);
    return true;
}

static int parse_string(const tun_setting_t *s, const char *v, char **out, const char *who,
                        char *err, size_t errlen)
{
    char *copy;
    if (!*v) {
        /* "" unsets an optional string, so `--virtualenv ""` can override $VIRTUAL_ENV. */
        if (s->flags & (TUN_F_NONEMPTY | TUN_F_REQUIRED))
            return tun_fail_value(s, who, v, "is empty", err, errlen);
        uf_free(*out);
        *out = NULL;
        return 0;
    }
    if (s->flags & TUN_F_DIR) {
        /* Checked now so a typo stops the master at start instead of every worker later;
         * stored absolute because relative paths would otherwise be read against
         * whatever directory the process is in when they are used (after --chdir). */
        struct stat st;
        if (stat(v, &st) < 0) {
            char what[128];
            if (errno == ENOENT)
                snprintf(what, sizeof(what), "does not exist");
            else if (errno == ENOTDIR)
                snprintf(what, sizeof(what), "is not a directory");
            else
                snprintf(what, sizeof(what), "cannot be checked: %s", strerror(errno));
            return tun_fail_value(s, who, v, what, err, errlen);
        }
        if (!S_ISDIR(st.st_mode))
            return tun_fail_value(s, who, v, "is not a directory", err, errlen);
        char *real = realpath(v, NULL);
        if (!real) {
            char what[128];
            snprintf(what, sizeof(what), "cannot be resolved: %s", strerror(errno));
            return tun_fail_value(s, who, v, what, err, errlen);
        }
        copy = uf_strdup(real);
        free(real); /* realpath allocates with libc malloc, not ours */
    } else {
        /* Lists the workers read are checked here, so a typo stops the master at start
         * rather than every worker at boot. */
        if ((s->flags & TUN_F_IPLIST) && !valid_netlist(v))
            return tun_fail_value(s, who, v, "has an item that is not *, an address or a network",
                                  err, errlen);
        if ((s->flags & TUN_F_PAIRS) && !valid_pairs(v))
            return tun_fail_value(s, who, v, "has an item that is not HEADER=VALUE", err, errlen);
        int versions = (s->flags & TUN_F_PPMODE) ? tun_proxy_protocol_word(v) : 0;
        if (versions < 0)
            return tun_fail_value(s, who, v, "is not a PROXY protocol mode", err, errlen);
        const char *protocol = (s->flags & TUN_F_PROTOCOL) ? protocol_word(v) : NULL;
        if ((s->flags & TUN_F_PROTOCOL) && !protocol)
            return tun_fail_value(s, who, v, "is not http or uwsgi", err, errlen);
        /* an unknown user or group stops the master here, before it binds anything */
        char why[128];
        tun_user_t user;
        gid_t gid;
        unsigned mode;
        if (((s->flags & TUN_F_USER) && tun_user_lookup(v, &user, why, sizeof(why)) < 0) ||
            ((s->flags & TUN_F_GROUP) && tun_group_lookup(v, &gid, why, sizeof(why)) < 0) ||
            ((s->flags & TUN_F_MODE) && tun_mode_parse(v, &mode, why, sizeof(why)) < 0))
            return tun_fail_value(s, who, v, why, err, errlen);
        copy = uf_strdup(protocol                    ? protocol
                         : (s->flags & TUN_F_PPMODE) ? tun_proxy_protocol_name((unsigned)versions)
                                                     : v);
    }
    uf_free(*out);
    *out = copy;
    return 0;
}

typedef struct element_ctx {
    int (*fn)(void *ctx, const char *elem);
    void *ctx;
    int count;
} element_ctx_t;

static int call_with_element(void *arg, const char *item, size_t len)
{
    element_ctx_t *e = arg;
    char *elem = uf_strndup(item, len);
    int rc = e->fn(e->ctx, elem);
    uf_free(elem);
    if (rc < 0)
        return TUN_ERROR;
    e->count++;
    return 0;
}

/* Splits a comma-separated value into trimmed, non-empty elements and calls fn on each,
 * as a NUL-terminated copy. Returns the number of elements, or TUN_ERROR if fn failed. */
static int for_each_element(const char *v, int (*fn)(void *ctx, const char *elem), void *ctx)
{
    element_ctx_t e = {fn, ctx, 0};
    return net_for_each_item(v, call_with_element, &e) ? TUN_ERROR : e.count;
}

typedef struct list_ctx {
    const tun_setting_t *s;
    void *field; /* the array pointer; its count follows it (see the asserts above) */
    const char *who;
    char *err;
    size_t errlen;
} list_ctx_t;

static int append_path(void *ctx, const char *elem)
{
    list_ctx_t *c = ctx;
    char ***items = c->field;
    size_t *count = (size_t *)((char *)c->field + sizeof(char **));
    *items = uf_realloc(*items, (*count + 1) * sizeof(char *));
    (*items)[(*count)++] = uf_strdup(elem);
    return 0;
}

static int append_bind(void *ctx, const char *elem)
{
    list_ctx_t *c = ctx;
    tun_bind_t **items = c->field;
    size_t *count = (size_t *)((char *)c->field + sizeof(tun_bind_t *));
    tun_bind_t b;
    char why[256];
    if (tun_bind_parse(elem, &b, why, sizeof(why)) < 0)
        return tun_fail_value(c->s, c->who, elem, why, c->err, c->errlen);
    *items = uf_realloc(*items, (*count + 1) * sizeof(tun_bind_t));
    (*items)[(*count)++] = b;
    return 0;
}

int tun_set_value(const tun_setting_t *s, tun_config_t *cfg, const char *v, const char *who,
                  char *err, size_t errlen)
{
    void *field = tun_field(s, cfg);
    list_ctx_t list = {s, field, who, err, errlen};
    long long ll;
    int n;
    switch (s->type) {
    case TUN_T_INT:
        return parse_int(s, v, field, who, err, errlen);
    case TUN_T_INT64:
        if (parse_integer(s, v, &ll, who, err, errlen) < 0)
            return TUN_ERROR;
        *(long long *)field = ll;
        return 0;
    case TUN_T_DOUBLE:
        return parse_double(s, v, field, who, err, errlen);
    case TUN_T_STRING:
        return parse_string(s, v, field, who, err, errlen);
    case TUN_T_BOOL:
        return parse_bool(s, v, field, who, err, errlen);
    case TUN_T_LOGLEVEL:
        return parse_log_level(s, v, field, who, err, errlen);
    case TUN_T_PATHS:
        if (s->flags & TUN_F_NOSPLIT) {
            /* an environment variable's value may hold commas: one flag, one element */
            const char *eq = strchr(v, '=');
            if ((s->flags & TUN_F_PAIRS) && (!eq || eq == v))
                return tun_fail_value(s, who, v, "is not NAME=VALUE", err, errlen);
            return append_path(&list, v);
        }
        n = for_each_element(v, append_path, &list);
        return n < 0 ? TUN_ERROR : 0;
    case TUN_T_BINDS:
        n = for_each_element(v, append_bind, &list);
        if (n == 0)
            return tun_fail_value(s, who, v, "is not an address", err, errlen);
        return n < 0 ? TUN_ERROR : 0;
    }
    return tun_fail(err, errlen, "%s: setting of unknown type", who);
}

void tun_clear_list(const tun_setting_t *s, tun_config_t *cfg)
{
    void *field = tun_field(s, cfg);
    size_t *count = (size_t *)((char *)field + sizeof(void *));
    if (s->type == TUN_T_PATHS) {
        char **items = *(char ***)field;
        for (size_t k = 0; k < *count; k++)
            uf_free(items[k]);
    }
    uf_free(*(void **)field);
    *(void **)field = NULL;
    *count = 0;
}
