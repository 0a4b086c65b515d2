/* log_softmax over the last axis, computed stably:
 *   y_j = x_j - m - log(sum_k exp(x_k - m)),  m = max_k x_k
 * backward: dx_j += dy_j - exp(y_j) * sum_k dy_k */
#include <math.h>

#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

static int log_softmax_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (inf->in[0]->rank < 1) return gr_infer_fail(inf, -1, "input needs at least one axis");
    inf->out = *inf->in[0];
    return 0;
}

static int64_t row_len(const struct gr_args *a) { return a->out->shape.dim[a->out->shape.rank - 1]; }

static void forward_rows(void *arg, int64_t r0, int64_t r1) {
    const struct gr_args *a = arg;
    int64_t c = row_len(a);
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * c;
        float m = xr[0];
        for (int64_t j = 1; j < c; j++) m = xr[j] > m ? xr[j] : m;
        double sum = 0;
        for (int64_t j = 0; j < c; j++) sum += exp((double)(xr[j] - m));
        float lse = m + (float)log(sum);
        for (int64_t j = 0; j < c; j++) y[r * c + j] = xr[j] - lse;
    }
}

static void backward_rows(void *arg, int64_t r0, int64_t r1) {
    const struct gr_args *a = arg;
    int64_t c = row_len(a);
    const float *y = a->out->data, *dy = a->dout->data;
    float *dx = a->din[0]->data;
    for (int64_t r = r0; r < r1; r++) {
        double sum = 0;
        for (int64_t j = 0; j < c; j++) sum += dy[r * c + j];
        for (int64_t j = 0; j < c; j++) dx[r * c + j] += dy[r * c + j] - expf(y[r * c + j]) * (float)sum;
    }
}

/* rows on the pool when the tensor is large */
static void for_rows(const struct gr_args *a, void (*fn)(void *, int64_t, int64_t)) {
    int64_t n = gr_shape_count(&a->out->shape), rows = n / row_len(a);
    if (rows > 1 && n >= GR_PARALLEL_MIN) a->host->parallel_for(a->host_ctx, rows, fn, (void *)a);
    else fn((void *)a, 0, rows);
}

static void log_softmax_forward(const struct gr_args *a) { for_rows(a, forward_rows); }

static void log_softmax_backward(const struct gr_args *a) {
    if (a->din[0]) for_rows(a, backward_rows);
}

static void log_softmax_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = 4 * n;
    *bwd = 4 * n;
}

static int log_softmax_lower(struct gr_lower *lw) {
    struct gr_onnx_attr axis = gr_onnx_int("axis", -1);
    return gr_lower_same(lw, "LogSoftmax", 1, &axis);
}

const struct gr_op_desc gr_op_log_softmax = {
    .name = "log_softmax",
    .summary = "y = x - max(x) - log(sum(exp(x - max(x)))) over the last axis",
    .inputs_doc = "x [..., C]",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = log_softmax_infer,
    .forward = log_softmax_forward,
    .backward = log_softmax_backward,
    .flops = log_softmax_flops,
    .lower = log_softmax_lower,
};
