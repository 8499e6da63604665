/* Slurm's commands for automatic workers (slurm.h). */
#include "slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COMMAND_LIMIT_S 60.0 /* a command taking longer is killed and counts as failed */
#define OUT_MAX (1u << 20)   /* bytes of a command's stdout kept (squeue of many jobs) */
#define ERR_MAX 1024         /* bytes of its stderr kept, for messages */
#define MAX_ARGS 64          /* zdag's own words of one command, at most */

extern char **environ;

/* ---- Words --------------------------------------------------------------------------------- */

/* Appends c to the word being made (*w of *len, *cap). */
static bool put_char(char **w, size_t *len, size_t *cap, char c) {
    if (*len + 1 >= *cap) {
        size_t ncap = *cap ? 2 * *cap : 32;
        char *nw = realloc(*w, ncap);
        if (!nw)
            return false;
        *w = nw;
        *cap = ncap;
    }
    (*w)[(*len)++] = c;
    (*w)[*len] = '\0';
    return true;
}

/* Appends the word w (taken) to the array *out of *n. */
static bool put_word(char ***out, size_t *n, char *w) {
    char **v = realloc(*out, (*n + 2) * sizeof *v);
    if (!v)
        return false;
    v[(*n)++] = w;
    v[*n] = NULL;
    *out = v;
    return true;
}

/* Reads the word at *p (not a blank) into *w, of *len bytes in *cap; *p moves past it. */
static int next_word(const char **p, char **w, size_t *len, size_t *cap, char *why, size_t size) {
    char quote = 0;
    for (const char *s = *p; *s; s++) {
        char c = *s;
        if (!quote && (c == ' ' || c == '\t' || c == '\n')) {
            *p = s;
            return 0;
        }
        if (!quote && (c == '\'' || c == '"')) {
            quote = c;
            if (!put_char(w, len, cap, '\0'))
                return ZDAG_ENOMEM;
            (*len)--; /* an empty "" is still a word: *w exists */
            continue;
        }
        if (quote && c == quote) {
            quote = 0;
            continue;
        }
        if (c == '\\' && quote != '\'') {
            char n = s[1];
            if (!n) {
                snprintf(why, size, "a backslash ends the --slurm options");
                return ZDAG_EINVAL;
            }
            if (!quote || n == '"' || n == '\\')
                c = *++s;
        }
        if (!put_char(w, len, cap, c))
            return ZDAG_ENOMEM;
    }
    if (quote) {
        snprintf(why, size, "the --slurm options have an unclosed %c", quote);
        return ZDAG_EINVAL;
    }
    *p += strlen(*p);
    return 0;
}

int zd_slurm_split(const char *text, char ***out, size_t *n, char *why, size_t size) {
    *out = NULL;
    *n = 0;
    const char *p = text ? text : "";
    int rc = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        char *w = NULL;
        size_t len = 0, cap = 0;
        rc = next_word(&p, &w, &len, &cap, why, size); /* (a word always has a byte, or quotes) */
        if (rc == 0 && !put_word(out, n, w))
            rc = ZDAG_ENOMEM;
        if (rc < 0) {
            free(w);
            zd_slurm_words_free(out);
            *n = 0;
            if (rc == ZDAG_ENOMEM)
                snprintf(why, size, "out of memory");
            return rc;
        }
    }
    if (!*out && !(*out = calloc(1, sizeof **out))) { /* no words: an empty array */
        snprintf(why, size, "out of memory");
        return ZDAG_ENOMEM;
    }
    return 0;
}

void zd_slurm_words_free(char ***words) {
    if (!words || !*words)
        return;
    for (char **w = *words; *w; w++)
        free(*w);
    free(*words);
    *words = NULL;
}

/* ---- The size the options set -------------------------------------------------------------- */

/* The value of option `word` (short -X or long --name) at words[*i]: "-c2", "-c 2",
 * "--cpus-per-task=2", "--cpus-per-task 2"; NULL when words[*i] is not that option. */
static const char *option_value(const char *const *words, size_t n, size_t *i, const char *s,
                                const char *l) {
    const char *w = words[*i];
    size_t ll = strlen(l);
    if (s && strncmp(w, s, 2) == 0 && w[2])
        return w + 2;
    if ((s && strcmp(w, s) == 0) || strcmp(w, l) == 0)
        return *i + 1 < n ? words[++*i] : "";
    if (strncmp(w, l, ll) == 0 && w[ll] == '=')
        return w + ll + 1;
    return NULL;
}

