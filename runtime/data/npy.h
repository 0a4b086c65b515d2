/* NumPy's .npy layout, shared by the npy reader and the npz reader (whose
 * members are .npy files):
 *   "\x93NUMPY", major, minor (1.0, 2.0 or 3.0);
 *   header length: 2 bytes little-endian (1.0) or 4 (2.0, 3.0);
 *   the header, a Python dict literal padded with spaces and ended by '\n':
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }
 *   then the elements, C order unless fortran_order (axis 0 fastest). */
#ifndef GR_NPY_H
#define GR_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/data/array.h"

struct gr_ctx;

#define GR_NPY_PRELUDE 12 /* enough bytes to know the header's size */
/* numpy itself refuses headers over 10,000 bytes unless told otherwise */
#define GR_NPY_MAX_HEADER 65536

int gr_npy_sniff(const uint8_t *head, size_t n);
/* From the first n bytes (GR_NPY_PRELUDE, or fewer if that is all there
 * is): the size of the whole header, which is where the data starts. */
int gr_npy_header_size(struct gr_ctx *ctx, const char *where, const uint8_t *head, size_t n, size_t *size);
/* Parse a whole header (`size` bytes) into a's elem, endian, type and shape. */
int gr_npy_parse(struct gr_ctx *ctx, const char *where, const uint8_t *h, size_t size, struct gr_array_info *a,
                 int *fortran);

/* Where the elements come from: pread or an inflate stream. Returns the
 * count read (fewer than n only at the source's end) or -1. */
struct gr_npy_pull {
    int64_t (*fn)(struct gr_ctx *ctx, void *ud, void *buf, size_t n);
    void *ud;
};

/* Pull `bytes` bytes through the decoder; *got is how many came (fewer:
 * the source ended early). With crc NULL, a refused value fails at once.
 * With a crc, it is updated over every raw byte and a refused value only
 * stops the decoding: its message goes to refused (GR_ERRBUF bytes, "" if
 * none) and the bytes are still pulled, so the caller can blame a bad
 * checksum first. -1 only for a read or zlib error. */
int gr_npy_decode(struct gr_ctx *ctx, struct gr_array_decoder *d, struct gr_npy_pull pull, uint64_t bytes,
                  uint64_t *got, uint32_t *crc, char *refused);

#endif
