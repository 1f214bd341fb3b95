/* The uwsgi protocol on a connection (loop thread). */
#include "src/uwsgireq.h"

#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/mem.h"
#include "src/conn.h"
#include "src/worker.h"

/* Room for the CGI variables nginx's uwsgi_params sends (15) and custom ones, beside the
 * header fields --limit-request-fields counts. */
#define CGI_VARS_ROOM 64

void uwsgireq_setup(uwsgireq_t *u, const tun_config_t *cfg)
{
    static const tun_pairs_t no_schemes;
    memset(u, 0, sizeof(*u));
    proxy_setup(&u->allow, &cfg->uwsgi_allow, &no_schemes);
    u->log.protocol = "uwsgi protocol";
    http_limits_t hl;
    http_limits_from_config(&hl, cfg);
    u->limits = (uwsgi_limits_t){
        .block = hl.header_bytes < 65535 ? hl.header_bytes : 65535,
        .vars = hl.fields ? hl.fields + CGI_VARS_ROOM : 0,
        .var_size = hl.field_size,
    };
    u->uri_max = hl.request_line;
}

bool uwsgireq_open(worker_t *w, conn_t *c)
{
    if (!w->listeners[c->listener].uwsgi)
        return true;
    uwsgireq_t *u = &w->conn_shared.uw;
    if (!admit_peer(w, c, &u->allow, &u->log, "--uwsgi-allow-from"))
        return false;
    c->uw.used = true;
    return true;
}

static bool key_is(const uwsgi_var_t *v, const char *name)
{
    size_t n = strlen(name);
    return v->key_len == n && memcmp(v->key, name, n) == 0;
}

/* CONTENT_TYPE or CONTENT_LENGTH, also as a hand-off's sibling sees them (CONTENT-TYPE:
 * the names are rewritten in place, see the header). */
static bool key_is_content(const uwsgi_var_t *v, const char *suffix)
{
    size_t n = strlen(suffix);
    return v->key_len == 8 + n && memcmp(v->key, "CONTENT", 7) == 0 &&
           (v->key[7] == '_' || v->key[7] == '-') && memcmp(v->key + 8, suffix, n) == 0;
}

static bool is_header(const uwsgi_var_t *v)
{
    return v->key_len > 5 && memcmp(v->key, "HTTP_", 5) == 0;
}

static http_span_t span_of(const conn_t *c, const uint8_t *p, size_t len)
{
    return (http_span_t){(uint32_t)(p - (const uint8_t *)c->in.data), (uint32_t)len};
}

/* A header field from a variable: its name ('_' made '-', in place) from `skip` on. */
static int add_field(conn_t *c, const uwsgi_var_t *v, size_t skip)
{
    uint8_t *name = (uint8_t *)v->key + skip;
    for (size_t i = 0; i < v->key_len - skip; i++)
        if (name[i] == '_')
            name[i] = '-';
    return http_add_header(&c->req, span_of(c, name, v->key_len - skip),
                           span_of(c, v->value, v->value_len));
}

/* CONTENT_LENGTH's value: "" is none; digits only, else -1. */
static int64_t content_length(const uwsgi_var_t *v)
{
    if (v->value_len > 18)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v->value_len; i++) {
        if (v->value[i] < '0' || v->value[i] > '9')
            return -1;
        n = n * 10 + (v->value[i] - '0');
    }
    return n;
}

/* The packet of head_len bytes into c->req. Returns 0, or -1 with error_status set (for
 * an answer), or -2 for a packet that names no request (closed). */
static int take_packet(worker_t *w, conn_t *c, size_t head_len)
{
    http_req_t *req = &c->req;
    const uint8_t *buf = (const uint8_t *)c->in.data;
    bool method = false, uri = false, path = false;
    int64_t length = 0;
    size_t pos = 0;
    uwsgi_var_t v;
    req->version_minor = 1;
    while (uwsgi_next_var(buf, &pos, &v)) {
        if (is_header(&v)) {
            if (add_field(c, &v, 5) < 0)
                return -1;
        } else if (key_is_content(&v, "TYPE") || key_is_content(&v, "LENGTH")) {
            if (v.key[8] == 'L' && (length = content_length(&v)) < 0) {
                req->error_status = 400;
                return -1;
            }
            if (v.value_len && add_field(c, &v, 0) < 0)
                return -1;
        } else if (key_is(&v, "REQUEST_METHOD")) {
            method = true, req->method = span_of(c, v.value, v.value_len);
        } else if (key_is(&v, "REQUEST_URI")) {
            uri = true, req->target = span_of(c, v.value, v.value_len);
        } else if (key_is(&v, "PATH_INFO")) {
            path = true;
            if (!uri)
                req->target = span_of(c, v.value, v.value_len);
        } else if (key_is(&v, "SERVER_PROTOCOL")) {
            req->version_minor = v.value_len == 8 && memcmp(v.value, "HTTP/1.0", 8) == 0 ? 0 : 1;
        }
    }
    if (!method || !req->method.len || (!uri && !path)) {
        admit_log_refusal(w, c, &w->conn_shared.uw.log,
                          "the packet has no REQUEST_METHOD, or neither REQUEST_URI nor "
                          "PATH_INFO");
        conn_close_now(w, c);
        return -2;
    }
    uint32_t max = w->conn_shared.uw.uri_max;
    if (max && req->target.len > max) {
        req->error_status = 414;
        return -1;
    }
    c->uw.head_len = (uint32_t)head_len;
    return http_head_framed(req, (uint32_t)head_len, (uint64_t)length);
}