/* A size in MB: "4000", "4000M", "4G", "512K", "1T". */
static bool megabytes(const char *v, double *mb) {
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || !(x > 0))
        return false;
    double f = !*end                   ? 1
               : strcmp(end, "K") == 0 ? 1.0 / 1024
               : strcmp(end, "M") == 0 ? 1
               : strcmp(end, "G") == 0 ? 1024
               : strcmp(end, "T") == 0 ? 1024.0 * 1024
                                       : -1;
    *mb = x * f;
    return f > 0;
}

bool zd_slurm_size(const char *const *words, size_t n, double *cpus, double *mem_mb, char *text,
                   size_t text_size, char *why, size_t why_size) {
    *cpus = *mem_mb = 0;
    if (text_size)
        text[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *v;
        size_t used = strlen(text);
        if ((v = option_value(words, n, &i, "-c", "--cpus-per-task"))) {
            char *end = NULL;
            long c = strtol(v, &end, 10);
            if (end == v || *end || c < 1 || c > 100000) {
                snprintf(why, why_size, "--slurm: -c takes a whole number, not \"%s\"", v);
                return false;
            }
            *cpus = (double)c;
            snprintf(text + used, text_size - used, "%s-c %ld", used ? " " : "", c);
        } else if ((v = option_value(words, n, &i, NULL, "--mem"))) {
            if (!megabytes(v, mem_mb)) {
                snprintf(why, why_size, "--slurm: --mem takes a size (4000M, 4G), not \"%s\"", v);
                return false;
            }
            snprintf(text + used, text_size - used, "%s--mem=%s", used ? " " : "", v);
        }
    }
    return true;
}

/* ---- Output -------------------------------------------------------------------------------- */

bool zd_slurm_parse_sbatch(const char *out, char *id, size_t size) {
    const char *p = out;
    while (*p == ' ' || *p == '\n')
        p++;
    size_t n = strspn(p, "0123456789_");
    if (n == 0 || n >= size || (p[n] && p[n] != ';' && p[n] != '\n' && p[n] != ' '))
        return false;
    memcpy(id, p, n);
    id[n] = '\0';
    return true;
}

size_t zd_slurm_parse_squeue(char *out, zd_prov_answer *a, size_t max) {
    size_t k = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line && k < max;
         line = strtok_r(NULL, "\n", &save)) {
        char *bar1 = strchr(line, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (!bar2)
            continue;
        *bar1 = *bar2 = '\0';
        while (*line == ' ')
            line++;
        a[k++] = (zd_prov_answer){line, bar1 + 1, bar2 + 1};
    }
    return k;
}

/* ---- The job script ------------------------------------------------------------------------ */

