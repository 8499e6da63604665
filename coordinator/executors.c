/* The coordinator's executors and hosts: registering them, the idle stacks placement reads,
 * deaths of local executors (and their replacement), and the end of a run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "coord_int.h"

/* Grows a host's idle stack to hold every executor it has. */
static int grow_idle(host_slots *h, uint32_t cap) {
    if (cap <= h->cap)
        return 0;
    uint32_t *idle = realloc(h->idle, cap * sizeof *idle);
    if (!idle)
        return ZDAG_ENOMEM;
    h->idle = idle;
    h->cap = cap;
    return 0;
}

int64_t zd_coord_host(zd_coord *c, const char *name, double cpus, const zd_amount *res,
                      size_t n_res) {
    /* Agents naming a known host (the coordinator's own included) share its limits. */
    for (uint32_t h = 0; h < c->n_hosts; h++)
        if (strcmp(zd_capacity_host_name(c->cap, h), name) == 0)
            return h;
    host_slots *hosts = realloc(c->hosts, (c->n_hosts + 1) * sizeof *hosts);
    if (hosts)
        c->hosts = hosts;
    uint32_t *counts = realloc(c->idle_count, (c->n_hosts + 1) * sizeof *counts);
    if (counts)
        c->idle_count = counts;
    uint32_t index;
    if (!hosts || !counts || zd_capacity_add_host(c->cap, name, cpus, res, n_res, &index) < 0)
        return -1;
    c->hosts[c->n_hosts] = (host_slots){0};
    c->idle_count[c->n_hosts] = 0;
    if (c->trace && zd_trace_track(c->trace, index, name, -1) < 0)
        fprintf(stderr, "zdag: the trace is incomplete (out of memory)\n");
    return c->n_hosts++;
}

int64_t zd_coord_add_slots(zd_coord *c, uint32_t host, uint32_t n, uint32_t agent_id) {
    executor *ex = realloc(c->ex, (c->n_ex + n) * sizeof *ex);
    if (!ex)
        return -1;
    c->ex = ex;
    host_slots *h = &c->hosts[host];
    if (grow_idle(h, h->cap + n) < 0)
        return -1;
    uint32_t first = c->n_ex;
    for (uint32_t s = 0; s < n; s++)
        c->ex[first + s] =
            (executor){.state = EX_STARTING, .node = -1, .host = host, .agent = agent_id};
    c->n_ex += n;
    return first;
}

void zd_coord_executor_ready(zd_coord *c, uint32_t slot, void *sock, const unsigned char *rid,
                             size_t rid_len) {
    executor *x = &c->ex[slot];
    memcpy(x->rid, rid, rid_len);
    x->rid_len = rid_len;
    x->sock = sock;
    x->early_deaths = 0;
    zd_coord_push_idle(c, slot);
    if (c->trace && zd_trace_track(c->trace, x->host, zd_capacity_host_name(c->cap, x->host),
                                   (int32_t)slot) < 0)
        fprintf(stderr, "zdag: the trace is incomplete (out of memory)\n");
}

void zd_coord_push_idle(zd_coord *c, uint32_t slot) {
    executor *x = &c->ex[slot];
    host_slots *h = &c->hosts[x->host];
    x->node = -1;
    x->state = EX_IDLE;
    h->idle[h->n_idle++] = slot;
    c->idle_count[x->host] = h->n_idle;
}

static void remove_idle(zd_coord *c, uint32_t slot) {
    host_slots *h = &c->hosts[c->ex[slot].host];
    for (uint32_t i = 0; i < h->n_idle; i++)
        if (h->idle[i] == slot) {
            h->idle[i] = h->idle[--h->n_idle];
            break;
        }
    c->idle_count[c->ex[slot].host] = h->n_idle;
}

/* An executor process ended: re-run its node elsewhere (or fail it), and replace it. */
void zd_coord_executor_gone(zd_coord *c, uint32_t slot, const char *how, bool replaced) {
    executor *x = &c->ex[slot];
    if (x->state == EX_IDLE)
        remove_idle(c, slot);
    if (x->state == EX_BUSY)
        zd_coord_node_lost(c, (uint32_t)x->node, how);
    if (x->state == EX_STARTING)
        x->early_deaths++;
    x->state = replaced ? EX_STARTING : EX_DEAD;
    x->node = -1;
    x->rid_len = 0;
}

