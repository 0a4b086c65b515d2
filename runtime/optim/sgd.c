/* sgd: stochastic gradient descent, with momentum as PyTorch writes it.
 *   momentum 0:  p -= lr * g
 *   otherwise:   m = momentum * m + g;  p -= lr * m */
#include "runtime/optim/optimizer.h"

enum { K_MOMENTUM };
static const struct gr_optim_key sgd_keys[] = {
    [K_MOMENTUM] = {"momentum", GR_OPTIM_FLOAT, "velocity kept from step to step", 0.0, 0.0, 0.999999, 0},
};
enum { S_M };
static const struct gr_optim_state sgd_state[] = {
    [S_M] = {"m", "velocity", 0}, /* zero, and unused, when momentum is 0 */
};

static void sgd_update(const struct gr_optim_args *a, int64_t b, int64_t e) {
    float lr = (float)a->lr, mu = (float)a->hp[K_MOMENTUM];
    float *p = a->param, *v = a->state[S_M];
    const float *g = a->grad;
    if (mu == 0.0f) {
        for (int64_t i = b; i < e; i++) p[i] -= lr * g[i];
        return;
    }
    for (int64_t i = b; i < e; i++) {
        v[i] = mu * v[i] + g[i];
        p[i] -= lr * v[i];
    }
}

const struct gr_optim_desc gr_optim_sgd = {
    .name = "sgd",
    .title = "SGD",
    .summary = "m = momentum m + g;  p -= lr m",
    .keys = sgd_keys,
    .n_keys = 1,
    .state = sgd_state,
    .n_state = 1,
    .update = sgd_update,
};
