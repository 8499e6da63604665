/* zdag status: asks a running coordinator through the status socket in its state directory
 * (coordinator/status.h) and prints the answer, as text or as the JSON it is. */
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "cli.h"
#include "curve.h"
#include "diag.h"
#include "options.h"
#include "statedir.h"
#include "wire.h"

#define ASK_TIMEOUT_MS 3000 /* a coordinator answers between two events: far less than this */
#define WATCH_EVERY_S 1     /* --watch asks again this often */
#define SHOWN_PER_LIST 20   /* entries of each list printed as text */

/* The state directory of FILE or DIR (none: ./.zdag) into out. */
static int state_dir_of(const char *given, const char *arg, char *out, size_t size) {
    struct stat st;
    if (given)
        return snprintf(out, size, "%s", given) < (int)size ? 0 : -1;
    if (!arg)
        return snprintf(out, size, ".zdag") < (int)size ? 0 : -1;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
        return snprintf(out, size, "%s", arg) < (int)size ? 0 : -1;
    char *copy = strdup(arg);
    int n = copy ? snprintf(out, size, "%s/.zdag", dirname(copy)) : -1;
    free(copy);
    return n >= 0 && n < (int)size ? 0 : -1;
}

/* Whether a process listens on the unix socket at path (a killed run leaves its file; libzmq
 * would retry connecting to it quietly). */
static bool listening(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return true; /* let ZeroMQ say what is wrong */
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) == 0 || errno != ECONNREFUSED;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* The status JSON from a coordinator's --listen socket (STATUS, answered by STATUS_REPLY), with
 * this key pair and the coordinator's public key (NULL: --insecure), or NULL with why set. */
static char *ask_remote(void *zctx, const char *endpoint, const char *secret_file,
                        const char *server_file, char *why, size_t size) {
    char pub[ZD_CURVE_Z85_LEN + 1], sec[ZD_CURVE_Z85_LEN + 1], server[ZD_CURVE_Z85_LEN + 1];
    zd_diags d;
    zd_diags_init(&d);
    bool keys = !secret_file || (zd_curve_load_secret(secret_file, pub, sec, &d) == 0 &&
                                 zd_curve_load_public(server_file, server, &d) == 0);
    if (!keys) {
        snprintf(why, size, "%s", d.n ? d.lines[0] : "cannot read the keys");
        zd_diags_clear(&d);
        return NULL;
    }
    zd_diags_clear(&d);
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0, timeout = ASK_TIMEOUT_MS;
    zd_wire_buf *b = zd_wire_buf_new();
    zd_wire_decoder *dec = zd_wire_decoder_new();
    char *text = NULL;
    if (!s || !b || !dec || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout) < 0 ||
        (secret_file && zd_curve_client(s, pub, sec, server) < 0) || zmq_connect(s, endpoint) < 0 ||
        zd_wire_encode_status(b) < 0 ||
        zmq_send(s, zd_wire_buf_data(b), zd_wire_buf_size(b), 0) < 0) {
        snprintf(why, size, "cannot ask %s: %s", endpoint, zmq_strerror(zmq_errno()));
    } else {
        zmq_msg_t m;
        zd_msg msg;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0)
            snprintf(why, size,
                     "no answer from %s within %d s (no run there, or this key is not "
                     "authorized)",
                     endpoint, ASK_TIMEOUT_MS / 1000);
        else if (zd_wire_decode(dec, zmq_msg_data(&m), zmq_msg_size(&m), &msg) < 0 ||
                 msg.type != ZD_MSG_STATUS_REPLY)
            snprintf(why, size, "%s answered with something else than its status", endpoint);
        else if (!(text = strndup(msg.u.status_reply.ptr, msg.u.status_reply.len)))
            snprintf(why, size, "out of memory");
        zmq_msg_close(&m);
    }
    zd_wire_decoder_free(&dec);
    zd_wire_buf_free(&b);
    if (s)
        zmq_close(s);
    return text;
}

