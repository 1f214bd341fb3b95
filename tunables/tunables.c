/* Tunables: the table in tunables/table.h expanded into the command-line and environment
 * parser, the validators, --help and docs/settings.md. */
#include "tunables/tunables.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/mem.h"
#include "tunables/table.h"

#ifndef UF_VERSION
#define UF_VERSION "0.0.0-dev"
#endif

#define ENV_PREFIX "UWSGI_FAST_"
#define DEFAULT_PORT 8000
#define HELP_WIDTH 100
#define HELP_INDENT 32
#define SHOWN_VALUE_MAX 80 /* longest user value quoted back in a message */

enum section_id {
#define X(id, title) SEC_##id,
    TUN_SECTIONS(X)
#undef X
        SEC_COUNT
};

static const char *const section_titles[SEC_COUNT] = {
#define X(id, title) title,
    TUN_SECTIONS(X)
#undef X
};

typedef struct setting {
    const char *name;
    enum tun_type type;
    char short_flag;
    const char *long_flag; /* NULL: the positional argument */
    const char *alias;
    const char *metavar;
    const char *env;
    const char *def;
    double min, max;
    unsigned flags;
    const char *compat_env;
    const char *compat_fmt;
    bool reload;
    enum section_id section;
    const char *help;
    size_t offset; /* of the field in tun_config_t */
} setting_t;

static const setting_t settings[] = {
#define X(name_, type_, short_, long_, alias_, metavar_, env_, def_, min_, max_, flags_,          \
          compat_, cfmt_, reload_, section_, help_)                                            \
    {.name = #name_, .type = TUN_T_##type_, .short_flag = short_, .long_flag = long_,            \
     .alias = alias_, .metavar = metavar_, .env = ENV_PREFIX #env_, .def = def_, .min = min_,    \
     .max = max_, .flags = flags_, .compat_env = compat_, .compat_fmt = cfmt_, .reload = reload_, \
     .section = SEC_##section_, .help = help_, .offset = offsetof(tun_config_t, name_)},
    TUN_SETTINGS(X)
#undef X
};

#define N_SETTINGS UF_ARRAY_LEN(settings)

/* Each row's field must have the C type its row's type implies, or the generic setters
 * below would write the wrong width. */
