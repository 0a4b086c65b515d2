/* step: the rate times gamma every `every` units, as torch's StepLR.
 *   lr(x) = lr gamma^floor(x / every) */
#include <math.h>
#include <stdio.h>

#include "runtime/schedule/schedule.h"

enum { K_EVERY, K_GAMMA };
static const struct gr_sched_key step_keys[] = {
    [K_EVERY] = {"every", GR_SCHED_INT, "units between two drops", 0, 1, 2147483647, 0, 1, 0, NULL},
    [K_GAMMA] = {"gamma", GR_SCHED_FLOAT, "factor of each drop", 0.1, 0, 10, 1, 0, 0, NULL},
};

static double step_lr(const struct gr_sched_args *a, const double *state) {
    (void)state;
    return a->base * pow(a->hp[K_GAMMA], floor((double)a->x / a->hp[K_EVERY]));
}

static int step_check(const struct gr_sched_args *a, char *msg, size_t len) {
    if (a->hp[K_EVERY] >= (double)a->horizon)
        return snprintf(msg, len, "%.0f is not shorter than the %lld the schedule runs: the rate would never drop",
                        a->hp[K_EVERY], (long long)a->horizon), K_EVERY;
    return -1;
}

const struct gr_sched_desc gr_sched_step = {
    .name = "step",
    .title = "step decay",
    .summary = "lr gamma^floor(x / every)",
    .keys = step_keys,
    .n_keys = 2,
    .lr = step_lr,
    .check = step_check,
};
