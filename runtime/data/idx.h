/* IDX files (the MNIST format), raw or gzipped. The header is checked
 * against the file before anything is allocated:
 *   bytes 0-1: zero; byte 2: element type (0x08 = unsigned byte, the only
 *   one graphrun reads); byte 3: rank (1..4); then rank big-endian uint32
 *   dimensions; then exactly prod(dims) bytes of data.
 *
 * A file is opened once: its header and size are checked through that
 * descriptor (fstat), which stays open until the data is read through it, so
 * what was checked is what is read, even if the path is replaced in between;
 * and the data read is never more than the checked header promised. */
#ifndef GR_IDX_H
#define GR_IDX_H

#include <stddef.h>
#include <stdint.h>

struct gr_ctx;

#define GR_IDX_MAX_RANK 4

struct gr_idx {
    int rank;
    int64_t dim[GR_IDX_MAX_RANK];
    uint8_t *data; /* NULL until read */
    size_t bytes;  /* bytes of data: what the header promises, and holds once read */
    /* the checked file, from gr_idx_open until it is read or closed */
    int open, fd, gzip;
    size_t header_len;
    int64_t file_size, mtime_ns;
};

/* Open a file and check its header (and, for a raw file, its size against
 * the header) through one descriptor, kept open: rank, dims and bytes
 * filled, data NULL. Allocates nothing. */
int gr_idx_open(struct gr_ctx *ctx, const char *path, struct gr_idx *x);
/* Read the data of an opened file through its descriptor, exactly the bytes
 * its checked header promised, then close it. Fails (the data freed) if the
 * file changed since it was opened. `path` is for messages; calls
 * ctx->data_hook first. */
int gr_idx_read(struct gr_ctx *ctx, const char *path, struct gr_idx *x);
/* What gr_idx_read checks, without keeping the data (a gzip file is
 * decompressed through a small buffer; a raw file's size was checked when it
 * was opened), then close it. */
int gr_idx_check_data(struct gr_ctx *ctx, const char *path, struct gr_idx *x);
/* Close the descriptor of an opened file (any data is kept). */
void gr_idx_close(struct gr_idx *x);
/* Open and close: the header and size checks alone. */
int gr_idx_probe(struct gr_ctx *ctx, const char *path, struct gr_idx *out);
/* Open and read a file; errors name the file and what is wrong with it. */
int gr_idx_load(struct gr_ctx *ctx, const char *path, struct gr_idx *out);
/* Parse an in-memory raw IDX image (used by tests and fuzzing). */
int gr_idx_parse(struct gr_ctx *ctx, const char *name, const uint8_t *buf, size_t len, struct gr_idx *out);
/* Close and free. */
void gr_idx_free(struct gr_ctx *ctx, struct gr_idx *x);

#endif
