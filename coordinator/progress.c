/* The one-line progress display, throttled, with a running-median ETA. */
#include "progress.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TTY_INTERVAL_S 0.1   /* a terminal redraws at most 10 times a second */
#define PLAIN_INTERVAL_S 1.0 /* a log gets at most a line a second */
#define LINE_MAX_LEN 160     /* the longest line: five 10-digit numbers and the words */

/* A binary max-heap of doubles; the min-heap of the upper half stores negated values. */
typedef struct heap {
    double *v;  /* v[0] is the largest */
    size_t n;   /* values held */
    size_t cap; /* values allocated */
} heap;

struct zd_progress {
    FILE *out;                         /* where lines go (borrowed) */
    bool tty;                          /* "\r"-redrawn line, else one plain line per draw */
    uint32_t total;                    /* nodes in the run */
    heap lo;                           /* the lower half of the durations (max on top) */
    heap hi;                           /* the upper half, negated (its min on top) */
    bool drawn;                        /* something was drawn: last_s is meaningful */
    bool finished;                     /* zd_progress_finish() was called */
    bool broken;                       /* a write failed (EPIPE...): nothing more is drawn */
    double last_s;                     /* time of the last draw */
    char last[LINE_MAX_LEN];           /* the last line printed, to skip a repeated final line */
    char names[ZD_PROGRESS_NAMES_MAX]; /* the running nodes' names, when few run ("" otherwise) */
};

zd_progress *zd_progress_new(FILE *out, bool tty, uint32_t total) {
    zd_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->out = out;
    p->tty = tty;
    p->total = total;
    return p;
}

void zd_progress_set_running(zd_progress *p, const char *names) {
    snprintf(p->names, sizeof p->names, "%s", names && p->tty ? names : "");
}

void zd_progress_set_total(zd_progress *p, uint32_t total) {
    p->total = total;
}

void zd_progress_free(zd_progress **p) {
    if (!p || !*p)
        return;
    free((*p)->lo.v);
    free((*p)->hi.v);
    free(*p);
    *p = NULL;
}

/* Pushes x. Returns false when out of memory (the heap is unchanged). */
static bool heap_push(heap *h, double x) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        double *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return false;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && h->v[(i - 1) / 2] < x) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = x;
    return true;
}

/* Removes and returns the top; the heap must not be empty. */
static double heap_pop(heap *h) {
    double top = h->v[0], x = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1] > h->v[c])
            c++;
        if (h->v[c] <= x)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = x;
    return top;
}

/* Moves the top of one heap to the other (negating). False when out of memory (unchanged). */
static bool heap_move(heap *from, heap *to) {
    if (!heap_push(to, -from->v[0]))
        return false;
    heap_pop(from);
    return true;
}

void zd_progress_node_done(zd_progress *p, double duration_s) {
    double d = duration_s >= 0 ? duration_s : 0; /* also maps NaN to 0 */
    /* Invariant: lo holds the smaller half and has as many values as hi, or one more. */
    if (p->lo.n == 0 || d <= p->lo.v[0]) {
        if (!heap_push(&p->lo, d))
            return;
        if (p->lo.n > p->hi.n + 1 && !heap_move(&p->lo, &p->hi))
            heap_pop(&p->lo); /* cannot rebalance: drop a sample from the big side */
    } else {
        if (!heap_push(&p->hi, -d))
            return;
        if (p->hi.n > p->lo.n && !heap_move(&p->hi, &p->lo))
            heap_pop(&p->hi);
    }
}

double zd_progress_median(const zd_progress *p) {
    if (p->lo.n == 0)
        return NAN;
    if (p->lo.n > p->hi.n)
        return p->lo.v[0];
    return (p->lo.v[0] - p->hi.v[0]) / 2;
}

double zd_progress_eta(const zd_progress *p, uint32_t done, uint32_t running) {
    uint32_t remaining = done < p->total ? p->total - done : 0;
    double median = zd_progress_median(p);
    if (remaining == 0)
        return 0;
    return isnan(median) ? NAN : ceil(median * remaining / (running > 0 ? running : 1));
}

/* Formats the ETA (without "ETA ") into buf. */
static void format_eta(const zd_progress *p, uint32_t done, uint32_t running, char *buf,
                       size_t size) {
    double eta = zd_progress_eta(p, done, running);
    if (isnan(eta)) {
        snprintf(buf, size, "?");
        return;
    }
    if (eta < 60)
        snprintf(buf, size, "%.0f s", eta);
    else if (eta < 3600)
        snprintf(buf, size, "%.0fm%02.0fs", floor(eta / 60), fmod(eta, 60));
    else
        snprintf(buf, size, "%.0fh%02.0fm", floor(eta / 3600), floor(fmod(eta, 3600) / 60));
}

static void format_line(const zd_progress *p, double now_s, uint32_t done, uint32_t running,
                        uint32_t failed, char *buf, size_t size) {
    char eta[48];
    format_eta(p, done, running, eta, sizeof eta);
    int width = snprintf(NULL, 0, "%" PRIu32, p->total);
    char names[ZD_PROGRESS_NAMES_MAX + 4] = "";
    if (p->names[0] && running > 0)
        snprintf(names, sizeof names, " (%s)", p->names);
    snprintf(buf, size,
             "[%*" PRIu32 "/%" PRIu32 "] %" PRIu32 " running%s, %" PRIu32
             " failed, %.1f s elapsed, ETA %s",
             width, done, p->total, running, names, failed, now_s > 0 ? now_s : 0.0, eta);
}

/* Marks the display broken when the stream has failed: a reader that went away (`| head -c1`)
 * must not end the run, so the rest of the run draws nothing, silently. */
static void check_stream(zd_progress *p, bool ok) {
    if (!ok || fflush(p->out) == EOF || ferror(p->out))
        p->broken = true;
}

static void draw(zd_progress *p, double now_s, uint32_t done, uint32_t running, uint32_t failed) {
    format_line(p, now_s, done, running, failed, p->last, sizeof p->last);
    int n = p->tty ? fprintf(p->out, "\r%s\033[K", p->last) : fprintf(p->out, "%s\n", p->last);
    check_stream(p, n >= 0);
    p->drawn = true;
    p->last_s = now_s;
}

bool zd_progress_broken(const zd_progress *p) {
    return p->broken;
}

void zd_progress_update(zd_progress *p, double now_s, uint32_t done, uint32_t running,
                        uint32_t failed) {
    double interval = p->tty ? TTY_INTERVAL_S : PLAIN_INTERVAL_S;
    if (p->finished || p->broken || (p->drawn && !(now_s - p->last_s >= interval)))
        return;
    draw(p, now_s, done, running, failed);
}

void zd_progress_clear(zd_progress *p) {
    if (!p->tty || !p->drawn || p->finished || p->broken)
        return;
    fputs("\r\033[K", p->out);
    fflush(p->out);
    p->drawn = false;
}

void zd_progress_finish(zd_progress *p, double now_s, uint32_t done, uint32_t running,
                        uint32_t failed) {
    if (p->finished || p->broken)
        return;
    p->finished = true;
    if (p->tty) {
        draw(p, now_s, done, running, failed);
        if (!p->broken)
            check_stream(p, fputc('\n', p->out) != EOF);
        return;
    }
    char line[LINE_MAX_LEN];
    format_line(p, now_s, done, running, failed, line, sizeof line);
    if (!p->drawn || strcmp(line, p->last) != 0)
        draw(p, now_s, done, running, failed);
}
