/* The agent table. */
#include "agents.h"

#include <stdlib.h>
#include <string.h>

uint32_t zd_agents_add(zd_agents *t, const zd_agent *a) {
    if (t->n >= ZD_MAX_AGENTS)
        return 0;
    zd_agent *v = realloc(t->v, ((size_t)t->n + 1) * sizeof *v);
    if (!v)
        return 0;
    t->v = v;
    t->v[t->n++] = *a;
    return t->n;
}

zd_agent *zd_agents_get(const zd_agents *t, uint32_t id) {
    return id >= 1 && id <= t->n ? &t->v[id - 1] : NULL;
}

uint32_t zd_agents_find(const zd_agents *t, const zd_peer *peer) {
    if (peer->sock != ZD_SOCK_REMOTE)
        return 0;
    for (uint32_t i = 0; i < t->n; i++) {
        const zd_agent *a = &t->v[i];
        if (a->state != ZD_AGENT_GONE && a->rid_len == peer->rid_len &&
            memcmp(a->rid, peer->rid, a->rid_len) == 0)
            return i + 1;
    }
    return 0;
}

void zd_agents_clear(zd_agents *t) {
    free(t->v);
    t->v = NULL;
    t->n = 0;
}
