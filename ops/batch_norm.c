/* batch_norm: each channel (the last axis) normalised over every other axis
 * of the batch, then scaled and shifted.
 *
 *   x[..., C] -> y[..., C]; N = the rows (all values of one channel: B for
 *   [B, C], B*H*W for NHWC images); per channel c:
 *   training:   mu = mean(x),  var = mean((x - mu)^2) (biased, as it
 *               normalises), rstd = 1 / sqrt(var + epsilon)
 *               running_mean = momentum * running_mean + (1 - momentum) * mu
 *               running_var  = momentum * running_var + (1 - momentum) * var * N / (N - 1)
 *   evaluation: mu = running_mean, rstd = 1 / sqrt(running_var + epsilon)
 *   y = (x - mu) * rstd * gamma + beta
 *
 * `momentum` follows Keras: the weight of the old running value (default
 * 0.9). PyTorch's momentum is the weight of the new one: PyTorch's default
 * 0.1 is this op's 0.9. The running variance is the unbiased batch variance,
 * as PyTorch's and Keras's. Parameters gamma [C] (ones) and beta [C]
 * (zeros); state running_mean [C] (zeros) and running_var [C] (ones),
 * updated by every training forward, saved in checkpoints.
 *
 * Backward (training only), with xhat = (x - mu) * rstd, per channel:
 *   dgamma += sum(dy * xhat),  dbeta += sum(dy)
 *   dx += gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat))
 * (dx = that when told to assign, GR_OP_ASSIGNS_GRAD). mu and rstd are saved; xhat is recomputed from x, intact in backward.
 *
 * A relu after it may be folded in (GR_FUSED_RELU, plugin.h): then out is
 * max(y, 0) and dout the relu's gradient, which backward masks with
 * out > 0 (the relu's own test on y) wherever it reads dy, unless the
 * relu's reader masked it already (GR_FUSED_RELU_MASKED). A 2 x 2 max
 * pool reading that relu may be folded in too (GR_FUSED_POOL): then out
 * and dout are the pool's, and batch_norm_pool.c's kernels normalise,
 * pool and route the gradient without storing y.
 *
 * Sums over rows run in blocks of BN_ROWS rows, each block's in double in
 * scratch, then the blocks are combined in order: the result does not
 * depend on the thread count. Training forward reads x from memory twice:
 * once for the statistics (each block's mean and centred sum of squares
 * while it is in cache, the blocks combined with Chan's formula, exact for
 * data far from zero as a two-pass variance is), once to normalise. */
#include <math.h>
#include <string.h>

#include "batch_norm.h"
#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

enum { A_MOMENTUM, A_EPSILON };
static const struct gr_attr_spec bn_attrs[] = {
    [A_MOMENTUM] = {"momentum", GR_ATTR_FLOAT,
                    "in [0, 1): running = momentum * running + (1 - momentum) * batch (Keras's convention; "
                    "PyTorch's momentum is 1 minus this)",
                    .def = "0.9"},
    [A_EPSILON] = {"epsilon", GR_ATTR_FLOAT, "in (0, 1]: added to the variance", .def = "1e-5"},
};
enum { P_GAMMA, P_BETA };
static const struct gr_param_spec bn_params[] = {
    [P_GAMMA] = {"gamma", GR_INIT_ONES, "[C] scale"},
    [P_BETA] = {"beta", GR_INIT_ZEROS, "[C] shift"},
};
enum { S_MEAN, S_VAR };
static const struct gr_param_spec bn_state[] = {
    [S_MEAN] = {"running_mean", GR_INIT_ZEROS, "[C] the mean evaluation normalises with"},
    [S_VAR] = {"running_var", GR_INIT_ONES, "[C] the variance evaluation normalises with"},
};
static int bn_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank < 2) return gr_infer_fail(inf, -1, "input needs a batch axis and a channel axis, has rank %d", x->rank);
    double m = inf->attrs[A_MOMENTUM].f, eps = inf->attrs[A_EPSILON].f;
    if (!(m >= 0 && m < 1))
        return gr_infer_fail(inf, A_MOMENTUM, "momentum: expected a number in [0, 1), got %g%s", m,
                             m == 1 ? " (1 would never update the running statistics)" : "");
    if (!(eps > 0 && eps <= 1))
        return gr_infer_fail(inf, A_EPSILON, "epsilon: expected a number in (0, 1], got %g", eps);
    int64_t c = x->dim[x->rank - 1], rows = gr_shape_count(x) / c;
    if (inf->training && rows < 2)
        return gr_infer_fail(inf, -1,
                             "batch normalisation in training needs more than one value per channel, and a batch "
                             "of %lld gives %lld",
                             (long long)inf->batch, (long long)rows);
    inf->out = *x;
    for (int k = 0; k < 2; k++) inf->param[k] = inf->state[k] = (struct gr_shape){1, {c}};
    if (inf->training) {
        inf->saved_bytes = (size_t)(2 * c) * sizeof(float); /* mu, rstd */
        /* block statistics or sums and their totals; then forward's
         * rstd * gamma, or backward's two means and gamma * rstd */
        inf->scratch_bytes = (size_t)(2 * c * (n_blocks(rows) + 1)) * sizeof(double) + (size_t)(3 * c) * sizeof(float);
    } else {
        inf->scratch_bytes = (size_t)c * sizeof(float); /* rstd * gamma */
    }
    return 0;
}

