/* Node selection: the names on the command line become seed nodes (by node name through the
 * graph's index, by tag through one pass over every node's tags against a string map of the
 * names), then one walk up the deps closes the targets over their ancestors and one walk
 * down the children closes the excludes over their descendants. Every node is pushed at most
 * once per walk, so diamonds cost nothing extra and the whole is linear. */
#include "select.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foreach.h"
#include "strmap.h"
#include "yamlread.h"

enum {
    SEL_TARGET = 1,  /* a target or an ancestor of one */
    SEL_EXCLUDE = 2, /* an exclude or a descendant of one */
};

/* One distinct name given with --target and/or --exclude. */
typedef struct name_slot {
    const char *name; /* borrowed */
    uint8_t roles;    /* SEL_TARGET and/or SEL_EXCLUDE: the options it was given with */
    uint8_t reported; /* roles already reported as unknown */
    bool found;       /* names a node or a tag */
} name_slot;

typedef struct select_ctx {
    const zd_graph *g; /* borrowed */
    zd_strmap *index;  /* name -> its entry in slots */
    name_slot *slots;  /* the distinct names, in the order given */
    size_t n_slots;    /* entries in slots */
    uint8_t *mark;     /* SEL_* bits per node */
    uint32_t *up;      /* target-closure nodes whose deps are still to visit */
    size_t n_up;       /* entries in up */
    uint32_t *down;    /* exclude-closure nodes whose children are still to visit */
    size_t n_down;     /* entries in down */
} select_ctx;

/* The entry of name, or NULL when it was not given. */
static name_slot *slot_of(const select_ctx *c, const char *name) {
    return zd_strmap_get(c->index, name, strlen(name));
}

static int add_names(select_ctx *c, const char *const *names, size_t n, uint8_t role) {
    for (size_t i = 0; i < n; i++) {
        assert(names[i]);
        name_slot *slot = slot_of(c, names[i]);
        if (!slot) {
            slot = &c->slots[c->n_slots];
            *slot = (name_slot){.name = names[i]};
            if (zd_strmap_put(c->index, names[i], strlen(names[i]), slot, NULL) < 0)
                return ZDAG_ENOMEM;
            c->n_slots++;
        }
        slot->roles |= role;
    }
    return 0;
}

/* Puts node in the closures of roles it is not in yet, queueing it for the walks. */
static void seed(select_ctx *c, uint32_t node, uint8_t roles) {
    uint8_t fresh = roles & (uint8_t)~c->mark[node];
    c->mark[node] |= fresh;
    if (fresh & SEL_TARGET)
        c->up[c->n_up++] = node;
    if (fresh & SEL_EXCLUDE)
        c->down[c->n_down++] = node;
}

/* Seeds the nodes each name stands for: the node of that name, every instance NAME[N] of a
 * node with foreach, and every node with that tag. */
static void seed_names(select_ctx *c) {
    for (size_t i = 0; i < c->n_slots; i++) {
        name_slot *slot = &c->slots[i];
        int64_t node = zd_graph_find(c->g, slot->name);
        if (node >= 0) {
            slot->found = true;
            seed(c, (uint32_t)node, slot->roles);
        }
    }
    size_t n = zd_graph_size(c->g);
    for (uint32_t i = 0; i < n; i++) {
        const zd_node *node = zd_graph_node(c->g, i);
        size_t base = zd_fan_instance_base(node->name, strlen(node->name), NULL);
        name_slot *fanned = base ? zd_strmap_get(c->index, node->name, base) : NULL;
        if (fanned) {
            fanned->found = true;
            seed(c, i, fanned->roles);
        }
        for (size_t t = 0; t < node->n_tags; t++) {
            name_slot *slot = slot_of(c, node->tags[t]);
            if (slot) {
                slot->found = true;
                seed(c, i, slot->roles);
            }
        }
    }
}

/* The node name or tag closest to an unknown name (the loader's edit distance), or NULL. */
static const char *closest_name(const select_ctx *c, const char *name) {
    const char *best = NULL;
    size_t best_d = 3, d, len = strlen(name);
    for (uint32_t i = 0; i < zd_graph_size(c->g) && best_d > 1; i++) {
        const zd_node *node = zd_graph_node(c->g, i);
        if (zd_yread_close(name, len, node->name, &d) && d < best_d) {
            best = node->name;
            best_d = d;
        }
        for (size_t t = 0; t < node->n_tags; t++)
            if (zd_yread_close(name, len, node->tags[t], &d) && d < best_d) {
                best = node->tags[t];
                best_d = d;
            }
    }
    return best;
}