#define CTYPE_INT int
#define CTYPE_DOUBLE double
#define CTYPE_STRING char *
#define CTYPE_BOOL bool
#define CTYPE_PATHS char **
#define CTYPE_BINDS tun_bind_t *
#define CTYPE_LOGLEVEL int
#define X(name_, type_, ...)                                                                    \
    _Static_assert(_Generic(((tun_config_t *)0)->name_, CTYPE_##type_: 1, default: 0),         \
                   "tun_config_t." #name_ " is not of the C type of a " #type_ " setting");
TUN_SETTINGS(X)
#undef X

/* A list setting keeps its element count in the size_t right after its array pointer, so
 * the list setters can find it from the row's offset alone. A new list setting needs the
 * same layout and a line here. */
_Static_assert(offsetof(tun_config_t, pythonpath_count) ==
                   offsetof(tun_config_t, pythonpath) + sizeof(char **),
               "pythonpath_count must follow pythonpath");
_Static_assert(offsetof(tun_config_t, bind_count) ==
                   offsetof(tun_config_t, binds) + sizeof(tun_bind_t *),
               "bind_count must follow binds");

static const char *const log_levels[] = {
    [TUN_LOG_DEBUG] = "debug", [TUN_LOG_INFO] = "info",         [TUN_LOG_WARNING] = "warning",
    [TUN_LOG_ERROR] = "error", [TUN_LOG_CRITICAL] = "critical",
};

static const char *const type_names[] = {
    [TUN_T_INT] = "int",
    [TUN_T_DOUBLE] = "float",
    [TUN_T_STRING] = "string",
    [TUN_T_BOOL] = "bool",
    [TUN_T_PATHS] = "list of paths",
    [TUN_T_BINDS] = "list of addresses",
    [TUN_T_LOGLEVEL] = "log level",
};

/* Flags that are not settings. --print-settings-markdown is hidden: it exists to
 * regenerate docs/settings.md and is not offered to users or suggested for typos. */
static const char *const builtin_flags[] = {"help", "version"};

/* ---- small helpers ------------------------------------------------------------------ */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return TUN_ERROR;
}

static void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    char *p = buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* buf_t is not NUL-terminated; this makes it so without counting the NUL as content. */
static const char *buf_cstr(buf_t *b)
{
    *buf_reserve(b, 1) = 0;
    return b->data;
}

static void *field_of(const setting_t *s, tun_config_t *cfg) { return (char *)cfg + s->offset; }

static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* How a message names the setting: its long flag, or for the positional argument, what
 * it is. */
static void flag_name(const setting_t *s, char *out, size_t n)
{
    if (s->long_flag)
        snprintf(out, n, "--%s", s->long_flag);
    else
        snprintf(out, n, "application (%s)", s->metavar);
}

/* What a setting accepts, for error messages and the docs' "accepted" column. */
static void describe_accepted(const setting_t *s, buf_t *b)
{
    switch (s->type) {
    case TUN_T_INT:
        if (s->flags & TUN_F_POW2)
            buf_printf(b, "a power of two from %.0f to %.0f", s->min, s->max);
        else
            buf_printf(b, "%.0f to %.0f", s->min, s->max);
        break;
    case TUN_T_DOUBLE:
        buf_printf(b, "%g to %g", s->min, s->max);
        break;
    case TUN_T_STRING:
        if (s->flags & TUN_F_DIR)
            buf_append_str(b, "an existing directory");
        else if (!s->long_flag)
            buf_append_str(b, s->metavar);
        else if (s->flags & TUN_F_NONEMPTY)
            buf_append_str(b, "non-empty text");
        else
            buf_append_str(b, "any text");
        break;
    case TUN_T_BOOL:
        buf_append_str(b, "true, false, yes, no, on, off, 1, 0");
        break;
    case TUN_T_PATHS:
        buf_append_str(b, "directories, comma separated");
        break;
    case TUN_T_BINDS:
        buf_append_str(b, "HOST:PORT, [IPV6]:PORT, HOST (port 8000) or :PORT (all IPv4 "
                          "interfaces), with a port from 1 to 65535");
        break;
    case TUN_T_LOGLEVEL:
        for (size_t i = 0; i < UF_ARRAY_LEN(log_levels); i++)
            buf_printf(b, "%s%s", i ? ", " : "", log_levels[i]);
        break;
    }
}

/* Writes `fmt` with its one "%s" replaced by `value`. Done by hand rather than through
 * printf so that a format column can never be misread as more conversions. */
static void substitute(buf_t *b, const char *fmt, const char *value)
{
    const char *at = strstr(fmt, "%s");
    if (!at) {
        buf_append_str(b, fmt);
        return;
    }
    buf_append(b, fmt, (size_t)(at - fmt));
    buf_append_str(b, value);
    buf_append_str(b, at + 2);
}

/* The default as --help and the docs show it: never the value computed on this host, so
 * that docs/settings.md is the same everywhere. */
static void describe_default(const setting_t *s, buf_t *b)
{
    if (s->flags & TUN_F_REQUIRED) {
        buf_append_str(b, "required");
        return;
    }
    if (s->flags & TUN_F_CPUS)
        buf_append_str(b, "the number of CPUs available");
    else if (s->def)
        buf_append_str(b, s->def);
    else
        buf_append_str(b, "none");
    if (s->compat_env) {
        char var[64];
        snprintf(var, sizeof(var), "$%s", s->compat_env);
        buf_append_str(b, ", or ");
        substitute(b, s->compat_fmt, var);
        if (strcmp(s->compat_fmt, "%s") == 0)
            buf_append_str(b, " when set");
        else
            buf_printf(b, " when %s is set", s->compat_env);
    }
}

/* A value quoted back to the user, cut short so one absurd argument cannot swamp the line. */
#define SHOWN(v) (int)(strlen(v) > SHOWN_VALUE_MAX ? SHOWN_VALUE_MAX : strlen(v)), (v)

static int fail_value(const setting_t *s, const char *who, const char *value, const char *what,
                      char *err, size_t errlen)
{
    buf_t acc = {0};
    describe_accepted(s, &acc);
    fail(err, errlen, "%s: \"%.*s\" %s (accepted: %s)", who, SHOWN(value), what, buf_cstr(&acc));
    buf_free(&acc);
    return TUN_ERROR;
}

/* ---- value parsers: each returns 0, or TUN_ERROR with err filled ---------------------- */

static int parse_int(const setting_t *s, const char *v, int *out, const char *who, char *err,
                     size_t errlen)
{
    const char *digits = v + (*v == '+' || *v == '-');
    if (!*digits || strspn(digits, "0123456789") != strlen(digits))
        return fail_value(s, who, v, "is not a whole number", err, errlen);
    errno = 0;
    long long n = strtoll(v, NULL, 10);
    if (errno == ERANGE || n < (long long)s->min || n > (long long)s->max)
        return fail_value(s, who, v, "is out of range", err, errlen);
    if ((s->flags & TUN_F_POW2) && (n <= 0 || (n & (n - 1))))
        return fail_value(s, who, v, "is not a power of two", err, errlen);
    *out = (int)n;
    return 0;
}

static int parse_double(const setting_t *s, const char *v, double *out, const char *who,
                        char *err, size_t errlen)
{
    /* strtod alone would also take "inf", "nan", hex floats and leading blanks; a duration
     * is written in decimal. */
    char *end;
    if (!*v || strspn(v, "0123456789.eE+-") != strlen(v) || !strpbrk(v, "0123456789"))
        return fail_value(s, who, v, "is not a number", err, errlen);
    errno = 0;
    double d = strtod(v, &end);
    if (*end)
        return fail_value(s, who, v, "is not a number", err, errlen);
    if (errno == ERANGE || !isfinite(d) || d < s->min || d > s->max)
        return fail_value(s, who, v, "is out of range", err, errlen);
    *out = d;
    return 0;
}

static int parse_bool(const setting_t *s, const char *v, bool *out, const char *who, char *err,
                      size_t errlen)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < UF_ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return fail_value(s, who, v, "is not true or false", err, errlen);
}

