/* libFuzzer harness for the journal reader: the input becomes the file `journal` in a fresh
 * temporary directory and is read with zd_journal_load().
 *
 * Random bytes rarely carry valid CRC-32s, so most inputs would stop at the first checksum. So
 * each input is loaded twice: as it is (framing, torn tails, corruption scans), and once more
 * with the checksum of every whole record recomputed (record decoding and field checks), when
 * that changes anything. A loaded journal must then answer lookups and refuse appends. The file
 * is removed after each input, its directory at exit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framelog.h"
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_journal: %s\n", what);
        abort();
    }
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Rewrites the checksum of each whole record in buf. Returns whether anything changed. */
static bool fix_checksums(uint8_t *buf, size_t size) {
    bool changed = false;
    size_t off = 0;
    while (size - off >= 8) {
        uint32_t len = le32(buf + off);
        if (len > size - off - 8)
            break;
        uint32_t crc = zd_framelog_crc32(0, buf + off + 8, len);
        if (le32(buf + off + 4) != crc) {
            for (int i = 0; i < 4; i++)
                buf[off + 4 + i] = (uint8_t)(crc >> (8 * i));
            changed = true;
        }
        off += 8 + (size_t)len;
    }
    return changed;
}

/* Writes buf to DIR/journal, loads it, checks what came back, removes the file. */
static void load(const char *dir, const uint8_t *buf, size_t size) {
    char path[256];
    snprintf(path, sizeof path, "%s/journal", dir);
    FILE *f = fopen(path, "wb");
    check(f != NULL, "cannot create the journal file");
    check(fwrite(buf, 1, size, f) == size && fclose(f) == 0, "cannot write the journal file");

    zd_journal *j = NULL;
    zd_diags d;
    zd_diags_init(&d);
    int rc = zd_journal_load(path, NULL, &j, &d);
    if (rc == 0) {
        check(j != NULL, "success without a journal");
        check(zd_journal_torn_bytes(j) <= size, "more torn bytes than the file has");
        size_t n = zd_journal_count(j);
        check(n <= size / 8, "more records than the file could hold");
        zd_journal_rec probe = {.name = "x", .run_id = "", .attempts = 1};
        check(zd_journal_append(j, &probe) == ZDAG_EINVAL, "a loaded journal accepted an append");
        (void)zd_journal_find(j, "");
        (void)zd_journal_median_duration(j, "x");
        size_t nh = 0;
        (void)zd_journal_history(j, "x", &nh);
        check(nh <= ZD_JOURNAL_HISTORY, "a history longer than ZD_JOURNAL_HISTORY");
        check(zd_journal_compact(j, true) == ZDAG_EINVAL, "a loaded journal was compacted");
    } else {
        check(j == NULL, "a journal returned with an error");
        check(rc == ZDAG_ESTATE || rc == ZDAG_ENOMEM, "unexpected error code");
        check(d.n > 0, "a refused journal without a message");
    }
    zd_journal_close(&j);
    zd_diags_clear(&d);
    check(unlink(path) == 0, "cannot remove the journal file");
}

/* The temporary directory: made on the first input, removed at exit. */
static char dir[256];

static void remove_dir(void) {
    rmdir(dir);
}

/* Under $TMPDIR, else /dev/shm when there is one (a tmpfs: creating and removing a file per
 * input costs no disk I/O, which otherwise is most of the time), else /tmp. */
static void make_dir(void) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/zdag-fuzz-journal-XXXXXX", tmp);
    check(strlen(dir) < sizeof dir - 1 && mkdtemp(dir) != NULL, "mkdtemp failed");
    atexit(remove_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0])
        make_dir();
    load(dir, data, size);
    uint8_t *copy = malloc(size ? size : 1);
    check(copy != NULL, "out of memory");
    if (size)
        memcpy(copy, data, size);
    if (fix_checksums(copy, size))
        load(dir, copy, size);
    free(copy);
    return 0;
}
