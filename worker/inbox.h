/* The executor's inbox: TASK frames received and not started yet, in the order they came. The
 * coordinator sends up to the executor's credit (HELLO) before a result, so the next task is
 * already here when one ends; a DROP takes a task out before it starts. Frames are moved in and
 * out (zmq_msg_move), never copied. */
#ifndef ZD_INBOX_H
#define ZD_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

typedef struct zd_inbox zd_inbox;

/* An empty inbox, or NULL when out of memory. */
zd_inbox *zd_inbox_new(void);

/* Closes every frame still in it and frees it; sets *b to NULL. Accepts NULL. */
void zd_inbox_free(zd_inbox **b);

/* Moves `frame` (a TASK of node, token) to the end; frame is left empty. 0 or ZDAG_ENOMEM. */
int zd_inbox_push(zd_inbox *b, zmq_msg_t *frame, uint32_t node, uint64_t token)
    __attribute__((warn_unused_result));

/* Moves the first frame into `out` (an initialised message); false when empty. */
bool zd_inbox_pop(zd_inbox *b, zmq_msg_t *out);

/* Takes the task `token` out (its frame closed), setting *node; false when it is not here. */
bool zd_inbox_drop(zd_inbox *b, uint64_t token, uint32_t *node);

/* Frames held. */
size_t zd_inbox_count(const zd_inbox *b);

#endif
