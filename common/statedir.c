/* The state directory: creation with tight permissions, journal names, the lock. */
#include "statedir.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdag.h"

/* Creates path (0700) when missing, or (when `create` is false) leaves a missing one alone; an
 * existing directory of ours loses its group and other permissions. */
static int prepare_one(const char *path, bool create, zd_diags *d) {
    if (create && mkdir(path, ZD_STATE_DIR_MODE) == 0)
        return 0;
    if (create && errno != EEXIST) {
        zd_diags_add(d, "zdag", 0, 0, "cannot create the state directory %s: %s", path,
                     strerror(errno));
        return ZDAG_ESTATE;
    }
    struct stat st;
    if (stat(path, &st) < 0) {
        if (!create && errno == ENOENT)
            return 0;
        zd_diags_add(d, "zdag", 0, 0, "cannot use the state directory %s: %s", path,
                     strerror(errno));
        return ZDAG_ESTATE;
    }
    if (!S_ISDIR(st.st_mode)) {
        zd_diags_add(d, "zdag", 0, 0, "the state directory %s is not a directory", path);
        return ZDAG_ESTATE;
    }
    /* Somebody else's directory (a shared one, set up by hand) keeps its mode. */
    if ((st.st_mode & 077) && st.st_uid == geteuid() &&
        chmod(path, st.st_mode & ZD_STATE_DIR_MODE) < 0) {
        zd_diags_add(d, "zdag", 0, 0, "cannot restrict the permissions of %s: %s", path,
                     strerror(errno));
        return ZDAG_ESTATE;
    }
    return 0;
}

int zd_statedir_prepare(const char *dir, zd_diags *d) {
    char sub[PATH_MAX];
    int rc = prepare_one(dir, true, d);
    if (rc == 0 && snprintf(sub, sizeof sub, "%s/" ZD_STATE_LOGS, dir) < (int)sizeof sub)
        rc = prepare_one(sub, true, d);
    if (rc == 0 && snprintf(sub, sizeof sub, "%s/" ZD_STATE_RESULTS, dir) < (int)sizeof sub)
        rc = prepare_one(sub, false, d);
    return rc;
}

int zd_statedir_journal_path(const char *dir, const char *pipeline_id, char *out, size_t size) {
    const char *slash = strrchr(pipeline_id, '/');
    const char *base = slash ? slash + 1 : pipeline_id;
    char name[256];
    size_t k = 0;
    for (; base[k] && k < sizeof name - 1; k++)
        name[k] = (isalnum((unsigned char)base[k]) || strchr("._-", base[k])) ? base[k] : '_';
    name[k] = '\0';
    int n = snprintf(out, size, "%s/%s.journal", dir, k ? name : "pipeline");
    return n < 0 || (size_t)n >= size ? ZDAG_ESTATE : 0;
}

struct zd_statedir_lock {
    int fd;     /* dir/lock, holding the flock */
    char *path; /* dir/lock */
};

int zd_statedir_lock_take(const char *dir, zd_statedir_lock **out, zd_diags *d) {
    *out = NULL;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/lock", dir) >= (int)sizeof path) {
        zd_diags_add(d, "zdag", 0, 0, "state directory path too long: %s", dir);
        return ZDAG_ESTATE;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, ZD_STATE_FILE_MODE);
    if (fd < 0) {
        zd_diags_add(d, "zdag", 0, 0, "cannot write to the state directory %s: %s", dir,
                     strerror(errno));
        return ZDAG_ESTATE;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno;
        if (err == EINTR)
            continue;
        if (err != EWOULDBLOCK)
            zd_diags_add(d, "zdag", 0, 0, "cannot lock %s: %s", path, strerror(err));
        char pid[32] = {0};
        ssize_t n = err == EWOULDBLOCK ? pread(fd, pid, sizeof pid - 1, 0) : -1;
        long holder = n > 0 ? strtol(pid, NULL, 10) : 0;
        if (n >= 0 && holder > 0)
            zd_diags_add(d, "zdag", 0, 0,
                         "state directory %s is in use by another zdag run (pid %ld)", dir, holder);
        else if (n >= 0)
            zd_diags_add(d, "zdag", 0, 0,
                         "state directory %s is in use by another zdag run (pid unknown)", dir);
        close(fd);
        return ZDAG_ESTATE;
    }
    zd_statedir_lock *l = calloc(1, sizeof *l);
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (l && !(l->path = strdup(path))) {
        free(l);
        l = NULL;
    }
    if (!l) {
        close(fd);
        return ZDAG_ENOMEM;
    }
    l->fd = fd;
    /* An old lock file may be 0644: the pid is nobody else's business either. */
    if (fchmod(fd, ZD_STATE_FILE_MODE) < 0 || ftruncate(fd, 0) < 0 ||
        pwrite(fd, pid, (size_t)len, 0) != len) {
        zd_diags_add(d, "zdag", 0, 0, "cannot write to %s: %s", path, strerror(errno));
        zd_statedir_lock_release(&l);
        return ZDAG_ESTATE;
    }
    *out = l;
    return 0;
}

void zd_statedir_lock_release(zd_statedir_lock **lp) {
    if (!lp || !*lp)
        return;
    zd_statedir_lock *l = *lp;
    /* Clear our pid before the lock goes, so that nobody blames a finished run. A failure is
     * harmless: the pid is only read while somebody holds the lock. */
    int unused = ftruncate(l->fd, 0);
    (void)unused;
    flock(l->fd, LOCK_UN);
    close(l->fd);
    free(l->path);
    free(l);
    *lp = NULL;
}
