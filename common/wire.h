/* The wire protocol between the coordinator and executors: one msgpack array per ZeroMQ frame.
 *
 *   HELLO  [1, version, slot, pid, host, credit, agent, secret]  executor -> coordinator
 *   TASK   [2, node, token, attempt, name, run_id, kind, cmd, args, env, workdir, timeout_ms,
 *           log_path, deps, max_result, store_dir, after, cpus]   coordinator -> executor
 *   RESULT [3, node, token, ok, exit_code, signal, error, output, log, size, hash]
 *                                                           executor -> coordinator
 *   BYE    [4, reason]                                      coordinator -> executor or agent
 *   JOIN   [5, version, host, slots, cpus, resources, pid, allocation]
 *                                                           agent -> coordinator
 *   WELCOME [6, agent, run_id, heartbeat_ms, plugins, secret, fence_ms]  coordinator -> agent
 *   BEAT   [7, seq]                                         both ways, agent <-> coordinator
 *   LOST   [8, agent, slot, how, pid, started]              agent -> coordinator
 *   CANCEL [9, slot, token, why]                            coordinator -> agent
 *   CHUNK  [10, node, token, offset, bytes]                 executor -> coordinator
 *   ACK    [11, token, offset]                              coordinator -> executor
 *   FETCH  [12, hash, offset]                               executor -> coordinator
 *   DATA   [13, hash, offset, bytes]                        coordinator -> executor
 *   DROP   [14, token]                                      coordinator -> executor
 *   DROPPED [15, node, token]                               executor -> coordinator
 *   BATCH  [16, frame, frame, ...]                          either way
 *   STATUS [17]                                             `zdag status` -> coordinator
 *   STATUS_REPLY [18, text]                                 coordinator -> `zdag status`
 *   LEAVE  [19, reason]                                     agent -> coordinator
 *
 * JOIN's `allocation` (a string; "" for none; protocol 7) names a
 * share of its host that is the agent's own, such as a Slurm job's: agents of one host id share
 * the limits of the first to join only when their allocations are the same. LEAVE is an agent
 * going: `reason` ZD_LEAVE_IDLE asks to (`zdag worker --idle-exit`; the coordinator answers BYE
 * when none of its executors has work, and sends it nothing more; otherwise it ignores the
 * LEAVE), ZD_LEAVE_STOPPED says it was stopped (a signal: it has killed every attempt it ran,
 * which the coordinator runs elsewhere at once, without waiting for T_lost).
 *
 * STATUS asks a coordinator's --listen socket for what `zdag status` shows (an authorized key,
 * as for a worker); STATUS_REPLY's `text` is that JSON document (coordinator/status.h).
 * `cmd` is a string (shell command or function name) or an array of strings (argv); `args` is a
 * bin holding one packed msgpack value, or nil; `env` an array of "KEY=VALUE" strings; `workdir`
 * a string or nil (nil: the executor ships the log back in RESULT's `log`); `deps` an array of
 * [name, format, size, hash, bytes] (zd_format; `hash` the 32-byte SHA-256 of a result in the
 * store and `bytes` nil, or `hash` nil and `bytes` the result itself, of at most
 * ZD_RESULT_INLINE_MAX bytes). `max_result` is the node's limit (a larger result fails the
 * node); `store_dir` the coordinator's result store, or nil for a remote executor; `cpus` (a
 * float) the CPU units the node holds on its host while it runs, which a worker reports as in
 * use (`zdag worker --metrics`).
 *
 * Results. RESULT's `output` carries a result of at most ZD_RESULT_INLINE_MAX bytes (its
 * `hash` nil); a larger one is in a store file named by `hash`. A local executor (TASK with a
 * store_dir) writes it there itself; a remote one uploads it first in CHUNKs of at most
 * ZD_WIRE_CHUNK bytes, in order, with at most ZD_WIRE_WINDOW bytes not yet ACKed (ACK's
 * `offset`: the bytes the coordinator has written), then sends RESULT, at which the coordinator
 * checks the size and hash. A remote executor gets a stored dependency with FETCH (at most
 * ZD_WIRE_WINDOW bytes asked and not yet answered); DATA answers each FETCH with the bytes from
 * `offset` (at most ZD_WIRE_CHUNK; nil: the coordinator has no such result for it). A TASK with
 * `after` (a token, 0 for none) is the next link of a chain: the executor runs it only when the
 * task just before it succeeded (else it answers DROPPED), taking that task's result for the
 * dependency of that task's name (sent empty, as the coordinator does not have it yet).
 *
 * An agent (`zdag worker`) JOINs with its host's
 * capacity (`resources` an array of [name, amount] pairs, amounts as floats), is told its agent
 * id, forks executors that HELLO with that id, BEATs every heartbeat, and reports each executor
 * it LOST, with the token of the last task that executor started (its shared cell says), so
 * that the coordinator knows which of the tasks it had sent there ran. The agent's BEATs count up
 * (`seq`); the coordinator's BEAT to an agent carries the highest seq it has received from that
 * agent, so the agent knows which of its own beats got through and fences (stops every attempt it
 * runs) `fence_ms` after the send time of the last one acknowledged. `secret` (WELCOME) is the
 * agent's executors' proof in HELLO that they belong to it (0 for the coordinator's own executors).
 * BYE's `reason` is ZD_BYE_DONE (the run is over) or ZD_BYE_EVICTED (the agent was declared lost
 * and its work given to others). CANCEL asks an agent to stop the attempt `token` on its executor
 * `slot` (a timeout, or the run stopping). Every frame is checked for structure (container counts
 * against the bytes left, depth, no trailing bytes) before msgpack-c unpacks it, so a hostile frame
 * cannot make the decoder allocate more than the frame's own size.
 *
 * Credit. An executor says in HELLO how many TASKs it accepts before a RESULT (`credit`); the
 * coordinator may send that many, and the executor runs them one at a time in the order they
 * came. DROP asks it not to start a task it holds (`token`) after all: it answers DROPPED when
 * the task had not started, and nothing when it had (its RESULT comes as usual).
 *
 * BATCH carries several messages in one ZeroMQ frame, each a bin holding one whole message as
 * above (never a BATCH itself), handled in order as if they had come one by one. Either side may
 * send one wherever it would send those messages to the same peer in a row; the coordinator
 * reads at most 64 messages of one. */
