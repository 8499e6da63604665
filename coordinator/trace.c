/* The run timeline: Chrome trace events recorded cheaply, written with jansson at the end. */
#include "trace.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "zdag.h"

#define NO_STR SIZE_MAX  /* an absent string in the arena */
#define MAX_SECONDS 1e12 /* keeps microseconds far inside int64 */
#define COORD_NAME "coordinator"

enum { EV_SLICE, EV_INSTANT };

/* One slice or instant; strings are offsets into the arena, which may move. */
typedef struct event {
    int64_t ts_us;      /* start (slice) or moment (instant), microseconds since the run began */
    int64_t dur_us;     /* duration of a slice; 0 for an instant */
    size_t name;        /* offset of the event's name (the node, for a slice) */
    size_t extra;       /* offset of the status (slice) or detail (instant), or NO_STR */
    uint32_t pid;       /* trace process: host index or ZD_TRACE_COORD_PID */
    int32_t tid;        /* trace thread: executor slot, 0 for the coordinator */
    uint32_t attempt;   /* attempt number of a slice */
    int32_t exit_code;  /* exit code of a slice, when has_exit_code */
    uint8_t kind;       /* EV_SLICE or EV_INSTANT */
    bool has_exit_code; /* exit_code is meaningful */
} event;

typedef struct host_track {
    uint32_t host; /* host index = trace pid */
    size_t name;   /* offset of the host's name */
} host_track;

typedef struct thread_track {
    uint32_t host;    /* trace pid */
    int32_t executor; /* executor slot = trace tid */
} thread_track;

struct zd_trace {
    event *events;         /* slices and instants in recording order */
    size_t n_events;       /* events used */
    size_t cap_events;     /* events allocated */
    host_track *hosts;     /* named processes, in the order first named */
    size_t n_hosts;        /* hosts used */
    size_t cap_hosts;      /* hosts allocated */
    thread_track *threads; /* named executor threads, in the order first named */
    size_t n_threads;      /* threads used */
    size_t cap_threads;    /* threads allocated */
    char *strs;            /* string arena: every copied string, NUL-terminated, back to back */
    size_t strs_len;       /* bytes used */
    size_t strs_cap;       /* bytes allocated */
    bool coord_named;      /* the coordinator's track was used: write its metadata */
};

zd_trace *zd_trace_new(void) {
    return calloc(1, sizeof(zd_trace));
}

void zd_trace_free(zd_trace **t) {
    if (!t || !*t)
        return;
    free((*t)->events);
    free((*t)->hosts);
    free((*t)->threads);
    free((*t)->strs);
    free(*t);
    *t = NULL;
}

uint64_t zd_trace_count(const zd_trace *t) {
    return t->n_events;
}

/* Makes room for `need` elements of `size` bytes in *arr, doubling. Returns 0 or ZDAG_ENOMEM. */
static int reserve(void **arr, size_t *cap, size_t need, size_t size) {
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size)
            return ZDAG_ENOMEM;
        n *= 2;
    }
    void *p = realloc(*arr, n * size);
    if (!p)
        return ZDAG_ENOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

/* Copies s into the arena and stores its offset (NO_STR for NULL). Returns 0 or ZDAG_ENOMEM. */
static int intern(zd_trace *t, const char *s, size_t *off) {
    if (!s) {
        *off = NO_STR;
        return 0;
    }
    size_t len = strlen(s) + 1;
    void *strs = t->strs;
    if (len > SIZE_MAX - t->strs_len || reserve(&strs, &t->strs_cap, t->strs_len + len, 1) != 0)
        return ZDAG_ENOMEM;
    t->strs = strs;
    memcpy(t->strs + t->strs_len, s, len);
    *off = t->strs_len;
    t->strs_len += len;
    return 0;
}

static const char *str_at(const zd_trace *t, size_t off) {
    return off == NO_STR ? NULL : t->strs + off;
}

/* Microseconds of a time in seconds, or -1 when it is negative, not finite or absurd. */
static int64_t micros(double s) {
    if (!isfinite(s) || s < 0 || s > MAX_SECONDS)
        return -1;
    return (int64_t)llround(s * 1e6);
}

