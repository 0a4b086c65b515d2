/* npz: a zip archive of .npy members, as np.savez (stored) and
 * np.savez_compressed (deflated) write it; member "x.npy" is array "x".
 *
 * The zip structure is read from its end: the end of central directory
 * record (and, where the sizes or offsets need it, the zip64 end record and
 * its locator), then the central directory, then each member's local
 * header. Everything is checked against the file before any data is read:
 * single disk; the central directory ends where the end records begin;
 * every member lies inside the data area and no two overlap; local headers
 * agree with the central directory; stored members' sizes agree; a deflated
 * member claims no more than deflate's 1032:1 can give; no encryption; only
 * methods 0 (stored) and 8 (deflated); every member's name ends in .npy.
 * Each member's npy header is read at open (inflated if need be); its data
 * when read, with the member's CRC-32 checked over all of its bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "runtime/base/ctx.h"
#include "runtime/data/inflate.h"
#include "runtime/data/npy.h"
#include "runtime/data/reader.h"

#define EOCD_SIZE 22
#define LOCATOR_SIZE 20
#define ZIP64_EOCD_SIZE 56
#define CDIR_ENTRY_SIZE 46
#define LOCAL_SIZE 30
#define MAX_COMMENT 65535
#define MAX_CDIR ((uint64_t)16 << 20)
#define DEFLATE_MAX_RATIO 1032u
#define U32_MAX 0xffffffffu

struct member {
    char *where; /* "PATH: member 'x.npy'" */
    size_t name_at, name_len; /* the member's name inside `where` */
    uint64_t lho, data_off, comp, uncomp;
    uint32_t crc, head_crc;
    unsigned method;
    size_t header_len;
    int fortran;
};

struct npz_state {
    struct member *m;
    int n;
    struct gr_inflate *inf; /* one stream, reused */
};

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static int npz_sniff(const uint8_t *h, size_t n) {
    return n >= 4 && h[0] == 'P' && h[1] == 'K' && ((h[2] == 3 && h[3] == 4) || (h[2] == 5 && h[3] == 6));
}

/* ---- end records ------------------------------------------------------------- */

struct zip_end {
    uint64_t entries, cdir_off, cdir_size;
    uint64_t records_at; /* where the end records start: the central directory ends here */
};

static int not_zip(struct gr_ctx *ctx, struct gr_source *src) {
    uint8_t h[4] = {0};
    int64_t got = gr_source_pread(ctx, src, h, 4, 0);
    if (got < 0) return -1;
    if (npz_sniff(h, (size_t)got))
        return gr_fail(ctx, "%s: no end of central directory record (a truncated zip archive?)", src->path);
    return gr_fail(ctx, "%s: not a zip archive (magic %02x %02x %02x %02x, expected 50 4b 03 04)", src->path, h[0],
                   h[1], h[2], h[3]);
}

/* The record that ends exactly at the end of the file with its comment. */
static int find_eocd(struct gr_ctx *ctx, struct gr_source *src, uint8_t *rec, uint64_t *at) {
    size_t tail = src->size < EOCD_SIZE + MAX_COMMENT ? (size_t)src->size : EOCD_SIZE + MAX_COMMENT;
    uint8_t *buf = gr_alloc(ctx, tail);
    if (!buf) return -1;
    int64_t got = gr_source_pread(ctx, src, buf, tail, src->size - tail);
    int found = 0;
    for (size_t i = tail >= EOCD_SIZE ? tail - EOCD_SIZE + 1 : 0; got == (int64_t)tail && i-- > 0;) {
        if (le32(buf + i) == 0x06054b50 && i + EOCD_SIZE + le16(buf + i + 20) == tail) {
            memcpy(rec, buf + i, EOCD_SIZE);
            *at = src->size - tail + i;
            found = 1;
            break;
        }
    }
    gr_free(ctx, buf);
    if (got < 0) return -1;
    if (!found) {
        not_zip(ctx, src);
        return -1;
    }
    return 0;
}

/* The zip64 end record, found through its locator just before the end
 * record; *present 0 if there is no locator. */
