/* The ASGI side of a connection: a request handed to an application task as soon as its
 * head is complete, its body streamed to receive(), the task's send() turned into
 * response bytes on the ring (python_bridge/asgi.h is the other side).
 *
 * How it differs from WSGI, on the same state machine (src/conn.c): the connection is
 * CONN_WRITING from the moment the task starts, while the body may still be arriving;
 * those bytes are parsed here into req.body, where receive() takes them. While more than
 * ASGICONN_BODY_PAUSE bytes of body wait unread, the receive is paused (conn.c's
 * input_full) and resumed when the application takes them. "100 Continue" goes out when
 * the application first waits for body bytes. The response head is written with the
 * first body; a send() while a send is in flight appends to `asgi.next`, and the task
 * waits only while that holds more than ASGICONN_HIGH_WATER bytes; when the send
 * completes the buffers swap. A response that ends while the request body is still
 * incomplete closes the connection after it (the rest of the body is never read).
 *
 * Invariants: c->asgi.req is the worker's one reference to the request, dropped with
 * py_asgi_detach when the response is complete or the connection closes, never later;
 * `out` is the kernel's while a send is in flight, so nothing appends to it then.
 * Loop thread only, GIL held (an ASGI worker always holds it).
 */
#ifndef UF_ASGICONN_H
#define UF_ASGICONN_H

#include <stdbool.h>

#include "python_bridge/asgi.h"
#include "src/conn.h"

struct worker;

/* Unread request body bytes beyond which the receive pauses. */
#define ASGICONN_BODY_PAUSE (256 * 1024)
/* Output waiting behind the send in flight beyond which send() makes the task wait. */
#define ASGICONN_HIGH_WATER (64 * 1024)

/* What the bridge's receive() and send() call (ctx: the worker; owner: the connection). */
void asgiconn_ops_init(py_asgi_ops_t *ops, struct worker *w);

/* Starts the application's task for c's request (head complete, plan made, state
 * CONN_WRITING); answers 500 when the request could not be handed over. */
void asgiconn_start(struct worker *w, conn_t *c, const py_request_t *pr);

/* Bytes arrived while the task runs: the body's part is parsed for receive(); a client
 * gone is told as http.disconnect. May close the connection (a framing error in the
 * body). */
void asgiconn_input(struct worker *w, conn_t *c);

/* Everything in `out` (or the interim 100 Continue) has been sent: the next output goes,
 * the waiting task goes on, or the response is done. */
void asgiconn_sent(struct worker *w, conn_t *c);

/* The connection is done with the request: its response is complete (gone false) or the
 * connection is closing (gone true). No-op without a request. */
void asgiconn_detach(conn_t *c, bool gone);

#endif
