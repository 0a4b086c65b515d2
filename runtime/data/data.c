#include "runtime/data/data.h"

#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/base/rng.h"

/* Images and labels must describe the same samples. */
static int check_pair(struct gr_ctx *ctx, struct gr_dataset *d, const char *images, const char *labels) {
    if (d->images.rank < 2)
        return gr_fail(ctx, "%s: images need at least 2 axes (count, then the image's), this file has %d", images,
                       d->images.rank);
    if (d->labels.rank != 1)
        return gr_fail(ctx, "%s: labels must be a list (rank 1), this file has rank %d", labels, d->labels.rank);
    if (d->images.dim[0] != d->labels.dim[0])
        return gr_fail(ctx, "%s: %lld labels, but %s holds %lld images", labels, (long long)d->labels.dim[0], images,
                       (long long)d->images.dim[0]);
    if (d->images.dim[0] > INT32_MAX) return gr_fail(ctx, "%s: more than %d samples", images, INT32_MAX);
    d->n = d->images.dim[0];
    d->sample_rank = d->images.rank - 1;
    d->sample_size = 1;
    for (int i = 1; i < d->images.rank; i++) {
        d->sample_dim[i - 1] = d->images.dim[i];
        d->sample_size *= d->images.dim[i];
    }
    return 0;
}

int gr_dataset_open(struct gr_ctx *ctx, struct gr_dataset *d, const char *images, const char *labels) {
    memset(d, 0, sizeof *d);
    if (gr_idx_open(ctx, images, &d->images) || gr_idx_open(ctx, labels, &d->labels) ||
        check_pair(ctx, d, images, labels)) {
        gr_dataset_free(ctx, d);
        return -1;
    }
    return 0;
}

int gr_dataset_read(struct gr_ctx *ctx, struct gr_dataset *d, const char *images, const char *labels, int with_images) {
    if (with_images ? gr_idx_read(ctx, images, &d->images) : gr_idx_check_data(ctx, images, &d->images)) return -1;
    if (gr_idx_read(ctx, labels, &d->labels)) return -1;
    /* what was read is what was checked: n samples of sample_size bytes */
    GR_ASSERT(d->labels.bytes == (size_t)d->labels.dim[0] && d->labels.dim[0] == d->images.dim[0]);
    GR_ASSERT(!with_images || d->images.bytes == (size_t)(d->images.dim[0] * d->sample_size));
    d->max_label = 0;
    for (int64_t i = 0; i < d->images.dim[0]; i++)
        if (d->labels.data[i] > d->max_label) d->max_label = d->labels.data[i];
    return 0;
}

int gr_dataset_load(struct gr_ctx *ctx, struct gr_dataset *d, const char *images, const char *labels) {
    if (gr_dataset_open(ctx, d, images, labels) || gr_dataset_read(ctx, d, images, labels, 1)) {
        gr_dataset_free(ctx, d);
        return -1;
    }
    return 0;
}

int64_t gr_dataset_find_label(const struct gr_dataset *d, int at_least) {
    GR_ASSERT(d->labels.data);
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels.data[i] >= at_least) return i;
    return -1;
}

void gr_dataset_free(struct gr_ctx *ctx, struct gr_dataset *d) {
    gr_idx_free(ctx, &d->images);
    gr_idx_free(ctx, &d->labels);
    memset(d, 0, sizeof *d);
}

void gr_bytes_to_floats(const uint8_t *src, int64_t n, float lo, float hi, float *dst) {
    float scale = (hi - lo) / 255.0f;
    for (int64_t j = 0; j < n; j++) dst[j] = lo + scale * (float)src[j];
}

void gr_dataset_images(const struct gr_dataset *d, const int32_t *idx, int64_t n, float lo, float hi, float *dst) {
    int64_t s = d->sample_size;
    for (int64_t k = 0; k < n; k++) gr_bytes_to_floats(d->images.data + (int64_t)idx[k] * s, s, lo, hi, dst + k * s);
}

void gr_dataset_labels(const struct gr_dataset *d, const int32_t *idx, int64_t n, int32_t *dst) {
    for (int64_t k = 0; k < n; k++) dst[k] = d->labels.data[idx[k]];
}

static void shuffle(int32_t *a, int64_t n, struct gr_rng *rng) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)gr_rng_below(rng, (uint64_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int gr_sampler_init(struct gr_ctx *ctx, struct gr_sampler *s, int64_t n, struct gr_rng *rng) {
    memset(s, 0, sizeof *s);
    s->order = gr_alloc(ctx, (size_t)n * sizeof *s->order);
    if (!s->order) return -1;
    s->n = n;
    for (int64_t i = 0; i < n; i++) s->order[i] = (int32_t)i;
    shuffle(s->order, n, rng);
    return 0;
}

void gr_sampler_free(struct gr_ctx *ctx, struct gr_sampler *s) {
    gr_free(ctx, s->order);
    memset(s, 0, sizeof *s);
}

void gr_sampler_next(struct gr_sampler *s, struct gr_rng *rng, int64_t count, int32_t *dst) {
    for (int64_t k = 0; k < count; k++) {
        if (s->pos == s->n) {
            shuffle(s->order, s->n, rng);
            s->pos = 0;
            s->epoch++;
        }
        dst[k] = s->order[s->pos++];
    }
}
