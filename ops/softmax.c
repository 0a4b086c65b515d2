/* softmax over the last axis: y_j = exp(x_j - max x) / sum_k exp(x_k - max x)
 * backward: dx_j += y_j * (dy_j - sum_k dy_k y_k) */
#include <math.h>

#include "graphrun/plugin.h"
#include "lower.h"

static int softmax_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (inf->in[0]->rank < 1) return gr_infer_fail(inf, -1, "input needs at least one axis");
    inf->out = *inf->in[0];
    return 0;
}

static void softmax_forward(const struct gr_args *a) {
    const struct gr_shape *s = &a->out->shape;
    int64_t c = s->dim[s->rank - 1], rows = gr_shape_count(s) / c;
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        float m = xr[0];
        for (int64_t j = 1; j < c; j++) m = xr[j] > m ? xr[j] : m;
        double sum = 0;
        for (int64_t j = 0; j < c; j++) {
            yr[j] = expf(xr[j] - m);
            sum += yr[j];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < c; j++) yr[j] *= inv;
    }
}

static void softmax_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    const struct gr_shape *s = &a->out->shape;
    int64_t c = s->dim[s->rank - 1], rows = gr_shape_count(s) / c;
    const float *y = a->out->data, *dy = a->dout->data;
    float *dx = a->din[0]->data;
    for (int64_t r = 0; r < rows; r++) {
        double dot = 0;
        for (int64_t j = 0; j < c; j++) dot += (double)dy[r * c + j] * y[r * c + j];
        for (int64_t j = 0; j < c; j++) dx[r * c + j] += y[r * c + j] * (dy[r * c + j] - (float)dot);
    }
}

static void softmax_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = 3 * n;
    *bwd = 4 * n;
}

/* Softmax (opset 13 on) normalises along `axis` alone */
static int softmax_lower(struct gr_lower *lw) {
    struct gr_onnx_attr axis = gr_onnx_int("axis", -1);
    return gr_lower_same(lw, "Softmax", 1, &axis);
}

const struct gr_op_desc gr_op_softmax = {
    .name = "softmax",
    .summary = "y = exp(x) / sum(exp(x)) over the last axis",
    .inputs_doc = "x [..., C]",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = softmax_infer,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .flops = softmax_flops,
    .lower = softmax_lower,
};
