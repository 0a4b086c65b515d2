/* mean: the average of every element, a scalar (a loss, e.g. mean of squares).
 *   y = 1/n * sum_i x_i;  backward: dx_i += dy / n */
#include "graphrun/plugin.h"
#include "lower.h"

static int mean_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    inf->out.rank = 0;
    return 0;
}

static void mean_forward(const struct gr_args *a) {
    const float *x = a->in[0]->data;
    int64_t n = gr_shape_count(&a->in[0]->shape);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    *(float *)a->out->data = (float)(s / (double)n);
}

static void mean_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    float *dx = a->din[0]->data;
    int64_t n = gr_shape_count(&a->in[0]->shape);
    float g = *(const float *)a->dout->data / (float)n;
    for (int64_t i = 0; i < n; i++) dx[i] += g;
}

static void mean_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(inf->in[0]);
    *fwd = 1 * n;
    *bwd = 1 * n;
}

/* ReduceMean without axes: over every element, to a scalar */
static int mean_lower(struct gr_lower *lw) {
    struct gr_onnx_attr keep = gr_onnx_int("keepdims", 0);
    return gr_lower_same(lw, "ReduceMean", 1, &keep);
}

const struct gr_op_desc gr_op_mean = {
    .name = "mean",
    .summary = "y = mean of all elements of x (a scalar)",
    .inputs_doc = "x",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = mean_infer,
    .forward = mean_forward,
    .backward = mean_backward,
    .flags = GR_OP_ROW_MEAN,
    .flops = mean_flops,
    .lower = mean_lower,
};
