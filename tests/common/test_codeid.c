/* Tests of common/codeid.c: an ELF build-id note decides a file's identity when there is one
 * (whatever else changes in the file), the whole content otherwise; malformed ELF headers fall
 * back to the content; the cache reads a file once per path, inode, size and mtime. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codeid.h"
#include "defhash.h"
#include "zdag.h"

typedef struct fixture {
    char dir[64];   /* mkdtemp'ed */
    char path[128]; /* dir/file */
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/zdag-test-codeid-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/file", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Replaces the file at path with len bytes (a new inode, so the cache sees a new file). */
static void write_file(const char *path, const void *data, size_t len) {
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void sha256_tagged(const char *tag, const void *data, size_t len, uint8_t out[32]) {
    zd_sha256 s;
    zd_sha256_init(&s);
    zd_sha256_update(&s, tag, strlen(tag));
    zd_sha256_update(&s, data, len);
    zd_sha256_final(&s, out);
}

/* A minimal 64-bit ELF file of this machine: a header, one PT_NOTE program header and a note
 * segment holding a GNU property-like note first, then the build-id note, then padding. */
typedef struct fake_elf {
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    uint8_t notes[64];
    uint8_t tail[32]; /* "code": not part of the identity when there is a build-id */
} fake_elf;

static void make_elf(fake_elf *e, const uint8_t *id, size_t id_len) {
    memset(e, 0, sizeof *e);
    memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
    e->eh.e_ident[EI_CLASS] = ELFCLASS64;
    static const uint16_t one = 1;
    e->eh.e_ident[EI_DATA] = *(const uint8_t *)&one ? ELFDATA2LSB : ELFDATA2MSB;
    e->eh.e_ident[EI_VERSION] = EV_CURRENT;
    e->eh.e_type = ET_DYN;
    e->eh.e_phoff = offsetof(fake_elf, ph);
    e->eh.e_phentsize = sizeof(Elf64_Phdr);
    e->eh.e_phnum = 1;
    e->ph.p_type = PT_NOTE;
    e->ph.p_offset = offsetof(fake_elf, notes);
    e->ph.p_align = 4;
    uint8_t *p = e->notes;
    Elf64_Nhdr other = {.n_namesz = 4, .n_descsz = 4, .n_type = 1 /* NT_GNU_ABI_TAG */};
    memcpy(p, &other, sizeof other);
    memcpy(p + sizeof other, "GNU", 4);
    p += sizeof other + 4 + 4;
    Elf64_Nhdr h = {.n_namesz = 4, .n_descsz = (Elf64_Word)id_len, .n_type = NT_GNU_BUILD_ID};
    memcpy(p, &h, sizeof h);
    memcpy(p + sizeof h, "GNU", 4);
    memcpy(p + sizeof h + 4, id, id_len);
    p += sizeof h + 4 + (id_len + 3) / 4 * 4;
    e->ph.p_filesz = (Elf64_Xword)(p - e->notes);
    memset(e->tail, 0x90, sizeof e->tail);
}

static void test_plain_file_by_content(void **state) {
    fixture *f = *state;
    zd_codeid_cache *c = zd_codeid_cache_new();
    uint8_t got[32], want[32];
    write_file(f->path, "not an ELF file", 15);
    assert_int_equal(zd_codeid_file(c, f->path, got), 0);
    sha256_tagged("zdag-content", "not an ELF file", 15, want);
    assert_memory_equal(got, want, 32);
    write_file(f->path, "not an ELF filE", 15);
    assert_int_equal(zd_codeid_file(c, f->path, got), 0);
    assert_memory_not_equal(got, want, 32);
    write_file(f->path, "", 0);
    assert_int_equal(zd_codeid_file(c, f->path, got), 0);
    sha256_tagged("zdag-content", "", 0, want);
    assert_memory_equal(got, want, 32);
    zd_codeid_cache_free(&c);
    assert_null(c);
    zd_codeid_cache_free(NULL);
}

static void test_build_id_decides(void **state) {
    fixture *f = *state;
    zd_codeid_cache *c = zd_codeid_cache_new();
    static const uint8_t id[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    fake_elf e;
    uint8_t got[32], want[32], again[32];
    make_elf(&e, id, sizeof id);
    write_file(f->path, &e, sizeof e);
    assert_int_equal(zd_codeid_file(c, f->path, got), 0);
    sha256_tagged("zdag-build-id", id, sizeof id, want);
    assert_memory_equal(got, want, 32);
    /* Other bytes change (say, stripped debug info): same build-id, same identity. */
    e.tail[3] = 0xcc;
    write_file(f->path, &e, sizeof e);
    assert_int_equal(zd_codeid_file(c, f->path, again), 0);
    assert_memory_equal(again, want, 32);
    /* Another build-id (code relinked after a change): another identity. */
    uint8_t id2[20];
    memcpy(id2, id, sizeof id2);
    id2[19] = 0xff;
    make_elf(&e, id2, sizeof id2);
    write_file(f->path, &e, sizeof e);
    assert_int_equal(zd_codeid_file(c, f->path, again), 0);
    assert_memory_not_equal(again, want, 32);
    /* An odd-length id (padded to 4) is read exactly. */
    make_elf(&e, id, 7);
    write_file(f->path, &e, sizeof e);
    assert_int_equal(zd_codeid_file(c, f->path, got), 0);
    sha256_tagged("zdag-build-id", id, 7, want);
    assert_memory_equal(got, want, 32);
    zd_codeid_cache_free(&c);
}

/* Headers that do not hold together: the file is identified by its content. */
static void test_malformed_elf_falls_back_to_content(void **state) {
    fixture *f = *state;
    static const uint8_t id[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    fake_elf e;
    uint8_t got[32], want[32];
    for (int k = 0; k < 6; k++) {
        make_elf(&e, id, sizeof id);
        switch (k) {
        case 0:
            e.eh.e_phoff = 1u << 30; /* beyond the file */
            break;
        case 1:
            e.eh.e_phentsize = 12; /* not a program header's size */
            break;
        case 2:
            e.ph.p_filesz = 1u << 20; /* the segment beyond the file */
            break;
        case 3: {
            Elf64_Nhdr huge = {.n_namesz = 0xffffffffu, .n_descsz = 4, .n_type = 1};
            memcpy(e.notes, &huge, sizeof huge); /* a note longer than its segment */
            break;
        }
        case 4:
            e.eh.e_ident[EI_DATA] =
                e.eh.e_ident[EI_DATA] == ELFDATA2LSB ? ELFDATA2MSB : ELFDATA2LSB;
            break;
        case 5:
            e.eh.e_ident[EI_CLASS] = 7; /* no such class */
            break;
        }
        zd_codeid_cache *c = zd_codeid_cache_new();
        write_file(f->path, &e, sizeof e);
        assert_int_equal(zd_codeid_file(c, f->path, got), 0);
        sha256_tagged("zdag-content", &e, sizeof e, want);
        assert_memory_equal(got, want, 32);
        zd_codeid_cache_free(&c);
    }
}

static void test_cache_reads_once(void **state) {
    fixture *f = *state;
    zd_codeid_cache *c = zd_codeid_cache_new();
    uint8_t a[32], b[32];
    write_file(f->path, "version one", 11);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(zd_codeid_file(c, f->path, a), 0);
    assert_int_equal(zd_codeid_reads(c), 1);
    write_file(f->path, "version two!", 12); /* a new file: another inode and size */
    assert_int_equal(zd_codeid_file(c, f->path, b), 0);
    assert_int_equal(zd_codeid_reads(c), 2);
    assert_memory_not_equal(a, b, 32);
    /* The same bytes again under a new inode: read again, same identity. */
    write_file(f->path, "version one", 11);
    assert_int_equal(zd_codeid_file(c, f->path, b), 0);
    assert_int_equal(zd_codeid_reads(c), 3);
    assert_memory_equal(a, b, 32);
    zd_codeid_cache_free(&c);
}

static void test_errors_and_self(void **state) {
    fixture *f = *state;
    zd_codeid_cache *c = zd_codeid_cache_new();
    uint8_t a[32], b[32];
    memset(a, 0xaa, sizeof a);
    assert_int_equal(zd_codeid_file(c, "/nonexistent/plugin.so", a), ZDAG_ENOENT);
    static const uint8_t zero[32] = {0};
    assert_memory_equal(a, zero, 32);
    assert_int_equal(zd_codeid_file(c, f->dir, a), ZDAG_ENOENT); /* a directory */
    assert_int_equal(zd_codeid_file(NULL, f->path, a), ZDAG_EINVAL);
    assert_int_equal(zd_codeid_self(c, a), 0);
    assert_memory_not_equal(a, zero, 32);
    assert_int_equal(zd_codeid_file(c, "/proc/self/exe", b), 0);
    assert_memory_equal(a, b, 32);
    assert_int_equal(zd_codeid_reads(c), 1);
    assert_int_equal(zd_codeid_reads(NULL), 0);
    zd_codeid_cache_free(&c);
}

/* A 64-bit ELF file with section headers: null, .dynsym (linked to 2), .dynstr. */
typedef struct fake_so {
    Elf64_Ehdr eh;
    Elf64_Shdr sh[3];
    Elf64_Sym sym[7];
    char str[96];
} fake_so;

static void make_so(fake_so *f) {
    static const char strings[] = "\0exported_fn\0hidden_fn\0undefined_fn\0local_fn\0weak_fn\0"
                                  "protected_fn";
    memset(f, 0, sizeof *f);
    memcpy(f->eh.e_ident, ELFMAG, SELFMAG);
    f->eh.e_ident[EI_CLASS] = ELFCLASS64;
    static const uint16_t one = 1;
    f->eh.e_ident[EI_DATA] = *(const uint8_t *)&one ? ELFDATA2LSB : ELFDATA2MSB;
    f->eh.e_type = ET_DYN;
    f->eh.e_shoff = offsetof(fake_so, sh);
    f->eh.e_shentsize = sizeof(Elf64_Shdr);
    f->eh.e_shnum = 3;
    f->sh[1] = (Elf64_Shdr){.sh_type = SHT_DYNSYM,
                            .sh_offset = offsetof(fake_so, sym),
                            .sh_size = sizeof f->sym,
                            .sh_link = 2,
                            .sh_entsize = sizeof(Elf64_Sym)};
    f->sh[2] = (Elf64_Shdr){
        .sh_type = SHT_STRTAB, .sh_offset = offsetof(fake_so, str), .sh_size = sizeof strings};
    memcpy(f->str, strings, sizeof strings);
    /* name offsets in strings */
    const uint32_t exported = 1, hidden = 13, undefined = 23, local = 36, weak = 45,
                   protected_ = 53;
    f->sym[1] = (Elf64_Sym){
        .st_name = exported, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = 9};
    f->sym[2] = (Elf64_Sym){.st_name = hidden,
                            .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
                            .st_other = STV_HIDDEN,
                            .st_shndx = 9};
    f->sym[3] = (Elf64_Sym){.st_name = undefined,
                            .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
                            .st_shndx = SHN_UNDEF};
    f->sym[4] =
        (Elf64_Sym){.st_name = local, .st_info = ELF64_ST_INFO(STB_LOCAL, STT_FUNC), .st_shndx = 9};
    f->sym[5] =
        (Elf64_Sym){.st_name = weak, .st_info = ELF64_ST_INFO(STB_WEAK, STT_FUNC), .st_shndx = 9};
    f->sym[6] = (Elf64_Sym){.st_name = protected_,
                            .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT),
                            .st_other = STV_PROTECTED,
                            .st_shndx = 9};
}

static void test_exports(void **state) {
    fixture *f = *state;
    fake_so so;
    make_so(&so);
    write_file(f->path, &so, sizeof so);
    zd_codeid_exports *e = NULL;
    assert_int_equal(zd_codeid_exports_read(f->path, &e), 0);
    assert_non_null(e);
    assert_true(zd_codeid_exports_has(e, "exported_fn"));
    assert_true(zd_codeid_exports_has(e, "weak_fn"));
    assert_true(zd_codeid_exports_has(e, "protected_fn"));
    assert_false(zd_codeid_exports_has(e, "hidden_fn"));
    assert_false(zd_codeid_exports_has(e, "undefined_fn"));
    assert_false(zd_codeid_exports_has(e, "local_fn"));
    assert_false(zd_codeid_exports_has(e, "nothing"));
    assert_false(zd_codeid_exports_has(e, ""));
    assert_false(zd_codeid_exports_has(e, NULL));
    zd_codeid_exports_free(&e);
    assert_null(e);
    zd_codeid_exports_free(NULL);

    /* Cannot be told: NULL, and then any name may come from the file. */
    for (int k = 0; k < 7; k++) {
        make_so(&so);
        switch (k) {
        case 0:
            so.sh[1].sh_link = 3; /* no such section */
            break;
        case 1:
            so.sh[2].sh_type = SHT_PROGBITS; /* the link is no string table */
            break;
        case 2:
            so.sh[1].sh_entsize = 16;
            break;
        case 3:
            so.sh[2].sh_size = 1u << 20; /* beyond the file */
            break;
        case 4:
            so.eh.e_shoff = 0; /* no section headers (stripped to the bone) */
            break;
        case 5:
            so.sh[1].sh_type = SHT_SYMTAB; /* no .dynsym */
            break;
        case 6:
            so.eh.e_shnum = 60000; /* more headers than the file holds */
            break;
        }
        write_file(f->path, &so, sizeof so);
        assert_int_equal(zd_codeid_exports_read(f->path, &e), 0);
        assert_null(e);
        assert_true(zd_codeid_exports_has(e, "anything"));
    }
    /* A name offset past the end of the string table is skipped, not read. */
    make_so(&so);
    so.sym[1].st_name = 4000;
    write_file(f->path, &so, sizeof so);
    assert_int_equal(zd_codeid_exports_read(f->path, &e), 0);
    assert_non_null(e);
    assert_false(zd_codeid_exports_has(e, "exported_fn"));
    assert_true(zd_codeid_exports_has(e, "weak_fn"));
    zd_codeid_exports_free(&e);
    write_file(f->path, "text", 4);
    assert_int_equal(zd_codeid_exports_read(f->path, &e), 0);
    assert_null(e);
    assert_int_equal(zd_codeid_exports_read("/nonexistent", &e), 0);
    assert_null(e);
}

/* The real thing: the C library this test runs with exports printf. */
static void test_exports_of_libc(void **state) {
    (void)state;
    int (*fp)(const char *, ...) = printf;
    void *addr;
    memcpy(&addr, &fp, sizeof addr);
    Dl_info info;
    assert_true(dladdr(addr, &info) != 0);
    zd_codeid_exports *e = NULL;
    assert_int_equal(zd_codeid_exports_read(info.dli_fname, &e), 0);
    assert_non_null(e);
    assert_true(zd_codeid_exports_has(e, "printf"));
    assert_true(zd_codeid_exports_has(e, "malloc"));
    assert_false(zd_codeid_exports_has(e, "zd_codeid_exports_has"));
    zd_codeid_exports_free(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_file_by_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_id_decides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_elf_falls_back_to_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_reads_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_self, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exports, setup, teardown),
        cmocka_unit_test(test_exports_of_libc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
