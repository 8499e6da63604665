/* Calling function nodes in an executor: registered functions first, then plugins (each
 * dlopen'ed once, on first need, and kept for the executor's life). */
#ifndef ZD_FN_H
#define ZD_FN_H

#include <stdbool.h>
#include <stddef.h>

#include "wire.h"
#include "zdag.h"

#define ZD_FN_DEFAULT_MAX_RESULT (1ull << 30) /* largest packed result when the task sets none */

typedef struct zd_fn_entry {
    const char *name; /* function name */
    zdag_fn fn;       /* the function */
} zd_fn_entry;

typedef struct zd_fn_table {
    const zd_fn_entry *entries; /* registered functions (borrowed) */
    size_t n;                   /* entries */
    char *const *plugins;       /* shared libraries to search next (borrowed) */
    size_t n_plugins;           /* entries in plugins */
} zd_fn_table;

typedef struct zd_fn_caller zd_fn_caller;

/* Creates a caller over table (borrowed; must outlive it). max_result 0 = the default.
 * Returns NULL when out of memory. */
zd_fn_caller *zd_fn_caller_new(const zd_fn_table *table, size_t max_result);

/* Frees it (closing the plugins it opened); sets *c to NULL. Accepts NULL. */
void zd_fn_caller_free(zd_fn_caller **c);

/* Looks a function up by name (registered, then each plugin in order, opening it the first
 * time). Returns NULL and a reason in err when none has it. */
zdag_fn zd_fn_find(zd_fn_caller *c, const char *name, char *err, size_t err_size);

/* Runs task t (kind ZD_NODE_FN), its deps inline (the caller maps stored ones). A packed result
 * over t->max_result (or the caller's limit when 0) fails: "result is over max_result (1 GiB)".
 * On success returns true with the packed result in *out
 * (caller frees) and its size in *out_len; otherwise false with the reason in err. */
bool zd_fn_call(zd_fn_caller *c, const zd_msg_task *t, char **out, size_t *out_len, char *err,
                size_t err_size);

#endif
