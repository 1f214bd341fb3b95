/* gunicorn's syslog settings: facility names, address spellings, the tag. */
#include "src/syslogcfg.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int code;
} facilities[] = {
    {"auth", 4},    {"authpriv", 10}, {"cron", 9},    {"daemon", 3},  {"ftp", 11},
    {"kern", 0},    {"lpr", 6},       {"mail", 2},    {"news", 7},    {"security", 4},
    {"syslog", 5},  {"user", 1},      {"uucp", 8},    {"local0", 16}, {"local1", 17},
    {"local2", 18}, {"local3", 19},   {"local4", 20}, {"local5", 21}, {"local6", 22},
    {"local7", 23},
};
#define N_FACILITIES (sizeof(facilities) / sizeof(facilities[0]))

int syslogcfg_facility(const char *name)
{
    for (size_t i = 0; name && i < N_FACILITIES; i++)
        if (strcasecmp(name, facilities[i].name) == 0)
            return facilities[i].code;
    return -1;
}

const char *syslogcfg_facility_names(void)
{
    static char names[256];
    if (!names[0])
        for (size_t i = 0, n = 0; i < N_FACILITIES; i++)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
                                  facilities[i].name);
    return names;
}

int syslogcfg_address(const char *spec, logship_target_t *t, char *err, size_t errlen)
{
    char url[320], inner[300];
    size_t n = strcspn(spec, "#");
    const char *type = spec[n] ? spec + n + 1 : NULL;
    if (type && strcmp(type, "dgram") != 0 && strcmp(type, "stream") != 0)
        goto bad;
    if (strncmp(spec, "unix://", 7) == 0)
        snprintf(url, sizeof(url), "unix:%.*s", (int)(n - 7), spec + 7);
    else if (strncmp(spec, "unix:", 5) == 0)
        snprintf(url, sizeof(url), "%.*s", (int)n, spec);
    else if (type)
        goto bad; /* gunicorn reads the socket type only for unix addresses */
    else if (strncmp(spec, "udp://", 6) == 0 || strncmp(spec, "tcp://", 6) == 0) {
        /* gunicorn's default port when none is given; [v6] keeps its colons */
        const char *host = spec + 6;
        const char *close = host[0] == '[' ? strchr(host, ']') : NULL;
        const char *colon = strrchr(close ? close : host, ':');
        snprintf(url, sizeof(url), "%s%s", spec, colon ? "" : ":514");
    } else {
        goto bad;
    }
    if (logship_parse(url, t, inner, sizeof(inner)) == 0) {
        snprintf(t->spec, sizeof(t->spec), "%s", spec);
        return 0;
    }
    if (strstr(inner, "cannot resolve")) {
        snprintf(err, errlen, "--log-syslog-to: %s", strstr(inner, "cannot resolve"));
        return -1;
    }
bad:
    snprintf(err, errlen,
             "--log-syslog-to: \"%s\" is not udp://HOST[:PORT], tcp://HOST[:PORT], unix://PATH or "
             "unix:PATH (port 1 to 65535, 514 when none)",
             spec);
    return -1;
}

void syslogcfg_tag(const char *prefix, const char *name, char *out, size_t outlen)
{
    const char *base = prefix && *prefix ? prefix : name && *name ? name : "uwsgi-fast";
    int n = snprintf(out, outlen, "gunicorn.%s", base);
    size_t len = n < 0 ? 0 : (size_t)n >= outlen ? outlen - 1 : (size_t)n;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c == ':')
            out[i] = '.';
        else if (c <= ' ' || c >= 0x7f || c == '[' || c == ']')
            out[i] = '_';
    }
}
