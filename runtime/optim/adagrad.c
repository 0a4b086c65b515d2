/* adagrad: Duchi, Hazan & Singer's AdaGrad, as torch.optim.Adagrad.
 *   g' = g + weight_decay p                          (L2 in the gradient)
 *   s = s + g'^2           (s starts at initial_accumulator_value)
 *   p -= lr / (1 + (t - 1) lr_decay) * g' / (sqrt(s) + eps) */
#include <math.h>

#include "runtime/optim/optimizer.h"

enum { K_EPSILON, K_LR_DECAY, K_INITIAL, K_WEIGHT_DECAY };
static const struct gr_optim_key adagrad_keys[] = {
    [K_EPSILON] = {"epsilon", GR_OPTIM_FLOAT, "added to the root of the sum of squares", 1e-10, 0.0, 1.0, 1},
    [K_LR_DECAY] = {"lr_decay", GR_OPTIM_FLOAT, "the rate divided by 1 + (t - 1) lr_decay", 0.0, 0.0, 1.0, 0},
    [K_INITIAL] = {"initial_accumulator_value", GR_OPTIM_FLOAT, "where the sum of squares starts", 0.0, 0.0, 1e3, 0},
    [K_WEIGHT_DECAY] = {"weight_decay", GR_OPTIM_FLOAT, "L2 penalty: weight_decay p added to the gradient", 0.0,
                        0.0, 1.0, 0},
};
enum { S_SUM };
static const struct gr_optim_state adagrad_state[] = {
    [S_SUM] = {"sum", "sum of squared gradients", GR_OPTIM_STATE_NONNEGATIVE, NULL, "initial_accumulator_value"},
};
enum { C_LR };

/* the decayed rate in double, as torch computes it */
static void adagrad_prepare(struct gr_optim_args *a) {
    a->scalars[C_LR] = (float)(a->lr / (1.0 + (double)(a->t - 1) * a->hp[K_LR_DECAY]));
}

static void adagrad_update(const struct gr_optim_args *a, int64_t b, int64_t e) {
    float clr = a->scalars[C_LR], eps = (float)a->hp[K_EPSILON], wd = (float)(a->hp[K_WEIGHT_DECAY] * a->decay);
    float *p = a->param, *s = a->state[S_SUM];
    const float *g = a->grad;
    for (int64_t i = b; i < e; i++) {
        float gi = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        s[i] += gi * gi;
        p[i] -= clr * (gi / (sqrtf(s[i]) + eps));
    }
}

const struct gr_optim_desc gr_optim_adagrad = {
    .name = "adagrad",
    .title = "Adagrad",
    .summary = "s += g^2;  p -= lr / (1 + (t-1) lr_decay) g / (sqrt(s) + eps)",
    .keys = adagrad_keys,
    .n_keys = 4,
    .state = adagrad_state,
    .n_state = 1,
    .prepare = adagrad_prepare,
    .update = adagrad_update,
};
