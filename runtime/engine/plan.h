/* A plan runs a graph at one batch capacity. It is made once: it picks the
 * nodes the targets need, infers their shapes at the capacity, lays out one
 * arena for activations, saved state, gradients and scratch, and prepares
 * every kernel's arguments. Running it then allocates nothing:
 *
 *   forward:   for each needed node in topological order, op->forward
 *   backward:  d(loss) = 1; for each node in reverse order whose gradient
 *              is needed, op->backward adds into its inputs' gradients
 *
 * A relu that is its producer's only consumer is run by the producer when
 * the producer's op can (gr_plan_fuse). A gradient that fans out to several consumers is summed because every
 * backward accumulates; a gradient's first writer (the consumer latest in
 * order) is told to assign instead when its op opts in
 * (GR_OP_ASSIGNS_GRAD), and that buffer is not zeroed. Parameters live in the graph's blocks, so a training
 * plan and an evaluation plan of the same graph share them. */
#ifndef GR_PLAN_H
#define GR_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/engine/graph.h"

struct gr_plan {
    struct gr_graph *g;
    int64_t cap, batch;
    int training;
    int loss;                  /* training plans: the node seeded with 1 */
    /* The step under way, which every kernel's random stream reads
     * (gr_args.rng_step points here): the session sets it before each
     * training step's forward; 0 in evaluation plans. */
    int64_t step;
    unsigned char *fwd;        /* [n] node runs forward */
    unsigned char *bwd;        /* [n] node has a gradient buffer */
    unsigned char *absorbed;   /* [n] a relu its producer runs (gr_plan_fuse) */
    int *order;                /* nodes with fwd set, in order */
    int n_order;
    struct gr_tensor *val;     /* [n] values */
    struct gr_tensor *grad;    /* [n] gradients (data NULL when none) */
    struct gr_args *args;      /* [n] kernel arguments */
    /* [n] for a node that runs the max pool after its relu (GR_FUSED_POOL):
     * the pool's byte index, which the node reads as in[n_in] */
    struct gr_tensor *pool_index;
    size_t *val_cap;           /* [n] bytes reserved per value */
    size_t *saved_cap;         /* [n] bytes reserved per node's saved state */
    struct gr_shape *shape;    /* [n] each run node's shape at the current batch */
    enum gr_dtype *dtype;      /* [n] and dtype */
    void *arena;
    size_t arena_bytes;
    /* The activation gradients zeroed each step, as ranges of the arena:
     * all but those whose first writer assigns (gr_args.din_assign). */
    size_t *zero_off, *zero_len;
    int n_zero;
    size_t zero_bytes;
    /* and the parameter gradient block's, in floats from its start: all
     * but the parameters whose first writer assigns (GR_OP_ASSIGNS_PARAM_GRAD) */
    int64_t *pzero_off, *pzero_len, pzero_floats;
    int n_pzero;
    size_t scratch_bytes;
    /* Where backward puts the parameters' gradients: the graph's block
     * (g->grad), or one a caller gave (gr_plan_set_param_grad). */
    float *param_grad;
};

/* Plan the nodes that `targets` depend on at batch capacity `cap`. With
 * `loss` >= 0 the plan also runs backward from that node (which must be a
 * scalar and among the targets). Records an error and returns -1 if the plan
 * cannot be made (for example if memory runs out). */
int gr_plan_init(struct gr_plan *p, struct gr_graph *g, int64_t cap, const int *targets, int n_targets, int loss);
/* Everything gr_plan_init works out (marks, order, shapes, arena_bytes),
 * with its checks, but no arena: no tensor has data. For check and summary,
 * which report a plan without holding it, and for "would not fit" checks. */
int gr_plan_layout(struct gr_plan *p, struct gr_graph *g, int64_t cap, const int *targets, int n_targets, int loss);
void gr_plan_free(struct gr_plan *p);

/* Backward's parameter gradients into `block` (laid out as g->grad) from
 * now on; gr_plan_zero_grad zeroes it. */
void gr_plan_set_param_grad(struct gr_plan *p, float *block);

/* Tell every node whether its parameters are those of its last forward
 * and backward in this plan (gr_args.params_kept). */
void gr_plan_keep_params(struct gr_plan *p, int kept);

/* Run with `batch` <= cap samples; re-infers shapes, allocates nothing. */
int gr_plan_set_batch(struct gr_plan *p, int64_t batch);

/* The shapes the plan's nodes would have at `batch` (shapes and dtypes are
 * indexed by node; others untouched), without changing the plan. Records the
 * located error of the first node that cannot run at that batch. */
int gr_plan_shapes_at(const struct gr_plan *p, int64_t batch, struct gr_shape *shapes, enum gr_dtype *dtypes);

/* Fold each relu into its producer where the producer's op can run it
 * (GR_OP_FUSES_RELU), the relu is its only consumer and the producer is
 * not among the targets (runtime/engine/fuse.c). gr_plan_init does it. */
int gr_plan_fuse(struct gr_plan *p, const int *targets, int n_targets);

void gr_plan_forward(struct gr_plan *p);
/* Zero the parameter and activation gradients whose first writer adds. */
void gr_plan_zero_grad(struct gr_plan *p);
/* plan_assigns's part (runtime/engine/zero.c): the parameter gradient
 * block's ranges backward does not assign, `assigned` a node's flag. */
void gr_plan_param_zeroes(struct gr_plan *p, const unsigned char *assigned);
/* Seed d(loss) = 1 and run every needed backward in reverse order. */
void gr_plan_backward(struct gr_plan *p);
/* The same from d(loss) = seed: every gradient scaled by it (a rank's share
 * of a batch split over ranks, runtime/session/parallel.h). */
void gr_plan_backward_from(struct gr_plan *p, float seed);

/* Floating-point operations of one forward and one backward pass at the
 * current batch, from the ops' counts (ops without one count nothing). */
void gr_plan_flops(const struct gr_plan *p, double *forward, double *backward);
/* The same for node i alone (0 for a node the plan does not run). */
void gr_plan_node_flops(const struct gr_plan *p, int i, double *forward, double *backward);

/* Whether every parameter gradient is finite (one pass over the block). */
int gr_plan_grads_finite(const struct gr_plan *p);
/* The first node, in order, whose value holds inf or nan (*in_grad = 0), else
 * the first, in backward order, whose gradient does (*in_grad = 1); -1: none. */
int gr_plan_find_nonfinite(const struct gr_plan *p, int *in_grad);

static inline struct gr_tensor *gr_plan_value(struct gr_plan *p, int node) { return &p->val[node]; }

#endif
