/* CurveZMQ key files and the authorized key set: formats, modes, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"

/* A private directory per test, removed afterwards. */
typedef struct fixture {
    char dir[64];   /* the directory */
    zd_diags diags; /* messages of the call under test */
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/zdag-curve-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    zd_diags_init(&f->diags);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    zd_diags_clear(&f->diags);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* dir/name, in a static buffer per slot (slot 0..3). */
static const char *path_in(fixture *f, int slot, const char *name) {
    static char buf[4][256];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", f->dir, name);
    return buf[slot];
}

static void write_file(const char *path, const char *text, mode_t mode) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* Reads a whole (small) file into buf; returns its length. */
static size_t read_file(const char *path, char *buf, size_t cap) {
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, cap - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return n;
}

static mode_t mode_of(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static bool diags_mention(const zd_diags *d, const char *text) {
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->lines[i], text))
            return true;
    return false;
}

static void test_keygen_files_modes_and_formats(void **state) {
    fixture *f = *state;
    assert_true(zd_curve_available());
    /* The modes are exact whatever the umask: 0 would leave .key open, 077 would hide .pub. */
    mode_t old = umask(0);
    assert_int_equal(zd_curve_keygen(path_in(f, 0, "w1"), &f->diags), 0);
    umask(077);
    assert_int_equal(zd_curve_keygen(path_in(f, 0, "w2"), &f->diags), 0);
    umask(old);
    assert_int_equal(f->diags.n, 0);
    for (int i = 1; i <= 2; i++) {
        char name[32], key[256], pub[256];
        snprintf(name, sizeof name, "w%d.key", i);
        const char *key_path = path_in(f, 1, name);
        snprintf(name, sizeof name, "w%d.pub", i);
        const char *pub_path = path_in(f, 2, name);
        assert_int_equal(mode_of(key_path), 0600);
        assert_int_equal(mode_of(pub_path), 0644);
        /* NAME.key: "public: Z85\nsecret: Z85\n". */
        assert_int_equal(read_file(key_path, key, sizeof key), 2 * (8 + 40 + 1));
        assert_memory_equal(key, "public: ", 8);
        assert_memory_equal(key + 48, "\nsecret: ", 9);
        assert_int_equal(key[97], '\n');
        key[48] = key[97] = '\0';
        assert_true(zd_curve_z85_valid(key + 8, NULL));
        assert_true(zd_curve_z85_valid(key + 57, NULL));
        char derived[41];
        assert_int_equal(zmq_curve_public(derived, key + 57), 0);
        assert_string_equal(derived, key + 8);
        /* NAME.pub: the same public key and a newline. */
        assert_int_equal(read_file(pub_path, pub, sizeof pub), 41);
        assert_int_equal(pub[40], '\n');
        pub[40] = '\0';
        assert_string_equal(pub, key + 8);
    }
    /* Two pairs are two different keys. */
    char a[64], b[64];
    read_file(path_in(f, 0, "w1.pub"), a, sizeof a);
    read_file(path_in(f, 0, "w2.pub"), b, sizeof b);
    assert_string_not_equal(a, b);
}

static void test_keygen_refuses_to_overwrite(void **state) {
    fixture *f = *state;
    assert_int_equal(zd_curve_keygen(path_in(f, 0, "w"), &f->diags), 0);
    char before[256], after[256];
    read_file(path_in(f, 0, "w.key"), before, sizeof before);
    assert_int_equal(zd_curve_keygen(path_in(f, 0, "w"), &f->diags), ZDAG_EEXIST);
    assert_true(diags_mention(&f->diags, "already exists"));
    read_file(path_in(f, 0, "w.key"), after, sizeof after);
    assert_string_equal(before, after);

    /* Only the .pub there: nothing is created. */
    write_file(path_in(f, 0, "p.pub"), "mine\n", 0644);
    assert_int_equal(zd_curve_keygen(path_in(f, 0, "p"), &f->diags), ZDAG_EEXIST);
    assert_int_equal(access(path_in(f, 0, "p.key"), F_OK), -1);
    read_file(path_in(f, 0, "p.pub"), after, sizeof after);
    assert_string_equal(after, "mine\n");

    /* Only the .key there: it is kept and no .pub appears. */
    write_file(path_in(f, 0, "k.key"), "mine\n", 0600);
    assert_int_equal(zd_curve_keygen(path_in(f, 0, "k"), &f->diags), ZDAG_EEXIST);
    assert_int_equal(access(path_in(f, 0, "k.pub"), F_OK), -1);
    read_file(path_in(f, 0, "k.key"), after, sizeof after);
    assert_string_equal(after, "mine\n");

    assert_int_equal(zd_curve_keygen("", &f->diags), ZDAG_EINVAL);
    assert_int_equal(zd_curve_keygen(path_in(f, 0, "sub/"), &f->diags), ZDAG_EINVAL);
    assert_int_equal(zd_curve_keygen(path_in(f, 0, "no/such/dir/w"), &f->diags), ZDAG_ESYS);
}

