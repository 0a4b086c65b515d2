/* idx: the MNIST format, raw or gzipped:
 *   bytes 0-1: zero; byte 2: element type (0x08 = unsigned byte, the only
 *   one graphrun reads); byte 3: rank (1..4); then rank big-endian uint32
 *   dimensions; then exactly prod(dims) bytes of data.
 * A raw file's size is checked against its header when it is opened; a
 * gzip file's header must not promise more than gzip can expand the file
 * to, and its data is counted as it is read. Gzip members may follow one
 * another, and bytes after the last one are ignored, as zlib's gzread does.
 * The array is named after the file. A raw file's data is one pread into
 * the caller's buffer. */
#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/data/inflate.h"
#include "runtime/data/reader.h"

#define IDX_MAX_RANK 4
/* A real gzip stream cannot expand more than about 1032:1 (deflate's limit). */
#define GZIP_MAX_RATIO 1100u

struct idx_state {
    int gzip;
    size_t header_len;
    size_t data_len;
};

static const char *type_name(int t) {
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    }
    return NULL;
}

static int idx_sniff(const uint8_t *h, size_t n) {
    if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b) return 1;
    return n >= 4 && h[0] == 0 && h[1] == 0 && type_name(h[2]);
}

/* Check the 4-byte magic and the dimensions. */
static int parse_header(struct gr_ctx *ctx, const char *name, const uint8_t *h, size_t have, int *rank,
                        int64_t *dims, size_t *header_len, size_t *data_len) {
    if (have < 4) return gr_fail(ctx, "%s: too short for an IDX header (%zu bytes)", name, have);
    if (h[0] != 0 || h[1] != 0)
        return gr_fail(ctx, "%s: not an IDX file (magic %02x %02x %02x %02x)", name, h[0], h[1], h[2], h[3]);
    if (h[2] != 0x08) {
        const char *t = type_name(h[2]);
        if (t)
            return gr_fail(ctx, "%s: IDX element type 0x%02x (%s) is not supported; graphrun reads unsigned bytes",
                           name, h[2], t);
        return gr_fail(ctx, "%s: not an IDX file (unknown element type 0x%02x)", name, h[2]);
    }
    *rank = h[3];
    if (*rank < 1 || *rank > IDX_MAX_RANK)
        return gr_fail(ctx, "%s: IDX rank %d is out of range (1 to %d)", name, *rank, IDX_MAX_RANK);
    *header_len = 4 + 4 * (size_t)*rank;
    if (have < *header_len) return gr_fail(ctx, "%s: truncated IDX header (%zu of %zu bytes)", name, have, *header_len);
    size_t total = 1;
    for (int i = 0; i < *rank; i++) {
        const uint8_t *p = h + 4 + 4 * i;
        uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (d == 0) return gr_fail(ctx, "%s: IDX dimension %d is zero", name, i);
        dims[i] = d;
        if (gr_mul_size(total, d, &total) || total > GR_ARRAY_MAX_BYTES)
            return gr_fail(ctx, "%s: IDX dimensions claim more than %zu bytes of data", name,
                           (size_t)GR_ARRAY_MAX_BYTES);
    }
    *data_len = total;
    return 0;
}

static int size_mismatch(struct gr_ctx *ctx, const char *name, size_t want, size_t have) {
    return gr_fail(ctx, "%s: header promises %zu bytes of data, the file has %zu%s", name, want, have,
                   have < want ? " (truncated)" : " (trailing bytes)");
}

static int gzip_start(struct gr_ctx *ctx, struct gr_source *src, struct gr_inflate *z) {
    return gr_inflate_init(ctx, z, src, 0, src->size, GR_INFLATE_GZIP, src->path, "corrupt gzip data");
}

/* The header of a gzip stream, and the size check a compressed file allows. */
static int gzip_header(struct gr_ctx *ctx, struct gr_source *src, int *rank, int64_t *dims, size_t *hl,
                       size_t *dl) {
    struct gr_inflate *z = gr_alloc(ctx, sizeof *z);
    if (!z) return -1;
    int rc = gzip_start(ctx, src, z);
    uint8_t h[4 + 4 * IDX_MAX_RANK];
    int64_t got = rc ? -1 : gr_inflate_read(ctx, z, h, 4);
    if (got == 4 && h[3] >= 1 && h[3] <= IDX_MAX_RANK) {
        int64_t more = gr_inflate_read(ctx, z, h + 4, 4u * h[3]);
        if (more > 0) got += more; /* a corrupt stream shows as a truncated header */
    }
    rc = got < 0 || parse_header(ctx, src->path, h, (size_t)got, rank, dims, hl, dl);
    if (!rc && *dl / GZIP_MAX_RATIO > src->size)
        rc = gr_fail(ctx, "%s: header promises %zu bytes, more than a %llu-byte gzip file can hold", src->path, *dl,
                     (unsigned long long)src->size);
    gr_inflate_end(z);
    gr_free(ctx, z);
    return rc ? -1 : 0;
}

