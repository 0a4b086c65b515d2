/* Running an optimizer (a descriptor, runtime/optim/optimizer.h) over the
 * flat parameter block: its state arrays, one per state the descriptor
 * declares and its keys hold, parallel to the block; its step count; this
 * step's rate; one update per step, split over the pool in whole cache
 * lines. The split only decides who updates which element, so results do
 * not depend on it.
 *
 * The block is updated in segments, each with its weight-decay multiplier:
 * by default one segment, the whole block at 1; gr_optim_set_segments gives
 * parameters spared by weight_decay_exclude a multiplier of 0, and leaves
 * frozen parameters (trainable: false) out of every segment, never updated.
 *
 * The gradient's global norm is taken in fixed blocks of GR_NORM_BLOCK
 * floats; a block's squares are summed in double in GR_NORM_LANES lanes
 * (element i in lane i mod GR_NORM_LANES, each lane in order), the lanes
 * added in order, and the blocks added in order, so it is the same bits
 * whatever the thread count. */
#ifndef GR_ENGINE_OPTIM_H
#define GR_ENGINE_OPTIM_H

#include <stdint.h>

#include "runtime/optim/optimizer.h"

struct gr_ctx;
struct gr_pool;

#define GR_NORM_BLOCK 4096
#define GR_NORM_LANES 8 /* a power of two */

/* Elements [begin, end) of the block, weight decay times `decay`. */
struct gr_optim_seg {
    int64_t begin, end;
    double decay;
};

struct gr_optim {
    struct gr_optim_cfg cfg;
    int64_t n; /* floats */
    int64_t t; /* steps taken */
    double lr; /* the rate of the next step: cfg.lr unless a schedule sets it */
    float *state[GR_OPTIM_MAX_STATE]; /* NULL for a state not held */
    struct gr_optim_seg *seg;
    int n_seg;
    double *partial; /* [ceil(n / GR_NORM_BLOCK)] the norm's block sums */
};

int gr_optim_init(struct gr_ctx *ctx, struct gr_optim *o, const struct gr_optim_cfg *cfg, int64_t n);
void gr_optim_free(struct gr_ctx *ctx, struct gr_optim *o);
/* Replace the segments (sorted, inside the block, not overlapping). */
int gr_optim_set_segments(struct gr_ctx *ctx, struct gr_optim *o, const struct gr_optim_seg *seg, int n);
/* The state array named `name` ("m", "v"), or NULL. */
float *gr_optim_state(const struct gr_optim *o, const char *name);
/* One update of the whole block at rate o->lr, split over `pool` (NULL:
 * this thread). */
void gr_optim_step(struct gr_optim *o, struct gr_pool *pool, float *param, const float *grad);

/* The sum of the squares of grad[0..o->n), in double (not finite when an
 * element is not). */
double gr_optim_grad_sumsq(struct gr_optim *o, struct gr_pool *pool, const float *grad);
/* grad *= scale, or each element clamped to [-limit, limit]. */
void gr_optim_grad_scale(struct gr_optim *o, struct gr_pool *pool, float *grad, float scale);
void gr_optim_grad_clamp(struct gr_optim *o, struct gr_pool *pool, float *grad, float limit);

#endif
