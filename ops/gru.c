/* gru: a whole sequence through a GRU layer, returning every step's hidden
 * state, in the convention PyTorch's nn.GRU and Keras's GRU (reset_after,
 * its default) share.  x[B, T, I] -> h[B, T, H], with h_{-1} = 0:
 *
 *   gi = x_t @ kernel + bias                     [3H], blocks r, z, n
 *   gh = h_{t-1} @ recurrent_kernel + recurrent_bias
 *   r  = sigmoid(gi_r + gh_r)                     reset gate
 *   z  = sigmoid(gi_z + gh_z)                     update gate
 *   n  = tanh(gi_n + r * gh_n)                    candidate: r applied after the product
 *   h_t = (1 - z) * n + z * h_{t-1}
 *
 * Parameters, in PyTorch's gate order r, z, n:
 *   kernel [I, 3H]            = weight_ih_l0.T  (torch's [3H, I], rows r, z, n)
 *   recurrent_kernel [H, 3H]  = weight_hh_l0.T
 *   bias [3H]                 = bias_ih_l0      (b_ir, b_iz, b_in)
 *   recurrent_bias [3H]       = bias_hh_l0      (b_hr, b_hz, b_hn)
 * so a torch.nn.GRU's weights copy over exactly. Keras orders its blocks
 * z, r, n: kernel = concat(K[:, H:2H], K[:, :H], K[:, 2H:]) for its kernel
 * and recurrent kernel alike, and its bias [2, 3H] gives bias = row 0 and
 * recurrent_bias = row 1, each reordered the same way. Kernels start
 * Glorot-uniform (Keras draws the recurrent one orthogonal), biases zeros.
 *
 * `reverse: true` reads the sequence from its last step to its first
 * (h_{t+1} feeds step t, h_T = 0) and still writes h_t at position t, so h_t
 * has seen steps t..T-1: the backward half of PyTorch's bidirectional GRU
 * (Keras's go_backwards with return_sequences, reversed back).
 *
 * Blocks of samples (ops/recurrent.h) run all their steps on the pool; the
 * steps are ops/gru_cell.c's forward and ops/gru_back.c's backward: with
 * AVX-512 fused (per step, per 16 units and per tile of rows, x_t @ Wx and
 * h_{t-1} @ U summed in registers, then the gates; backward dGI, dGH of the
 * step's rows, then dh in registers), elsewhere step by step (training
 * projects every step's input at once, then one [n, H] @ [H, 3H] product a
 * step; evaluation projects each step), with the same bits. Training keeps
 * r, z, n and gh_n of every row; evaluation keeps nothing.
 *
 * Backward through time, dh = 0 before the last processed step:
 *   dh  += dy_t
 *   dn_ = dh * (1 - z) * (1 - n^2)              (pre-activation of n)
 *   dz_ = dh * (h_{t-1} - n) * z (1 - z)
 *   dr_ = dn_ * gh_n * r (1 - r)
 *   dGI = [dr_, dz_, dn_],  dGH = [dr_, dz_, dn_ * r]
 *   dh  = dh * z + dGH @ recurrent_kernel^T
 * then over all steps at once: dkernel += X^T dGI, dbias += sum dGI,
 * dx += dGI kernel^T, drecurrent += H_prev^T dGH, drecurrent_bias += sum dGH. */
#include <string.h>

#include "graphrun/plugin.h"
#include "gru_cell.h"
#include "lower.h"
#include "recurrent.h"
#include "util.h"

enum { A_UNITS, A_REVERSE };
static const struct gr_attr_spec gru_attrs[] = {
    [A_UNITS] = {"num_units", GR_ATTR_INT, "hidden units H", .min = 1, .max = 1 << 20},
    [A_REVERSE] = {"reverse", GR_ATTR_BOOL, "run from the last step to the first (h_t still at position t)",
                   .def = "false"},
};
enum { P_KERNEL, P_RECURRENT, P_BIAS, P_RECURRENT_BIAS };
static const struct gr_param_spec gru_params[] = {
    [P_KERNEL] = {"kernel", GR_INIT_GLOROT_UNIFORM, "[I, 3H], blocks r, z, n (torch: weight_ih_l0.T)"},
    [P_RECURRENT] = {"recurrent_kernel", GR_INIT_GLOROT_UNIFORM, "[H, 3H], blocks r, z, n (torch: weight_hh_l0.T)"},
    [P_BIAS] = {"bias", GR_INIT_ZEROS, "[3H] input bias (torch: bias_ih_l0)"},
    [P_RECURRENT_BIAS] = {"recurrent_bias", GR_INIT_ZEROS, "[3H] recurrent bias (torch: bias_hh_l0)"},
};
enum { IN_X, IN_KERNEL, IN_RECURRENT, IN_BIAS, IN_RECURRENT_BIAS };

