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
 * Fused (ops/recurrent.h): training projects every step's input at once,
 * then blocks of samples run the steps, one [n, H] @ [H, 3H] product each;
 * training keeps r, z, n and gh_n of every row. Evaluation keeps nothing:
 * each step projects its own input.
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

#include "fastmath.h"
#include "graphrun/plugin.h"
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

static int gru_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    char s[96];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank != 3)
        return gr_infer_fail(inf, -1, "input must be [batch, time, features], got %s", gr_shape_format(x, s, sizeof s));
    int64_t b = x->dim[0], t = x->dim[1], in = x->dim[2], h = inf->attrs[A_UNITS].i, g = 3 * h, rows, big, hg;
    if (gr_mul_i64(b, t, &rows) || gr_mul_i64(rows, 6 * h, &big) || gr_mul_i64(h, g, &hg) || big > ((int64_t)1 << 38))
        return gr_infer_fail(inf, A_UNITS, "num_units: %lld units over [%lld, %lld] steps need too much memory", (long long)h,
                             (long long)b, (long long)t);
    inf->out = (struct gr_shape){3, {b, t, h}};
    inf->param[P_KERNEL] = (struct gr_shape){2, {in, g}};
    inf->param[P_RECURRENT] = (struct gr_shape){2, {h, g}};
    inf->param[P_BIAS] = (struct gr_shape){1, {g}};
    inf->param[P_RECURRENT_BIAS] = (struct gr_shape){1, {g}};
    if (inf->training) {
        /* saved: r, z, n [B*T, 3H] and gh_n [B*T, H];
         * scratch: forward gh [B, 3H]; backward dGI, dGH [B*T, 3H], dh [B, H], recurrent_kernel^T [3H, H];
         * both end with 3H zeros, the state before the first step */
        inf->saved_bytes = (size_t)(rows * 4 * h) * sizeof(float);
        int64_t fwd = b * g, bwd = big + b * h + hg;
        /* then the gradients' leaves after the first (ops/recurrent.h) */
        inf->scratch_bytes = (size_t)((fwd > bwd ? fwd : bwd) + g + rec_rest_floats(b, (in > h ? in : h) * g)) * sizeof(float);
    } else {
        /* gi and gh of one step, gh_n, then 3H zeros */
        inf->scratch_bytes = (size_t)(2 * b * g + b * h + g) * sizeof(float);
    }
    return 0;
}

struct gru_job {
    const struct gr_args *a;
    int64_t B, T, I, H, G;
    int64_t rows; /* a block's (rec_block_rows) */
    int reverse;
    const float *x, *wx, *u, *bi, *bh;
    float *y;
    float *gates, *ghn;      /* training: [B*T, 3H] gi, then r, z, n; [B*T, H] gh_n */
    float *gi, *gh, *eghn;   /* scratch: [B, 3H] each and [B, H] (gi, eghn only when evaluating) */
    const float *zeros;      /* [3H]: gh and h before the first step */
    float *dgi, *dgh, *dh, *ut; /* backward */
};

static struct gru_job job_of(const struct gr_args *a) {
    const struct gr_shape *xs = &a->in[IN_X]->shape;
    struct gru_job j;
    memset(&j, 0, sizeof j);
    j.a = a;
    j.B = xs->dim[0];
    j.T = xs->dim[1];
    j.I = xs->dim[2];
    j.H = a->out->shape.dim[2];
    j.G = 3 * j.H;
    j.reverse = a->attrs[A_REVERSE].i != 0;
    j.x = a->in[IN_X]->data;
    j.wx = a->in[IN_KERNEL]->data;
    j.u = a->in[IN_RECURRENT]->data;
    j.bi = a->in[IN_BIAS]->data;
    j.bh = a->in[IN_RECURRENT_BIAS]->data;
    j.y = a->out->data;
    if (a->saved) {
        j.gates = a->saved;
        j.ghn = j.gates + j.B * j.T * j.G;
    }
    return j;
}

/* One row of one step: gi [3H] (x W, no bias), gh [3H] (h_prev U, no bias),
 * h_prev (zeros before the first step). Writes h; gi leaves holding r, z, n
 * and ghn gets gh_n + b_hn. Branch-free, so the loop vectorizes. */
