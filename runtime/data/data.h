/* A labelled image set held as the bytes of its IDX files: 47 MB for MNIST's
 * training set instead of 188 MB as floats. Batches are converted on the way
 * into the graph, and shuffling permutes indices, never the data. */
#ifndef GR_DATA_H
#define GR_DATA_H

#include <stdint.h>

#include "runtime/data/idx.h"

struct gr_ctx;
struct gr_rng;

struct gr_dataset {
    int64_t n;           /* samples */
    int sample_rank;     /* axes of one image (2 for 28x28) */
    int64_t sample_dim[GR_IDX_MAX_RANK];
    int64_t sample_size; /* bytes per image */
    int max_label;
    struct gr_idx images, labels;
};

/* Open both files, check their headers (and raw files' sizes) and that they
 * describe the same samples, reading no data: n and the sample shape are
 * filled, and the files stay open for gr_dataset_read. */
int gr_dataset_open(struct gr_ctx *ctx, struct gr_dataset *d, const char *images, const char *labels);
/* Read the data of an opened set through the descriptors its headers were
 * checked through (with_images 0: the labels only; the images are checked as
 * gr_idx_check_data does, not kept). Paths are for messages. */
int gr_dataset_read(struct gr_ctx *ctx, struct gr_dataset *d, const char *images, const char *labels, int with_images);
/* Open and read both files. */
int gr_dataset_load(struct gr_ctx *ctx, struct gr_dataset *d, const char *images, const char *labels);
/* Index of the first of the first n samples whose label is >= at_least, or -1. */
int64_t gr_dataset_find_label(const struct gr_dataset *d, int at_least);
void gr_dataset_free(struct gr_ctx *ctx, struct gr_dataset *d);

/* dst[j] = lo + (hi - lo) / 255 * src[j] (the scale in float), for j < n:
 * how bytes become a model's input, for datasets and for predict's images. */
void gr_bytes_to_floats(const uint8_t *src, int64_t n, float lo, float hi, float *dst);
/* The same for images idx[0..n) into dst [n, sample_size]. */
void gr_dataset_images(const struct gr_dataset *d, const int32_t *idx, int64_t n, float lo, float hi, float *dst);
/* dst[k] = label[idx[k]] */
void gr_dataset_labels(const struct gr_dataset *d, const int32_t *idx, int64_t n, int32_t *dst);

/* A shuffled pass over 0..n-1 that reshuffles at each epoch's end. */
struct gr_sampler {
    int64_t n, pos, epoch;
    int32_t *order;
};
int gr_sampler_init(struct gr_ctx *ctx, struct gr_sampler *s, int64_t n, struct gr_rng *rng);
void gr_sampler_free(struct gr_ctx *ctx, struct gr_sampler *s);
/* The next `count` indices, crossing into a freshly shuffled epoch if needed. */
void gr_sampler_next(struct gr_sampler *s, struct gr_rng *rng, int64_t count, int32_t *dst);

#endif
