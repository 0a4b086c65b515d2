/* rnn: a whole sequence through an Elman (tanh) layer, returning every
 * step's hidden state.  x[B, T, I] -> h[B, T, H], with h_{-1} = 0:
 *
 *   h_t = tanh(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)
 *
 * Parameters as Keras's SimpleRNN names them: kernel [I, H] and
 * recurrent_kernel [H, H], both Glorot-uniform (Keras draws the recurrent
 * one orthogonal), bias [H] zeros. From torch.nn.RNN (tanh): kernel =
 * weight_ih_l0.T, recurrent_kernel = weight_hh_l0.T, bias = bias_ih_l0 +
 * bias_hh_l0 (PyTorch's two biases only ever appear summed).
 *
 * `reverse: true` reads the sequence from its last step to its first
 * (h_{t+1} feeds step t, h_T = 0) and still writes h_t at position t, so h_t
 * has seen steps t..T-1: the backward half of PyTorch's bidirectional RNN
 * (Keras's go_backwards with return_sequences, reversed back).
 *
 * Fused: the input projection of all steps is one product written straight
 * into y; then blocks of samples (ops/recurrent.h) add h_prev @ Wh and take
 * tanh in place, step by step. Nothing is saved: backward reads y, which
 * still holds every h_t.
 *
 * Backward through time, dh = 0 before the last processed step:
 *   dh  += dy_t;   dz_t = dh * (1 - h_t^2);   dh = dz_t @ recurrent_kernel^T
 * then over all steps at once: dkernel += X^T dZ, dbias += sum dZ,
 * dx += dZ kernel^T, drecurrent += H_prev^T dZ. */
#include <string.h>

#include "fastmath.h"
#include "graphrun/plugin.h"
#include "lower.h"
#include "recurrent.h"
#include "util.h"

enum { A_UNITS, A_REVERSE };
static const struct gr_attr_spec rnn_attrs[] = {
    [A_UNITS] = {"num_units", GR_ATTR_INT, "hidden units H", .min = 1, .max = 1 << 20},
    [A_REVERSE] = {"reverse", GR_ATTR_BOOL, "run from the last step to the first (h_t still at position t)",
                   .def = "false"},
};
enum { P_KERNEL, P_RECURRENT, P_BIAS };
static const struct gr_param_spec rnn_params[] = {
    [P_KERNEL] = {"kernel", GR_INIT_GLOROT_UNIFORM, "[I, H]: input weights (torch: weight_ih_l0.T)"},
    [P_RECURRENT] = {"recurrent_kernel", GR_INIT_GLOROT_UNIFORM, "[H, H]: recurrent weights (torch: weight_hh_l0.T)"},
    [P_BIAS] = {"bias", GR_INIT_ZEROS, "[H] (torch: bias_ih_l0 + bias_hh_l0)"},
};
enum { IN_X, IN_KERNEL, IN_RECURRENT, IN_BIAS };

static int rnn_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    char s[96];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank != 3)
        return gr_infer_fail(inf, -1, "input must be [batch, time, features], got %s", gr_shape_format(x, s, sizeof s));
    int64_t b = x->dim[0], t = x->dim[1], in = x->dim[2], h = inf->attrs[A_UNITS].i, hh, rows, dz;
    if (gr_mul_i64(h, h, &hh) || gr_mul_i64(b, t, &rows) || gr_mul_i64(rows, h, &dz) || dz > ((int64_t)1 << 38))
        return gr_infer_fail(inf, A_UNITS, "num_units: %lld units over [%lld, %lld] steps need too much memory", (long long)h,
                             (long long)b, (long long)t);
    inf->out = (struct gr_shape){3, {b, t, h}};
    inf->param[P_KERNEL] = (struct gr_shape){2, {in, h}};
    inf->param[P_RECURRENT] = (struct gr_shape){2, {h, h}};
    inf->param[P_BIAS] = (struct gr_shape){1, {h}};
    /* backward: dZ [B*T, H], dh [B, H], recurrent_kernel^T [H, H], then the
     * gradients' leaves after the first (ops/recurrent.h) */
    if (inf->training)
        inf->scratch_bytes = (size_t)(dz + b * h + hh + rec_rest_floats(b, (in > h ? in : h) * h)) * sizeof(float);
    return 0;
}

