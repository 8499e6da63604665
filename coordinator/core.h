/* The coordinator's core: one run as a state machine. It holds the run's state (nodes, attempts,
 * leases, slots, hosts, agents) and has no socket, no process and no clock of its own. The loop
 * around it (coord.c) turns sockets, the signalfd and reaped children into events; each event
 * call takes "now" (seconds since the run started, one monotonic clock) and appends actions
 * (send this TASK to that slot, kill that executor, journal that outcome, ...) that the loop
 * drains with zd_core_actions(). A fake clock and scripted events drive every rule in tests.
 *
 * Promises kept here (README "Guarantees"):
 * - A lease (the sequential lease, a pool unit) and a host's units are released only when the
 *   attempt holding them is known to be over: its result came, its executor was reaped or
 *   reported dead by its agent, or its host was lost, which is declared only after T_lost of
 *   silence (cfg.lost_s) — longer than the T_fence after which the worker side stops every
 *   attempt it runs (cfg.fence_s). A CANCEL never releases anything by itself.
 * - Only the connection a task was sent to can answer it: a RESULT must carry the attempt's
 *   random 64-bit token and come from the slot's own routing id; an executor of an agent is
 *   admitted (HELLO) only with that agent's secret and from a connection authenticated with the
 *   same CURVE key (ZAP User-Id) as the agent's JOIN.
 * - Every attempt is in the node's history (zd_core_outcome()), lost and retried ones too.
 * - A deadline is a backstop: the executor enforces a timeout itself; past timeout + 1 s (a
 *   function) or + 3 s (a command, whose executor sends SIGTERM and SIGKILL 2 s later) the core
 *   asks for a SIGKILL of a local executor (ZD_ACT_KILL) or a CANCEL to the agent. */
#ifndef ZD_CORE_H
#define ZD_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "log.h"
#include "prio.h"
#include "scheduler.h"
#include "wire.h"

struct zd_trace;

/* Which socket a peer spoke on. */
typedef enum zd_sock_id {
    ZD_SOCK_LOCAL = 0,  /* the ipc ROUTER of the local executors */
    ZD_SOCK_REMOTE = 1, /* the --listen ROUTER of agents and their executors */
} zd_sock_id;

#define ZD_MAX_RID 256  /* bytes of a ZeroMQ routing id */
#define ZD_MAX_USER 128 /* bytes of a ZAP User-Id kept (the authorized key's file name) */

/* Who sent a message (all borrowed for the call). */
typedef struct zd_peer {
    zd_sock_id sock;          /* the socket it arrived on */
    const unsigned char *rid; /* its routing id on that socket */
    size_t rid_len;           /* bytes in rid (1..ZD_MAX_RID) */
    const char *user_id;      /* the connection's ZAP User-Id ("" without CURVE) */
} zd_peer;

