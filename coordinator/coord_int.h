/* The coordinator's internals, shared by its source files (coord.c: the loop, local executors
 * and results; remote.c: agents on other hosts). Not a public header. */
#ifndef ZD_COORD_INT_H
#define ZD_COORD_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "capacity.h"
#include "coord.h"
#include "lease.h"
#include "place.h"
#include "progress.h"
#include "trace.h"
#include "wire.h"

#define MAX_RID 256         /* bytes of a ZeroMQ routing id */
#define MAX_SPAWN_FAILS 3   /* deaths in a row before HELLO that retire a slot */
#define SHUTDOWN_GRACE_S 3. /* how long executors get to leave after BYE */
#define RETRY_FIRST_S 0.1   /* back-off before the first retry; doubles each time */
#define RETRY_MAX_S 10.     /* longest back-off */
#define MUSTER_S 1.         /* how long the first dispatch waits for every local executor */

typedef enum ex_state { EX_STARTING, EX_IDLE, EX_BUSY, EX_DEAD } ex_state;

typedef struct executor {
    unsigned char rid[MAX_RID]; /* routing id of its DEALER */
    size_t rid_len;             /* bytes in rid; 0 before HELLO */
    void *sock;                 /* the ROUTER it talks to (local ipc or remote tcp) */
    pid_t pid;                  /* local process id (0 once reaped, and for remote ones) */
    ex_state state;             /* see ex_state */
    int64_t node;               /* node it runs, or -1 */
    uint32_t host;              /* host index */
    uint32_t agent;             /* agent id (index + 1 in agents), 0 for local executors */
    int early_deaths;           /* deaths in a row before saying HELLO */
} executor;

typedef enum agent_state { AG_ACTIVE, AG_LOST, AG_GONE } agent_state;

typedef struct agent {
    unsigned char rid[MAX_RID]; /* routing id of its DEALER on the remote socket */
    size_t rid_len;             /* bytes in rid */
    agent_state state;          /* ACTIVE until lost (silent too long) or gone (BYE) */
    uint32_t host;              /* host index */
    uint32_t base;              /* its executors are slots base .. base + slots - 1 */
    uint32_t slots;             /* executors it runs */
    double last_seen;           /* when it last spoke (seconds since start) */
    int64_t pid;                /* its process id on its host, for logs */
} agent;

typedef struct host_slots {
    uint32_t *idle;  /* stack of idle executor slots on this host */
    uint32_t n_idle; /* entries in idle */
    uint32_t cap;    /* room in idle (executors on this host) */
} host_slots;

typedef struct node_run {
    uint64_t token;        /* token of the current attempt; results must carry it */
    int32_t executor;      /* slot of the last attempt, -1 */
    uint32_t attempts;     /* attempts started */
    uint32_t losses;       /* attempts lost with their executor */
    double start_s, end_s; /* last attempt, -1 = none */
    bool has_exit_code;    /* exit_code set */
    int exit_code;         /* last attempt's exit status */
    char *error;           /* owned; why it failed */
    char *output;          /* owned result */
    size_t output_len;     /* bytes in output */
    char **env;            /* "K=V" for the task, built on first dispatch; owned */
    size_t n_env;          /* entries in env */
    zd_grant grant;        /* units and leases of the running attempt */
    bool granted;          /* grant is held */
    double deadline_s;     /* a function attempt's timeout, enforced here; 0 = none */
    bool timed_out;        /* its executor was killed for it */
} node_run;

