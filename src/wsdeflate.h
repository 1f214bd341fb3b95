/* permessage-deflate (RFC 7692) for the server side of a WebSocket: the offer in the
 * handshake judged and answered, messages inflated with a bound and deflated.
 *
 * Negotiation takes the client's first permessage-deflate offer whose parameters it can
 * honour: server_no_context_takeover and client_no_context_takeover (each side then starts
 * every message from a fresh dictionary), server_max_window_bits 9-15 (our window is
 * never larger; 8 is declined because zlib cannot deflate with a 256-byte window) and
 * client_max_window_bits (accepted; inflating with a 32 KiB window reads any window).
 * An offer with an unknown, repeated or malformed parameter is declined, and the next
 * one is looked at; with none left the WebSocket runs uncompressed.
 *
 * Memory: the streams are made on first use (a WebSocket that never sends a compressed
 * message costs nothing); our deflate window is at most 4 KiB (windowBits 12, memLevel 5,
 * as the websockets library chooses for servers), about 20 KiB a connection instead of
 * 256 KiB, and inflating keeps zlib's 32 KiB window. Inflate is bounded: output beyond
 * the message size limit stops it with 1009, so a decompression bomb costs at most the
 * limit. Small messages are sent uncompressed (RSV1 clear), which RFC 7692 allows and
 * which leaves the compression context untouched.
 *
 * Loop thread; one ws_deflate_t per connection. Links zlib (Debian zlib1g-dev).
 */
#ifndef UF_WSDEFLATE_H
#define UF_WSDEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "common/mem.h"
#include "python_bridge/wsgi.h"
#include "src/wsframe.h"

/* The longest Sec-WebSocket-Extensions answer we write, NUL included. */
#define WS_DEFLATE_ANSWER_MAX 128
/* Messages shorter than this go out uncompressed: the deflate header and the flush would
 * eat what compression saves. */
#define WS_DEFLATE_MIN_SIZE 64

typedef struct ws_deflate_params {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits; /* 0: the client set no bound */
} ws_deflate_params_t;

/* Picks the first acceptable permessage-deflate offer among req's Sec-WebSocket-Extensions
 * fields. Returns true with *p set and the answer's value ("permessage-deflate; ...")
 * written into answer; false when nothing was offered or nothing could be accepted. */
bool ws_deflate_negotiate(const py_request_t *req, ws_deflate_params_t *p,
                          char answer[WS_DEFLATE_ANSWER_MAX]);

typedef struct ws_deflate {
    ws_deflate_params_t params;
    z_stream in;  /* valid when in_ready */
    z_stream out; /* valid when out_ready */
    bool in_ready;
    bool out_ready;
} ws_deflate_t;

/* Inflates one whole message's payload p[0, n) (RSV1 set on its first frame) onto the
 * end of *out. Returns 0, or -1 with *err set: 1009 when the message would exceed max
 * bytes (0: no bound), 1007 when the data is not a deflate stream. */
int ws_deflate_inflate(ws_deflate_t *d, const uint8_t *p, size_t n, buf_t *out, uint64_t max,
                       ws_error_t *err);

/* Deflates one whole message p[0, n) onto the end of *out (the payload of a frame with
 * RSV1 set). */
void ws_deflate_deflate(ws_deflate_t *d, const uint8_t *p, size_t n, buf_t *out);

/* Frees the streams (a zeroed or freed ws_deflate_t may be freed again). */
void ws_deflate_free(ws_deflate_t *d);

#endif