struct rnn_job {
    const struct gr_args *a;
    int64_t B, T, I, H;
    int64_t rows; /* a block's (rec_block_rows) */
    int reverse;
    const float *wh;
    float *y;
    float *dz, *dh, *wht; /* backward */
};

static struct rnn_job job_of(const struct gr_args *a) {
    const struct gr_shape *xs = &a->in[IN_X]->shape;
    struct rnn_job j;
    memset(&j, 0, sizeof j);
    j.a = a;
    j.B = xs->dim[0];
    j.T = xs->dim[1];
    j.I = xs->dim[2];
    j.H = a->out->shape.dim[2];
    j.reverse = a->attrs[A_REVERSE].i != 0;
    j.wh = a->in[IN_RECURRENT]->data;
    j.y = a->out->data;
    return j;
}

/* Blocks [k0, k1): every step of the recurrence on y, which holds x W + b. */
static void forward_blocks(void *arg, int64_t k0, int64_t k1) {
    const struct rnn_job *j = arg;
    const struct gr_args *a = j->a;
    int64_t T = j->T, H = j->H;
    for (int64_t k = k0; k < k1; k++) {
        int64_t b0, b1;
        rec_block(j->B, j->rows, k, &b0, &b1);
        for (int64_t s = 0; s < T; s++) {
            int64_t t = rec_time(T, j->reverse, s);
            float *yt = j->y + (b0 * T + t) * H; /* the block's rows of step t, T*H apart */
            if (s > 0)
                a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, b1 - b0, H, H, 1.0f,
                               j->y + (b0 * T + rec_time(T, j->reverse, s - 1)) * H, T * H, j->wh, H, 1.0f, yt, T * H);
            for (int64_t b = 0; b < b1 - b0; b++) {
                float *h = yt + b * T * H;
                for (int64_t i = 0; i < H; i++) h[i] = gr_tanh(h[i]);
            }
        }
    }
}

static void rnn_forward(const struct gr_args *a) {
    struct rnn_job j = job_of(a);
    const float *bias = a->in[IN_BIAS]->data;
    int64_t rows = j.B * j.T;
    for (int64_t r = 0; r < rows; r++) memcpy(j.y + r * j.H, bias, (size_t)j.H * sizeof(float));
    /* Y[B*T, H] = X[B*T, I] @ kernel + bias, every step at once */
    a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, rows, j.H, j.I, 1.0f, a->in[IN_X]->data, j.I,
                   a->in[IN_KERNEL]->data, j.H, 1.0f, j.y, j.H);
    j.rows = rec_block_rows(a, j.B);
    a->host->parallel_for(a->host_ctx, rec_blocks(j.B, j.rows), forward_blocks, &j);
}

/* Blocks [k0, k1): dZ through time. */
static void backward_blocks(void *arg, int64_t k0, int64_t k1) {
    const struct rnn_job *j = arg;
    const struct gr_args *a = j->a;
    const float *dy = a->dout->data;
    int64_t T = j->T, H = j->H;
    for (int64_t k = k0; k < k1; k++) {
        int64_t b0, b1;
        rec_block(j->B, j->rows, k, &b0, &b1);
        float *dh = j->dh + b0 * H;
        memset(dh, 0, (size_t)((b1 - b0) * H) * sizeof(float));
        for (int64_t s = T - 1; s >= 0; s--) {
            int64_t t = rec_time(T, j->reverse, s);
            for (int64_t b = b0; b < b1; b++) {
                int64_t r = b * T + t;
                const float *h = j->y + r * H, *d = dy + r * H;
                float *dhb = dh + (b - b0) * H, *dz = j->dz + r * H;
                for (int64_t i = 0; i < H; i++) dz[i] = (dhb[i] + d[i]) * (1.0f - h[i] * h[i]);
            }
            if (s > 0) /* dh[n, H] = dz_t @ recurrent_kernel^T */
                a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, b1 - b0, H, H, 1.0f, j->dz + (b0 * T + t) * H,
                               T * H, j->wht, H, 0.0f, dh, H);
        }
    }
}