static int64_t channels(const struct gr_args *a) { return a->out->shape.dim[a->out->shape.rank - 1]; }

/* rows of x (out is pooled under GR_FUSED_POOL) */
static int64_t rows_of(const struct gr_args *a, int64_t c) { return gr_shape_count(&a->in[IN_X]->shape) / c; }

/* Blocks [k0, k1): part[k][0] = the block's mean, part[k][1] = its centred
 * sum of squares M2, both in double, in two passes over the block while it
 * is in cache (one pass over x from memory). */
static void stat_blocks(void *arg, int64_t k0, int64_t k1) {
    const struct bn_job *j = arg;
    const float *restrict x = j->a->in[IN_X]->data;
    for (int64_t k = k0; k < k1; k++) {
        double *restrict mean = j->part + k * 2 * j->c, *restrict m2 = mean + j->c;
        int64_t r0 = k * BN_ROWS, r1 = block_end(j, k);
        memset(mean, 0, (size_t)(2 * j->c) * sizeof *mean);
        for (int64_t r = r0; r < r1; r++)
            for (int64_t i = 0; i < j->c; i++) mean[i] += x[r * j->c + i];
        for (int64_t i = 0; i < j->c; i++) mean[i] /= (double)(r1 - r0);
        for (int64_t r = r0; r < r1; r++)
            for (int64_t i = 0; i < j->c; i++) {
                double d = (double)x[r * j->c + i] - mean[i];
                m2[i] += d * d;
            }
    }
}

/* The blocks' means and M2 combined in block order (Chan, Golub and
 * LeVeque's parallel variance): with n = na + nb, delta = mb - ma,
 *   mean = ma + delta * nb / n,  M2 = M2a + M2b + delta^2 * na * nb / n
 * mean and M2 (all rows) into total[0 .. C) and total[C .. 2C). */
static void combine_blocks(const struct bn_job *j, double *restrict total) {
    double *restrict mean = total, *restrict m2 = total + j->c;
    memcpy(total, j->part, (size_t)(2 * j->c) * sizeof *total);
    double na = (double)block_end(j, 0);
    for (int64_t k = 1; k < n_blocks(j->rows); k++) {
        const double *restrict mb = j->part + k * 2 * j->c, *restrict m2b = mb + j->c;
        double nb = (double)(block_end(j, k) - k * BN_ROWS), n = na + nb;
        for (int64_t i = 0; i < j->c; i++) {
            double delta = mb[i] - mean[i];
            mean[i] += delta * nb / n;
            m2[i] += m2b[i] + delta * delta * na * nb / n;
        }
        na = n;
    }
}

/* Block k's sums of dy and dy * xhat; `relu` constant where inlined, so
 * both loops vectorise without a test. */
static inline __attribute__((always_inline)) void grad_block(const struct bn_job *j, int64_t k, int relu) {
    const float *restrict x = j->a->in[IN_X]->data, *restrict dy = j->a->dout->data, *restrict y = j->a->out->data;
    const float *restrict mu = j->mu, *restrict rstd = j->rstd;
    double *restrict sd = j->part + k * 2 * j->c, *restrict sdx = sd + j->c;
    memset(sd, 0, (size_t)(2 * j->c) * sizeof *sd);
    for (int64_t r = k * BN_ROWS; r < block_end(j, k); r++)
        for (int64_t i = 0; i < j->c; i++) {
            int64_t e = r * j->c + i;
            float g = relu ? gr_relu_masked(dy[e], y[e]) : dy[e];
            float xhat = (x[e] - mu[i]) * rstd[i];
            sd[i] += g;
            sdx[i] += (double)g * xhat;
        }
}

/* Blocks [k0, k1): part[k][0] = sum of dy, part[k][1] = sum of dy * xhat. */
static void grad_blocks(void *arg, int64_t k0, int64_t k1) {
    const struct bn_job *j = arg;
    for (int64_t k = k0; k < k1; k++) {
        if ((j->a->fused & (GR_FUSED_RELU | GR_FUSED_RELU_MASKED)) == GR_FUSED_RELU) grad_block(j, k, 1);
        else grad_block(j, k, 0);
    }
}