/* Writes s to f in single quotes for /bin/sh ('it'\''s'). */
static void sh_quote(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* export NAME='value' */
static void sh_export(FILE *f, const char *name, const char *value) {
    fprintf(f, "export %s=", name);
    sh_quote(f, value);
    fputc('\n', f);
}

/* The settings every worker finds in its environment (ZDAG_WORKER_*). */
static void write_env(const zd_slurm_cfg *cfg, FILE *f) {
    sh_export(f, "ZDAG_WORKER_CONNECT", cfg->connect);
    if (cfg->worker_key && cfg->coordinator_key) {
        sh_export(f, "ZDAG_WORKER_CURVE_SECRET", cfg->worker_key);
        sh_export(f, "ZDAG_WORKER_COORDINATOR_KEY", cfg->coordinator_key);
    } else {
        fputs("export ZDAG_WORKER_INSECURE=1\n", f);
    }
    fprintf(f,
            "export ZDAG_WORKER_SLOTS=\"$cpus\" ZDAG_WORKER_CPUS=\"$cpus\"\n"
            "export ZDAG_WORKER_HOST_ID=\"${SLURMD_NODENAME:-$(hostname -s)}\"\n"
            "export ZDAG_WORKER_ALLOCATION=\"$SLURM_JOB_ID\"\n"
            "export ZDAG_WORKER_IDLE_EXIT=%g\n"
            "if [ -n \"$mem\" ]; then export ZDAG_WORKER_MEM_MB=\"$SLURM_MEM_PER_NODE\"; fi\n",
            cfg->idle_s > 0 ? cfg->idle_s : 60);
}

/* `zdag worker` with the same settings as flags. */
static void write_zdag_worker(const zd_slurm_cfg *cfg, FILE *f) {
    fputs("exec ", f);
    sh_quote(f, cfg->zdag);
    fputs(" worker --connect \"$ZDAG_WORKER_CONNECT\" --host-id \"$ZDAG_WORKER_HOST_ID\" \\\n"
          "    --allocation \"$ZDAG_WORKER_ALLOCATION\" --slots \"$cpus\" --cpus \"$cpus\" $mem",
          f);
    fprintf(f, " --idle-exit %g", cfg->idle_s > 0 ? cfg->idle_s : 60);
    if (cfg->worker_key && cfg->coordinator_key)
        fputs(" \\\n    --curve-secret \"$ZDAG_WORKER_CURVE_SECRET\" --coordinator-key "
              "\"$ZDAG_WORKER_COORDINATOR_KEY\"",
              f);
    else
        fputs(" --insecure", f);
    fputc('\n', f);
}

int zd_slurm_write_script(const zd_slurm_cfg *cfg, FILE *f) {
    fputs("#!/bin/sh\n"
          "# A worker of a zdag run (automatic workers), submitted by its coordinator.\n"
          "cpus=${SLURM_CPUS_ON_NODE:-1}\n"
          "mem=\n"
          "if [ \"${SLURM_MEM_PER_NODE:-0}\" -gt 0 ] 2>/dev/null; then\n"
          "    mem=\"--resource mem_mb=$SLURM_MEM_PER_NODE\"\n"
          "fi\n",
          f);
    write_env(cfg, f);
    if (!cfg->worker_argv || !cfg->worker_argv[0]) {
        write_zdag_worker(cfg, f);
    } else {
        fputs("exec", f);
        for (size_t i = 0; cfg->worker_argv[i]; i++) {
            fputc(' ', f);
            sh_quote(f, cfg->worker_argv[i]);
        }
        fputc('\n', f);
    }
    return ferror(f) ? ZDAG_EIO : 0;
}

/* The worker job's script, mode 0700. */
static int write_script(const zd_slurm_cfg *cfg, const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return ZDAG_ESYS;
    }
    int rc = zd_slurm_write_script(cfg, f);
    return fclose(f) == 0 && rc == 0 ? 0 : ZDAG_ESYS;
}

/* ---- Running the commands ------------------------------------------------------------------ */

/* A command waiting to run, or running. */
typedef struct command {
    zd_prov_action_kind kind; /* SUBMIT, POLL or CANCEL */
    uint32_t job;             /* SUBMIT: the job */
} command;

