/* A dataset: named arrays of samples from one or more files (reader.h), all
 * with the same count N on their axis 0, kept as the files' readers store
 * them (uint8 stays uint8: MNIST's training images are 47 MB, not 188 MB as
 * floats). Batches are converted on their way into the graph, and shuffling
 * permutes indices, never the data.
 *
 *     gr_dataset_add(ctx, &d, &(struct gr_dataset_file){"x.npy", NULL, "images", NULL});
 *     gr_dataset_add(ctx, &d, &(struct gr_dataset_file){"t.csv", "csv", NULL, &opts});  // features, labels
 *     ... check d.arrays[k] (type, dims) against the model; mark what to read ...
 *     gr_dataset_read(ctx, &d);   // through the descriptors the headers were checked with
 *
 * Adding a file reads and checks its headers only; its descriptor stays open
 * until the dataset is read, so what is read is the file that was checked
 * even if the path is replaced in between. */
#ifndef GR_DATA_DATASET_H
#define GR_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/data/reader.h"

struct gr_ctx;

#define GR_DATASET_MAX_FILES 16

/* One file of a dataset, as a config names it. */
struct gr_dataset_file {
    const char *path;
    const char *format;               /* a reader's name; NULL: detected */
    const char *name;                 /* its one array is called this (images: x.npy); NULL: its
                                         arrays keep their names (npz members, csv's features and labels) */
    const struct gr_read_opts *opts;  /* csv; NULL: none */
};

struct gr_data_array {
    struct gr_array_info info; /* name (as the dataset calls it), types, dims [rows, ...]; no columns */
    int file, k;               /* the file (d->src) and its array */
    int64_t per_sample;        /* values of one sample: prod(dims[1..]) */
    int wanted;                /* read by gr_dataset_read */
    int keep;                  /* and kept after it (0: read to be checked, then freed) */
    void *data;                /* NULL until read */
};

struct gr_dataset {
    int64_t rows; /* samples in the files */
    int64_t n;    /* samples used: rows, or fewer (gr_dataset_limit) */
    int n_files;
    struct gr_source src[GR_DATASET_MAX_FILES];
    int read;     /* src[] read and closed (their path and reader kept) */
    int n_arrays;
    struct gr_data_array *arrays;
};

/* Open file f and check its headers; its arrays join d (names unique,
 * counts equal to the others'). Errors start with the file's path. */
int gr_dataset_add(struct gr_ctx *ctx, struct gr_dataset *d, const struct gr_dataset_file *f);
/* Use only the first `limit` samples (0: all). */
void gr_dataset_limit(struct gr_dataset *d, int64_t limit);
/* Index of the array called `name`, or -1. */
int gr_dataset_find(const struct gr_dataset *d, const char *name);
/* Read every wanted array through its file's descriptor (ctx->data_hook is
 * called with each file's path first), then close the files. Arrays not
 * marked `keep` are read (so their values are checked) and freed. On
 * failure *bad is the index of the file that failed. */
int gr_dataset_read(struct gr_ctx *ctx, struct gr_dataset *d, int *bad);
/* The bytes the wanted arrays take once read (and kept). */
size_t gr_dataset_bytes(const struct gr_dataset *d);
/* The file array k came from. */
const char *gr_dataset_path(const struct gr_dataset *d, int k);
void gr_dataset_free(struct gr_ctx *ctx, struct gr_dataset *d);

/* Array k's value at flat index i (rows[0..) of samples), as an integer;
 * for uint8 and int32 arrays. */
int32_t gr_dataset_int(const struct gr_dataset *d, int k, int64_t i);
/* The first flat index (among the first n samples) of int array k whose
 * value lies outside [0, limit), or -1. */
int64_t gr_dataset_find_outside(const struct gr_dataset *d, int k, int64_t n, int64_t limit);

/* dst[j] = lo + (hi - lo) / 255 * src[j] (the scale in float), for j < n:
 * how bytes become a model's input, for datasets and for predict's images. */
void gr_bytes_to_floats(const uint8_t *src, int64_t n, float lo, float hi, float *dst);
/* Samples rows[0..n) of array k into dst [n, per_sample]: float32 from a
 * uint8 array (mapped onto [lo, hi]) or a float32 one; int32 from a uint8 or
 * int32 one. */
void gr_dataset_floats(const struct gr_dataset *d, int k, const int32_t *rows, int64_t n, float lo, float hi,
                       float *dst);
void gr_dataset_ints(const struct gr_dataset *d, int k, const int32_t *rows, int64_t n, int32_t *dst);

#endif
