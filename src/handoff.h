/* Work sharing, the connection's side (src/share.h is the transport): a request this
 * worker cannot start soon moves, with its connection and the bytes read so far, to a
 * sibling with a free application thread or to the shared queue; a request queued for
 * this worker's busy threads is "parked" so that it can still move until a thread takes
 * it.
 *
 * Loop thread only. Invariants: a connection travels only while every byte of its next
 * request is still in c->in (handoff_can_travel) and its receive has stopped (a multishot
 * receive may still deliver bytes that must travel along); the park list is oldest first,
 * and a parked connection's request is complete and waits in the threads' queue.
 */
#ifndef UF_HANDOFF_H
#define UF_HANDOFF_H

#include <stdbool.h>

#include "src/conn.h"

struct worker;

/* Whether c could travel now: nothing of its next request has left c->in, nothing is in
 * flight that the sibling could not take over, and it has not travelled too often. */
bool handoff_can_travel(const conn_t *c);

/* Whether c's next request should leave this worker now: the worker cannot start it (or
 * is leaving), the request can travel, and waiting here would be long. */
bool handoff_should_pass_on(struct worker *w, conn_t *c);

/* Hands c on: stops its receive first (handoff_finish then runs when the receive's last
 * completion is in), else finishes at once. With `to_queue`, the shared queue takes it
 * when no sibling is free by then. A connection no one takes is served here. */
void handoff_start(struct worker *w, conn_t *c, bool to_queue);

/* The receive has stopped: sends c and its bytes to a sibling (or the queue) and closes
 * our descriptor, or serves it here when no one takes it. */
void handoff_finish(struct worker *w, conn_t *c);

/* Remembers c, whose request was just queued behind busy threads, as movable. */
void handoff_park(struct worker *w, conn_t *c);

/* Forgets c as movable (a thread took it, or it closes); no-op when it is not parked. */
void handoff_unpark(struct worker *w, conn_t *c);

/* Moves parked requests that have waited long enough (or all, when the worker is leaving
 * or its threads are in long requests) to where they can start; once a loop round. */
void handoff_share_parked(struct worker *w);

/* Parked requests stay with this worker's threads (it drains: nobody takes them). */
void handoff_unpark_all(struct worker *w);

#endif
