/* The WebSocket opening handshake, server side (RFC 6455 section 4.2): is a request an
 * upgrade to a WebSocket, is it a valid one, and the Sec-WebSocket-Accept it earns.
 *
 * A request asks for a WebSocket when an Upgrade field lists "websocket". From then on it
 * is judged as a handshake and never passed to the application as plain HTTP: a GET over
 * HTTP/1.1 whose Connection lists "upgrade", with one Sec-WebSocket-Version of exactly
 * "13" (anything else is 426, answered with the version we speak) and one
 * Sec-WebSocket-Key that is canonical base64 for 16 bytes; anything else is 400. The
 * offered subprotocols (Sec-WebSocket-Protocol, a comma list over one or more fields,
 * each a token) are collected in order for the scope; the application picks one.
 *
 * Pure: no allocation, any thread; slices borrow from the request.
 */
#ifndef UF_WSHANDSHAKE_H
#define UF_WSHANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "python_bridge/wsgi.h"

/* The GUID RFC 6455 appends to the key before hashing. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* base64 of a 20-byte SHA-1 digest */
#define WS_ACCEPT_LEN 28
/* Subprotocols a client may offer; more is refused (400), no client offers that many. */
#define WS_PROTOCOLS_MAX 16

typedef struct ws_hs {
    int status;      /* 0 for a valid handshake, else 400 or 426 */
    const char *why; /* with a status: static text for the log and the response body */
    char accept[WS_ACCEPT_LEN + 1];
    py_slice_t protocols[WS_PROTOCOLS_MAX]; /* offered, in order */
    size_t protocol_count;
} ws_hs_t;

/* True when req asks to become a WebSocket (an Upgrade field lists "websocket"). */
bool ws_hs_requested(const py_request_t *req);

/* Judges req as a handshake. Returns 0 with accept and the subprotocols filled, or the
 * status to answer (400, or 426 which must carry "Sec-WebSocket-Version: 13") with why. */
int ws_hs_check(const py_request_t *req, ws_hs_t *hs);

/* Writes the Sec-WebSocket-Accept value for the key's text (as received, trimmed) into
 * out, NUL-terminated. */
void ws_hs_accept(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1]);

/* The next item of the comma list value[0, len) from *pos (0 to begin), white space
 * trimmed, empty items skipped. Returns false when none is left. */
bool ws_hs_next_item(const char *value, size_t len, size_t *pos, py_slice_t *item);

#endif
