/* Unit tests for uring/event.h: the user_data encoding and the decoding of a raw
 * completion into a ring_event_t, with the flag words an engine produces. No ring. */
#include "uring/event.h"

#include <errno.h>

#include "check.h"

static void test_user_data(void)
{
    uint64_t ud = ring_ud(7, 0xabcdef, 123456);
    CHECK_EQ_INT(ring_ud_op(ud), 7);
    CHECK_EQ_INT(ring_ud_gen(ud), 0xabcdef);
    CHECK_EQ_INT(ring_ud_slot(ud), 123456);
    /* the generation is 24 bits: higher bits must not leak into the op */
    ud = ring_ud(1, 0x1ffffff, 0xffffffff);
    CHECK_EQ_INT(ring_ud_op(ud), 1);
    CHECK_EQ_INT(ring_ud_gen(ud), 0xffffff);
    CHECK_EQ_INT(ring_ud_slot(ud), 0xffffffffu);
    /* nor the op's high bits into anything */
    ud = ring_ud(0x1ff, 0, 0);
    CHECK_EQ_INT(ring_ud_op(ud), 0xff);
    CHECK_EQ_INT(ring_ud_gen(ud), 0);
    CHECK_EQ_INT(ring_ud_slot(ud), 0);
}

/* A multishot receive's data: buffer id in the high bits, more set. */
static void test_decode_recv(void)
{
    ring_event_t ev;
    unsigned flags = RING_F_BUFFER | RING_F_MORE | (4095u << RING_F_BUFFER_SHIFT);
    ring_event_decode(&ev, ring_ud(3, 77, 12), 1400, flags);
    CHECK_EQ_INT(ev.op, 3);
    CHECK_EQ_INT(ev.gen, 77);
    CHECK_EQ_INT(ev.slot, 12);
    CHECK_EQ_INT(ev.res, 1400);
    CHECK(ev.buffer);
    CHECK(ev.more);
    CHECK(!ev.notif);
    CHECK_EQ_INT(ev.bid, 4095);
    CHECK_EQ_INT(ring_buffer_id(ev.flags), 4095);
    CHECK_EQ_INT(ev.flags, flags); /* passed on unchanged to conn_complete() */

    /* the end of the receive: no buffer, no more */
    ring_event_decode(&ev, ring_ud(3, 77, 12), -ENOBUFS, 0);
    CHECK_EQ_INT(ev.res, -ENOBUFS);
    CHECK(!ev.buffer);
    CHECK(!ev.more);
    CHECK(!ev.notif);
    CHECK_EQ_INT(ev.bid, 0);
}

/* A zero-copy send: the result with more, then the notification with the usage report. */
static void test_decode_send_zc(void)
{
    ring_event_t ev;
    ring_event_decode(&ev, ring_ud(12, 1, 2), 65536, RING_F_MORE);
    CHECK(ev.more);
    CHECK(!ev.notif);
    CHECK_EQ_INT(ev.res, 65536);
    ring_event_decode(&ev, ring_ud(12, 1, 2), (int32_t)RING_ZC_COPIED, RING_F_NOTIF);
    CHECK(ev.notif);
    CHECK(!ev.more);
    CHECK(!ev.buffer);
    CHECK(((unsigned)ev.res & RING_ZC_COPIED) != 0);
    CHECK_EQ_INT(ev.op, 12);
}

/* The largest slot and generation survive a decode; a negative result stays negative. */
static void test_decode_limits(void)
{
    ring_event_t ev;
    ring_event_decode(&ev, ring_ud(255, 0xffffff, 0xffffffffu), -ECANCELED, 0);
    CHECK_EQ_INT(ev.op, 255);
    CHECK_EQ_INT(ev.gen, 0xffffff);
    CHECK_EQ_INT(ev.slot, 0xffffffffu);
    CHECK_EQ_INT(ev.res, -ECANCELED);
}

int main(void)
{
    test_user_data();
    test_decode_recv();
    test_decode_send_zc();
    test_decode_limits();
    return check_done();
}
