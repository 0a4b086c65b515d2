/* layer_norm: each row normalised over its last axis, then scaled and shifted.
 *
 *   x[..., C] -> y[..., C];  for each row of C values:
 *   mu = mean(x),  rstd = 1 / sqrt(mean((x - mu)^2) + epsilon)
 *   xhat = (x - mu) * rstd,  y = xhat * gamma + beta
 *
 * Parameters gamma [C] (ones) and beta [C] (zeros), as Keras's and
 * PyTorch's LayerNorm. Training keeps mu and rstd of every row. Backward,
 * per row, with g = dy * gamma:
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
 *   dgamma += sum over rows of dy * xhat,  dbeta += sum over rows of dy */
#include <math.h>
#include <string.h>

#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

enum { A_EPSILON };
static const struct gr_attr_spec ln_attrs[] = {
    [A_EPSILON] = {"epsilon", GR_ATTR_FLOAT, "added to the variance", .def = "1e-5", .min = 0, .max = 1},
};
enum { P_GAMMA, P_BETA };
static const struct gr_param_spec ln_params[] = {
    [P_GAMMA] = {"gamma", GR_INIT_ONES, "[C] scale"},
    [P_BETA] = {"beta", GR_INIT_ZEROS, "[C] shift"},
};
enum { IN_X, IN_GAMMA, IN_BETA };

/* Rows at a time for the parameter gradients: each block of rows sums its
 * own dgamma and dbeta in scratch, then the blocks are added in order, so
 * the result does not depend on the number of threads. */
#define LN_BLOCKS 8

static int ln_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank < 2) return gr_infer_fail(inf, -1, "input needs a batch axis and a feature axis");
    int64_t c = x->dim[x->rank - 1];
    if (c < 2) return gr_infer_fail(inf, -1, "normalising over %lld value makes every output 0", (long long)c);
    inf->out = *x;
    inf->param[P_GAMMA] = (struct gr_shape){1, {c}};
    inf->param[P_BETA] = (struct gr_shape){1, {c}};
    if (inf->training) {
        inf->saved_bytes = (size_t)(2 * (gr_shape_count(x) / c)) * sizeof(float); /* mu, rstd per row */
        inf->scratch_bytes = (size_t)(LN_BLOCKS * 2 * c) * sizeof(float);         /* dgamma, dbeta per block */
    }
    return 0;
}

static int64_t row_len(const struct gr_args *a) { return a->out->shape.dim[a->out->shape.rank - 1]; }
static int64_t n_rows(const struct gr_args *a) { return gr_shape_count(&a->out->shape) / row_len(a); }

static void forward_rows(void *arg, int64_t r0, int64_t r1) {
    const struct gr_args *a = arg;
    const float *x = a->in[IN_X]->data, *gamma = a->in[IN_GAMMA]->data, *beta = a->in[IN_BETA]->data;
    float *y = a->out->data, *stats = a->saved;
    int64_t c = row_len(a);
    float eps = (float)a->attrs[A_EPSILON].f;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * c;
        double sum = 0, sq = 0;
        for (int64_t j = 0; j < c; j++) sum += xr[j];
        float mu = (float)(sum / (double)c);
        for (int64_t j = 0; j < c; j++) sq += (double)(xr[j] - mu) * (xr[j] - mu);
        float rstd = 1.0f / sqrtf((float)(sq / (double)c) + eps);
        for (int64_t j = 0; j < c; j++) y[r * c + j] = (xr[j] - mu) * rstd * gamma[j] + beta[j];
        if (stats) {
            stats[2 * r] = mu;
            stats[2 * r + 1] = rstd;
        }
    }
}

static void ln_forward(const struct gr_args *a) {
    int64_t rows = n_rows(a);
    if (rows > 1 && rows * row_len(a) >= GR_PARALLEL_MIN) a->host->parallel_for(a->host_ctx, rows, forward_rows, (void *)a);
    else forward_rows((void *)a, 0, rows);
}

/* Blocks [k0, k1) of rows: dx, and each block's dgamma and dbeta in scratch. */
static void backward_blocks(void *arg, int64_t k0, int64_t k1) {
    const struct gr_args *a = arg;
    const float *x = a->in[IN_X]->data, *gamma = a->in[IN_GAMMA]->data, *dy = a->dout->data, *stats = a->saved;
    int64_t c = row_len(a), rows = n_rows(a);
    float *dx = a->din[IN_X] ? a->din[IN_X]->data : NULL;
    for (int64_t k = k0; k < k1; k++) {
        float *dgamma = (float *)a->scratch + k * 2 * c, *dbeta = dgamma + c;
        memset(dgamma, 0, (size_t)(2 * c) * sizeof(float));
        for (int64_t r = rows * k / LN_BLOCKS; r < rows * (k + 1) / LN_BLOCKS; r++) {
            float mu = stats[2 * r], rstd = stats[2 * r + 1];
            const float *xr = x + r * c, *dyr = dy + r * c;
            double mg = 0, mgx = 0; /* mean(g), mean(g * xhat) */
            for (int64_t j = 0; j < c; j++) {
                float xhat = (xr[j] - mu) * rstd, g = dyr[j] * gamma[j];
                mg += g;
                mgx += (double)g * xhat;
                dgamma[j] += dyr[j] * xhat;
                dbeta[j] += dyr[j];
            }
            mg /= (double)c;
            mgx /= (double)c;
            if (dx)
                for (int64_t j = 0; j < c; j++) {
                    float xhat = (xr[j] - mu) * rstd;
                    dx[r * c + j] += rstd * (dyr[j] * gamma[j] - (float)mg - xhat * (float)mgx);
                }
        }
    }
}

static void ln_backward(const struct gr_args *a) {
    int64_t c = row_len(a);
    if (n_rows(a) * c >= GR_PARALLEL_MIN) a->host->parallel_for(a->host_ctx, LN_BLOCKS, backward_blocks, (void *)a);
    else backward_blocks((void *)a, 0, LN_BLOCKS);
    const float *partial = a->scratch;
    for (int k = 0; k < 2; k++) {
        if (!a->din[IN_GAMMA + k]) continue;
        float *d = a->din[IN_GAMMA + k]->data;
        for (int64_t b = 0; b < LN_BLOCKS; b++)
            for (int64_t j = 0; j < c; j++) d[j] += partial[(b * 2 + k) * c + j];
    }
}

static void ln_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = 7 * n;
    *bwd = 12 * n;
}

/* LayerNormalization (opset 17) over the last axis, with gamma and beta */
static int ln_lower(struct gr_lower *lw) {
    struct gr_onnx_attr at[2] = {gr_onnx_int("axis", -1), gr_onnx_float("epsilon", (float)lw->attrs[A_EPSILON].f)};
    return gr_lower_same(lw, "LayerNormalization", 2, at);
}

const struct gr_op_desc gr_op_layer_norm = {
    .name = "layer_norm",
    .summary = "y = (x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis",
    .inputs_doc = "x [..., C]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = ln_attrs,
    .n_attrs = 1,
    .params = ln_params,
    .n_params = 2,
    .infer = ln_infer,
    .forward = ln_forward,
    .backward = ln_backward,
    .flops = ln_flops,
    .lower = ln_lower,
};
