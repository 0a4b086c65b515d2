#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "ctx.h"

/* A real gzip stream cannot expand more than about 1032:1 (deflate's limit). */
#define GZIP_MAX_RATIO 1100u
/* Bigger than any dataset graphrun is meant to hold in memory. */
#define IDX_MAX_BYTES ((size_t)1 << 36)

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

/* Check the 4-byte magic and the dimensions; returns the data size. */
static int parse_header(struct gr_ctx *ctx, const char *name, const uint8_t *h, size_t have, struct gr_idx *x,
                        size_t *header_len, size_t *data_len) {
    if (have < 4) return gr_fail(ctx, "%s: too short for an IDX header (%zu bytes)", name, have);
    if (h[0] != 0 || h[1] != 0)
        return gr_fail(ctx, "%s: not an IDX file (magic %02x %02x %02x %02x)", name, h[0], h[1], h[2], h[3]);
    if (h[2] != 0x08) {
        const char *t = type_name(h[2]);
        if (t) return gr_fail(ctx, "%s: IDX element type 0x%02x (%s) is not supported; graphrun reads unsigned bytes", name, h[2], t);
        return gr_fail(ctx, "%s: not an IDX file (unknown element type 0x%02x)", name, h[2]);
    }
    int rank = h[3];
    if (rank < 1 || rank > GR_IDX_MAX_RANK)
        return gr_fail(ctx, "%s: IDX rank %d is out of range (1 to %d)", name, rank, GR_IDX_MAX_RANK);
    *header_len = 4 + 4 * (size_t)rank;
    if (have < *header_len)
        return gr_fail(ctx, "%s: truncated IDX header (%zu of %zu bytes)", name, have, *header_len);
    size_t total = 1;
    x->rank = rank;
    for (int i = 0; i < rank; i++) {
        const uint8_t *p = h + 4 + 4 * i;
        uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (d == 0) return gr_fail(ctx, "%s: IDX dimension %d is zero", name, i);
        x->dim[i] = d;
        if (gr_mul_size(total, d, &total) || total > IDX_MAX_BYTES)
            return gr_fail(ctx, "%s: IDX dimensions claim more than %zu bytes of data", name, IDX_MAX_BYTES);
    }
    *data_len = total;
    return 0;
}

int gr_idx_parse(struct gr_ctx *ctx, const char *name, const uint8_t *buf, size_t len, struct gr_idx *x) {
    memset(x, 0, sizeof *x);
    size_t hl = 0, dl = 0;
    if (parse_header(ctx, name, buf, len, x, &hl, &dl)) return -1;
    if (len - hl != dl)
        return gr_fail(ctx, "%s: header promises %zu bytes of data, the file has %zu%s", name, dl, len - hl,
                       len - hl < dl ? " (truncated)" : " (trailing bytes)");
    x->data = gr_alloc(ctx, dl);
    if (!x->data) return -1;
    memcpy(x->data, buf + hl, dl);
    x->bytes = dl;
    return 0;
}

void gr_idx_free(struct gr_ctx *ctx, struct gr_idx *x) {
    gr_free(ctx, x->data);
    memset(x, 0, sizeof *x);
}

/* zlib's message for a stream, without the path zlib puts in front of it. */
static const char *gz_message(gzFile gz, const char *path) {
    int zerr;
    const char *m = gzerror(gz, &zerr);
    size_t n = strlen(path);
    if (strncmp(m, path, n) == 0 && m[n] == ':' && m[n + 1] == ' ') m += n + 2;
    return m;
}

/* The header of a gzip stream, and the size check a compressed file allows. */
static int gzip_header(struct gr_ctx *ctx, gzFile gz, const char *path, size_t file_size, struct gr_idx *x,
                       size_t *data_len) {
    uint8_t h[4 + 4 * GR_IDX_MAX_RANK];
    int got = gzread(gz, h, 4);
    if (got < 0) return gr_fail(ctx, "%s: corrupt gzip data: %s", path, gz_message(gz, path));
    if (got == 4 && h[3] >= 1 && h[3] <= GR_IDX_MAX_RANK) {
        int more = gzread(gz, h + 4, 4u * h[3]);
        if (more > 0) got += more;
    }
    size_t hl = 0;
    if (parse_header(ctx, path, h, (size_t)got, x, &hl, data_len)) return -1;
    if (*data_len / GZIP_MAX_RATIO > file_size)
        return gr_fail(ctx, "%s: header promises %zu bytes, more than a %zu-byte gzip file can hold", path, *data_len,
                       file_size);
    return 0;
}