static void test_load_round_trip(void **state) {
    fixture *f = *state;
    assert_int_equal(zd_curve_keygen(path_in(f, 0, "w"), &f->diags), 0);
    char pub[41], sec[41], pub2[41];
    assert_int_equal(zd_curve_load_secret(path_in(f, 0, "w.key"), pub, sec, &f->diags), 0);
    assert_int_equal(zd_curve_load_public(path_in(f, 0, "w.pub"), pub2, &f->diags), 0);
    assert_string_equal(pub, pub2);
    assert_int_equal(strlen(sec), 40);
    char derived[41];
    assert_int_equal(zmq_curve_public(derived, sec), 0);
    assert_string_equal(derived, pub);
    assert_int_equal(f->diags.n, 0);

    /* Comments, blank lines, CRLF and either order are fine. */
    char text[256];
    snprintf(text, sizeof text, "# worker 1\r\n\r\nsecret: %s\r\npublic: %s\r\n", sec, pub);
    write_file(path_in(f, 0, "crlf.key"), text, 0600);
    char pub3[41], sec3[41];
    assert_int_equal(zd_curve_load_secret(path_in(f, 0, "crlf.key"), pub3, sec3, &f->diags), 0);
    assert_string_equal(pub3, pub);
    assert_string_equal(sec3, sec);
    snprintf(text, sizeof text, "# the coordinator\n%s\r\n\n", pub);
    write_file(path_in(f, 0, "c.pub"), text, 0644);
    assert_int_equal(zd_curve_load_public(path_in(f, 0, "c.pub"), pub3, &f->diags), 0);
    assert_string_equal(pub3, pub);
}

static void test_permissive_secret_refused(void **state) {
    fixture *f = *state;
    assert_int_equal(zd_curve_keygen(path_in(f, 0, "w"), &f->diags), 0);
    const char *key = path_in(f, 1, "w.key");
    char pub[41], sec[41];
    const mode_t bad[] = {0640, 0604, 0660, 0644, 0602};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zd_diags_clear(&f->diags);
        assert_int_equal(chmod(key, bad[i]), 0);
        assert_int_equal(zd_curve_load_secret(key, pub, sec, &f->diags), ZDAG_ESYS);
        assert_int_equal(f->diags.n, 1);
        assert_true(diags_mention(&f->diags, "accessible by group or others"));
        assert_true(diags_mention(&f->diags, "chmod 600"));
        assert_true(diags_mention(&f->diags, key));
    }
    assert_int_equal(chmod(key, 0400), 0);
    assert_int_equal(zd_curve_load_secret(key, pub, sec, &f->diags), 0);

    zd_diags_clear(&f->diags);
    assert_int_equal(zd_curve_load_secret(path_in(f, 0, "none.key"), pub, sec, &f->diags),
                     ZDAG_ENOENT);
    assert_true(diags_mention(&f->diags, "none.key"));
    assert_int_equal(zd_curve_load_secret(f->dir, pub, sec, &f->diags), ZDAG_ESYS);
}

