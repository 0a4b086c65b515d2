/* concat: join inputs along one axis (0 is the batch and cannot be used;
 * negative counts from the end). All other axes must agree.
 *   [B, T, 3] ++ [B, T, 5] along axis -1 -> [B, T, 8]
 * backward: each input's gradient is its block of dout. */
#include <string.h>

#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

enum { A_AXIS };
static const struct gr_attr_spec concat_attrs[] = {
    [A_AXIS] = {"axis", GR_ATTR_INT, "axis to join along (negative counts from the end)", .def = "-1"},
};

static int concat_infer(struct gr_infer *inf) {
    const struct gr_shape *x0 = inf->in[0];
    int axis = gr_axis(inf->attrs[A_AXIS].i, x0->rank);
    if (axis < 0) return gr_infer_fail(inf, A_AXIS, "axis %lld is out of range for rank %d", (long long)inf->attrs[A_AXIS].i, x0->rank);
    if (axis == 0) return gr_infer_fail(inf, A_AXIS, "axis 0 is the batch; concatenate along another axis");
    inf->out = *x0;
    inf->out.dim[axis] = 0;
    for (int k = 0; k < inf->n_in; k++) {
        const struct gr_shape *x = inf->in[k];
        char s0[96], sk[96];
        if (inf->in_dtype[k] != inf->in_dtype[0]) return gr_infer_fail(inf, -1, "inputs must share one dtype");
        if (x->rank != x0->rank)
            return gr_infer_fail(inf, -1, "input %d has shape %s, input 0 has %s: ranks differ", k,
                                 gr_shape_format(x, sk, sizeof sk), gr_shape_format(x0, s0, sizeof s0));
        for (int d = 0; d < x->rank; d++)
            if (d != axis && x->dim[d] != x0->dim[d])
                return gr_infer_fail(inf, -1, "input %d has shape %s, input 0 has %s: axis %d differs", k,
                                     gr_shape_format(x, sk, sizeof sk), gr_shape_format(x0, s0, sizeof s0), d);
        inf->out.dim[axis] += x->dim[axis];
    }
    inf->out_dtype = inf->in_dtype[0];
    return 0;
}

/* outer: product of the axes before `axis`; inner: after it */
static void geom(const struct gr_args *a, int *axis, int64_t *outer, int64_t *inner) {
    const struct gr_shape *y = &a->out->shape;
    *axis = gr_axis(a->attrs[A_AXIS].i, y->rank);
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < *axis; d++) *outer *= y->dim[d];
    for (int d = *axis + 1; d < y->rank; d++) *inner *= y->dim[d];
}

static void concat_forward(const struct gr_args *a) {
    int axis;
    int64_t outer, inner;
    geom(a, &axis, &outer, &inner);
    int64_t row = a->out->shape.dim[axis] * inner; /* floats per outer index in y */
    int64_t at = 0;
    for (int k = 0; k < a->n_in; k++) {
        int64_t w = a->in[k]->shape.dim[axis] * inner;
        const char *x = a->in[k]->data;
        char *y = a->out->data;
        for (int64_t o = 0; o < outer; o++) memcpy(y + (size_t)(o * row + at) * 4, x + (size_t)(o * w) * 4, (size_t)w * 4);
        at += w;
    }
}

static void concat_backward(const struct gr_args *a) {
    int axis;
    int64_t outer, inner;
    geom(a, &axis, &outer, &inner);
    int64_t row = a->out->shape.dim[axis] * inner;
    int64_t at = 0;
    const float *dy = a->dout->data;
    for (int k = 0; k < a->n_in; k++) {
        int64_t w = a->in[k]->shape.dim[axis] * inner;
        if (a->din[k]) {
            float *dx = a->din[k]->data;
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < w; j++) dx[o * w + j] += dy[o * row + at + j];
        }
        at += w;
    }
}

static int concat_lower(struct gr_lower *lw) {
    struct gr_onnx_attr axis = gr_onnx_int("axis", gr_axis(lw->attrs[A_AXIS].i, lw->in_shape[0].rank));
    return gr_lower_same(lw, "Concat", 1, &axis);
}

const struct gr_op_desc gr_op_concat = {
    .name = "concat",
    .summary = "out = [x0, x1, ...] joined along `axis`",
    .inputs_doc = "x0, x1, ... (equal except along axis)",
    .min_inputs = 1,
    .max_inputs = GR_MAX_INPUTS,
    .attrs = concat_attrs,
    .n_attrs = 1,
    .infer = concat_infer,
    .forward = concat_forward,
    .backward = concat_backward,
    .flags = GR_OP_ROWWISE,
    .lower = concat_lower,
};
