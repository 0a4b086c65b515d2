/* adam: Kingma & Ba, Algorithm 1, bias-corrected, as torch.optim.Adam.
 *   g' = g + weight_decay p                 (L2 in the gradient)
 *   m = b1 m + (1 - b1) g';   v = b2 v + (1 - b2) g'^2
 *   amsgrad (Reddi et al.): vmax = max(vmax, v), used in place of v
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) */
#include <math.h>

#include "runtime/optim/optimizer.h"

enum { K_BETA1, K_BETA2, K_EPSILON, K_WEIGHT_DECAY, K_AMSGRAD };
static const struct gr_optim_key adam_keys[] = {
    [K_BETA1] = {"beta1", GR_OPTIM_FLOAT, "decay of the mean of gradients", 0.9, 0.0, 0.999999, 0},
    [K_BETA2] = {"beta2", GR_OPTIM_FLOAT, "decay of the mean of squared gradients", 0.999, 0.0, 0.999999999, 0},
    [K_EPSILON] = {"epsilon", GR_OPTIM_FLOAT, "added to the root of the second moment", 1e-8, 0.0, 1.0, 1},
    [K_WEIGHT_DECAY] = {"weight_decay", GR_OPTIM_FLOAT, "L2 penalty: weight_decay p added to the gradient", 0.0,
                        0.0, 1.0, 0},
    [K_AMSGRAD] = {"amsgrad", GR_OPTIM_BOOL, "divide by the largest second moment seen so far", 0, 0, 1, 0},
};
enum { S_M, S_V, S_VMAX };
static const struct gr_optim_state adam_state[] = {
    [S_M] = {"m", "first moment", 0, NULL, NULL},                          /* the running mean of g */
    [S_V] = {"v", "second moment", GR_OPTIM_STATE_NONNEGATIVE, NULL, NULL}, /* the running mean of g^2 */
    [S_VMAX] = {"vmax", "largest second moment", GR_OPTIM_STATE_NONNEGATIVE, "amsgrad", NULL},
};
enum { C1, C2 };

/* bias corrections in double: b^t underflows gracefully there */
static void adam_prepare(struct gr_optim_args *a) {
    a->scalars[C1] = (float)(1.0 / (1.0 - pow(a->hp[K_BETA1], (double)a->t)));
    a->scalars[C2] = (float)(1.0 / (1.0 - pow(a->hp[K_BETA2], (double)a->t)));
}

static void adam_update(const struct gr_optim_args *a, int64_t b, int64_t e) {
    /* 1 - beta in double: (1.0f - 0.999f) is off by 5e-5 relative */
    float b1 = (float)a->hp[K_BETA1], b2 = (float)a->hp[K_BETA2], eps = (float)a->hp[K_EPSILON], lr = (float)a->lr;
    float ob1 = (float)(1.0 - a->hp[K_BETA1]), ob2 = (float)(1.0 - a->hp[K_BETA2]);
    float wd = (float)(a->hp[K_WEIGHT_DECAY] * a->decay);
    float c1 = a->scalars[C1], c2 = a->scalars[C2];
    float *p = a->param, *m = a->state[S_M], *v = a->state[S_V], *vmax = a->state[S_VMAX];
    const float *g = a->grad;
    if (wd == 0.0f && !vmax) {
        for (int64_t i = b; i < e; i++) {
            m[i] = b1 * m[i] + ob1 * g[i];
            v[i] = b2 * v[i] + ob2 * g[i] * g[i];
            p[i] -= lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
        }
        return;
    }
    for (int64_t i = b; i < e; i++) {
        float gi = g[i] + wd * p[i];
        m[i] = b1 * m[i] + ob1 * gi;
        v[i] = b2 * v[i] + ob2 * gi * gi;
        float vh = v[i];
        if (vmax) vh = vmax[i] = vmax[i] > vh ? vmax[i] : vh;
        p[i] -= lr * (m[i] * c1) / (sqrtf(vh * c2) + eps);
    }
}

const struct gr_optim_desc gr_optim_adam = {
    .name = "adam",
    .title = "Adam",
    .summary = "g' = g + wd p;  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;  p -= lr m^ / (sqrt(v^) + eps)",
    .keys = adam_keys,
    .n_keys = 5,
    .state = adam_state,
    .n_state = 3,
    .prepare = adam_prepare,
    .update = adam_update,
};
