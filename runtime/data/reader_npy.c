/* npy: one array per file, as np.save writes it (npy.h has the layout).
 * The header dict is parsed strictly: exactly the keys descr, fortran_order
 * and shape, in any order, single or double quotes, any spaces, tabs or
 * newlines between tokens, an optional trailing comma; shape a tuple of
 * non-negative integers ("(3,)", not "(3)"). Dtypes: b1 u1 i1 u2 i2 u4 i4
 * u8 i8 f4 f8, little- or big-endian; Fortran-order arrays are transposed
 * while they are read (array.h). The array is named after the file. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "runtime/base/ctx.h"
#include "runtime/data/npy.h"
#include "runtime/data/reader.h"

static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

int gr_npy_sniff(const uint8_t *head, size_t n) { return n >= sizeof magic && memcmp(head, magic, 6) == 0; }

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }

int gr_npy_header_size(struct gr_ctx *ctx, const char *where, const uint8_t *h, size_t n, size_t *size) {
    size_t m = n < 6 ? n : 6;
    if (memcmp(h, magic, m) != 0 || n == 0) {
        char got[3 * 6 + 1] = "";
        for (size_t i = 0; i < m; i++) snprintf(got + 3 * i - (i > 0), 4, "%s%02x", i ? " " : "", h[i]);
        return gr_fail(ctx, "%s: not a .npy file (magic %s, expected 93 4e 55 4d 50 59)", where, got);
    }
    size_t prelude = n >= 7 && h[6] == 1 ? 10 : 12;
    if (n < prelude) return gr_fail(ctx, "%s: too short for a .npy header (%zu bytes)", where, n);
    if ((h[6] < 1 || h[6] > 3) || h[7] != 0)
        return gr_fail(ctx, "%s: npy format version %u.%u is not supported (graphrun reads 1.0, 2.0 and 3.0)", where,
                       h[6], h[7]);
    uint32_t len = h[6] == 1 ? (uint32_t)(h[8] | h[9] << 8) : le32(h + 8);
    if (len > GR_NPY_MAX_HEADER)
        return gr_fail(ctx, "%s: npy header of %u bytes is longer than the %d graphrun reads", where, len,
                       GR_NPY_MAX_HEADER);
    *size = prelude + len;
    return 0;
}

/* ---- the header dict ------------------------------------------------------ */

struct scan {
    struct gr_ctx *ctx;
    const char *where;
    const uint8_t *h;
    size_t at, end;
};

static int scan_fail(struct scan *s, const char *expected) {
    char got[32];
    if (s->at >= s->end)
        snprintf(got, sizeof got, "the end of the header");
    else if (isprint(s->h[s->at]))
        snprintf(got, sizeof got, "'%c'", s->h[s->at]);
    else
        snprintf(got, sizeof got, "byte 0x%02x", s->h[s->at]);
    return gr_fail(s->ctx, "%s: npy header, byte %zu: expected %s, got %s", s->where, s->at, expected, got);
}

static int peek(const struct scan *s) { return s->at < s->end ? s->h[s->at] : -1; }

static void skip_space(struct scan *s) {
    while (s->at < s->end && strchr(" \t\r\n", s->h[s->at]) && s->h[s->at]) s->at++;
}

static int expect(struct scan *s, char c, const char *what) {
    skip_space(s);
    if (peek(s) != c) return scan_fail(s, what);
    s->at++;
    skip_space(s);
    return 0;
}

/* 'text' or "text": printable ASCII, at most 63 bytes, no escapes. */
static int string(struct scan *s, char *out, size_t cap, const char *what) {
    int q = peek(s);
    if (q != '\'' && q != '"') return scan_fail(s, what);
    size_t start = ++s->at, n = 0;
    while (s->at < s->end && s->h[s->at] != q) {
        if (!isprint(s->h[s->at]) || s->h[s->at] == '\\') return scan_fail(s, "a printable character");
        s->at++;
    }
    if (s->at >= s->end) return scan_fail(s, "a closing quote");
    n = s->at - start;
    if (n >= cap) {
        s->at = start;
        return gr_fail(s->ctx, "%s: npy header, byte %zu: string longer than %zu bytes", s->where, start, cap - 1);
    }
    memcpy(out, s->h + start, n);
    out[n] = 0;
    s->at++;
    return 0;
}