typedef struct zd_core_cfg {
    uint32_t n_local;        /* local executor slots 0..n_local-1, on host 0 */
    uint32_t n_started;      /* ... the first n_started have an executor forked at start; the
                                others are started on demand (ZD_ACT_SPAWN) when a ready node
                                fits this host's free units but has no executor, so IO-bound
                                (`cpus: 0`) nodes keep flowing. 0 = all of them */
    bool can_spawn;          /* dead local executors may be replaced (ZD_ACT_SPAWN) */
    int jobs;                /* nodes running at once at most; 0 = one per executor */
    zd_prio_mode prio;       /* how ready nodes are ordered */
    bool keep_going;         /* a failure skips its descendants only */
    const bool *active;      /* nodes taking part (borrowed), NULL = all */
    const char *log_dir;     /* directory of the NODE.log files of local attempts */
    const char *run_id;      /* given to commands as ZDAG_RUN_ID */
    int max_losses;          /* executor deaths one node survives before failing; 0 = 3 */
    const char *host_id;     /* the local host's name */
    double local_cpus;       /* CPU units of the local host */
    bool listen;             /* remote agents may join */
    double heartbeat_s;      /* BEAT interval to agents; 0 = 1 */
    double fence_s;          /* T_fence told to agents; 0 = 3 heartbeats */
    double lost_s;           /* T_lost: an agent silent this long is lost; 0 = 5 heartbeats */
    double muster_s;         /* the first dispatch waits this long for every local executor;
                                0 = 1 s, < 0 = no wait */
    double journal_window_s; /* outcomes wait at most this long to be synced; 0 = 50 ms */
    double progress_s;       /* ZD_ACT_DRAW every this many seconds; 0 = none */
    const bool *cached;      /* per node: taken from an earlier run (--resume), or NULL */
    const bool *up_to_date;  /* per node: cached because its outputs are up to date (not for
                                --resume; the report says "up-to-date"), or NULL */
    const char *const *cached_results; /* per node: the cached inline result (borrowed), or NULL */
    const size_t *cached_lens;         /* per node: its length */
    const uint8_t *const *cached_hashes; /* per node: the hash of a cached stored result
                                            (ZD_STORE_HASH bytes, borrowed), or NULL: inline */
    const uint64_t *cached_sizes;        /* per node: that stored result's size */
    const char *store_dir;               /* the result store (STATE_DIR/results), told to local
                                            executors */
    uint64_t max_result;        /* limit of a node that sets none (nor its graph); 0 = 1 GiB */
    const double *durations;    /* per node: median recorded duration (0 = unknown), or NULL */
    const char *const *plugins; /* plugin paths told to agents in WELCOME (borrowed) */
    uint32_t n_plugins;         /* entries in plugins */
    struct zd_trace *trace;     /* the timeline to record into (borrowed), or NULL */
    const struct zd_core_growth *growth; /* run-time fan-out and late --resume (borrowed), or
                                            NULL: a template fails when its deps are done */
    uint64_t (*random)(void *ctx); /* random 64-bit values (tokens, secrets); NULL = libsodium */
    void *random_ctx;              /* passed to random */
    zd_log log;                    /* where the core reports (a NULL fn discards) */
} zd_core_cfg;

typedef struct zd_core zd_core;

/* A result taken from an earlier run (views borrowed for the call). */
typedef struct zd_core_cached {
    const char *output;  /* an inline result, or NULL when stored */
    size_t len;          /* bytes in output */
    const uint8_t *hash; /* a stored result's hash (ZD_STORE_HASH bytes), or NULL */
    uint64_t size;       /* that stored result's size */
} zd_core_cached;

struct zd_node_outcome;

/* What the core asks of the loop as the graph grows during the run (README "Fan-out at run
 * time"). Both are called from an event, before its dispatch round; neither may call an event. */
typedef struct zd_core_growth {
    /* The deps of template tmpl (common/graph.h) are done: add its instances to the graph (the
     * core's g, which it otherwise only reads) with zd_graph_add_instances(), from src, the
     * outcome of its source. Returns 0, or < 0 with why[0..size) set: the template fails. */
    int (*expand)(void *ctx, uint32_t tmpl, const struct zd_node_outcome *src, char *why,
                  size_t size);
    /* --resume, for a node the plan could not decide before the run (an instance, or what follows
     * a template): every input is CACHED now. True, with *out set, when an earlier run's result
     * of it stands (zd_resume_plan()'s rules); false: it runs. NULL: it always runs. */
    bool (*lookup)(void *ctx, uint32_t node, zd_core_cached *out);
    void *ctx; /* passed to both */
} zd_core_growth;

/* Creates the core of a run over graph g (borrowed, finished; must outlive it). Local slots
 * start STARTING; nothing is dispatched before zd_core_start(). Returns 0, ZDAG_EINVAL (no
 * executor can ever join, or a bad graph) or ZDAG_ENOMEM. */
int zd_core_new(const zd_core_cfg *cfg, const zd_graph *g, zd_core **out)
    __attribute__((warn_unused_result));