/* The status JSON of the run with state directory dir (caller frees), or NULL with why set. */
static char *ask(void *zctx, const char *dir, char *why, size_t size) {
    char path[PATH_MAX], endpoint[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/" ZD_STATE_STATUS, dir);
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        snprintf(why, size, "no run is going on in %s (no status socket %s)", dir, path);
        return NULL;
    }
    if (!listening(path)) {
        snprintf(why, size, "no run is going on in %s (%s is left from a run that was killed)", dir,
                 path);
        return NULL;
    }
    snprintf(endpoint, sizeof endpoint, "ipc://%s", path);
    void *s = zmq_socket(zctx, ZMQ_REQ);
    int linger = 0, timeout = ASK_TIMEOUT_MS;
    char *text = NULL;
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout) < 0 ||
        zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout) < 0 ||
        zmq_connect(s, endpoint) < 0 || zmq_send(s, "status", 6, 0) < 0) {
        snprintf(why, size, "cannot ask %s: %s", path, zmq_strerror(zmq_errno()));
    } else {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0)
            snprintf(why, size, "no run answered on %s within %d s (it ended, or was killed)", path,
                     ASK_TIMEOUT_MS / 1000);
        else if ((text = malloc(zmq_msg_size(&m) + 1))) {
            memcpy(text, zmq_msg_data(&m), zmq_msg_size(&m));
            text[zmq_msg_size(&m)] = '\0';
        } else {
            snprintf(why, size, "out of memory");
        }
        zmq_msg_close(&m);
    }
    if (s)
        zmq_close(s);
    return text;
}

static const char *str(const json_t *o, const char *key) {
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "?";
}

static double num(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Prints the entries of a list of {"name", "why"}, at most SHOWN_PER_LIST, then how many more. */
static void print_whys(FILE *out, const json_t *list, size_t total) {
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        if (i == SHOWN_PER_LIST)
            break;
        fprintf(out, "  %-24s %s\n", str(e, "name"), str(e, "why"));
    }
    if (total > i)
        fprintf(out, "  ... and %zu more\n", total - i);
}

static void print_text(FILE *out, const json_t *st) {
    double eta = num(st, "eta_s");
    fprintf(out, "%s: %.1f s elapsed", str(st, "pipeline"), num(st, "elapsed_s"));
    if (!isnan(eta))
        fprintf(out, ", ETA %.0f s", eta);
    fputs("\nnodes:", out);
    const char *key;
    json_t *v;
    bool any = false;
    json_object_foreach(json_object_get(st, "counts"), key, v) {
        if (json_integer_value(v) > 0) {
            fprintf(out, "%s %lld %s", any ? "," : "", (long long)json_integer_value(v), key);
            any = true;
        }
    }
    fputs(any ? "\n" : " none\n", out);
    const json_t *running = json_object_get(st, "running");
    if (json_array_size(running)) {
        fputs("running:\n", out);
        size_t i;
        json_t *e;
        json_array_foreach(running, i, e) {
            if (i == SHOWN_PER_LIST) {
                fprintf(out, "  ... and %zu more\n", json_array_size(running) - i);
                break;
            }
            fprintf(out, "  %-24s on %s, executor %lld, attempt %lld, %.1f s\n", str(e, "name"),
                    str(e, "host"), (long long)json_integer_value(json_object_get(e, "executor")),
                    (long long)json_integer_value(json_object_get(e, "attempt")),
                    num(e, "elapsed_s"));
        }
    }
    const json_t *ready = json_object_get(st, "ready");
    if (json_array_size(ready)) {
        fputs("ready, best first:\n", out);
        print_whys(out, ready, json_array_size(ready));
    }
    const json_t *waiting = json_object_get(st, "waiting");
    json_int_t total = json_integer_value(json_object_get(st, "waiting_total"));
    if (total > 0) {
        fputs("waiting:\n", out);
        print_whys(out, waiting, (size_t)total);
    }
    fputs("hosts:\n", out);
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(st, "hosts"), i, h) {
        fprintf(out, "  %-24s %lld/%lld executors busy, %g/%g CPU units", str(h, "name"),
                (long long)json_integer_value(json_object_get(h, "busy")),
                (long long)json_integer_value(json_object_get(h, "slots")), num(h, "cpus_used"),
                num(h, "cpus"));
        double heard = num(h, "heard_s");
        if (!isnan(heard))
            fprintf(out, ", heard %.1f s ago", heard);
        fputs(json_is_true(json_object_get(h, "lost")) ? ", lost\n" : "\n", out);
    }
}