static int boolean(struct scan *s, int *out) {
    for (int v = 0; v < 2; v++) {
        const char *w = v ? "True" : "False";
        size_t n = strlen(w);
        if (s->end - s->at >= n && memcmp(s->h + s->at, w, n) == 0 &&
            (s->at + n == s->end || !isalnum(s->h[s->at + n]))) {
            s->at += n;
            *out = v;
            return 0;
        }
    }
    return scan_fail(s, "True or False for fortran_order");
}

/* A Python integer: no sign, no leading zeros; a Python 2 'L' is allowed. */
static int integer(struct scan *s, int64_t *out) {
    if (!isdigit(peek(s))) return scan_fail(s, "a dimension (a non-negative integer)");
    size_t start = s->at;
    int64_t v = 0;
    while (isdigit(peek(s))) {
        if (v > (INT64_C(1) << 40)) {
            s->at = start;
            return gr_fail(s->ctx, "%s: npy header, byte %zu: dimension too large", s->where, start);
        }
        v = v * 10 + (s->h[s->at++] - '0');
    }
    if (s->at - start > 1 && s->h[start] == '0') {
        s->at = start;
        return scan_fail(s, "a dimension without leading zeros");
    }
    if (peek(s) == 'L') s->at++;
    *out = v;
    return 0;
}

static int shape(struct scan *s, int *rank, int64_t *dims) {
    if (peek(s) == '[') return scan_fail(s, "a tuple for shape, like (3, 4)");
    if (expect(s, '(', "'(' opening the shape")) return -1;
    *rank = 0;
    int comma = 0;
    while (peek(s) != ')') {
        if (*rank == GR_ARRAY_MAX_RANK)
            return gr_fail(s->ctx, "%s: npy header: shape has more than the %d axes graphrun reads", s->where,
                           GR_ARRAY_MAX_RANK);
        if (integer(s, &dims[(*rank)++])) return -1;
        skip_space(s);
        comma = peek(s) == ',';
        if (comma) {
            s->at++;
            skip_space(s);
        } else if (peek(s) != ')') {
            return scan_fail(s, "',' or ')' in the shape");
        }
    }
    if (*rank == 1 && !comma) return scan_fail(s, "',' before ')': a 1-tuple is written (N,)");
    s->at++;
    return 0;
}

static const struct {
    char code[3];
    enum gr_elem elem;
} codes[] = {{"b1", GR_ELEM_BOOL}, {"u1", GR_ELEM_U8},  {"i1", GR_ELEM_I8},  {"u2", GR_ELEM_U16},
             {"i2", GR_ELEM_I16},  {"u4", GR_ELEM_U32}, {"i4", GR_ELEM_I32}, {"u8", GR_ELEM_U64},
             {"i8", GR_ELEM_I64},  {"f4", GR_ELEM_F32}, {"f8", GR_ELEM_F64}};

static const char *kind_name(char k) {
    switch (k) {
    case 'O': return "Python objects";
    case 'U': return "unicode strings";
    case 'S': case 'a': return "byte strings";
    case 'V': return "raw bytes";
    case 'c': return "complex numbers";
    case 'M': return "datetimes";
    case 'm': return "timedeltas";
    case 'f': return "floats of that size";
    case 'i': case 'u': return "integers of that size";
    case 'b': return "bools of that size";
    }
    return "not a numpy type";
}

static int descr(struct gr_ctx *ctx, const char *where, const char *d, struct gr_array_info *a) {
    size_t n = strlen(d);
    for (size_t i = 0; n == 3 && strchr("<>|", d[0]) && i < sizeof codes / sizeof codes[0]; i++) {
        if (memcmp(d + 1, codes[i].code, 2) != 0) continue;
        a->elem = codes[i].elem;
        a->type = gr_elem_stored(a->elem);
        if (gr_elem_size(a->elem) == 1) {
            a->endian = GR_ENDIAN_NONE;
            return 0;
        }
        if (d[0] == '|') return gr_fail(ctx, "%s: npy dtype '%s' has no byte order ('<' or '>')", where, d);
        a->endian = d[0] == '<' ? GR_ENDIAN_LITTLE : GR_ENDIAN_BIG;
        return 0;
    }
    char k = n > 0 && strchr("<>|=", d[0]) ? d[1] : d[0];
    return gr_fail(ctx, "%s: npy dtype '%s' (%s) is not supported; graphrun reads b1, u1, i1, u2, i2, u4, i4, u8, "
                        "i8, f4 and f8",
                   where, d, kind_name(k));
}