static int zip64_end(struct gr_ctx *ctx, struct gr_source *src, uint64_t eocd_at, struct zip_end *e, int *present) {
    uint8_t loc[LOCATOR_SIZE], rec[ZIP64_EOCD_SIZE];
    *present = 0;
    if (eocd_at < LOCATOR_SIZE) return 0;
    int64_t got = gr_source_pread(ctx, src, loc, LOCATOR_SIZE, eocd_at - LOCATOR_SIZE);
    if (got < 0) return -1;
    if (got != LOCATOR_SIZE || le32(loc) != 0x07064b50) return 0;
    *present = 1;
    uint64_t at = le64(loc + 8);
    if (le32(loc + 4) != 0 || le32(loc + 16) != 1)
        return gr_fail(ctx, "%s: zip archive spans several disks; graphrun reads single files", src->path);
    if (at > eocd_at - LOCATOR_SIZE || eocd_at - LOCATOR_SIZE - at < ZIP64_EOCD_SIZE ||
        gr_source_pread(ctx, src, rec, ZIP64_EOCD_SIZE, at) != ZIP64_EOCD_SIZE || le32(rec) != 0x06064b50)
        return gr_fail(ctx, "%s: zip64 end record not found at byte %llu", src->path, (unsigned long long)at);
    if (le64(rec + 4) + 12 > eocd_at - LOCATOR_SIZE - at)
        return gr_fail(ctx, "%s: zip64 end record of %llu bytes overlaps its locator", src->path,
                       (unsigned long long)le64(rec + 4));
    if (le32(rec + 16) != 0 || le32(rec + 20) != 0)
        return gr_fail(ctx, "%s: zip archive spans several disks; graphrun reads single files", src->path);
    if (le64(rec + 24) != le64(rec + 32))
        return gr_fail(ctx, "%s: zip64 end record counts %llu entries on this disk, %llu in all", src->path,
                       (unsigned long long)le64(rec + 24), (unsigned long long)le64(rec + 32));
    e->entries = le64(rec + 32);
    e->cdir_size = le64(rec + 40);
    e->cdir_off = le64(rec + 48);
    e->records_at = at;
    return 0;
}

static int zip_end(struct gr_ctx *ctx, struct gr_source *src, struct zip_end *e) {
    uint8_t r[EOCD_SIZE] = {0};
    uint64_t at = 0;
    if (find_eocd(ctx, src, r, &at)) return -1;
    if (le16(r + 4) != 0 || le16(r + 6) != 0)
        return gr_fail(ctx, "%s: zip archive spans several disks; graphrun reads single files", src->path);
    if (le16(r + 8) != le16(r + 10))
        return gr_fail(ctx, "%s: end record counts %u entries on this disk, %u in all", src->path, le16(r + 8),
                       le16(r + 10));
    e->entries = le16(r + 10);
    e->cdir_size = le32(r + 12);
    e->cdir_off = le32(r + 16);
    e->records_at = at;
    if (e->entries == 0xffff || e->cdir_size == U32_MAX || e->cdir_off == U32_MAX) {
        int zip64 = 0;
        if (zip64_end(ctx, src, at, e, &zip64)) return -1;
        if (!zip64 && (e->cdir_size == U32_MAX || e->cdir_off == U32_MAX))
            return gr_fail(ctx, "%s: the end record needs zip64 end records, and there are none", src->path);
    }
    if (e->cdir_off > e->records_at || e->records_at - e->cdir_off != e->cdir_size)
        return gr_fail(ctx, "%s: central directory (%llu bytes at byte %llu) does not end where the end records "
                            "start (byte %llu)",
                       src->path, (unsigned long long)e->cdir_size, (unsigned long long)e->cdir_off,
                       (unsigned long long)e->records_at);
    if (e->entries == 0) return gr_fail(ctx, "%s: holds no arrays (an empty zip archive)", src->path);
    if (e->cdir_size > MAX_CDIR)
        return gr_fail(ctx, "%s: central directory of %llu bytes is larger than the %llu graphrun reads", src->path,
                       (unsigned long long)e->cdir_size, (unsigned long long)MAX_CDIR);
    if (e->entries > e->cdir_size / CDIR_ENTRY_SIZE)
        return gr_fail(ctx, "%s: end record claims %llu entries in a central directory of %llu bytes", src->path,
                       (unsigned long long)e->entries, (unsigned long long)e->cdir_size);
    return 0;
}

/* ---- central directory ------------------------------------------------------ */

static const char *method_name(unsigned m) {
    switch (m) {
    case 1: return "shrunk";
    case 6: return "imploded";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "lzma";
    case 93: return "zstd";
    case 95: return "xz";
    case 99: return "AES-encrypted";
    }
    return "unknown";
}

/* The zip64 extended information field: the 64-bit values of the fields
 * that are all ones, in this order. want[i] says which are present. */
