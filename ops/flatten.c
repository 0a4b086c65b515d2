/* flatten: x[B, d1, ..., dn] -> y[B, d1 * ... * dn], the same values in the
 * same order (x[B] gives [B, 1], as Keras's Flatten). The same as `reshape`
 * with `shape: [-1]`; a view, so a plan gives it no buffer and no work. */
#include <string.h>

#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

static int flatten_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    if (x->rank < 1) return gr_infer_fail(inf, -1, "input has no batch axis");
    inf->out = (struct gr_shape){2, {x->dim[0], gr_shape_count(x) / x->dim[0]}};
    inf->out_dtype = inf->in_dtype[0];
    return 0;
}

/* A plan skips this (the output is x's memory); the op harness does not. */
static void flatten_forward(const struct gr_args *a) {
    if (a->out->data != a->in[0]->data)
        memcpy(a->out->data, a->in[0]->data, (size_t)gr_shape_count(&a->out->shape) * 4);
}

/* dx += dy, element for element (dx = dy when told to assign) */
static void flatten_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    float *dx = a->din[0]->data;
    const float *dy = a->dout->data;
    int64_t n = gr_shape_count(&a->out->shape);
    if (gr_din_assigns(a, 0))
        memcpy(dx, dy, (size_t)n * sizeof *dx);
    else
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
}

/* Flatten(axis=1) keeps the (dynamic) batch and joins the rest */
static int flatten_lower(struct gr_lower *lw) {
    struct gr_onnx_attr axis = gr_onnx_int("axis", 1);
    return gr_lower_same(lw, "Flatten", 1, &axis);
}

const struct gr_op_desc gr_op_flatten = {
    .name = "flatten",
    .summary = "y[B, N] = x[B, ...] with its sample axes joined (N = their product), same order",
    .inputs_doc = "x [B, ...]",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = flatten_infer,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .flags = GR_OP_VIEW | GR_OP_ASSIGNS_GRAD | GR_OP_ROWWISE,
    .lower = flatten_lower,
};
