/* gunicorn's syslog settings read into a log-shipping target: the facility names
 * (--log-syslog-facility), the address spellings (--log-syslog-to) and the tag
 * (--log-syslog-prefix). Pure functions of their arguments, apart from resolving a host
 * name; nothing here opens a socket or keeps state.
 *
 * The syslog output itself is one more logship_t (src/logship.h) beside --log-target:
 * both may be on at once, and each receives every line of its process.
 */
#ifndef UF_SYSLOGCFG_H
#define UF_SYSLOGCFG_H

#include <stddef.h>

#include "src/logship.h"

/* The facility code of a name gunicorn accepts (auth, authpriv, cron, daemon, ftp, kern,
 * lpr, mail, news, security, syslog, user, uucp, local0..local7), ignoring case; -1 for
 * any other word. */
int syslogcfg_facility(const char *name);

/* Those names, comma separated, for messages. */
const char *syslogcfg_facility_names(void);

/* Reads a syslog address as gunicorn writes it: udp://HOST[:PORT] (port 514 when none),
 * tcp://HOST[:PORT], unix://PATH or unix:PATH (a "#dgram" or "#stream" suffix is accepted
 * and ignored: the socket's own type is found when connecting). Returns 0, or -1 with one
 * line in err naming --log-syslog-to and the accepted forms. */
int syslogcfg_address(const char *spec, logship_target_t *t, char *err, size_t errlen);

/* The tag (RFC 3164) or APP-NAME (RFC 5424) base of the lines: "gunicorn." and the prefix
 * (else `name`, gunicorn's process name, with ':' written '.'); logship adds ".error" or
 * ".access". Bytes a syslog header cannot carry (space, control, non-ASCII) become '_',
 * and the result is cut to fit out. */
void syslogcfg_tag(const char *prefix, const char *name, char *out, size_t outlen);

#endif
