/* cosine: half a cosine from the rate down to `floor` over `period` units,
 * as torch's CosineAnnealingLR; with restart, SGDR (Loshchilov & Hutter) as
 * torch's CosineAnnealingWarmRestarts: back to the rate after each period,
 * each period `multiplier` times the one before.
 *   lr(x) = floor + (lr - floor) (1 + cos(pi x' / T)) / 2
 * x' = x, T = period without restart; with restart x' is the position inside
 * the current period and T that period's length. */
#include <math.h>
#include <stdio.h>

#include "runtime/schedule/schedule.h"

enum { K_FLOOR, K_PERIOD, K_RESTART, K_MULTIPLIER };
static const struct gr_sched_key cosine_keys[] = {
    [K_FLOOR] = {"floor", GR_SCHED_FLOAT, "the rate at the end of a period (torch's eta_min)", 0, 0, 1000, 0, 0, 0,
                 NULL},
    [K_PERIOD] = {"period", GR_SCHED_INT, "units of the (first) period; default: the rest of the run", 0, 1,
                  2147483647, 0, 0, 1, NULL},
    [K_RESTART] = {"restart", GR_SCHED_BOOL, "start again from the rate after each period (SGDR)", 0, 0, 1, 0, 0, 0,
                   NULL},
    [K_MULTIPLIER] = {"multiplier", GR_SCHED_INT, "each period this many times the one before (with restart)", 1, 1,
                      1000, 0, 0, 0, NULL},
};

static double cosine_lr(const struct gr_sched_args *a, const double *state) {
    (void)state;
    double floor_lr = a->hp[K_FLOOR];
    int64_t period = (int64_t)a->hp[K_PERIOD], x = a->x, mult = (int64_t)a->hp[K_MULTIPLIER];
    if (a->hp[K_RESTART] != 0) {
        if (mult == 1) {
            x %= period;
        } else {
            while (x >= period) {
                x -= period;
                period *= mult;
            }
        }
    }
    return floor_lr + (a->base - floor_lr) * (1.0 + cos(GR_SCHED_PI * (double)x / (double)period)) / 2.0;
}

static int cosine_check(const struct gr_sched_args *a, char *msg, size_t len) {
    if (a->hp[K_FLOOR] >= a->base)
        return snprintf(msg, len, "%g is not below train.optimizer.lr (%g)", a->hp[K_FLOOR], a->base), K_FLOOR;
    if (a->given[K_MULTIPLIER] && a->hp[K_RESTART] == 0)
        return snprintf(msg, len, "a period multiplier needs restart: true"), K_MULTIPLIER;
    return -1;
}

const struct gr_sched_desc gr_sched_cosine = {
    .name = "cosine",
    .title = "cosine annealing",
    .summary = "floor + (lr - floor) (1 + cos(pi x / period)) / 2, restarting after each period with restart",
    .keys = cosine_keys,
    .n_keys = 4,
    .lr = cosine_lr,
    .check = cosine_check,
};
