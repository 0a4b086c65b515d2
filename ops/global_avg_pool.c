/* global_avg_pool: the mean over every axis between the batch and the
 * channels, e.g. NHWC images to one vector each.
 *   x[B, H, W, C] (or any [B, ..., C], rank >= 3) -> y[B, C]
 *   y[b, c] = 1/S * sum_s x[b, s, c],  S = the product of the middle axes
 * backward: dx[b, s, c] += dy[b, c] / S */
#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

static int gap_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    char s[96];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank < 3)
        return gr_infer_fail(inf, -1, "input must be [batch, ..., channels] with at least one axis to average, got %s",
                             gr_shape_format(x, s, sizeof s));
    inf->out = (struct gr_shape){2, {x->dim[0], x->dim[x->rank - 1]}};
    return 0;
}

/* S and C of the input */
static void dims(const struct gr_shape *x, int64_t *S, int64_t *C) {
    *C = x->dim[x->rank - 1];
    *S = gr_shape_count(x) / x->dim[0] / *C;
}

static void forward_rows(void *arg, int64_t b0, int64_t b1) {
    const struct gr_args *a = arg;
    int64_t S, C;
    dims(&a->in[0]->shape, &S, &C);
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    float inv = 1.0f / (float)S;
    for (int64_t b = b0; b < b1; b++) {
        float *yb = y + b * C;
        for (int64_t c = 0; c < C; c++) yb[c] = 0.0f;
        for (int64_t s = 0; s < S; s++)
            for (int64_t c = 0; c < C; c++) yb[c] += x[(b * S + s) * C + c];
        for (int64_t c = 0; c < C; c++) yb[c] *= inv;
    }
}

static void backward_rows(void *arg, int64_t b0, int64_t b1) {
    const struct gr_args *a = arg;
    int64_t S, C;
    dims(&a->in[0]->shape, &S, &C);
    const float *dy = a->dout->data;
    float *dx = a->din[0]->data;
    float inv = 1.0f / (float)S;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t s = 0; s < S; s++)
            for (int64_t c = 0; c < C; c++) dx[(b * S + s) * C + c] += dy[b * C + c] * inv;
}

/* over the batch, on the pool when the input is large */
static void for_batch(const struct gr_args *a, void (*fn)(void *, int64_t, int64_t)) {
    int64_t B = a->in[0]->shape.dim[0];
    if (B > 1 && gr_shape_count(&a->in[0]->shape) >= GR_PARALLEL_MIN) a->host->parallel_for(a->host_ctx, B, fn, (void *)a);
    else fn((void *)a, 0, B);
}

static void gap_forward(const struct gr_args *a) { for_batch(a, forward_rows); }

static void gap_backward(const struct gr_args *a) {
    if (a->din[0]) for_batch(a, backward_rows);
}

static void gap_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(inf->in[0]);
    *fwd = n;
    *bwd = n;
}

/* ReduceMean over the axes between the batch and the channels (opset 17
 * takes them as an attribute) */
static int gap_lower(struct gr_lower *lw) {
    int64_t axes[GR_MAX_DIMS];
    int n = lw->in_shape[0].rank - 2;
    for (int i = 0; i < n; i++) axes[i] = i + 1;
    struct gr_onnx_attr at[2] = {gr_onnx_ints("axes", n, axes), gr_onnx_int("keepdims", 0)};
    return gr_lower_same(lw, "ReduceMean", 2, at);
}

const struct gr_op_desc gr_op_global_avg_pool = {
    .name = "global_avg_pool",
    .summary = "y[B, C] = mean of x[B, ..., C] over every axis between the batch and the channels",
    .inputs_doc = "x [B, H, W, C] (any rank >= 3)",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = gap_infer,
    .forward = gap_forward,
    .backward = gap_backward,
    .flops = gap_flops,
    .lower = gap_lower,
};