/* Training's saved floats: r, z, n [B*T, 3H] and gh_n [B*T, H], then, on a
 * 64-byte line, what derives from the weights alone and so holds while they
 * stay (gr_args.params_kept): forward's packed Wx and U and backward's packed
 * U^T where the fused steps take them (gru_cell.h). */
static int64_t state_floats(int64_t rows, int64_t h) { return (rows * 4 * h + 15) / 16 * 16; }
static int64_t kept_floats(int64_t in, int64_t h) {
    return (gru_cell_fits(in, h) ? gru_cell_pack_floats(in, h) : 0) + (gru_back_fits(h) ? gru_back_pack_floats(h) : 0);
}

/* Evaluation's scratch: step by step gi and gh [B, 3H], gh_n [B, H]; fused
 * the packed Wx and U there instead; then 3H zeros. */
static int64_t eval_floats(int64_t b, int64_t in, int64_t h) {
    int64_t steps = 2 * b * 3 * h + b * h, packed = gru_cell_fits(in, h) ? gru_cell_pack_floats(in, h) : 0;
    return (steps > packed ? steps : packed) + 3 * h;
}

static int gru_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    char s[96];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank != 3)
        return gr_infer_fail(inf, -1, "input must be [batch, time, features], got %s", gr_shape_format(x, s, sizeof s));
    int64_t b = x->dim[0], t = x->dim[1], in = x->dim[2], h = inf->attrs[A_UNITS].i, g = 3 * h, rows, big, hg;
    if (gr_mul_i64(b, t, &rows) || gr_mul_i64(rows, 6 * h, &big) || gr_mul_i64(h, g, &hg) || big > ((int64_t)1 << 38))
        return gr_infer_fail(inf, A_UNITS, "num_units: %lld units over [%lld, %lld] steps need too much memory",
                             (long long)h, (long long)b, (long long)t);
    inf->out = (struct gr_shape){3, {b, t, h}};
    inf->param[P_KERNEL] = (struct gr_shape){2, {in, g}};
    inf->param[P_RECURRENT] = (struct gr_shape){2, {h, g}};
    inf->param[P_BIAS] = (struct gr_shape){1, {g}};
    inf->param[P_RECURRENT_BIAS] = (struct gr_shape){1, {g}};
    if (inf->training) {
        /* scratch: forward gh [B, 3H] (step by step); backward dGI, dGH [B*T, 3H], dh [B, H],
         * recurrent_kernel^T [3H, H] (step by step); both end with 3H zeros, the state before
         * the first step */
        inf->saved_bytes = (size_t)(state_floats(rows, h) + kept_floats(in, h)) * sizeof(float);
        int64_t fwd = b * g, bwd = big + b * h + hg;
        /* then the gradients' leaves after the first (ops/recurrent.h) */
        inf->scratch_bytes =
            (size_t)((fwd > bwd ? fwd : bwd) + g + rec_rest_floats(b, (in > h ? in : h) * g)) * sizeof(float);
    } else {
        inf->scratch_bytes = (size_t)eval_floats(b, in, h) * sizeof(float);
    }
    return 0;
}

struct gru_job {
    const struct gr_args *a;
    int64_t B, T, I, H, G;
    int64_t rows; /* a block's (rec_block_rows) */
    const struct gru_cell *cell;
    const struct gru_back *back;
};

static void forward_blocks(void *arg, int64_t k0, int64_t k1) {
    const struct gru_job *j = arg;
    for (int64_t k = k0; k < k1; k++) {
        int64_t b0, b1;
        rec_block(j->B, j->rows, k, &b0, &b1);
        gru_cell_rows(j->cell, b0, b1);
    }
}

