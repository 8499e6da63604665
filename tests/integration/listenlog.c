/* test_remote.py's listen log, for LD_PRELOAD: each listen(2) of a TCP socket appends its port
 * ("PORT\n") to the file named by ZDAG_TEST_LISTEN_LOG, so a test can count the sockets that
 * ever listened on a port. Nothing else is touched; the call itself is passed on as it was. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* The local port of a TCP socket, or -1. */
static int port_of(int fd) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    if (a.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&a)->sin_port);
    if (a.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
    return -1;
}

int listen(int fd, int backlog) {
    static int (*real)(int, int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "listen"); /* POSIX's way round ISO C */
    int rc = real(fd, backlog);
    const char *path = getenv("ZDAG_TEST_LISTEN_LOG");
    int port = rc == 0 && path ? port_of(fd) : -1;
    if (port >= 0) {
        char line[16];
        int n = snprintf(line, sizeof line, "%d\n", port);
        int out = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (out >= 0) {
            ssize_t w = write(out, line, (size_t)n); /* one short append: whole, in order */
            (void)w;
            close(out);
        }
    }
    return rc;
}
