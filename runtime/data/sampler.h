/* Which samples a run reads, and in what order: a shuffled pass over the
 * training samples that reshuffles at each epoch's end, and a validation
 * set held out of the training set. Both move indices, never data. */
#ifndef GR_DATA_SAMPLER_H
#define GR_DATA_SAMPLER_H

#include <stdint.h>

struct gr_ctx;
struct gr_rng;

/* A shuffled pass over 0..n-1 that reshuffles at each epoch's end. */
struct gr_sampler {
    int64_t n, pos, epoch;
    int32_t *order;
};
int gr_sampler_init(struct gr_ctx *ctx, struct gr_sampler *s, int64_t n, struct gr_rng *rng);
void gr_sampler_free(struct gr_ctx *ctx, struct gr_sampler *s);
/* The next `count` indices, crossing into a freshly shuffled epoch if needed. */
void gr_sampler_next(struct gr_sampler *s, struct gr_rng *rng, int64_t count, int32_t *dst);
/* How many indices the sampler has handed out since it started (epoch * n
 * + pos): the draw number of the next one. A checkpoint restores it. */
static inline int64_t gr_sampler_drawn(const struct gr_sampler *s) { return s->epoch * s->n + s->pos; }

/* Hold `count` of rows 0..n-1 out for validation: a uniformly random subset
 * drawn by a generator of its own seeded from `seed` (so the run's
 * generator, and with it the weights and batches, do not depend on it).
 * rows[0..n-count) are the training rows and rows[n-count..n) the held-out
 * ones, each in increasing order. */
void gr_holdout(uint64_t seed, int64_t n, int64_t count, int32_t *rows);

#endif