static int zip64_extra(struct gr_ctx *ctx, const char *where, const uint8_t *x, size_t n, const int want[3],
                       uint64_t *val[3], int *found) {
    *found = 0;
    while (n > 0) {
        if (n < 4 || (size_t)le16(x + 2) > n - 4) return gr_fail(ctx, "%s: malformed extra field", where);
        size_t sz = le16(x + 2);
        if (le16(x) == 0x0001) {
            const uint8_t *p = x + 4;
            for (int i = 0; i < 3; i++) {
                if (!want[i]) continue;
                if (p + 8 > x + 4 + sz) return gr_fail(ctx, "%s: zip64 extra field is too short", where);
                *val[i] = le64(p);
                p += 8;
            }
            *found = 1;
        }
        x += 4 + sz;
        n -= 4 + sz;
    }
    return 0;
}

static int member_where(struct gr_ctx *ctx, struct member *m, const char *path, const uint8_t *name, size_t n) {
    size_t len = strlen(path) + n + 16;
    if (!(m->where = gr_alloc(ctx, len))) return -1;
    int at = snprintf(m->where, len, "%s: member '", path);
    memcpy(m->where + at, name, n);
    memcpy(m->where + at + n, "'", 2);
    m->name_at = (size_t)at;
    m->name_len = n;
    return 0;
}

/* Entry k of the central directory at p (left bytes to its end). */
static int cdir_entry(struct gr_ctx *ctx, struct gr_source *src, int k, const uint8_t *p, size_t left,
                      struct member *m, size_t *used) {
    if (left < CDIR_ENTRY_SIZE || le32(p) != 0x02014b50)
        return gr_fail(ctx, "%s: central directory entry %d: %s", src->path, k,
                       left < CDIR_ENTRY_SIZE ? "runs past the directory's end" : "bad signature");
    size_t nn = le16(p + 28), ne = le16(p + 30), nc = le16(p + 32);
    if (CDIR_ENTRY_SIZE + nn + ne + nc > left)
        return gr_fail(ctx, "%s: central directory entry %d runs past the directory's end", src->path, k);
    const uint8_t *name = p + CDIR_ENTRY_SIZE;
    for (size_t i = 0; i < nn; i++)
        if (name[i] < 0x20 || name[i] == 0x7f)
            return gr_fail(ctx, "%s: central directory entry %d: member name holds byte 0x%02x", src->path, k,
                           name[i]);
    if (member_where(ctx, m, src->path, name, nn)) return -1;
    unsigned flags = le16(p + 8);
    m->method = le16(p + 10);
    m->crc = le32(p + 16);
    m->comp = le32(p + 20);
    m->uncomp = le32(p + 24);
    m->lho = le32(p + 42);
    *used = CDIR_ENTRY_SIZE + nn + ne + nc;
    if (flags & 0x41) return gr_fail(ctx, "%s: is encrypted; graphrun reads unencrypted archives", m->where);
    if (m->method != 0 && m->method != 8)
        return gr_fail(ctx, "%s: compression method %u (%s) is not supported (graphrun reads stored and deflated)",
                       m->where, m->method, method_name(m->method));
    int want[3] = {m->uncomp == U32_MAX, m->comp == U32_MAX, m->lho == U32_MAX}, found = 0;
    uint64_t *val[3] = {&m->uncomp, &m->comp, &m->lho};
    if (zip64_extra(ctx, m->where, name + nn, ne, want, val, &found)) return -1;
    if ((want[0] || want[1] || want[2]) && !found)
        return gr_fail(ctx, "%s: sizes or offset need a zip64 extra field, and there is none", m->where);
    if (le16(p + 34) != 0)
        return gr_fail(ctx, "%s: starts on disk %u; graphrun reads single files", m->where, le16(p + 34));
    if (nn <= 4 || memcmp(name + nn - 4, ".npy", 4) != 0)
        return gr_fail(ctx, "%s: not a .npy file (an npz archive holds NAME.npy members)", m->where);
    char array[GR_ARRAY_NAME_MAX + 2];
    snprintf(array, sizeof array, "%.*s", (int)(nn - 4), (const char *)name);
    if (nn - 4 > GR_ARRAY_NAME_MAX)
        return gr_fail(ctx, "%s: array name longer than %d bytes", m->where, GR_ARRAY_NAME_MAX);
    return gr_source_add(ctx, src, m->where, array) ? 0 : -1;
}

