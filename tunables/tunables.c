/* Tunables: the table in tunables/table.h expanded into the layered parser (command line,
 * UWSGI_FAST_CMD_ARGS, environment, config file, defaults), the validators, --help,
 * --print-config, --check-config and docs/settings.md. */
#include "tunables/tunables.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"
#include "common/net.h"
#include "tunables/host.h"
#include "tunables/pyconfig.h"
#include "tunables/table.h"
#include "tunables/toml.h"

#ifndef UF_VERSION
#define UF_VERSION "0.0.0-dev"
#endif

/* The interpreter that runs a gunicorn.conf.py when no virtualenv is configured. The
 * build may pin it to the interpreter whose libpython is embedded (-DUF_PYTHON=...). */
#ifndef UF_PYTHON
#define UF_PYTHON "python3"
#endif

#define ENV_PREFIX "UWSGI_FAST_"
#define CMD_ARGS_ENV "UWSGI_FAST_CMD_ARGS"
#define DEFAULT_PORT 8000
#define HELP_WIDTH 100
#define HELP_INDENT 32
#define SHOWN_VALUE_MAX 80 /* longest user value quoted back in a message */
#define CONFIG_MAX (1 << 20)
#define TOML_DEFAULT_FILE "uwsgi-fast.toml"
#define PY_DEFAULT_FILE "gunicorn.conf.py"
#define PRINT_COLUMN 44 /* where --print-config puts the source comment */

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
    const char *key;
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
#define X(name_, type_, short_, long_, alias_, metavar_, env_, key_, def_, min_, max_, flags_,    \
          compat_, cfmt_, reload_, section_, help_)                                            \
    {.name = #name_, .type = TUN_T_##type_, .short_flag = short_, .long_flag = long_,            \
     .alias = alias_, .metavar = metavar_, .env = ENV_PREFIX #env_, .key = key_, .def = def_,    \
     .min = min_, .max = max_, .flags = flags_, .compat_env = compat_, .compat_fmt = cfmt_,      \
     .reload = reload_, .section = SEC_##section_, .help = help_,                                \
     .offset = offsetof(tun_config_t, name_)},
    TUN_SETTINGS(X)
#undef X
};

#define N_SETTINGS UF_ARRAY_LEN(settings)

typedef struct refusal {
    const char *key;
    char short_flag;
    const char *long_flag; /* NULL: config files only */
    const char *alias;
    const char *arg;       /* NULL: an on/off switch */
    const char *harmless;  /* '|'-separated values that ask for nothing */
    enum tun_refusal kind;
    const char *reason;
} refusal_t;

static const refusal_t refused[] = {
#define R(key_, short_, long_, alias_, arg_, harmless_, kind_, reason_)                          \
    {.key = #key_, .short_flag = short_, .long_flag = long_, .alias = alias_, .arg = arg_,       \
     .harmless = harmless_, .kind = TUN_R_##kind_, .reason = reason_},
    TUN_REFUSED(R)
#undef R
};

#define N_REFUSED UF_ARRAY_LEN(refused)

static const char *const hooks[] = {
#define H(name_) #name_,
    TUN_HOOKS(H)
#undef H
};

/* Each row's field must have the C type its row's type implies, or the generic setters
 * below would write the wrong width. */
#define CTYPE_INT int
#define CTYPE_INT64 long long
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

/* A list setting keeps its element count in the size_t right after its array pointer, and
 * an `auto` setting its flag in the bool right after its int, so the setters can find them
 * from the row's offset alone. A new such setting needs the same layout and a line here. */
_Static_assert(offsetof(tun_config_t, pythonpath_count) ==
                   offsetof(tun_config_t, pythonpath) + sizeof(char **),
               "pythonpath_count must follow pythonpath");
_Static_assert(offsetof(tun_config_t, bind_count) ==
                   offsetof(tun_config_t, binds) + sizeof(tun_bind_t *),
               "bind_count must follow binds");
_Static_assert(offsetof(tun_config_t, raw_env_count) ==
                   offsetof(tun_config_t, raw_env) + sizeof(char **),
               "raw_env_count must follow raw_env");
_Static_assert(offsetof(tun_config_t, workers_auto) == offsetof(tun_config_t, workers) + sizeof(int),
               "workers_auto must follow workers");

static const char *const log_levels[] = {
    [LOG_LEVEL_DEBUG] = "debug", [LOG_LEVEL_INFO] = "info",         [LOG_LEVEL_WARNING] = "warning",
    [LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_CRITICAL] = "critical",
};

static const char *const type_names[] = {
    [TUN_T_INT] = "int",
    [TUN_T_INT64] = "int",
    [TUN_T_DOUBLE] = "float",
    [TUN_T_STRING] = "string",
    [TUN_T_BOOL] = "bool",
    [TUN_T_PATHS] = "list",
    [TUN_T_BINDS] = "list of addresses",
    [TUN_T_LOGLEVEL] = "log level",
};

/* Flags that are not settings, offered for typos. --print-settings-markdown is hidden: it
 * exists to regenerate docs/settings.md and is not offered to users or suggested. */
static const char *const builtin_flags[] = {"help", "version", "print-config", "check-config"};

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

static const void *cfield_of(const setting_t *s, const tun_config_t *cfg)
{
    return (const char *)cfg + s->offset;
}

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
    case TUN_T_INT64:
        if (s->flags & TUN_F_POW2)
            buf_printf(b, "a power of two from %.0f to %.0f", s->min, s->max);
        else
            buf_printf(b, "%.0f to %.0f", s->min, s->max);
        if (s->flags & TUN_F_AUTO)
            buf_append_str(b, ", or auto");
        break;
    case TUN_T_DOUBLE:
        buf_printf(b, "%g to %g", s->min, s->max);
        break;
    case TUN_T_STRING:
        if (s->flags & TUN_F_CONFIG)
            buf_append_str(b, "a .toml file or a gunicorn .py config file");
        else if (s->flags & TUN_F_IPLIST)
            buf_append_str(b, "*, or IP addresses and networks (ADDRESS/BITS), comma separated");
        else if (s->flags & TUN_F_PAIRS)
            buf_append_str(b, "HEADER=VALUE pairs, comma separated");
        else if (s->flags & TUN_F_DIR)
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
        if (s->flags & TUN_F_PAIRS)
            buf_append_str(b, "NAME=VALUE, one per flag");
        else
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
    if (s->flags & TUN_F_CONFIG)
        buf_append_str(b, "./" TOML_DEFAULT_FILE " or ./" PY_DEFAULT_FILE " when present");
    else if (s->flags & TUN_F_CPUS)
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

/* CPUs the workers can use on this host: the affinity mask capped by a cgroup CPU quota.
 * The default of --workers, and what `auto` starts from. */
static int usable_cpus(void)
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

/* ---- value parsers: each returns 0, or TUN_ERROR with err filled ---------------------- */

static int parse_integer(const setting_t *s, const char *v, long long *out, const char *who,
                         char *err, size_t errlen)
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
    *out = n;
    return 0;
}