static int idx_open(struct gr_ctx *ctx, struct gr_source *src, const struct gr_read_opts *opts) {
    (void)opts;
    uint8_t h[4 + 4 * IDX_MAX_RANK];
    int64_t got = gr_source_pread(ctx, src, h, sizeof h, 0);
    if (got < 0) return -1;
    struct idx_state st = {.gzip = got >= 2 && h[0] == 0x1f && h[1] == 0x8b};
    int rank = 0;
    int64_t dims[IDX_MAX_RANK];
    if (st.gzip ? gzip_header(ctx, src, &rank, dims, &st.header_len, &st.data_len)
                : parse_header(ctx, src->path, h, (size_t)got, &rank, dims, &st.header_len, &st.data_len))
        return -1;
    if (!st.gzip && src->size - st.header_len != st.data_len)
        return size_mismatch(ctx, src->path, st.data_len, (size_t)(src->size - st.header_len));
    const char *base = strrchr(src->path, '/') ? strrchr(src->path, '/') + 1 : src->path;
    size_t n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".gz") == 0) n -= 3;
    char name[GR_ARRAY_NAME_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)n, base);
    struct gr_array_info *a = gr_source_add(ctx, src, src->path, name);
    if (!a) return -1;
    a->elem = GR_ELEM_U8;
    a->endian = GR_ENDIAN_NONE;
    a->type = GR_ARRAY_U8;
    if (gr_array_set_shape(ctx, src->path, a, rank, dims)) return -1;
    struct idx_state *keep = gr_alloc(ctx, sizeof *keep);
    if (!keep) return -1;
    *keep = st;
    src->state = keep;
    return 0;
}

static int gzip_data(struct gr_ctx *ctx, struct gr_source *src, const struct idx_state *st, uint8_t *dst) {
    struct gr_inflate *z = gr_alloc(ctx, sizeof *z);
    if (!z) return -1;
    uint8_t skip[4 + 4 * IDX_MAX_RANK], extra;
    int rc = gzip_start(ctx, src, z);
    int64_t n = rc ? -1 : gr_inflate_read(ctx, z, skip, st->header_len);
    if (n >= 0 && (size_t)n == st->header_len) n = gr_inflate_read(ctx, z, dst, st->data_len);
    else if (n >= 0) n = 0;
    if (n >= 0 && (size_t)n < st->data_len)
        n = gr_fail(ctx, "%s: truncated: header promises %zu bytes of data, the file has %zu", src->path,
                    st->data_len, (size_t)n);
    if (n >= 0) n = gr_inflate_read(ctx, z, &extra, 1);
    if (n > 0)
        n = gr_fail(ctx, "%s: header promises %zu bytes of data, the file has more (trailing bytes)", src->path,
                    st->data_len);
    gr_inflate_end(z);
    gr_free(ctx, z);
    return n < 0 ? -1 : 0;
}

static int idx_read(struct gr_ctx *ctx, struct gr_source *src, void *const *dst) {
    const struct idx_state *st = src->state;
    if (!dst[0]) return 0;
    if (st->gzip) return gzip_data(ctx, src, st, dst[0]);
    int64_t got = gr_source_pread(ctx, src, dst[0], st->data_len, st->header_len);
    if (got < 0) return -1;
    if ((size_t)got != st->data_len)
        return gr_fail(ctx, "%s: the file changed after its header was checked: it now ends after %zu of the %zu "
                            "bytes of data",
                       src->path, (size_t)got, st->data_len);
    return 0;
}

static void idx_close(struct gr_ctx *ctx, struct gr_source *src) {
    gr_free(ctx, src->state);
    src->state = NULL;
}

static const char *const idx_extensions[] = {"-ubyte", ".idx", NULL};

const struct gr_reader_desc gr_reader_idx = {
    .name = "idx",
    .what = "an IDX file",
    .extensions = idx_extensions,
    .sniff = idx_sniff,
    .open = idx_open,
    .read = idx_read,
    .close = idx_close,
};