/* Frees the core; sets *c to NULL. Accepts NULL. */
void zd_core_free(zd_core **c);

/* ---- Actions ------------------------------------------------------------------------------ */

typedef enum zd_action_kind {
    ZD_ACT_TASK,    /* send node's TASK (zd_core_task()) to slot; on EHOSTUNREACH call
                       zd_core_on_unreachable() */
    ZD_ACT_KILL,    /* a local slot: kill its executor process with `sig` */
    ZD_ACT_CANCEL,  /* send CANCEL(agent_slot, token, why) to agent */
    ZD_ACT_SPAWN,   /* a local slot: fork a replacement executor, then zd_core_on_spawned() */
    ZD_ACT_WELCOME, /* send WELCOME (zd_core_welcome()) to agent */
    ZD_ACT_BEAT,    /* send BEAT(seq) to agent */
    ZD_ACT_BYE,     /* send BYE(reason) to agent */
    ZD_ACT_OUTCOME, /* node reached its final state (succeeded or failed): journal it */
    ZD_ACT_SYNC,    /* make journaled outcomes durable now (the window elapsed) */
    ZD_ACT_DRAW,    /* redraw the progress line */
    ZD_ACT_DROP,    /* send DROP(token) to slot's executor: do not start node's task sent ahead */
} zd_action_kind;

typedef struct zd_action {
    zd_action_kind kind; /* what to do */
    uint32_t slot;       /* TASK, KILL, SPAWN, DROP: the slot */
    uint32_t node;       /* TASK, OUTCOME, DROP: the node */
    uint32_t agent;      /* CANCEL, WELCOME, BEAT, BYE: the agent id (1-based) */
    uint32_t agent_slot; /* CANCEL: the agent's own slot number */
    uint64_t token;      /* CANCEL, DROP: the attempt; BEAT: the seq acknowledged */
    int sig;             /* KILL: the signal */
    uint32_t reason;     /* BYE: zd_bye_reason */
    const char *why;     /* CANCEL: why (borrowed until the next event) */
} zd_action;

/* The actions appended since the last call (borrowed; valid until the next event call);
 * *n is set to their number, and the list is emptied. */
const zd_action *zd_core_actions(zd_core *c, size_t *n);

/* ---- Events ------------------------------------------------------------------------------- */

/* The run begins at `now` (local executors have been forked, sockets bound). */
void zd_core_start(zd_core *c, double now);

/* An executor said HELLO. Local executors (peer->sock LOCAL) must have been checked by the
 * caller to be the process forked for h->slot. Returns true when admitted. */
bool zd_core_on_hello(zd_core *c, double now, const zd_peer *peer, const zd_msg_hello *h);

/* An agent asked to JOIN (remote socket only). Returns its agent id, or 0 when refused. */
uint32_t zd_core_on_join(zd_core *c, double now, const zd_peer *peer, const zd_msg_join *j);

/* An agent's LEAVE. Idle (`zdag worker --idle-exit`): when none of its slots has work (no
 * attempt running, no task sent ahead) and every one of its executors said HELLO, its slots are
 * retired, it is told BYE (ZD_ACT_BYE, done) and true is returned; otherwise nothing changes (it
 * goes on serving, and asks again later). Stopped (a signal; it killed what it ran first): its
 * slots are retired at once, their attempts lost and run elsewhere; true. */
bool zd_core_on_leave(zd_core *c, double now, const zd_peer *peer, zd_leave_reason reason);

/* An agent's BEAT (or any other message of an agent: call with its seq 0 to mark it heard). */
void zd_core_on_beat(zd_core *c, double now, const zd_peer *peer, uint64_t seq);

/* An agent reports its executor `slot` died (`how`): the tasks sent there up to the one it
 * started last (`m->started`) are lost attempts, the later ones go back untouched. */
void zd_core_on_lost(zd_core *c, double now, const zd_peer *peer, const zd_msg_lost *m);