static int parse_log_level(const setting_t *s, const char *v, int *out, const char *who,
                           char *err, size_t errlen)
{
    for (size_t i = 0; i < UF_ARRAY_LEN(log_levels); i++) {
        if (strcasecmp(v, log_levels[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return fail_value(s, who, v, "is not a log level", err, errlen);
}

static int parse_string(const setting_t *s, const char *v, char **out, const char *who,
                        char *err, size_t errlen)
{
    char *copy;
    if (!*v) {
        /* "" unsets an optional string, so `--virtualenv ""` can override $VIRTUAL_ENV. */
        if (s->flags & (TUN_F_NONEMPTY | TUN_F_REQUIRED))
            return fail_value(s, who, v, "is empty", err, errlen);
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
            return fail_value(s, who, v, what, err, errlen);
        }
        if (!S_ISDIR(st.st_mode))
            return fail_value(s, who, v, "is not a directory", err, errlen);
        char *real = realpath(v, NULL);
        if (!real) {
            char what[128];
            snprintf(what, sizeof(what), "cannot be resolved: %s", strerror(errno));
            return fail_value(s, who, v, what, err, errlen);
        }
        copy = uf_strdup(real);
        free(real); /* realpath allocates with libc malloc, not ours */
    } else {
        copy = uf_strdup(v);
    }
    uf_free(*out);
    *out = copy;
    return 0;
}

/* Splits a comma-separated value into trimmed, non-empty elements and calls fn on each.
 * Returns the number of elements, or TUN_ERROR if fn failed. */
static int for_each_element(const char *v, int (*fn)(void *ctx, const char *elem), void *ctx)
{
    int count = 0;
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len) {
            char *elem = uf_malloc(len + 1);
            memcpy(elem, p, len);
            elem[len] = 0;
            int rc = fn(ctx, elem);
            uf_free(elem);
            if (rc < 0)
                return TUN_ERROR;
            count++;
        }
        if (!comma)
            return count;
        p = comma + 1;
    }
}

typedef struct list_ctx {
    const setting_t *s;
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

/* Parses one listen address the way gunicorn reads --bind: "HOST:PORT", "[IPV6]:PORT",
 * "HOST" (port 8000), ":PORT" (all IPv4 interfaces), with an optional "tcp://" in front.
 * A host name is resolved now and the first IPv4 address preferred, as gunicorn's AF_INET
 * socket for a name would. On failure writes the reason (no setting name) into why. */
static int parse_bind(const char *spec, tun_bind_t *out, char *why, size_t whylen)
{
    char host[256];
    const char *port = NULL;
    bool bracketed = false;

    memset(out, 0, sizeof(*out));
    if (strlen(spec) >= sizeof(out->spec))
        return fail(why, whylen, "is too long");
    snprintf(out->spec, sizeof(out->spec), "%s", spec);

    const char *p = spec;
    if (strncmp(p, "tcp://", 6) == 0)
        p += 6;
    if (strncmp(p, "unix:", 5) == 0 || strncmp(p, "fd://", 5) == 0)
        return fail(why, whylen, "is not supported: only TCP addresses can be served");

    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close)
            return fail(why, whylen, "has no closing ]");
        size_t len = (size_t)(close - p - 1);
        if (len == 0 || len >= sizeof(host))
            return fail(why, whylen, "has no IPv6 address between [ and ]");
        memcpy(host, p + 1, len);
        host[len] = 0;
        bracketed = true;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return fail(why, whylen, "has \"%s\" after ] where :PORT belongs", close + 1);
    } else {
        const char *colon = strchr(p, ':');
        if (colon && strchr(colon + 1, ':'))
            return fail(why, whylen, "has more than one colon; write IPv6 addresses in "
                                     "brackets, e.g. [::1]:8000");
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len >= sizeof(host))
            return fail(why, whylen, "has a host name that is too long");
        memcpy(host, p, len);
        host[len] = 0;
        if (colon)
            port = colon + 1;
        if (!host[0]) {
            if (!colon)
                return fail(why, whylen, "is empty");
            strcpy(host, "0.0.0.0"); /* ":8000", as gunicorn binds ("", 8000) */
        }
    }

    long portnum = DEFAULT_PORT;
    if (port) {
        if (!*port)
            return fail(why, whylen, "has no port after the colon");
        if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
            return fail(why, whylen, "has a port \"%s\" that is not a number", port);
        portnum = strtol(port, NULL, 10);
        if (portnum < 1 || portnum > 65535)
            return fail(why, whylen, "has a port %ld outside 1 to 65535", portnum);
    }

    /* Numeric service always; a bracketed host must be a numeric IPv6 address, so no
     * lookup can leave the machine for it. */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
    if (bracketed)
        hints.ai_flags |= AI_NUMERICHOST;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%ld", portnum);
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        if (bracketed)
            return fail(why, whylen, "has \"%s\" between [ and ], which is not an IPv6 address",
                        host);
        return fail(why, whylen, "cannot be resolved: %s",
                    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    }
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
    for (const struct addrinfo *ai = res; ai && !pick; ai = ai->ai_next)
        if (ai->ai_family == AF_INET6)
            pick = ai;
    if (!pick || pick->ai_addrlen > sizeof(out->addr)) {
        freeaddrinfo(res);
        return fail(why, whylen, "resolves to no IPv4 or IPv6 address");
    }
    memcpy(&out->addr, pick->ai_addr, pick->ai_addrlen);
    out->addrlen = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int append_bind(void *ctx, const char *elem)
{
    list_ctx_t *c = ctx;
    tun_bind_t **items = c->field;
    size_t *count = (size_t *)((char *)c->field + sizeof(tun_bind_t *));
    tun_bind_t b;
    char why[256];
    if (parse_bind(elem, &b, why, sizeof(why)) < 0)
        return fail_value(c->s, c->who, elem, why, c->err, c->errlen);
    *items = uf_realloc(*items, (*count + 1) * sizeof(tun_bind_t));
    (*items)[(*count)++] = b;
    return 0;
}

