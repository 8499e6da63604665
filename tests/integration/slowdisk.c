/* test_resume.py's slow disk, for LD_PRELOAD: write() and fdatasync() of a file whose name ends
 * in ".journal" first sleep ZDAG_TEST_SLOW_MS milliseconds (default 300), so that a journal
 * write or sync is still under way when the test looks. Everything else is untouched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int is_journal(int fd) {
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 8)
        return 0;
    path[n] = '\0';
    return strcmp(path + n - 8, ".journal") == 0;
}

static void slow(int fd) {
    if (!is_journal(fd))
        return;
    const char *ms = getenv("ZDAG_TEST_SLOW_MS");
    long v = ms ? strtol(ms, NULL, 10) : 300;
    struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

ssize_t write(int fd, const void *buf, size_t len) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "write"); /* POSIX's way round ISO C */
    slow(fd);
    return real(fd, buf, len);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
    slow(fd);
    return real(fd);
}