/* The local header must agree with the directory; the data follows it. */
static int local_header(struct gr_ctx *ctx, struct gr_source *src, struct member *m, uint64_t data_end) {
    uint8_t h[LOCAL_SIZE];
    if (m->lho > data_end || data_end - m->lho < LOCAL_SIZE)
        return gr_fail(ctx, "%s: local header at byte %llu lies outside the archive's data (bytes 0 to %llu)",
                       m->where, (unsigned long long)m->lho, (unsigned long long)data_end);
    if (gr_source_pread(ctx, src, h, LOCAL_SIZE, m->lho) != LOCAL_SIZE) return -1;
    if (le32(h) != 0x04034b50)
        return gr_fail(ctx, "%s: no local header at byte %llu", m->where, (unsigned long long)m->lho);
    size_t nn = le16(h + 26), ne = le16(h + 28);
    m->data_off = m->lho + LOCAL_SIZE + nn + ne;
    if (m->data_off > data_end || data_end - m->data_off < m->comp)
        return gr_fail(ctx, "%s: data (%llu bytes at byte %llu) lies outside the archive's data (bytes 0 to %llu)",
                       m->where, (unsigned long long)m->comp, (unsigned long long)m->data_off,
                       (unsigned long long)data_end);
    uint8_t *var = gr_alloc(ctx, nn + ne + 1);
    if (!var) return -1;
    int rc = gr_source_pread(ctx, src, var, nn + ne, m->lho + LOCAL_SIZE) != (int64_t)(nn + ne);
    const char *what = NULL;
    unsigned flags = le16(h + 6);
    uint64_t uncomp = le32(h + 22), comp = le32(h + 18), *val[3] = {&uncomp, &comp, NULL};
    int want[3] = {1, 1, 0}, found = 0;
    if (!rc && (nn != m->name_len || memcmp(var, m->where + m->name_at, nn) != 0)) what = "name";
    else if (!rc && (flags & 0x41)) what = "encryption";
    else if (!rc && le16(h + 8) != m->method) what = "compression method";
    else if (!rc && !(flags & 0x08) && le32(h + 14) != m->crc) what = "CRC-32";
    if (!rc && !what && !(flags & 0x08)) {
        rc = zip64_extra(ctx, m->where, var + nn, ne, want, val, &found);
        if (!rc && (!found && (uncomp == U32_MAX || comp == U32_MAX))) what = "sizes (no zip64 extra field)";
        else if (!rc && (uncomp != m->uncomp || comp != m->comp)) what = "sizes";
    }
    gr_free(ctx, var);
    if (rc) return -1;
    if (what) return gr_fail(ctx, "%s: local header disagrees with the central directory (%s)", m->where, what);
    return 0;
}

static int by_offset(const void *a, const void *b) {
    const struct member *x = *(const struct member *const *)a, *y = *(const struct member *const *)b;
    return x->lho < y->lho ? -1 : x->lho > y->lho;
}

static int no_overlaps(struct gr_ctx *ctx, struct npz_state *st) {
    const struct member **order = gr_calloc(ctx, (size_t)st->n, sizeof *order);
    if (!order) return -1;
    for (int i = 0; i < st->n; i++) order[i] = &st->m[i];
    qsort(order, (size_t)st->n, sizeof *order, by_offset);
    int rc = 0;
    for (int i = 1; i < st->n && !rc; i++) {
        const struct member *a = order[i - 1], *b = order[i];
        if (a->data_off + a->comp > b->lho)
            rc = gr_fail(ctx, "%s (bytes %llu to %llu) overlaps member '%.*s' (bytes %llu to %llu)", b->where,
                         (unsigned long long)b->lho, (unsigned long long)(b->data_off + b->comp), (int)a->name_len,
                         a->where + a->name_at, (unsigned long long)a->lho,
                         (unsigned long long)(a->data_off + a->comp));
    }
    gr_free(ctx, order);
    return rc;
}

/* ---- npy members --------------------------------------------------------- */

struct member_pull {
    struct gr_source *src;
    struct gr_inflate *inf; /* NULL: stored */
    uint64_t off;
};

static int64_t pull_member(struct gr_ctx *ctx, void *ud, void *buf, size_t n) {
    struct member_pull *p = ud;
    if (p->inf) return gr_inflate_read(ctx, p->inf, buf, n);
    int64_t got = gr_source_pread(ctx, p->src, buf, n, p->off);
    if (got > 0) p->off += (uint64_t)got;
    return got;
}

