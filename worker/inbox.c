/* The executor's inbox: a ring of moved TASK frames. */
#include "inbox.h"

#include <stdlib.h>

#include "zdag.h"

typedef struct entry {
    zmq_msg_t frame; /* the TASK */
    uint32_t node;   /* its node */
    uint64_t token;  /* its token */
} entry;

struct zd_inbox {
    entry *v;    /* the ring */
    size_t head; /* index of the first entry */
    size_t n;    /* entries */
    size_t cap;  /* room (a power of two, or 0) */
};

zd_inbox *zd_inbox_new(void) {
    return calloc(1, sizeof(zd_inbox));
}

void zd_inbox_free(zd_inbox **bp) {
    if (!bp || !*bp)
        return;
    zd_inbox *b = *bp;
    for (size_t k = 0; k < b->n; k++)
        zmq_msg_close(&b->v[(b->head + k) & (b->cap - 1)].frame);
    free(b->v);
    free(b);
    *bp = NULL;
}

static entry *at(zd_inbox *b, size_t k) {
    return &b->v[(b->head + k) & (b->cap - 1)];
}

static int grow(zd_inbox *b) {
    size_t cap = b->cap ? b->cap * 2 : 16;
    entry *v = malloc(cap * sizeof *v);
    if (!v)
        return ZDAG_ENOMEM;
    for (size_t k = 0; k < b->n; k++) {
        entry *e = at(b, k);
        zmq_msg_init(&v[k].frame);
        zmq_msg_move(&v[k].frame, &e->frame);
        zmq_msg_close(&e->frame);
        v[k].node = e->node;
        v[k].token = e->token;
    }
    free(b->v);
    b->v = v;
    b->cap = cap;
    b->head = 0;
    return 0;
}

int zd_inbox_push(zd_inbox *b, zmq_msg_t *frame, uint32_t node, uint64_t token) {
    if (b->n == b->cap && grow(b) < 0)
        return ZDAG_ENOMEM;
    entry *e = at(b, b->n);
    zmq_msg_init(&e->frame);
    zmq_msg_move(&e->frame, frame);
    e->node = node;
    e->token = token;
    b->n++;
    return 0;
}

bool zd_inbox_pop(zd_inbox *b, zmq_msg_t *out) {
    if (b->n == 0)
        return false;
    entry *e = at(b, 0);
    zmq_msg_move(out, &e->frame);
    zmq_msg_close(&e->frame);
    b->head = (b->head + 1) & (b->cap - 1);
    b->n--;
    return true;
}

bool zd_inbox_drop(zd_inbox *b, uint64_t token, uint32_t *node) {
    for (size_t k = 0; k < b->n; k++) {
        if (at(b, k)->token != token)
            continue;
        *node = at(b, k)->node;
        zmq_msg_close(&at(b, k)->frame);
        for (; k + 1 < b->n; k++) {
            entry *to = at(b, k), *from = at(b, k + 1);
            zmq_msg_init(&to->frame);
            zmq_msg_move(&to->frame, &from->frame);
            zmq_msg_close(&from->frame);
            to->node = from->node;
            to->token = from->token;
        }
        b->n--;
        return true;
    }
    return false;
}

size_t zd_inbox_count(const zd_inbox *b) {
    return b->n;
}
