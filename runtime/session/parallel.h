/* A session as one rank of a data-parallel job (runtime/dist/dist.h). Every
 * rank holds the whole model, the whole data and the same generator, so the
 * sampler draws the same global batch of train.batch_size samples on every
 * rank; rank r of N takes rows [B r / N, B (r + 1) / N) of it (sizes differ
 * by at most one), runs forward and backward on them, and the ranks sum
 * their gradients in place (one allreduce over the flat block). The loss is
 * a mean over the batch, so rank r seeds its backward with n_r / B instead
 * of 1 and the sum is the gradient of the mean over all B rows (so is the
 * loss: sum over r of n_r / B * loss_r). With the same summed gradient on
 * every rank, each runs the same optimizer update: parameters and moments
 * stay identical without being sent again.
 *
 * A session of one process (s->dist NULL or of size 1) takes none of these
 * paths. Each function here is a collective: every rank calls it at the
 * same point of the run. A failed collective leaves s->broken set and the
 * reason in ctx->err: the ranks can no longer agree, and the command ends
 * the job. */
#ifndef GR_SESSION_PARALLEL_H
#define GR_SESSION_PARALLEL_H

#include <stdint.h>

#include "runtime/dist/dist.h"
#include "runtime/session/state.h"

/* Whether the session is one of several ranks; its rank (0 alone). */
static inline int gr_parallel_on(const struct gr_session *s) { return gr_dist_size(s->dist) > 1; }
static inline int gr_parallel_rank(const struct gr_session *s) { return gr_dist_rank(s->dist); }

/* Rows [*lo, *lo + *n) of `total` that this rank takes. */
void gr_parallel_part(const struct gr_session *s, int64_t total, int64_t *lo, int64_t *n);
/* The same for rank r of `size`: with a power of two ranks, the node of
 * the built-in ops' halving tree (ops/util.h) at depth log2(size), so each
 * rank's gradient sums are that node's bits; otherwise [total r / size,
 * total (r + 1) / size). */
void gr_parallel_range(int64_t total, int64_t r, int64_t size, int64_t *lo, int64_t *n);
/* The batch can be split: at least one row for each rank. */
int gr_parallel_check(struct gr_session *s);
/* At the start of a run (after a resume): rank 0's parameters and optimizer
 * state on every rank, and the same sample order and generator (compared
 * by a hash, since each rank drew or loaded them itself); -1 on every rank
 * if any rank differs. */
int gr_parallel_start(struct gr_session *s);
/* After backward: the gradients and the loss summed over the ranks, and
 * whether any rank was interrupted (s->stop); returns the batch's loss. */
float gr_parallel_reduce_step(struct gr_session *s, float loss);
/* x[0..n) becomes its sum over the ranks, the same on every rank
 * (evaluation's hits, exact below 2^53, and its loss). */
void gr_parallel_sum(struct gr_session *s, double *x, int n);
/* After a part of the run that can fail on some ranks only (rank 0's files,
 * a checkpoint on one host): rc of every rank combined, the first failure's
 * message on all. `own`: whether this rank's failure is its own rather than
 * a consequence of another's. With `check_state`, also that every rank's
 * parameters equal rank 0's (a run's checkpoints). */
int gr_parallel_agree(struct gr_session *s, int rc, int own, int check_state);

#endif
