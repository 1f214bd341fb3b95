/* A listening loopback TCP socket for the engine tests (uring/, epoll/). Include after
 * check.h. */
#ifndef UF_TESTS_LOOPBACK_H
#define UF_TESTS_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* A listening loopback TCP socket on a free port; *sin gets its address. */
static int loopback_listener(struct sockaddr_in *sin)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof(*sin);
    *sin = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(lfd, (struct sockaddr *)sin, sizeof(*sin)) == 0);
    CHECK(listen(lfd, 16) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)sin, &len) == 0);
    return lfd;
}

#endif
