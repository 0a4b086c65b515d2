/* one_cycle: Smith's 1cycle policy, as torch's OneCycleLR with its defaults
 * (the rate only: torch also cycles the momentum by default, graphrun does
 * not, as cycle_momentum=False). The configured rate is the peak; over the
 * horizon H (the whole run after any warmup):
 *   from lr / div_factor up to lr by x = pct_start H - 1,
 *   then down to lr / div_factor / final_div_factor at x = H - 1
 * (three_phase: up, back down to lr / div_factor by 2 pct_start H - 2, then
 * down to the minimum), each stretch annealed by half a cosine or linearly. */
#include <math.h>
#include <stdio.h>

#include "runtime/schedule/schedule.h"

enum { K_PCT_START, K_DIV, K_FINAL_DIV, K_ANNEAL, K_THREE_PHASE };
static const char *const anneals[] = {"cos", "linear", NULL};
static const struct gr_sched_key one_cycle_keys[] = {
    [K_PCT_START] = {"pct_start", GR_SCHED_FLOAT, "share of the run spent rising", 0.3, 0, 1, 1, 0, 0, NULL},
    [K_DIV] = {"div_factor", GR_SCHED_FLOAT, "the start is lr / div_factor", 25, 1, 1e6, 0, 0, 0, NULL},
    [K_FINAL_DIV] = {"final_div_factor", GR_SCHED_FLOAT, "the end is the start / final_div_factor", 1e4, 1, 1e9, 0, 0,
                     0, NULL},
    [K_ANNEAL] = {"anneal", GR_SCHED_CHOICE, "shape of each stretch", 0, 0, 1, 0, 0, 0, anneals},
    [K_THREE_PHASE] = {"three_phase", GR_SCHED_BOOL, "come back to the start before the final descent", 0, 0, 1, 0, 0,
                       0, NULL},
};

/* from `from` to `to` at fraction f of a stretch */
static double anneal(int linear, double from, double to, double f) {
    if (linear) return (to - from) * f + from;
    return to + (from - to) / 2.0 * (cos(GR_SCHED_PI * f) + 1.0);
}

/* the ends of the stretches, as torch computes them */
static int phases(const struct gr_sched_args *a, double *end) {
    double h = (double)a->horizon, pct = a->hp[K_PCT_START];
    end[0] = pct * h - 1;
    if (a->hp[K_THREE_PHASE] == 0) {
        end[1] = h - 1;
        return 2;
    }
    end[1] = 2 * pct * h - 2;
    end[2] = h - 1;
    return 3;
}

static double one_cycle_lr(const struct gr_sched_args *a, const double *state) {
    (void)state;
    double peak = a->base, start = peak / a->hp[K_DIV], low = start / a->hp[K_FINAL_DIV], end[3];
    int n = phases(a, end), linear = a->hp[K_ANNEAL] == 1;
    double from[3] = {start, peak, start}, to[3] = {peak, n == 3 ? start : low, low};
    double x = (double)(a->x < a->horizon ? a->x : a->horizon - 1), begin = 0;
    for (int i = 0; i < n; i++) {
        if (x <= end[i] || i == n - 1) return anneal(linear, from[i], to[i], (x - begin) / (end[i] - begin));
        begin = end[i];
    }
    return low;
}

static int one_cycle_check(const struct gr_sched_args *a, char *msg, size_t len) {
    double end[3];
    int n = phases(a, end);
    for (int i = 0; i < n; i++)
        if (end[i] <= (i ? end[i - 1] : 0))
            return snprintf(msg, len, "pct_start %g of a run of %lld leaves stretch %d of the cycle no length",
                            a->hp[K_PCT_START], (long long)a->horizon, i + 1), K_PCT_START;
    return -1;
}

const struct gr_sched_desc gr_sched_one_cycle = {
    .name = "one_cycle",
    .title = "1cycle",
    .summary = "lr / div_factor up to lr over pct_start of the run, then down to lr / div_factor / final_div_factor",
    .keys = one_cycle_keys,
    .n_keys = 5,
    .lr = one_cycle_lr,
    .check = one_cycle_check,
};
