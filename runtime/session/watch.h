/* What a training run's periodic evaluation drives besides its metrics
 * row: the schedule (reduce_on_plateau follows the metric), early stopping
 * (a best metric, the parameters that scored it, a count of evaluations
 * since) and the target (the first evaluation to reach it). The state lives
 * in the session (struct gr_watch), so checkpoints keep it; the training
 * loop (train.c) saves best.safetensors and reports. */
#ifndef GR_SESSION_WATCH_H
#define GR_SESSION_WATCH_H

#include <stdint.h>

struct gr_ctx;
struct gr_session;
struct gr_measure;

/* What one evaluation changed. */
struct gr_watch_news {
    int improved; /* early stopping has a new best (its parameters copied) */
    int stop;     /* early stopping ran out of patience, or the target was reached with stop */
    int reached;  /* the target was reached at this evaluation */
};

/* The evaluation of `step` (at `epoch`) measured m. The target's times are
 * the session's (s->train_seconds, s->wall_seconds), brought up to date by
 * the caller. */
void gr_watch_eval(struct gr_session *s, int64_t step, double epoch, const struct gr_measure *m,
                   struct gr_watch_news *news);
/* Exchange the parameters with early stopping's best (again: back). */
void gr_watch_swap_best(struct gr_session *s);
/* RUN/target.json: the target, and when it was reached (or that it was not
 * in `steps` steps); replaced atomically. */
int gr_watch_write_target(struct gr_ctx *ctx, const struct gr_session *s, const char *dir, int64_t steps);
/* "loss" or "accuracy" */
const char *gr_metric_name(int metric);

#endif
