/* Optimizers over the flat parameter block: one loop over memory.
 *   sgd:  v = momentum * v + g;  p -= lr * v          (momentum 0: p -= lr * g)
 *   adam: m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *         p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)   (Kingma & Ba, Algorithm 1) */
#ifndef GR_OPTIM_H
#define GR_OPTIM_H

#include <stdint.h>

struct gr_ctx;
struct gr_pool;

enum gr_optim_kind { GR_OPTIM_SGD, GR_OPTIM_ADAM };

struct gr_optim_cfg {
    enum gr_optim_kind kind;
    double lr;
    double momentum;            /* sgd */
    double beta1, beta2, eps;   /* adam */
};

struct gr_optim {
    struct gr_optim_cfg cfg;
    int64_t n;  /* floats */
    int64_t t;  /* steps taken */
    float *m, *v;
};

int gr_optim_init(struct gr_ctx *ctx, struct gr_optim *o, const struct gr_optim_cfg *cfg, int64_t n);
void gr_optim_free(struct gr_ctx *ctx, struct gr_optim *o);
/* One update of the whole block, split over `pool` (NULL: this thread). The
 * split only decides who updates which element, so results do not depend on it. */
void gr_optim_step(struct gr_optim *o, struct gr_pool *pool, float *param, const float *grad);

#endif