static int load_gzip(struct gr_ctx *ctx, const char *path, size_t file_size, struct gr_idx *x, int header_only) {
    gzFile gz = gzopen(path, "rb");
    if (!gz) return gr_fail(ctx, "%s: cannot open: %s", path, strerror(errno));
    int rc = -1;
    size_t dl = 0;
    if (gzip_header(ctx, gz, path, file_size, x, &dl)) goto out;
    if (header_only) {
        rc = 0;
        goto out;
    }
    x->data = gr_alloc(ctx, dl);
    if (!x->data) goto out;
    size_t at = 0;
    while (at < dl) {
        unsigned chunk = dl - at > (1u << 30) ? (1u << 30) : (unsigned)(dl - at);
        int n = gzread(gz, x->data + at, chunk);
        if (n < 0) {
            gr_fail(ctx, "%s: corrupt gzip data: %s", path, gz_message(gz, path));
            goto out;
        }
        if (n == 0) {
            gr_fail(ctx, "%s: truncated: header promises %zu bytes of data, the file has %zu", path, dl, at);
            goto out;
        }
        at += (size_t)n;
    }
    uint8_t extra;
    int n = gzread(gz, &extra, 1);
    if (n > 0) {
        gr_fail(ctx, "%s: header promises %zu bytes of data, the file has more (trailing bytes)", path, dl);
        goto out;
    }
    if (n < 0) {
        gr_fail(ctx, "%s: corrupt gzip data: %s", path, gz_message(gz, path));
        goto out;
    }
    x->bytes = dl;
    rc = 0;
out:
    gzclose(gz);
    if (rc) gr_idx_free(ctx, x);
    return rc;
}

/* Open and check everything but the data; *gzip set for a gzip file. */
static int open_checked(struct gr_ctx *ctx, const char *path, struct gr_idx *x, FILE **fp, size_t *file_size,
                        size_t *header_len, int *gzip) {
    memset(x, 0, sizeof *x);
    *fp = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return gr_fail(ctx, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return gr_fail(ctx, "%s: is a directory, not an IDX file", path);
    if (!S_ISREG(st.st_mode)) return gr_fail(ctx, "%s: not a regular file", path);
    if (st.st_size == 0) return gr_fail(ctx, "%s: file is empty", path);
    FILE *f = fopen(path, "rb");
    if (!f) return gr_fail(ctx, "%s: cannot open: %s", path, strerror(errno));
    *file_size = (size_t)st.st_size;
    uint8_t h[4 + 4 * GR_IDX_MAX_RANK];
    size_t got = fread(h, 1, sizeof h, f);
    *gzip = got >= 2 && h[0] == 0x1f && h[1] == 0x8b;
    if (*gzip) {
        fclose(f);
        return 0;
    }
    size_t dl;
    if (parse_header(ctx, path, h, got, x, header_len, &dl)) {
        fclose(f);
        return -1;
    }
    size_t have = *file_size - *header_len;
    if (have != dl) {
        fclose(f);
        return gr_fail(ctx, "%s: header promises %zu bytes of data, the file has %zu%s", path, dl, have,
                       have < dl ? " (truncated)" : " (trailing bytes)");
    }
    x->bytes = dl;
    *fp = f;
    return 0;
}

int gr_idx_probe(struct gr_ctx *ctx, const char *path, struct gr_idx *x) {
    FILE *f;
    size_t size = 0, hl = 0;
    int gzip = 0;
    if (open_checked(ctx, path, x, &f, &size, &hl, &gzip)) return -1;
    if (gzip) return load_gzip(ctx, path, size, x, 1);
    fclose(f);
    x->bytes = 0; /* no data held */
    return 0;
}

int gr_idx_load(struct gr_ctx *ctx, const char *path, struct gr_idx *x) {
    FILE *f;
    size_t size = 0, hl = 0;
    int gzip = 0;
    if (open_checked(ctx, path, x, &f, &size, &hl, &gzip)) return -1;
    if (gzip) return load_gzip(ctx, path, size, x, 0);
    size_t dl = x->bytes;
    x->data = gr_alloc(ctx, dl);
    if (!x->data) {
        fclose(f);
        return -1;
    }
    if (fseek(f, (long)hl, SEEK_SET) != 0 || fread(x->data, 1, dl, f) != dl) {
        fclose(f);
        gr_idx_free(ctx, x);
        return gr_fail(ctx, "%s: read error", path);
    }
    fclose(f);
    return 0;
}
