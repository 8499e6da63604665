/* Remote agents (`zdag worker`): joining, heartbeats, lost executors, lost hosts. An agent's
 * executors connect to the same socket and are registered under the agent's slot range. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "coord_int.h"
#include "curve.h"
#include "zap.h"

#define LOST_AFTER_BEATS 5 /* silent heartbeat intervals before an agent is lost */
#define MAX_AGENTS 4096    /* joins accepted in one run: a bound on what a peer can make us hold */

static int heartbeat_ms(const zd_coord *c) {
    return c->cfg.heartbeat_ms > 0 ? c->cfg.heartbeat_ms : 1000;
}

/* Sends the frame in c->out to a peer of the remote socket; a vanished peer is not an error
 * (its silence or its executors' deaths will tell). */
static void send_to(zd_coord *c, const unsigned char *rid, size_t rid_len) {
    if (zmq_send(c->remote, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return;
    zmq_send(c->remote, zd_wire_buf_data(c->out), zd_wire_buf_size(c->out), ZMQ_DONTWAIT);
}

int zd_remote_open(zd_coord *c) {
    c->remote = zmq_socket(c->zctx, ZMQ_ROUTER);
    int linger = 500, mandatory = 1; /* linger: let the final BYEs reach the agents */
    int64_t maxmsg = ZD_WIRE_MAX_FRAME;
    if (!c->remote || zmq_setsockopt(c->remote, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(c->remote, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory) < 0 ||
        zmq_setsockopt(c->remote, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0)
        return ZDAG_EZMQ;
    if (!c->cfg.insecure) {
        if (!c->cfg.curve_secret || zd_zap_start(c->zctx, c->cfg.authorized, NULL, &c->zap) < 0 ||
            zd_curve_server(c->remote, c->cfg.curve_secret) < 0) {
            fprintf(stderr, "zdag: cannot set up CurveZMQ on %s\n", c->cfg.listen);
            return ZDAG_EZMQ;
        }
    }
    if (zmq_bind(c->remote, c->cfg.listen) < 0) {
        fprintf(stderr, "zdag: cannot listen on %s: %s\n", c->cfg.listen, zmq_strerror(errno));
        return ZDAG_EZMQ;
    }
    fprintf(stderr, "zdag: accepting workers on %s%s\n", c->cfg.listen,
            c->cfg.insecure ? " WITHOUT encryption or authentication (--insecure)" : "");
    c->next_beat = zd_coord_since_start(c);
    return 0;
}

void zd_remote_close(zd_coord *c) {
    if (c->remote) {
        zmq_close(c->remote);
        c->remote = NULL;
    }
    zd_zap_stop(&c->zap);
}

static agent *find_agent(zd_coord *c, const unsigned char *rid, size_t rid_len) {
    for (uint32_t i = 0; i < c->n_agents; i++)
        if (c->agents[i].rid_len == rid_len && memcmp(c->agents[i].rid, rid, rid_len) == 0 &&
            c->agents[i].state != AG_GONE)
            return &c->agents[i];
    return NULL;
}

void zd_remote_join(zd_coord *c, const unsigned char *rid, size_t rid_len, const zd_msg_join *m) {
    char host[256], names[ZD_WIRE_MAX_RESOURCES][128];
    zd_amount res[ZD_WIRE_MAX_RESOURCES];
    if (m->version != ZD_WIRE_VERSION || find_agent(c, rid, rid_len) || c->n_agents >= MAX_AGENTS) {
        fprintf(stderr, "zdag: refused a worker (protocol %u, joined twice, or too many)\n",
                m->version);
        return;
    }
    snprintf(host, sizeof host, "%.*s", (int)m->host.len, m->host.ptr);
    for (uint32_t i = 0; i < m->n_res; i++) {
        snprintf(names[i], sizeof names[i], "%.*s", (int)m->res_names[i].len, m->res_names[i].ptr);
        res[i] = (zd_amount){names[i], m->res_amounts[i]};
    }
    agent *agents = realloc(c->agents, (c->n_agents + 1) * sizeof *agents);
    if (!agents)
        return;
    c->agents = agents;
    int64_t h = zd_coord_host(c, host, m->cpus, res, m->n_res);
    uint32_t id = c->n_agents + 1;
    int64_t base = h < 0 ? -1 : zd_coord_add_slots(c, (uint32_t)h, m->slots, id);
    if (base < 0) {
        fprintf(stderr, "zdag: out of memory for a joining worker\n");
        return;
    }
    agent *a = &c->agents[c->n_agents++];
    *a = (agent){.rid_len = rid_len,
                 .state = AG_ACTIVE,
                 .host = (uint32_t)h,
                 .base = (uint32_t)base,
                 .slots = m->slots,
                 .last_seen = zd_coord_since_start(c),
                 .pid = m->pid};
    memcpy(a->rid, rid, rid_len);
    const zd_graph_settings *gs = zd_graph_settings_of((zd_graph *)c->g);
    zd_bytes plugins[ZD_WIRE_MAX_PLUGINS];
    uint32_t n_plugins = gs->n_plugins < ZD_WIRE_MAX_PLUGINS ? (uint32_t)gs->n_plugins : 0;
    for (uint32_t i = 0; i < n_plugins; i++)
        plugins[i] = (zd_bytes){gs->plugins[i], strlen(gs->plugins[i])};
    zd_msg_welcome w = {.agent = id,
                        .run_id = {c->cfg.run_id, strlen(c->cfg.run_id)},
                        .heartbeat_ms = (uint32_t)heartbeat_ms(c),
                        .plugins = plugins,
                        .n_plugins = n_plugins,
                        .fence_ms = (uint32_t)heartbeat_ms(c) * 3};
    if (zd_wire_encode_welcome(c->out, &w) == 0)
        send_to(c, rid, rid_len);
    fprintf(stderr, "zdag: worker %u joined from host %s (%u slots, %g cpus, pid %lld)\n", id, host,
            m->slots, m->cpus, (long long)m->pid);
}

void zd_remote_beat(zd_coord *c, const unsigned char *rid, size_t rid_len) {
    agent *a = find_agent(c, rid, rid_len);
    if (!a)
        return;
    if (a->state == AG_ACTIVE) {
        a->last_seen = zd_coord_since_start(c);
    } else if (zd_wire_encode_bye(c->out, ZD_BYE_DONE) == 0) {
        /* A lost agent that speaks again (a healed partition) must drop what it runs: its
         * nodes were given to others. */
        send_to(c, rid, rid_len);
    }
}

void zd_remote_lost(zd_coord *c, const unsigned char *rid, size_t rid_len, const zd_msg_lost *m) {
    agent *a = find_agent(c, rid, rid_len);
    if (!a || a->state != AG_ACTIVE || m->agent != (uint32_t)(a - c->agents) + 1 ||
        m->slot >= a->slots) {
        fprintf(stderr, "zdag: ignored a LOST report from an unknown worker\n");
        return;
    }
    char how[128];
    snprintf(how, sizeof how, "%.*s on host %s", (int)m->how.len, m->how.ptr,
             zd_capacity_host_name(c->cap, a->host));
    zd_coord_executor_gone(c, a->base + m->slot, how, true);
}

bool zd_remote_hello(zd_coord *c, const unsigned char *rid, size_t rid_len, const zd_msg_hello *h) {
    if (h->version != ZD_WIRE_VERSION || h->agent == 0 || h->agent > c->n_agents)
        return false;
    agent *a = &c->agents[h->agent - 1];
    if (a->state != AG_ACTIVE || h->slot >= a->slots)
        return false;
    uint32_t slot = a->base + h->slot;
    if (c->ex[slot].state != EX_STARTING)
        return false;
    zd_coord_executor_ready(c, slot, c->remote, rid, rid_len);
    return true;
}

/* An agent went silent: its executors' nodes run elsewhere, their leases are revoked. */
static void agent_lost(zd_coord *c, agent *a, double silent_s) {
    fprintf(stderr, "zdag: worker %u on host %s is lost (silent for %.1f s)\n",
            (uint32_t)(a - c->agents) + 1, zd_capacity_host_name(c->cap, a->host), silent_s);
    a->state = AG_LOST;
    for (uint32_t s = a->base; s < a->base + a->slots; s++)
        zd_coord_executor_gone(c, s, "host lost", false);
}

int zd_remote_tick(zd_coord *c) {
    if (!c->remote)
        return -1;
    double now = zd_coord_since_start(c), hb = heartbeat_ms(c) / 1000.0;
    if (now >= c->next_beat) {
        if (zd_wire_encode_beat(c->out, 0) == 0)
            for (uint32_t i = 0; i < c->n_agents; i++)
                if (c->agents[i].state == AG_ACTIVE)
                    send_to(c, c->agents[i].rid, c->agents[i].rid_len);
        c->next_beat = now + hb;
    }
    for (uint32_t i = 0; i < c->n_agents; i++)
        if (c->agents[i].state == AG_ACTIVE && now - c->agents[i].last_seen > LOST_AFTER_BEATS * hb)
            agent_lost(c, &c->agents[i], now - c->agents[i].last_seen);
    double left = c->next_beat - now;
    return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

void zd_remote_shutdown(zd_coord *c) {
    if (!c->remote || zd_wire_encode_bye(c->out, ZD_BYE_DONE) < 0)
        return;
    for (uint32_t i = 0; i < c->n_agents; i++)
        if (c->agents[i].state != AG_GONE) {
            send_to(c, c->agents[i].rid, c->agents[i].rid_len);
            c->agents[i].state = AG_GONE;
        }
}