static int parse_int(const setting_t *s, const char *v, int *out, const char *who, char *err,
                     size_t errlen)
{
    long long n;
    bool *is_auto = (s->flags & TUN_F_AUTO) ? (bool *)((char *)out + sizeof(int)) : NULL;
    if (is_auto && strcasecmp(v, "auto") == 0) {
        /* The master lowers this bound to what fits in memory (tun_plan_workers). */
        int cpus = usable_cpus();
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

static int bool_word(const char *v)
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

static int parse_bool(const setting_t *s, const char *v, bool *out, const char *who, char *err,
                      size_t errlen)
{
    int b = bool_word(v);
    if (b < 0)
        return fail_value(s, who, v, "is not true or false", err, errlen);
    *out = b;
    return 0;
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

static int for_each_element(const char *v, int (*fn)(void *ctx, const char *elem), void *ctx);

/* One item of an IPLIST: "*", an IPv4 or IPv6 address, or one with /BITS. */
static int check_ip_item(void *ctx, const char *item)
{
    net_cidr_t net;
    (void)ctx;
    return strcmp(item, "*") == 0 || net_cidr_parse(item, strlen(item), &net) == 0 ? 0 : -1;
}

/* One item of a PAIRS list: NAME=VALUE, both non-empty. */
static int check_pair_item(void *ctx, const char *item)
{
    (void)ctx;
    const char *eq = strchr(item, '=');
    if (!eq || eq == item || !eq[1] || strspn(item, " ") == (size_t)(eq - item))
        return -1;
    return 0;
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
        /* Lists the workers read are checked here, so a typo stops the master at start
         * rather than every worker at boot. */
        int (*check)(void *, const char *) = (s->flags & TUN_F_IPLIST)  ? check_ip_item
                                             : (s->flags & TUN_F_PAIRS) ? check_pair_item
                                                                        : NULL;
        if (check && for_each_element(v, check, NULL) < 0)
            return fail_value(s, who, v,
                              (s->flags & TUN_F_IPLIST)
                                  ? "has an item that is not *, an address or a network"
                                  : "has an item that is not HEADER=VALUE",
                              err, errlen);
        copy = uf_strdup(v);
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
    char *elem = uf_malloc(len + 1);
    memcpy(elem, item, len);
    elem[len] = 0;
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
 * because a setting takes its value from one layer only (see tun_parse) and a list within
 * a layer is built by repeating the flag. `who` names the source in messages. */
static int set_value(const setting_t *s, tun_config_t *cfg, const char *v, const char *who,
                     char *err, size_t errlen)
{
    void *field = field_of(s, cfg);
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
                return fail_value(s, who, v, "is not NAME=VALUE", err, errlen);
            return append_path(&list, v);
        }
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

/* Empties a list setting, so that a higher layer's list replaces a lower one's. */
static void clear_list(const setting_t *s, tun_config_t *cfg)
{
    void *field = field_of(s, cfg);
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

/* ---- where values come from ------------------------------------------------------------ */

/* The layers, lowest first; a setting takes its value from the highest one that has it. */
enum layer { L_DEFAULT, L_COMPAT, L_FILE, L_ENV, L_CMD_ARGS, L_CLI };

typedef struct source {
    enum layer layer;
    char where[256]; /* the variable, "FILE:LINE", ... as --print-config shows it */
} source_t;

struct tun_sources {
    source_t s[N_SETTINGS];
    char **notes; /* accepted gunicorn settings without effect, for --print-config */
    size_t note_count;
};

typedef struct arg_value {
    int setting;
    const char *value; /* borrowed from argv or the split UWSGI_FAST_CMD_ARGS */
} arg_value_t;

typedef struct file_value {
    const toml_value_t *value; /* NULL: the file does not set it */
    int line;                  /* 0 for a .py config */
} file_value_t;

typedef struct parse_state {
    tun_config_t *cfg;
    char **envp;
    char *err;
    size_t errlen;
    arg_value_t *cli, *cmd;
    size_t ncli, ncmd;
    char **words; /* UWSGI_FAST_CMD_ARGS split like a shell would */
    size_t nwords;
    toml_doc_t doc;
    file_value_t file[N_SETTINGS];
    char file_name[PATH_MAX]; /* the config file as given, for messages */
    bool file_is_py;
    struct tun_sources *src;
} parse_state_t;

static void list_add(char ***items, size_t *count, char *line)
{
    *items = uf_realloc(*items, (*count + 1) * sizeof(char *));
    (*items)[(*count)++] = line;
}

static void add_warning(tun_config_t *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_warning(tun_config_t *cfg, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    list_add(&cfg->warnings, &cfg->warning_count, uf_strdup(line));
}

/* ---- names and suggestions --------------------------------------------------------------- */

/* Optimal string alignment distance (edits, with adjacent swaps counting one), used only to
 * suggest a name for a typo; names are short, so a fixed matrix suffices. */
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

/* The candidate closest to name[0, len), or NULL if none is close enough to be a typo: at
 * most a third of the name's letters may be wrong (at least one, at most three). */
static const char *closest(const char *name, size_t len, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
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

/* The supported long flag closest to a mistyped one. Refused gunicorn flags are not
 * offered: suggesting a flag that is then refused would only send the user round twice. */
static const char *closest_flag(const char *name, size_t len)
{
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
    return closest(name, len, cands, n);
}

static const char *closest_key(const char *name)
{
    const char *cands[N_SETTINGS];
    size_t n = 0;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!(settings[i].flags & TUN_F_CONFIG))
            cands[n++] = settings[i].key;
    return closest(name, strlen(name), cands, n);
}

/* Whether name[0, len) is the long flag or its alias (either may be NULL). */
static bool is_flag(const char *long_flag, const char *alias, const char *name, size_t len)
{
    return (long_flag && strlen(long_flag) == len && memcmp(long_flag, name, len) == 0) ||
           (alias && strlen(alias) == len && memcmp(alias, name, len) == 0);
}

static int find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (is_flag(settings[i].long_flag, settings[i].alias, name, len))
            return (int)i;
    return -1;
}

static int find_short(char c)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (c && settings[i].short_flag == c)
            return (int)i;
    return -1;
}

static int find_key(const char *key)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return (int)i;
    return -1;
}

static int find_refused_long(const char *name, size_t len)
{
    for (size_t i = 0; i < N_REFUSED; i++)
        if (is_flag(refused[i].long_flag, refused[i].alias, name, len))
            return (int)i;
    return -1;
}

static int find_refused_short(char c)
{
    for (size_t i = 0; i < N_REFUSED; i++)
        if (c && refused[i].short_flag == c)
            return (int)i;
    return -1;
}

static int find_refused_key(const char *key)
{
    for (size_t i = 0; i < N_REFUSED; i++)
        if (strcmp(refused[i].key, key) == 0)
            return (int)i;
    return -1;
}

static bool is_hook(const char *name)
{
    for (size_t i = 0; i < UF_ARRAY_LEN(hooks); i++)
        if (strcmp(hooks[i], name) == 0)
            return true;
    return false;
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

static int config_index(void)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].flags & TUN_F_CONFIG)
            return (int)i;
    UF_ASSERT(!"the table has a config file setting");
    return -1;
}

/* ---- refused gunicorn settings ------------------------------------------------------------ */

/* How a refused setting is named to the user: its flags on a command line, its key in a
 * config file. */
static void refusal_name(const refusal_t *r, bool as_flag, char *out, size_t n)
{
    if (!as_flag || !r->long_flag)
        snprintf(out, n, "%s", r->key);
    else if (r->short_flag)
        snprintf(out, n, "-%c/--%s", r->short_flag, r->long_flag);
    else
        snprintf(out, n, "--%s", r->long_flag);
}

/* Whether `value` is one of the refusal's harmless values: the value gunicorn itself uses
 * when the setting is absent, so it asks uwsgi-fast for nothing. Booleans compare as
 * booleans, anything else without regard to case. */
static bool harmless(const refusal_t *r, const char *value)
{
    if (!r->harmless || !value)
        return false;
    const char *p = r->harmless;
    while (*p) {
        size_t len = strcspn(p, "|");
        char alt[128];
        snprintf(alt, sizeof(alt), "%.*s", (int)len, p);
        int a = bool_word(alt), v = bool_word(value);
        if (a >= 0 && (strcmp(alt, "true") == 0 || strcmp(alt, "false") == 0)) {
            if (v == a)
                return true;
        } else if (strcasecmp(alt, value) == 0) {
            return true;
        }
        p += len + (p[len] == '|');
    }
    return false;
}

/* Applies a refused setting given as `value` (NULL when the config file gave a value of a
 * type no gunicorn default has). `prefix` starts the message ("" on the command line).
 * Returns 0 when it is accepted (a no-op, or a harmless value), TUN_ERROR with the reason
 * otherwise. */
static int refuse(parse_state_t *ps, const refusal_t *r, const char *value, const char *prefix,
                  bool as_flag, const char *where)
{
    char name[96];
    refusal_name(r, as_flag, name, sizeof(name));
    if (r->kind == TUN_R_NOOP) {
        char note[512];
        snprintf(note, sizeof(note), "%s (%s): accepted, no effect: %s", name, where, r->reason);
        list_add(&ps->src->notes, &ps->src->note_count, uf_strdup(note));
        return 0;
    }
    if (harmless(r, value))
        return 0;
    char tail[160] = "";
    if (r->harmless && strcmp(r->harmless, "false") != 0) {
        size_t len = strcspn(r->harmless, "|");
        snprintf(tail, sizeof(tail), " or set it to %.*s", (int)len, r->harmless);
    }
    if (r->kind == TUN_R_PLANNED)
        return fail(ps->err, ps->errlen, "%s%s is not supported yet (planned): %s; remove it%s",
                    prefix, name, r->reason, tail);
    return fail(ps->err, ps->errlen, "%s%s is not supported: %s; remove it%s", prefix, name,
                r->reason, tail);
}

/* ---- the command line and UWSGI_FAST_CMD_ARGS ----------------------------------------- */

/* Whether a following argument is another option rather than this flag's value. "-" (the
 * stderr log file) and negative numbers are values, so they go through validation and get
 * a message about the value instead of a baffling "needs a value". */
static bool looks_like_option(const char *a)
{
    return a[0] == '-' && a[1] && !isdigit((unsigned char)a[1]) && a[1] != '.';
}

static int fail_missing(parse_state_t *ps, const char *prefix, const setting_t *s)
{
    buf_t acc = {0};
    describe_accepted(s, &acc);
    fail(ps->err, ps->errlen, "%s--%s needs a value (accepted: %s)", prefix, s->long_flag,
         buf_cstr(&acc));
    buf_free(&acc);
    return TUN_ERROR;
}

static int fail_unknown(parse_state_t *ps, const char *prefix, const char *arg, size_t len)
{
    if (arg[1] == '-') {
        const char *near = closest_flag(arg + 2, len - 2);
        if (near)
            return fail(ps->err, ps->errlen, "%sunknown option %.*s; did you mean --%s?", prefix,
                        (int)len, arg, near);
    }
    return fail(ps->err, ps->errlen, "%sunknown option %.*s (see --help)", prefix, (int)len, arg);
}

enum {
    ACT_NONE = 0,
    ACT_HELP = 1,
    ACT_VERSION = 2,
    ACT_MARKDOWN = 3,
    ACT_PRINT = 1 << 2, /* --print-config and --check-config combine with each other */
    ACT_CHECK = 1 << 3,
};

/* Reads one layer of arguments into (setting, value) pairs without interpreting the
 * values, so that lower layers can be skipped for exactly the settings it sets. --help,
 * --version and an unknown flag act as soon as they are reached, as in argparse: `--help`
 * works even when the environment holds a bad value. Refused gunicorn flags are refused
 * here, in argument order. Only the command line may hold --help and friends. */
static int scan_args(parse_state_t *ps, enum layer layer, int count, char **args,
                     arg_value_t *vals, size_t *nvals, int *action)
{
    const char *prefix = layer == L_CLI ? "" : CMD_ARGS_ENV ": ";
    const char *where = layer == L_CLI ? "command line" : CMD_ARGS_ENV;
    bool options_done = false;
    *nvals = 0;
    for (int i = 0; i < count; i++) {
        const char *a = args[i];
        const char *value = NULL;
        int idx;

        if (options_done || a[0] != '-' || !a[1]) {
            idx = positional_index();
            for (size_t k = 0; k < *nvals; k++)
                if (vals[k].setting == idx)
                    return fail(ps->err, ps->errlen,
                                "%sunexpected argument \"%.*s\": the application is already "
                                "\"%.*s\"",
                                prefix, SHOWN(a), SHOWN(vals[k].value));
            vals[(*nvals)++] = (arg_value_t){idx, a};
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }

        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            static const struct {
                const char *name;
                int action;
            } builtins[] = {{"help", ACT_HELP},
                            {"version", ACT_VERSION},
                            {"print-settings-markdown", ACT_MARKDOWN},
                            {"print-config", ACT_PRINT},
                            {"check-config", ACT_CHECK}};
            int b = -1;
            for (size_t k = 0; k < UF_ARRAY_LEN(builtins); k++)
                if (strlen(builtins[k].name) == len && memcmp(builtins[k].name, name, len) == 0)
                    b = (int)k;
            if (b >= 0) {
                if (layer != L_CLI)
                    return fail(ps->err, ps->errlen,
                                "%s--%s is only accepted on the command line", prefix,
                                builtins[b].name);
                if (eq)
                    return fail(ps->err, ps->errlen, "--%s takes no value", builtins[b].name);
                if (builtins[b].action >= ACT_PRINT) {
                    *action |= builtins[b].action;
                    continue;
                }
                *action = builtins[b].action;
                return 0;
            }
            idx = find_long(name, len);
            /* --no-NAME switches a boolean off (gunicorn spells its negations so) */
            if (idx < 0 && len > 3 && memcmp(name, "no-", 3) == 0 && !eq) {
                int neg = find_long(name + 3, len - 3);
                if (neg >= 0 && settings[neg].type == TUN_T_BOOL) {
                    idx = neg;
                    value = "false";
                }
            }
            if (idx < 0) {
                int r = find_refused_long(name, len);
                if (r < 0)
                    return fail_unknown(ps, prefix, a, len + 2);
                if (eq)
                    value = eq + 1;
                else if (!refused[r].arg)
                    value = "true";
                else if (i + 1 < count && !looks_like_option(args[i + 1]))
                    value = args[++i];
                if (refuse(ps, &refused[r], value, prefix, true, where) < 0)
                    return TUN_ERROR;
                continue;
            }
            if (eq)
                value = eq + 1;
            else if (settings[idx].type == TUN_T_BOOL && !value)
                value = "true"; /* a bare boolean flag switches it on */
        } else {
            if (a[1] == 'h' && !a[2]) {
                if (layer != L_CLI)
                    return fail(ps->err, ps->errlen, "%s-h is only accepted on the command line",
                                prefix);
                *action = ACT_HELP;
                return 0;
            }
            if (a[1] == 'v' && !a[2]) {
                if (layer != L_CLI)
                    return fail(ps->err, ps->errlen, "%s-v is only accepted on the command line",
                                prefix);
                *action = ACT_VERSION;
                return 0;
            }
            idx = find_short(a[1]);
            if (idx < 0) {
                int r = find_refused_short(a[1]);
                if (r < 0)
                    return fail_unknown(ps, prefix, a, 2);
                if (a[2])
                    value = a[2] == '=' ? a + 3 : a + 2;
                else if (!refused[r].arg)
                    value = "true";
                else if (i + 1 < count && !looks_like_option(args[i + 1]))
                    value = args[++i];
                if (refuse(ps, &refused[r], value, prefix, true, where) < 0)
                    return TUN_ERROR;
                continue;
            }
            if (a[2]) /* -w4, and -w=4 as argparse also reads it */
                value = a[2] == '=' ? a + 3 : a + 2;
            else if (settings[idx].type == TUN_T_BOOL)
                value = "true";
        }
        if (!value) {
            if (i + 1 >= count || looks_like_option(args[i + 1]))
                return fail_missing(ps, prefix, &settings[idx]);
            value = args[++i];
        }
        vals[(*nvals)++] = (arg_value_t){idx, value};
    }
    return 0;
}

