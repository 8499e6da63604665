/* The messaging floor under zdag on this machine: what one ZeroMQ message between two processes
 * costs, with the socket types zdag uses (a ROUTER in the parent, as the coordinator, and a
 * DEALER in a forked child, as an executor) over ipc://, and raw AF_UNIX beside it.
 *
 *   ping-pong:    one message in flight; the time per round trip (parent -> child -> parent)
 *   100 in flight: the parent keeps 100 messages outstanding; the time per message echoed
 *   AF_UNIX:      the same ping-pong on a socketpair(2), the kernel's own floor
 *
 * Usage: zmq_floor [ROUND_TRIPS] [REPS]   (defaults 10000, 5). Prints one Markdown table with
 * the min and median of REPS measurements of each. Built by bench/run.sh with
 * cc bench/zmq_floor.c $(pkg-config --cflags --libs libzmq). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define PAYLOAD 64 /* about the size of a small TASK/RESULT frame */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "zmq_floor: %s: %s\n", what, zmq_strerror(errno));
    exit(1);
}

/* The child: a DEALER connected to endpoint, echoing every message until it gets an empty one. */
static void echo_child(const char *endpoint) {
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_ROUTING_ID, "x", 1);
    if (zmq_connect(s, endpoint) < 0)
        die("connect");
    char buf[PAYLOAD];
    if (zmq_send(s, "hi", 2, 0) < 0) /* so that the ROUTER knows the peer */
        die("send hello");
    for (;;) {
        int n = zmq_recv(s, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("child recv");
        }
        if (n == 0)
            break;
        if (zmq_send(s, buf, (size_t)n, 0) < 0)
            die("child send");
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    _exit(0);
}

typedef struct {
    void *ctx, *router;
    pid_t child;
    char endpoint[256], dir[128];
} pair;

static void pair_open(pair *p) {
    snprintf(p->dir, sizeof p->dir, "/tmp/zmq-floor-XXXXXX");
    if (!mkdtemp(p->dir))
        die("mkdtemp");
    snprintf(p->endpoint, sizeof p->endpoint, "ipc://%s/s", p->dir);
    p->ctx = zmq_ctx_new();
    p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
    int linger = 0, hwm = 0;
    zmq_setsockopt(p->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(p->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(p->router, p->endpoint) < 0)
        die("bind");
    fflush(stdout);
    p->child = fork();
    if (p->child < 0)
        die("fork");
    if (p->child == 0) {
        /* A fresh context in the child; the parent's must not be touched after fork. */
        echo_child(p->endpoint);
    }
    char id[16], buf[PAYLOAD];
    if (zmq_recv(p->router, id, sizeof id, 0) < 0 || zmq_recv(p->router, buf, sizeof buf, 0) < 0)
        die("recv hello");
}

static void send_x(void *router, const char *buf, size_t n) {
    if (zmq_send(router, "x", 1, ZMQ_SNDMORE) < 0 || zmq_send(router, buf, n, 0) < 0)
        die("send");
}

static void recv_x(void *router, char *buf) {
    char id[16];
    if (zmq_recv(router, id, sizeof id, 0) < 0 || zmq_recv(router, buf, PAYLOAD, 0) < 0)
        die("recv");
}

static void pair_close(pair *p) {
    send_x(p->router, "", 0);
    int st;
    waitpid(p->child, &st, 0);
    zmq_close(p->router);
    zmq_ctx_term(p->ctx);
    char path[300];
    snprintf(path, sizeof path, "%s/s", p->dir);
    unlink(path);
    rmdir(p->dir);
}

/* Seconds per round trip, one message in flight. */
static double pingpong(pair *p, int n) {
    char buf[PAYLOAD];
    memset(buf, 'a', sizeof buf);
    for (int i = 0; i < 1000; i++) { /* warm-up */
        send_x(p->router, buf, sizeof buf);
        recv_x(p->router, buf);
    }
    double t0 = now();
    for (int i = 0; i < n; i++) {
        send_x(p->router, buf, sizeof buf);
        recv_x(p->router, buf);
    }
    return (now() - t0) / n;
}

/* Seconds per message echoed with `depth` messages outstanding. */
static double inflight(pair *p, int n, int depth) {
    char buf[PAYLOAD];
    memset(buf, 'b', sizeof buf);
    for (int i = 0; i < depth; i++)
        send_x(p->router, buf, sizeof buf);
    double t0 = now();
    for (int i = 0; i < n; i++) {
        recv_x(p->router, buf);
        send_x(p->router, buf, sizeof buf);
    }
    double dt = (now() - t0) / n;
    for (int i = 0; i < depth; i++)
        recv_x(p->router, buf);
    return dt;
}

/* Seconds per round trip on an AF_UNIX socketpair between two processes. */
static double unix_pingpong(int n) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
        die("socketpair");
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        char b[PAYLOAD];
        for (;;) {
            ssize_t r = read(sv[1], b, sizeof b);
            if (r <= 0)
                _exit(0);
            if (write(sv[1], b, (size_t)r) != r)
                _exit(1);
        }
    }
    close(sv[1]);
    char buf[PAYLOAD];
    memset(buf, 'c', sizeof buf);
    for (int i = 0; i < 1000; i++)
        if (write(sv[0], buf, sizeof buf) < 0 || read(sv[0], buf, sizeof buf) < 0)
            die("unix warm-up");
    double t0 = now();
    for (int i = 0; i < n; i++)
        if (write(sv[0], buf, sizeof buf) < 0 || read(sv[0], buf, sizeof buf) < 0)
            die("unix ping-pong");
    double dt = (now() - t0) / n;
    close(sv[0]);
    int st;
    waitpid(pid, &st, 0);
    return dt;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void row(const char *what, double *v, int reps) {
    qsort(v, (size_t)reps, sizeof *v, cmp);
    double med = reps % 2 ? v[reps / 2] : (v[reps / 2 - 1] + v[reps / 2]) / 2;
    printf("| %s | %.2f | %.2f | %.0f |\n", what, v[0] * 1e6, med * 1e6, 1.0 / med);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10000, reps = argc > 2 ? atoi(argv[2]) : 5;
    if (n < 1 || reps < 1 || reps > 100)
        return 2;
    double pp[100], fl[100], ux[100];
    for (int r = 0; r < reps; r++) { /* interleaved, like the rest of the bench */
        pair p;
        pair_open(&p);
        pp[r] = pingpong(&p, n);
        fl[r] = inflight(&p, n * 5, 100);
        pair_close(&p);
        ux[r] = unix_pingpong(n);
    }
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    printf("| measure (libzmq %d.%d.%d, ipc://, ROUTER/DEALER, %d-byte messages, %d runs) | "
           "min µs | median µs | per second (median) |\n",
           major, minor, patch, PAYLOAD, reps);
    printf("| --- | ---: | ---: | ---: |\n");
    row("ZeroMQ ping-pong, per round trip", pp, reps);
    row("ZeroMQ 100 in flight, per message", fl, reps);
    row("raw AF_UNIX socketpair ping-pong, per round trip", ux, reps);
    return 0;
}