/* Appends a message for each name of one option that names nothing; returns how many. */
static size_t report_unknown(select_ctx *c, const char *const *names, size_t n, uint8_t role,
                             const char *opt, zd_diags *diags) {
    size_t unknown = 0;
    for (size_t i = 0; i < n; i++) {
        name_slot *slot = slot_of(c, names[i]);
        if (slot->found || (slot->reported & role))
            continue;
        slot->reported |= role;
        const char *near = closest_name(c, names[i]);
        if (near)
            zd_diags_add(diags, "zdag", 0, 0,
                         "%s \"%s\" names no node or tag; did you mean \"%s\"?", opt, names[i],
                         near);
        else
            zd_diags_add(diags, "zdag", 0, 0, "%s \"%s\" names no node or tag", opt, names[i]);
        unknown++;
    }
    return unknown;
}

/* Closes the targets over their deps and the excludes over their children. */
static void walk(select_ctx *c) {
    while (c->n_up) {
        const zd_node *node = zd_graph_node(c->g, c->up[--c->n_up]);
        for (size_t d = 0; d < node->n_deps; d++)
            seed(c, node->deps[d], SEL_TARGET);
    }
    while (c->n_down) {
        const zd_node *node = zd_graph_node(c->g, c->down[--c->n_down]);
        for (size_t k = 0; k < node->n_children; k++)
            seed(c, node->children[k], SEL_EXCLUDE);
    }
}

/* Sets up c for n_names names (c->g set); ZDAG_ENOMEM. */
static int ctx_init(select_ctx *c, size_t n_names) {
    size_t n = zd_graph_size(c->g);
    if (n_names > SIZE_MAX / 4 / sizeof(name_slot))
        return ZDAG_ENOMEM;
    c->index = zd_strmap_new();
    c->slots = calloc(n_names ? n_names : 1, sizeof *c->slots);
    c->mark = calloc(n ? n : 1, sizeof *c->mark);
    c->up = malloc((n ? n : 1) * sizeof *c->up);
    c->down = malloc((n ? n : 1) * sizeof *c->down);
    return c->index && c->slots && c->mark && c->up && c->down ? 0 : ZDAG_ENOMEM;
}

static void ctx_free(select_ctx *c) {
    zd_strmap_free(&c->index);
    free(c->slots);
    free(c->mark);
    free(c->up);
    free(c->down);
}

int zd_select(const zd_graph *g, const char *const *targets, size_t n_targets,
              const char *const *excludes, size_t n_excludes, bool *active, zd_diags *diags) {
    assert(g && zd_graph_topo(g)); /* finished: children are filled */
    size_t n = zd_graph_size(g);
    if (n_targets == 0 && n_excludes == 0) {
        for (size_t i = 0; i < n; i++)
            active[i] = true;
        return 0;
    }
    size_t names = n_targets + n_excludes;
    if (names < n_targets)
        return ZDAG_ENOMEM;
    select_ctx c = {.g = g};
    int rc = ZDAG_ENOMEM;
    if (ctx_init(&c, names) < 0 || add_names(&c, targets, n_targets, SEL_TARGET) < 0 ||
        add_names(&c, excludes, n_excludes, SEL_EXCLUDE) < 0)
        goto out_free;
    seed_names(&c);
    size_t unknown = report_unknown(&c, targets, n_targets, SEL_TARGET, "--target", diags) +
                     report_unknown(&c, excludes, n_excludes, SEL_EXCLUDE, "--exclude", diags);
    rc = ZDAG_EINVAL;
    if (unknown)
        goto out_free;
    walk(&c);
    for (size_t i = 0; i < n; i++)
        active[i] = (n_targets == 0 || (c.mark[i] & SEL_TARGET)) && !(c.mark[i] & SEL_EXCLUDE);
    rc = 0;
out_free:
    ctx_free(&c);
    return rc;
}

int zd_select_named(const zd_graph *g, const char *const *names, size_t n_names, const char *opt,
                    bool *named, zd_diags *diags) {
    select_ctx c = {.g = g};
    int rc = ZDAG_ENOMEM;
    if (ctx_init(&c, n_names) < 0 || add_names(&c, names, n_names, SEL_TARGET) < 0)
        goto out_free;
    seed_names(&c);
    rc = ZDAG_EINVAL;
    if (report_unknown(&c, names, n_names, SEL_TARGET, opt, diags))
        goto out_free;
    for (size_t i = 0; i < zd_graph_size(g); i++)
        named[i] = c.mark[i] & SEL_TARGET;
    rc = 0;
out_free:
    ctx_free(&c);
    return rc;
}