/* Splits UWSGI_FAST_CMD_ARGS the way a POSIX shell splits words (what gunicorn's
 * GUNICORN_CMD_ARGS gets from shlex.split): blanks separate, '...' is literal, "..."
 * honours \" \\ \$ \` only, and a backslash outside quotes escapes the next character. */
static int split_words(parse_state_t *ps, const char *text)
{
    buf_t w = {0};
    bool in_word = false;
    const char *p = text;
    while (*p) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\n') {
            if (in_word) {
                list_add(&ps->words, &ps->nwords, uf_strdup(buf_cstr(&w)));
                w.len = 0;
                in_word = false;
            }
            p++;
            continue;
        }
        in_word = true;
        if (c == '\'') {
            const char *close = strchr(p + 1, '\'');
            if (!close)
                goto unterminated;
            buf_append(&w, p + 1, (size_t)(close - p - 1));
            p = close + 1;
        } else if (c == '"') {
            for (p++; *p != '"'; p++) {
                if (!*p)
                    goto unterminated;
                if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
                    p++;
                buf_append(&w, p, 1);
            }
            p++;
        } else if (c == '\\') {
            if (p[1])
                p++;
            buf_append(&w, p, 1);
            p++;
        } else {
            buf_append(&w, p, 1);
            p++;
        }
    }
    if (in_word)
        list_add(&ps->words, &ps->nwords, uf_strdup(buf_cstr(&w)));
    buf_free(&w);
    return 0;
