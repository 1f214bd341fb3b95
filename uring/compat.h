/* liburing helpers newer than the 2.3 that Debian 12 ships, written once here on top of
 * the raw structures and named after the upstream helper, so that code elsewhere reads
 * as it would against a current liburing. When built against a liburing that has them
 * (2.4+ defines IO_URING_VERSION_MAJOR), the upstream versions are used instead. */
#ifndef UF_URING_COMPAT_H
#define UF_URING_COMPAT_H

#include <errno.h>
#include <liburing.h>
#include <sys/mman.h>

#if !defined(IO_URING_VERSION_MAJOR)
/* Upstream 2.4: maps and registers a provided-buffer ring of `nentries` slots for group
 * `bgid`. Returns the ring or NULL with *ret = -errno. */
static inline struct io_uring_buf_ring *io_uring_setup_buf_ring(struct io_uring *ring,
                                                                unsigned int nentries, int bgid,
                                                                unsigned int flags, int *ret)
{
    size_t size = (size_t)nentries * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
        *ret = -errno;
        return NULL;
    }
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)mem,
        .ring_entries = nentries,
        .bgid = (unsigned short)bgid,
    };
    int r = io_uring_register_buf_ring(ring, &reg, flags);
    if (r) {
        munmap(mem, size);
        *ret = r;
        return NULL;
    }
    struct io_uring_buf_ring *br = mem;
    io_uring_buf_ring_init(br);
    *ret = 0;
    return br;
}

/* Upstream 2.4: unregisters and unmaps a ring made by io_uring_setup_buf_ring. */
static inline int io_uring_free_buf_ring(struct io_uring *ring, struct io_uring_buf_ring *br,
                                         unsigned int nentries, int bgid)
{
    int r = io_uring_unregister_buf_ring(ring, bgid);
    if (r)
        return r;
    munmap(br, (size_t)nentries * sizeof(struct io_uring_buf));
    return 0;
}
#endif

/* SEND_ZC usage reporting (6.2): the notification says whether the kernel had to copy
 * after all (it always does towards loopback). */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

#endif
