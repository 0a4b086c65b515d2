/* sgd: stochastic gradient descent, as torch.optim.SGD (no dampening).
 *   g' = g + weight_decay p                 (L2 in the gradient)
 *   momentum 0:  p -= lr g'
 *   otherwise:   m = momentum m + g'
 *                p -= lr m,  or with nesterov  p -= lr (g' + momentum m) */
#include <stdio.h>

#include "runtime/optim/optimizer.h"

enum { K_MOMENTUM, K_NESTEROV, K_WEIGHT_DECAY };
static const struct gr_optim_key sgd_keys[] = {
    [K_MOMENTUM] = {"momentum", GR_OPTIM_FLOAT, "velocity kept from step to step", 0.0, 0.0, 0.999999, 0},
    [K_NESTEROV] = {"nesterov", GR_OPTIM_BOOL, "step along the velocity's look-ahead (needs momentum)", 0, 0, 1, 0},
    [K_WEIGHT_DECAY] = {"weight_decay", GR_OPTIM_FLOAT, "L2 penalty: weight_decay p added to the gradient", 0.0,
                        0.0, 1.0, 0},
};
enum { S_M };
static const struct gr_optim_state sgd_state[] = {
    [S_M] = {"m", "velocity", 0, NULL, NULL}, /* zero, and unused, when momentum is 0 */
};

static void sgd_update(const struct gr_optim_args *a, int64_t b, int64_t e) {
    float lr = (float)a->lr, mu = (float)a->hp[K_MOMENTUM], wd = (float)(a->hp[K_WEIGHT_DECAY] * a->decay);
    float *p = a->param, *v = a->state[S_M];
    const float *g = a->grad;
    if (mu == 0.0f && wd == 0.0f) {
        for (int64_t i = b; i < e; i++) p[i] -= lr * g[i];
        return;
    }
    if (mu == 0.0f) {
        for (int64_t i = b; i < e; i++) p[i] -= lr * (g[i] + wd * p[i]);
        return;
    }
    int nesterov = a->hp[K_NESTEROV] != 0;
    for (int64_t i = b; i < e; i++) {
        float gi = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        v[i] = mu * v[i] + gi;
        p[i] -= lr * (nesterov ? gi + mu * v[i] : v[i]);
    }
}

static int sgd_check(const double *hp, char *msg, size_t len) {
    if (hp[K_NESTEROV] != 0 && hp[K_MOMENTUM] == 0)
        return snprintf(msg, len, "nesterov needs a momentum above 0"), K_NESTEROV;
    return -1;
}

const struct gr_optim_desc gr_optim_sgd = {
    .name = "sgd",
    .title = "SGD",
    .summary = "g' = g + wd p;  m = momentum m + g';  p -= lr m  (nesterov: p -= lr (g' + momentum m))",
    .keys = sgd_keys,
    .n_keys = 3,
    .state = sgd_state,
    .n_state = 1,
    .update = sgd_update,
    .check = sgd_check,
};
