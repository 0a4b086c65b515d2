/* The arrays of a dataset as graphrun keeps them: a name, a stored element
 * type, and dims [N, ...] whose axis 0 counts the samples. Files hold many
 * element types; graphrun stores three, so a dataset stays compact:
 *
 *   in the file                      stored    refused
 *   uint8, bool                      uint8     a bool byte other than 0 or 1
 *   int8, int16, int32, int64,
 *   uint16, uint32, uint64           int32     a value outside int32
 *   float32                          float32   NaN, infinity
 *   float64                          float32   NaN, infinity, a value that
 *                                              rounds beyond float32's range
 *   decimal text (csv)               int32 or float32, see reader_csv.c
 *
 * float64 values are rounded to the nearest float32 (ties to even), so tiny
 * ones become subnormal or zero. A refused value is named with its flat
 * index in C order (numpy's a.flat[i]), whatever the file's layout.
 *
 * Readers (reader.h) report each array's info from the file's headers, the
 * caller allocates gr_array_bytes() and the reader decodes into it, here: a
 * gr_array_decoder takes the file's elements in file order, chunk by chunk,
 * and writes them converted at their C-order place. */
#ifndef GR_ARRAY_H
#define GR_ARRAY_H

#include <stddef.h>
#include <stdint.h>

struct gr_ctx;

#define GR_ARRAY_MAX_RANK 8
#define GR_ARRAY_NAME_MAX 63
/* Bigger than any dataset graphrun is meant to hold in memory (as IDX). */
#define GR_ARRAY_MAX_BYTES ((uint64_t)1 << 36)

/* What graphrun stores. */
enum gr_array_type { GR_ARRAY_U8, GR_ARRAY_I32, GR_ARRAY_F32, GR_ARRAY_TYPE_COUNT };

/* What a file holds. */
enum gr_elem {
    GR_ELEM_BOOL,
    GR_ELEM_U8,
    GR_ELEM_I8,
    GR_ELEM_U16,
    GR_ELEM_I16,
    GR_ELEM_U32,
    GR_ELEM_I32,
    GR_ELEM_U64,
    GR_ELEM_I64,
    GR_ELEM_F32,
    GR_ELEM_F64,
    GR_ELEM_TEXT, /* decimal numbers in a text file */
    GR_ELEM_COUNT
};

/* Byte order of a file's elements; NONE for single bytes and text. */
enum gr_endian { GR_ENDIAN_NONE, GR_ENDIAN_LITTLE, GR_ENDIAN_BIG };

struct gr_array_info {
    char name[GR_ARRAY_NAME_MAX + 1];
    enum gr_elem elem;       /* in the file */
    enum gr_endian endian;   /* in the file */
    enum gr_array_type type; /* stored: gr_elem_stored(elem), or the csv reader's choice */
    int rank;
    int64_t dim[GR_ARRAY_MAX_RANK];
    /* csv: the columns an array was read from (F names for [N, F], one for
     * [N]); NULL for other formats. Owned by the source. */
    char **columns;
    int n_columns;
};

const char *gr_array_type_name(enum gr_array_type t); /* "uint8", "int32", "float32" */
size_t gr_array_type_size(enum gr_array_type t);
const char *gr_elem_name(enum gr_elem e); /* "bool", "uint8", ..., "float64", "text" */
size_t gr_elem_size(enum gr_elem e);      /* 0 for text */
enum gr_array_type gr_elem_stored(enum gr_elem e);
const char *gr_endian_name(enum gr_endian e); /* "none", "little", "big" */

/* prod(dims): elements, and the stored bytes the caller allocates. Both fit
 * once gr_array_set_shape accepted the dims. */
int64_t gr_array_count(const struct gr_array_info *a);
size_t gr_array_bytes(const struct gr_array_info *a);

/* One sample's shape, dims 1..rank-1 of all GR_ARRAY_MAX_RANK, as
 * "[28, 28]" ("[]" for an array [N]), into buf; returns buf. */
const char *gr_array_sample_text(const struct gr_array_info *a, char *buf, size_t len);

/* Set rank and dims, refusing (with `where`, the message's prefix) a rank
 * outside 1..GR_ARRAY_MAX_RANK (0-d arrays are not datasets), a zero
 * dimension, and more than GR_ARRAY_MAX_BYTES in the file or in memory.
 * a->elem and a->type must be set. */
int gr_array_set_shape(struct gr_ctx *ctx, const char *where, struct gr_array_info *a, int rank,
                       const int64_t *dims);

/* ---- for readers: file elements -> stored elements ---------------------- */

struct gr_array_decoder {
    const struct gr_array_info *a;
    const char *where;
    int fortran;      /* the file lists elements with axis 0 fastest */
    uint8_t *dst;     /* the caller's buffer: gr_array_bytes(a) */
    int64_t count;    /* elements in all */
    int64_t done;     /* elements taken so far, in file order */
    int64_t idx[GR_ARRAY_MAX_RANK];     /* fortran: multi-index of element `done` */
    int64_t cstride[GR_ARRAY_MAX_RANK]; /* fortran: C-order strides, in elements */
};

void gr_decoder_init(struct gr_array_decoder *d, const struct gr_array_info *a, const char *where, int fortran,
                     void *dst);
/* Take the next n elements (n * gr_elem_size(a->elem) bytes of the file).
 * Refused values fail with "WHERE: NaN at flat index 7" and the like. */
int gr_decoder_put(struct gr_ctx *ctx, struct gr_array_decoder *d, const void *src, size_t n);
/* Where the next elements may be read raw and converted in place by
 * gr_decoder_put (C order, same element size in file and memory), with
 * room for *n elements; NULL when they must come through a buffer. */
void *gr_decoder_inplace(struct gr_array_decoder *d, size_t *n);

#endif