#ifndef ZD_WIRE_H
#define ZD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "zdag.h"

#define ZD_WIRE_VERSION 7
#define ZD_WIRE_MAX_DEPTH 16            /* msgpack nesting allowed in a frame (args excluded) */
#define ZD_WIRE_MAX_FRAME (256ll << 20) /* ZMQ_MAXMSGSIZE on every socket */
#define ZD_WIRE_CHUNK (1u << 20)        /* bytes of a CHUNK or DATA, at most */
#define ZD_WIRE_WINDOW (4u << 20)       /* bytes uploaded or fetched and not yet answered */
#define ZD_WIRE_MAX_CPUS 1e15           /* a TASK's cpus, at most */

typedef enum zd_msg_type {
    ZD_MSG_HELLO = 1,
    ZD_MSG_TASK = 2,
    ZD_MSG_RESULT = 3,
    ZD_MSG_BYE = 4,
    ZD_MSG_JOIN = 5,
    ZD_MSG_WELCOME = 6,
    ZD_MSG_BEAT = 7,
    ZD_MSG_LOST = 8,
    ZD_MSG_CANCEL = 9,
    ZD_MSG_CHUNK = 10,
    ZD_MSG_ACK = 11,
    ZD_MSG_FETCH = 12,
    ZD_MSG_DATA = 13,
    ZD_MSG_DROP = 14,
    ZD_MSG_DROPPED = 15,
    ZD_MSG_BATCH = 16,
    ZD_MSG_STATUS = 17,
    ZD_MSG_STATUS_REPLY = 18,
    ZD_MSG_LEAVE = 19,
} zd_msg_type;

