/* Work sharing: the shared table, the inboxes, and hand-off datagrams. */
#include "src/share.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/mem.h"

/* What precedes the bytes in a hand-off datagram. The magic keeps a stray datagram
 * from being read as a connection. */
#define HANDOFF_MAGIC 0x75666832u /* "ufh2" */

typedef struct handoff_head {
    uint32_t magic;
    uint16_t bind;
    uint16_t hops;
    uint64_t first_byte_ns;
} handoff_head_t;

int share_create(share_t *s, unsigned nbinds, share_table_t *table)
{
    memset(s, 0, sizeof(*s));
    s->table = table ? table
                     : mmap(NULL, sizeof(share_table_t), PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->table == MAP_FAILED) {
        s->table = NULL;
        return -errno;
    }
    s->nbinds = nbinds;
    s->listen_fds = uf_calloc((size_t)SHARE_MAX_SLOTS * nbinds, sizeof(int));
    s->inbox_fds = uf_calloc(SHARE_MAX_SLOTS, sizeof(int));
    s->inbox_tx = uf_calloc(SHARE_MAX_SLOTS, sizeof(int));
    for (size_t i = 0; i < (size_t)SHARE_MAX_SLOTS * nbinds; i++)
        s->listen_fds[i] = -1;
    for (unsigned k = 0; k < SHARE_MAX_SLOTS; k++)
        s->inbox_fds[k] = s->inbox_tx[k] = -1;
    s->queue_fd = s->queue_tx = -1;
    return 0;
}

void share_destroy(share_t *s)
{
    if (s->table)
        munmap(s->table, sizeof(share_table_t));
    for (unsigned k = 0; s->inbox_fds && k < SHARE_MAX_SLOTS; k++)
        share_close_inbox(s, k);
    if (s->queue_fd >= 0)
        close(s->queue_fd);
    if (s->queue_tx >= 0)
        close(s->queue_tx);
    uf_free(s->listen_fds);
    uf_free(s->inbox_fds);
    uf_free(s->inbox_tx);
    memset(s, 0, sizeof(*s));
}

/* A socket pair per inbox, made by the master before the workers that use it are forked:
 * only they hold it, so nobody else can hand us a connection. A pair also lifts the
 * limit that a named datagram socket has (net.unix.max_dgram_qlen, 10 by default):
 * between the two ends of a pair only the send buffer bounds what waits. */
int share_open_inbox(share_t *s, unsigned k, char *err, size_t errlen)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
        snprintf(err, errlen, "work sharing: cannot make the %s: %s",
                 k == SHARE_QUEUE ? "shared queue" : "inbox of a worker slot", strerror(errno));
        return -1;
    }
    /* room for a few thousand waiting requests (as root, past net.core.wmem_max) */
    int size = 8 << 20;
    if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (k == SHARE_QUEUE) {
        s->queue_fd = sv[1];
        s->queue_tx = sv[0];
    } else {
        s->inbox_fds[k] = sv[1];
        s->inbox_tx[k] = sv[0];
    }
    return 0;
}

void share_close_inbox(share_t *s, unsigned k)
{
    if (s->inbox_fds[k] >= 0)
        close(s->inbox_fds[k]);
    if (s->inbox_tx[k] >= 0)
        close(s->inbox_tx[k]);
    s->inbox_fds[k] = s->inbox_tx[k] = -1;
}

int share_send(const share_t *s, unsigned k, const share_msg_t *m)
{
    if (m->len > SHARE_MAX_BYTES)
        return -EMSGSIZE;
    int tx = k == SHARE_QUEUE ? s->queue_tx : k < SHARE_MAX_SLOTS ? s->inbox_tx[k] : -1;
    if (tx < 0)
        return -ENOENT; /* a slot opened after this process was forked */
    handoff_head_t head = {.magic = HANDOFF_MAGIC,
                           .bind = m->bind,
                           .hops = m->hops,
                           .first_byte_ns = m->first_byte_ns};
    struct iovec iov[2] = {
        {.iov_base = &head, .iov_len = sizeof(head)},
        {.iov_base = (void *)m->data, .iov_len = m->len},
    };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {
        .msg_iov = iov,
        .msg_iovlen = m->len ? 2 : 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof(control.buf),
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &m->fd, sizeof(int));
    return sendmsg(tx, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int share_recv(int inbox_fd, char *buf, size_t buflen, share_msg_t *m)
{
    for (;;) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } control;
        handoff_head_t head;
        struct iovec iov[2] = {
            {.iov_base = &head, .iov_len = sizeof(head)},
            {.iov_base = buf, .iov_len = buflen},
        };
        struct msghdr msg = {
            .msg_iov = iov,
            .msg_iovlen = 2,
            .msg_control = control.buf,
            .msg_controllen = sizeof(control.buf),
        };
        ssize_t n = recvmsg(inbox_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        int fd = -1;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        bool whole = !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && (size_t)n >= sizeof(head) &&
                     head.magic == HANDOFF_MAGIC;
        if (fd >= 0 && whole) {
            *m = (share_msg_t){
                .fd = fd,
                .bind = head.bind,
                .hops = head.hops,
                .data = buf,
                .len = (size_t)n - sizeof(head),
                .first_byte_ns = head.first_byte_ns,
            };
            return 1;
        }
        if (fd >= 0)
            close(fd); /* cannot happen between our own processes; drop it if it does */
    }
}

int share_pick(const share_t *s, unsigned self, unsigned start, bool any)
{
    const share_table_t *t = s->table;
    unsigned n = __atomic_load_n(&t->nslots, __ATOMIC_RELAXED);
    if (n > SHARE_MAX_SLOTS)
        n = SHARE_MAX_SLOTS;
    int fallback = -1;
    for (unsigned i = 0; i < n; i++) {
        unsigned k = (start + i) % n;
        if (k == self || s->inbox_tx[k] < 0 || __atomic_load_n(&t->orphan[k], __ATOMIC_RELAXED))
            continue;
        if (__atomic_load_n(&t->free[k * SHARE_FREE_STRIDE], __ATOMIC_RELAXED) > 0)
            return (int)k;
        if (fallback < 0 && any && __atomic_load_n(&t->taking[k], __ATOMIC_RELAXED))
            fallback = (int)k;
    }
    return fallback;
}
