/* Executor slots, local and remote, and each host's stack of idle ones. A slot is where one
 * executor process lives: it is STARTING until that executor says HELLO, then IDLE or BUSY
 * (running one attempt), and DEAD once retired. A BUSY slot may also hold tasks sent ahead
 * (prefetched, up to its executor's credit - 1), which it runs one at a time in order: the
 * first becomes the running one when the running attempt ends (zd_slots_next()). No sockets here: a
 * slot keeps its executor's routing id as bytes. zd_slots_gone() returns the node the slot was
 * running, so the caller decides what the loss means; nothing calls back. */
#ifndef ZD_SLOTS_H
#define ZD_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

typedef enum zd_slot_state {
    ZD_SLOT_STARTING, /* waiting for its executor's HELLO */
    ZD_SLOT_IDLE,     /* on its host's idle stack */
    ZD_SLOT_BUSY,     /* running one attempt */
    ZD_SLOT_DEAD,     /* retired: no executor will come */
    ZD_SLOT_DORMANT,  /* a local slot whose executor is started only when work needs it */
} zd_slot_state;

typedef struct zd_slots zd_slots;

/* Creates n_local slots on host 0: the first n_started STARTING, the rest DORMANT and
 * IO-only (they serve nodes that take no CPU unit). NULL when out of memory. */
zd_slots *zd_slots_new(uint32_t n_local, uint32_t n_started);

/* A DORMANT slot's executor is being started: STARTING. */
void zd_slots_wake(zd_slots *s, uint32_t slot);

/* Frees the slots; sets *s to NULL. Accepts NULL. */
void zd_slots_free(zd_slots **s);

/* Makes room for host index `host` (hosts are numbered as in zd_capacity). 0 or ZDAG_ENOMEM. */
int zd_slots_add_host(zd_slots *s, uint32_t host) __attribute__((warn_unused_result));

/* Adds n STARTING slots on `host` owned by `agent`; returns the first one, or -1 (no memory). */
int64_t zd_slots_add(zd_slots *s, uint32_t host, uint32_t n, uint32_t agent);

uint32_t zd_slots_count(const zd_slots *s);
zd_slot_state zd_slots_state(const zd_slots *s, uint32_t slot);
uint32_t zd_slots_host(const zd_slots *s, uint32_t slot);
uint32_t zd_slots_agent(const zd_slots *s, uint32_t slot); /* 0 for local slots */
int64_t zd_slots_node(const zd_slots *s, uint32_t slot);   /* the node it runs, or -1 */

/* Its executor (process `pid` on its host) said HELLO from peer (rid copied): IDLE. */
void zd_slots_ready(zd_slots *s, uint32_t slot, const zd_peer *peer, int64_t pid);

/* The pid its executor gave in HELLO, or 0 before. */
int64_t zd_slots_pid(const zd_slots *s, uint32_t slot);

/* True when peer is the executor registered in slot. */
bool zd_slots_is_peer(const zd_slots *s, uint32_t slot, const zd_peer *peer);

/* The routing id of a slot (borrowed); false before HELLO. */
bool zd_slots_peer(const zd_slots *s, uint32_t slot, zd_sock_id *sock, const unsigned char **rid,
                   size_t *rid_len);

/* Takes an idle slot of `host` for `node`: an IO-only one when `io` and one is idle, else a
 * regular one (the host must have the kind asked for). BUSY. Returns the slot. */
uint32_t zd_slots_take(zd_slots *s, uint32_t host, uint32_t node, bool io);

#define ZD_SLOT_QUEUE 32 /* tasks a slot holds beside the running one, at most */

/* The running attempt of a BUSY slot ended: the first task sent ahead becomes the running one
 * and is returned (the slot stays BUSY), or the slot is IDLE again and -1 is returned. */
int64_t zd_slots_next(zd_slots *s, uint32_t slot);

/* How many tasks the slot's executor takes before a result (from its HELLO; 1 = none ahead). */
void zd_slots_set_credit(zd_slots *s, uint32_t slot, uint32_t credit);

/* How many more tasks may be sent ahead to a BUSY slot (0 for any other). */
uint32_t zd_slots_room(const zd_slots *s, uint32_t slot);

/* Queues `node` behind what a BUSY slot runs; zd_slots_room() must be > 0. */
void zd_slots_push(zd_slots *s, uint32_t slot, uint32_t node);

/* Tasks sent ahead to a slot, and the i-th of them (0 = the next to run). */
uint32_t zd_slots_queued(const zd_slots *s, uint32_t slot);
uint32_t zd_slots_queued_at(const zd_slots *s, uint32_t slot, uint32_t i);

/* Removes a queued `node` (its executor did not start it); false when it is not queued there. */
bool zd_slots_unqueue(zd_slots *s, uint32_t slot, uint32_t node);

/* The slot's executor is gone. Returns the node it was running (-1 when idle or starting) and
 * moves the tasks sent ahead into ahead[] (room for ZD_SLOT_QUEUE), setting *n_ahead (ahead may be
 * NULL when the caller knows there are none); the slot becomes STARTING when `replaced` (a new
 * executor will say HELLO), else DEAD. */
int64_t zd_slots_gone(zd_slots *s, uint32_t slot, bool replaced, uint32_t *ahead,
                      uint32_t *n_ahead);

/* Idle slots per host, and how many of them are IO-only (borrowed; indexed by host). */
const uint32_t *zd_slots_idle(const zd_slots *s);
const uint32_t *zd_slots_idle_io(const zd_slots *s);

/* Deaths in a row of a slot's executors before their HELLO (a slot that keeps dying at start
 * is retired by the caller). */
uint32_t zd_slots_early_deaths(const zd_slots *s, uint32_t slot);

#endif