typedef enum zd_bye_reason {
    ZD_BYE_DONE = 0,    /* the run is over (or no more work for this peer) */
    ZD_BYE_EVICTED = 1, /* the coordinator declared the agent lost: its work runs elsewhere */
} zd_bye_reason;

typedef enum zd_leave_reason {
    ZD_LEAVE_IDLE = 0,    /* idle: it asks to go */
    ZD_LEAVE_STOPPED = 1, /* stopped (SIGTERM, SIGINT): its attempts are over */
} zd_leave_reason;

typedef struct zd_bytes {
    const char *ptr; /* borrowed; not NUL-terminated; NULL when absent (nil) */
    size_t len;      /* bytes at ptr */
} zd_bytes;

typedef struct zd_msg_hello {
    uint32_t version; /* ZD_WIRE_VERSION */
    uint32_t slot;    /* executor slot chosen by whoever forked it */
    int64_t pid;      /* executor process id on its host */
    zd_bytes host;    /* host id */
    uint32_t credit;  /* tasks it accepts before a result (>= 1) */
    uint32_t agent;   /* the agent that forked it, 0 for the coordinator's own executors */
    uint64_t secret;  /* the agent's secret from WELCOME, 0 for the coordinator's own */
} zd_msg_hello;

#define ZD_WIRE_MAX_RESOURCES 64   /* resources an agent may announce */
#define ZD_WIRE_MAX_PLUGINS 256    /* plugins a WELCOME may list */
#define ZD_WIRE_MAX_ALLOCATION 127 /* bytes of a JOIN's allocation */

typedef struct zd_msg_join {
    uint32_t version; /* ZD_WIRE_VERSION */
    zd_bytes host;    /* host id; agents with the same id share the host's limits */
    uint32_t slots;   /* executors it runs (>= 1) */
    double cpus;      /* CPU units of the host (>= 0) */
    zd_bytes res_names[ZD_WIRE_MAX_RESOURCES]; /* resource names */
    double res_amounts[ZD_WIRE_MAX_RESOURCES]; /* and amounts (>= 0) */
    uint32_t n_res;                            /* resources */
    int64_t pid;                               /* the agent's process id, for logs */
    zd_bytes allocation; /* its own share of the host (e.g. a Slurm job id), at most 127 bytes;
                            ptr NULL or len 0: none, it shares the host's limits */
} zd_msg_join;

typedef struct zd_msg_welcome {
    uint32_t agent;        /* the id the agent and its executors use */
    zd_bytes run_id;       /* the run's id */
    uint32_t heartbeat_ms; /* BEAT interval */
    zd_bytes *plugins;     /* plugin paths to load (borrowed from the decoder) */
    uint32_t n_plugins;    /* entries in plugins */
    uint64_t secret;       /* random; the agent's executors send it in HELLO */
    uint32_t fence_ms;     /* T_fence: stop every attempt this long after the last acked beat */
} zd_msg_welcome;

typedef struct zd_msg_beat {
    uint64_t seq; /* agent -> coordinator: counts up from 1; coordinator -> agent: the highest
                     seq received from that agent (0: none yet) */
} zd_msg_beat;

typedef struct zd_msg_bye {
    uint32_t reason; /* zd_bye_reason */
} zd_msg_bye;

typedef struct zd_msg_cancel {
    uint32_t slot;  /* the agent's executor slot (0-based, as in HELLO) */
    uint64_t token; /* the attempt to stop */
    zd_bytes why;   /* "timed out after 2 s", "the run is stopping" */
} zd_msg_cancel;

typedef struct zd_msg_lost {
    uint32_t agent;   /* the agent */
    uint32_t slot;    /* its executor slot that died */
    zd_bytes how;     /* "signal 9", "exit status 1" */
    int64_t pid;      /* the executor process that died (0: unknown) */
    uint64_t started; /* the token of the last task it started (0: none, or unknown) */
} zd_msg_lost;

