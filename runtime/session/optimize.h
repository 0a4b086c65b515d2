/* A training session's update and what it needs beyond the graph: the
 * optimizer with its weight-decay segments, the schedule, clipping and the
 * gradient's norm; the evaluation plan's loss; and the checks of all these
 * against the graph and the run's length, made before anything large is
 * allocated (so `graphrun check` makes them too). */
#ifndef GR_SESSION_OPTIMIZE_H
#define GR_SESSION_OPTIMIZE_H

struct gr_session;

/* The evaluation plan (laid out for the logits) also runs the loss when it
 * can at every batch evaluation runs (1 to its capacity), so the periodic
 * evaluation measures a loss too; s->eval_targets says. Never an error: a
 * loss that cannot is left out (and a config that needs it is refused by
 * gr_session_check_training). */
int gr_session_plan_eval_loss(struct gr_session *s);
/* weight_decay_exclude's patterns each match a parameter; the schedule
 * fits the run (warmup, milestones, periods); what early stopping, the
 * target and the schedule watch can be measured. */
int gr_session_check_training(struct gr_session *s);
/* How many arrays as large as the parameters training holds besides the
 * parameters and their gradients: the optimizer's states with these keys,
 * and early stopping's copy of the best parameters. */
int gr_session_param_copies(const struct gr_session *s);
/* The optimizer, its segments, the schedule at the run's start, and early
 * stopping's copy of the best parameters. */
int gr_session_init_training(struct gr_session *s);
/* After backward: the gradient's global norm (s->grad_norm), clipping, this
 * step's rate from the schedule, the optimizer's step. Returns 1, with
 * nothing changed, if the gradient is not finite; else 0. */
int gr_session_update(struct gr_session *s);

#endif