/* Parses `v` as setting s into its field of cfg. Scalars are replaced; lists are extended,
 * because a setting takes its value from one source only (see tun_parse) and a list from
 * the command line is built by repeating the flag. `who` names the source in messages. */
static int set_value(const setting_t *s, tun_config_t *cfg, const char *v, const char *who,
                     char *err, size_t errlen)
{
    void *field = field_of(s, cfg);
    list_ctx_t list = {s, field, who, err, errlen};
    int n;
    switch (s->type) {
    case TUN_T_INT:
        return parse_int(s, v, field, who, err, errlen);
    case TUN_T_DOUBLE:
        return parse_double(s, v, field, who, err, errlen);
    case TUN_T_STRING:
        return parse_string(s, v, field, who, err, errlen);
    case TUN_T_BOOL:
        return parse_bool(s, v, field, who, err, errlen);
    case TUN_T_LOGLEVEL:
        return parse_log_level(s, v, field, who, err, errlen);
    case TUN_T_PATHS:
        n = for_each_element(v, append_path, &list);
        return n < 0 ? TUN_ERROR : 0;
    case TUN_T_BINDS:
        n = for_each_element(v, append_bind, &list);
        if (n == 0)
            return fail_value(s, who, v, "is not an address", err, errlen);
        return n < 0 ? TUN_ERROR : 0;
    }
    return fail(err, errlen, "%s: setting of unknown type", who);
}

/* ---- the environment and defaults ------------------------------------------------------ */

/* CPUs in our affinity mask, which is what a container's cpuset or `taskset` leaves us,
 * rather than the CPUs the machine has. The mask is grown for hosts beyond 1024 CPUs. */
