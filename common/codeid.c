/* Code identities: an ELF build-id note when there is one, the file's SHA-256 otherwise. */
#include "codeid.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "defhash.h"
#include "zdag.h"

#define MAX_PHDRS 4096        /* program headers looked at, at most */
#define MAX_NOTES (64 * 1024) /* bytes of one PT_NOTE segment read, at most */
#define MAX_BUILD_ID 64       /* bytes in a build-id (SHA-1 gives 20, some linkers 16 or 32) */
#define CHUNK (64 * 1024)     /* bytes read at a time when hashing a whole file */

typedef struct cache_entry {
    char *path;                 /* owned */
    dev_t dev;                  /* the file's device ... */
    ino_t ino;                  /* ... and inode when it was read */
    off_t size;                 /* its size then */
    struct timespec mtime;      /* its modification time then */
    uint8_t id[ZD_CODEID_SIZE]; /* its identity */
} cache_entry;

struct zd_codeid_cache {
    cache_entry *entries; /* files read so far */
    size_t n, cap;        /* entries used, allocated */
    size_t reads;         /* files actually read */
};

zd_codeid_cache *zd_codeid_cache_new(void) {
    return calloc(1, sizeof(zd_codeid_cache));
}

void zd_codeid_cache_free(zd_codeid_cache **cp) {
    if (!cp || !*cp)
        return;
    for (size_t i = 0; i < (*cp)->n; i++)
        free((*cp)->entries[i].path);
    free((*cp)->entries);
    free(*cp);
    *cp = NULL;
}

size_t zd_codeid_reads(const zd_codeid_cache *c) {
    return c ? c->reads : 0;
}

static bool same_file(const cache_entry *e, const char *path, const struct stat *st) {
    return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
           e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           strcmp(e->path, path) == 0;
}

/* Reads exactly len bytes at off; false on a short read or an error. */
static bool read_at(int fd, void *buf, size_t len, off_t off) {
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* Looks for an NT_GNU_BUILD_ID note named "GNU" in notes[0..len); stores it in id/id_len. */
static bool find_build_id(const uint8_t *notes, size_t len, size_t align, uint8_t *id,
                          size_t *id_len) {
    size_t at = 0;
    while (len - at >= sizeof(Elf64_Nhdr)) { /* Elf32_Nhdr is the same three words */
        Elf64_Nhdr h;
        memcpy(&h, notes + at, sizeof h);
        at += sizeof h;
        size_t name = ((size_t)h.n_namesz + align - 1) / align * align;
        size_t desc = ((size_t)h.n_descsz + align - 1) / align * align;
        if (h.n_namesz > len || h.n_descsz > len || name > len - at || desc > len - at - name)
            return false;
        if (h.n_type == NT_GNU_BUILD_ID && h.n_namesz == 4 && memcmp(notes + at, "GNU", 4) == 0 &&
            h.n_descsz > 0 && h.n_descsz <= MAX_BUILD_ID) {
            memcpy(id, notes + at + name, h.n_descsz);
            *id_len = h.n_descsz;
            return true;
        }
        at += name + desc;
    }
    return false;
}

/* One program header, whatever the class, reduced to what is needed here. */
typedef struct phdr {
    uint32_t type;
    uint64_t offset, filesz, align;
} phdr;

static bool read_phdr(int fd, bool is64, uint64_t off, phdr *p) {
    if (is64) {
        Elf64_Phdr h;
        if (!read_at(fd, &h, sizeof h, (off_t)off))
            return false;
        *p = (phdr){h.p_type, h.p_offset, h.p_filesz, h.p_align};
    } else {
        Elf32_Phdr h;
        if (!read_at(fd, &h, sizeof h, (off_t)off))
            return false;
        *p = (phdr){h.p_type, h.p_offset, h.p_filesz, h.p_align};
    }
    return true;
}

/* The build-id of an ELF file of this machine's class and byte order, from its PT_NOTE
 * segments. False when there is none (or the file is no such ELF file). */
/* The ELF header of a file of this machine's class and byte order, whatever the class,
 * reduced to what is needed here. */
typedef struct ehdr {
    bool is64;
    uint64_t phoff, shoff;
    size_t phentsize, phnum, shentsize, shnum;
} ehdr;

/* False when fd is no ELF file of this machine's byte order (32 or 64 bits). */
static bool read_ehdr(int fd, ehdr *e) {
    unsigned char ident[EI_NIDENT];
    if (!read_at(fd, ident, sizeof ident, 0) || memcmp(ident, ELFMAG, SELFMAG) != 0)
        return false;
    static const uint16_t one = 1;
    int host_data = *(const uint8_t *)&one ? ELFDATA2LSB : ELFDATA2MSB;
    if (ident[EI_DATA] != host_data ||
        (ident[EI_CLASS] != ELFCLASS64 && ident[EI_CLASS] != ELFCLASS32))
        return false;
    if (ident[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr h;
        if (!read_at(fd, &h, sizeof h, 0))
            return false;
        *e = (ehdr){true, h.e_phoff, h.e_shoff, h.e_phentsize, h.e_phnum, h.e_shentsize, h.e_shnum};
    } else {
        Elf32_Ehdr h;
        if (!read_at(fd, &h, sizeof h, 0))
            return false;
        *e =
            (ehdr){false, h.e_phoff, h.e_shoff, h.e_phentsize, h.e_phnum, h.e_shentsize, h.e_shnum};
    }
    return true;
}

static bool elf_build_id(int fd, off_t size, uint8_t *id, size_t *id_len) {
    ehdr e;
    if (!read_ehdr(fd, &e))
        return false;
    bool is64 = e.is64;
    uint64_t phoff = e.phoff;
    size_t phentsize = e.phentsize, phnum = e.phnum;
    if (phentsize != (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) || phnum > MAX_PHDRS ||
        phoff > (uint64_t)size)
        return false;
    uint8_t *notes = NULL;
    bool found = false;
    for (size_t i = 0; !found && i < phnum; i++) {
        phdr p;
        if (!read_phdr(fd, is64, phoff + i * phentsize, &p))
            break;
        if (p.type != PT_NOTE || p.filesz == 0 || p.filesz > MAX_NOTES ||
            p.offset > (uint64_t)size || p.filesz > (uint64_t)size - p.offset)
            continue;
        if (!notes && !(notes = malloc(MAX_NOTES)))
            break;
        if (read_at(fd, notes, (size_t)p.filesz, (off_t)p.offset))
            found = find_build_id(notes, (size_t)p.filesz, p.align == 8 ? 8 : 4, id, id_len);
    }
    free(notes);
    return found;
}

/* The identity of the open regular file fd (see codeid.h). */
static int identify(int fd, off_t size, uint8_t out[ZD_CODEID_SIZE]) {
    static const char build_tag[] = "zdag-build-id", content_tag[] = "zdag-content";
    uint8_t id[MAX_BUILD_ID];
    size_t id_len = 0;
    zd_sha256 s;
    zd_sha256_init(&s);
    if (elf_build_id(fd, size, id, &id_len)) {
        zd_sha256_update(&s, build_tag, sizeof build_tag - 1);
        zd_sha256_update(&s, id, id_len);
        zd_sha256_final(&s, out);
        return 0;
    }
    uint8_t *buf = malloc(CHUNK);
    if (!buf)
        return ZDAG_ENOMEM;
    zd_sha256_update(&s, content_tag, sizeof content_tag - 1);
    int rc = 0;
    for (off_t at = 0;;) {
        ssize_t r = pread(fd, buf, CHUNK, at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = ZDAG_EIO;
            break;
        }
        if (r == 0)
            break;
        zd_sha256_update(&s, buf, (size_t)r);
        at += r;
    }
    free(buf);
    zd_sha256_final(&s, out);
    return rc;
}

static int remember(zd_codeid_cache *c, const char *path, const struct stat *st,
                    const uint8_t id[ZD_CODEID_SIZE]) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        cache_entry *e = realloc(c->entries, cap * sizeof *e);
        if (!e)
            return ZDAG_ENOMEM;
        c->entries = e;
        c->cap = cap;
    }
    cache_entry *e = &c->entries[c->n];
    if (!(e->path = strdup(path)))
        return ZDAG_ENOMEM;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
    memcpy(e->id, id, ZD_CODEID_SIZE);
    c->n++;
    return 0;
}

