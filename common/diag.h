/* Diagnostics: a list of compiler-style messages ("FILE:LINE:COL: error: ..."). */
#ifndef ZD_DIAG_H
#define ZD_DIAG_H

#include <stdio.h>
#include <stddef.h>

typedef struct zd_diags {
    char **lines; /* owned messages, without trailing newline */
    size_t n;     /* number of messages */
    size_t cap;   /* allocated slots in lines */
} zd_diags;

/* Initialises an empty list (no allocation). */
void zd_diags_init(zd_diags *d);

/* Frees every message; the list is empty and reusable afterwards. Accepts NULL. */
void zd_diags_clear(zd_diags *d);

/* Appends "FILE:LINE:COL: error: MSG" (LINE/COL 1-based; when line is 0, "FILE: error: MSG").
 * Out of memory drops the message silently: diagnostics never fail the caller. */
void zd_diags_add(zd_diags *d, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Writes every message, one per line, to out. */
void zd_diags_print(const zd_diags *d, FILE *out);

#endif