enum { KEY_DESCR, KEY_FORTRAN, KEY_SHAPE, N_KEYS };
static const char *const key_names[N_KEYS] = {"descr", "fortran_order", "shape"};

static int entry(struct scan *s, int *seen, char *dtype, int *fortran, int *rank, int64_t *dims) {
    char key[64];
    size_t at = s->at;
    if (string(s, key, sizeof key, "a quoted key")) return -1;
    int k = 0;
    while (k < N_KEYS && strcmp(key, key_names[k]) != 0) k++;
    if (k == N_KEYS)
        return gr_fail(s->ctx, "%s: npy header, byte %zu: unknown key '%s' (expected descr, fortran_order and shape)",
                       s->where, at, key);
    if (seen[k]) return gr_fail(s->ctx, "%s: npy header, byte %zu: key '%s' given twice", s->where, at, key);
    seen[k] = 1;
    if (expect(s, ':', "':' after the key")) return -1;
    if (k == KEY_FORTRAN) return boolean(s, fortran);
    if (k == KEY_SHAPE) return shape(s, rank, dims);
    if (peek(s) == '[' || peek(s) == '{')
        return gr_fail(s->ctx, "%s: npy dtype is a structured dtype (a list of fields); graphrun reads arrays of "
                               "single numbers",
                       s->where);
    return string(s, dtype, 64, "a quoted dtype for descr");
}

int gr_npy_parse(struct gr_ctx *ctx, const char *where, const uint8_t *h, size_t size, struct gr_array_info *a,
                 int *fortran) {
    struct scan s = {ctx, where, h, h[6] == 1 ? 10 : 12, size};
    int seen[N_KEYS] = {0}, rank = 0;
    int64_t dims[GR_ARRAY_MAX_RANK];
    char dtype[64] = "";
    if (expect(&s, '{', "'{' opening the header dict")) return -1;
    while (peek(&s) != '}') {
        if (entry(&s, seen, dtype, fortran, &rank, dims)) return -1;
        skip_space(&s);
        if (peek(&s) == ',') {
            s.at++;
            skip_space(&s);
        } else if (peek(&s) != '}') {
            return scan_fail(&s, "',' or '}' after a value");
        }
    }
    s.at++;
    skip_space(&s);
    if (s.at != s.end) return scan_fail(&s, "the end of the header after '}'");
    for (int k = 0; k < N_KEYS; k++)
        if (!seen[k]) return gr_fail(ctx, "%s: npy header has no '%s' key", where, key_names[k]);
    return descr(ctx, where, dtype, a) || gr_array_set_shape(ctx, where, a, rank, dims);
}

/* ---- data ----------------------------------------------------------------- */

int gr_npy_decode(struct gr_ctx *ctx, struct gr_array_decoder *d, struct gr_npy_pull pull, uint64_t bytes,
                  uint64_t *got, uint32_t *crc, char *refused) {
    size_t es = gr_elem_size(d->a->elem);
    uint8_t buf[16384];
    int decoding = 1;
    *got = 0;
    if (refused) refused[0] = 0;
    while (*got < bytes) {
        size_t room = 0;
        uint8_t *to = decoding ? gr_decoder_inplace(d, &room) : NULL;
        size_t want = (size_t)(bytes - *got < sizeof buf ? bytes - *got : sizeof buf);
        if (to) want = (size_t)(bytes - *got < room * es ? bytes - *got : room * es);
        else to = buf;
        int64_t n = pull.fn(ctx, pull.ud, to, want);
        if (n < 0) return -1;
        *got += (uint64_t)n;
        if (crc) *crc = (uint32_t)crc32_z(*crc, to, (size_t)n);
        if (decoding && gr_decoder_put(ctx, d, to, (size_t)n / es)) {
            if (!crc) return -1;
            snprintf(refused, GR_ERRBUF, "%s", ctx->err);
            decoding = 0;
        }
        if ((size_t)n < want) break;
    }
    return 0;
}

/* ---- the reader ------------------------------------------------------------ */

struct npy_state {
    uint64_t data_off;
    int fortran;
};

struct pread_src {
    const struct gr_source *src;
    uint64_t off;
};

