/* mse: the mean squared error of two same-shaped tensors, a scalar loss.
 *   y = 1/n * sum_i (a_i - b_i)^2       (PyTorch's MSELoss, reduction 'mean')
 * backward, both inputs differentiable:
 *   da_i += 2 (a_i - b_i) / n * dy,   db_i -= 2 (a_i - b_i) / n * dy */
#include "graphrun/plugin.h"

static int mse_infer(struct gr_infer *inf) {
    char sa[96], sb[96];
    if (inf->in_dtype[0] != GR_F32 || inf->in_dtype[1] != GR_F32)
        return gr_infer_fail(inf, -1, "both inputs must be float32");
    const struct gr_shape *a = inf->in[0], *b = inf->in[1];
    int same = a->rank == b->rank;
    for (int i = 0; same && i < a->rank; i++) same = a->dim[i] == b->dim[i];
    if (!same)
        return gr_infer_fail(inf, -1, "inputs must have the same shape, got %s and %s", gr_shape_format(a, sa, sizeof sa),
                             gr_shape_format(b, sb, sizeof sb));
    inf->out.rank = 0;
    return 0;
}

static void mse_forward(const struct gr_args *a) {
    const float *x = a->in[0]->data, *t = a->in[1]->data;
    int64_t n = gr_shape_count(&a->in[0]->shape);
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)t[i];
        s += d * d;
    }
    *(float *)a->out->data = (float)(s / (double)n);
}

static void mse_backward(const struct gr_args *a) {
    const float *x = a->in[0]->data, *t = a->in[1]->data;
    int64_t n = gr_shape_count(&a->in[0]->shape);
    float g = 2.0f * *(const float *)a->dout->data / (float)n;
    float *dx = a->din[0] ? a->din[0]->data : NULL, *dt = a->din[1] ? a->din[1]->data : NULL;
    for (int64_t i = 0; i < n; i++) {
        float d = g * (x[i] - t[i]);
        if (dx) dx[i] += d;
        if (dt) dt[i] -= d;
    }
}

static void mse_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(inf->in[0]);
    *fwd = 3 * n;
    *bwd = 4 * n;
}

const struct gr_op_desc gr_op_mse = {
    .name = "mse",
    .summary = "y = mean((a - b)^2) over all elements (a scalar loss; both inputs take gradients)",
    .inputs_doc = "a [...], b [...] (same shape)",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = mse_infer,
    .forward = mse_forward,
    .backward = mse_backward,
    .flags = GR_OP_ROW_MEAN,
    .flops = mse_flops,
};