typedef enum zd_format {
    ZD_FORMAT_RAW = 0,     /* bytes as a command wrote them */
    ZD_FORMAT_MSGPACK = 1, /* one packed msgpack value (a function's result) */
} zd_format;

typedef struct zd_dep_result {
    zd_bytes name;       /* dependency's node name */
    uint32_t format;     /* zd_format of its result */
    uint64_t size;       /* bytes of its result */
    const uint8_t *hash; /* ZD_STORE_HASH bytes: the result is in the store; NULL: inline */
    zd_bytes data;       /* the inline result (ptr NULL when stored) */
} zd_dep_result;

typedef struct zd_msg_task {
    uint32_t node;       /* node index in the coordinator's graph */
    uint64_t token;      /* attempt token: echoed in the result, stale ones are discarded */
    uint32_t attempt;    /* 1-based attempt number */
    zd_bytes name;       /* node name */
    zd_bytes run_id;     /* run identifier */
    uint32_t kind;       /* zd_node_kind */
    zd_bytes cmd;        /* shell command or function name (kind != ARGV) */
    zd_bytes *argv;      /* kind == ARGV: argc entries (borrowed from the decoder) */
    uint32_t argc;       /* entries in argv */
    zd_bytes args;       /* packed msgpack value, or ptr NULL for nil */
    zd_bytes *env;       /* "KEY=VALUE" entries (borrowed from the decoder) */
    uint32_t n_env;      /* entries in env */
    zd_bytes workdir;    /* ptr NULL: the executor's start directory */
    uint64_t timeout_ms; /* 0 = none */
    zd_bytes log_path;   /* file that receives stdout and stderr; absent: ship it back */
    zd_dep_result *deps; /* results of the node's deps (borrowed from the decoder) */
    uint32_t n_deps;     /* entries in deps */
    uint64_t max_result; /* the largest result the node may have, bytes (>= 1) */
    zd_bytes store_dir;  /* the coordinator's result store (local executors); ptr NULL: remote */
    uint64_t after;      /* a chain: run only if the task just before it on this executor, whose
                            token this is, succeeded, with that task's result as the dependency
                            of that name; 0: none */
    double cpus;         /* the CPU units the node takes on its host (>= 0), for the worker's
                            --metrics */
} zd_msg_task;

typedef struct zd_msg_result {
    uint32_t node;       /* as in the task */
    uint64_t token;      /* as in the task */
    bool ok;             /* the attempt succeeded */
    int32_t exit_code;   /* process exit status, or 128 + signal */
    int32_t signal;      /* signal that ended the process, or 0 */
    zd_bytes error;      /* why it failed, ptr NULL when ok */
    zd_bytes output;     /* the inline result (a cmd's stdout, a function's packed value), at most
                            ZD_RESULT_INLINE_MAX bytes; ptr NULL when stored */
    zd_bytes log;        /* the attempt's log when the task had no log_path, else absent */
    uint64_t size;       /* bytes of the result */
    const uint8_t *hash; /* ZD_STORE_HASH bytes: the result is in the store; NULL: inline */
} zd_msg_result;

typedef struct zd_msg_chunk {
    uint32_t node;   /* the attempt's node */
    uint64_t token;  /* the attempt's token */
    uint64_t offset; /* where data goes in the result */
    zd_bytes data;   /* 1 to ZD_WIRE_CHUNK bytes */
} zd_msg_chunk;

typedef struct zd_msg_ack {
    uint64_t token;  /* the attempt */
    uint64_t offset; /* bytes of its result the coordinator has written */
} zd_msg_ack;

typedef struct zd_msg_fetch {
    const uint8_t *hash; /* ZD_STORE_HASH bytes: the stored result asked for */
    uint64_t offset;     /* from where */
} zd_msg_fetch;