static void gru_forward(const struct gr_args *a) {
    const struct gr_shape *xs = &a->in[IN_X]->shape;
    int64_t B = xs->dim[0], T = xs->dim[1], I = xs->dim[2], H = a->out->shape.dim[2], G = 3 * H;
    struct gru_cell e = {.T = T,
                         .I = I,
                         .H = H,
                         .reverse = a->attrs[A_REVERSE].i != 0,
                         .x = a->in[IN_X]->data,
                         .wx = a->in[IN_KERNEL]->data,
                         .u = a->in[IN_RECURRENT]->data,
                         .bi = a->in[IN_BIAS]->data,
                         .bh = a->in[IN_RECURRENT_BIAS]->data,
                         .y = a->out->data,
                         .host = a->host,
                         .host_ctx = a->host_ctx};
    float *zeros;
    if (a->training) {
        e.gates = a->saved;
        e.ghn = e.gates + B * T * G;
        e.gh = a->scratch;
        zeros = e.gh + B * G;
        if (gru_cell_fits(I, H)) {
            e.wp = (float *)a->saved + state_floats(B * T, H);
            if (a->params_kept) {
                gru_cell_check_zeros(&e);
            } else {
                gru_cell_pack(&e);
            }
        } else { /* GI[B*T, 3H] = X[B*T, I] @ kernel, every step at once */
            a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, B * T, G, I, 1.0f, e.x, I, e.wx, G, 0.0f, e.gates, G);
        }
    } else if (gru_cell_fits(I, H)) {
        e.wp = a->scratch;
        gru_cell_pack(&e);
        zeros = (float *)a->scratch + eval_floats(B, I, H) - G;
    } else {
        e.gi = a->scratch;
        e.gh = e.gi + B * G;
        e.eghn = e.gh + B * G;
        zeros = (float *)a->scratch + eval_floats(B, I, H) - G;
    }
    memset(zeros, 0, (size_t)G * sizeof(float));
    e.zeros = zeros;
    struct gru_job j = {.a = a, .B = B, .T = T, .I = I, .H = H, .G = G, .rows = rec_block_rows(a, B), .cell = &e};
    a->host->parallel_for(a->host_ctx, rec_blocks(B, j.rows), forward_blocks, &j);
}

static void backward_blocks(void *arg, int64_t k0, int64_t k1) {
    const struct gru_job *j = arg;
    for (int64_t k = k0; k < k1; k++) {
        int64_t b0, b1;
        rec_block(j->B, j->rows, k, &b0, &b1);
        gru_back_rows(j->back, b0, b1);
    }
}

static void gru_backward(const struct gr_args *a) {
    const struct gr_shape *xs = &a->in[IN_X]->shape;
    int64_t B = xs->dim[0], T = xs->dim[1], I = xs->dim[2], H = a->out->shape.dim[2], G = 3 * H, rows = B * T;
    const float *x = a->in[IN_X]->data, *wx = a->in[IN_KERNEL]->data, *u = a->in[IN_RECURRENT]->data;
    float *y = a->out->data, *dgi = a->scratch, *dgh = dgi + rows * G, *dh = dgh + rows * G, *ut = dh + B * H;
    float *zeros = ut + G * H;
    int reverse = a->attrs[A_REVERSE].i != 0;
    memset(zeros, 0, (size_t)G * sizeof(float));
    struct gru_back e = {.T = T,
                         .H = H,
                         .reverse = reverse,
                         .gates = a->saved,
                         .ghn = (float *)a->saved + rows * G,
                         .y = y,
                         .dy = a->dout->data,
                         .zeros = zeros,
                         .dgi = dgi,
                         .dgh = dgh,
                         .dh = dh,
                         .ut = ut,
                         .host = a->host,
                         .host_ctx = a->host_ctx};
    if (gru_back_fits(H)) {
        e.utp = (float *)a->saved + state_floats(rows, H) + (gru_cell_fits(I, H) ? gru_cell_pack_floats(I, H) : 0);
        if (!a->params_kept) gru_back_pack(&e, u);
    } else {
        gr_transpose(u, H, G, ut);
    }
    struct gru_job j = {.a = a, .B = B, .T = T, .I = I, .H = H, .G = G, .rows = rec_block_rows(a, B), .back = &e};
    a->host->parallel_for(a->host_ctx, rec_blocks(B, j.rows), backward_blocks, &j);
    float *rest = zeros + G;
    if (a->din[IN_KERNEL]) /* dkernel[I, 3H] += X^T dGI */
        rec_product_grad(a, B, T, I, G, x, 0, dgi, 0, 0, a->din[IN_KERNEL]->data, rest);
    if (a->din[IN_X]) /* dX[B*T, I] += dGI kernel^T */
        a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, rows, I, G, 1.0f, dgi, G, wx, G, 1.0f, a->din[IN_X]->data,
                       I);
    if (a->din[IN_BIAS]) rec_bias_grad(a, B, T, G, dgi, a->din[IN_BIAS]->data, rest);
    if (a->din[IN_RECURRENT_BIAS]) rec_bias_grad(a, B, T, G, dgh, a->din[IN_RECURRENT_BIAS]->data, rest);
    if (a->din[IN_RECURRENT]) rec_recurrent_grad(a, y, dgh, B, T, H, G, reverse, a->din[IN_RECURRENT]->data, rest);
}

