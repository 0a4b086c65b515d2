/* slice along one axis (counted with the batch as axis 0; negative counts
 * from the end; the batch axis itself cannot be sliced).
 *   index: i        -> takes element i and drops the axis: [B, T, H] -> [B, H]
 *   begin/end: b, e -> keeps elements b..e-1 and the axis:  [B, T, H] -> [B, e-b, H]
 * Negative index, begin or end count from the end, as in Python. */
#include <string.h>

#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

enum { A_AXIS, A_INDEX, A_BEGIN, A_END };
static const struct gr_attr_spec slice_attrs[] = {
    [A_AXIS] = {"axis", GR_ATTR_INT, "axis to slice (0 is the batch; negative counts from the end)"},
    [A_INDEX] = {"index", GR_ATTR_INT, "take one element and drop the axis", .optional = 1},
    [A_BEGIN] = {"begin", GR_ATTR_INT, "first element kept (default 0)", .optional = 1},
    [A_END] = {"end", GR_ATTR_INT, "one past the last element kept (default: the axis length)", .optional = 1},
};

/* The slice as (outer, axis length, inner) blocks: out row o copies
 * x[o][begin .. begin + len) of the axis, each element `inner` floats. */
struct slice_geom {
    int64_t outer, dim, inner, begin, len;
};

static int slice_geom(const struct gr_shape *x, const struct gr_attr_value *at, struct slice_geom *g, int *axis_out,
                      char *why, size_t why_len, int *blame) {
    int axis = gr_axis(at[A_AXIS].i, x->rank);
    *blame = A_AXIS;
    if (axis < 0) return snprintf(why, why_len, "axis %lld is out of range for rank %d", (long long)at[A_AXIS].i, x->rank), -1;
    if (axis == 0) return snprintf(why, why_len, "axis 0 is the batch and cannot be sliced"), -1;
    g->dim = x->dim[axis];
    g->outer = 1;
    g->inner = 1;
    for (int i = 0; i < axis; i++) g->outer *= x->dim[i];
    for (int i = axis + 1; i < x->rank; i++) g->inner *= x->dim[i];
    if (at[A_INDEX].present) {
        *blame = A_INDEX;
        if (at[A_BEGIN].present || at[A_END].present)
            return snprintf(why, why_len, "give either index or begin/end, not both"), -1;
        int64_t i = at[A_INDEX].i < 0 ? at[A_INDEX].i + g->dim : at[A_INDEX].i;
        if (i < 0 || i >= g->dim)
            return snprintf(why, why_len, "index %lld is out of range for an axis of %lld", (long long)at[A_INDEX].i,
                            (long long)g->dim), -1;
        g->begin = i;
        g->len = 1;
    } else {
        int64_t b = at[A_BEGIN].present ? at[A_BEGIN].i : 0;
        int64_t e = at[A_END].present ? at[A_END].i : g->dim;
        if (b < 0) b += g->dim;
        if (e < 0) e += g->dim;
        /* each bound's own fault first, named with the value given: only a
         * range whose bounds are both on the axis can be empty */
        *blame = A_BEGIN;
        if (b < 0 || b >= g->dim)
            return snprintf(why, why_len, "begin %lld is out of range for an axis of %lld",
                            (long long)at[A_BEGIN].i, (long long)g->dim), -1;
        *blame = A_END;
        if (e > g->dim)
            return snprintf(why, why_len, "end %lld is past the end of an axis of %lld", (long long)at[A_END].i,
                            (long long)g->dim), -1;
        if (e < 0)
            return snprintf(why, why_len, "end %lld is out of range for an axis of %lld", (long long)at[A_END].i,
                            (long long)g->dim), -1;
        *blame = at[A_BEGIN].present ? A_BEGIN : A_END;
        if (b >= e)
            return snprintf(why, why_len, "begin..end selects nothing from an axis of %lld", (long long)g->dim), -1;
        g->begin = b;
        g->len = e - b;
    }
    *axis_out = axis;
    return 0;
}

static int slice_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    struct slice_geom g;
    int axis, blame;
    char why[200];
    if (slice_geom(x, inf->attrs, &g, &axis, why, sizeof why, &blame)) return gr_infer_fail(inf, blame, "%s", why);
    inf->out = *x;
    if (inf->attrs[A_INDEX].present) {
        for (int i = axis; i < x->rank - 1; i++) inf->out.dim[i] = x->dim[i + 1];
        inf->out.rank = x->rank - 1;
    } else {
        inf->out.dim[axis] = g.len;
    }
    inf->out_dtype = inf->in_dtype[0];
    return 0;
}

static void geom_of(const struct gr_args *a, struct slice_geom *g) {
    int axis, blame;
    char why[8];
    int rc = slice_geom(&a->in[0]->shape, a->attrs, g, &axis, why, sizeof why, &blame);
    (void)rc; /* infer already accepted these attributes for this shape */
}

static void slice_forward(const struct gr_args *a) {
    struct slice_geom g;
    geom_of(a, &g);
    const char *x = a->in[0]->data;
    char *y = a->out->data;
    size_t row = (size_t)(g.len * g.inner) * 4;
    for (int64_t o = 0; o < g.outer; o++)
        memcpy(y + (size_t)o * row, x + (size_t)((o * g.dim + g.begin) * g.inner) * 4, row);
}

/* dx[o, begin + j, :] += dy[o, j, :]; the rest of dx is untouched */
static void slice_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    struct slice_geom g;
    geom_of(a, &g);
    float *dx = a->din[0]->data;
    const float *dy = a->dout->data;
    int64_t row = g.len * g.inner;
    for (int64_t o = 0; o < g.outer; o++) {
        float *d = dx + (o * g.dim + g.begin) * g.inner;
        const float *s = dy + o * row;
        for (int64_t j = 0; j < row; j++) d[j] += s[j];
    }
}

/* index: Gather of a scalar index, which drops the axis as graphrun does;
 * begin/end: Slice of one axis, which keeps it. */
static int slice_lower(struct gr_lower *lw) {
    struct slice_geom g;
    int axis, blame;
    char why[200];
    if (slice_geom(&lw->in_shape[0], lw->attrs, &g, &axis, why, sizeof why, &blame))
        return gr_lower_fail(lw, "%s", why);
    if (lw->attrs[A_INDEX].present) {
        struct gr_onnx_attr at = gr_onnx_int("axis", axis);
        const char *in[2] = {lw->in[0], gr_onnx_const_i64(lw, "index", 0, 1, &g.begin)};
        return in[1] ? lw->onnx->node(lw, "Gather", 2, in, 1, &lw->out, 1, &at) : -1;
    }
    int64_t end = g.begin + g.len, ax = axis;
    const char *in[4] = {lw->in[0], gr_onnx_const_i64(lw, "starts", 1, 1, &g.begin),
                         gr_onnx_const_i64(lw, "ends", 1, 1, &end), gr_onnx_const_i64(lw, "axes", 1, 1, &ax)};
    return in[1] && in[2] && in[3] ? lw->onnx->node(lw, "Slice", 4, in, 1, &lw->out, 0, NULL) : -1;
}

const struct gr_op_desc gr_op_slice = {
    .name = "slice",
    .summary = "out = x[:, ..., index or begin:end, ...] along one axis",
    .inputs_doc = "x [B, ...]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = slice_attrs,
    .n_attrs = 4,
    .infer = slice_infer,
    .forward = slice_forward,
    .backward = slice_backward,
    .flags = GR_OP_ROWWISE,
    .lower = slice_lower,
};
