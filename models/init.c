#include "models/init.h"

#include <math.h>

#include "runtime/base/rng.h"

static void fans(const struct gr_shape *s, double *fan_in, double *fan_out) {
    if (s->rank == 0) {
        *fan_in = *fan_out = 1;
        return;
    }
    if (s->rank == 1) {
        *fan_in = *fan_out = (double)s->dim[0];
        return;
    }
    double r = 1;
    for (int d = 0; d < s->rank - 2; d++) r *= (double)s->dim[d];
    *fan_in = (double)s->dim[s->rank - 2] * r;
    *fan_out = (double)s->dim[s->rank - 1] * r;
}

void gr_init_fill(enum gr_init init, const struct gr_shape *shape, float *dst, struct gr_rng *rng) {
    int64_t n = gr_shape_count(shape);
    double fi, fo;
    fans(shape, &fi, &fo);
    switch (init) {
    case GR_INIT_ZEROS:
        for (int64_t i = 0; i < n; i++) dst[i] = 0.0f;
        break;
    case GR_INIT_ONES:
        for (int64_t i = 0; i < n; i++) dst[i] = 1.0f;
        break;
    case GR_INIT_GLOROT_UNIFORM: {
        /* U(-a, a) with a = sqrt(6 / (fan_in + fan_out)): variance 2 / (fan_in + fan_out) */
        float a = (float)sqrt(6.0 / (fi + fo));
        for (int64_t i = 0; i < n; i++) dst[i] = (2.0f * gr_rng_uniform(rng) - 1.0f) * a;
        break;
    }
    case GR_INIT_GLOROT_NORMAL: {
        float sd = (float)sqrt(2.0 / (fi + fo));
        for (int64_t i = 0; i < n; i++) dst[i] = sd * gr_rng_normal(rng);
        break;
    }
    case GR_INIT_HE_NORMAL: {
        float sd = (float)sqrt(2.0 / fi);
        for (int64_t i = 0; i < n; i++) dst[i] = sd * gr_rng_normal(rng);
        break;
    }
    case GR_INIT_COUNT:
        break;
    }
}
