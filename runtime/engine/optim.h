/* Running an optimizer (a descriptor, runtime/optim/optimizer.h) over the
 * flat parameter block: its state arrays, one per state the descriptor
 * declares, parallel to the block; its step count; one update per step,
 * split over the pool in whole cache lines. The split only decides who
 * updates which element, so results do not depend on it. */
#ifndef GR_ENGINE_OPTIM_H
#define GR_ENGINE_OPTIM_H

#include <stdint.h>

#include "runtime/optim/optimizer.h"

struct gr_ctx;
struct gr_pool;

struct gr_optim {
    struct gr_optim_cfg cfg;
    int64_t n; /* floats */
    int64_t t; /* steps taken */
    float *state[GR_OPTIM_MAX_STATE];
};

int gr_optim_init(struct gr_ctx *ctx, struct gr_optim *o, const struct gr_optim_cfg *cfg, int64_t n);
void gr_optim_free(struct gr_ctx *ctx, struct gr_optim *o);
/* The state array named `name` ("m", "v"), or NULL. */
float *gr_optim_state(const struct gr_optim *o, const char *name);
/* One update of the whole block, split over `pool` (NULL: this thread). */
void gr_optim_step(struct gr_optim *o, struct gr_pool *pool, float *param, const float *grad);

#endif
