/* reduce_on_plateau: the rate times `factor` when the periodic evaluation's
 * metric has not improved for more than `patience` evaluations, as torch's
 * ReduceLROnPlateau; `cooldown` evaluations after a drop count for nothing;
 * the rate never goes below `floor`. Improving means beating the best so far
 * by `threshold`: relatively (best (1 - threshold) when minimising, best
 * (1 + threshold) when maximising) or absolutely (best -+ threshold). A drop
 * smaller than 1e-8 is not made (torch's eps). The position is not used. */
#include <math.h>

#include "runtime/schedule/schedule.h"

enum { K_METRIC, K_MODE, K_FACTOR, K_PATIENCE, K_COOLDOWN, K_FLOOR, K_THRESHOLD, K_THRESHOLD_MODE };
static const char *const metrics[] = {"loss", "accuracy", NULL};
static const char *const modes[] = {"auto", "min", "max", NULL};
static const char *const threshold_modes[] = {"rel", "abs", NULL};
static const struct gr_sched_key plateau_keys[] = {
    [K_METRIC] = {"metric", GR_SCHED_CHOICE, "what the periodic evaluation measures: its loss or accuracy", 0, 0, 1, 0,
                  0, 0, metrics},
    [K_MODE] = {"mode", GR_SCHED_CHOICE, "min or max is better (auto: min for loss, max for accuracy)", 0, 0, 2, 0, 0,
                0, modes},
    [K_FACTOR] = {"factor", GR_SCHED_FLOAT, "the rate is multiplied by this at each drop", 0.1, 0, 0.999999, 1, 0, 0,
                  NULL},
    [K_PATIENCE] = {"patience", GR_SCHED_INT, "evaluations without improvement tolerated", 10, 0, 2147483647, 0, 0, 0,
                    NULL},
    [K_COOLDOWN] = {"cooldown", GR_SCHED_INT, "evaluations ignored after a drop", 0, 0, 2147483647, 0, 0, 0, NULL},
    [K_FLOOR] = {"floor", GR_SCHED_FLOAT, "the lowest rate (torch's min_lr)", 0, 0, 1000, 0, 0, 0, NULL},
    [K_THRESHOLD] = {"threshold", GR_SCHED_FLOAT, "how much better counts as better", 1e-4, 0, 1e30, 0, 0, 0, NULL},
    [K_THRESHOLD_MODE] = {"threshold_mode", GR_SCHED_CHOICE, "threshold relative (rel) or absolute (abs)", 0, 0, 1, 0,
                          0, 0, threshold_modes},
};
enum { S_LR, S_BEST, S_BAD, S_COOLDOWN };
static const char *const plateau_state[] = {"lr", "best", "bad", "cooldown"};

static int maximising(const double *hp) {
    return hp[K_MODE] == 2 || (hp[K_MODE] == 0 && hp[K_METRIC] == 1);
}

static void plateau_start(const struct gr_sched_args *a, double *state) {
    state[S_LR] = a->base;
    state[S_BEST] = maximising(a->hp) ? -INFINITY : INFINITY;
    state[S_BAD] = state[S_COOLDOWN] = 0;
}

static double plateau_lr(const struct gr_sched_args *a, const double *state) {
    (void)a;
    return state[S_LR];
}

static int better(const double *hp, double now, double best) {
    double th = hp[K_THRESHOLD];
    int rel = hp[K_THRESHOLD_MODE] == 0;
    if (maximising(hp)) return rel ? now > best * (1 + th) : now > best + th;
    return rel ? now < best * (1 - th) : now < best - th;
}

static void plateau_observe(const struct gr_sched_args *a, double *state, const struct gr_sched_metrics *m) {
    const double *hp = a->hp;
    if (hp[K_METRIC] == 1 ? !m->has_accuracy : !m->has_loss) return;
    double now = hp[K_METRIC] == 1 ? m->accuracy : m->loss;
    if (better(hp, now, state[S_BEST])) {
        state[S_BEST] = now;
        state[S_BAD] = 0;
    } else {
        state[S_BAD] += 1;
    }
    if (state[S_COOLDOWN] > 0) {
        state[S_COOLDOWN] -= 1;
        state[S_BAD] = 0;
    }
    if (state[S_BAD] > hp[K_PATIENCE]) {
        double lower = fmax(state[S_LR] * hp[K_FACTOR], hp[K_FLOOR]);
        if (state[S_LR] - lower > 1e-8) state[S_LR] = lower;
        state[S_COOLDOWN] = hp[K_COOLDOWN];
        state[S_BAD] = 0;
    }
}

static const char *plateau_needs(const double *hp) { return hp[K_METRIC] == 1 ? "accuracy" : "loss"; }

const struct gr_sched_desc gr_sched_reduce_on_plateau = {
    .name = "reduce_on_plateau",
    .title = "reduce on plateau",
    .summary = "lr, times factor after more than patience evaluations without improvement (never below floor)",
    .keys = plateau_keys,
    .n_keys = 8,
    .n_state = 4,
    .state_names = plateau_state,
    .lr = plateau_lr,
    .start = plateau_start,
    .observe = plateau_observe,
    .needs = plateau_needs,
};