/* A local executor process ended: re-run its node elsewhere (or fail it), and replace it. */
static void executor_died(zd_coord *c, uint32_t slot, int status) {
    executor *x = &c->ex[slot];
    char how[64];
    if (c->cfg.reaped)
        c->cfg.reaped(c->cfg.spawn_ctx, slot);
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(status));
    zd_coord_executor_gone(c, slot, how, false);
    x->pid = 0;
    if (c->interrupted || zd_sched_finished(c->sched) || !c->cfg.spawn)
        return;
    if (x->early_deaths >= MAX_SPAWN_FAILS) {
        fprintf(stderr, "zdag: executor %u keeps dying at start (%s); giving up on it\n", slot,
                how);
        return;
    }
    pid_t pid;
    if (c->cfg.spawn(c->cfg.spawn_ctx, slot, &pid) < 0) {
        fprintf(stderr, "zdag: cannot start a new executor: %s\n", strerror(errno));
        return;
    }
    x->pid = pid;
    x->state = EX_STARTING;
}

void zd_coord_reap(zd_coord *c) {
    for (uint32_t s = 0; s < c->cfg.n_local; s++) {
        int status;
        if (c->ex[s].pid > 0 && waitpid(c->ex[s].pid, &status, WNOHANG) == c->ex[s].pid)
            executor_died(c, s, status);
    }
}

bool zd_coord_all_retired(const zd_coord *c) {
    if (c->cfg.listen)
        return false; /* workers may still join */
    for (uint32_t s = 0; s < c->cfg.n_local; s++)
        if (c->ex[s].state != EX_DEAD)
            return false;
    return true;
}

/* Ends the executors: BYE to those that can hear it, then SIGKILL after a grace period. */
void zd_coord_shutdown_executors(zd_coord *c) {
    if (zd_wire_encode_bye(c->out, ZD_BYE_DONE) == 0)
        for (uint32_t s = 0; s < c->cfg.n_local; s++) {
            executor *x = &c->ex[s];
            if (x->pid > 0 && x->rid_len > 0 && x->state == EX_IDLE) {
                zmq_send(c->router, x->rid, x->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(c->router, zd_wire_buf_data(c->out), zd_wire_buf_size(c->out),
                         ZMQ_DONTWAIT);
            } else if (x->pid > 0) {
                kill(x->pid, SIGTERM); /* still starting or busy: nothing to wait for */
            }
        }
    double deadline = zd_coord_mono() + SHUTDOWN_GRACE_S;
    for (;;) {
        bool left = false;
        for (uint32_t s = 0; s < c->cfg.n_local; s++) {
            int status;
            if (c->ex[s].pid > 0 && waitpid(c->ex[s].pid, &status, WNOHANG) == c->ex[s].pid) {
                c->ex[s].pid = 0;
                if (c->cfg.reaped)
                    c->cfg.reaped(c->cfg.spawn_ctx, s);
            }
            left |= c->ex[s].pid > 0;
        }
        if (!left)
            return;
        if (zd_coord_mono() >= deadline)
            break;
        zmq_pollitem_t item = {NULL, c->cfg.signal_fd, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 50) > 0) {
            struct signalfd_siginfo si;
            while (read(c->cfg.signal_fd, &si, sizeof si) == (ssize_t)sizeof si)
                if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
                    deadline = 0; /* impatient: kill now */
        }
    }
    for (uint32_t s = 0; s < c->cfg.n_local; s++)
        if (c->ex[s].pid > 0) {
            kill(c->ex[s].pid, SIGKILL);
            waitpid(c->ex[s].pid, NULL, 0);
            c->ex[s].pid = 0;
            if (c->cfg.reaped)
                c->cfg.reaped(c->cfg.spawn_ctx, s);
        }
}