static void rnn_backward(const struct gr_args *a) {
    struct rnn_job j = job_of(a);
    int64_t B = j.B, T = j.T, I = j.I, H = j.H, rows = B * T;
    j.dz = a->scratch;
    j.dh = j.dz + rows * H;
    j.wht = j.dh + B * H;
    gr_transpose(j.wh, H, H, j.wht);
    j.rows = rec_block_rows(a, B);
    a->host->parallel_for(a->host_ctx, rec_blocks(B, j.rows), backward_blocks, &j);
    const float *x = a->in[IN_X]->data, *w = a->in[IN_KERNEL]->data;
    float *rest = j.wht + H * H;
    if (a->din[IN_KERNEL]) /* dkernel[I, H] += X^T dZ */
        rec_product_grad(a, B, T, I, H, x, 0, j.dz, 0, 0, a->din[IN_KERNEL]->data, rest);
    if (a->din[IN_X]) /* dX[B*T, I] += dZ kernel^T */
        a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, rows, I, H, 1.0f, j.dz, H, w, H, 1.0f, a->din[IN_X]->data, I);
    if (a->din[IN_BIAS]) rec_bias_grad(a, B, T, H, j.dz, a->din[IN_BIAS]->data, rest);
    if (a->din[IN_RECURRENT])
        rec_recurrent_grad(a, j.y, j.dz, B, T, H, H, j.reverse, a->din[IN_RECURRENT]->data, rest);
}

static void rnn_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    const struct gr_shape *x = inf->in[0];
    double b = (double)x->dim[0], t = (double)x->dim[1], in = (double)x->dim[2], h = (double)inf->attrs[A_UNITS].i;
    double dk = inf->in_grad[IN_KERNEL], dx = inf->in_grad[IN_X], dr = inf->in_grad[IN_RECURRENT];
    *fwd = 2 * b * t * in * h + 2 * b * (t - 1) * h * h + 4 * b * t * h;
    /* dh and the tanh derivative; dkernel, dX and drecurrent where those take a gradient */
    *bwd = 2 * b * (t - 1) * h * h + (dk + dx) * 2 * b * t * in * h + dr * 2 * b * (t - 1) * h * h + 4 * b * t * h;
}

/* ONNX's RNN (tanh): W [1, H, I] = kernel^T, R [1, H, H] =
 * recurrent_kernel^T, B [1, 2H] = bias then zeros. */
static int rnn_lower(struct gr_lower *lw) {
    static const int order[1] = {0};
    const float *k = gr_lower_value(lw, IN_KERNEL), *rk = gr_lower_value(lw, IN_RECURRENT);
    const float *bias = gr_lower_value(lw, IN_BIAS);
    int64_t in = lw->in_shape[IN_X].dim[2], h = lw->attrs[A_UNITS].i;
    int64_t wd[3] = {1, h, in}, rd[3] = {1, h, h}, bd[2] = {1, 2 * h};
    const char *wn = NULL, *rn = NULL, *bn = NULL;
    float *w = k && rk && bias ? lw->onnx->initializer(lw, "W", GR_ONNX_FLOAT, 3, wd, &wn) : NULL;
    float *r = w ? lw->onnx->initializer(lw, "R", GR_ONNX_FLOAT, 3, rd, &rn) : NULL;
    float *b = r ? lw->onnx->initializer(lw, "B", GR_ONNX_FLOAT, 2, bd, &bn) : NULL;
    if (!b) return -1;
    gr_lower_gates_t(w, k, in, h, 1, order);
    gr_lower_gates_t(r, rk, h, h, 1, order);
    for (int64_t j = 0; j < h; j++) b[j] = bias[j];
    return gr_lower_recurrent(lw, "RNN", wn, rn, bn, h, lw->attrs[A_REVERSE].i != 0, 0, NULL);
}

const struct gr_op_desc gr_op_rnn = {
    .name = "rnn",
    .summary = "h[B, T, H] = tanh(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias) over x[B, T, I] (all steps)",
    .inputs_doc = "x [B, T, I]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = rnn_attrs,
    .n_attrs = 2,
    .params = rnn_params,
    .n_params = 3,
    .infer = rnn_infer,
    .forward = rnn_forward,
    .backward = rnn_backward,
    .flags = GR_OP_ROWWISE,
    .flops = rnn_flops,
    .lower = rnn_lower,
};