unterminated:
    buf_free(&w);
    return fail(ps->err, ps->errlen, CMD_ARGS_ENV ": a quote is not closed in \"%.*s\"",
                SHOWN(text));
}

/* ---- config files ---------------------------------------------------------------------- */

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Which Python runs a gunicorn.conf.py: the virtualenv's when one is configured by a layer
 * above the config file (a config may import the packages the application uses), the
 * build's otherwise. */
static void choose_python(parse_state_t *ps, char *out, size_t n)
{
    const char *venv = NULL;
    int vi = -1;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].name, "virtualenv") == 0)
            vi = (int)i;
    for (size_t k = 0; k < ps->ncli && vi >= 0; k++)
        if (ps->cli[k].setting == vi)
            venv = ps->cli[k].value;
    for (size_t k = 0; k < ps->ncmd && vi >= 0 && !venv; k++)
        if (ps->cmd[k].setting == vi)
            venv = ps->cmd[k].value;
    if (!venv && vi >= 0)
        venv = env_get(ps->envp, settings[vi].env);
    if (!venv || !*venv)
        venv = env_get(ps->envp, "VIRTUAL_ENV");
    if (venv && *venv) {
        static const char *const names[] = {"bin/python3", "bin/python"};
        for (size_t i = 0; i < UF_ARRAY_LEN(names); i++) {
            snprintf(out, n, "%s/%s", venv, names[i]);
            if (access(out, X_OK) == 0)
                return;
        }
    }
    snprintf(out, n, "%s", UF_PYTHON);
}

/* Reads the config file into ps->doc: TOML directly, a gunicorn .py through Python. */
static int load_file(parse_state_t *ps, const char *path, const char *who)
{
    if (strncmp(path, "python:", 7) == 0)
        return fail(ps->err, ps->errlen,
                    "%s: \"%.*s\" names a Python module; give the path of its file instead "
                    "(accepted: a .toml file or a gunicorn .py config file)",
                    who, SHOWN(path));
    if (strncmp(path, "file:", 5) == 0)
        path += 5;
    snprintf(ps->file_name, sizeof(ps->file_name), "%s", path);
    struct stat st;
    const char *what = NULL;
    if (stat(path, &st) < 0)
        what = errno == ENOENT ? "does not exist" : strerror(errno);
    else if (!S_ISREG(st.st_mode))
        what = "is not a file";
    if (what)
        return fail(ps->err, ps->errlen,
                    "%s: \"%.*s\" %s (accepted: a .toml file or a gunicorn .py config file)", who,
                    SHOWN(path), what);

    buf_t text = {0};
    char why[512];
    int rc = TUN_ERROR;
    ps->file_is_py = !ends_with(path, ".toml");
    if (ps->file_is_py) {
        char python[PATH_MAX];
        choose_python(ps, python, sizeof(python));
        if (tun_pyconfig_read(python, path, ps->envp, &text, why, sizeof(why)) < 0) {
            fail(ps->err, ps->errlen, "%s", why);
            goto out;
        }
    } else {
        if (st.st_size > CONFIG_MAX) {
            fail(ps->err, ps->errlen, "%s: \"%.*s\" is larger than %d KiB", who, SHOWN(path),
                 CONFIG_MAX >> 10);
            goto out;
        }
        FILE *f = fopen(path, "rb");
        if (!f) {
            fail(ps->err, ps->errlen, "%s: \"%.*s\" cannot be read: %s", who, SHOWN(path),
                 strerror(errno));
            goto out;
        }
        char chunk[8192];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && text.len <= CONFIG_MAX)
            buf_append(&text, chunk, n);
        fclose(f);
    }
    if (toml_parse(text.data ? text.data : "", text.len, &ps->doc, why, sizeof(why)) < 0) {
        if (ps->file_is_py) /* our own output: its line numbers mean nothing to the user */
            fail(ps->err, ps->errlen, "%s: a value could not be carried over (%s)", path, why);
        else
            fail(ps->err, ps->errlen, "%s:%s", path, why + strlen("line "));
        goto out;
    }
    rc = 0;
out:
    buf_free(&text);
    return rc;
}

/* Where an entry of the config file is, for messages: "FILE:LINE: key", or "FILE: key" for
 * a .py config, whose values carry no line. */
static void entry_who(const parse_state_t *ps, const char *key, int line, char *out, size_t n)
{
    if (line)
        snprintf(out, n, "%s:%d: %s", ps->file_name, line, key);
    else
        snprintf(out, n, "%s: %s", ps->file_name, key);
}

/* A .py config's metadata table: callables (hooks) and values of other types. */
static int map_py_meta(parse_state_t *ps, const toml_entry_t *e)
{
    char who[PATH_MAX + 64];
    for (size_t k = 0; k < e->value.count; k++) {
        const char *item = e->value.items[k];
        bool is_callable = strcmp(e->key, "callables") == 0;
        char name[256], type[64] = "function";
        if (is_callable) {
            snprintf(name, sizeof(name), "%s", item);
        } else {
            const char *eq = strchr(item, '=');
            if (!eq)
                continue;
            snprintf(name, sizeof(name), "%.*s", (int)(eq - item), item);
            snprintf(type, sizeof(type), "%s", eq + 1);
        }
        int idx = find_key(name);
        int r = find_refused_key(name);
        entry_who(ps, name, 0, who, sizeof(who));
        if (is_callable && is_hook(name)) {
            add_warning(ps->cfg, "%s: the server hook %s is not supported yet; it will not be "
                                 "called", ps->file_name, name);
        } else if (idx >= 0) {
            buf_t acc = {0};
            describe_accepted(&settings[idx], &acc);
            fail(ps->err, ps->errlen, "%s (%s%s): a value of type %s is not accepted (accepted: "
                                      "%s)",
                 who, settings[idx].long_flag ? "--" : "",
                 settings[idx].long_flag ? settings[idx].long_flag : settings[idx].metavar, type,
                 buf_cstr(&acc));
            buf_free(&acc);
            return TUN_ERROR;
        } else if (r >= 0) {
            char prefix[PATH_MAX + 8];
            snprintf(prefix, sizeof(prefix), "%s: ", ps->file_name);
            if (refuse(ps, &refused[r], NULL, prefix, false, ps->file_name) < 0)
                return TUN_ERROR;
        }
    }
    return 0;
}