/* Resolves (host, executor) to a trace pid/tid. Returns 0 or ZDAG_EINVAL. */
static int track_ids(zd_trace *t, uint32_t host, int32_t executor, uint32_t *pid, int32_t *tid) {
    if (executor < -1 || (executor >= 0 && host >= ZD_TRACE_COORD_PID))
        return ZDAG_EINVAL;
    if (executor == -1) {
        t->coord_named = true;
        *pid = ZD_TRACE_COORD_PID;
        *tid = 0;
    } else {
        *pid = host;
        *tid = executor;
    }
    return 0;
}

int zd_trace_track(zd_trace *t, uint32_t host, const char *host_name, int32_t executor) {
    if (executor == -1) {
        t->coord_named = true;
        return 0;
    }
    if (executor < -1 || host >= ZD_TRACE_COORD_PID || !host_name)
        return ZDAG_EINVAL;
    size_t h = 0;
    while (h < t->n_hosts && t->hosts[h].host != host)
        h++;
    if (h == t->n_hosts || strcmp(str_at(t, t->hosts[h].name), host_name) != 0) {
        void *hosts = t->hosts;
        size_t name;
        if (reserve(&hosts, &t->cap_hosts, t->n_hosts + 1, sizeof *t->hosts) != 0)
            return ZDAG_ENOMEM;
        t->hosts = hosts;
        if (intern(t, host_name, &name) != 0)
            return ZDAG_ENOMEM;
        if (h == t->n_hosts)
            t->hosts[t->n_hosts++] = (host_track){host, name};
        else
            t->hosts[h].name = name; /* a rename; the old copy stays in the arena, unused */
    }
    for (size_t i = 0; i < t->n_threads; i++)
        if (t->threads[i].host == host && t->threads[i].executor == executor)
            return 0;
    void *threads = t->threads;
    if (reserve(&threads, &t->cap_threads, t->n_threads + 1, sizeof *t->threads) != 0)
        return ZDAG_ENOMEM;
    t->threads = threads;
    t->threads[t->n_threads++] = (thread_track){host, executor};
    return 0;
}

/* Appends ev after copying its name and extra string. Returns 0 or ZDAG_ENOMEM; on failure
 * the trace is as before. */
static int append(zd_trace *t, event ev, const char *name, const char *extra) {
    void *events = t->events;
    if (reserve(&events, &t->cap_events, t->n_events + 1, sizeof *t->events) != 0)
        return ZDAG_ENOMEM;
    t->events = events;
    size_t mark = t->strs_len;
    if (intern(t, name, &ev.name) != 0 || intern(t, extra, &ev.extra) != 0) {
        t->strs_len = mark;
        return ZDAG_ENOMEM;
    }
    t->events[t->n_events++] = ev;
    return 0;
}

int zd_trace_slice(zd_trace *t, uint32_t host, int32_t executor, const char *name, double start_s,
                   double end_s, uint32_t attempt, const char *status, int exit_code,
                   bool has_exit_code) {
    int64_t start = micros(start_s), end = micros(end_s);
    if (!name || start < 0 || end < 0 || end_s < start_s)
        return ZDAG_EINVAL;
    event ev = {.ts_us = start,
                .dur_us = end - start,
                .attempt = attempt,
                .exit_code = has_exit_code ? exit_code : 0,
                .kind = EV_SLICE,
                .has_exit_code = has_exit_code};
    if (track_ids(t, host, executor, &ev.pid, &ev.tid) != 0)
        return ZDAG_EINVAL;
    return append(t, ev, name, status);
}

int zd_trace_instant(zd_trace *t, uint32_t host, int32_t executor, const char *name, double at_s,
                     const char *detail) {
    int64_t at = micros(at_s);
    if (!name || at < 0)
        return ZDAG_EINVAL;
    event ev = {.ts_us = at, .kind = EV_INSTANT};
    if (track_ids(t, host, executor, &ev.pid, &ev.tid) != 0)
        return ZDAG_EINVAL;
    return append(t, ev, name, detail);
}

/* The writer: a value at a time (coordinator/jsonout.h). A jansson tree per event, dumped,
 * took ~10x longer (~4 us an event) for the same document. */

