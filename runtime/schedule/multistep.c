/* multistep: the rate times gamma at each milestone, as torch's MultiStepLR.
 *   lr(x) = lr gamma^(milestones <= x) */
#include <math.h>
#include <stdio.h>

#include "runtime/schedule/schedule.h"

enum { K_MILESTONES, K_GAMMA };
static const struct gr_sched_key multistep_keys[] = {
    [K_MILESTONES] = {"milestones", GR_SCHED_INT_LIST, "increasing positions where the rate drops", 0, 1, 2147483647,
                      0, 1, 0, NULL},
    [K_GAMMA] = {"gamma", GR_SCHED_FLOAT, "factor of each drop", 0.1, 0, 10, 1, 0, 0, NULL},
};

static double multistep_lr(const struct gr_sched_args *a, const double *state) {
    (void)state;
    int passed = 0;
    while (passed < a->n_list && a->list[passed] <= a->x) passed++;
    return a->base * pow(a->hp[K_GAMMA], passed);
}

static int multistep_check(const struct gr_sched_args *a, char *msg, size_t len) {
    int64_t last = a->list[a->n_list - 1];
    if (last >= a->horizon)
        return snprintf(msg, len, "milestone %lld is not inside the %lld the schedule runs (0 to %lld)",
                        (long long)last, (long long)a->horizon, (long long)(a->horizon - 1)), K_MILESTONES;
    return -1;
}

const struct gr_sched_desc gr_sched_multistep = {
    .name = "multistep",
    .title = "multi-step decay",
    .summary = "lr gamma^(number of milestones <= x)",
    .keys = multistep_keys,
    .n_keys = 2,
    .lr = multistep_lr,
    .check = multistep_check,
};
