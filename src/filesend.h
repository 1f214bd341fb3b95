/* wsgi.file_wrapper bodies and zero-copy sends: a file read through the ring into the
 * output buffer, block by block, or into a registered send buffer sent with SEND_ZC, or,
 * on an engine that can (features.send_file), sent from the file by the engine itself;
 * and a large application chunk sent with SEND_ZC from the application's own memory.
 *
 * Loop thread only: these submit to the worker's ring and run no Python (a reply left to
 * finish is finished at once without --threads, where the loop thread runs Python, and
 * else marked for a CONN_STEP_FINISH through c->reply_ended).
 *
 * Invariants: while a file read is in flight (file_busy) `out` or the registered block is
 * the kernel's; a registered block (zc_block) or an application chunk (zc_chunk) is let go
 * of only after the kernel's notification, not merely after the send's result; the reply
 * a chunk belongs to is never finished while the kernel may still read the chunk; the
 * engine's own send of the file is the connection's one send in flight (send_inflight),
 * and our duplicate of the file stays open until it has completed.
 */
#ifndef UF_FILESEND_H
#define UF_FILESEND_H

#include <stdbool.h>
#include <stdint.h>

#include "src/conn.h"

struct worker;

/* Starts sending c->reply's file, with the response head in c->out: at most the
 * application's Content-Length, nothing for HEAD, 204 and 304. Submits the first read (or
 * the head's send) itself; a file that cannot be read ends the body short, and the
 * connection closes after it. */
void filesend_start(struct worker *w, conn_t *c);

/* The same for a descriptor of our own (an ASGI http.response.pathsend): `length` bytes
 * from `offset`; fd is owned from here on (closed when the body ends, also at once when
 * nothing is to be sent), and -1 means the file could not be had (the body falls short
 * and the connection closes after the head). */
void filesend_fd(struct worker *w, conn_t *c, int fd, int64_t offset, int64_t length);

/* Everything produced so far is sent: goes on with the file (true: an operation was
 * submitted), or, when c has no file or its file is done, returns false with the framing
 * end (if any) in c->out for the caller to go on with. */
bool filesend_more(struct worker *w, conn_t *c);

/* Submits the SEND_ZC of the rest of c->zc_chunk, the application's large chunk. */
void filesend_chunk(struct worker *w, conn_t *c);

/* Whether the kernel may still read from c->zc_chunk (its send or its notification is to
 * come): the reply it belongs to must not be finished yet. */
bool filesend_chunk_busy(const conn_t *c);

/* Completions of OP_FILE_READ, OP_ZC_READ and OP_SEND_ZC or OP_SEND_ZC_2 (`op`: a result,
 * or with RING_F_NOTIF a notification; the caller has not counted them in c->ops). */
void filesend_on_read(struct worker *w, conn_t *c, int res);
void filesend_on_zc_read(struct worker *w, conn_t *c, int res);
void filesend_on_send_zc(struct worker *w, conn_t *c, unsigned op, int res, unsigned flags);
/* The completion of OP_SEND_FILE: bytes of the file sent (0: the file ended early), or
 * -errno. */
void filesend_on_send_file(struct worker *w, conn_t *c, int res);

#endif
