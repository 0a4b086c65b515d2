/* Parameter initializers. Fans follow the usual convention: a shape
 * [..., in, out] has fan_in = in * r and fan_out = out * r, where r is the
 * product of the leading axes (1 for a matrix); a vector has fan_in =
 * fan_out = its length. */
#ifndef GR_MODELS_INIT_H
#define GR_MODELS_INIT_H

#include "graphrun/plugin.h"

struct gr_rng;

void gr_init_fill(enum gr_init init, const struct gr_shape *shape, float *dst, struct gr_rng *rng);

#endif
