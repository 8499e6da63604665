/* What `zdag worker --metrics` serves: the host agent's gauges and counters, as Prometheus
 * text (format 0.0.4). The agent fills a zd_agentstats from its configuration, its executors'
 * shared cells (zd_xset_tally_get()) and its sessions; this module only words it. */
#ifndef ZD_AGENTSTATS_H
#define ZD_AGENTSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct zd_agentstats {
    const char *host_id;  /* this worker's host id (borrowed) */
    const char *connect;  /* its coordinator's endpoint (borrowed) */
    uint32_t slots;       /* executors it runs (--slots) */
    uint32_t busy;        /* of those, in an attempt now */
    double cpus;          /* CPU units it offers (--cpus) */
    double cpus_used;     /* CPU units of the attempts it runs now */
    uint64_t started;     /* attempts started, over every run it served */
    uint64_t succeeded;   /* attempts whose result said success */
    uint64_t failed;      /* attempts whose result said failure */
    uint64_t lost;        /* attempts whose executor died or was killed before its result */
    uint64_t runs_joined; /* runs it joined (WELCOMEs) */
    bool connected;       /* in a run now, its lease held (not fenced) */
    double heard_s;       /* seconds since its coordinator last spoke; < 0: never */
} zd_agentstats;

/* The text of s. Caller owns *out (free()); *len is its length. Returns 0 or ZDAG_ENOMEM. */
int zd_agentstats_text(const zd_agentstats *s, char **out, size_t *len)
    __attribute__((warn_unused_result));

#endif