static void run_blocks(const struct bn_job *j, void (*fn)(void *, int64_t, int64_t)) {
    run(j, n_blocks(j->rows), fn, (void *)j);
}

/* total[i] = the sum over blocks of part[k][half][i], in block order */
static void add_blocks(const struct bn_job *j, int half, double *total) {
    memset(total, 0, (size_t)j->c * sizeof *total);
    for (int64_t k = 0; k < n_blocks(j->rows); k++)
        for (int64_t i = 0; i < j->c; i++) total[i] += j->part[(k * 2 + half) * j->c + i];
}

/* rows [r0, r1): y = (x - mu) * (rstd * gamma) + beta, then max(y, 0)
 * with a folded relu; `relu` constant where inlined */
static inline __attribute__((always_inline)) void normalize(const struct bn_job *j, int64_t r0, int64_t r1,
                                                            int relu) {
    const float *restrict x = j->a->in[IN_X]->data, *restrict beta = j->a->in[IN_BETA]->data;
    const float *restrict mu = j->mu, *restrict scale = j->scale;
    float *restrict y = j->a->out->data;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t i = 0; i < j->c; i++) {
            float v = (x[r * j->c + i] - mu[i]) * scale[i] + beta[i];
            y[r * j->c + i] = relu ? (v > 0.0f ? v : 0.0f) : v;
        }
}

static void normalize_rows(void *arg, int64_t r0, int64_t r1) {
    const struct bn_job *j = arg;
    if (j->a->fused & GR_FUSED_RELU) normalize(j, r0, r1, 1);
    else normalize(j, r0, r1, 0);
}

/* mu and rstd of this batch into saved; the running statistics updated. */
static void batch_stats(const struct bn_job *j) {
    const struct gr_args *a = j->a;
    float *mu = a->saved, *rstd = mu + j->c;
    float *rmean = a->in[IN_MEAN]->data, *rvar = a->in[IN_VAR]->data;
    double *total = j->part + n_blocks(j->rows) * 2 * j->c, m = a->attrs[A_MOMENTUM].f, n = (double)j->rows;
    run_blocks(j, stat_blocks);
    combine_blocks(j, total);
    for (int64_t i = 0; i < j->c; i++) {
        double var = total[j->c + i] / n;
        mu[i] = (float)total[i];
        rstd[i] = (float)(1.0 / sqrt(var + a->attrs[A_EPSILON].f));
        rmean[i] = (float)(m * rmean[i] + (1 - m) * mu[i]);
        rvar[i] = (float)(m * rvar[i] + (1 - m) * var * n / (n - 1));
    }
}

static void bn_forward(const struct gr_args *a) {
    struct bn_job j = {.a = a, .c = channels(a), .part = a->scratch};
    j.rows = rows_of(a, j.c);
    const float *gamma = a->in[IN_GAMMA]->data;
    float *scale;
    if (a->training) {
        batch_stats(&j);
        j.mu = a->saved;
        scale = (float *)(j.part + n_blocks(j.rows) * 2 * j.c + 2 * j.c);
        for (int64_t i = 0; i < j.c; i++) scale[i] = j.mu[j.c + i] * gamma[i];
    } else {
        const float *rvar = a->in[IN_VAR]->data;
        float eps = (float)a->attrs[A_EPSILON].f;
        scale = a->scratch;
        for (int64_t i = 0; i < j.c; i++) scale[i] = 1.0f / sqrtf(rvar[i] + eps) * gamma[i];
        j.mu = a->in[IN_MEAN]->data;
    }
    j.scale = scale;
    if (a->fused & GR_FUSED_POOL) bn_pool_normalize(&j);
    else run(&j, j.rows, normalize_rows, &j);
}

/* one row of dx; `assign` and `relu` constant where it is inlined, so each
 * of the four loops is compiled (and vectorised) without tests */
static inline __attribute__((always_inline)) void dx_row(const struct dx_job *d, int64_t r, int assign, int relu) {
    const struct bn_job *j = d->j;
    const float *restrict x = j->a->in[IN_X]->data, *restrict k = d->k;
    const float *restrict dy = j->a->dout->data, *restrict y = j->a->out->data, *restrict mu = j->mu;
    const float *restrict rstd = j->rstd, *restrict mdy = d->mdy, *restrict mdx = d->mdx;
    float *restrict dx = j->a->din[IN_X]->data;
    for (int64_t i = 0; i < j->c; i++) {
        int64_t e = r * j->c + i;
        float dye = dy[e], xhat = (x[e] - mu[i]) * rstd[i], g = relu ? gr_relu_masked(dye, y[e]) : dye;
        float v = k[i] * (g - mdy[i] - xhat * mdx[i]);
        dx[e] = assign ? v : dx[e] + v;
    }
}