/* The products dominate; the gates add about 20 operations per unit and
 * step forward and 25 backward. */
static void gru_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    const struct gr_shape *x = inf->in[0];
    double b = (double)x->dim[0], t = (double)x->dim[1], in = (double)x->dim[2], h = (double)inf->attrs[A_UNITS].i;
    double g = 3 * h;
    double dk = inf->in_grad[IN_KERNEL], dx = inf->in_grad[IN_X], dr = inf->in_grad[IN_RECURRENT];
    *fwd = 2 * b * t * in * g + 2 * b * (t - 1) * h * g + 20 * b * t * h;
    /* dh; dkernel, dX and drecurrent where those take a gradient */
    *bwd = 2 * b * (t - 1) * g * h + (dk + dx) * 2 * b * t * in * g + dr * 2 * b * (t - 1) * h * g + 25 * b * t * h;
}

/* ONNX's GRU with linear_before_reset = 1 (the reset gate applied to the
 * recurrent product plus its bias: PyTorch's GRU, graphrun's); gates z, r,
 * h, graphrun's blocks 1, 0, 2. W [1, 3H, I], R [1, 3H, H], B [1, 6H] =
 * the input bias then the recurrent bias, each reordered. */
static int gru_lower(struct gr_lower *lw) {
    static const int order[3] = {1, 0, 2};
    const float *k = gr_lower_value(lw, IN_KERNEL), *rk = gr_lower_value(lw, IN_RECURRENT);
    const float *bi = gr_lower_value(lw, IN_BIAS), *bh = gr_lower_value(lw, IN_RECURRENT_BIAS);
    int64_t in = lw->in_shape[IN_X].dim[2], h = lw->attrs[A_UNITS].i;
    int64_t wd[3] = {1, 3 * h, in}, rd[3] = {1, 3 * h, h}, bd[2] = {1, 6 * h};
    const char *wn = NULL, *rn = NULL, *bn = NULL;
    float *w = k && rk && bi && bh ? lw->onnx->initializer(lw, "W", GR_ONNX_FLOAT, 3, wd, &wn) : NULL;
    float *r = w ? lw->onnx->initializer(lw, "R", GR_ONNX_FLOAT, 3, rd, &rn) : NULL;
    float *b = r ? lw->onnx->initializer(lw, "B", GR_ONNX_FLOAT, 2, bd, &bn) : NULL;
    if (!b) return -1;
    gr_lower_gates_t(w, k, in, h, 3, order);
    gr_lower_gates_t(r, rk, h, h, 3, order);
    for (int q = 0; q < 3; q++)
        for (int64_t j = 0; j < h; j++) {
            b[q * h + j] = bi[order[q] * h + j];
            b[3 * h + q * h + j] = bh[order[q] * h + j];
        }
    struct gr_onnx_attr lbr = gr_onnx_int("linear_before_reset", 1);
    return gr_lower_recurrent(lw, "GRU", wn, rn, bn, h, lw->attrs[A_REVERSE].i != 0, 1, &lbr);
}

const struct gr_op_desc gr_op_gru = {
    .name = "gru",
    .summary = "h[B, T, H] = GRU over x[B, T, I] as torch.nn.GRU (gates r, z, n; reset after the product; all steps)",
    .inputs_doc = "x [B, T, I]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = gru_attrs,
    .n_attrs = 2,
    .params = gru_params,
    .n_params = 4,
    .infer = gru_infer,
    .forward = gru_forward,
    .backward = gru_backward,
    .flags = GR_OP_ROWWISE,
    .flops = gru_flops,
    .lower = gru_lower,
};