/* Maps the file's entries onto the table: a setting's key records its value for the file
 * layer; a refused gunicorn key is refused now. An unknown key is an error in TOML; in a
 * .py config it is any module-level variable, so only a near miss of a real key is
 * worth a warning, as gunicorn itself ignores such names. */
static int map_file(parse_state_t *ps)
{
    char who[PATH_MAX + 64];
    for (size_t i = 0; i < ps->doc.count; i++) {
        const toml_entry_t *e = &ps->doc.entries[i];
        if (ps->file_is_py && strcmp(e->table, TUN_PYCONFIG_META) == 0) {
            if (map_py_meta(ps, e) < 0)
                return TUN_ERROR;
            continue;
        }
        int line = ps->file_is_py ? 0 : e->line; /* lines of our own TOML mean nothing */
        entry_who(ps, e->key, line, who, sizeof(who));
        int idx = find_key(e->key);
        if (idx >= 0) {
            if (settings[idx].flags & TUN_F_CONFIG)
                return fail(ps->err, ps->errlen,
                            "%s cannot be set inside a config file; give it with -c or %s",
                            who, settings[idx].env);
            if (ps->file[idx].value)
                return fail(ps->err, ps->errlen, "%s is already set on line %d", who,
                            ps->file[idx].line);
            ps->file[idx] = (file_value_t){&e->value, line};
            continue;
        }
        int r = find_refused_key(e->key);
        if (r >= 0) {
            char prefix[PATH_MAX + 16];
            if (line)
                snprintf(prefix, sizeof(prefix), "%s:%d: ", ps->file_name, line);
            else
                snprintf(prefix, sizeof(prefix), "%s: ", ps->file_name);
            /* an empty list (gunicorn's raw_env = []) asks for nothing either; a list is
             * compared as the comma-joined text gunicorn's defaults are written in */
            if (e->value.type == TOML_ARRAY && e->value.count == 0 &&
                refused[r].kind != TUN_R_NOOP)
                continue;
            buf_t joined = {0};
            if (e->value.type == TOML_ARRAY)
                for (size_t k = 0; k < e->value.count; k++)
                    buf_printf(&joined, "%s%s", k ? "," : "", e->value.items[k]);
            else
                buf_append_str(&joined, e->value.text);
            int rc = refuse(ps, &refused[r], buf_cstr(&joined), prefix, false, ps->file_name);
            buf_free(&joined);
            if (rc < 0)
                return TUN_ERROR;
            continue;
        }
        const char *near = closest_key(e->key);
        if (ps->file_is_py) {
            if (near && !is_hook(e->key))
                add_warning(ps->cfg, "%s: %s is not a setting and is ignored; did you mean %s?",
                            ps->file_name, e->key, near);
            continue;
        }
        if (near)
            return fail(ps->err, ps->errlen, "%s is not a setting; did you mean %s?", who, near);
        return fail(ps->err, ps->errlen, "%s is not a setting (see docs/settings.md for the "
                                         "keys)", who);
    }
    return 0;
}

/* Decides which config file to read, reads it and maps it. The config setting itself
 * comes from the command line, UWSGI_FAST_CMD_ARGS or UWSGI_FAST_CONFIG; without any, a
 * uwsgi-fast.toml or gunicorn.conf.py in the working directory is read, as gunicorn
 * reads ./gunicorn.conf.py. */
static int read_config_file(parse_state_t *ps)
{
    int ci = config_index();
    const setting_t *s = &settings[ci];
    source_t *src = &ps->src->s[ci];
    const char *path = NULL;
    char who[128];
    snprintf(who, sizeof(who), "--%s", s->long_flag);
    for (size_t k = 0; k < ps->ncli; k++)
        if (ps->cli[k].setting == ci)
            path = ps->cli[k].value, src->layer = L_CLI;
    for (size_t k = 0; k < ps->ncmd && !path; k++)
        if (ps->cmd[k].setting == ci)
            path = ps->cmd[k].value, src->layer = L_CMD_ARGS;
    if (path && src->layer == L_CMD_ARGS) {
        snprintf(who, sizeof(who), CMD_ARGS_ENV " (--%s)", s->long_flag);
        snprintf(src->where, sizeof(src->where), CMD_ARGS_ENV);
    }
    if (!path) {
        const char *v = env_get(ps->envp, s->env);
        if (v && *v) {
            path = v;
            src->layer = L_ENV;
            snprintf(who, sizeof(who), "%s (--%s)", s->env, s->long_flag);
            snprintf(src->where, sizeof(src->where), "%s", s->env);
        }
    }
    if (!path) {
        src->layer = L_DEFAULT;
        bool toml = file_exists(TOML_DEFAULT_FILE), py = file_exists(PY_DEFAULT_FILE);
        if (toml && py)
            return fail(ps->err, ps->errlen,
                        "both ./" TOML_DEFAULT_FILE " and ./" PY_DEFAULT_FILE " exist; choose "
                        "one with -c FILE (or -c \"\" for neither)");
        path = toml ? TOML_DEFAULT_FILE : py ? PY_DEFAULT_FILE : NULL;
        if (path)
            snprintf(src->where, sizeof(src->where), "found in the working directory");
    }
    if (!path || !*path)
        return 0;
    if (load_file(ps, path, who) < 0)
        return TUN_ERROR;
    ps->cfg->config = uf_strdup(ps->file_name);
    return map_file(ps);
}

/* ---- applying the layers --------------------------------------------------------------- */

/* Gives setting s its value from the config file entry. Arrays feed list settings one
 * element at a time; for any other setting an array is refused, not flattened. */
static int apply_file(parse_state_t *ps, const setting_t *s, const file_value_t *fv)
{
    char who[PATH_MAX + 128], flag[96];
    flag_name(s, flag, sizeof(flag));
    if (fv->line)
        snprintf(who, sizeof(who), "%s:%d: %s (%s)", ps->file_name, fv->line, s->key, flag);
    else
        snprintf(who, sizeof(who), "%s: %s (%s)", ps->file_name, s->key, flag);
    const toml_value_t *v = fv->value;
    if (v->type != TOML_ARRAY)
        return set_value(s, ps->cfg, v->text, who, ps->err, ps->errlen);
    if (s->type != TUN_T_PATHS && s->type != TUN_T_BINDS) {
        buf_t acc = {0};
        describe_accepted(s, &acc);
        fail(ps->err, ps->errlen, "%s: a list is not accepted (accepted: %s)", who,
             buf_cstr(&acc));
        buf_free(&acc);
        return TUN_ERROR;
    }
    for (size_t k = 0; k < v->count; k++)
        if (set_value(s, ps->cfg, v->items[k], who, ps->err, ps->errlen) < 0)
            return TUN_ERROR;
    if (s->type == TUN_T_BINDS && ps->cfg->bind_count == 0)
        return fail_value(s, who, "[]", "is not an address", ps->err, ps->errlen);
    return 0;
}

/* Gives a setting that neither the command line nor UWSGI_FAST_CMD_ARGS sets its value from
 * the highest layer below them that has one: UWSGI_FAST_<NAME>, the config file, the
 * compat variable, the default. An empty variable counts as unset, as shells and container
 * specs often leave them. */