static void test_bad_keys_refused(void **state) {
    fixture *f = *state;
    char pub[41], sec[41], pub_b[41], sec_b[41], text[256];
    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    assert_int_equal(zmq_curve_keypair(pub_b, sec_b), 0);
    char out_pub[41], out_sec[41];
    struct {
        const char *name;
        const char *text;
        const char *says;
    } cases[] = {
        {"short.key", "public: abc\nsecret: def\n", "not a valid key"},
        {"empty.key", "", "missing"},
        {"nosecret.key", NULL, "the secret key is missing"},
        {"mismatch.key", NULL, "does not belong"},
        {"twice.key", NULL, "given twice"},
        {"junk.key", NULL, "expected \"public: KEY\""},
        {"badchar.key", NULL, "not a valid key"},
    };
    snprintf(text, sizeof text, "public: %s\n", pub);
    char t2[256], t3[256], t4[256], t5[256], t6[256];
    cases[2].text = text;
    snprintf(t2, sizeof t2, "public: %s\nsecret: %s\n", pub_b, sec);
    cases[3].text = t2;
    snprintf(t3, sizeof t3, "public: %s\nsecret: %s\npublic: %s\n", pub, sec, pub);
    cases[4].text = t3;
    snprintf(t4, sizeof t4, "public: %s\nsecret: %s\nhello\n", pub, sec);
    cases[5].text = t4;
    snprintf(t5, sizeof t5, "public: %s\nsecret: %s\n", pub, sec);
    t5[8 + 5] = '"'; /* not in the Z85 alphabet */
    cases[6].text = t5;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zd_diags_clear(&f->diags);
        write_file(path_in(f, 0, cases[i].name), cases[i].text, 0600);
        assert_int_equal(
            zd_curve_load_secret(path_in(f, 0, cases[i].name), out_pub, out_sec, &f->diags),
            ZDAG_EINVAL);
        assert_true(diags_mention(&f->diags, cases[i].says));
        assert_true(diags_mention(&f->diags, cases[i].name));
    }

    /* Public key files. */
    const char *bad_pubs[] = {"", "abc\n", "# only a comment\n", t5, "x\ny\n"};
    for (size_t i = 0; i < sizeof bad_pubs / sizeof bad_pubs[0]; i++) {
        write_file(path_in(f, 0, "bad.pub"), bad_pubs[i], 0644);
        assert_int_equal(zd_curve_load_public(path_in(f, 0, "bad.pub"), out_pub, &f->diags),
                         ZDAG_EINVAL);
    }
    zd_diags_clear(&f->diags);
    snprintf(t6, sizeof t6, "%s\n%s\n", pub, pub_b);
    write_file(path_in(f, 0, "two.pub"), t6, 0644);
    assert_int_equal(zd_curve_load_public(path_in(f, 0, "two.pub"), out_pub, &f->diags),
                     ZDAG_EINVAL);
    assert_true(diags_mention(&f->diags, "two.pub:2:1: error: unexpected text"));
    /* A .key given where a .pub belongs is named as such. */
    write_file(path_in(f, 0, "given.key"), t5, 0600);
    snprintf(t6, sizeof t6, "public: %s\nsecret: %s\n", pub, sec);
    write_file(path_in(f, 0, "given.key"), t6, 0600);
    assert_int_equal(zd_curve_load_public(path_in(f, 0, "given.key"), out_pub, &f->diags),
                     ZDAG_EINVAL);
    assert_true(diags_mention(&f->diags, "this is a secret key file"));

    /* Z85 by itself. */
    assert_true(zd_curve_z85_valid(pub, NULL));
    assert_false(zd_curve_z85_valid(NULL, NULL));
    assert_false(zd_curve_z85_valid("", NULL));
    char longer[64];
    snprintf(longer, sizeof longer, "%sA", pub);
    assert_false(zd_curve_z85_valid(longer, NULL));
    /* Valid characters whose 5-character group overflows 32 bits. */
    assert_false(zd_curve_z85_valid("########################################", NULL));
    uint8_t bin[32], expect[32];
    assert_true(zd_curve_z85_valid(pub, bin));
    assert_non_null(zmq_z85_decode(expect, pub));
    assert_memory_equal(bin, expect, 32);

    /* Socket helpers check keys before touching the socket. */
    assert_int_equal(zd_curve_server(NULL, "short"), ZDAG_EINVAL);
    assert_int_equal(zd_curve_client(NULL, pub, "short", pub_b), ZDAG_EINVAL);
}

/* Writes a fresh public key into dir/name with mode; returns it in pub. */
static void new_pub(fixture *f, const char *name, mode_t mode, char pub[41]) {
    char sec[41], text[64];
    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    snprintf(text, sizeof text, "%s\n", pub);
    write_file(path_in(f, 3, name), text, mode);
}