int zd_codeid_file(zd_codeid_cache *c, const char *path, uint8_t out[ZD_CODEID_SIZE]) {
    memset(out, 0, ZD_CODEID_SIZE);
    if (!c || !path)
        return ZDAG_EINVAL;
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return ZDAG_ENOENT;
    for (size_t i = 0; i < c->n; i++)
        if (same_file(&c->entries[i], path, &st)) {
            memcpy(out, c->entries[i].id, ZD_CODEID_SIZE);
            return 0;
        }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ZDAG_ENOENT;
    /* What was read decides the cache key, not what stat() saw a moment before. */
    int rc = fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ? ZDAG_ENOENT : 0;
    if (rc == 0) {
        c->reads++;
        rc = identify(fd, st.st_size, out);
    }
    close(fd);
    if (rc == 0)
        rc = remember(c, path, &st, out);
    if (rc < 0)
        memset(out, 0, ZD_CODEID_SIZE);
    return rc;
}

int zd_codeid_self(zd_codeid_cache *c, uint8_t out[ZD_CODEID_SIZE]) {
    return zd_codeid_file(c, "/proc/self/exe", out);
}

/* ---- Exports ---- */

#define MAX_SECTIONS 65535            /* section headers looked at, at most */
#define MAX_TABLE (256 * 1024 * 1024) /* bytes of .dynsym or .dynstr read, at most */

struct zd_codeid_exports {
    char *strtab;       /* the .dynstr section, NUL-terminated (owned) */
    const char **names; /* sorted; point into strtab */
    size_t n;           /* entries in names */
};

/* One section header, whatever the class, reduced to what is needed here. */
typedef struct shdr {
    uint32_t type, link;
    uint64_t offset, size, entsize;
} shdr;