static void cell_forward(const struct gru_job *j, float *restrict gi, const float *restrict gh,
                         const float *restrict hp, float *restrict h, float *restrict ghn) {
    int64_t H = j->H;
    const float *restrict bi = j->bi, *restrict bh = j->bh;
    for (int64_t k = 0; k < H; k++) {
        float r = gr_sigmoid(gi[k] + bi[k] + gh[k] + bh[k]);
        float z = gr_sigmoid(gi[H + k] + bi[H + k] + gh[H + k] + bh[H + k]);
        float hn = gh[2 * H + k] + bh[2 * H + k];
        float n = gr_tanh(gi[2 * H + k] + bi[2 * H + k] + r * hn);
        h[k] = n + z * (hp[k] - n);
        gi[k] = r;
        gi[H + k] = z;
        gi[2 * H + k] = n;
        ghn[k] = hn;
    }
}

/* Blocks [k0, k1): every step. Training reads gi from the saved gates
 * (projected for all steps by gru_forward); evaluation projects each step. */
static void forward_blocks(void *arg, int64_t k0, int64_t k1) {
    const struct gru_job *j = arg;
    const struct gr_args *a = j->a;
    int64_t T = j->T, H = j->H, G = j->G, I = j->I;
    int keep = j->gates != NULL;
    for (int64_t k = k0; k < k1; k++) {
        int64_t b0, b1;
        rec_block(j->B, j->rows, k, &b0, &b1);
        int64_t n = b1 - b0;
        float *gh = j->gh + b0 * G, *gi = j->gi ? j->gi + b0 * G : NULL;
        for (int64_t s = 0; s < T; s++) {
            int64_t t = rec_time(T, j->reverse, s), tp = s > 0 ? rec_time(T, j->reverse, s - 1) : -1;
            if (tp >= 0) /* gh[n, 3H] = h_prev @ U, h_prev rows T*H apart in y */
                a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, G, H, 1.0f, j->y + (b0 * T + tp) * H, T * H,
                               j->u, G, 0.0f, gh, G);
            if (!keep) /* gi[n, 3H] = x_t @ W, x rows T*I apart */
                a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, G, I, 1.0f, j->x + (b0 * T + t) * I, T * I,
                               j->wx, G, 0.0f, gi, G);
            for (int64_t b = b0; b < b1; b++) {
                int64_t r = b * T + t;
                float *gir = keep ? j->gates + r * G : gi + (b - b0) * G;
                cell_forward(j, gir, tp >= 0 ? gh + (b - b0) * G : j->zeros,
                             tp >= 0 ? j->y + (b * T + tp) * H : j->zeros, j->y + r * H,
                             keep ? j->ghn + r * H : j->eghn + b * H);
            }
        }
    }
}

static void gru_forward(const struct gr_args *a) {
    struct gru_job j = job_of(a);
    if (a->training) {
        j.gh = a->scratch;
        j.zeros = j.gh + j.B * j.G;
        /* GI[B*T, 3H] = X[B*T, I] @ kernel, every step at once */
        a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, j.B * j.T, j.G, j.I, 1.0f, j.x, j.I, j.wx, j.G, 0.0f,
                       j.gates, j.G);
    } else {
        j.gates = j.ghn = NULL;
        j.gi = a->scratch;
        j.gh = j.gi + j.B * j.G;
        j.eghn = j.gh + j.B * j.G;
        j.zeros = j.eghn + j.B * j.H;
    }
    memset((float *)j.zeros, 0, (size_t)j.G * sizeof(float));
    j.rows = rec_block_rows(a, j.B);
    a->host->parallel_for(a->host_ctx, rec_blocks(j.B, j.rows), forward_blocks, &j);
}

