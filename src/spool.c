/* Request bodies written to a temporary file through the ring (loop thread). */
#include "src/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "src/worker.h"

/* A spooled body goes to its file in writes of at least this much (the rest at the end):
 * few enough completions per megabyte, little enough memory per uploading connection. */
#define SPOOL_WRITE_BYTES (256 * 1024)

/* O_TMPFILE: the file has no name, so nothing is left behind whatever happens to us. A
 * file system without it gets a named file unlinked at once. Returns 0 or -errno. */
static int open_file(worker_t *w, conn_t *c)
{
    const char *dir = w->conn_shared.spool_dir;
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
        char path[sizeof(w->conn_shared.spool_dir) + 32];
        snprintf(path, sizeof(path), "%s/uwsgi-fast-body-XXXXXX", dir);
        fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0)
            unlink(path);
    }
    if (fd < 0) {
        int e = errno;
        log_error("cannot create a file for a request body in %s: %s", dir, strerror(e));
        return -e;
    }
    c->spool_fd = fd;
    c->spool_len = 0;
    return 0;
}

static void write_body(worker_t *w, conn_t *c)
{
    ring_write_at(&w->ring, c->spool_fd, c->req.body.data, c->req.body.len, c->spool_len,
                  conn_ud(c, OP_SPOOL_WRITE));
    c->spool_busy = true;
    c->ops++;
}

int spool_more(worker_t *w, conn_t *c, bool final)
{
    const buf_t *body = &c->req.body;
    if (c->spool_fd < 0) {
        if (body->len <= w->conn_shared.spool_threshold)
            return 0;
        int r = open_file(w, c);
        if (r < 0)
            return r;
    }
    if (body->len && (final || body->len >= SPOOL_WRITE_BYTES))
        write_body(w, c);
    return 0;
}

int spool_headers_done(worker_t *w, conn_t *c)
{
    const http_req_t *req = &c->req;
    if (req->content_length >= 0 &&
        (uint64_t)req->content_length > w->conn_shared.spool_threshold && c->spool_fd < 0)
        return open_file(w, c);
    return 0;
}

int spool_on_write(worker_t *w, conn_t *c, int res)
{
    c->spool_busy = false;
    if (c->state != CONN_READING)
        return 0; /* failing or closing already; the slot's release closes the file */
    if (res <= 0) {
        log_error("writing a request body to its spool file failed: %s",
                  res ? strerror(-res) : "nothing written");
        return -1;
    }
    c->spool_len += (uint64_t)res;
    buf_consume(&c->req.body, (size_t)res);
    if (c->req.body.len) {
        write_body(w, c); /* a short write: the rest now */
        return 0;
    }
    return 1;
}

void spool_close(conn_t *c)
{
    if (c->spool_fd < 0)
        return;
    close(c->spool_fd);
    c->spool_fd = -1;
    c->spool_len = 0;
}
