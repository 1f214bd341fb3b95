/* Listening sockets: opened per slot and bind, recorded for work sharing and steering. */
#include "src/listeners.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/net.h"
#include "tunables/host.h"

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

static int open_listener(const tun_bind_t *b, int backlog, char *err, size_t errlen)
{
    int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", b->spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    /* responses leave in one send; Nagle would only delay the tail of streamed ones.
     * Accepted sockets inherit the option, saving a setsockopt per connection. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A plain accept(2) on the listener (a draining worker's last sweep of its queue)
     * must not block when a sibling took the connection first: the listener stays
     * blocking, because io_uring hands EAGAIN of a non-blocking file back to us instead of
     * waiting, so accept(2) gets a receive timeout instead (its own accepts never wait). */
    struct timeval brief = {.tv_sec = 0, .tv_usec = 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &brief, sizeof(brief));
    if (bind(fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0 || listen(fd, backlog) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", b->spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int listeners_init(listeners_t *ls, const tun_config_t *cfg, share_t *share, char *err,
                   size_t errlen)
{
    ls->cfg = cfg;
    ls->nbinds = (unsigned)cfg->bind_count;
    ls->share = share;
    ls->steer.table_map = -1;
    for (unsigned b = 0; b < ls->nbinds; b++) {
        if (cfg->binds[b].kind != TUN_BIND_TCP) {
            snprintf(err, errlen, "cannot listen on %s: not supported yet", cfg->binds[b].spec);
            return -1;
        }
        if (check_address_free(&cfg->binds[b], err, errlen) < 0)
            return -1;
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

worker_listener_t *listeners_open_slot(listeners_t *ls, unsigned k, char *err, size_t errlen)
{
    worker_listener_t *l = uf_calloc(ls->nbinds, sizeof(worker_listener_t));
    for (unsigned b = 0; b < ls->nbinds; b++) {
        int fd = open_listener(&ls->cfg->binds[b], ls->cfg->backlog, err, errlen);
        if (fd < 0) {
            while (b-- > 0)
                close(l[b].fd);
            uf_free(l);
            return NULL;
        }
        l[b].fd = fd;
        if (ls->share)
            ls->share->listen_fds[k * ls->nbinds + b] = fd;
        /* the first listener of slot 0 attaches the program; a failure turns it off */
        if (ls->steer.active || (k == 0 && ls->steer.table)) {
            char why[256];
            if (steer_add(&ls->steer, k, b, fd, why, sizeof(why)) < 0 && !ls->steer_warned) {
                log_warning("Steering to idle workers is off: %s", why);
                ls->steer_warned = true;
            }
        }
        net_addr_host((const struct sockaddr *)&ls->cfg->binds[b].addr, l[b].host,
                      sizeof(l[b].host), &l[b].port);
    }
    if (ls->share && share_open_inbox(ls->share, k, err, errlen) < 0) {
        listeners_close_slot(ls, k, l);
        return NULL;
    }
    return l;
}

void listeners_close_slot(listeners_t *ls, unsigned k, worker_listener_t *l)
{
    for (unsigned b = 0; b < ls->nbinds && l; b++)
        close(l[b].fd);
    if (ls->share) {
        for (unsigned b = 0; b < ls->nbinds; b++)
            ls->share->listen_fds[k * ls->nbinds + b] = -1;
        share_close_inbox(ls->share, k);
    }
    uf_free(l);
}

void listeners_log(const listeners_t *ls, const worker_listener_t *l)
{
    for (unsigned b = 0; b < ls->nbinds; b++) {
        bool v6 = ls->cfg->binds[b].addr.ss_family == AF_INET6;
        log_info("Listening at: http://%s%s%s:%d (%d)", v6 ? "[" : "", l[b].host, v6 ? "]" : "",
                 l[b].port, (int)getpid());
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
        if (setsockopt(slot0[b].fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
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
