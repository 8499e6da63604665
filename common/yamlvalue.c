/* A guarded cursor over libyaml events: limits, messages, scalar resolution, YAML -> msgpack. */
#include "yamlvalue.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "zdag.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

/* An error held until zd_yaml_flush(), which writes them sorted by position. */
typedef struct pending {
    int line, col; /* 1-based; line 0 = no position (written last) */
    size_t seq;    /* order of report, the tie-breaker */
    char *text;    /* owned message */
} pending;

struct zd_yaml {
    yaml_parser_t parser; /* libyaml's pull parser over buf */
    yaml_event_t event;   /* the current event when has_event */
    bool has_event;       /* event holds something to delete */
    bool stopped;         /* no more events will be read */
    bool failed;          /* stopped before the end of the stream */
    bool nomem;           /* stopped because memory ran out */
    int depth;            /* collections open at the current event */
    uint64_t maps;        /* mapping start events read so far: the id of the current one */
    size_t n_errors;      /* errors reported */
    const char *name;     /* borrowed file name for messages */
    const char *buf;      /* borrowed input, to place reader errors that only have an offset */
    size_t len;           /* bytes in buf */
    zd_diags *diags;      /* borrowed destination of messages */
    zd_strmap *keys;      /* recorded mapping keys: the mapping's id (8 bytes), then the key */
    char *scratch;        /* the key being looked up, built there */
    size_t scratch_cap;   /* bytes allocated in scratch */
    locale_t c_locale;    /* "C" numeric locale for strtod_l, or (locale_t)0 */
    bool started;         /* the first event was asked for (the input was checked) */
    bool too_many;        /* ZD_YAML_MAX_ERRORS was reached */
    pending *errors;      /* errors not yet written to diags */
    size_t n_pending;     /* entries in errors */
    size_t cap_pending;   /* allocated entries in errors */
};

zd_yaml *zd_yaml_open(const char *name, const char *buf, size_t len, zd_diags *diags) {
    zd_yaml *y = calloc(1, sizeof *y);
    if (!y)
        return NULL;
    if (!yaml_parser_initialize(&y->parser)) {
        free(y);
        return NULL;
    }
    yaml_parser_set_input_string(&y->parser, (const unsigned char *)buf, len);
    y->name = name;
    y->buf = buf;
    y->len = len;
    y->diags = diags;
    /* The program may have called setlocale(): numbers in YAML always use a decimal point. */
    y->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    return y;
}