static int apply_below_args(parse_state_t *ps, int idx)
{
    const setting_t *s = &settings[idx];
    tun_config_t *cfg = ps->cfg;
    source_t *src = &ps->src->s[idx];
    char flag[96], who[192];
    flag_name(s, flag, sizeof(flag));

    const char *v = env_get(ps->envp, s->env);
    if (v && *v) {
        src->layer = L_ENV;
        snprintf(src->where, sizeof(src->where), "%s", s->env);
        snprintf(who, sizeof(who), "%s (%s)", s->env, flag);
        return set_value(s, cfg, v, who, ps->err, ps->errlen);
    }
    if (ps->file[idx].value) {
        src->layer = L_FILE;
        if (ps->file[idx].line)
            snprintf(src->where, sizeof(src->where), "%s:%d", ps->file_name, ps->file[idx].line);
        else
            snprintf(src->where, sizeof(src->where), "%s", ps->file_name);
        return apply_file(ps, s, &ps->file[idx]);
    }
    if (s->compat_env && (v = env_get(ps->envp, s->compat_env)) && *v) {
        buf_t value = {0};
        src->layer = L_COMPAT;
        snprintf(src->where, sizeof(src->where), "%s", s->compat_env);
        substitute(&value, s->compat_fmt, v);
        snprintf(who, sizeof(who), "%s (%s)", s->compat_env, flag);
        int rc = set_value(s, cfg, buf_cstr(&value), who, ps->err, ps->errlen);
        buf_free(&value);
        return rc;
    }
    src->layer = L_DEFAULT;
    if (s->flags & TUN_F_CPUS) {
        int n = usable_cpus();
        *(int *)field_of(s, cfg) = n < s->min ? (int)s->min : n > s->max ? (int)s->max : n;
        snprintf(src->where, sizeof(src->where), "usable CPUs");
        return 0;
    }
    if (s->def) {
        snprintf(who, sizeof(who), "default of %s", flag);
        return set_value(s, cfg, s->def, who, ps->err, ps->errlen);
    }
    return 0;
}

/* Applies one argument layer's values for every setting that layer sets, in argument
 * order. A list named in the layer replaces whatever a lower layer gave it. */
static int apply_args(parse_state_t *ps, enum layer layer, const arg_value_t *vals, size_t n,
                      const bool *owned)
{
    for (size_t k = 0; k < n; k++) {
        int idx = vals[k].setting;
        const setting_t *s = &settings[idx];
        if (!owned[idx] || (s->flags & TUN_F_CONFIG))
            continue;
        source_t *src = &ps->src->s[idx];
        char who[160];
        if (layer == L_CLI)
            flag_name(s, who, sizeof(who));
        else {
            char flag[96];
            flag_name(s, flag, sizeof(flag));
            snprintf(who, sizeof(who), CMD_ARGS_ENV " (%s)", flag);
        }
        if (src->layer != layer && (s->type == TUN_T_PATHS || s->type == TUN_T_BINDS))
            clear_list(s, ps->cfg);
        src->layer = layer;
        snprintf(src->where, sizeof(src->where), "%s",
                 layer == L_CLI ? "command line" : CMD_ARGS_ENV);
        if (set_value(s, ps->cfg, vals[k].value, who, ps->err, ps->errlen) < 0)
            return TUN_ERROR;
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

/* Warnings that need the whole configuration: settings that are parsed but not acted on
 * yet, and a gunicorn habit that would otherwise go unnoticed. */
static bool format_value(const setting_t *s, const tun_config_t *cfg, buf_t *b);

/* Whether a setting holds its default value, whichever layer gave it. */
static bool is_default_value(const setting_t *s, const tun_config_t *cfg)
{
    tun_config_t def;
    memset(&def, 0, sizeof(def));
    if (!s->def || set_value(s, &def, s->def, "default", NULL, 0) < 0)
        return false;
    buf_t a = {0}, b = {0};
    format_value(s, cfg, &a);
    format_value(s, &def, &b);
    bool same = a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
    buf_free(&a);
    buf_free(&b);
    tun_config_free(&def);
    return same;
}

static void late_warnings(parse_state_t *ps)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        if ((s->flags & TUN_F_PENDING) && ps->src->s[i].layer != L_DEFAULT &&
            !is_default_value(s, ps->cfg))
            add_warning(ps->cfg, "--%s is accepted but not acted on yet (from %s)", s->long_flag,
                        ps->src->s[i].where);
    }
    const char *g = env_get(ps->envp, "GUNICORN_CMD_ARGS");
    if (g && *g && !env_get(ps->envp, CMD_ARGS_ENV))
        add_warning(ps->cfg, "GUNICORN_CMD_ARGS is set but not read; put those flags in "
                             CMD_ARGS_ENV);
}

int tun_parse(tun_config_t *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
              size_t errlen)
{
    return tun_parse_ex(cfg, argc, argv, envp, 0, out, err, errlen);
}

int tun_parse_ex(tun_config_t *cfg, int argc, char **argv, char **envp, unsigned opts,
                 FILE *out, char *err, size_t errlen)
{
    parse_state_t ps = {.cfg = cfg, .envp = envp, .err = err, .errlen = errlen};
    bool owned_cli[N_SETTINGS] = {false}, owned_cmd[N_SETTINGS] = {false};
    int action = ACT_NONE, rc;

    memset(cfg, 0, sizeof(*cfg));
    if (err && errlen)
        err[0] = 0;
    if (!out)
        out = stdout;
    ps.src = uf_calloc(1, sizeof(*ps.src));
    cfg->sources = ps.src;
    ps.cli = uf_calloc((size_t)(argc > 0 ? argc : 1), sizeof(arg_value_t));

    rc = scan_args(&ps, L_CLI, argc > 1 ? argc - 1 : 0, argv + 1, ps.cli, &ps.ncli, &action);
    if (rc < 0)
        goto out;
    if (action & 3) {
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

    const char *cmd_args = env_get(envp, CMD_ARGS_ENV);
    if (cmd_args && *cmd_args) {
        rc = split_words(&ps, cmd_args);
        if (rc < 0)
            goto out;
        ps.cmd = uf_calloc(ps.nwords + 1, sizeof(arg_value_t));
        int ignored = 0;
        rc = scan_args(&ps, L_CMD_ARGS, (int)ps.nwords, ps.words, ps.cmd, &ps.ncmd, &ignored);
        if (rc < 0)
            goto out;
    }

    rc = read_config_file(&ps);
    if (rc < 0)
        goto out;

    for (size_t k = 0; k < ps.ncli; k++)
        owned_cli[ps.cli[k].setting] = true;
    for (size_t k = 0; k < ps.ncmd; k++)
        if (!owned_cli[ps.cmd[k].setting])
            owned_cmd[ps.cmd[k].setting] = true;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (owned_cli[i] || owned_cmd[i] || (settings[i].flags & TUN_F_CONFIG))
            continue;
        rc = apply_below_args(&ps, (int)i);
        if (rc < 0)
            goto out;
    }
    rc = apply_args(&ps, L_CMD_ARGS, ps.cmd, ps.ncmd, owned_cmd);
    if (rc < 0)
        goto out;
    rc = apply_args(&ps, L_CLI, ps.cli, ps.ncli, owned_cli);
    if (rc < 0)
        goto out;

    bool app_optional = (opts & TUN_PARSE_NO_APP) || (action == ACT_PRINT);
    for (size_t i = 0; i < N_SETTINGS && !app_optional; i++) {
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
    if (rc < 0)
        goto out;
    late_warnings(&ps);

    if (action & (ACT_PRINT | ACT_CHECK)) {
        if (action & ACT_PRINT) {
            tun_write_config(out, cfg);
        } else {
            for (size_t i = 0; i < cfg->warning_count; i++)
                fprintf(out, "warning: %s\n", cfg->warnings[i]);
            fprintf(out, "uwsgi-fast: the configuration is valid%s%s\n",
                    cfg->config ? "; config file: " : "", cfg->config ? cfg->config : "");
        }
        fflush(out);
        rc = TUN_EXIT;
    }
out:
    uf_free(ps.cli);
    uf_free(ps.cmd);
    for (size_t i = 0; i < ps.nwords; i++)
        uf_free(ps.words[i]);
    uf_free(ps.words);
    toml_free(&ps.doc);
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
    for (size_t i = 0; i < cfg->warning_count; i++)
        uf_free(cfg->warnings[i]);
    uf_free(cfg->warnings);
    if (cfg->sources) {
        for (size_t i = 0; i < cfg->sources->note_count; i++)
            uf_free(cfg->sources->notes[i]);
        uf_free(cfg->sources->notes);
        uf_free(cfg->sources);
    }
    memset(cfg, 0, sizeof(*cfg));
}

bool tun_from_default(const tun_config_t *cfg, const char *name)
{
    if (!cfg->sources)
        return false;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0)
            return cfg->sources->s[i].layer == L_DEFAULT;
    return false;
}

