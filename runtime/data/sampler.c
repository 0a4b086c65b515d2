#include "runtime/data/sampler.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/base/rng.h"

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

static int by_value(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void reverse(int32_t *a, int64_t n) {
    for (int64_t i = 0, j = n - 1; i < j; i++, j--) {
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* The held-out set is a partial Fisher-Yates shuffle's first `count`
 * picks; both sets are then sorted, and rotated so the training rows come
 * first. The constant keeps this generator's stream apart from the run's,
 * which is seeded with `seed` itself. */
void gr_holdout(uint64_t seed, int64_t n, int64_t count, int32_t *rows) {
    GR_ASSERT(count >= 0 && count <= n);
    struct gr_rng rng;
    gr_rng_seed(&rng, seed ^ 0x76616c69646174ULL); /* "validat" */
    for (int64_t i = 0; i < n; i++) rows[i] = (int32_t)i;
    for (int64_t i = 0; i < count; i++) {
        int64_t j = i + (int64_t)gr_rng_below(&rng, (uint64_t)(n - i));
        int32_t t = rows[i];
        rows[i] = rows[j];
        rows[j] = t;
    }
    qsort(rows, (size_t)count, sizeof *rows, by_value);
    qsort(rows + count, (size_t)(n - count), sizeof *rows, by_value);
    /* [held | train] -> [train | held] */
    reverse(rows, count);
    reverse(rows + count, n - count);
    reverse(rows, n);
}