static int cpus_available(void)
{
    for (int ncpu = 1024; ncpu <= 1 << 16; ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpu);
        if (!set)
            break;
        size_t size = CPU_ALLOC_SIZE(ncpu);
        if (sched_getaffinity(0, size, set) == 0) {
            int n = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return n > 0 ? n : 1;
        }
        CPU_FREE(set);
        if (errno != EINVAL)
            break;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Gives a setting the command line did not set its value from the highest layer that has
 * one: UWSGI_FAST_<NAME>, then the compat variable, then the default. An empty variable
 * counts as unset, as shells and container specs often leave them. */
static int apply_below_cli(const setting_t *s, tun_config_t *cfg, char **envp, char *err,
                           size_t errlen)
{
    char flag[96], who[192];
    flag_name(s, flag, sizeof(flag));

    const char *v = env_get(envp, s->env);
    if (v && *v) {
        snprintf(who, sizeof(who), "%s (%s)", s->env, flag);
        return set_value(s, cfg, v, who, err, errlen);
    }
    if (s->compat_env && (v = env_get(envp, s->compat_env)) && *v) {
        buf_t value = {0};
        substitute(&value, s->compat_fmt, v);
        snprintf(who, sizeof(who), "%s (%s)", s->compat_env, flag);
        int rc = set_value(s, cfg, buf_cstr(&value), who, err, errlen);
        buf_free(&value);
        return rc;
    }
    if (s->flags & TUN_F_CPUS) {
        int n = cpus_available();
        *(int *)field_of(s, cfg) = n < s->min ? (int)s->min : n > s->max ? (int)s->max : n;
        return 0;
    }
    if (s->def) {
        snprintf(who, sizeof(who), "default of %s", flag);
        return set_value(s, cfg, s->def, who, err, errlen);
    }
    return 0;
}

/* ---- the command line ------------------------------------------------------------------- */

/* Optimal string alignment distance (edits, with adjacent swaps counting one), used only to
 * suggest a flag for a typo; names are short, so a fixed matrix suffices. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    enum { MAX = 64 };
    if (la >= MAX || lb >= MAX)
        return (size_t)-1;
    size_t d[MAX][MAX];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* The long flag closest to name[0, len), or NULL if none is close enough to be a typo:
 * at most a third of the name's letters may be wrong (at least one, at most three). */
static const char *closest_flag(const char *name, size_t len)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    const char *cands[2 * N_SETTINGS + UF_ARRAY_LEN(builtin_flags)];
    size_t n = 0;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (settings[i].long_flag)
            cands[n++] = settings[i].long_flag;
        if (settings[i].alias)
            cands[n++] = settings[i].alias;
    }
    for (size_t i = 0; i < UF_ARRAY_LEN(builtin_flags); i++)
        cands[n++] = builtin_flags[i];
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(name, len, cands[i], strlen(cands[i]));
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    size_t limit = len / 3;
    limit = limit < 1 ? 1 : limit > 3 ? 3 : limit;
    return best_d <= limit ? best : NULL;
}

static int find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *l = settings[i].long_flag, *a = settings[i].alias;
        if (l && strlen(l) == len && memcmp(l, name, len) == 0)
            return (int)i;
        if (a && strlen(a) == len && memcmp(a, name, len) == 0)
            return (int)i;
    }
    return -1;
}

/* The setting given as the bare argument (the application). */
static int positional_index(void)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!settings[i].long_flag)
            return (int)i;
    UF_ASSERT(!"the table has a positional setting");
    return -1;
}

static int find_short(char c)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (c && settings[i].short_flag == c)
            return (int)i;
    return -1;
}

/* Whether a following argument is another option rather than this flag's value. "-" (the
 * stderr log file) and negative numbers are values, so they go through validation and get
 * a message about the value instead of a baffling "needs a value". */
static bool looks_like_option(const char *a)
{
    return a[0] == '-' && a[1] && !isdigit((unsigned char)a[1]) && a[1] != '.';
}

typedef struct cli_value {
    int setting;
    const char *value; /* borrowed from argv, or a literal */
} cli_value_t;

static int fail_missing(const setting_t *s, char *err, size_t errlen)
{
    buf_t acc = {0};
    describe_accepted(s, &acc);
    fail(err, errlen, "--%s needs a value (accepted: %s)", s->long_flag, buf_cstr(&acc));
    buf_free(&acc);
    return TUN_ERROR;
}

static int fail_unknown(const char *arg, size_t len, char *err, size_t errlen)
{
    if (arg[1] == '-') {
        const char *near = closest_flag(arg + 2, len - 2);
        if (near)
            return fail(err, errlen, "unknown option %.*s; did you mean --%s?", (int)len, arg,
                        near);
    }
    return fail(err, errlen, "unknown option %.*s (see --help)", (int)len, arg);
}

enum { ACT_NONE, ACT_HELP, ACT_VERSION, ACT_MARKDOWN };

