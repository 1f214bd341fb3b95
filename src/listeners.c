/* Listening sockets: opened per slot and bind, recorded for work sharing and steering. */
#include "src/listeners.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/net.h"
#include "tunables/activation.h"
#include "tunables/host.h"
#include "tunables/ids.h"

/* Every socket on a port must set SO_REUSEPORT to share it, so a second server started
 * by mistake on the same port would silently split our traffic. A plain socket bound
 * first (and closed) tells us whether anybody else holds the address. */
static int check_address_free(const tun_bind_t *b, char *err, size_t errlen)
{
    int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int ret = bind(fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0 ? -errno : 0;
    close(fd);
    if (ret < 0)
        snprintf(err, errlen, "cannot bind %s: %s", b->spec,
                 ret == -EADDRINUSE ? "address already in use (is another server running?)"
                                    : strerror(-ret));
    return ret;
}

/* What every listener gets, ours or handed over. */
static void tune_listener(int fd, int family)
{
    int one = 1;
    /* responses leave in one send; Nagle would only delay the tail of streamed ones.
     * Accepted sockets inherit the option, saving a setsockopt per connection. */
    if (family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A plain accept(2) on the listener (a draining worker's last sweep of its queue)
     * must not block when a sibling took the connection first: the listener stays
     * blocking, because io_uring hands EAGAIN of a non-blocking file back to us instead of
     * waiting, so accept(2) gets a receive timeout instead (its own accepts never wait). */
    struct timeval brief = {.tv_sec = 0, .tv_usec = 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &brief, sizeof(brief));
}

/* A per-slot member of a bind's reuseport group. */
static int open_listener(const listen_bind_t *lb, const char *spec, int backlog, char *err,
                         size_t errlen)
{
    int fd = socket(lb->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    tune_listener(fd, lb->addr.ss_family);
    if (bind(fd, (const struct sockaddr *)&lb->addr, lb->addrlen) < 0 || listen(fd, backlog) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* gunicorn removes a socket file left behind by a server that did not exit cleanly. We
 * remove it only when nothing answers on it, so that a second server started by mistake
 * cannot take the first one's address (the guard check_address_free is for TCP).
 * Returns 0 when the path is free now, or -1/-2 as listeners_init. */
static int clear_stale(const tun_bind_t *b, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot listen on %s: %s", b->spec, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "cannot listen on %s: %s exists and is not a socket", b->spec, path);
        return -2;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", b->spec, strerror(errno));
        return -1;
    }
    /* a listener with a full queue says EAGAIN: alive too */
    int rc = connect(fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0 ? -errno : 0;
    close(fd);
    if (rc == 0 || rc == -EAGAIN) {
        snprintf(err, errlen, "cannot listen on %s: another server is listening on it", b->spec);
        return -2;
    }
    if (rc != -ECONNREFUSED) {
        snprintf(err, errlen, "cannot listen on %s: %s", b->spec, strerror(-rc));
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove the stale socket file %s: %s", path, strerror(errno));
        return -1;
    }
    log_info("Removed the stale socket file %s (nothing listened on it)", path);
    return 0;
}

/* The umask a socket file is created under: --umask, else gunicorn's default 0 (anyone
 * on the host may connect; the directory is what guards it), whatever the process's. */
static mode_t socket_umask(const tun_config_t *cfg)
{
    unsigned mode = 0;
    char why[128];
    if (cfg->umask && tun_mode_parse(cfg->umask, &mode, why, sizeof(why)) < 0)
        mode = 0; /* unreachable: privileges_setup refused it before */
    return (mode_t)mode;
}

/* unix:PATH or unix:@NAME: one listener for every slot. */
static int open_unix(listeners_t *ls, const tun_bind_t *b, listen_bind_t *lb, char *err,
                     size_t errlen)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)&b->addr;
    bool abstract = un->sun_path[0] == 0;
    int rc = abstract ? 0 : clear_stale(b, un->sun_path, err, errlen);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", b->spec, strerror(errno));
        return -1;
    }
    mode_t old = umask(socket_umask(ls->cfg));
    rc = bind(fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0 ? -errno : 0;
    umask(old);
    if (rc < 0) {
        close(fd);
        snprintf(err, errlen, "cannot listen on %s: %s", b->spec,
                 rc == -EADDRINUSE ? "another server is listening on it" : strerror(-rc));
        return rc == -EADDRINUSE ? -2 : -1;
    }
    lb->unlink = !abstract;
    if (!abstract && (ls->owner != (uid_t)-1 || ls->group != (gid_t)-1) &&
        chown(un->sun_path, ls->owner, ls->group) < 0)
        log_warning("cannot give %s to the workers' user: %s", un->sun_path, strerror(errno));
    tune_listener(fd, AF_UNIX);
    if (listen(fd, ls->cfg->backlog) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", b->spec, strerror(errno));
        close(fd);
        if (lb->unlink)
            unlink(un->sun_path);
        return -1;
    }
    memcpy(&lb->addr, &b->addr, b->addrlen);
    lb->addrlen = b->addrlen;
    lb->shared = fd;
    return 0;
}

/* Whether this process may join the reuseport group of the TCP socket at lb: the kernel
 * takes only sockets of the same user into a group (a service that runs as another user
 * than the one that bound the socket cannot). Bound but never listening, the probe is in
 * no group that receives connections. */
static bool may_join(const listen_bind_t *lb)
{
    int fd = socket(lb->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    bool ok = bind(fd, (const struct sockaddr *)&lb->addr, lb->addrlen) == 0;
    close(fd);
    return ok;
}

/* fd://N or a systemd socket: already bound (and usually listening). A TCP socket with
 * SO_REUSEPORT (systemd's ReusePort=yes) heads a group the other slots join, so each
 * worker keeps a listener of its own; any other is shared by every slot. */
static int adopt_socket(listeners_t *ls, const tun_bind_t *b, listen_bind_t *lb, char *err,
                        size_t errlen)
{
    int fd = b->fd, type = 0, reuse = 0, listening = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) {
        snprintf(err, errlen, "cannot listen on %s: %s", b->spec,
                 type             ? "not a stream socket"
                 : errno == EBADF ? "no such descriptor is open"
                                  : "not a socket");
        return -2;
    }
    lb->addrlen = sizeof(lb->addr);
    int family = getsockname(fd, (struct sockaddr *)&lb->addr, &lb->addrlen) == 0
                     ? lb->addr.ss_family
                     : AF_UNSPEC;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX) {
        snprintf(err, errlen, "cannot listen on %s: not a TCP or unix socket", b->spec);
        return -2;
    }
    /* ours from now on: not passed to programs the application runs, and blocking, since
     * io_uring hands EAGAIN of a non-blocking file back instead of waiting */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    tune_listener(fd, family);
    len = sizeof(listening);
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
    if (!listening && listen(fd, ls->cfg->backlog) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", b->spec, strerror(errno));
        return -2;
    }
    len = sizeof(reuse);
    getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuse, &len);
    if (family != AF_UNIX && reuse && may_join(lb))
        lb->inherited = fd;
    else
        lb->shared = fd;
    if (family != AF_UNIX && reuse && lb->shared >= 0)
        log_info("%s has SO_REUSEPORT but this user cannot add listeners to its group; the "
                 "workers share it",
                 b->spec);
    return 0;
}

int listeners_activation(listeners_t *ls, tun_config_t *cfg, char *err, size_t errlen)
{
    tun_bind_t *binds;
    int n = tun_activation_parse(getenv("LISTEN_PID"), getenv("LISTEN_FDS"),
                                 getenv("LISTEN_FDNAMES"), (long)getpid(), &binds, err, errlen);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (n <= 0)
        return n < 0 ? -1 : 0;
    uf_free(cfg->binds);
    cfg->binds = binds;
    cfg->bind_count = (size_t)n;
    ls->activated = true;
    log_info("Socket activation: %d socket%s from systemd (LISTEN_FDS); --bind is not used", n,
             n == 1 ? "" : "s");
    return n;
}

int listeners_init(listeners_t *ls, const tun_config_t *cfg, share_t *share, char *err,
                   size_t errlen)
{
    ls->cfg = cfg;
    ls->nbinds = (unsigned)cfg->bind_count;
    ls->share = share;
    ls->steer.table_map = -1;
    ls->binds = uf_calloc(ls->nbinds ? ls->nbinds : 1, sizeof(listen_bind_t));
    for (unsigned b = 0; b < ls->nbinds; b++) {
        const tun_bind_t *tb = &cfg->binds[b];
        listen_bind_t *lb = &ls->binds[b];
        lb->shared = lb->inherited = -1;
        int rc = 0;
        if (tb->kind == TUN_BIND_UNIX)
            rc = open_unix(ls, tb, lb, err, errlen);
        else if (tb->kind == TUN_BIND_FD)
            rc = adopt_socket(ls, tb, lb, err, errlen);
        else if ((rc = check_address_free(tb, err, errlen)) == 0) {
            memcpy(&lb->addr, &tb->addr, tb->addrlen);
            lb->addrlen = tb->addrlen;
        }
        if (rc < 0)
            return rc == -2 ? -2 : -1;
    }
    if (!share)
        return 0;
    if (!cfg->cpu_pin &&
        steer_open(&ls->steer, sizeof(share_table_t), ls->nbinds, offsetof(share_table_t, nslots),
                   offsetof(share_table_t, free), SHARE_MAX_SLOTS, err, errlen) < 0)
        log_info("Steering to idle workers is off (%s): new connections are spread by the "
                 "kernel's hash and passed on by busy workers",
                 err);
    int rc = share_create(share, ls->nbinds, ls->steer.table);
    if (rc < 0) {
        snprintf(err, errlen, "work sharing: cannot map the share table: %s", strerror(-rc));
        return -1;
    }
    return share_open_inbox(share, SHARE_QUEUE, err, errlen) < 0 ? -1 : 0;
}

/* The listener of slot k for bind b: the shared one, the handed-over head of its group
 * for slot 0, or a new member of the group. */
static int slot_listener(listeners_t *ls, unsigned k, unsigned b, char *err, size_t errlen)
{
    const listen_bind_t *lb = &ls->binds[b];
    if (lb->shared >= 0)
        return lb->shared;
    if (k == 0 && lb->inherited >= 0)
        return lb->inherited;
    return open_listener(lb, ls->cfg->binds[b].spec, ls->cfg->backlog, err, errlen);
}

worker_listener_t *listeners_open_slot(listeners_t *ls, unsigned k, char *err, size_t errlen)
{
    worker_listener_t *l = uf_calloc(ls->nbinds, sizeof(worker_listener_t));
    for (unsigned b = 0; b < ls->nbinds; b++)
        l[b].fd = -1; /* what a failure half-way leaves unopened */
    unsigned groups = 0;
    for (unsigned b = 0; b < ls->nbinds; b++) {
        const listen_bind_t *lb = &ls->binds[b];
        int fd = slot_listener(ls, k, b, err, errlen);
        if (fd < 0) {
            listeners_close_slot(ls, k, l);
            return NULL;
        }
        l[b].fd = fd;
        l[b].shared = lb->shared >= 0;
        l[b].uwsgi = ls->cfg->uwsgi || ls->cfg->binds[b].uwsgi;
        if (ls->share)
            ls->share->listen_fds[k * ls->nbinds + b] = fd;
        if (lb->addr.ss_family == AF_UNIX) {
            l[b].af_unix = true;
            net_unix_text((const struct sockaddr *)&lb->addr, lb->addrlen, l[b].host,
                          sizeof(l[b].host));
        } else {
            net_addr_host((const struct sockaddr *)&lb->addr, l[b].host, sizeof(l[b].host),
                          &l[b].port);
        }
        if (l[b].shared)
            continue; /* one socket, no group: nothing to steer */
        groups++;
        /* the first listener of slot 0 attaches the program; a failure turns it off */
        if (ls->steer.active || (k == 0 && ls->steer.table)) {
            char why[256];
            if (steer_add(&ls->steer, k, b, fd, why, sizeof(why)) < 0 && !ls->steer_warned) {
                log_warning("Steering to idle workers is off: %s", why);
                ls->steer_warned = true;
            }
        }
    }
    if (k == 0 && ls->steer.table && groups && !ls->steer_warned)
        ls->steer.active = true;
    if (ls->share && share_open_inbox(ls->share, k, err, errlen) < 0) {
        listeners_close_slot(ls, k, l);
        return NULL;
    }
    return l;
}

void listeners_close_slot(listeners_t *ls, unsigned k, worker_listener_t *l)
{
    for (unsigned b = 0; b < ls->nbinds && l; b++)
        if (!l[b].shared && l[b].fd >= 0)
            close(l[b].fd);
    if (ls->share) {
        for (unsigned b = 0; b < ls->nbinds; b++)
            ls->share->listen_fds[k * ls->nbinds + b] = -1;
        share_close_inbox(ls->share, k);
    }
    uf_free(l);
}

void listeners_release(listeners_t *ls)
{
    for (unsigned b = 0; ls->binds && b < ls->nbinds; b++) {
        listen_bind_t *lb = &ls->binds[b];
        if (lb->shared >= 0)
            close(lb->shared);
        if (lb->unlink)
            unlink(((const struct sockaddr_un *)&lb->addr)->sun_path);
    }
    uf_free(ls->binds);
    ls->binds = NULL;
}

bool listeners_all_shared(const listeners_t *ls)
{
    for (unsigned b = 0; b < ls->nbinds; b++)
        if (ls->binds[b].shared < 0)
            return false;
    return true;
}

void listeners_log(const listeners_t *ls, const worker_listener_t *l)
{
    for (unsigned b = 0; b < ls->nbinds; b++) {
        const tun_bind_t *tb = &ls->cfg->binds[b];
        const listen_bind_t *lb = &ls->binds[b];
        char where[160];
        const char *proto = l[b].uwsgi ? "uwsgi://" : "";
        if (l[b].af_unix) {
            snprintf(where, sizeof(where), "%sunix:%s", proto, l[b].host);
        } else {
            bool v6 = lb->addr.ss_family == AF_INET6;
            snprintf(where, sizeof(where), "%s%s%s%s:%d", l[b].uwsgi ? proto : "http://",
                     v6 ? "[" : "", l[b].host, v6 ? "]" : "", l[b].port);
        }
        const char *how = "";
        if (tb->kind == TUN_BIND_FD)
            how = lb->inherited >= 0 ? ", each worker a listener of its own in its SO_REUSEPORT "
                                       "group"
                                     : ", one listener shared by every worker";
        else if (l[b].af_unix)
            how = ", one listener shared by every worker (unix sockets have no SO_REUSEPORT)";
        log_info("Listening at: %s (%d)%s%s%s", where, (int)getpid(),
                 tb->kind == TUN_BIND_FD ? " from " : "", tb->kind == TUN_BIND_FD ? tb->spec : "",
                 how);
    }
}

/* With workers pinned, a classic-BPF program sends each new connection to the listener
 * of the worker on the CPU that received it, so the packet, the socket and the worker
 * share one CPU's caches; a CPU without a worker falls back to cpu % n.
 *
 * Without pinning the kernel's own hash over the group is right, except during a
 * scale-down: the listener of a slot being removed stays open while its worker drains,
 * and the kernel would go on queueing new connections there that nobody accepts, to be
 * reset when it closes (or, with net.ipv4.tcp_migrate_req, moved late). So from the
 * first scale-down on, a program spreads new connections by their flow hash over the
 * slots in use only; it is kept up to date as the count changes. */
void listeners_steer(listeners_t *ls, const worker_listener_t *slot0, const int *cpu,
                     unsigned nslots, bool shrinking)
{
    bool cpu_pin = ls->cfg->cpu_pin;
    if (nslots == 0 || (!cpu_pin && !shrinking && !ls->cbpf))
        return;
    if (ls->steer.active)
        return; /* the eBPF program steers only to slots in use (share_table_t.nslots) */
    struct sock_filter code[2 * LISTENERS_MAX_SLOTS + 3];
    unsigned n = 0;
    if (cpu_pin) {
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                                 (uint32_t)(SKF_AD_OFF + SKF_AD_CPU));
        for (unsigned k = 0; k < nslots; k++) {
            if (cpu[k] < 0)
                continue;
            code[n++] =
                (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)cpu[k], 0, 1);
            code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, k);
        }
    } else {
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                                 (uint32_t)(SKF_AD_OFF + SKF_AD_RXHASH));
    }
    code[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, nslots);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = code};
    for (unsigned b = 0; b < ls->nbinds; b++)
        if (!slot0[b].shared &&
            setsockopt(slot0[b].fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
            log_warning("cannot attach the %s program to %s: %s",
                        cpu_pin ? "CPU steering" : "connection steering", ls->cfg->binds[b].spec,
                        strerror(errno));
    ls->cbpf = true;
}

void listeners_check_migrate(void)
{
    char v[16];
    if (tun_host_read_text("/", "proc/sys/net/ipv4/tcp_migrate_req", v, sizeof(v)) >= 0 &&
        strcmp(v, "0") == 0)
        log_info("net.ipv4.tcp_migrate_req is 0: a scale-down (TTOU) may reset connections "
                 "queued on the listener it closes; enable it with: sysctl -w "
                 "net.ipv4.tcp_migrate_req=1");
}
