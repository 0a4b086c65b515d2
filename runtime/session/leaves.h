/* A training step by leaves: where the model allows it, each thread runs
 * the whole graph, forward and backward, on one leaf of the batch at a time
 * (the leaves of ops/util.h's halving tree, at most 32 samples), with its
 * own plan at the leaf's size, taking the next leaf when done; the leaves'
 * gradients are then added up that tree, which gives the bits one pass over
 * the whole batch gives.
 *
 * Why: one pass over the batch runs op after op over all of it, every op a
 * meeting point of the threads. A leaf's saved state stays in its core's
 * L2 cache from forward to backward (the reference LSTM saves 1.7 MB a leaf;
 * a core has 2 MB): at batch 256 one pass held four leaves a thread, whose
 * state went out to L3 and back. By leaves the threads meet once a step,
 * a thread that the machine holds up delays one leaf, not every op, and
 * what a step does once (the update, the gradient's norm) is shared by more
 * samples as the batch grows.
 *
 * When: every node the loss depends on is an input, a parameter, or an op
 * that declares GR_OP_ROWWISE (row r of its output reads row r of its
 * inputs; its parameters' gradients summed over the halving tree), with
 * axis 0 the batch both at the batch's size and at a leaf's, and the loss's
 * op declares GR_OP_ROW_MEAN (a mean over rows); the batch halves evenly
 * down to leaves of equal size L (n = L 2^d, d >= 1), so each leaf's
 * backward, seeded with L / n = 2^-d (exact), writes that leaf's terms of
 * the tree; every thread the step may use gets a leaf (else one pass, which
 * splits each op over all of them); and the leaves' gradients take no more
 * memory than the one pass's plan they replace. The loss is the leaves' mean (in double).
 *
 * The parameters then get one pass's bits wherever each product sums a row
 * the same way at a leaf's rows as at the batch's, as the reference LSTM's
 * do. Two kinds need not: the host's products over k > 448, which sum in
 * blocks only above 2^21 multiply-adds (runtime/host/gemm.c), and
 * OpenBLAS's, whose kernels can depend on the rows (the rows past its last
 * whole 16; at some core types its small-matrix paths). There the two agree
 * to rounding. Each op runs on one thread, so a step by leaves gives the
 * same bits at any thread count (tests/test_leaves.c).
 *
 * On a busy machine a thread that shares its core with another process
 * runs its leaf at half speed or less, and a step of two leaves waits for
 * it: a step took up to 1.6 times the calling thread's alone. So the
 * calling thread times its own leaves; after GR_PACE_LATE steps in a row
 * that took longer than it would have taken running every leaf itself, the
 * next GR_PACE_SOLO steps run on it alone, then the threads are tried
 * again: one late step then sends the steps back, for twice as long (up to
 * GR_PACE_SOLO_MAX), and a step in time ends it. Which thread runs a leaf
 * never changes its bits, so neither does this. */
#ifndef GR_SESSION_LEAVES_H
#define GR_SESSION_LEAVES_H

#define GR_PACE_LATE 3
#define GR_PACE_SOLO 32
#define GR_PACE_SOLO_MAX 256

#include <stdint.h>

#include "runtime/session/state.h"

/* With the training plan laid out at n rows (s->tp): how many leaves a step
 * of n rows runs by (1: one pass over all of them); -1 on an error. */
int64_t gr_leaves_count(struct gr_session *s, int64_t n);
/* With s->tp made at a leaf's size: the other threads' plans, the leaves'
 * gradients and losses; 0 or -1. */
int gr_leaves_alloc(struct gr_session *s);
void gr_leaves_free(struct gr_session *s);
/* The training plans a step by leaves runs (one a thread, at most one a leaf). */
int gr_leaves_plans(const struct gr_session *s);
/* The bytes gr_leaves_alloc will hold besides s->tp, for s->leaves leaves. */
double gr_leaves_bytes(const struct gr_session *s);
/* Forward and backward of rows idx[0..n) by leaves, the gradient summed into
 * s->g.grad; returns the mean of the leaves' losses. `draw`: the first
 * sample's augmentation draw; `batch`: the whole batch's rows (all ranks'). */
double gr_leaves_run(struct gr_session *s, const int32_t *idx, int64_t draw, int64_t batch);
/* After a step whose loss or gradient was not finite: its leaves run again
 * on s->tp, in order, until one holds a non-finite value, which s->tp then
 * holds for the message (a leaf another plan ran, or that plan 0 ran over
 * since, holds it nowhere); returns that leaf, or -1. */
int64_t gr_leaves_replay_fault(struct gr_session *s, int64_t batch);
/* After a step on every plan that took step_s seconds, of which the
 * calling thread ran own_leaves leaves in own_s: whether the next steps
 * run on it alone (p->solo). */
void gr_leaves_pace(struct gr_leaves_pace *p, double step_s, double own_s, int64_t own_leaves, int64_t leaves);
/* A training step's operations forward and backward. */
void gr_leaves_flops(const struct gr_session *s, double *forward, double *backward);

#endif
