/* rmsprop: Hinton's RMSprop, as torch.optim.RMSprop (rho is torch's alpha).
 *   g' = g + weight_decay p                          (L2 in the gradient)
 *   s = rho s + (1 - rho) g'^2
 *   centered (Graves): a = rho a + (1 - rho) g';  d = sqrt(s - a^2) + eps
 *   otherwise:                                   d = sqrt(s) + eps
 *   momentum 0: p -= lr g' / d;   otherwise: b = momentum b + g' / d;  p -= lr b */
#include <math.h>

#include "runtime/optim/optimizer.h"

enum { K_RHO, K_EPSILON, K_MOMENTUM, K_CENTERED, K_WEIGHT_DECAY };
static const struct gr_optim_key rmsprop_keys[] = {
    [K_RHO] = {"rho", GR_OPTIM_FLOAT, "decay of the mean of squared gradients (torch's alpha)", 0.99, 0.0, 0.999999999,
               0},
    [K_EPSILON] = {"epsilon", GR_OPTIM_FLOAT, "added to the root of the mean square", 1e-8, 0.0, 1.0, 1},
    [K_MOMENTUM] = {"momentum", GR_OPTIM_FLOAT, "velocity of the scaled steps", 0.0, 0.0, 0.999999, 0},
    [K_CENTERED] = {"centered", GR_OPTIM_BOOL, "divide by the variance's root, not the mean square's", 0, 0, 1, 0},
    [K_WEIGHT_DECAY] = {"weight_decay", GR_OPTIM_FLOAT, "L2 penalty: weight_decay p added to the gradient", 0.0,
                        0.0, 1.0, 0},
};
enum { S_SQUARE, S_MEAN, S_MOMENTUM };
static const struct gr_optim_state rmsprop_state[] = {
    [S_SQUARE] = {"square_avg", "mean of squared gradients", GR_OPTIM_STATE_NONNEGATIVE, NULL, NULL},
    [S_MEAN] = {"grad_avg", "mean of gradients", 0, "centered", NULL},
    [S_MOMENTUM] = {"momentum_buffer", "velocity", 0, "momentum", NULL},
};

static void rmsprop_update(const struct gr_optim_args *a, int64_t b, int64_t e) {
    float rho = (float)a->hp[K_RHO], orho = (float)(1.0 - a->hp[K_RHO]), eps = (float)a->hp[K_EPSILON];
    float mu = (float)a->hp[K_MOMENTUM], lr = (float)a->lr, wd = (float)(a->hp[K_WEIGHT_DECAY] * a->decay);
    float *p = a->param, *s = a->state[S_SQUARE], *mean = a->state[S_MEAN], *buf = a->state[S_MOMENTUM];
    const float *g = a->grad;
    for (int64_t i = b; i < e; i++) {
        float gi = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        s[i] = rho * s[i] + orho * gi * gi;
        float var = s[i];
        if (mean) {
            mean[i] = rho * mean[i] + orho * gi;
            var = s[i] - mean[i] * mean[i];
            var = var > 0.0f ? var : 0.0f; /* rounding can take it just below 0 */
        }
        float d = sqrtf(var) + eps;
        if (buf) {
            buf[i] = mu * buf[i] + gi / d;
            p[i] -= lr * buf[i];
        } else {
            p[i] -= lr * (gi / d);
        }
    }
}

const struct gr_optim_desc gr_optim_rmsprop = {
    .name = "rmsprop",
    .title = "RMSprop",
    .summary = "s = rho s + (1-rho) g^2;  p -= lr g / (sqrt(s) + eps)  (centered: s - mean(g)^2; momentum on the step)",
    .keys = rmsprop_keys,
    .n_keys = 5,
    .state = rmsprop_state,
    .n_state = 3,
    .update = rmsprop_update,
};
