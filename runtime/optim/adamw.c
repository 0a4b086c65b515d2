/* adamw: Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled
 * Weight Decay Regularization"), as torch.optim.AdamW: the decay shrinks the
 * parameter directly, scaled by this step's rate, instead of entering the
 * gradient (so the moments never see it).
 *   p *= 1 - lr weight_decay
 *   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2   (amsgrad: vmax = max(vmax, v))
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) */
#include <math.h>

#include "runtime/optim/optimizer.h"

enum { K_BETA1, K_BETA2, K_EPSILON, K_WEIGHT_DECAY, K_AMSGRAD };
static const struct gr_optim_key adamw_keys[] = {
    [K_BETA1] = {"beta1", GR_OPTIM_FLOAT, "decay of the mean of gradients", 0.9, 0.0, 0.999999, 0},
    [K_BETA2] = {"beta2", GR_OPTIM_FLOAT, "decay of the mean of squared gradients", 0.999, 0.0, 0.999999999, 0},
    [K_EPSILON] = {"epsilon", GR_OPTIM_FLOAT, "added to the root of the second moment", 1e-8, 0.0, 1.0, 1},
    [K_WEIGHT_DECAY] = {"weight_decay", GR_OPTIM_FLOAT, "decoupled decay: p *= 1 - lr weight_decay each step", 0.01,
                        0.0, 1.0, 0},
    [K_AMSGRAD] = {"amsgrad", GR_OPTIM_BOOL, "divide by the largest second moment seen so far", 0, 0, 1, 0},
};
enum { S_M, S_V, S_VMAX };
static const struct gr_optim_state adamw_state[] = {
    [S_M] = {"m", "first moment", 0, NULL, NULL},
    [S_V] = {"v", "second moment", GR_OPTIM_STATE_NONNEGATIVE, NULL, NULL},
    [S_VMAX] = {"vmax", "largest second moment", GR_OPTIM_STATE_NONNEGATIVE, "amsgrad", NULL},
};
enum { C1, C2 };

static void adamw_prepare(struct gr_optim_args *a) {
    a->scalars[C1] = (float)(1.0 / (1.0 - pow(a->hp[K_BETA1], (double)a->t)));
    a->scalars[C2] = (float)(1.0 / (1.0 - pow(a->hp[K_BETA2], (double)a->t)));
}

static void adamw_update(const struct gr_optim_args *a, int64_t b, int64_t e) {
    float b1 = (float)a->hp[K_BETA1], b2 = (float)a->hp[K_BETA2], eps = (float)a->hp[K_EPSILON], lr = (float)a->lr;
    float ob1 = (float)(1.0 - a->hp[K_BETA1]), ob2 = (float)(1.0 - a->hp[K_BETA2]);
    /* the factor in double, rounded once, as torch's mul_ by a Python float */
    float keep = (float)(1.0 - a->lr * a->hp[K_WEIGHT_DECAY] * a->decay);
    float c1 = a->scalars[C1], c2 = a->scalars[C2];
    float *p = a->param, *m = a->state[S_M], *v = a->state[S_V], *vmax = a->state[S_VMAX];
    const float *g = a->grad;
    for (int64_t i = b; i < e; i++) {
        p[i] *= keep;
        m[i] = b1 * m[i] + ob1 * g[i];
        v[i] = b2 * v[i] + ob2 * g[i] * g[i];
        float vh = v[i];
        if (vmax) vh = vmax[i] = vmax[i] > vh ? vmax[i] : vh;
        p[i] -= lr * (m[i] * c1) / (sqrtf(vh * c2) + eps);
    }
}

const struct gr_optim_desc gr_optim_adamw = {
    .name = "adamw",
    .title = "AdamW",
    .summary = "p *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr m^ / (sqrt(v^) + eps)",
    .keys = adamw_keys,
    .n_keys = 5,
    .state = adamw_state,
    .n_state = 3,
    .prepare = adamw_prepare,
    .update = adamw_update,
};