/* Reads argv into (setting, value) pairs without interpreting the values, so that the
 * environment layer below can be skipped for exactly the settings the command line sets.
 * --help, --version and an unknown flag act as soon as they are reached, as in argparse:
 * `--help` works even when the environment holds a bad value. */
static int scan_argv(int argc, char **argv, cli_value_t *vals, size_t *nvals, int *action,
                     char *err, size_t errlen)
{
    bool options_done = false;
    *nvals = 0;
    *action = ACT_NONE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = NULL;
        int idx;

        if (options_done || a[0] != '-' || !a[1]) {
            idx = positional_index();
            for (size_t k = 0; k < *nvals; k++)
                if (vals[k].setting == idx)
                    return fail(err, errlen,
                                "unexpected argument \"%.*s\": the application is already "
                                "\"%.*s\"",
                                SHOWN(a), SHOWN(vals[k].value));
            vals[(*nvals)++] = (cli_value_t){idx, a};
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }

        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const char *builtin = NULL;
            if (len == 4 && memcmp(name, "help", 4) == 0)
                *action = ACT_HELP, builtin = "help";
            else if (len == 7 && memcmp(name, "version", 7) == 0)
                *action = ACT_VERSION, builtin = "version";
            else if (len == 23 && memcmp(name, "print-settings-markdown", 23) == 0)
                *action = ACT_MARKDOWN, builtin = "print-settings-markdown";
            if (builtin) {
                if (eq)
                    return fail(err, errlen, "--%s takes no value", builtin);
                return 0;
            }
            idx = find_long(name, len);
            if (idx < 0)
                return fail_unknown(a, (size_t)(len + 2), err, errlen);
            if (eq)
                value = eq + 1;
            else if (settings[idx].type == TUN_T_BOOL)
                value = "true"; /* a bare boolean flag switches it on */
        } else {
            if (a[1] == 'h' && !a[2]) {
                *action = ACT_HELP;
                return 0;
            }
            if (a[1] == 'v' && !a[2]) {
                *action = ACT_VERSION;
                return 0;
            }
            idx = find_short(a[1]);
            if (idx < 0)
                return fail_unknown(a, 2, err, errlen);
            if (a[2]) /* -w4, and -w=4 as argparse also reads it */
                value = a[2] == '=' ? a + 3 : a + 2;
            else if (settings[idx].type == TUN_T_BOOL)
                value = "true";
        }
        if (!value) {
            if (i + 1 >= argc || looks_like_option(argv[i + 1]))
                return fail_missing(&settings[idx], err, errlen);
            value = argv[++i];
        }
        vals[(*nvals)++] = (cli_value_t){idx, value};
    }
    return 0;
}

/* Two listeners on one address would fail at bind() in the master with a bare EADDRINUSE;
 * naming both specs here says which flags to fix. */
static int check_binds(const tun_config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->bind_count; i++)
        for (size_t j = i + 1; j < cfg->bind_count; j++) {
            const tun_bind_t *a = &cfg->binds[i], *b = &cfg->binds[j];
            if (a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0)
                return fail(err, errlen, "--bind: \"%s\" and \"%s\" are the same address",
                            a->spec, b->spec);
        }
    return 0;
}

int tun_parse(tun_config_t *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
              size_t errlen)
{
    bool from_cli[N_SETTINGS] = {false};
    cli_value_t *vals = uf_calloc((size_t)(argc > 0 ? argc : 1), sizeof(*vals));
    size_t nvals = 0;
    int action, rc;

    memset(cfg, 0, sizeof(*cfg));
    if (err && errlen)
        err[0] = 0;
    if (!out)
        out = stdout;

    rc = scan_argv(argc, argv, vals, &nvals, &action, err, errlen);
    if (rc < 0)
        goto out;
    if (action != ACT_NONE) {
        if (action == ACT_HELP)
            tun_write_help(out);
        else if (action == ACT_VERSION)
            fprintf(out, "uwsgi-fast %s\n", UF_VERSION);
        else
            tun_write_markdown(out);
        fflush(out);
        rc = TUN_EXIT;
        goto out;
    }

    for (size_t k = 0; k < nvals; k++)
        from_cli[vals[k].setting] = true;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (from_cli[i])
            continue;
        rc = apply_below_cli(&settings[i], cfg, envp, err, errlen);
        if (rc < 0)
            goto out;
    }
    for (size_t k = 0; k < nvals; k++) {
        char who[96];
        flag_name(&settings[vals[k].setting], who, sizeof(who));
        rc = set_value(&settings[vals[k].setting], cfg, vals[k].value, who, err, errlen);
        if (rc < 0)
            goto out;
    }

    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        if ((s->flags & TUN_F_REQUIRED) && s->type == TUN_T_STRING &&
            !*(char **)field_of(s, cfg)) {
            if (!s->long_flag)
                rc = fail(err, errlen,
                          "no application given: name it as %s, e.g. uwsgi-fast "
                          "myproject.wsgi:application (or set %s)",
                          s->metavar, s->env);
            else
                rc = fail(err, errlen, "--%s is required (or set %s)", s->long_flag, s->env);
            goto out;
        }
    }
    rc = check_binds(cfg, err, errlen);