/* A RESULT arrived. A stored result (m->hash) must be in cfg.store_dir already: the caller
 * checked it (a remote one's upload, see coord.c) or turned the RESULT into a failure. A
 * result over the node's max_result fails the node. Returns true when it was accepted as the
 * attempt's outcome (the caller then writes a shipped log, see zd_core_log_path()); false when it
 * was stale, forged or misrouted (logged, rate-limited). */
bool zd_core_on_result(zd_core *c, double now, const zd_peer *peer, const zd_msg_result *m);

/* An executor did not start a task sent ahead to it (DROPPED): the task goes back to the ready
 * queue, no attempt counted. Ignored unless peer is that task's executor and token its. */
void zd_core_on_dropped(zd_core *c, double now, const zd_peer *peer, const zd_msg_dropped *m);

/* A local executor process ended (reaped) with `how` ("signal 9", "exit status 1"). */
void zd_core_on_exit(zd_core *c, double now, uint32_t slot, const char *how);

/* The same, knowing the token of the last task it started (0: unknown): the tasks it held up
 * to that one all started there (their RESULTs died with it), so each is a lost attempt, and
 * only those after it are taken back untouched. */
void zd_core_on_exit_started(zd_core *c, double now, uint32_t slot, const char *how,
                             uint64_t started);

/* A replacement local executor was forked for `slot` (ok), or could not be (!ok). */
void zd_core_on_spawned(zd_core *c, double now, uint32_t slot, bool ok);

/* Sending to `slot` failed: its peer is gone (EHOSTUNREACH). A local executor is killed (its
 * exit, zd_core_on_exit_started(), follows and refills the slot); a remote one's work runs
 * elsewhere. */
void zd_core_on_unreachable(zd_core *c, double now, uint32_t slot);

/* Timers that are due at `now` fire (retries, deadlines, heartbeats, lost agents, the journal
 * window, the progress tick, the muster). */
void zd_core_on_timer(zd_core *c, double now);

/* SIGINT or SIGTERM. The first stops the run (running nodes are killed); a second kills every
 * local executor at once (ZD_ACT_KILL with SIGKILL). */
void zd_core_on_signal(zd_core *c, double now, int sig);

/* The run cannot go on (`why` logged): nothing more starts; zd_core_exit_code() is 3 unless a
 * node failed. */
void zd_core_give_up(zd_core *c, double now, const char *why);

/* The run is over at `now`: remaining nodes are skipped, BYE goes to every agent. */
void zd_core_finish(zd_core *c, double now);

/* ---- Queries ------------------------------------------------------------------------------ */

/* When the next timer is due (seconds since the start), or a negative value for none. */
double zd_core_next_timer(const zd_core *c);

/* True when no node is running and none can start. */
bool zd_core_finished(const zd_core *c);

/* The run's exit status (SPEC section 1) once finished: 0, 1, 3, 130, 143. */
int zd_core_exit_code(const zd_core *c);

/* Fills *t with node's TASK for the attempt just dispatched to slot (views borrowed from the
 * core and the graph: valid until the next event). Returns 0 or ZDAG_ENOMEM. */
int zd_core_task(zd_core *c, uint32_t node, uint32_t slot, zd_msg_task *t)
    __attribute__((warn_unused_result));

/* Fills *w with agent's WELCOME (views borrowed until the next event); plugins is the caller's
 * room for ZD_WIRE_MAX_PLUGINS entries, which w->plugins points at. */
void zd_core_welcome(const zd_core *c, uint32_t agent, zd_msg_welcome *w, zd_bytes *plugins);

/* The routing id and socket of a slot's executor (rid borrowed); false when it has none. */
bool zd_core_slot_peer(const zd_core *c, uint32_t slot, zd_sock_id *sock, const unsigned char **rid,
                       size_t *rid_len);

/* The routing id of an agent (borrowed); false for an unknown agent. */
bool zd_core_agent_peer(const zd_core *c, uint32_t agent, const unsigned char **rid,
                        size_t *rid_len);

