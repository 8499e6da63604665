/* Prometheus text over HTTP with libmicrohttpd (see metrics.h). */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zdag.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct zd_metrics {
    struct MHD_Daemon *daemon; /* the server and its thread */
    pthread_mutex_t lock;      /* guards text */
    char *text;                /* the latest snapshot (owned), or NULL */
    size_t len;                /* bytes in text */
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
                             size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    enum MHD_Result ok = MHD_add_response_header(r, "Content-Type", CONTENT_TYPE) == MHD_YES
                             ? MHD_queue_response(conn, status, r)
                             : MHD_NO;
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result answer(void *ctx, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_len, void **state) {
    (void)version, (void)data, (void)data_len, (void)state;
    zd_metrics *m = ctx;
    if (strcmp(method, "GET") != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n", 9);
    if (strcmp(url, "/metrics") != 0)
        return reply(conn, MHD_HTTP_NOT_FOUND, "see /metrics\n", 13);
    pthread_mutex_lock(&m->lock);
    /* Before the owner's first snapshot there is nothing to say: an empty 200 would read as a
     * target with no metrics at all, so a scrape fails instead (and is tried again). */
    static const char none[] = "no snapshot yet\n";
    enum MHD_Result ok = m->text ? reply(conn, MHD_HTTP_OK, m->text, m->len)
                                 : reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, none, sizeof none - 1);
    pthread_mutex_unlock(&m->lock);
    return ok;
}

/* addr as an IPv4 socket address. */
static int parse(const char *addr, struct sockaddr_in *sa, char *why, size_t size) {
    const char *colon = strrchr(addr, ':');
    const char *port = colon ? colon + 1 : addr;
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (!*port || *end || errno || p < 1 || p > 65535) {
        snprintf(why, size, "--metrics %s: the port must be 1 to 65535 (HOST:PORT or PORT)", addr);
        return ZDAG_EINVAL;
    }
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
    if (!colon || colon == addr) {
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(why, size, "--metrics %s: cannot resolve %s: %s", addr, host, gai_strerror(rc));
        return ZDAG_EINVAL;
    }
    sa->sin_addr = ((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

int zd_metrics_start(const char *addr, zd_metrics **out, char *why, size_t size) {
    struct sockaddr_in sa;
    int rc = parse(addr, &sa, why, size);
    if (rc < 0)
        return rc;
    zd_metrics *m = calloc(1, sizeof *m);
    if (!m || pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        snprintf(why, size, "out of memory");
        return ZDAG_ENOMEM;
    }
    m->daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, answer, m,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                         16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!m->daemon) {
        snprintf(why, size, "--metrics %s: cannot listen there (in use, or not this host's)", addr);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return ZDAG_ESYS;
    }
    *out = m;
    return 0;
}

void zd_metrics_publish(zd_metrics *m, const char *text, size_t len) {
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return; /* the last snapshot stays */
    memcpy(copy, text, len);
    pthread_mutex_lock(&m->lock);
    free(m->text);
    m->text = copy;
    m->len = len;
    pthread_mutex_unlock(&m->lock);
}

void zd_metrics_stop(zd_metrics **mp) {
    if (!mp || !*mp)
        return;
    zd_metrics *m = *mp;
    MHD_stop_daemon(m->daemon);
    pthread_mutex_destroy(&m->lock);
    free(m->text);
    free(m);
    *mp = NULL;
}

void zd_metrics_head(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void zd_metrics_label(FILE *f, const char *v) {
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}