static int64_t pull_pread(struct gr_ctx *ctx, void *ud, void *buf, size_t n) {
    struct pread_src *p = ud;
    int64_t got = gr_source_pread(ctx, p->src, buf, n, p->off);
    if (got > 0) p->off += (uint64_t)got;
    return got;
}

/* The file's name without its folder and its .npy, as the array's name. */
static void stem(const char *path, char *out) {
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".npy") == 0) n -= 4;
    if (n > GR_ARRAY_NAME_MAX) n = GR_ARRAY_NAME_MAX;
    memcpy(out, base, n);
    out[n] = 0;
}

static int size_mismatch(struct gr_ctx *ctx, const char *where, uint64_t want, uint64_t have, const char *holder) {
    return gr_fail(ctx, "%s: header promises %llu bytes of data, %s has %llu (%s)", where, (unsigned long long)want,
                   holder, (unsigned long long)have, have < want ? "truncated" : "trailing bytes");
}

static int npy_open(struct gr_ctx *ctx, struct gr_source *src, const struct gr_read_opts *opts) {
    (void)opts;
    uint8_t pre[GR_NPY_PRELUDE];
    int64_t got = gr_source_pread(ctx, src, pre, sizeof pre, 0);
    size_t hsize = 0;
    if (got < 0 || gr_npy_header_size(ctx, src->path, pre, (size_t)got, &hsize)) return -1;
    if (hsize > src->size)
        return gr_fail(ctx, "%s: truncated npy header (%llu of %zu bytes)", src->path,
                       (unsigned long long)src->size, hsize);
    uint8_t *h = gr_alloc(ctx, hsize);
    if (!h) return -1;
    struct gr_array_info info = {0};
    int fortran = 0;
    int rc = gr_source_pread(ctx, src, h, hsize, 0) != (int64_t)hsize ||
             gr_npy_parse(ctx, src->path, h, hsize, &info, &fortran);
    gr_free(ctx, h);
    if (rc) return -1;
    uint64_t want = (uint64_t)gr_array_count(&info) * gr_elem_size(info.elem), have = src->size - hsize;
    if (want != have) return size_mismatch(ctx, src->path, want, have, "the file");
    char name[GR_ARRAY_NAME_MAX + 1];
    stem(src->path, name);
    struct gr_array_info *a = gr_source_add(ctx, src, src->path, name);
    struct npy_state *st = gr_calloc(ctx, 1, sizeof *st);
    if (!a || !st) {
        gr_free(ctx, st);
        return -1;
    }
    memcpy(info.name, a->name, sizeof info.name);
    *a = info;
    st->data_off = hsize;
    st->fortran = fortran;
    src->state = st;
    return 0;
}

static int npy_read(struct gr_ctx *ctx, struct gr_source *src, void *const *dst) {
    const struct npy_state *st = src->state;
    const struct gr_array_info *a = &src->arrays[0];
    if (!dst[0]) return 0;
    struct gr_array_decoder d;
    gr_decoder_init(&d, a, src->path, st->fortran, dst[0]);
    struct pread_src p = {src, st->data_off};
    uint64_t want = (uint64_t)gr_array_count(a) * gr_elem_size(a->elem), got = 0;
    if (gr_npy_decode(ctx, &d, (struct gr_npy_pull){pull_pread, &p}, want, &got, NULL, NULL)) return -1;
    uint8_t extra;
    int64_t more = got == want ? gr_source_pread(ctx, src, &extra, 1, st->data_off + want) : 0;
    if (more < 0) return -1;
    if (more) { /* the file grew: say by how much */
        struct stat now;
        got = fstat(src->fd, &now) == 0 ? (uint64_t)now.st_size - st->data_off : want + 1;
    }
    if (got != want) return size_mismatch(ctx, src->path, want, got, "the file now");
    return 0;
}

static void npy_close(struct gr_ctx *ctx, struct gr_source *src) {
    gr_free(ctx, src->state);
    src->state = NULL;
}

static const char *const npy_extensions[] = {".npy", NULL};

const struct gr_reader_desc gr_reader_npy = {
    .name = "npy",
    .what = "a .npy file",
    .extensions = npy_extensions,
    .sniff = gr_npy_sniff,
    .open = npy_open,
    .read = npy_read,
    .close = npy_close,
};
