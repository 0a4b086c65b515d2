/* constant: the configured rate at every step (what a config without
 * train.schedule runs). */
#include "runtime/schedule/schedule.h"

static double constant_lr(const struct gr_sched_args *a, const double *state) {
    (void)state;
    return a->base;
}

const struct gr_sched_desc gr_sched_constant = {
    .name = "constant",
    .title = "constant",
    .summary = "lr",
    .lr = constant_lr,
};
