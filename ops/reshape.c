/* reshape: x[B, ...] -> out[B, shape...], same values in the same order.
 * One entry of `shape` may be -1: it takes whatever size makes the counts
 * agree. The batch axis is kept and never named in `shape`. */
#include <string.h>

#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

enum { A_SHAPE };
static const struct gr_attr_spec reshape_attrs[] = {
    [A_SHAPE] = {"shape", GR_ATTR_INTS, "new shape of one sample; one entry may be -1", .min = -1, .max = 1e12},
};

static int reshape_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    const struct gr_attr_value *s = &inf->attrs[A_SHAPE];
    if (x->rank < 1) return gr_infer_fail(inf, -1, "input has no batch axis");
    if (s->n + 1 > GR_MAX_DIMS) return gr_infer_fail(inf, A_SHAPE, "at most %d axes besides the batch", GR_MAX_DIMS - 1);
    int64_t have = 1, known = 1;
    for (int i = 1; i < x->rank; i++) have *= x->dim[i]; /* x's shape was checked */
    int wild = -1;
    for (int i = 0; i < s->n; i++) {
        if (s->ints[i] == -1) {
            if (wild >= 0) return gr_infer_fail(inf, A_SHAPE, "only one entry may be -1");
            wild = i;
        } else if (s->ints[i] == 0) {
            return gr_infer_fail(inf, A_SHAPE, "entries must be positive or -1");
        } else if (gr_size_mul(known, s->ints[i], &known)) {
            return gr_infer_fail(inf, A_SHAPE, "the entries multiply to more than %lld; the input has %lld values per "
                                 "sample", (long long)INT64_MAX, (long long)have);
        }
    }
    inf->out.rank = s->n + 1;
    inf->out.dim[0] = x->dim[0];
    for (int i = 0; i < s->n; i++) inf->out.dim[i + 1] = s->ints[i];
    if (wild >= 0) {
        if (have % known != 0)
            return gr_infer_fail(inf, A_SHAPE, "cannot fill -1: %lld values per sample do not divide by %lld",
                                 (long long)have, (long long)known);
        inf->out.dim[wild + 1] = have / known;
    } else if (known != have) {
        return gr_infer_fail(inf, A_SHAPE, "shape holds %lld value%s per sample, but the input has %lld",
                             (long long)known, known == 1 ? "" : "s", (long long)have);
    }
    inf->out_dtype = inf->in_dtype[0];
    return 0;
}

/* A plan makes the output a view of x and skips this; it runs only where
 * the output has its own buffer (the op harness). */
static void reshape_forward(const struct gr_args *a) {
    if (a->out->data != a->in[0]->data)
        memcpy(a->out->data, a->in[0]->data, (size_t)gr_shape_count(&a->out->shape) * 4);
}

/* dx += dy, read in the same order (dx = dy when told to assign) */
static void reshape_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    float *dx = a->din[0]->data;
    const float *dy = a->dout->data;
    int64_t n = gr_shape_count(&a->out->shape);
    if (gr_din_assigns(a, 0))
        memcpy(dx, dy, (size_t)n * sizeof *dx);
    else
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
}

/* Reshape to [0, shape...]: the leading 0 copies the input's batch, so the
 * model's batch stays dynamic (and -1 is ONNX's -1 too). */
static int reshape_lower(struct gr_lower *lw) {
    const struct gr_attr_value *s = &lw->attrs[A_SHAPE];
    int64_t shape[GR_MAX_DIMS] = {0};
    for (int i = 0; i < s->n; i++) shape[i + 1] = s->ints[i];
    const char *in[2] = {lw->in[0], gr_onnx_const_i64(lw, "shape", 1, s->n + 1, shape)};
    return in[1] ? lw->onnx->node(lw, "Reshape", 2, in, 1, &lw->out, 0, NULL) : -1;
}

const struct gr_op_desc gr_op_reshape = {
    .name = "reshape",
    .summary = "out[B, shape...] = x[B, ...] with the same values in the same order",
    .inputs_doc = "x [B, ...]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = reshape_attrs,
    .n_attrs = 1,
    .infer = reshape_infer,
    .forward = reshape_forward,
    .backward = reshape_backward,
    .flags = GR_OP_VIEW | GR_OP_ASSIGNS_GRAD | GR_OP_ROWWISE,
    .lower = reshape_lower,
};
