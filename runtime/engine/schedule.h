/* Running a schedule (a descriptor, runtime/schedule/schedule.h) over a
 * run: the rate of each step, the linear warmup every schedule composes
 * with, and the state that the periodic evaluation drives.
 *
 * Step t (1 on the first) of a run of S steps with a warmup of W steps:
 *   t <= W:  lr(t) = (start + (1 - start) t / W) sched(0)
 *   t >  W:  lr(t) = sched(x),  x = t - 1 - W in steps, or in epochs the
 *            whole epochs since the warmup: floor((t - 1 - W) B / N)
 * (B the batch, N the training samples), so an epoch schedule changes the
 * rate where an epoch ends, as one stepped once an epoch does. The horizon
 * a schedule sees is the number of positions x takes: S - W steps, or
 * floor((S - 1 - W) B / N) + 1 epochs. */
#ifndef GR_ENGINE_SCHEDULE_H
#define GR_ENGINE_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/schedule/schedule.h"

struct gr_sched {
    struct gr_sched_cfg cfg; /* keys that default to the horizon filled in */
    double base;
    int64_t warmup; /* steps */
    int64_t batch, samples, horizon;
    double state[GR_SCHED_MAX_STATE];
};

enum { GR_SCHED_AT_WARMUP = -2 }; /* *bad_key: the warmup, not a key */

/* Set s up for a run of `steps` steps of `batch` from `samples` training
 * samples at rate `base`, the state at its start. Returns 0, or -1 with the
 * reason in msg and in *bad_key the key at fault (GR_SCHED_AT_WARMUP: the
 * warmup). */
int gr_sched_init(struct gr_sched *s, const struct gr_sched_cfg *cfg, double base, int64_t steps, int64_t batch,
                  int64_t samples, char *msg, size_t len, int *bad_key);
/* The rate of step t (1-based). */
double gr_sched_lr(const struct gr_sched *s, int64_t t);
/* The position (x above) of step t > warmup. */
int64_t gr_sched_position(const struct gr_sched *s, int64_t t);
/* A periodic evaluation measured m (reduce_on_plateau's state follows it). */
void gr_sched_observe(struct gr_sched *s, const struct gr_sched_metrics *m);

#endif