/* Blocks [k0, k1): dGI and dGH through time. */
static void backward_blocks(void *arg, int64_t k0, int64_t k1) {
    const struct gru_job *j = arg;
    const struct gr_args *a = j->a;
    const float *dy = a->dout->data;
    int64_t T = j->T, H = j->H, G = j->G;
    for (int64_t k = k0; k < k1; k++) {
        int64_t b0, b1;
        rec_block(j->B, j->rows, k, &b0, &b1);
        float *dh = j->dh + b0 * H;
        memset(dh, 0, (size_t)((b1 - b0) * H) * sizeof(float));
        for (int64_t s = T - 1; s >= 0; s--) {
            int64_t t = rec_time(T, j->reverse, s), tp = s > 0 ? rec_time(T, j->reverse, s - 1) : -1;
            for (int64_t b = b0; b < b1; b++) {
                int64_t r = b * T + t;
                const float *restrict g = j->gates + r * G, *restrict hn = j->ghn + r * H, *restrict d = dy + r * H;
                const float *restrict hp = tp >= 0 ? j->y + (b * T + tp) * H : j->zeros;
                float *restrict dhb = dh + (b - b0) * H, *restrict dgi = j->dgi + r * G, *restrict dgh = j->dgh + r * G;
                for (int64_t i = 0; i < H; i++) {
                    float rg = g[i], z = g[H + i], n = g[2 * H + i], prev = hp[i];
                    float dhi = dhb[i] + d[i];
                    float dn = dhi * (1.0f - z) * (1.0f - n * n);
                    float dz = dhi * (prev - n) * z * (1.0f - z);
                    float dr = dn * hn[i] * rg * (1.0f - rg);
                    dgi[i] = dgh[i] = dr;
                    dgi[H + i] = dgh[H + i] = dz;
                    dgi[2 * H + i] = dn;
                    dgh[2 * H + i] = dn * rg;
                    dhb[i] = dhi * z;
                }
            }
            if (tp >= 0) /* dh[n, H] += dGH_t @ U^T */
                a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, b1 - b0, H, G, 1.0f, j->dgh + (b0 * T + t) * G,
                               T * G, j->ut, H, 1.0f, dh, H);
        }
    }
}

static void gru_backward(const struct gr_args *a) {
    struct gru_job j = job_of(a);
    int64_t B = j.B, T = j.T, I = j.I, H = j.H, G = j.G, rows = B * T;
    j.dgi = a->scratch;
    j.dgh = j.dgi + rows * G;
    j.dh = j.dgh + rows * G;
    j.ut = j.dh + B * H;
    j.zeros = j.ut + G * H;
    memset((float *)j.zeros, 0, (size_t)G * sizeof(float));
    gr_transpose(j.u, H, G, j.ut);
    j.rows = rec_block_rows(a, B);
    a->host->parallel_for(a->host_ctx, rec_blocks(B, j.rows), backward_blocks, &j);
    float *rest = (float *)j.zeros + G;
    if (a->din[IN_KERNEL]) /* dkernel[I, 3H] += X^T dGI */
        rec_product_grad(a, B, T, I, G, j.x, 0, j.dgi, 0, 0, a->din[IN_KERNEL]->data, rest);
    if (a->din[IN_X]) /* dX[B*T, I] += dGI kernel^T */
        a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, rows, I, G, 1.0f, j.dgi, G, j.wx, G, 1.0f,
                       a->din[IN_X]->data, I);
    if (a->din[IN_BIAS]) rec_bias_grad(a, B, T, G, j.dgi, a->din[IN_BIAS]->data, rest);
    if (a->din[IN_RECURRENT_BIAS]) rec_bias_grad(a, B, T, G, j.dgh, a->din[IN_RECURRENT_BIAS]->data, rest);
    if (a->din[IN_RECURRENT])
        rec_recurrent_grad(a, j.y, j.dgh, B, T, H, G, j.reverse, a->din[IN_RECURRENT]->data, rest);
}

/* The products dominate; the gates add about 20 operations per unit and
 * step forward and 25 backward. */
static void gru_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    const struct gr_shape *x = inf->in[0];
    double b = (double)x->dim[0], t = (double)x->dim[1], in = (double)x->dim[2], h = (double)inf->attrs[A_UNITS].i;
    double g = 3 * h;
    *fwd = 2 * b * t * in * g + 2 * b * (t - 1) * h * g + 20 * b * t * h;
    /* dh, dkernel, dX, drecurrent */
    *bwd = 2 * b * (t - 1) * g * h + 4 * b * t * in * g + 2 * b * (t - 1) * h * g + 25 * b * t * h;
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
