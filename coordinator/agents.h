/* Remote agents (`zdag worker`) as the coordinator knows them: who they are (routing id, the
 * CURVE key they authenticated with, their secret), which slots are theirs, and when each was
 * last heard, for T_lost. No socket: the core decides, the loop sends. */
#ifndef ZD_AGENTS_H
#define ZD_AGENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define ZD_MAX_AGENTS 4096 /* joins accepted in one run: a bound on what peers can make us hold */

typedef enum zd_agent_state {
    ZD_AGENT_ACTIVE, /* joined and heard within T_lost */
    ZD_AGENT_LOST,   /* silent longer than T_lost: its work was given away */
    ZD_AGENT_GONE,   /* told BYE at the end of the run */
    ZD_AGENT_LEFT,   /* it LEFT (idle and told BYE, or stopped): its slots are retired */
} zd_agent_state;

typedef struct zd_agent {
    zd_agent_state state;          /* see zd_agent_state */
    unsigned char rid[ZD_MAX_RID]; /* routing id of its DEALER */
    size_t rid_len;                /* bytes in rid */
    char user_id[ZD_MAX_USER];     /* the ZAP User-Id it joined with ("" without CURVE) */
    uint64_t secret;               /* its executors' proof in HELLO */
    uint32_t host;                 /* host index */
    uint32_t base;                 /* its slots are base .. base + slots - 1 */
    uint32_t slots;                /* executors it runs */
    double last_heard;             /* when it last spoke (seconds since the start) */
    uint64_t acked;                /* the highest BEAT seq received from it */
    int64_t pid;                   /* its process id on its host, for logs */
    char allocation[ZD_WIRE_MAX_ALLOCATION + 1]; /* its own share of the host ("" for none) */
    bool stopped;                                /* LEFT because a signal stopped it */
} zd_agent;

typedef struct zd_agents {
    zd_agent *v; /* agent id = index + 1 */
    uint32_t n;  /* entries */
} zd_agents;

/* Adds an agent (copied from *a); returns its id (>= 1), or 0 when out of memory or full. */
uint32_t zd_agents_add(zd_agents *t, const zd_agent *a);

/* The agent with id `id`, or NULL. */
zd_agent *zd_agents_get(const zd_agents *t, uint32_t id);

/* The id of the agent (any state but GONE) speaking from peer, or 0. */
uint32_t zd_agents_find(const zd_agents *t, const zd_peer *peer);

/* Frees the table (it is empty and reusable afterwards). */
void zd_agents_clear(zd_agents *t);

#endif