static int by_position(const void *pa, const void *pb) {
    const pending *a = pa, *b = pb;
    unsigned la = a->line > 0 ? (unsigned)a->line : UINT_MAX;
    unsigned lb = b->line > 0 ? (unsigned)b->line : UINT_MAX;
    if (la != lb)
        return la < lb ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void zd_yaml_flush(zd_yaml *y) {
    if (!y)
        return;
    if (y->n_pending > 1) /* y->errors is NULL while none is pending */
        qsort(y->errors, y->n_pending, sizeof *y->errors, by_position);
    for (size_t i = 0; i < y->n_pending; i++) {
        zd_diags_add(y->diags, y->name, y->errors[i].line, y->errors[i].col, "%s",
                     y->errors[i].text);
        free(y->errors[i].text);
    }
    y->n_pending = 0;
    if (y->too_many)
        zd_diags_add(y->diags, y->name, 0, 0, "too many errors, stopping");
    y->too_many = false;
}

void zd_yaml_close(zd_yaml **yp) {
    if (!yp || !*yp)
        return;
    zd_yaml *y = *yp;
    zd_yaml_flush(y);
    free(y->errors);
    if (y->has_event)
        yaml_event_delete(&y->event);
    yaml_parser_delete(&y->parser);
    zd_strmap_free(&y->keys);
    free(y->scratch);
    if (y->c_locale)
        freelocale(y->c_locale);
    free(y);
    *yp = NULL;
}

static void stop(zd_yaml *y, bool failed) {
    y->stopped = true;
    y->failed = y->failed || failed;
}

void zd_yaml_end_input(zd_yaml *y) {
    if (y->has_event) {
        yaml_event_delete(&y->event);
        memset(&y->event, 0, sizeof y->event);
        y->has_event = false;
    }
    stop(y, false);
    y->buf = NULL;
    y->len = 0;
}

static void report(zd_yaml *y, int line, int col, const char *fmt, va_list ap) {
    if (y->n_errors >= ZD_YAML_MAX_ERRORS)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    pending *slot = NULL;
    if (y->n_pending == y->cap_pending) {
        size_t cap = y->cap_pending ? y->cap_pending * 2 : 8;
        pending *more = realloc(y->errors, cap * sizeof *more);
        if (more) {
            y->errors = more;
            y->cap_pending = cap;
        }
    }
    char *text = y->n_pending < y->cap_pending ? strdup(msg) : NULL;
    if (text) {
        slot = &y->errors[y->n_pending++];
        *slot = (pending){.line = line, .col = col, .seq = y->n_errors, .text = text};
    } else {
        zd_diags_add(y->diags, y->name, line, col, "%s", msg); /* unsorted rather than lost */
    }
    if (++y->n_errors == ZD_YAML_MAX_ERRORS) {
        y->too_many = true;
        stop(y, true);
    }
}

void zd_yaml_error(zd_yaml *y, yaml_mark_t at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report(y, (int)at.line + 1, (int)at.column + 1, fmt, ap);
    va_end(ap);
}

void zd_yaml_error_at(zd_yaml *y, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report(y, line, col, fmt, ap);
    va_end(ap);
}

void zd_yaml_fail_nomem(zd_yaml *y) {
    if (!y->nomem)
        zd_diags_add(y->diags, y->name, 0, 0, "out of memory");
    y->nomem = true;
    y->n_errors++;
    stop(y, true);
}

size_t zd_yaml_error_count(const zd_yaml *y) {
    return y->n_errors;
}

bool zd_yaml_failed(const zd_yaml *y) {
    return y->failed;
}

bool zd_yaml_nomem(const zd_yaml *y) {
    return y->nomem;
}

const yaml_event_t *zd_yaml_event(const zd_yaml *y) {
    return &y->event;
}

char *zd_yaml_take_text(zd_yaml *y, size_t *len) {
    /* libyaml allocates with malloc() and frees with free() (yaml_malloc, yaml_free). */
    char *text = (char *)y->event.data.scalar.value;
    *len = y->event.data.scalar.length;
    y->event.data.scalar.value = NULL;
    y->event.data.scalar.length = 0;
    return text;
}

bool zd_yaml_at(const zd_yaml *y, yaml_event_type_t type) {
    return y->event.type == type;
}

uint64_t zd_yaml_map_id(const zd_yaml *y) {
    return y->maps;
}

/* Reader errors (bad UTF-8, control characters) carry a byte offset, not a mark. */
static void offset_position(const zd_yaml *y, size_t offset, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < offset && i < y->len; i++) {
        if (y->buf[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)y->buf[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* When the line at byte `index` (or the line before it) is indented with a tab, stores the tab's
 * 1-based position and returns true. */
static bool tab_indent(const zd_yaml *y, size_t index, int *line, int *col) {
    if (index > y->len)
        index = y->len;
    size_t start = index;
    while (start > 0 && y->buf[start - 1] != '\n')
        start--;
    for (int back = 0; back < 2; back++) {
        for (size_t i = start; i < y->len && (y->buf[i] == ' ' || y->buf[i] == '\t'); i++)
            if (y->buf[i] == '\t') {
                offset_position(y, i, line, col);
                return true;
            }
        if (start == 0)
            break;
        start--; /* the line before: libyaml may complain at the line after a tab */
        while (start > 0 && y->buf[start - 1] != '\n')
            start--;
    }
    return false;
}

static void report_syntax_error(zd_yaml *y) {
    const yaml_parser_t *p = &y->parser;
    const char *problem = p->problem ? p->problem : "unknown error";
    int tab_line, tab_col;
    if (p->error != YAML_MEMORY_ERROR && p->error != YAML_READER_ERROR &&
        tab_indent(y, p->problem_mark.index, &tab_line, &tab_col)) {
        zd_yaml_error_at(y, tab_line, tab_col,
                         "tabs are not allowed for indentation in YAML; use spaces");
        return;
    }
    if (p->error == YAML_MEMORY_ERROR) {
        zd_yaml_fail_nomem(y);
    } else if (p->error == YAML_READER_ERROR) {
        int line, col;
        offset_position(y, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            zd_yaml_error_at(y, line, col, "invalid YAML: %s (#x%X)", problem,
                             (unsigned)p->problem_value);
        else
            zd_yaml_error_at(y, line, col, "invalid YAML: %s", problem);
    } else if (p->context) {
        zd_yaml_error(y, p->problem_mark, "invalid YAML: %s (%s at %d:%d)", problem, p->context,
                      (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    } else {
        zd_yaml_error(y, p->problem_mark, "invalid YAML: %s", problem);
    }
}

typedef enum tag_kind {
    TAG_NONE,  /* no tag: resolve by the core schema */
    TAG_STR,   /* "!" or !!str */
    TAG_NULL,  /* !!null */
    TAG_BOOL,  /* !!bool */
    TAG_INT,   /* !!int */
    TAG_FLOAT, /* !!float */
    TAG_SEQ,   /* !!seq */
    TAG_MAP,   /* !!map */
    TAG_OTHER, /* anything else: unsupported */
} tag_kind;

static tag_kind classify_tag(const yaml_char_t *utag) {
    static const struct {
        const char *suffix;
        tag_kind kind;
    } known[] = {{"str", TAG_STR},     {"null", TAG_NULL}, {"bool", TAG_BOOL}, {"int", TAG_INT},
                 {"float", TAG_FLOAT}, {"seq", TAG_SEQ},   {"map", TAG_MAP}};
    const char *tag = (const char *)utag;
    if (!tag)
        return TAG_NONE;
    if (strcmp(tag, "!") == 0)
        return TAG_STR;
    if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0)
        return TAG_OTHER;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(tag + strlen(TAG_PREFIX), known[i].suffix) == 0)
            return known[i].kind;
    return TAG_OTHER;
}

/* Reports a tag that does not fit the event it is on. */
static void check_tag(zd_yaml *y, const yaml_event_t *ev) {
    const yaml_char_t *tag = NULL;
    bool ok = true;
    tag_kind kind;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        tag = ev->data.scalar.tag;
        kind = classify_tag(tag);
        ok = kind != TAG_SEQ && kind != TAG_MAP && kind != TAG_OTHER;
        break;
    case YAML_SEQUENCE_START_EVENT:
        tag = ev->data.sequence_start.tag;
        kind = classify_tag(tag);
        ok = kind == TAG_NONE || kind == TAG_SEQ || (kind == TAG_STR && tag[1] == '\0');
        break;
    case YAML_MAPPING_START_EVENT:
        tag = ev->data.mapping_start.tag;
        kind = classify_tag(tag);
        ok = kind == TAG_NONE || kind == TAG_MAP || (kind == TAG_STR && tag[1] == '\0');
        break;
    default:
        break;
    }
    if (!ok) {
        char shown[96];
        zd_yaml_error(
            y, ev->start_mark, "unsupported YAML tag %s",
            zd_yaml_quote(shown, sizeof shown, (const char *)tag, strlen((const char *)tag)));
    }
}

/* Length of the valid UTF-8 character at s[0..n), or 0 (overlong forms, surrogates and code
 * points above U+10FFFF are invalid). */
static size_t utf8_char(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len = c < 0x80                 ? 1
                 : c >= 0xC2 && c <= 0xDF ? 2
                 : c >= 0xE0 && c <= 0xEF ? 3
                 : c >= 0xF0 && c <= 0xF4 ? 4
                                          : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

/* A file without a UTF-16 byte order mark must be UTF-8: reports the first byte that is not,
 * with its position, and returns false. */
static bool check_utf8(zd_yaml *y) {
    const unsigned char *s = (const unsigned char *)y->buf;
    if (y->len >= 2 && ((s[0] == 0xFE && s[1] == 0xFF) || (s[0] == 0xFF && s[1] == 0xFE)))
        return true; /* UTF-16: libyaml decodes it */
    for (size_t i = 0; i < y->len;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = utf8_char(s + i, y->len - i);
        if (len == 0) {
            int line, col;
            offset_position(y, i, &line, &col);
            zd_yaml_error_at(y, line, col,
                             "the file is not valid UTF-8 (byte 0x%02X here); a pipeline file "
                             "must be UTF-8 text",
                             s[i]);
            return false;
        }
        i += len;
    }
    return true;
}

bool zd_yaml_next(zd_yaml *y) {
    if (!y->started) {
        y->started = true;
        if (!check_utf8(y)) {
            stop(y, true);
            return false;
        }
    }
    if (y->stopped)
        return false;
    if (y->has_event) {
        bool at_end = y->event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&y->event);
        y->has_event = false;
        if (at_end) {
            stop(y, false);
            return false;
        }
    }
    if (!yaml_parser_parse(&y->parser, &y->event)) {
        report_syntax_error(y);
        stop(y, true);
        return false;
    }
    y->has_event = true;
    const yaml_event_t *ev = &y->event;
    switch (ev->type) {
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        if (ev->type == YAML_MAPPING_START_EVENT)
            y->maps++;
        if (++y->depth > ZD_YAML_MAX_DEPTH) {
            zd_yaml_error(y, ev->start_mark, "nesting deeper than %d levels", ZD_YAML_MAX_DEPTH);
            stop(y, true);
            return false;
        }
        check_tag(y, ev);
        break;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        y->depth--;
        break;
    case YAML_SCALAR_EVENT:
        check_tag(y, ev);
        break;
    case YAML_ALIAS_EVENT:
        /* libyaml restricts anchor names to [0-9A-Za-z_-]: safe to print as they are. */
        zd_yaml_error(y, ev->start_mark, "YAML aliases (*%s) are not supported",
                      (const char *)ev->data.alias.anchor);
        break;
    default:
        break;
    }
    return true;
}

bool zd_yaml_skip(zd_yaml *y) {
    yaml_event_type_t type = y->event.type;
    if (type != YAML_MAPPING_START_EVENT && type != YAML_SEQUENCE_START_EVENT)
        return !y->stopped;
    int outer = y->depth - 1;
    while (y->depth > outer)
        if (!zd_yaml_next(y))
            return false;
    return true;
}

/* Grows y->scratch to hold need bytes; false when out of memory. */
static bool scratch_fit(zd_yaml *y, size_t need) {
    if (need <= y->scratch_cap)
        return true;
    size_t cap = need > 2 * y->scratch_cap ? need : 2 * y->scratch_cap;
    char *more = realloc(y->scratch, cap);
    if (!more)
        return false;
    y->scratch = more;
    y->scratch_cap = cap;
    return true;
}

bool zd_yaml_key_seen(zd_yaml *y, uint64_t map, const void *key, size_t len) {
    size_t need = sizeof map + len;
    if ((!y->keys && !(y->keys = zd_strmap_new())) || !scratch_fit(y, need)) {
        zd_yaml_fail_nomem(y);
        return false;
    }
    memcpy(y->scratch, &map, sizeof map);
    if (len)
        memcpy(y->scratch + sizeof map, key, len);
    int rc = zd_strmap_add(y->keys, y->scratch, need, y, NULL);
    if (rc == ZDAG_ENOMEM)
        zd_yaml_fail_nomem(y);
    return rc == ZDAG_EEXIST;
}

static bool is_word(const char *s, size_t len, const char *const *words) {
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(s, *words, len) == 0)
            return true;
    return false;
}

static int digit_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
static bool resolve_int(const char *s, size_t len, zd_yaml_scalar *out) {
    size_t i = 0;
    unsigned base = 10;
    bool negative = false;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        base = s[1] == 'x' ? 16 : 8;
        i = 2;
    } else if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        negative = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return false;
    uint64_t m = 0;
    double d = 0;
    bool overflow = false;
    for (; i < len; i++) {
        unsigned v = (unsigned)digit_value(s[i]);
        if (v >= base)
            return false;
        if (m > (UINT64_MAX - v) / base)
            overflow = true;
        m = m * base + v;
        d = d * base + v;
    }
    out->type = ZD_YAML_INT;
    out->negative = negative;
    out->overflow = overflow;
    out->magnitude = m;
    out->number = negative ? -d : d;
    return true;
}

static size_t count_digits(const char *s, size_t len) {
    size_t n = 0;
    while (n < len && s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool looks_like_float(const char *s, size_t len) {
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    size_t whole = count_digits(s + i, len - i), frac = 0;
    i += whole;
    if (i < len && s[i] == '.') {
        i++;
        frac = count_digits(s + i, len - i);
        i += frac;
    }
    if (whole == 0 && frac == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t exp = count_digits(s + i, len - i);
        if (exp == 0)
            return false;
        i += exp;
    }
    return i == len;
}

static bool resolve_float(const zd_yaml *y, const char *s, size_t len, zd_yaml_scalar *out) {
    static const char *const infinity[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nan[] = {".nan", ".NaN", ".NAN", NULL};
    bool sign = len > 0 && (s[0] == '-' || s[0] == '+');
    if (is_word(s + sign, len - sign, infinity))
        out->number = s[0] == '-' ? -INFINITY : INFINITY;
    else if (is_word(s, len, nan))
        out->number = NAN;
    else if (looks_like_float(s, len))
        out->number = y->c_locale ? strtod_l(s, NULL, y->c_locale) : strtod(s, NULL);
    else
        return false;
    out->type = ZD_YAML_FLOAT;
    return true;
}

/* Resolves plain text by the YAML 1.2 core schema. */
static void resolve_plain(const zd_yaml *y, const char *s, size_t len, zd_yaml_scalar *out) {
    static const char *const null[] = {"~", "null", "Null", "NULL", NULL};
    static const char *const yes[] = {"true", "True", "TRUE", NULL};
    static const char *const no[] = {"false", "False", "FALSE", NULL};
    if (len == 0 || is_word(s, len, null)) {
        out->type = ZD_YAML_NULL;
    } else if (is_word(s, len, yes) || is_word(s, len, no)) {
        out->type = ZD_YAML_BOOL;
        out->boolean = is_word(s, len, yes);
    } else if (!resolve_int(s, len, out) && !resolve_float(y, s, len, out)) {
        out->type = ZD_YAML_STR;
    }
}

bool zd_yaml_resolve(zd_yaml *y, zd_yaml_scalar *out) {
    const yaml_event_t *ev = &y->event;
    memset(out, 0, sizeof *out);
    out->text = (const char *)ev->data.scalar.value;
    out->len = ev->data.scalar.length;
    out->type = ZD_YAML_STR;
    tag_kind tag = classify_tag(ev->data.scalar.tag);
    if (tag == TAG_STR || (tag == TAG_NONE && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE))
        return true;
    resolve_plain(y, out->text, out->len, out);
    static const struct {
        tag_kind tag;
        zd_yaml_type type;
        const char *name;
    } wants[] = {{TAG_NULL, ZD_YAML_NULL, "!!null"},
                 {TAG_BOOL, ZD_YAML_BOOL, "!!bool"},
                 {TAG_INT, ZD_YAML_INT, "!!int"},
                 {TAG_FLOAT, ZD_YAML_FLOAT, "!!float"}};
    for (size_t i = 0; i < sizeof wants / sizeof wants[0]; i++) {
        if (wants[i].tag != tag || wants[i].type == out->type)
            continue;
        if (tag == TAG_FLOAT && out->type == ZD_YAML_INT) {
            out->type = ZD_YAML_FLOAT;
            continue;
        }
        char shown[96];
        zd_yaml_error(y, ev->start_mark, "%s is not a valid %s",
                      zd_yaml_quote(shown, sizeof shown, out->text, out->len), wants[i].name);
        return false;
    }
    return true;
}

bool zd_yaml_scalar_int64(const zd_yaml_scalar *s, int64_t *out) {
    if (s->type != ZD_YAML_INT || s->overflow)
        return false;
    if (s->negative) {
        if (s->magnitude > (uint64_t)INT64_MAX + 1)
            return false;
        *out = s->magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)s->magnitude;
        return true;
    }
    if (s->magnitude > (uint64_t)INT64_MAX)
        return false;
    *out = (int64_t)s->magnitude;
    return true;
}

/* Packs the current scalar (or alias, as nil). Returns 0, ZDAG_EPIPELINE or ZDAG_ENOMEM. */
static int pack_scalar(zd_yaml *y, msgpack_packer *pk) {
    if (y->event.type == YAML_ALIAS_EVENT)
        return ZDAG_EPIPELINE; /* reported by zd_yaml_next */
    zd_yaml_scalar s;
    if (!zd_yaml_resolve(y, &s))
        return ZDAG_EPIPELINE;
    int64_t i;
    int rc = 0;
    switch (s.type) {
    case ZD_YAML_NULL:
        rc = msgpack_pack_nil(pk);
        break;
    case ZD_YAML_BOOL:
        rc = s.boolean ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        break;
    case ZD_YAML_INT:
        if (zd_yaml_scalar_int64(&s, &i)) {
            rc = msgpack_pack_int64(pk, i);
        } else if (!s.negative && !s.overflow) {
            rc = msgpack_pack_uint64(pk, s.magnitude);
        } else {
            char shown[96];
            zd_yaml_error(y, y->event.start_mark, "integer %s does not fit 64 bits",
                          zd_yaml_quote(shown, sizeof shown, s.text, s.len));
            return ZDAG_EPIPELINE;
        }
        break;
    case ZD_YAML_FLOAT:
        rc = msgpack_pack_double(pk, s.number);
        break;
    case ZD_YAML_STR:
        rc = msgpack_pack_str(pk, s.len);
        if (rc == 0)
            rc = msgpack_pack_str_body(pk, s.text, s.len);
        break;
    }
    return rc == 0 ? 0 : ZDAG_ENOMEM;
}

typedef struct header_buf {
    char bytes[8]; /* a msgpack array or map header, at most 5 bytes */
    size_t len;    /* bytes used */
} header_buf;

static int header_write(void *data, const char *buf, size_t len) {
    header_buf *h = data;
    if (h->len + len > sizeof h->bytes)
        return -1;
    memcpy(h->bytes + h->len, buf, len);
    h->len += len;
    return 0;
}

/* A collection's element count is known only at its end event: its msgpack header is inserted
 * in front of its already packed elements, so the encoding stays the shortest one. */
static int insert_header(msgpack_sbuffer *sb, size_t at, bool map, size_t n) {
    header_buf h = {.len = 0};
    msgpack_packer hp;
    msgpack_packer_init(&hp, &h, header_write);
    if ((map ? msgpack_pack_map(&hp, n) : msgpack_pack_array(&hp, n)) != 0)
        return ZDAG_ENOMEM;
    if (msgpack_sbuffer_write(sb, h.bytes, h.len) != 0)
        return ZDAG_ENOMEM;
    memmove(sb->data + at + h.len, sb->data + at, sb->size - h.len - at);
    memcpy(sb->data + at, h.bytes, h.len);
    return 0;
}

static int pack_value(zd_yaml *y, msgpack_packer *pk, const char *where);

/* Reports a mapping key of args met twice; the key's events are just consumed. */
static void report_duplicate(zd_yaml *y, yaml_mark_t at, const char *where) {
    char shown[96] = "(a collection)";
    if (y->event.type == YAML_SCALAR_EVENT)
        zd_yaml_quote(shown, sizeof shown, (const char *)y->event.data.scalar.value,
                      y->event.data.scalar.length);
    zd_yaml_error(y, at, "duplicate key %s %s", shown, where);
}

static int pack_collection(zd_yaml *y, msgpack_packer *pk, const char *where) {
    msgpack_sbuffer *sb = pk->data;
    bool map = y->event.type == YAML_MAPPING_START_EVENT;
    uint64_t id = y->maps;
    size_t start = sb->size, n = 0;
    int rc = 0;
    for (;;) {
        if (!zd_yaml_next(y))
            return ZDAG_EPIPELINE;
        if (y->event.type == YAML_MAPPING_END_EVENT || y->event.type == YAML_SEQUENCE_END_EVENT)
            break;
        yaml_mark_t at = y->event.start_mark;
        size_t key_at = sb->size;
        int vrc = pack_value(y, pk, where);
        if (map && vrc == 0 && zd_yaml_key_seen(y, id, sb->data + key_at, sb->size - key_at)) {
            report_duplicate(y, at, where);
            vrc = ZDAG_EPIPELINE;
        }
        if (map && zd_yaml_next(y) && pack_value(y, pk, where) < 0)
            vrc = ZDAG_EPIPELINE;
        if (vrc < 0)
            rc = vrc;
        n++;
    }
    if (rc == 0 && n > UINT32_MAX) {
        zd_yaml_error(y, y->event.start_mark, "collection with more than %u entries", UINT32_MAX);
        rc = ZDAG_EPIPELINE;
    }
    return rc < 0 ? rc : insert_header(sb, start, map, n);
}

static int pack_value(zd_yaml *y, msgpack_packer *pk, const char *where) {
    if (y->stopped && y->failed)
        return ZDAG_EPIPELINE;
    yaml_event_type_t type = y->event.type;
    int rc = type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT
                 ? pack_collection(y, pk, where)
                 : pack_scalar(y, pk);
    if (rc == ZDAG_ENOMEM) {
        zd_yaml_fail_nomem(y);
        rc = ZDAG_EPIPELINE;
    }
    return rc;
}

int zd_yaml_pack(zd_yaml *y, msgpack_sbuffer *out, const char *where) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    return pack_value(y, &pk, where);
}

const char *zd_yaml_quote(char *buf, size_t size, const char *text, size_t len) {
    size_t o = 0, room = size - 5; /* keeps space for "...", the closing quote and NUL */
    buf[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        char piece[8];
        size_t n = 1;
        if (c == '"' || c == '\\') {
            n = (size_t)snprintf(piece, sizeof piece, "\\%c", c);
        } else if (c == '\n') {
            n = (size_t)snprintf(piece, sizeof piece, "\\n");
        } else if (c == '\t') {
            n = (size_t)snprintf(piece, sizeof piece, "\\t");
        } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xC0)) {
            n = (size_t)snprintf(piece, sizeof piece, "\\x%02x", c);
        } else if (c >= 0xC0) {
            /* A whole UTF-8 sequence at once, so that a cut never splits one. */
            n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            n = n < len - i ? n : len - i;
            memcpy(piece, text + i, n);
            i += n - 1;
        } else {
            piece[0] = (char)c;
        }
        if (o + n > room) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, piece, n);
        o += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
