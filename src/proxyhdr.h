/* The PROXY protocol at the start of a connection (--proxy-protocol): who may connect, the
 * header taken from the first bytes (src/proxyproto.h parses it), and what it says put
 * where the rest of the connection looks for its client.
 *
 * With the setting on, a connection from outside --proxy-allow-from is closed unread; one
 * from inside it must begin with a header, and a malformed one (or plain HTTP where the
 * header belongs) closes it. gunicorn differs here on purpose: it serves a connection
 * without a header as plain HTTP, and reads a header from anyone who sends one (answering
 * 403 outside the list), so a client that reaches the server directly chooses whether
 * its address is the socket's or one it writes itself. Requiring the header from the
 * proxies and refusing everyone else leaves no such choice.
 *
 * What the header says: the source becomes REMOTE_ADDR, REMOTE_PORT and the access log's
 * %(h)s; the destination becomes SERVER_NAME and SERVER_PORT; a v2 SSL TLV with the
 * client bit makes wsgi.url_scheme https. A LOCAL command, a v1 UNKNOWN line and the
 * UNSPEC and UNIX families keep the socket's own addresses. Whether the peer may set the
 * X-Forwarded-* scheme headers and SCRIPT_NAME (--forwarded-allow-ips) is still decided on
 * the socket's peer, the proxy, as gunicorn decides it.
 *
 * Invariants: with the setting on, no byte of a connection reaches the HTTP parser before
 * its header has been taken out of c->in (conn_process_input calls proxyhdr_take first);
 * the header is at most PP_V2_MAX bytes, so a connection waiting for one holds at most
 * that. With work sharing the header's bytes are kept (PP_TRAVEL_MAX at most: HAProxy's
 * with TLS details are well under it), so that a hand-off sends them ahead of the request
 * and the sibling reads them as the first worker did; a connection with a longer header
 * is served by the worker that accepted it. Loop thread only.
 */
#ifndef UF_PROXYHDR_H
#define UF_PROXYHDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "src/admit.h"
#include "src/proxy.h"
#include "tunables/tunables.h"

struct worker;
struct conn;

/* What every connection of a worker shares. */
typedef struct proxyhdr {
    unsigned versions; /* PP_ACCEPT_* bits; 0: the setting is off */
    proxy_t allow;     /* --proxy-allow-from, matched as src/proxy.h matches trusted peers */
    admit_log_t log;   /* its refusals' lines */
} proxyhdr_t;

/* What a connection keeps of its header. */
typedef struct proxyhdr_conn {
    bool used;                       /* the connection had to begin with a header */
    bool waiting;                    /* ...which has not been read yet */
    bool ssl;                        /* the v2 SSL TLV said the client spoke TLS to the proxy */
    bool sock_loopback;              /* the socket's peer (the proxy) is on loopback */
    char dst_host[INET6_ADDRSTRLEN]; /* the header's destination; "" = the listener's */
    int dst_port;
    uint8_t *raw; /* the header as it came, for a hand-off (work sharing), or NULL */
    uint16_t raw_len;
} proxyhdr_conn_t;

/* The longest header a hand-off carries along. */
#define PP_TRAVEL_MAX 512

/* Reads the settings into p (its allow list is copied). */
void proxyhdr_setup(proxyhdr_t *p, const tun_config_t *cfg);

/* A connection has just been given a slot (accepted, or handed over unread): with the
 * setting on, looks its peer up, and either marks it as waiting for its header, or
 * refuses it (a line in the error log, at most one a second) and closes it. Returns false
 * when it is closing. */
bool proxyhdr_open(struct worker *w, struct conn *c);

/* Takes the header from the start of c->in when all of it is there. Returns 1 when it is
 * taken (the bytes after it stay in c->in, the start of the first request), 0 when more
 * is needed, or -1 when it is malformed: the connection is then closing (with a line in
 * the error log, at most one a second). */
int proxyhdr_take(struct worker *w, struct conn *c);

/* Releases what c kept of its header (at the connection's end). */
void proxyhdr_forget(struct conn *c);

#endif