/* True when `slot`'s executor said HELLO and runs nothing (it may be told BYE). */
bool zd_core_slot_is_idle(const zd_core *c, uint32_t slot);

/* Counts for the progress line. */
typedef struct zd_core_counts {
    uint32_t done;       /* succeeded, failed, skipped or cached */
    uint32_t running;    /* attempts holding a grant */
    uint32_t failed;     /* failed */
    uint32_t active;     /* nodes taking part */
    uint32_t lost_hosts; /* agents lost so far */
    uint64_t started;    /* attempts started so far */
    uint64_t results;    /* RESULTs accepted so far */
    uint64_t retries;    /* retries after a failed attempt so far */
} zd_core_counts;
void zd_core_counts_get(const zd_core *c, zd_core_counts *out);

/* One attempt of a node, for the report. */
typedef struct zd_attempt {
    uint32_t attempt;    /* 1-based */
    const char *host;    /* host name (borrowed) */
    int32_t executor;    /* slot */
    double ready_s;      /* when the node last became ready before this attempt */
    double start_s;      /* when it was sent to its executor */
    double end_s;        /* when its outcome was known; < 0 while running */
    const char *outcome; /* "succeeded", "failed", "timed out", "lost", "interrupted",
                            "running" */
} zd_attempt;

/* How one node ended (pointers borrowed from the core). */
typedef struct zd_node_outcome {
    zd_node_state state; /* final state */
    uint32_t attempts;   /* attempts started */
    int32_t executor;    /* executor slot of the last attempt, or -1 */
    const char *host;    /* host of the last attempt, or NULL */
    double start_s;      /* start of the last attempt, seconds since the run started; < 0 none */
    double end_s;        /* end of the last attempt; < 0 none */
    bool has_exit_code;  /* exit_code is meaningful */
    int exit_code;       /* exit status of the last attempt */
    const char *error;   /* why it failed or was skipped, or NULL */
    const char *output;  /* the inline result, or NULL (none, or stored) */
    size_t output_len;   /* bytes in output */
    bool has_output;     /* the node has a result (inline or stored) */
    const uint8_t *output_hash; /* a stored result's hash (ZD_STORE_HASH bytes), or NULL */
    uint64_t output_size;       /* bytes of the result, inline or stored */
    bool output_is_msgpack;     /* output is one packed msgpack value (a function's result) */
    bool up_to_date;            /* cached because its outputs are up to date */
    bool is_template;           /* a run-time fan-out's template: it never runs, it ends with its
                                   instances */
    bool expanded;              /* ... its instances were added to the graph: */
    uint32_t instances;         /* ... their number */
    const zd_attempt *history;  /* every attempt, oldest first */
    uint32_t n_history;         /* entries in history */
} zd_node_outcome;

/* How node `index` stands (or ended). */
void zd_core_outcome(const zd_core *c, uint32_t index, zd_node_outcome *out);

/* ---- Status (zdag status) ------------------------------------------------------------------ */

/* Why a node that has not ended is not running now, in words, into buf (README "zdag status"):
 * the deps it waits for; the limit that holds a ready one (-j, a pool, the sequential lease, CPU
 * units or resources on every host, a bigger host, no idle executor); a retry's back-off;
 * "running". */
void zd_core_why(const zd_core *c, uint32_t node, char *buf, size_t size);

/* What more hosts would serve now (for automatic workers, coordinator/provision.h). */
typedef struct zd_core_demand_info {
    uint32_t waiting;     /* ready nodes held only by hosts: none has room for them, or none
                             with room has an idle executor (not -j, a pool, the sequential
                             lease or a back-off) */
    uint32_t too_big;     /* ... of which no host that joined could ever fit */
    double need_cpus;     /* the most CPU units one of those needs */
    double need_mem_mb;   /* ... and the most of resource "mem_mb" */
    bool other_resources; /* one of those needs another resource (gpu=1, ...) */
    uint32_t big_node;    /* the first of those that needs the most, or UINT32_MAX */
    uint32_t executors;   /* executor slots in the run (up or starting), on every host */
} zd_core_demand_info;

