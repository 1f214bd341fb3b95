/* The WebSocket opening handshake: the request judged, the accept value computed. */
#include "src/wshandshake.h"

#include <string.h>
#include <strings.h>

#include "src/base64.h"
#include "src/sha1.h"

static bool slice_is(py_slice_t s, const char *text)
{
    size_t n = strlen(text);
    return s.len == n && strncasecmp(s.ptr, text, n) == 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

bool ws_hs_next_item(const char *value, size_t len, size_t *pos, py_slice_t *item)
{
    size_t i = *pos;
    while (i < len) {
        while (i < len && (is_space(value[i]) || value[i] == ','))
            i++;
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (end > start && is_space(value[end - 1]))
            end--;
        if (end > start) {
            *item = (py_slice_t){value + start, end - start};
            *pos = i;
            return true;
        }
    }
    *pos = len;
    return false;
}

/* True when some field named `name` lists `token`. */
static bool lists(const py_request_t *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->header_count; i++) {
        const py_header_t *h = &req->headers[i];
        if (!slice_is(h->name, name))
            continue;
        size_t pos = 0;
        py_slice_t item;
        while (ws_hs_next_item(h->value.ptr, h->value.len, &pos, &item))
            if (slice_is(item, token))
                return true;
    }
    return false;
}

/* The one field named `name`: returns how many there are, *value the last. */
static size_t field(const py_request_t *req, const char *name, py_slice_t *value)
{
    size_t n = 0;
    for (size_t i = 0; i < req->header_count; i++)
        if (slice_is(req->headers[i].name, name)) {
            *value = req->headers[i].value;
            n++;
        }
    return n;
}

/* RFC 9110 5.6.2's tchar: what a subprotocol name is made of. */
static bool is_token(py_slice_t s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c && strchr(extra, c))))
            return false;
    }
    return s.len > 0;
}

bool ws_hs_requested(const py_request_t *req)
{
    return lists(req, "upgrade", "websocket");
}

static int refuse(ws_hs_t *hs, int status, const char *why)
{
    hs->status = status;
    hs->why = why;
    return status;
}

static int collect_protocols(const py_request_t *req, ws_hs_t *hs)
{
    for (size_t i = 0; i < req->header_count; i++) {
        const py_header_t *h = &req->headers[i];
        if (!slice_is(h->name, "sec-websocket-protocol"))
            continue;
        size_t pos = 0;
        py_slice_t item;
        while (ws_hs_next_item(h->value.ptr, h->value.len, &pos, &item)) {
            if (!is_token(item))
                return refuse(hs, 400, "Sec-WebSocket-Protocol lists something not a token");
            if (hs->protocol_count == WS_PROTOCOLS_MAX)
                return refuse(hs, 400, "Sec-WebSocket-Protocol lists too many subprotocols");
            hs->protocols[hs->protocol_count++] = item;
        }
    }
    return 0;
}

int ws_hs_check(const py_request_t *req, ws_hs_t *hs)
{
    memset(hs, 0, sizeof(*hs));
    /* methods are case-sensitive (RFC 9110 9.1) */
    if (req->method.len != 3 || memcmp(req->method.ptr, "GET", 3) != 0)
        return refuse(hs, 400, "a WebSocket handshake must be a GET");
    if (req->version_minor < 1)
        return refuse(hs, 400, "a WebSocket handshake needs HTTP/1.1");
    if (!lists(req, "connection", "upgrade"))
        return refuse(hs, 400, "Connection does not list upgrade");
    py_slice_t v;
    if (field(req, "sec-websocket-version", &v) != 1 || v.len != 2 || memcmp(v.ptr, "13", 2))
        return refuse(hs, 426, "Sec-WebSocket-Version is not 13");
    py_slice_t key;
    if (field(req, "sec-websocket-key", &key) != 1)
        return refuse(hs, 400, "no single Sec-WebSocket-Key");
    uint8_t raw[18];
    if (key.len != 24 || base64_decode(raw, key.ptr, key.len) != 16)
        return refuse(hs, 400, "Sec-WebSocket-Key is not 16 bytes in base64");
    if (collect_protocols(req, hs))
        return hs->status;
    ws_hs_accept(key.ptr, key.len, hs->accept);
    return 0;
}

void ws_hs_accept(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1])
{
    sha1_t s;
    uint8_t digest[SHA1_DIGEST_LEN];
    sha1_init(&s);
    sha1_update(&s, key, len);
    sha1_update(&s, WS_GUID, sizeof(WS_GUID) - 1);
    sha1_final(&s, digest);
    base64_encode(out, digest, sizeof(digest));
}