struct zd_slurm {
    zd_slurm_cfg cfg;   /* copy of the configuration */
    char script[4096];  /* the worker job's batch script */
    char output[4096];  /* --output of the worker jobs */
    command *queue;     /* commands waiting, oldest first */
    size_t n_queue;     /* entries in queue */
    size_t cap_queue;   /* room in queue */
    command running;    /* the command running (when pid > 0) */
    pid_t pid;          /* its process, or 0 */
    int out_fd, err_fd; /* its stdout and stderr (-1 once closed) */
    char *out;          /* its stdout so far (OUT_MAX at most) */
    size_t out_len;     /* bytes in out */
    char err[ERR_MAX];  /* its stderr so far */
    size_t err_len;     /* bytes in err */
    double started;     /* when it started (monotonic seconds) */
};

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int zd_slurm_new(const zd_slurm_cfg *cfg, zd_slurm **out) {
    zd_slurm *s = calloc(1, sizeof *s);
    if (!s || !(s->out = malloc(OUT_MAX + 1))) {
        free(s);
        return ZDAG_ENOMEM;
    }
    s->cfg = *cfg;
    s->out_fd = s->err_fd = -1;
    snprintf(s->script, sizeof s->script, "%s/worker.sh", cfg->dir);
    snprintf(s->output, sizeof s->output, "--output=%s", cfg->output);
    int rc = write_script(cfg, s->script);
    if (rc < 0) {
        zd_logf(&cfg->log, ZDAG_LOG_ERROR, "cannot write the Slurm worker script %s: %s", s->script,
                strerror(errno));
        zd_slurm_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Closes what the command running left open. */
static void close_fds(zd_slurm *s) {
    if (s->out_fd >= 0)
        close(s->out_fd);
    if (s->err_fd >= 0)
        close(s->err_fd);
    s->out_fd = s->err_fd = -1;
}

void zd_slurm_free(zd_slurm **sp) {
    if (!sp || !*sp)
        return;
    zd_slurm *s = *sp;
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    close_fds(s);
    free(s->queue);
    free(s->out);
    free(s);
    *sp = NULL;
}

/* Starts argv[0] (found on PATH) with stdin /dev/null, stdout and stderr into pipes, in a
 * process group of its own, signals as a new process has them. */
static int spawn(zd_slurm *s, char *const argv[]) {
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        goto fail;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGCHLD);
    sigaddset(&defaults, SIGHUP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &defaults);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    int rc = posix_spawnp(&s->pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(out[1]);
    close(err[1]);
    out[1] = err[1] = -1;
    if (rc != 0) {
        errno = rc;
        s->pid = 0;
        goto fail;
    }
    s->out_fd = out[0];
    s->err_fd = err[0];
    fcntl(s->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(s->err_fd, F_SETFL, O_NONBLOCK);
    s->out_len = s->err_len = 0;
    s->started = mono();
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    return ZDAG_ESYS;
}

/* The sbatch command line of job `job`. */
static size_t submit_argv(zd_slurm *s, const zd_prov_job *j, char *argv[], char (*buf)[64]) {
    size_t n = 0;
    argv[n++] = (char *)(s->cfg.sbatch ? s->cfg.sbatch : "sbatch");
    argv[n++] = "--parsable";
    argv[n++] = "--job-name=zdag-worker";
    argv[n++] = "--nodes=1";
    argv[n++] = "--ntasks=1";
    argv[n++] = s->output;
    if (j->cpus > 0) {
        snprintf(buf[0], sizeof buf[0], "--cpus-per-task=%.0f", ceil(j->cpus));
        argv[n++] = buf[0];
    }
    if (j->mem_mb > 0) {
        snprintf(buf[1], sizeof buf[1], "--mem=%.0fM", ceil(j->mem_mb));
        argv[n++] = buf[1];
    }
    for (size_t i = 0; i < s->cfg.n_words && n < MAX_ARGS - 2; i++)
        argv[n++] = (char *)s->cfg.words[i];
    argv[n++] = s->script;
    argv[n] = NULL;
    return n;
}

/* The squeue command line asking about the polled jobs (ids joined with ',' into ids). */
static void poll_argv(zd_slurm *s, const zd_prov *p, char *argv[], char *ids, size_t size) {
    size_t used = 0;
    ids[0] = '\0';
    for (uint32_t i = 0; i < zd_prov_job_count(p); i++) {
        const zd_prov_job *j = zd_prov_job_at(p, i);
        if (j->polled && used + strlen(j->id) + 2 < size)
            used += (size_t)snprintf(ids + used, size - used, "%s%s", used ? "," : "", j->id);
    }
    size_t n = 0;
    argv[n++] = (char *)(s->cfg.squeue ? s->cfg.squeue : "squeue");
    argv[n++] = "-h";
    argv[n++] = "-t";
    argv[n++] = "all";
    argv[n++] = "-o";
    argv[n++] = "%i|%T|%r";
    argv[n++] = "-j";
    argv[n++] = ids;
    argv[n] = NULL;
}

/* Tells p that command c could not be carried out (why). */
static void answer_failure(zd_prov *p, double now, const command *c, const char *why) {
    if (c->kind == ZD_PROV_SUBMIT)
        zd_prov_on_submitted(p, now, c->job, NULL, why);
    else if (c->kind == ZD_PROV_POLL)
        zd_prov_on_poll_failed(p, now, why);
}

/* Starts the next command queued, if nothing runs. A CANCEL waits for zd_slurm_drain(). */
static void start_next(zd_slurm *s, zd_prov *p, double now) {
    while (s->pid == 0 && s->n_queue > 0 && s->queue[0].kind != ZD_PROV_CANCEL) {
        command c = s->queue[0];
        memmove(s->queue, s->queue + 1, --s->n_queue * sizeof *s->queue);
        char *argv[MAX_ARGS + 1], buf[2][64], ids[4096];
        if (c.kind == ZD_PROV_SUBMIT)
            submit_argv(s, zd_prov_job_at(p, c.job), argv, buf);
        else
            poll_argv(s, p, argv, ids, sizeof ids);
        if (c.kind == ZD_PROV_POLL && !ids[0]) {
            zd_prov_on_states(p, now, NULL, 0);
            continue;
        }
        s->running = c;
        if (spawn(s, argv) < 0) {
            char why[256];
            snprintf(why, sizeof why, "cannot start %s: %s", argv[0], strerror(errno));
            zd_logf(&s->cfg.log, ZDAG_LOG_ERROR, "%s", why);
            answer_failure(p, now, &c, why);
        }
    }
}

void zd_slurm_queue(zd_slurm *s, zd_prov *p, double now, const zd_prov_action *a, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (a[i].kind == ZD_PROV_GIVE_UP)
            continue;
        if (s->n_queue == s->cap_queue) {
            size_t cap = s->cap_queue ? 2 * s->cap_queue : 8;
            command *q = realloc(s->queue, cap * sizeof *q);
            if (!q) {
                zd_logf(&s->cfg.log, ZDAG_LOG_ERROR, "out of memory for a Slurm command");
                continue;
            }
            s->queue = q;
            s->cap_queue = cap;
        }
        s->queue[s->n_queue++] = (command){a[i].kind, a[i].job};
    }
    start_next(s, p, now);
}

int zd_slurm_fds(const zd_slurm *s, int fds[2]) {
    int n = 0;
    if (s->out_fd >= 0)
        fds[n++] = s->out_fd;
    if (s->err_fd >= 0)
        fds[n++] = s->err_fd;
    return n;
}

int zd_slurm_timeout_ms(const zd_slurm *s) {
    if (s->pid == 0)
        return -1;
    double left = s->started + COMMAND_LIMIT_S - mono();
    return left <= 0 ? 0 : (int)ceil(left * 1000);
}

/* Reads what fd has into buf (keeping at most max bytes); closes it at end of input. */
static void read_some(int *fd, char *buf, size_t *len, size_t max) {
    char chunk[4096];
    for (;;) {
        ssize_t r = read(*fd, chunk, sizeof chunk);
        if (r > 0) {
            size_t keep = *len + (size_t)r <= max ? (size_t)r : max - *len;
            memcpy(buf + *len, chunk, keep);
            *len += keep;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        close(*fd);
        *fd = -1;
        return;
    }
}

/* The command's stderr as one line, for messages. */
static const char *err_text(zd_slurm *s) {
    s->err[s->err_len < ERR_MAX ? s->err_len : ERR_MAX - 1] = '\0';
    for (char *c = s->err; *c; c++)
        if (*c == '\n')
            *c = *(c + 1) ? ' ' : '\0';
    return s->err;
}

/* True when every line scancel wrote (err, NUL-terminated) says a job has ended already (a
 * lost worker's job that was killed, say): nothing went wrong. */
static bool ended_already(const char *err) {
    bool any = false;
    for (const char *line = err; *line; line += strcspn(line, "\n"), line += *line == '\n') {
        size_t len = strcspn(line, "\n");
        if (len == 0)
            continue;
        char one[512];
        snprintf(one, sizeof one, "%.*s", (int)len, line);
        if (!strstr(one, "already completing or completed") && !strstr(one, "Invalid job id"))
            return false;
        any = true;
    }
    return any;
}

/* The command ended (status from waitpid): its answer goes to p. */
static void finished(zd_slurm *s, zd_prov *p, double now, int status) {
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    s->out[s->out_len] = '\0';
    s->err[s->err_len] = '\0';
    bool only_ended = ended_already(s->err);
    const char *err = err_text(s);
    char why[ERR_MAX + 64];
    snprintf(why, sizeof why, "%s",
             err[0]                ? err
             : WIFSIGNALED(status) ? "killed by a signal"
                                   : "it failed without a message");
    if (s->running.kind == ZD_PROV_SUBMIT) {
        char id[ZD_PROV_ID_MAX];
        bool got = ok && zd_slurm_parse_sbatch(s->out, id, sizeof id);
        zd_prov_on_submitted(p, now, s->running.job, got ? id : NULL,
                             ok ? "its output holds no job id" : why);
    } else if (s->running.kind == ZD_PROV_POLL) {
        zd_prov_answer a[256];
        /* squeue -j of one job it no longer knows fails so: that job has left the queue. */
        if (!ok && !strstr(err, "Invalid job id")) {
            zd_prov_on_poll_failed(p, now, why);
        } else {
            size_t n = ok ? zd_slurm_parse_squeue(s->out, a, 256) : 0;
            zd_prov_on_states(p, now, a, n);
        }
    } else if (!ok && !only_ended) {
        zd_logf(&s->cfg.log, ZDAG_LOG_WARNING, "scancel failed: %s", why);
    }
}

/* Reads the command's output; reaps it once both pipes are closed (or kills it past its
 * limit). Returns true when it has ended. */
static bool settle(zd_slurm *s, zd_prov *p, double now) {
    if (s->out_fd >= 0)
        read_some(&s->out_fd, s->out, &s->out_len, OUT_MAX);
    if (s->err_fd >= 0)
        read_some(&s->err_fd, s->err, &s->err_len, ERR_MAX - 1);
    bool late = mono() - s->started > COMMAND_LIMIT_S;
    if (!late && (s->out_fd >= 0 || s->err_fd >= 0))
        return false;
    if (late) {
        kill(-s->pid, SIGKILL);
        snprintf(s->err, sizeof s->err, "no answer within %g s", COMMAND_LIMIT_S);
        s->err_len = strlen(s->err);
    }
    int status = 0;
    waitpid(s->pid, &status, 0); /* it closed its output (or was killed): it is ending */
    s->pid = 0;
    close_fds(s);
    finished(s, p, now, status);
    return true;
}

void zd_slurm_step(zd_slurm *s, zd_prov *p, double now) {
    if (s->pid > 0 && !settle(s, p, now))
        return;
    start_next(s, p, now);
}

/* Waits (polling its pipes) until the command running has ended, at most timeout_s. */
static void wait_command(zd_slurm *s, zd_prov *p, double now, double timeout_s) {
    double until = mono() + timeout_s;
    while (s->pid > 0 && !settle(s, p, now)) {
        struct pollfd fds[2];
        int fd[2], n = zd_slurm_fds(s, fd);
        for (int i = 0; i < n; i++)
            fds[i] = (struct pollfd){fd[i], POLLIN, 0};
        double left = until - mono();
        if (left <= 0) {
            s->started = 0; /* past its limit: settle() kills it */
            continue;
        }
        poll(fds, (nfds_t)n, (int)ceil(left * 1000));
    }
}

void zd_slurm_drain(zd_slurm *s, zd_prov *p, double now, double timeout_s) {
    wait_command(s, p, now, timeout_s);
    size_t n_acts;
    const zd_prov_action *acts = zd_prov_actions(p, &n_acts); /* a job it answered for */
    zd_slurm_queue(s, p, now, acts, n_acts);
    char *argv[MAX_ARGS + 2];
    size_t n = 0;
    argv[n++] = (char *)(s->cfg.scancel ? s->cfg.scancel : "scancel");
    for (size_t i = 0; i < s->n_queue; i++) {
        const zd_prov_job *j = zd_prov_job_at(p, s->queue[i].job);
        if (s->queue[i].kind == ZD_PROV_CANCEL && j && j->id[0] && n < MAX_ARGS)
            argv[n++] = (char *)j->id;
    }
    argv[n] = NULL;
    s->n_queue = 0;
    if (n == 1)
        return;
    s->running = (command){ZD_PROV_CANCEL, 0};
    if (spawn(s, argv) < 0) {
        zd_logf(&s->cfg.log, ZDAG_LOG_ERROR, "cannot start %s: %s", argv[0], strerror(errno));
        return;
    }
    zd_logf(&s->cfg.log, ZDAG_LOG_INFO, "cancelling %zu Slurm worker job%s that did not join",
            n - 1, n == 2 ? "" : "s");
    wait_command(s, p, now, timeout_s);
}