typedef struct zd_msg_data {
    const uint8_t *hash; /* ZD_STORE_HASH bytes, as in the FETCH */
    uint64_t offset;     /* as in the FETCH */
    zd_bytes data;       /* up to ZD_WIRE_CHUNK bytes from offset; ptr NULL: not available */
} zd_msg_data;

typedef struct zd_msg_drop {
    uint64_t token; /* the task not to start */
} zd_msg_drop;

typedef struct zd_msg_dropped {
    uint32_t node;  /* the task's node */
    uint64_t token; /* the task that was not started */
} zd_msg_dropped;

typedef struct zd_msg {
    zd_msg_type type; /* which member of the union is set */
    union {
        zd_msg_hello hello;
        zd_msg_task task;
        zd_msg_result result;
        zd_msg_join join;
        zd_msg_welcome welcome;
        zd_msg_lost lost;
        zd_msg_beat beat;
        zd_msg_bye bye;
        zd_msg_cancel cancel;
        zd_msg_chunk chunk;
        zd_msg_ack ack;
        zd_msg_fetch fetch;
        zd_msg_data data;
        zd_msg_drop drop;
        zd_msg_dropped dropped;
        zd_bytes status_reply; /* STATUS_REPLY's text */
        uint32_t leave;        /* LEAVE's reason (zd_leave_reason) */
    } u;
} zd_msg;

/* Encoding: a reusable output buffer. */
typedef struct zd_wire_buf zd_wire_buf;

/* Creates an encoder buffer; NULL when out of memory. Free with zd_wire_buf_free(). */
zd_wire_buf *zd_wire_buf_new(void);

/* Frees the buffer; sets *b to NULL. Accepts NULL. */
void zd_wire_buf_free(zd_wire_buf **b);

/* The encoded frame of the last zd_wire_encode_* call (borrowed; valid until the next). */
const char *zd_wire_buf_data(const zd_wire_buf *b);
size_t zd_wire_buf_size(const zd_wire_buf *b);

/* Encode one message into b, replacing its content. Return 0 or ZDAG_ENOMEM / ZDAG_EINVAL.
 * Byte fields with ptr NULL are encoded as nil where the format allows it. */
int zd_wire_encode_hello(zd_wire_buf *b, const zd_msg_hello *m) __attribute__((warn_unused_result));
int zd_wire_encode_task(zd_wire_buf *b, const zd_msg_task *m) __attribute__((warn_unused_result));
int zd_wire_encode_result(zd_wire_buf *b, const zd_msg_result *m)
    __attribute__((warn_unused_result));
int zd_wire_encode_bye(zd_wire_buf *b, zd_bye_reason reason) __attribute__((warn_unused_result));
int zd_wire_encode_join(zd_wire_buf *b, const zd_msg_join *m) __attribute__((warn_unused_result));
int zd_wire_encode_leave(zd_wire_buf *b, zd_leave_reason reason)
    __attribute__((warn_unused_result));
int zd_wire_encode_welcome(zd_wire_buf *b, const zd_msg_welcome *m)
    __attribute__((warn_unused_result));
int zd_wire_encode_beat(zd_wire_buf *b, uint64_t seq) __attribute__((warn_unused_result));
int zd_wire_encode_lost(zd_wire_buf *b, const zd_msg_lost *m) __attribute__((warn_unused_result));
int zd_wire_encode_cancel(zd_wire_buf *b, const zd_msg_cancel *m)
    __attribute__((warn_unused_result));
int zd_wire_encode_chunk(zd_wire_buf *b, const zd_msg_chunk *m) __attribute__((warn_unused_result));
int zd_wire_encode_ack(zd_wire_buf *b, const zd_msg_ack *m) __attribute__((warn_unused_result));
int zd_wire_encode_fetch(zd_wire_buf *b, const zd_msg_fetch *m) __attribute__((warn_unused_result));
int zd_wire_encode_data(zd_wire_buf *b, const zd_msg_data *m) __attribute__((warn_unused_result));
int zd_wire_encode_drop(zd_wire_buf *b, uint64_t token) __attribute__((warn_unused_result));
int zd_wire_encode_status(zd_wire_buf *b) __attribute__((warn_unused_result));
int zd_wire_encode_status_reply(zd_wire_buf *b, zd_bytes text) __attribute__((warn_unused_result));
int zd_wire_encode_dropped(zd_wire_buf *b, const zd_msg_dropped *m)
    __attribute__((warn_unused_result));

