/* Who may connect to a bind that speaks a front end's protocol (the PROXY protocol's
 * --proxy-allow-from, the uwsgi protocol's --uwsgi-allow-from), and the refusals' lines.
 *
 * Such protocols let the peer say who the client is, so only the front ends may speak
 * them: a connection's peer is looked up when it gets its slot and, outside the list,
 * the connection is closed unread. A unix socket's peer has no address to check and is
 * allowed, as gunicorn allows it. A refusal (or a malformed header or packet later) gets
 * a line in the error log at most once a second, with the count of the others since,
 * since a scan or a misconfigured front end can be refused thousands of times a second.
 * Loop thread only.
 */
#ifndef UF_ADMIT_H
#define UF_ADMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "src/proxy.h"

struct worker;
struct conn;

/* One protocol's refusal lines. */
typedef struct admit_log {
    const char *protocol; /* how the lines begin: "PROXY protocol" */
    uint64_t logged_ms;   /* the last line */
    uint64_t unlogged;    /* refusals since it */
} admit_log_t;

/* Looks c's peer up; closes c and returns false when the socket has no peer any more or
 * its address is not in `allow` (a line in l, naming `setting`). */
bool admit_peer(struct worker *w, struct conn *c, const proxy_t *allow, admit_log_t *l,
                const char *setting);

/* Logs that c was closed for `why` (at most one line a second). */
void admit_log_refusal(struct worker *w, const struct conn *c, admit_log_t *l, const char *why);

#endif