static int start_member(struct gr_ctx *ctx, struct npz_state *st, struct gr_source *src, const struct member *m,
                        struct member_pull *p) {
    p->src = src;
    p->off = m->data_off;
    p->inf = NULL;
    if (m->method == 0) return 0;
    p->inf = st->inf;
    return gr_inflate_init(ctx, p->inf, src, m->data_off, m->comp, GR_INFLATE_RAW, m->where, "corrupt deflate data");
}

static int member_header(struct gr_ctx *ctx, struct npz_state *st, struct gr_source *src, struct member *m,
                         struct gr_array_info *a) {
    if (m->method == 0 && m->comp != m->uncomp)
        return gr_fail(ctx, "%s: stored, but its compressed size %llu is not its size %llu", m->where,
                       (unsigned long long)m->comp, (unsigned long long)m->uncomp);
    if (m->method == 8 && m->uncomp / DEFLATE_MAX_RATIO > m->comp + 1)
        return gr_fail(ctx, "%s: claims %llu bytes from %llu compressed bytes, more than deflate can give", m->where,
                       (unsigned long long)m->uncomp, (unsigned long long)m->comp);
    struct member_pull p;
    uint8_t *h = NULL;
    size_t hsize = 0;
    uint8_t pre[GR_NPY_PRELUDE];
    int64_t got = -1;
    int rc = start_member(ctx, st, src, m, &p);
    if (!rc) got = pull_member(ctx, &p, pre, m->uncomp < sizeof pre ? (size_t)m->uncomp : sizeof pre);
    rc = rc || got < 0 || gr_npy_header_size(ctx, m->where, pre, (size_t)got, &hsize);
    if (!rc && hsize > m->uncomp)
        rc = gr_fail(ctx, "%s: truncated npy header (%llu of %zu bytes)", m->where, (unsigned long long)m->uncomp,
                     hsize);
    if (!rc && !(h = gr_alloc(ctx, hsize))) rc = -1;
    if (!rc) {
        /* a header shorter than the prelude has been read whole */
        size_t have = (size_t)got < hsize ? (size_t)got : hsize;
        memcpy(h, pre, have);
        int64_t more = pull_member(ctx, &p, h + have, hsize - have);
        if (more >= 0 && (size_t)more != hsize - have)
            rc = gr_fail(ctx, "%s: truncated deflate stream inside the npy header", m->where);
        rc = rc || more < 0 || gr_npy_parse(ctx, m->where, h, hsize, a, &m->fortran);
    }
    if (!rc) {
        m->header_len = hsize;
        m->head_crc = (uint32_t)crc32_z(crc32(0, NULL, 0), h, hsize);
        uint64_t want = (uint64_t)gr_array_count(a) * gr_elem_size(a->elem), have = m->uncomp - hsize;
        if (want != have)
            rc = gr_fail(ctx, "%s: header promises %llu bytes of data, the member holds %llu (%s)", m->where,
                         (unsigned long long)want, (unsigned long long)have,
                         have < want ? "truncated" : "trailing bytes");
    }
    gr_free(ctx, h);
    if (p.inf) gr_inflate_end(p.inf);
    return rc ? -1 : 0;
}

static void npz_close(struct gr_ctx *ctx, struct gr_source *src) {
    struct npz_state *st = src->state;
    if (!st) return;
    for (int i = 0; i < st->n; i++) gr_free(ctx, st->m[i].where);
    gr_free(ctx, st->m);
    gr_free(ctx, st->inf);
    gr_free(ctx, st);
    src->state = NULL;
}

static int npz_open(struct gr_ctx *ctx, struct gr_source *src, const struct gr_read_opts *opts) {
    (void)opts;
    struct zip_end e = {0};
    if (zip_end(ctx, src, &e)) return -1;
    struct npz_state *st = gr_calloc(ctx, 1, sizeof *st);
    if (!st) return -1;
    src->state = st;
    uint8_t *cd = gr_alloc(ctx, (size_t)e.cdir_size);
    st->m = gr_calloc(ctx, (size_t)e.entries, sizeof *st->m);
    st->inf = gr_alloc(ctx, sizeof *st->inf);
    if (!cd || !st->m || !st->inf) {
        gr_free(ctx, cd);
        return -1;
    }
    int rc = gr_source_pread(ctx, src, cd, (size_t)e.cdir_size, e.cdir_off) != (int64_t)e.cdir_size;
    size_t at = 0;
    for (uint64_t k = 0; k < e.entries && !rc; k++) {
        size_t used = 0;
        st->n = (int)k + 1;
        rc = cdir_entry(ctx, src, (int)k, cd + at, (size_t)e.cdir_size - at, &st->m[k], &used);
        at += used;
    }
    gr_free(ctx, cd);
    if (!rc && at != e.cdir_size)
        rc = gr_fail(ctx, "%s: central directory holds %llu bytes after its %llu entries", src->path,
                     (unsigned long long)(e.cdir_size - at), (unsigned long long)e.entries);
    for (int k = 0; k < st->n && !rc; k++) rc = local_header(ctx, src, &st->m[k], e.cdir_off);
    if (!rc) rc = no_overlaps(ctx, st);
    for (int k = 0; k < st->n && !rc; k++) rc = member_header(ctx, st, src, &st->m[k], &src->arrays[k]);
    return rc ? -1 : 0;
}