static void dx_rows(void *arg, int64_t r0, int64_t r1) {
    const struct dx_job *d = arg;
    int assign = gr_din_assigns(d->j->a, IN_X), relu = (d->j->a->fused & (GR_FUSED_RELU | GR_FUSED_RELU_MASKED)) == GR_FUSED_RELU;
    for (int64_t r = r0; r < r1; r++) {
        if (assign && relu) dx_row(d, r, 1, 1);
        else if (assign) dx_row(d, r, 1, 0);
        else if (relu) dx_row(d, r, 0, 1);
        else dx_row(d, r, 0, 0);
    }
}

static void bn_backward(const struct gr_args *a) {
    struct bn_job j = {.a = a, .c = channels(a), .part = a->scratch, .mu = a->saved};
    j.rows = rows_of(a, j.c);
    j.rstd = j.mu + j.c;
    double *sdy = j.part + n_blocks(j.rows) * 2 * j.c, *sdx = sdy + j.c;
    int pooled = (a->fused & GR_FUSED_POOL) != 0;
    run_blocks(&j, pooled ? bn_pool_grad_blocks : grad_blocks);
    add_blocks(&j, 0, sdy);
    add_blocks(&j, 1, sdx);
    if (a->din[IN_GAMMA])
        for (int64_t i = 0; i < j.c; i++) ((float *)a->din[IN_GAMMA]->data)[i] += (float)sdx[i];
    if (a->din[IN_BETA])
        for (int64_t i = 0; i < j.c; i++) ((float *)a->din[IN_BETA]->data)[i] += (float)sdy[i];
    if (!a->din[IN_X]) return;
    const float *gamma = a->in[IN_GAMMA]->data;
    float *mdy = (float *)(sdx + j.c), *mdx = mdy + j.c, *k = mdx + j.c;
    for (int64_t i = 0; i < j.c; i++) {
        mdy[i] = (float)(sdy[i] / (double)j.rows);
        mdx[i] = (float)(sdx[i] / (double)j.rows);
        k[i] = gamma[i] * j.rstd[i];
    }
    struct dx_job d = {&j, mdy, mdx, k};
    run(&j, j.rows, pooled ? bn_pool_dx_rows : dx_rows, &d);
}

static void bn_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = (inf->training ? 5 : 3) * n;
    *bwd = 9 * n;
}

/* BatchNormalization (opset 17, inference: the running statistics), which
 * wants the channels on axis 1: x [B, C] as it is; x [B, ..., C] transposed
 * to [B, C, ...] and the result back. ONNX's momentum is this op's. */
static int bn_lower(struct gr_lower *lw) {
    struct gr_onnx_attr at[2] = {gr_onnx_float("epsilon", (float)lw->attrs[A_EPSILON].f),
                                 gr_onnx_float("momentum", (float)lw->attrs[A_MOMENTUM].f)};
    int r = lw->in_shape[IN_X].rank;
    if (r == 2) return gr_lower_same(lw, "BatchNormalization", 2, at);
    int64_t to_first[GR_MAX_DIMS], to_last[GR_MAX_DIMS];
    to_first[0] = to_last[0] = 0;
    to_first[1] = r - 1; /* [B, C, axes 1 .. r-2] */
    for (int k = 2; k < r; k++) to_first[k] = k - 1;
    for (int k = 1; k < r - 1; k++) to_last[k] = k + 1; /* [B, axes 2 .. r-1, C] */
    to_last[r - 1] = 1;
    const char *in[5] = {gr_lower_transpose(lw, lw->in[IN_X], r, to_first, NULL, "channels_first"), lw->in[IN_GAMMA],
                         lw->in[IN_BETA], lw->in[IN_MEAN], lw->in[IN_VAR]};
    const char *y = lw->onnx->fresh(lw, "y_channels_first");
    if (!in[0] || !y || lw->onnx->node(lw, "BatchNormalization", 5, in, 1, &y, 2, at)) return -1;
    return gr_lower_transpose(lw, y, r, to_last, lw->out, NULL) ? 0 : -1;
}

const struct gr_op_desc gr_op_batch_norm = {
    .name = "batch_norm",
    .summary = "y = (x - mean) / sqrt(var + epsilon) * gamma + beta per channel (last axis): batch statistics in "
               "training, running ones in evaluation",
    .inputs_doc = "x [B, ..., C]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = bn_attrs,
    .n_attrs = 2,
    .params = bn_params,
    .n_params = 2,
    .infer = bn_infer,
    .forward = bn_forward,
    .backward = bn_backward,
    .flops = bn_flops,
    .flags = GR_OP_ASSIGNS_GRAD | GR_OP_FUSES_RELU | GR_OP_FUSES_POOL,
    .lower = bn_lower,
    .state = bn_state,
    .n_state = 2,
};