/* ---- --print-config ---------------------------------------------------------------------- */

/* Appends s as a TOML basic string. */
static void toml_quote(buf_t *b, const char *s)
{
    buf_append_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            buf_append_str(b, "\\n");
        else if (*p == '\t')
            buf_append_str(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            buf_printf(b, "\\u%04x", *p);
        else
            buf_append(b, p, 1);
    }
    buf_append_str(b, "\"");
}

/* The effective value of s in TOML; false when it is unset and TOML cannot say so. */
static bool format_value(const setting_t *s, const tun_config_t *cfg, buf_t *b)
{
    const void *f = cfield_of(s, cfg);
    switch (s->type) {
    case TUN_T_INT:
        if ((s->flags & TUN_F_AUTO) && *(const bool *)((const char *)f + sizeof(int)))
            buf_append_str(b, "\"auto\"");
        else
            buf_printf(b, "%d", *(const int *)f);
        return true;
    case TUN_T_INT64:
        buf_printf(b, "%lld", *(const long long *)f);
        return true;
    case TUN_T_DOUBLE:
        buf_printf(b, "%.15g", *(const double *)f);
        return true;
    case TUN_T_BOOL:
        buf_append_str(b, *(const bool *)f ? "true" : "false");
        return true;
    case TUN_T_LOGLEVEL:
        toml_quote(b, log_levels[*(const int *)f]);
        return true;
    case TUN_T_STRING: {
        const char *v = *(char *const *)f;
        if (!v && (s->flags & (TUN_F_REQUIRED | TUN_F_NONEMPTY)))
            return false;
        toml_quote(b, v ? v : "");
        return true;
    }
    case TUN_T_PATHS: {
        char *const *items = *(char **const *)f;
        size_t n = *(const size_t *)((const char *)f + sizeof(char **));
        buf_append_str(b, "[");
        for (size_t k = 0; k < n; k++) {
            if (k)
                buf_append_str(b, ", ");
            toml_quote(b, items[k]);
        }
        buf_append_str(b, "]");
        return true;
    }
    case TUN_T_BINDS: {
        const tun_bind_t *items = *(tun_bind_t *const *)f;
        size_t n = *(const size_t *)((const char *)f + sizeof(tun_bind_t *));
        buf_append_str(b, "[");
        for (size_t k = 0; k < n; k++) {
            if (k)
                buf_append_str(b, ", ");
            toml_quote(b, items[k].spec);
        }
        buf_append_str(b, "]");
        return true;
    }
    }
    return false;
}

static void describe_source(const source_t *src, buf_t *b)
{
    switch (src->layer) {
    case L_DEFAULT:
        buf_append_str(b, "default");
        if (src->where[0])
            buf_printf(b, " (%s)", src->where);
        break;
    case L_COMPAT:
    case L_ENV:
        buf_printf(b, "environment %s", src->where);
        break;
    case L_FILE:
        buf_printf(b, "config file %s", src->where);
        break;
    case L_CMD_ARGS:
        buf_append_str(b, CMD_ARGS_ENV);
        break;
    case L_CLI:
        buf_append_str(b, "command line");
        break;
    }
}

static void print_line(buf_t *b, const char *text, const char *comment)
{
    size_t start = b->len;
    buf_append_str(b, text);
    size_t width = b->len - start;
    if (comment) {
        buf_printf(b, "%*s# %s", (int)(width + 2 > PRINT_COLUMN ? 2 : PRINT_COLUMN - width), "",
                   comment);
    }
    buf_append_str(b, "\n");
}