out:
    uf_free(vals);
    if (rc != TUN_OK)
        tun_config_free(cfg);
    return rc;
}

void tun_config_free(tun_config_t *cfg)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        void *field = field_of(s, cfg);
        switch (s->type) {
        case TUN_T_STRING:
            uf_free(*(char **)field);
            break;
        case TUN_T_PATHS: {
            char **items = *(char ***)field;
            size_t count = *(size_t *)((char *)field + sizeof(char **));
            for (size_t k = 0; k < count; k++)
                uf_free(items[k]);
            uf_free(items);
            break;
        }
        case TUN_T_BINDS:
            uf_free(*(tun_bind_t **)field);
            break;
        default:
            break;
        }
    }
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- --help ------------------------------------------------------------------------------ */

/* Appends text to a help entry, wrapping at HELP_WIDTH with continuation lines indented to
 * HELP_INDENT. An atomic piece ("(default: …)", "[env: …]") is kept on one line, so a
 * reader grepping for an environment variable finds it whole, unless it could not fit on
 * any line. */
static void wrap(buf_t *b, size_t *col, const char *text, bool atomic)
{
    const char *p = text;
    if (strlen(text) > HELP_WIDTH - HELP_INDENT)
        atomic = false;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = atomic ? strlen(p) : strcspn(p, " ");
        if (*col > HELP_INDENT && *col + 1 + len > HELP_WIDTH) {
            buf_printf(b, "\n%*s", HELP_INDENT, "");
            *col = HELP_INDENT;
        } else if (*col > HELP_INDENT) {
            buf_append_str(b, " ");
            (*col)++;
        }
        buf_append(b, p, len);
        *col += len;
        p += len;
    }
}

static void help_entry(buf_t *b, const char *flags, const char *text, const char *deflt,
                       const char *env)
{
    size_t col = 2 + strlen(flags);
    buf_printf(b, "  %s", flags);
    if (col + 2 > HELP_INDENT) {
        buf_printf(b, "\n%*s", HELP_INDENT, "");
    } else {
        buf_printf(b, "%*s", (int)(HELP_INDENT - col), "");
    }
    col = HELP_INDENT;
    wrap(b, &col, text, false);
    if (deflt)
        wrap(b, &col, deflt, true);
    if (env)
        wrap(b, &col, env, true);
    buf_append_str(b, "\n");
}

static void help_flags(const setting_t *s, buf_t *b)
{
    if (!s->long_flag) {
        buf_append_str(b, s->metavar);
        return;
    }
    if (s->short_flag)
        buf_printf(b, "-%c, ", s->short_flag);
    else
        buf_append_str(b, "    ");
    buf_printf(b, "--%s", s->long_flag);
    if (s->alias)
        buf_printf(b, ", --%s", s->alias);
    if (s->type != TUN_T_BOOL)
        buf_printf(b, " %s", s->metavar);
}

void tun_write_help(FILE *out)
{
    buf_t b = {0};
    buf_append_str(&b,
                   "usage: uwsgi-fast [OPTIONS] MODULE:CALLABLE\n"
                   "\n"
                   "Serves the Python WSGI application MODULE:CALLABLE over HTTP/1.1 from "
                   "pre-forked workers,\n"
                   "each with its own io_uring ring. Options follow gunicorn's names and "
                   "meanings.\n"
                   "\n"
                   "Every setting can also come from the environment variable shown beside "
                   "it; the command\n"
                   "line wins over the environment, which wins over the default. Values are "
                   "given as\n"
                   "--flag VALUE or --flag=VALUE, and -w 4 or -w4.\n");
    for (int sec = 0; sec < SEC_COUNT; sec++) {
        buf_printf(&b, "\n%s:\n", section_titles[sec]);
        for (size_t i = 0; i < N_SETTINGS; i++) {
            const setting_t *s = &settings[i];
            if ((int)s->section != sec)
                continue;
            buf_t flags = {0}, deflt = {0}, env = {0};
            help_flags(s, &flags);
            if (s->flags & TUN_F_REQUIRED) {
                buf_append_str(&deflt, "(required)");
            } else {
                buf_append_str(&deflt, "(default: ");
                describe_default(s, &deflt);
                buf_append_str(&deflt, ")");
            }
            buf_printf(&env, "[env: %s]", s->env);
            help_entry(&b, buf_cstr(&flags), s->help, buf_cstr(&deflt), buf_cstr(&env));
            buf_free(&flags);
            buf_free(&deflt);
            buf_free(&env);
        }
    }
    buf_append_str(&b, "\nOther options:\n");
    help_entry(&b, "-h, --help", "show this help and exit", NULL, NULL);
    help_entry(&b, "-v, --version", "print the version and exit", NULL, NULL);
    fwrite(b.data, 1, b.len, out);
    buf_free(&b);
}

