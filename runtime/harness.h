/* Running one node of a built graph on its own buffers, outside any plan:
 * the basis of op tests and of the finite-difference gradient check that
 * every registered op (plugins included) must pass.
 *
 * Gradient check of node y = f(x_0, x_1, ...):
 *   L = sum_j r_j y_j with fixed random r;  analytic: backward with dout = r;
 *   numeric: dL/dx_k[e] ~ (L(x + h e) - L(x - h e)) / 2h, L summed in double;
 *   an element passes when |analytic - numeric| <= atol' + rtol * max(|a|, |n|),
 *   atol' = max(atol, 64 * 2^-24 * sqrt(sum_j (r_j y_j)^2) / 2h): no tighter
 *   than the float forward lets a difference be (it only rises above atol on
 *   large graphs, e.g. 28-step recurrences). */
#ifndef GR_HARNESS_H
#define GR_HARNESS_H

#include <stdint.h>

#include "graph.h"
#include "rng.h"

struct gr_harness {
    struct gr_graph *g;
    int node;
    struct gr_tensor in[GR_MAX_INPUTS], out, din[GR_MAX_INPUTS], dout;
    void *saved, *scratch;
    struct gr_args args;
};

/* Buffers shaped like node `node`'s inputs and output at the graph's build batch. */
int gr_harness_init(struct gr_harness *h, struct gr_graph *g, int node, int training);
void gr_harness_free(struct gr_harness *h);
void gr_harness_forward(struct gr_harness *h);
/* Zero every input gradient, then run backward with the current dout. */
void gr_harness_backward(struct gr_harness *h);

struct gr_gradcheck {
    double h, atol, rtol;
    int max_elems;         /* per input; larger inputs are sampled */
    /* results */
    double noise;          /* the finite differences' rounding floor, used as
                              the absolute tolerance when above atol */
    int checked, failed;
    double worst;          /* largest |a - n| / (atol + rtol * max(|a|, |n|)) */
    char report[512];      /* the worst element, for messages */
};

/* Check node `node` with random inputs from `rng`: parameters from their
 * initializer (zeros and ones with +-0.1 of noise), other float inputs from
 * +-U(0.1, 1) (away from kinks at 0), int inputs from [0, C) where C is the
 * last axis of input 0. Returns 0 if every element passed. */
int gr_gradcheck_node(struct gr_graph *g, int node, struct gr_rng *rng, struct gr_gradcheck *gc);

#endif