void tun_write_config(FILE *out, const tun_config_t *cfg)
{
    buf_t b = {0};
    buf_printf(&b, "# uwsgi-fast %s: every setting's effective value and where it came from.\n"
                   "# Valid as a uwsgi-fast.toml; precedence: command line > " CMD_ARGS_ENV
                   " >\n# UWSGI_FAST_<NAME> > config file > default.\n",
               UF_VERSION);
    for (int sec = 0; sec < SEC_COUNT; sec++) {
        buf_printf(&b, "\n# ---- %s\n", section_titles[sec]);
        for (size_t i = 0; i < N_SETTINGS; i++) {
            const setting_t *s = &settings[i];
            if ((int)s->section != sec)
                continue;
            buf_t line = {0}, comment = {0};
            const source_t *src = cfg->sources ? &cfg->sources->s[i] : NULL;
            if (src)
                describe_source(src, &comment);
            if (s->flags & TUN_F_CONFIG) {
                /* a config file cannot name a config file, so this line stays a comment */
                buf_printf(&line, "# %s = ", s->key);
                toml_quote(&line, cfg->config ? cfg->config : "");
            } else if (format_value(s, cfg, &line)) {
                buf_t kv = {0};
                buf_printf(&kv, "%s = %.*s", s->key, (int)line.len, line.data);
                buf_free(&line);
                line = kv;
                if (s->type == TUN_T_INT && (s->flags & TUN_F_AUTO) && cfg->workers_auto)
                    buf_printf(&comment, "; at most %d, fewer if memory is short", cfg->workers);
            } else {
                buf_printf(&line, "# %s is not set", s->key);
                if (s->flags & TUN_F_REQUIRED)
                    buf_append_str(&line, " (required to start)");
            }
            print_line(&b, buf_cstr(&line), src ? buf_cstr(&comment) : NULL);
            buf_free(&line);
            buf_free(&comment);
        }
    }
    if (cfg->sources && cfg->sources->note_count) {
        buf_append_str(&b, "\n# ---- gunicorn settings accepted without effect\n");
        for (size_t i = 0; i < cfg->sources->note_count; i++)
            buf_printf(&b, "# %s\n", cfg->sources->notes[i]);
    }
    if (cfg->warning_count) {
        buf_append_str(&b, "\n# ---- warnings\n");
        for (size_t i = 0; i < cfg->warning_count; i++)
            buf_printf(&b, "# warning: %s\n", cfg->warnings[i]);
    }
    fwrite(b.data, 1, b.len, out);
    buf_free(&b);
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

/* The help of a setting, with "(not acted on yet)" for pending ones. */
static void help_text(const setting_t *s, buf_t *b)
{
    buf_append_str(b, s->help);
    if (s->flags & TUN_F_PENDING)
        buf_append_str(b, " (accepted, not acted on yet)");
}

void tun_write_help(FILE *out)
{
    buf_t b = {0};
    buf_append_str(&b,
                   "usage: uwsgi-fast [OPTIONS] MODULE:CALLABLE\n"
                   "       uwsgi-fast doctor [--root DIR] [OPTIONS]\n"
                   "\n"
                   "Serves the Python WSGI application MODULE:CALLABLE over HTTP/1.1 from "
                   "pre-forked workers,\n"
                   "each with its own io_uring ring. Options follow gunicorn's names and "
                   "meanings; `doctor`\n"
                   "audits this host for uwsgi-fast and prints what to change.\n"
                   "\n"
                   "Every setting can also come from a config file (-c; uwsgi-fast.toml or a "
                   "gunicorn.conf.py,\n"
                   "under the key shown in docs/settings.md), from the environment variable "
                   "shown beside it,\n"
                   "and from " CMD_ARGS_ENV ". Precedence: command line > " CMD_ARGS_ENV
                   " > environment\n"
                   "> config file > default. Values are given as --flag VALUE or --flag=VALUE, "
                   "and -w 4 or -w4.\n");
    for (int sec = 0; sec < SEC_COUNT; sec++) {
        buf_printf(&b, "\n%s:\n", section_titles[sec]);
        for (size_t i = 0; i < N_SETTINGS; i++) {
            const setting_t *s = &settings[i];
            if ((int)s->section != sec)
                continue;
            buf_t flags = {0}, deflt = {0}, env = {0}, text = {0};
            help_flags(s, &flags);
            help_text(s, &text);
            if (s->flags & TUN_F_REQUIRED) {
                buf_append_str(&deflt, "(required)");
            } else {
                buf_append_str(&deflt, "(default: ");
                describe_default(s, &deflt);
                buf_append_str(&deflt, ")");
            }
            buf_printf(&env, "[env: %s]", s->env);
            help_entry(&b, buf_cstr(&flags), buf_cstr(&text), buf_cstr(&deflt), buf_cstr(&env));
            buf_free(&flags);
            buf_free(&deflt);
            buf_free(&env);
            buf_free(&text);
        }
    }
    buf_append_str(&b, "\nOther options:\n");
    help_entry(&b, "-h, --help", "show this help and exit", NULL, NULL);
    help_entry(&b, "-v, --version", "print the version and exit", NULL, NULL);
    help_entry(&b, "    --print-config",
               "print every effective setting and where it came from, then exit", NULL, NULL);
    help_entry(&b, "    --check-config",
               "validate the settings and exit: 0 when they are valid, 2 when not", NULL, NULL);

    buf_append_str(&b, "\ngunicorn flags that are refused with a reason (see docs/settings.md):\n");
    size_t col = 2;
    buf_append_str(&b, "  ");
    for (size_t i = 0; i < N_REFUSED; i++) {
        const refusal_t *r = &refused[i];
        if (!r->long_flag || r->kind == TUN_R_NOOP)
            continue;
        char one[96];
        snprintf(one, sizeof(one), "--%s", r->long_flag);
        size_t len = strlen(one);
        if (col > 2 && col + 1 + len > HELP_WIDTH) {
            buf_append_str(&b, "\n  ");
            col = 2;
        } else if (col > 2) {
            buf_append_str(&b, " ");
            col++;
        }
        buf_append_str(&b, one);
        col += len;
    }
    buf_append_str(&b, "\nAccepted without effect:");
    for (size_t i = 0; i < N_REFUSED; i++)
        if (refused[i].kind == TUN_R_NOOP && refused[i].long_flag)
            buf_printf(&b, " --%s", refused[i].long_flag);
    buf_append_str(&b, "\n");
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

static void md_refused_flags(buf_t *b, const refusal_t *r)
{
    buf_t cell = {0};
    if (!r->long_flag) {
        buf_append_str(b, "config file only");
        return;
    }
    if (r->short_flag) {
        buf_printf(&cell, "-%c", r->short_flag);
        md_code(b, buf_cstr(&cell));
        buf_append_str(b, ", ");
        cell.len = 0;
    }
    buf_printf(&cell, "--%s%s%s", r->long_flag, r->arg ? " " : "", r->arg ? r->arg : "");
    md_code(b, buf_cstr(&cell));
    if (r->alias) {
        cell.len = 0;
        buf_printf(&cell, "--%s%s%s", r->alias, r->arg ? " " : "", r->arg ? r->arg : "");
        buf_append_str(b, ", ");
        md_code(b, buf_cstr(&cell));
    }
    buf_free(&cell);
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
        "Every setting can be given on the command line, in `" CMD_ARGS_ENV "`, in its "
        "environment\n"
        "variable, or in a config file under its *key* (see [configuration.md](configuration.md)"
        "). A\n"
        "setting takes its value from the first of these that has one:\n"
        "\n"
        "1. the command line,\n"
        "2. `" CMD_ARGS_ENV "` (flags, split like a shell would, as gunicorn's "
        "`GUNICORN_CMD_ARGS`),\n"
        "3. its environment variable `UWSGI_FAST_<NAME>`,\n"
        "4. the config file (`-c FILE`, or `./uwsgi-fast.toml` or `./gunicorn.conf.py` when "
        "present),\n"
        "5. gunicorn's conventions where they apply (`WEB_CONCURRENCY`, `PORT`, "
        "`VIRTUAL_ENV`),\n"
        "6. the default.\n"
        "\n"
        "A list is never merged across these layers: the list from the highest layer replaces the\n"
        "others. Flags take their value as `--flag VALUE` or `--flag=VALUE`, short flags as `-w 4` "
        "or\n"
        "`-w4`. An empty environment variable counts as unset. `uwsgi-fast --print-config` shows\n"
        "every effective value and which layer it came from; `--check-config` validates and exits.\n"
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
        buf_append_str(&b, "| setting | flags | environment | config key | type | default | "
                           "accepted | reloadable | description |\n");
        buf_append_str(&b, "|---|---|---|---|---|---|---|---|---|\n");
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
            if (s->flags & TUN_F_CONFIG)
                buf_append_str(&b, "—");
            else
                md_code(&b, s->key);
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
            cell.len = 0;
            help_text(s, &cell);
            md_cell(&b, buf_cstr(&cell));
            buf_append_str(&b, " |\n");
            buf_free(&cell);
        }
    }

    buf_append_str(
        &b, "\n## gunicorn settings uwsgi-fast does not have\n"
            "\n"
            "Each of these, given on the command line, in `" CMD_ARGS_ENV "` or in a config "
            "file, stops\n"
            "uwsgi-fast at start with its reason (exit status 2); none is ignored silently. The "
            "values in\n"
            "the *harmless* column ask for nothing and are accepted (they are gunicorn's own "
            "defaults).\n"
            "*Accepted, no effect* settings are taken as they are because uwsgi-fast already "
            "behaves so.\n"
            "\n"
            "| gunicorn setting | flags | status | harmless | reason |\n"
            "|---|---|---|---|---|\n");
    for (size_t i = 0; i < N_REFUSED; i++) {
        const refusal_t *r = &refused[i];
        static const char *const status[] = {[TUN_R_PLANNED] = "planned",
                                             [TUN_R_NEVER] = "not supported",
                                             [TUN_R_NOOP] = "accepted, no effect"};
        buf_append_str(&b, "| ");
        md_code(&b, r->key);
        buf_append_str(&b, " | ");
        md_refused_flags(&b, r);
        buf_printf(&b, " | %s | ", status[r->kind]);
        if (r->harmless) {
            const char *p = r->harmless;
            while (*p) {
                size_t len = strcspn(p, "|");
                char alt[128];
                snprintf(alt, sizeof(alt), "%.*s", (int)len, p);
                if (p != r->harmless)
                    buf_append_str(&b, ", ");
                md_code(&b, alt);
                p += len + (p[len] == '|');
            }
        }
        buf_append_str(&b, " | ");
        md_cell(&b, r->reason);
        buf_append_str(&b, " |\n");
    }
    buf_append_str(&b, "\n## gunicorn server hooks\n\n"
                       "A gunicorn.conf.py may define these; none is called yet, and each one "
                       "defined gets a\nwarning at start: ");
    for (size_t i = 0; i < UF_ARRAY_LEN(hooks); i++) {
        if (i)
            buf_append_str(&b, ", ");
        md_code(&b, hooks[i]);
    }
    buf_append_str(&b, ".\n");
    fwrite(b.data, 1, b.len, out);
    buf_free(&b);
}