struct zd_coord {
    zd_coord_cfg cfg;           /* copy of the configuration */
    const zd_graph *g;          /* borrowed graph */
    zd_prio_key *keys;          /* effective priorities */
    uint32_t *class_of;         /* demand class per node */
    zd_sched *sched;            /* node states and ready queues */
    zd_capacity *cap;           /* per-host units */
    zd_leases *leases;          /* sequential lease and pools */
    zd_place *place;            /* what starts next, where */
    node_run *runs;             /* per node */
    executor *ex;               /* per slot: local ones first, then each agent's */
    uint32_t n_ex;              /* slots in use */
    host_slots *hosts;          /* per host */
    uint32_t *idle_count;       /* per host: idle executors (for zd_place_next) */
    uint32_t n_hosts;           /* entries in hosts */
    agent *agents;              /* remote agents, id = index + 1 */
    uint32_t n_agents;          /* entries in agents */
    void *remote;               /* ROUTER for remote agents and executors, or NULL */
    struct zd_zap *zap;         /* the ZAP handler admitting workers' keys, or NULL */
    double next_beat;           /* when heartbeats are due (seconds since start) */
    zd_prio_key *retry_keys;    /* per node: -(due time in us) while waiting to retry */
    zd_readyq *retries;         /* nodes waiting for their retry, earliest first */
    int jobs;                   /* effective -j */
    void *zctx;                 /* ZeroMQ context */
    void *router;               /* ROUTER bound at cfg.endpoint for local executors */
    zd_wire_buf *out;           /* encoder */
    zd_wire_decoder *dec;       /* decoder */
    zd_bytes *env_scratch;      /* task env and argv views */
    zd_dep_result *dep_scratch; /* task dep views */
    size_t scratch_cap;         /* entries in both scratch arrays */
    uint64_t next_token;        /* last attempt token handed out */
    struct timespec started;    /* wall clock at start */
    double t0;                  /* monotonic clock at start */
    double wall_s;              /* duration of the run */
    zd_trace *trace;            /* the timeline for --trace, or NULL */
    zd_progress *progress;      /* the progress line, or NULL */
    uint32_t n_active;          /* nodes taking part in the run */
    uint32_t n_hello;           /* local executors that said HELLO at least once */
    uint32_t n_deadlines;       /* running function attempts with a timeout */
    bool mustered;              /* dispatching has begun */
    int interrupted;            /* the signal that interrupted the run, or 0 */
    bool no_executors;          /* every slot retired: the run could not go on */
    bool journal_failed;        /* a journal sync failed: outcomes are no longer recorded */
    int exit_code;              /* the run's exit status */
};

/* Seconds on the monotonic clock, and since the run started. */
double zd_coord_mono(void);
double zd_coord_since_start(const zd_coord *c);

/* Makes room for n more executor slots on host `host`; returns the first new slot or -1 (out
 * of memory). The new slots are STARTING, owned by `agent`. */
int64_t zd_coord_add_slots(zd_coord *c, uint32_t host, uint32_t n, uint32_t agent);

/* Adds a host (or finds one by name) with its capacity; returns its index or -1. */
int64_t zd_coord_host(zd_coord *c, const char *name, double cpus, const zd_amount *res,
                      size_t n_res);

/* An executor is gone (died, or its host was lost): its node is re-run or failed; `how` says
 * why ("signal 9", "host lost"). The slot becomes DEAD, or STARTING when `replaced`. */
void zd_coord_executor_gone(zd_coord *c, uint32_t slot, const char *how, bool replaced);

/* Registers a HELLO'd executor in `slot` on socket `sock` and makes it idle. */
void zd_coord_executor_ready(zd_coord *c, uint32_t slot, void *sock, const unsigned char *rid,
                             size_t rid_len);

/* Makes an executor idle (its slot on its host's idle stack). */
void zd_coord_push_idle(zd_coord *c, uint32_t slot);

/* The node of a lost executor (or host): run it again, or fail it after too many losses. */
void zd_coord_node_lost(zd_coord *c, uint32_t index, const char *how);

/* Reaps local executors that exited: their nodes are re-run, replacements forked. */
void zd_coord_reap(zd_coord *c);

/* True when no local executor is left and none can join (no --listen). */
bool zd_coord_all_retired(const zd_coord *c);

/* Ends the local executors: BYE to idle ones, SIGTERM to the rest, SIGKILL after a grace. */
void zd_coord_shutdown_executors(zd_coord *c);

/* remote.c: agents on other hosts. */
int zd_remote_open(zd_coord *c);   /* binds cfg.listen (CurveZMQ + ZAP unless insecure) */
void zd_remote_close(zd_coord *c); /* stops the ZAP handler, closes the socket */
void zd_remote_join(zd_coord *c, const unsigned char *rid, size_t rid_len, const zd_msg_join *m);
void zd_remote_beat(zd_coord *c, const unsigned char *rid, size_t rid_len);
void zd_remote_lost(zd_coord *c, const unsigned char *rid, size_t rid_len, const zd_msg_lost *m);
bool zd_remote_hello(zd_coord *c, const unsigned char *rid, size_t rid_len,
                     const zd_msg_hello *h); /* false: refused */
int zd_remote_tick(zd_coord *c);      /* heartbeats and lost agents; ms until the next tick */
void zd_remote_shutdown(zd_coord *c); /* BYE to every agent still there */

#endif
