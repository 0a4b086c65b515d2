#include "runtime/data/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime/base/ctx.h"

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

void gr_idx_close(struct gr_idx *x) {
    if (x->open) close(x->fd);
    x->open = 0;
    x->fd = -1;
}

void gr_idx_free(struct gr_ctx *ctx, struct gr_idx *x) {
    gr_idx_close(x);
    gr_free(ctx, x->data);
    memset(x, 0, sizeof *x);
}

/* zlib's message for a stream, without the name zlib puts in front of it
 * (the path, or "<fd:N>" for a stream on a descriptor). */
static const char *gz_message(gzFile gz, const char *path) {
    int zerr;
    const char *m = gzerror(gz, &zerr);
    size_t n = strlen(path);
    if (strncmp(m, path, n) == 0 && m[n] == ':' && m[n + 1] == ' ') m += n + 2;
    else if (strncmp(m, "<fd:", 4) == 0 && strstr(m, ">: ")) m = strstr(m, ">: ") + 3;
    return m;
}

/* A gzip stream over the file from its first byte, on a duplicate of the
 * descriptor (gzclose closes the duplicate; the file stays open). */
static gzFile gz_open_fd(struct gr_ctx *ctx, const char *path, int fd) {
    int dup_fd = lseek(fd, 0, SEEK_SET) == 0 ? dup(fd) : -1;
    gzFile gz = dup_fd >= 0 ? gzdopen(dup_fd, "rb") : NULL;
    if (!gz) {
        if (dup_fd >= 0) close(dup_fd);
        gr_fail(ctx, "%s: cannot read: %s", path, strerror(errno));
    }
    return gz;
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

/* The data of a gzip file, after its header is read again and found to be
 * the one that was checked: exactly x->bytes, no more, into x->data, or, when
 * that is NULL, through a small buffer (decompressed only to be checked). */
static int read_gzip(struct gr_ctx *ctx, const char *path, struct gr_idx *x) {
    uint8_t sink[1 << 14];
    gzFile gz = gz_open_fd(ctx, path, x->fd);
    if (!gz) return -1;
    int rc = -1;
    struct gr_idx again;
    memset(&again, 0, sizeof again);
    size_t dl = 0;
    if (gzip_header(ctx, gz, path, (size_t)x->file_size, &again, &dl)) goto out;
    if (again.rank != x->rank || memcmp(again.dim, x->dim, sizeof x->dim) != 0 || dl != x->bytes) {
        gr_fail(ctx, "%s: the file changed after its header was checked", path);
        goto out;
    }
    size_t at = 0;
    while (at < dl) {
        unsigned most = x->data ? 1u << 30 : (unsigned)sizeof sink;
        unsigned chunk = dl - at > most ? most : (unsigned)(dl - at);
        int n = gzread(gz, x->data ? x->data + at : sink, chunk);
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
    rc = 0;
out:
    gzclose(gz);
    return rc;
}

/* The data of a raw file: exactly x->bytes from the end of its header. */
static int read_raw(struct gr_ctx *ctx, const char *path, struct gr_idx *x) {
    size_t at = 0;
    while (at < x->bytes) {
        size_t chunk = x->bytes - at > ((size_t)1 << 30) ? ((size_t)1 << 30) : x->bytes - at;
        ssize_t n = pread(x->fd, x->data + at, chunk, (off_t)(x->header_len + at));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return gr_fail(ctx, "%s: read error: %s", path, strerror(errno));
        if (n == 0)
            return gr_fail(ctx, "%s: the file changed after its header was checked: it now ends after %zu of the %zu "
                                "bytes of data",
                           path, at, x->bytes);
        at += (size_t)n;
    }
    return 0;
}

static int64_t mtime_ns(const struct stat *st) {
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The file the descriptor holds must still be the one that was checked. */
static int check_unchanged(struct gr_ctx *ctx, const char *path, const struct gr_idx *x) {
    struct stat st;
    if (fstat(x->fd, &st) != 0) return gr_fail(ctx, "%s: cannot read: %s", path, strerror(errno));
    if ((int64_t)st.st_size != x->file_size)
        return gr_fail(ctx, "%s: the file changed while graphrun was reading it (%lld bytes, then %lld)", path,
                       (long long)x->file_size, (long long)st.st_size);
    if (mtime_ns(&st) != x->mtime_ns)
        return gr_fail(ctx, "%s: the file changed while graphrun was reading it (written to since it was checked)",
                       path);
    return 0;
}

/* A missing MNIST file is most likely one not fetched yet. */
static const char *fetch_hint(const char *path, int err) {
    static const char *const mnist[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                        "t10k-labels-idx1-ubyte", NULL};
    if (err != ENOENT) return "";
    const char *hint = " (run tools/fetch_mnist.sh)";
    if (strstr(path, "data/mnist/")) return hint;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (int i = 0; mnist[i]; i++)
        if (strncmp(base, mnist[i], strlen(mnist[i])) == 0) return hint;
    return "";
}

/* Check the header (and a raw file's size) through the open descriptor. */
static int check_open(struct gr_ctx *ctx, const char *path, struct gr_idx *x, const struct stat *st) {
    if (S_ISDIR(st->st_mode)) return gr_fail(ctx, "%s: is a directory, not an IDX file", path);
    if (!S_ISREG(st->st_mode)) return gr_fail(ctx, "%s: not a regular file", path);
    if (st->st_size == 0) return gr_fail(ctx, "%s: file is empty", path);
    x->file_size = (int64_t)st->st_size;
    x->mtime_ns = mtime_ns(st);
    uint8_t h[4 + 4 * GR_IDX_MAX_RANK];
    ssize_t got = pread(x->fd, h, sizeof h, 0);
    if (got < 0) return gr_fail(ctx, "%s: read error: %s", path, strerror(errno));
    x->gzip = got >= 2 && h[0] == 0x1f && h[1] == 0x8b;
    size_t dl = 0;
    if (x->gzip) {
        gzFile gz = gz_open_fd(ctx, path, x->fd);
        if (!gz) return -1;
        int rc = gzip_header(ctx, gz, path, (size_t)st->st_size, x, &dl);
        gzclose(gz);
        if (rc) return -1;
    } else {
        if (parse_header(ctx, path, h, (size_t)got, x, &x->header_len, &dl)) return -1;
        size_t have = (size_t)st->st_size - x->header_len;
        if (have != dl)
            return gr_fail(ctx, "%s: header promises %zu bytes of data, the file has %zu%s", path, dl, have,
                           have < dl ? " (truncated)" : " (trailing bytes)");
    }
    x->bytes = dl;
    return 0;
}

int gr_idx_open(struct gr_ctx *ctx, const char *path, struct gr_idx *x) {
    memset(x, 0, sizeof *x);
    x->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (x->fd < 0) {
        int err = errno;
        return gr_fail(ctx, "%s: cannot open: %s%s", path, strerror(err), fetch_hint(path, err));
    }
    x->open = 1;
    struct stat st;
    int rc = fstat(x->fd, &st) != 0 ? gr_fail(ctx, "%s: cannot read: %s", path, strerror(errno))
                                    : check_open(ctx, path, x, &st);
    if (rc) gr_idx_free(ctx, x);
    return rc;
}

int gr_idx_read(struct gr_ctx *ctx, const char *path, struct gr_idx *x) {
    GR_ASSERT(x->open && !x->data);
    if (ctx->data_hook) ctx->data_hook(ctx->data_hook_ud, path);
    x->data = gr_alloc(ctx, x->bytes ? x->bytes : 1);
    int rc = x->data ? 0 : -1;
    if (rc == 0) rc = x->gzip ? read_gzip(ctx, path, x) : read_raw(ctx, path, x);
    if (rc == 0) rc = check_unchanged(ctx, path, x);
    gr_idx_close(x);
    if (rc) {
        gr_free(ctx, x->data);
        x->data = NULL;
    }
    return rc;
}

int gr_idx_check_data(struct gr_ctx *ctx, const char *path, struct gr_idx *x) {
    GR_ASSERT(x->open && !x->data);
    int rc = x->gzip ? read_gzip(ctx, path, x) : 0;
    if (rc == 0) rc = check_unchanged(ctx, path, x);
    gr_idx_close(x);
    return rc;
}

int gr_idx_probe(struct gr_ctx *ctx, const char *path, struct gr_idx *x) {
    if (gr_idx_open(ctx, path, x)) return -1;
    gr_idx_close(x);
    return 0;
}

int gr_idx_load(struct gr_ctx *ctx, const char *path, struct gr_idx *x) {
    if (gr_idx_open(ctx, path, x)) return -1;
    if (gr_idx_read(ctx, path, x)) {
        gr_idx_free(ctx, x);
        return -1;
    }
    return 0;
}