/* Counts the ready nodes waiting for hosts (nothing once the run stops). O(nodes). */
void zd_core_demand(const zd_core *c, zd_core_demand_info *out);

/* True when node is ready and waits only for hosts (as zd_core_demand() counts it). */
bool zd_core_waits_for_hosts(const zd_core *c, uint32_t node);

/* An agent as the core knows it. */
typedef enum zd_core_agent_state {
    ZD_CORE_AGENT_NONE,    /* no such agent */
    ZD_CORE_AGENT_ACTIVE,  /* in the run */
    ZD_CORE_AGENT_LOST,    /* declared lost (silent longer than T_lost) */
    ZD_CORE_AGENT_LEFT,    /* left the run idle (LEAVE) */
    ZD_CORE_AGENT_STOPPED, /* left the run stopped by a signal (LEAVE: scancel, a time limit) */
    ZD_CORE_AGENT_DONE,    /* told BYE at the end of the run */
} zd_core_agent_state;

/* The state of agent `id` (1-based, as zd_core_on_join() returned it). */
zd_core_agent_state zd_core_agent_state_of(const zd_core *c, uint32_t id);

/* Fills out with the (at most max) best ready nodes, best first; returns how many. O(nodes). */
size_t zd_core_ready_head(const zd_core *c, uint32_t *out, size_t max);

/* The nodes running on an executor now: fills out with at most max of them, in slot order,
 * and returns how many there are. O(executors). */
size_t zd_core_running_nodes(const zd_core *c, uint32_t *out, size_t max);

/* A host's executors and units now. */
typedef struct zd_core_host_info {
    const char *name;       /* borrowed */
    uint32_t slots;         /* executors that are up (or starting) */
    uint32_t busy;          /* ... running an attempt */
    double cpus_used;       /* CPU units taken */
    double cpus;            /* CPU units it offers */
    double heard_s;         /* seconds since its agent last spoke; < 0 for the local host */
    bool lost;              /* its agent was lost */
    const char *allocation; /* its agents' own share of the host (a Slurm job), "" for none */
    bool left;              /* every agent on it left the run (idle) */
} zd_core_host_info;
uint32_t zd_core_host_count(const zd_core *c);
void zd_core_host(const zd_core *c, uint32_t host, double now, zd_core_host_info *out);

/* Facts for the summary and the report. */
bool zd_core_interrupted(const zd_core *c, int *sig);
int zd_core_jobs(const zd_core *c); /* the effective -j (slots when unlimited) */

/* Why the run could not go on (zd_core_give_up()), or NULL (borrowed). */
const char *zd_core_error(const zd_core *c);

/* The largest result node `index` may have, bytes. */
uint64_t zd_core_max_result(const zd_core *c, uint32_t index);

/* True when a CHUNK of (node, token) from peer belongs to the attempt running there: the
 * token is the attempt's and peer is its slot's executor (checked as a RESULT is, but not
 * logged or counted). */
bool zd_core_attempt_is_peer(const zd_core *c, const zd_peer *peer, uint32_t node, uint64_t token);

/* True while (node, token) is the running attempt of node. */
bool zd_core_attempt_live(const zd_core *c, uint32_t node, uint64_t token);

/* True when peer runs an attempt of a node one of whose dependencies has the stored result
 * `hash` (so it may FETCH it); *size is set to that result's size and *token (unless NULL) to
 * that attempt's token. */
bool zd_core_may_fetch(const zd_core *c, const zd_peer *peer, const uint8_t *hash, uint64_t *size,
                       uint64_t *token);

/* The local log path of a node ("LOG_DIR/NAME.log") into buf. */
void zd_core_log_path(const zd_core *c, uint32_t node, char *buf, size_t size);

#endif
