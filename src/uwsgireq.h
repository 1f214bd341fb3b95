/* The uwsgi protocol on a connection (--protocol uwsgi, or a bind written uwsgi://...):
 * who may connect, the packet taken into the request the rest of the connection serves
 * (src/uwsgiproto.h parses it), and its variables put where the environ is built.
 *
 * Every connection of such a bind speaks it, one request per connection: nginx does not
 * keep uwsgi upstream connections alive (its keepalive directive needs a protocol that
 * frames the response; the uwsgi protocol's response is plain HTTP read until the close),
 * so the response says HTTP/1.0 with Connection: close, is never chunked, and the
 * connection closes after it.
 *
 * The packet becomes an HTTP request: REQUEST_METHOD the method, REQUEST_URI the target
 * (PATH_INFO when there is none), SERVER_PROTOCOL the version, each HTTP_* variable a
 * header field (HTTP_USER_AGENT is User-Agent, as gunicorn maps them), CONTENT_TYPE and
 * CONTENT_LENGTH too when not empty, and CONTENT_LENGTH bytes after the block its body.
 * So limits, timeouts, body spooling, the access log, the metrics and the C-answered
 * health paths work as for HTTP. The header names are rewritten in place in the input
 * ('_' to '-', which the packet's lengths do not see), so the bytes a hand-off carries to
 * a sibling (work sharing) parse there to the same request.
 *
 * The environ then takes from the variables what HTTP would take from the socket or the
 * target: PATH_INFO as sent (nginx decodes it; REQUEST_URI stays raw in RAW_URI),
 * REMOTE_ADDR and REMOTE_PORT (also the access log's client), SCRIPT_NAME (over
 * --root-path; taken off the front of PATH_INFO), the scheme (HTTPS on/1/true, or
 * UWSGI_SCHEME, REQUEST_SCHEME or wsgi.url_scheme https); every other variable (SERVER_NAME,
 * SERVER_PORT, SERVER_PROTOCOL, QUERY_STRING, DOCUMENT_ROOT, a custom uwsgi_param) is set
 * as it came, except names beginning with "wsgi.".
 *
 * A malformed packet (src/uwsgiproto.h's checks, or a packet without a method and a path)
 * closes the connection unanswered, with a line in the error log at most once a second;
 * a well-formed one over a limit is answered as HTTP would be (413, 414, 431, 400).
 * Invariants: the packet starts at c->in.data[0] (after a PROXY protocol header, which
 * is taken out first) and stays there until the response is done. Loop thread only.
 */
#ifndef UF_UWSGIREQ_H
#define UF_UWSGIREQ_H

#include <stdbool.h>
#include <stdint.h>

#include "python_bridge/wsgi.h"
#include "src/admit.h"
#include "src/proxy.h"
#include "src/uwsgiproto.h"
#include "tunables/tunables.h"

struct worker;
struct conn;

/* What every connection of a worker shares. */
typedef struct uwsgireq {
    proxy_t allow;         /* --uwsgi-allow-from, matched as src/proxy.h matches peers */
    uwsgi_limits_t limits; /* from the head limits */
    uint32_t uri_max;      /* --limit-request-line for REQUEST_URI, 0 = unlimited */
    admit_log_t log;       /* refusals and malformed packets, a line a second at most */
} uwsgireq_t;

/* What a connection keeps. */
typedef struct uwsgireq_conn {
    bool used;         /* its bind speaks the uwsgi protocol */
    uint32_t head_len; /* header and block at the start of c->in, once taken; 0 before */
    py_header_t *cgi;  /* the environ's variables, per request; kept by the slot */
    uint32_t cgi_cap;
} uwsgireq_conn_t;

/* Reads the settings into u (the allow list is copied). */
void uwsgireq_setup(uwsgireq_t *u, const tun_config_t *cfg);

/* A connection has just been given a slot: on a uwsgi bind, looks its peer up and either
 * marks it as speaking the protocol, or refuses it (outside --uwsgi-allow-from; unix
 * peers are always allowed, as gunicorn's) with a line in the error log and closes it.
 * Returns false when it is closing. */
bool uwsgireq_open(struct worker *w, struct conn *c);

/* conn_process_input's parse step for such a connection: takes the packet once all of
 * it is there, then the body as http_parse does. Returns the offset in c->in parsed up to
 * (as http_parse), -1 with c->req.error_status set for an answer, or -2 when the packet
 * was malformed and the connection is closing. */
long uwsgireq_parse(struct worker *w, struct conn *c);

/* Puts the variables of c's packet into pr, built from c->req as for HTTP. */
void uwsgireq_request(struct worker *w, struct conn *c, py_request_t *pr);

#endif
