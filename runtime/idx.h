/* IDX files (the MNIST format), raw or gzipped. The header is checked
 * against the file before anything is allocated:
 *   bytes 0-1: zero; byte 2: element type (0x08 = unsigned byte, the only
 *   one graphrun reads); byte 3: rank (1..4); then rank big-endian uint32
 *   dimensions; then exactly prod(dims) bytes of data. */
#ifndef GR_IDX_H
#define GR_IDX_H

#include <stddef.h>
#include <stdint.h>

struct gr_ctx;

#define GR_IDX_MAX_RANK 4

struct gr_idx {
    int rank;
    int64_t dim[GR_IDX_MAX_RANK];
    uint8_t *data;
    size_t bytes;
};

/* Read and check only the header (and, for a raw file, its size against the
 * header): rank and dims filled, data NULL. Cheap; allocates nothing. */
int gr_idx_probe(struct gr_ctx *ctx, const char *path, struct gr_idx *out);
/* Load a file; errors name the file and what is wrong with it. */
int gr_idx_load(struct gr_ctx *ctx, const char *path, struct gr_idx *out);
/* Parse an in-memory raw IDX image (used by tests and fuzzing). */
int gr_idx_parse(struct gr_ctx *ctx, const char *name, const uint8_t *buf, size_t len, struct gr_idx *out);
void gr_idx_free(struct gr_ctx *ctx, struct gr_idx *x);

#endif