/* ---- docs/settings.md ------------------------------------------------------------------ */

/* Appends text escaped for a Markdown table cell. */
static void md_cell(buf_t *b, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|')
            buf_append_str(b, "\\|");
        else if (*p == '\n')
            buf_append_str(b, " ");
        else
            buf_append(b, p, 1);
    }
}

static void md_code(buf_t *b, const char *text)
{
    buf_append_str(b, "`");
    md_cell(b, text);
    buf_append_str(b, "`");
}

void tun_write_markdown(FILE *out)
{
    buf_t b = {0};
    buf_append_str(
        &b,
        "# Settings\n"
        "\n"
        "<!-- Generated from tunables/table.h by `uwsgi-fast --print-settings-markdown`; "
        "do not edit by hand. -->\n"
        "\n"
        "Every setting can be given on the command line or in the environment. The command "
        "line\n"
        "wins over the environment, which wins over the default. A list given on the command "
        "line\n"
        "replaces the list from the environment. Flags take their value as `--flag VALUE` or\n"
        "`--flag=VALUE`, short flags as `-w 4` or `-w4`. An empty environment variable counts "
        "as\n"
        "unset.\n"
        "\n"
        "A value that is not accepted stops uwsgi-fast at start with one line naming the "
        "setting and\n"
        "what it accepts, and exit status 2.\n"
        "\n"
        "*Reloadable* settings take their new value on a graceful reload (`kill -HUP` on the "
        "master);\n"
        "the others need a restart.\n");
    for (int sec = 0; sec < SEC_COUNT; sec++) {
        buf_printf(&b, "\n## %s\n\n", section_titles[sec]);
        buf_append_str(&b, "| setting | flags | environment | type | default | accepted | "
                           "reloadable | description |\n");
        buf_append_str(&b, "|---|---|---|---|---|---|---|---|\n");
        for (size_t i = 0; i < N_SETTINGS; i++) {
            const setting_t *s = &settings[i];
            if ((int)s->section != sec)
                continue;
            buf_t cell = {0};
            buf_append_str(&b, "| ");
            md_code(&b, s->name);
            buf_append_str(&b, " | ");
            if (!s->long_flag) {
                md_code(&b, s->metavar);
                buf_append_str(&b, " (positional)");
            } else {
                if (s->short_flag) {
                    buf_printf(&cell, "-%c", s->short_flag);
                    md_code(&b, buf_cstr(&cell));
                    buf_append_str(&b, ", ");
                    cell.len = 0;
                }
                const char *mv = s->type == TUN_T_BOOL ? "" : s->metavar;
                buf_printf(&cell, "--%s%s%s", s->long_flag, *mv ? " " : "", mv);
                md_code(&b, buf_cstr(&cell));
                if (s->alias) {
                    cell.len = 0;
                    buf_printf(&cell, "--%s%s%s", s->alias, *mv ? " " : "", mv);
                    buf_append_str(&b, ", ");
                    md_code(&b, buf_cstr(&cell));
                }
            }
            buf_append_str(&b, " | ");
            md_code(&b, s->env);
            buf_append_str(&b, " | ");
            md_cell(&b, type_names[s->type]);
            buf_append_str(&b, " | ");
            cell.len = 0;
            describe_default(s, &cell);
            md_cell(&b, buf_cstr(&cell));
            buf_append_str(&b, " | ");
            cell.len = 0;
            describe_accepted(s, &cell);
            md_cell(&b, buf_cstr(&cell));
            buf_append_str(&b, " | ");
            buf_append_str(&b, s->reload ? "yes" : "no");
            buf_append_str(&b, " | ");
            md_cell(&b, s->help);
            buf_append_str(&b, " |\n");
            buf_free(&cell);
        }
    }
    fwrite(b.data, 1, b.len, out);
    buf_free(&b);
}