/* ---- data ------------------------------------------------------------------ */

static int member_end(struct gr_ctx *ctx, const struct member *m, struct member_pull *p, uint64_t want,
                      uint64_t got) {
    if (!p->inf) {
        if (got != want)
            return gr_fail(ctx, "%s: the file now ends after %llu of the member's %llu data bytes", m->where,
                           (unsigned long long)got, (unsigned long long)want);
        return 0;
    }
    if (got != want)
        return gr_fail(ctx, "%s: deflate stream %s after %llu of %llu data bytes", m->where,
                       p->inf->ended ? "ends" : "is cut off", (unsigned long long)got, (unsigned long long)want);
    uint8_t extra;
    int64_t more = gr_inflate_read(ctx, p->inf, &extra, 1);
    if (more < 0) return -1;
    if (more > 0)
        return gr_fail(ctx, "%s: deflate stream holds more than the %llu bytes the central directory gives",
                       m->where, (unsigned long long)m->uncomp);
    if (!p->inf->ended) return gr_fail(ctx, "%s: deflate stream is cut off before its end", m->where);
    if (gr_inflate_unused(p->inf))
        return gr_fail(ctx, "%s: deflate stream ends %llu bytes before the member's compressed size", m->where,
                       (unsigned long long)gr_inflate_unused(p->inf));
    return 0;
}

static int read_member(struct gr_ctx *ctx, struct gr_source *src, int k, void *dst) {
    struct npz_state *st = src->state;
    const struct member *m = &st->m[k];
    struct member_pull p;
    if (start_member(ctx, st, src, m, &p)) return -1;
    uint32_t crc = m->head_crc;
    uint64_t want = m->uncomp - m->header_len, got = 0;
    char refused[GR_ERRBUF];
    uint8_t skip[512];
    int rc = 0;
    /* the header again, to reach the data of a deflate stream */
    for (uint64_t left = m->header_len; p.inf && left && !rc;) {
        int64_t n = gr_inflate_read(ctx, p.inf, skip, left < sizeof skip ? (size_t)left : sizeof skip);
        if (n <= 0) rc = n < 0 ? -1 : gr_fail(ctx, "%s: deflate stream is cut off in the npy header", m->where);
        left -= n > 0 ? (uint64_t)n : 0;
    }
    if (!p.inf) p.off += m->header_len;
    struct gr_array_decoder d;
    gr_decoder_init(&d, &src->arrays[k], m->where, m->fortran, dst);
    rc = rc || gr_npy_decode(ctx, &d, (struct gr_npy_pull){pull_member, &p}, want, &got, &crc, refused) ||
         member_end(ctx, m, &p, want, got);
    if (!rc && crc != m->crc)
        rc = gr_fail(ctx, "%s: CRC-32 mismatch: the archive says %08x, the data gives %08x", m->where, m->crc, crc);
    if (!rc && refused[0]) rc = gr_fail(ctx, "%s", refused);
    if (p.inf) gr_inflate_end(p.inf);
    return rc ? -1 : 0;
}

static int npz_read(struct gr_ctx *ctx, struct gr_source *src, void *const *dst) {
    for (int k = 0; k < src->n_arrays; k++)
        if (dst[k] && read_member(ctx, src, k, dst[k])) return -1;
    return 0;
}

static const char *const npz_extensions[] = {".npz", NULL};

const struct gr_reader_desc gr_reader_npz = {
    .name = "npz",
    .what = "an .npz archive",
    .extensions = npz_extensions,
    .sniff = npz_sniff,
    .open = npz_open,
    .read = npz_read,
    .close = npz_close,
};
