/* relu: y = max(x, 0);  backward: dx += dy where x > 0 (the kink takes 0),
 * or dx = that when told to assign (GR_OP_ASSIGNS_GRAD) */
#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

static int relu_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    inf->out = *inf->in[0];
    return 0;
}

static void relu_forward_part(void *arg, int64_t b, int64_t e) {
    const struct gr_args *a = arg;
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    for (int64_t i = b; i < e; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_forward(const struct gr_args *a) {
    gr_for_range(a, gr_shape_count(&a->out->shape), relu_forward_part, (void *)a);
}

static void relu_backward_part(void *arg, int64_t b, int64_t e) {
    const struct gr_args *a = arg;
    const float *x = a->in[0]->data, *dy = a->dout->data;
    float *dx = a->din[0]->data;
    if (gr_din_assigns(a, 0))
        for (int64_t i = b; i < e; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
    else
        for (int64_t i = b; i < e; i++) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}

static void relu_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    gr_for_range(a, gr_shape_count(&a->out->shape), relu_backward_part, (void *)a);
}

static void relu_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = 1 * n;
    *bwd = 1 * n;
}

static int relu_lower(struct gr_lower *lw) { return gr_lower_same(lw, "Relu", 0, NULL); }

const struct gr_op_desc gr_op_relu = {
    .name = "relu",
    .summary = "y = max(x, 0)",
    .inputs_doc = "x",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = relu_infer,
    .forward = relu_forward,
    .backward = relu_backward,
    .flops = relu_flops,
    .flags = GR_OP_ASSIGNS_GRAD | GR_OP_RELU | GR_OP_ROWWISE,
    .lower = relu_lower,
};
