/* The access log's format: gunicorn's format language, compiled once, rendered per
 * request into a per-worker buffer (src/accesslog_writer.h writes it in batches).
 *
 * A format such as `%(h)s "%(r)s" %(s)s %({x-request-id}i)s` is compiled at start into a
 * list of ops (literal text, or an atom with its argument), so a request costs a walk
 * over that list and a few appends, never a parse. The same compiled format renders a
 * JSON object (--access-log-json): one key per distinct atom, in format order, the
 * literal text dropped.
 *
 * Escaping: every value that comes from a client or the application (request line,
 * header values, user, environ values) is escaped, so no header can forge a line: in
 * text, `"` and `\` get a backslash and control bytes and bytes >= 0x7f become \xHH; in
 * JSON, the usual escapes, and control and non-ASCII bytes become \u00HH (headers are
 * latin-1, as in the WSGI environ), so a JSON line is always ASCII and always parses.
 */
#ifndef UF_ACCESSLOG_H
#define UF_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "python_bridge/wsgi.h"
#include "src/http.h"
#include "common/mem.h"

/* gunicorn's default format (its access_log_format). */
#define ALOG_DEFAULT_FORMAT "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\""

#define ALOG_MAX_OUT 8 /* %({name}o)s atoms one format may hold */

typedef struct alog_fmt alog_fmt_t;

/* The response header values a format asks for (%({name}o)s), copied when the response
 * head is built: the application's header list is gone by the time the line is written. */
typedef struct alog_resp {
    buf_t text; /* the values, back to back */
    uint32_t off[ALOG_MAX_OUT];
    int32_t len[ALOG_MAX_OUT]; /* -1: the response had no such header */
} alog_resp_t;

/* Everything one line is made of. The spans of `req` are offsets into base[0, base_len);
 * a span outside it (a request cut short) renders as "-". */
typedef struct alog_rec {
    const char *base;
    size_t base_len;
    const http_req_t *req;
    const char *remote_addr; /* numeric text; "" = unknown */
    int remote_port;
    const char *server_name;
    int server_port;
    const char *script_name; /* --root-path, taken off PATH_INFO; may be NULL */
    size_t script_name_len;
    int status;          /* 0: none was sent */
    int ws_close;        /* a WebSocket's close code (status 101); 0: not a WebSocket */
    uint64_t body_bytes; /* response body bytes (%(b)s) */
    uint64_t duration_us;
    int64_t phase_us[4];  /* scoreboard.h's enum sb_phase: parse, waited, app, send; -1 unknown */
    struct timespec wall; /* CLOCK_REALTIME at the end of the response */
    int pid;
    unsigned worker;
    uint64_t conn_id;
    const alog_resp_t *resp; /* may be NULL when the format has no o-atoms */
} alog_rec_t;

/* Compiles `format`. Returns 0, or -1 with one line in err (an unterminated "%(", a
 * conversion other than s, d or i, too many o-atoms). Atoms gunicorn does not know
 * either render as "-", as gunicorn renders them; alog_fmt_unknown names the first. */
int alog_compile(const char *format, alog_fmt_t **out, char *err, size_t errlen);
void alog_fmt_free(alog_fmt_t *f);
const char *alog_fmt_unknown(const alog_fmt_t *f);
/* How many %({name}o)s atoms the format has: 0 means nothing needs capturing. */
unsigned alog_fmt_out_count(const alog_fmt_t *f);

/* Copies the values of the response headers the format names into r (the last one of
 * a repeated name wins, as in gunicorn's atom dictionary). */
void alog_capture(const alog_fmt_t *f, alog_resp_t *r, const py_header_t *headers, size_t n);

/* Appends one line, with its newline, for rec: text, or a JSON object when `json`. */
/* Whether the format's JSON object has `key` (e.g. "pid" from %(p)s), so that a shipper
 * adding keys of its own can leave that one to the line. */
bool alog_fmt_has_json_key(const alog_fmt_t *f, const char *key);

void alog_render(alog_fmt_t *f, bool json, const alog_rec_t *rec, buf_t *out);

#endif