static void begin(zd_jsonout *w, bool *first, const char *name) {
    zd_jsonout_raw(w, *first ? "\n{\"name\": " : ",\n{\"name\": ");
    *first = false;
    zd_jsonout_str(w, name);
}

/* A metadata event naming a process (what = "process_name") or a thread ("thread_name"). */
static void put_meta(zd_jsonout *w, bool *first, const char *what, uint32_t pid, int32_t tid,
                     const char *label) {
    begin(w, first, what);
    zd_jsonout_raw(w, ", \"ph\": \"M\", \"pid\": ");
    zd_jsonout_int(w, pid);
    zd_jsonout_raw(w, ", \"tid\": ");
    zd_jsonout_int(w, tid);
    zd_jsonout_raw(w, ", \"args\": {\"name\": ");
    zd_jsonout_str(w, label);
    zd_jsonout_raw(w, "}}");
}

static void put_event(zd_jsonout *w, bool *first, const zd_trace *t, const event *ev) {
    const char *name = str_at(t, ev->name), *extra = str_at(t, ev->extra);
    bool slice = ev->kind == EV_SLICE;
    begin(w, first, name);
    /* Instants are thread-scoped ("s": "t"): a tick on the executor's or coordinator's row. */
    zd_jsonout_raw(w, slice ? ", \"ph\": \"X\", \"pid\": "
                            : ", \"ph\": \"i\", \"s\": \"t\", \"pid\": ");
    zd_jsonout_int(w, ev->pid);
    zd_jsonout_raw(w, ", \"tid\": ");
    zd_jsonout_int(w, ev->tid);
    zd_jsonout_raw(w, ", \"ts\": ");
    zd_jsonout_int(w, ev->ts_us);
    if (slice) {
        zd_jsonout_raw(w, ", \"dur\": ");
        zd_jsonout_int(w, ev->dur_us);
        zd_jsonout_raw(w, ", \"args\": {\"node\": ");
        zd_jsonout_str(w, name);
        zd_jsonout_raw(w, ", \"attempt\": ");
        zd_jsonout_int(w, ev->attempt);
        zd_jsonout_raw(w, ", \"status\": ");
        zd_jsonout_str(w, extra);
        if (ev->has_exit_code) {
            zd_jsonout_raw(w, ", \"exit_code\": ");
            zd_jsonout_int(w, ev->exit_code);
            zd_jsonout_raw(w, "}");
        } else {
            zd_jsonout_raw(w, ", \"exit_code\": null}");
        }
    } else if (extra) {
        zd_jsonout_raw(w, ", \"args\": {\"detail\": ");
        zd_jsonout_str(w, extra);
        zd_jsonout_raw(w, "}");
    }
    zd_jsonout_raw(w, "}");
}

/* Writes the whole document, an event at a time: the JSON of a large trace never exists in
 * memory all at once. */
static void write_doc(const zd_trace *t, zd_jsonout *w) {
    bool first = true;
    zd_jsonout_raw(w, "{\"traceEvents\": [");
    for (size_t i = 0; i < t->n_hosts; i++)
        put_meta(w, &first, "process_name", t->hosts[i].host, 0, str_at(t, t->hosts[i].name));
    for (size_t i = 0; i < t->n_threads; i++) {
        char label[32];
        snprintf(label, sizeof label, "executor %" PRId32, t->threads[i].executor);
        put_meta(w, &first, "thread_name", t->threads[i].host, t->threads[i].executor, label);
    }
    if (t->coord_named) {
        put_meta(w, &first, "process_name", ZD_TRACE_COORD_PID, 0, COORD_NAME);
        put_meta(w, &first, "thread_name", ZD_TRACE_COORD_PID, 0, COORD_NAME);
    }
    for (size_t i = 0; i < t->n_events && !w->oom; i++)
        put_event(w, &first, t, &t->events[i]);
    zd_jsonout_raw(w, "\n], \"displayTimeUnit\": \"ms\"}\n");
}

int zd_trace_write(const zd_trace *t, const char *path) {
    zd_jsonout w;
    int rc = zd_jsonout_open(&w, path);
    if (rc < 0)
        return rc;
    write_doc(t, &w);
    return zd_jsonout_commit(&w, path, true);
}
