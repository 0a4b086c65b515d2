/* Running one node of a built graph on its own buffers, outside any plan:
 * the basis of op tests and of the finite-difference gradient check that
 * every registered op (plugins included) must pass.
 *
 * Gradient check of node y = f(x_0, x_1, ...):
 *   L = sum_j r_j y_j with fixed random r in [-1, 1);  analytic: backward
 *   with dout = r;  numeric: dL/dx_k[e] ~ (L(x + h_k e) - L(x - h_k e)) / 2h_k,
 *   L summed in double, h_k the step of input k (below; `h`, 1e-2, for
 *   parameters); an element passes when
 *     |analytic - numeric| <= atol_k + rtol * max(|a|, |n|),
 *   atol_k = max(atol, 64 * 2^-24 * sqrt(sum_j (r_j y_j)^2) / 2h_k): no
 *   tighter than the float forward lets a difference be (it rises above atol
 *   only on large graphs, e.g. 28-step recurrences, or small steps).
 *   Defaults: atol 2e-4, rtol 2e-3.
 *
 * A random op (dropout) is checked with its random values held fixed: the
 * harness keeps its step at 1, so every forward of the check draws the
 * same mask from the node's stream, and backward sees it too.
 *
 * How inputs are drawn, so that a non-smooth op (relu, leaky_relu,
 * max_pool2d) is checked away from its kinks:
 *   - parameters from their initializer (that scale keeps a recurrence
 *     stable); zeros and ones get U(-0.1, 0.1) of noise; their step is h;
 *   - every other float input of n values gets n distinct magnitudes, an
 *     evenly spaced grid 0.1, 0.1 + s, ..., 0.1 + (n - 1) s, in a random
 *     order and each with a random sign, with s = max(gap * h, 0.9 / (n - 1))
 *     (the grid fills [0.1, 1] when it can, and spreads wider), but never
 *     past max_mag (larger values saturate recurrent and softmax nodes, and
 *     their differences mean nothing): beyond 1 + (max_mag - 0.1) / (gap * h)
 *     values (77 at the defaults) s shrinks to fit, and so does the input's
 *     step, h_k = min(h, s / gap). Any two values then differ by at least
 *     min(s, 0.2) >= gap * h_k > 2 h_k and none is within 0.1 > h_k of 0, so
 *     a step moves no value across another (a max changes hands in no
 *     pooling window) nor across 0. A large input pays with a higher noise
 *     floor (reported as `noise`, the largest atol_k). Defaults: gap 2.5,
 *     max_mag 2;
 *   - int inputs (labels, indices) uniformly in [0, C), C the smallest axis
 *     of the node's float inputs (not counting batch axes), so an index is
 *     valid for whichever axis it indexes (classes of logits, rows of an
 *     embedding table). */
#ifndef GR_HARNESS_H
#define GR_HARNESS_H

#include <stdint.h>

#include "runtime/engine/graph.h"
#include "runtime/base/rng.h"

struct gr_harness {
    struct gr_graph *g;
    int node;
    struct gr_tensor in[GR_MAX_INPUTS], out, din[GR_MAX_INPUTS], dout;
    void *saved, *scratch;
    struct gr_args args;
    int64_t step; /* the random streams' step: 1 in training, held fixed, so
                     every forward draws the same values (a dropout mask
                     replays under finite differences) */
};

/* Buffers shaped like node `node`'s inputs and output at the graph's build batch. */
int gr_harness_init(struct gr_harness *h, struct gr_graph *g, int node, int training);
void gr_harness_free(struct gr_harness *h);
void gr_harness_forward(struct gr_harness *h);
/* Zero every input gradient, then run backward with the current dout. */
void gr_harness_backward(struct gr_harness *h);

struct gr_gradcheck {
    double h;              /* the finite-difference step (eps) */
    double atol, rtol;     /* the tolerance, as above */
    int max_elems;         /* per input; larger inputs are sampled */
    double gap;            /* grid spacing of drawn inputs, in steps; <= 0: 2.5 */
    double max_mag;        /* largest drawn magnitude; <= 0: 2 */
    gr_param_fill_fn fill; /* parameters' initializers (models/init.c's
                              gr_init_fill); needed when a node has any */
    /* results */
    double noise;          /* the finite differences' rounding floor, used as
                              the absolute tolerance when above atol (the
                              largest over the inputs) */
    int checked, failed;
    double worst;          /* largest |a - n| / (atol + rtol * max(|a|, |n|)) */
    double spacing;        /* the smallest step taken, as a fraction of h
                              (below 1: an input too large for h) */
    char report[512];      /* the worst element, for messages */
};

/* The defaults above: h 1e-2, atol 2e-4, rtol 2e-3, 400 elements an input,
 * gap 2.5, max_mag 2. */
struct gr_gradcheck gr_gradcheck_defaults(void);

/* Check node `node` with inputs drawn from `rng` as described above.
 * Returns 0 if every element passed, 1 if some failed, -1 on error. */
int gr_gradcheck_node(struct gr_graph *g, int node, struct gr_rng *rng, struct gr_gradcheck *gc);

#endif
