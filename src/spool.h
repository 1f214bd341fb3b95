/* Request bodies too large for memory: written, as they arrive, to an unlinked temporary
 * file through the ring, from which the application reads them (wsgi.input).
 *
 * Why spool through the ring: a 1 GB upload must neither sit in memory nor stall the
 * worker's other connections on disk writes. The parser de-chunks the body into
 * req.body as usual; once the body is known to be large (a declared length above the
 * threshold, or a body without one that grows past it), req.body is written to the file
 * whenever it holds SPOOL_WRITE_BYTES, and emptied when the write completes. The receive
 * goes on meanwhile; only the parser waits (the bytes stay in `in`, and beyond the
 * connection's pause threshold the receive pauses too), so at most about
 * SPOOL_WRITE_BYTES plus that threshold of a body are in memory at any time.
 *
 * Loop thread only. Invariant: while a write is in flight (c->spool_busy) req.body is the
 * kernel's: the parser does not run, and nothing appends to it or moves it.
 */
#ifndef UF_SPOOL_H
#define UF_SPOOL_H

#include <stdbool.h>

#include "src/conn.h"

struct worker;

/* The request's headers are complete: a declared body above the threshold goes to a file
 * from its first byte. Returns 0, or -errno when the file cannot be made (logged; the
 * caller answers 500). */
int spool_headers_done(struct worker *w, conn_t *c);

/* Moves the body towards its file when it belongs there; `final` when the message is
 * complete (whatever is left goes). Returns 0, or -errno when the file cannot be made
 * (logged; the caller answers 500). */
int spool_more(struct worker *w, conn_t *c, bool final);

/* A write of the body completed. Returns 1 when all of the body received so far is in the
 * file (the caller goes on parsing), 0 when there is nothing to go on with (the rest of a
 * short write was submitted, or the connection is failing or closing already), -1 when
 * the write failed (logged; the caller answers 500). */
int spool_on_write(struct worker *w, conn_t *c, int res);

/* Closes the body's file, if any, once nothing can use it any more: no write in flight
 * and the application done with it (py_wsgi_finish detached wsgi.input). */
void spool_close(conn_t *c);

#endif
