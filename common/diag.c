/* Diagnostics list. */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void zd_diags_init(zd_diags *d) {
    memset(d, 0, sizeof *d);
}

void zd_diags_clear(zd_diags *d) {
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    zd_diags_init(d);
}

void zd_diags_add(zd_diags *d, const char *file, int line, int col, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    char *text = NULL;
    int len = line > 0 ? asprintf(&text, "%s:%d:%d: error: %s", file, line, col, msg)
                       : asprintf(&text, "%s: error: %s", file, msg);
    if (len < 0)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        char **lines = realloc(d->lines, cap * sizeof *lines);
        if (!lines) {
            free(text);
            return;
        }
        d->lines = lines;
        d->cap = cap;
    }
    d->lines[d->n++] = text;
}

void zd_diags_print(const zd_diags *d, FILE *out) {
    for (size_t i = 0; i < d->n; i++)
        fprintf(out, "%s\n", d->lines[i]);
}
