/* exponential: the rate times gamma every unit, as torch's ExponentialLR.
 *   lr(x) = lr gamma^x */
#include <math.h>

#include "runtime/schedule/schedule.h"

enum { K_GAMMA };
static const struct gr_sched_key exponential_keys[] = {
    [K_GAMMA] = {"gamma", GR_SCHED_FLOAT, "factor of each unit", 0, 0, 10, 1, 1, 0, NULL},
};

static double exponential_lr(const struct gr_sched_args *a, const double *state) {
    (void)state;
    return a->base * pow(a->hp[K_GAMMA], (double)a->x);
}

const struct gr_sched_desc gr_sched_exponential = {
    .name = "exponential",
    .title = "exponential decay",
    .summary = "lr gamma^x",
    .keys = exponential_keys,
    .n_keys = 1,
    .lr = exponential_lr,
};