long uwsgireq_parse(worker_t *w, conn_t *c)
{
    http_req_t *req = &c->req;
    if (c->uw.head_len)
        return http_parse(req, c->in.data, c->parsed, c->in.len);
    uint32_t vars;
    const char *why = NULL;
    long n =
        uwsgi_parse((const uint8_t *)c->in.data, c->in.len, &w->conn_shared.uw.limits, &vars, &why);
    if (n == 0)
        return 0;
    if (n < 0) {
        admit_log_refusal(w, c, &w->conn_shared.uw.log, why);
        conn_close_now(w, c);
        return -2;
    }
    int rc = take_packet(w, c, (size_t)n);
    if (rc < 0)
        return rc;
    return http_parse(req, c->in.data, (size_t)n, c->in.len);
}

/* HTTPS's words for on, as gunicorn reads them. */
static bool says_on(const uwsgi_var_t *v)
{
    static const char *const on[] = {"on", "1", "true"};
    for (size_t i = 0; i < UF_ARRAY_LEN(on); i++)
        if (v->value_len == strlen(on[i]) &&
            strncasecmp((const char *)v->value, on[i], v->value_len) == 0)
            return true;
    return false;
}

static bool says_https(const uwsgi_var_t *v)
{
    return v->value_len == 5 && strncasecmp((const char *)v->value, "https", 5) == 0;
}

static py_slice_t slice_of(const uint8_t *p, size_t len)
{
    return (py_slice_t){(const char *)p, len};
}

void uwsgireq_request(worker_t *w, conn_t *c, py_request_t *pr)
{
    (void)w;
    uwsgireq_conn_t *u = &c->uw;
    const uint8_t *buf = (const uint8_t *)c->in.data;
    size_t pos = 0;
    uint32_t n = 0;
    uwsgi_var_t v;
    pr->unix_socket = false;
    while (uwsgi_next_var(buf, &pos, &v)) {
        if (is_header(&v) || key_is_content(&v, "TYPE") || key_is_content(&v, "LENGTH"))
            continue;
        if (key_is(&v, "PATH_INFO")) {
            pr->path_info = slice_of(v.value, v.value_len);
        } else if (key_is(&v, "SCRIPT_NAME")) {
            if (v.value_len)
                pr->script_name = slice_of(v.value, v.value_len);
        } else if (key_is(&v, "REMOTE_ADDR")) {
            if (v.value_len < sizeof(c->peer_host)) {
                memcpy(c->peer_host, v.value, v.value_len);
                c->peer_host[v.value_len] = 0;
            }
        } else if (key_is(&v, "REMOTE_PORT")) {
            int port = 0;
            for (size_t i = 0; i < v.value_len && i < 6 && v.value[i] >= '0' && v.value[i] <= '9';
                 i++)
                port = port * 10 + (v.value[i] - '0');
            c->peer_port = port;
        } else if (v.key_len >= 5 && memcmp(v.key, "wsgi.", 5) == 0) {
            if (key_is(&v, "wsgi.url_scheme") && says_https(&v))
                pr->https = true; /* never set as it came: wsgi.* are the server's */
        } else {
            if ((key_is(&v, "HTTPS") && says_on(&v)) ||
                ((key_is(&v, "UWSGI_SCHEME") || key_is(&v, "REQUEST_SCHEME")) && says_https(&v)))
                pr->https = true;
            if (n == u->cgi_cap) {
                u->cgi_cap = u->cgi_cap ? u->cgi_cap * 2 : 32;
                u->cgi = uf_realloc(u->cgi, u->cgi_cap * sizeof(py_header_t));
            }
            u->cgi[n++] = (py_header_t){slice_of(v.key, v.key_len), slice_of(v.value, v.value_len)};
        }
    }
    pr->remote_addr = c->peer_host;
    pr->remote_port = c->peer_port;
    pr->cgi = u->cgi;
    pr->cgi_count = n;
}
