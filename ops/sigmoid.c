/* sigmoid: y = 1 / (1 + exp(-x));  backward: dx += dy * y * (1 - y) */
#include "fastmath.h"

#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

static int sigmoid_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    inf->out = *inf->in[0];
    return 0;
}

static void sigmoid_forward_part(void *arg, int64_t b, int64_t e) {
    const struct gr_args *a = arg;
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    for (int64_t i = b; i < e; i++) y[i] = gr_sigmoid(x[i]);
}

static void sigmoid_forward(const struct gr_args *a) {
    gr_for_range(a, gr_shape_count(&a->out->shape), sigmoid_forward_part, (void *)a);
}

static void sigmoid_backward_part(void *arg, int64_t b, int64_t e) {
    const struct gr_args *a = arg;
    const float *y = a->out->data, *dy = a->dout->data;
    float *dx = a->din[0]->data;
    for (int64_t i = b; i < e; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}

static void sigmoid_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    gr_for_range(a, gr_shape_count(&a->out->shape), sigmoid_backward_part, (void *)a);
}

static void sigmoid_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = 1 * n;
    *bwd = 2 * n;
}

static int sigmoid_lower(struct gr_lower *lw) { return gr_lower_same(lw, "Sigmoid", 0, NULL); }

const struct gr_op_desc gr_op_sigmoid = {
    .name = "sigmoid",
    .summary = "y = 1 / (1 + exp(-x))",
    .inputs_doc = "x",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = sigmoid_infer,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
    .flags = GR_OP_ROWWISE,
    .flops = sigmoid_flops,
    .lower = sigmoid_lower,
};