static void test_keyset_from_dir(void **state) {
    fixture *f = *state;
    char a[41], b[41], other[41], hidden[41];
    new_pub(f, "b.pub", 0644, b);
    new_pub(f, "a.pub", 0444, a);
    new_pub(f, ".hidden.pub", 0644, hidden);
    new_pub(f, "notes.txt", 0644, other);
    write_file(path_in(f, 0, "README"), "not a key\n", 0644);
    write_file(path_in(f, 0, "c.pub.bak"), "not a key\n", 0644);
    assert_int_equal(chmod(f->dir, 0755), 0);

    zd_keyset *s = zd_keyset_load(f->dir, &f->diags);
    assert_non_null(s);
    assert_int_equal(f->diags.n, 0);
    assert_int_equal(zd_keyset_size(s), 2);
    uint8_t key[32];
    const char *name = NULL;
    assert_true(zd_curve_z85_valid(a, key));
    assert_true(zd_keyset_has(s, key, &name));
    assert_string_equal(name, "a.pub");
    assert_true(zd_curve_z85_valid(b, key));
    assert_true(zd_keyset_has(s, key, &name));
    assert_string_equal(name, "b.pub");
    assert_true(zd_curve_z85_valid(other, key));
    assert_false(zd_keyset_has(s, key, NULL));
    assert_true(zd_curve_z85_valid(hidden, key));
    assert_false(zd_keyset_has(s, key, NULL));
    zd_keyset_free(&s);
    assert_null(s);
    zd_keyset_free(&s);

    /* Bad .pub files: each is reported, and the set is refused. */
    write_file(path_in(f, 0, "broken.pub"), "abc\n", 0644);
    assert_int_equal(mkdir(path_in(f, 0, "dir.pub"), 0755), 0);
    char sneaky[41];
    new_pub(f, "sneaky.pub", 0666, sneaky);
    assert_null(zd_keyset_load(f->dir, &f->diags));
    assert_int_equal(f->diags.n, 3);
    assert_true(diags_mention(&f->diags, "broken.pub:1:1: error: not a public key"));
    assert_true(diags_mention(&f->diags, "dir.pub: error: not a regular file"));
    assert_true(diags_mention(&f->diags, "sneaky.pub: error: public key file is writable"));
}

static void test_keyset_dir_refusals(void **state) {
    fixture *f = *state;
    /* No .pub at all. */
    assert_int_equal(chmod(f->dir, 0700), 0);
    write_file(path_in(f, 0, "worker.key"), "x\n", 0600);
    assert_null(zd_keyset_load(f->dir, &f->diags));
    assert_true(diags_mention(&f->diags, "no public keys"));
    /* Missing, not a directory, writable by others. */
    zd_diags_clear(&f->diags);
    assert_null(zd_keyset_load(path_in(f, 0, "nope"), &f->diags));
    assert_true(diags_mention(&f->diags, "No such file"));
    assert_null(zd_keyset_load(path_in(f, 0, "worker.key"), &f->diags));
    assert_true(diags_mention(&f->diags, "must be a directory"));
    char pub[41];
    new_pub(f, "w.pub", 0644, pub);
    assert_int_equal(chmod(f->dir, 0777), 0);
    assert_null(zd_keyset_load(f->dir, &f->diags));
    assert_true(diags_mention(&f->diags, "anyone could add a key"));
    assert_int_equal(chmod(f->dir, 0700), 0);
    zd_keyset *s = zd_keyset_load(f->dir, &f->diags);
    assert_non_null(s);
    zd_keyset_free(&s);
}

static void test_keyset_add(void **state) {
    (void)state;
    zd_keyset *s = zd_keyset_new();
    assert_non_null(s);
    char pubs[20][41], sec[41];
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "w%d.pub", i);
        assert_int_equal(zmq_curve_keypair(pubs[i], sec), 0);
        assert_int_equal(zd_keyset_add(s, pubs[i], name), 0);
    }
    assert_int_equal(zd_keyset_add(s, pubs[3], "again.pub"), 0);
    assert_int_equal(zd_keyset_size(s), 20);
    uint8_t key[32];
    const char *name;
    assert_true(zd_curve_z85_valid(pubs[3], key));
    assert_true(zd_keyset_has(s, key, &name));
    assert_string_equal(name, "w3.pub");
    assert_int_equal(zd_keyset_add(s, "short", "x.pub"), ZDAG_EINVAL);
    assert_false(zd_keyset_has(NULL, key, NULL));
    zd_keyset_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keygen_files_modes_and_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keygen_refuses_to_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissive_secret_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_keys_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyset_from_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyset_dir_refusals, setup, teardown),
        cmocka_unit_test(test_keyset_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