static bool read_shdr(int fd, bool is64, uint64_t off, shdr *s) {
    if (is64) {
        Elf64_Shdr h;
        if (!read_at(fd, &h, sizeof h, (off_t)off))
            return false;
        *s = (shdr){h.sh_type, h.sh_link, h.sh_offset, h.sh_size, h.sh_entsize};
    } else {
        Elf32_Shdr h;
        if (!read_at(fd, &h, sizeof h, (off_t)off))
            return false;
        *s = (shdr){h.sh_type, h.sh_link, h.sh_offset, h.sh_size, h.sh_entsize};
    }
    return true;
}

static bool fits(const shdr *s, off_t size) {
    return s->size <= MAX_TABLE && s->offset <= (uint64_t)size &&
           s->size <= (uint64_t)size - s->offset;
}

/* Whether symbol i of the table (entsize bytes each) is one dlsym() can find; its name
 * offset in *name. */
static bool exported(const uint8_t *syms, size_t i, bool is64, uint32_t *name) {
    unsigned char info, other;
    uint16_t shndx;
    if (is64) {
        Elf64_Sym s;
        memcpy(&s, syms + i * sizeof s, sizeof s);
        *name = s.st_name, info = s.st_info, other = s.st_other, shndx = s.st_shndx;
    } else {
        Elf32_Sym s;
        memcpy(&s, syms + i * sizeof s, sizeof s);
        *name = s.st_name, info = s.st_info, other = s.st_other, shndx = s.st_shndx;
    }
    int bind = ELF64_ST_BIND(info), vis = ELF64_ST_VISIBILITY(other);
    return shndx != SHN_UNDEF && *name != 0 &&
           (bind == STB_GLOBAL || bind == STB_WEAK || bind == STB_GNU_UNIQUE) &&
           (vis == STV_DEFAULT || vis == STV_PROTECTED);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reads .dynsym and its string table into e. False when they cannot be told. */
static bool read_exports(int fd, off_t size, zd_codeid_exports *e, bool *oom) {
    ehdr h;
    if (!read_ehdr(fd, &h))
        return false;
    bool is64 = h.is64;
    uint64_t shoff = h.shoff;
    size_t shentsize = h.shentsize, shnum = h.shnum;
    size_t symsize = is64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
    if (shoff == 0 || shnum == 0 || shnum > MAX_SECTIONS ||
        shentsize != (is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr)) || shoff > (uint64_t)size ||
        (uint64_t)shnum * shentsize > (uint64_t)size - shoff)
        return false;
    shdr dynsym, strtab;
    size_t i = 0;
    for (; i < shnum; i++)
        if (!read_shdr(fd, is64, shoff + i * shentsize, &dynsym))
            return false;
        else if (dynsym.type == SHT_DYNSYM)
            break;
    if (i == shnum || dynsym.entsize != symsize || dynsym.size % symsize != 0 ||
        !fits(&dynsym, size) || dynsym.link == 0 || dynsym.link >= shnum ||
        !read_shdr(fd, is64, shoff + (uint64_t)dynsym.link * shentsize, &strtab) ||
        strtab.type != SHT_STRTAB || !fits(&strtab, size))
        return false;
    size_t n_syms = (size_t)(dynsym.size / symsize);
    uint8_t *syms = malloc(dynsym.size ? (size_t)dynsym.size : 1);
    e->strtab = malloc((size_t)strtab.size + 1);
    e->names = calloc(n_syms ? n_syms : 1, sizeof *e->names);
    if (!syms || !e->strtab || !e->names) {
        free(syms);
        *oom = true;
        return false;
    }
    bool ok = read_at(fd, syms, (size_t)dynsym.size, (off_t)dynsym.offset) &&
              read_at(fd, e->strtab, (size_t)strtab.size, (off_t)strtab.offset);
    e->strtab[strtab.size] = '\0'; /* a name running off the end stops here */
    for (size_t k = 0; ok && k < n_syms; k++) {
        uint32_t name;
        if (exported(syms, k, is64, &name) && name < strtab.size)
            e->names[e->n++] = e->strtab + name;
    }
    free(syms);
    if (ok && e->n > 1)
        qsort(e->names, e->n, sizeof *e->names, compare_names);
    return ok;
}

int zd_codeid_exports_read(const char *path, zd_codeid_exports **out) {
    *out = NULL;
    zd_codeid_exports *e = calloc(1, sizeof *e);
    if (!e)
        return ZDAG_ENOMEM;
    bool oom = false, ok = false;
    struct stat st;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        ok = read_exports(fd, st.st_size, e, &oom);
    if (fd >= 0)
        close(fd);
    if (ok)
        *out = e;
    else
        zd_codeid_exports_free(&e);
    return oom ? ZDAG_ENOMEM : 0;
}

bool zd_codeid_exports_has(const zd_codeid_exports *e, const char *name) {
    if (!e)
        return true;
    return name && e->n > 0 &&
           bsearch(&name, e->names, e->n, sizeof *e->names, compare_names) != NULL;
}

void zd_codeid_exports_free(zd_codeid_exports **ep) {
    if (!ep || !*ep)
        return;
    free((*ep)->strtab);
    free((*ep)->names);
    free(*ep);
    *ep = NULL;
}
