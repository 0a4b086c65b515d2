/* Parameter initializers (enum gr_init; graphrun/plugin.h gives each one's
 * law). Fans follow Keras: a shape [..., in, out] has fan_in = in * r and
 * fan_out = out * r, where r is the product of the leading axes (1 for a
 * matrix); a vector has fan_in = fan_out = its length, a scalar 1. */
#ifndef GR_MODELS_INIT_H
#define GR_MODELS_INIT_H

#include "graphrun/plugin.h"

struct gr_ctx;
struct gr_rng;
struct gr_ynode;

void gr_init_fill(enum gr_init init, const struct gr_shape *shape, float *dst, struct gr_rng *rng);

/* A node's `init:` key (v; NULL when absent), a mapping from the names of
 * the op's parameters to initializer names: init[k] becomes the chosen
 * initializer of parameter k, or -1 where the op's own stays. Unknown
 * parameters and initializers are refused at their position, with the
 * closest name. */
int gr_init_read_key(struct gr_ctx *ctx, const char *file, const struct gr_ynode *v, const char *node,
                     const struct gr_op_desc *op, int *init);

#endif