/* Checks that buf holds exactly one well-formed msgpack value, no deeper than max_depth (1 to
 * 64), each
 * container's count within the bytes left, no ext types, nothing after it. */
bool zd_wire_well_formed(const void *buf, size_t len, int max_depth);

/* Decoding: keeps the msgpack zone and scratch arrays between messages. */
typedef struct zd_wire_decoder zd_wire_decoder;

/* Creates a decoder; NULL when out of memory. Free with zd_wire_decoder_free(). */
zd_wire_decoder *zd_wire_decoder_new(void);

/* Frees the decoder; sets *d to NULL. Accepts NULL. */
void zd_wire_decoder_free(zd_wire_decoder **d);

/* Decodes and validates one frame into *out. Pointers in *out borrow from buf and from the
 * decoder: valid until the next decode and while buf lives. Returns 0, ZDAG_EPROTO (with a
 * reason in zd_wire_decoder_error()) or ZDAG_ENOMEM. */
int zd_wire_decode(zd_wire_decoder *d, const void *buf, size_t len, zd_msg *out)
    __attribute__((warn_unused_result));

/* Building a BATCH: messages are appended as encoded (zd_wire_buf) and the frame is sealed. */
typedef struct zd_wire_batch zd_wire_batch;

/* An empty batch, or NULL when out of memory. Free with zd_wire_batch_free(). */
zd_wire_batch *zd_wire_batch_new(void);
void zd_wire_batch_free(zd_wire_batch **b); /* sets *b to NULL; accepts NULL */

/* Empties it. */
void zd_wire_batch_clear(zd_wire_batch *b);

/* Appends the message last encoded in msg. 0 or ZDAG_ENOMEM. */
int zd_wire_batch_add(zd_wire_batch *b, const zd_wire_buf *msg) __attribute__((warn_unused_result));

/* Messages in it, and bytes so far. */
uint32_t zd_wire_batch_count(const zd_wire_batch *b);
size_t zd_wire_batch_size(const zd_wire_batch *b);

/* The frame to send (borrowed; valid until the next add or clear): the BATCH, or the message
 * alone when it holds one. *len is set to its bytes. */
const char *zd_wire_batch_frame(zd_wire_batch *b, size_t *len);

/* Reading a BATCH frame, message by message (views into the frame). */
typedef struct zd_wire_batch_iter {
    const unsigned char *p, *end; /* the bytes not read yet */
    uint32_t left;                /* messages not read yet */
} zd_wire_batch_iter;

/* Starts reading frame as a BATCH; false when its head is not one. */
bool zd_wire_batch_open(zd_wire_batch_iter *it, const void *frame, size_t len);

/* The next message: 1 with *msg and *len set, 0 at the end, ZDAG_EPROTO when the frame is
 * malformed (an element is not a bin, it holds a BATCH, or bytes are missing or left over). */
int zd_wire_batch_next(zd_wire_batch_iter *it, const void **msg, size_t *len);

/* Reads only the head of a frame: its type and the first two fields when they are unsigned
 * integers (else 0), without checking the rest (zd_wire_decode() does). For sorting frames
 * cheaply (a TASK's node and token, a DROP's token). Returns false when the frame does not start
 * as a message does. */
bool zd_wire_peek(const void *buf, size_t len, uint32_t *type, uint64_t *f1, uint64_t *f2);

/* Why the last decode failed (borrowed, static text). */
const char *zd_wire_decoder_error(const zd_wire_decoder *d);

/* Returns a NUL-terminated copy of b (caller frees), or NULL when out of memory or b absent. */
char *zd_bytes_dup(zd_bytes b);

#endif
