/* --capture-output: the master's side of the workers' stdout/stderr pipes. */
#include "src/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"

int capture_pipe_open(int fds[2])
{
    return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
}

void capture_add(capture_t *c, int rfd, int pid, int worker)
{
    fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
    capture_pipe_t *p = NULL;
    for (unsigned i = 0; i < c->count && !p; i++)
        if (c->pipes[i].fd < 0)
            p = &c->pipes[i];
    if (!p) {
        if (c->count == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 8;
            c->pipes = uf_realloc(c->pipes, c->cap * sizeof(*c->pipes));
        }
        p = &c->pipes[c->count++];
    }
    p->fd = rfd;
    p->pid = pid;
    p->worker = worker;
    p->len = 0;
}

unsigned capture_open_count(const capture_t *c)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->count; i++)
        n += c->pipes[i].fd >= 0;
    return n;
}

unsigned capture_pollfds(const capture_t *c, struct pollfd *out, unsigned room)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->count && n < room; i++)
        if (c->pipes[i].fd >= 0)
            out[n++] = (struct pollfd){.fd = c->pipes[i].fd, .events = POLLIN};
    return n;
}

static void emit(capture_t *c, capture_pipe_t *p, const char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    c->emit(c->ctx, p->pid, p->worker, line, len);
}

void capture_feed(capture_t *c, capture_pipe_t *p, const char *data, size_t len)
{
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        /* a line that does not fit is emitted in pieces of CAPTURE_LINE_MAX */
        while (p->len + take > CAPTURE_LINE_MAX) {
            size_t part = CAPTURE_LINE_MAX - p->len;
            memcpy(p->line + p->len, data, part);
            emit(c, p, p->line, CAPTURE_LINE_MAX);
            p->len = 0;
            data += part;
            len -= part;
            take -= part;
        }
        memcpy(p->line + p->len, data, take);
        p->len += take;
        data += take;
        len -= take;
        if (nl) {
            emit(c, p, p->line, p->len);
            p->len = 0;
            data++;
            len--;
        }
    }
}

/* Reads p until the pipe is empty; at its end of file, emits the partial line and closes
 * it. */
static void drain(capture_t *c, capture_pipe_t *p)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(p->fd, buf, sizeof(buf));
        if (n > 0) {
            capture_feed(c, p, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (p->len)
            emit(c, p, p->line, p->len);
        close(p->fd);
        p->fd = -1;
        p->len = 0;
        return;
    }
}

void capture_run(capture_t *c)
{
    for (unsigned i = 0; i < c->count; i++)
        if (c->pipes[i].fd >= 0)
            drain(c, &c->pipes[i]);
}

void capture_forget(capture_t *c)
{
    for (unsigned i = 0; i < c->count; i++)
        if (c->pipes[i].fd >= 0)
            close(c->pipes[i].fd);
    uf_free(c->pipes);
    memset(c, 0, sizeof(*c));
}

void capture_close(capture_t *c)
{
    for (unsigned i = 0; i < c->count; i++) {
        capture_pipe_t *p = &c->pipes[i];
        if (p->fd < 0)
            continue;
        drain(c, p);
        if (p->fd >= 0 && p->len)
            emit(c, p, p->line, p->len); /* a child process still holds it: no end of file */
    }
    capture_forget(c);
}