/* Where to ask: a state directory, or a coordinator's --listen socket. */
typedef struct target {
    const char *dir;         /* the state directory, unless connect */
    const char *connect;     /* --connect ENDPOINT, or NULL */
    const char *secret_file; /* --curve-secret FILE (NULL with --insecure) */
    const char *server_file; /* --coordinator-key FILE */
} target;

/* Asks once and prints; 0, or 1 when no run answered (why on stderr). */
static int show(void *zctx, const target *t, bool as_json, bool clear) {
    char why[PATH_MAX + 256];
    char *text = t->connect
                     ? ask_remote(zctx, t->connect, t->secret_file, t->server_file, why, sizeof why)
                     : ask(zctx, t->dir, why, sizeof why);
    if (!text) {
        fprintf(stderr, "zdag: %s\n", why);
        return ZD_EXIT_FAILED;
    }
    json_error_t err;
    json_t *st = as_json ? NULL : json_loads(text, 0, &err);
    if (clear)
        fputs("\033[H\033[2J", stdout);
    if (as_json)
        fputs(text, stdout);
    else if (st)
        print_text(stdout, st);
    else
        fprintf(stderr, "zdag: the coordinator's answer is not JSON: %s\n", err.text);
    fflush(stdout);
    json_decref(st);
    free(text);
    return as_json || st ? ZD_EXIT_OK : ZD_EXIT_FAILED;
}

int zd_cli_status(int argc, char **argv) {
    const zd_cli_command *cmd = zd_cli_command_find("status");
    bool started = false, bad, as_json = false, watch = false, insecure = false;
    const char *arg, *given = NULL;
    target t = {0};
    const zd_cli_option *o;
    while ((o = zd_cli_next(cmd, argc, argv, &started, &arg, &bad))) {
        if (o->id == ZD_OPT_STATE_DIR)
            given = arg;
        else if (o->id == ZD_OPT_JSON)
            as_json = true;
        else if (o->id == ZD_OPT_WATCH)
            watch = true;
        else if (o->id == ZD_OPT_CONNECT)
            t.connect = arg;
        else if (o->id == ZD_OPT_CURVE_SECRET)
            t.secret_file = arg;
        else if (o->id == ZD_OPT_COORDINATOR_KEY)
            t.server_file = arg;
        else if (o->id == ZD_OPT_INSECURE)
            insecure = true;
    }
    int first = zd_cli_operands();
    if (bad || argc - first > 1) {
        if (!bad)
            fprintf(stderr, "zdag: status takes one FILE or DIR at most\n");
        return ZD_EXIT_USAGE;
    }
    if (t.connect && (first < argc || given)) {
        fprintf(stderr, "zdag: status asks either a state directory or --connect, not both\n");
        return ZD_EXIT_USAGE;
    }
    if (t.connect && insecure == (t.secret_file || t.server_file)) {
        fprintf(stderr, "zdag: status --connect needs --curve-secret FILE and "
                        "--coordinator-key FILE, or --insecure\n");
        return ZD_EXIT_USAGE;
    }
    if (t.connect && !insecure && !(t.secret_file && t.server_file)) {
        fprintf(stderr, "zdag: status --connect needs both --curve-secret and --coordinator-key\n");
        return ZD_EXIT_USAGE;
    }
    char dir[PATH_MAX];
    if (state_dir_of(given, first < argc ? argv[first] : NULL, dir, sizeof dir) < 0) {
        fprintf(stderr, "zdag: the state directory's path is too long\n");
        return ZD_EXIT_USAGE;
    }
    t.dir = dir;
    void *zctx = zmq_ctx_new();
    if (!zctx) {
        fprintf(stderr, "zdag: cannot start ZeroMQ: %s\n", zmq_strerror(errno));
        return ZD_EXIT_CANNOT_RUN;
    }
    bool tty = isatty(STDOUT_FILENO);
    int status = show(zctx, &t, as_json, watch && tty);
    while (watch && status == ZD_EXIT_OK) {
        sleep(WATCH_EVERY_S);
        if (show(zctx, &t, as_json, tty) != ZD_EXIT_OK)
            break; /* the run ended: what was shown last stays */
    }
    zmq_ctx_term(zctx);
    return status;
}
