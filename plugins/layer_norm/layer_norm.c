/* layer_norm: a graphrun plugin op normalising each row over its last axis.
 *
 *   x[..., C] -> y[..., C];  for each row of C values:
 *   mu = mean(x),  rstd = 1 / sqrt(mean((x - mu)^2) + epsilon)
 *   xhat = (x - mu) * rstd,  y = xhat * gamma + beta
 *
 * Parameters gamma [C] (ones) and beta [C] (zeros). Backward, per row, with
 * g = dy * gamma:
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
 *   dgamma += sum over rows of dy * xhat,  dbeta += sum over rows of dy */
#include <graphrun/plugin.h>
#include <math.h>

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

static int ln_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank < 2) return gr_infer_fail(inf, -1, "input needs a batch axis and a feature axis");
    int64_t c = x->dim[x->rank - 1];
    if (c < 2) return gr_infer_fail(inf, -1, "normalising over %lld value makes every output 0", (long long)c);
    inf->out = *x;
    inf->param[P_GAMMA] = (struct gr_shape){1, {c}};
    inf->param[P_BETA] = (struct gr_shape){1, {c}};
    /* mean and rstd of every row, kept for backward */
    inf->saved_bytes = (size_t)(2 * (gr_shape_count(x) / c)) * sizeof(float);
    return 0;
}

static void ln_forward(const struct gr_args *a) {
    const float *x = a->in[IN_X]->data, *gamma = a->in[IN_GAMMA]->data, *beta = a->in[IN_BETA]->data;
    float *y = a->out->data, *stats = a->saved;
    int64_t c = a->out->shape.dim[a->out->shape.rank - 1], rows = gr_shape_count(&a->out->shape) / c;
    float eps = (float)a->attrs[A_EPSILON].f;
    for (int64_t r = 0; r < rows; r++) {
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

static void ln_backward(const struct gr_args *a) {
    const float *x = a->in[IN_X]->data, *gamma = a->in[IN_GAMMA]->data, *dy = a->dout->data, *stats = a->saved;
    int64_t c = a->out->shape.dim[a->out->shape.rank - 1], rows = gr_shape_count(&a->out->shape) / c;
    float *dx = a->din[IN_X] ? a->din[IN_X]->data : NULL;
    float *dgamma = a->din[IN_GAMMA] ? a->din[IN_GAMMA]->data : NULL;
    float *dbeta = a->din[IN_BETA] ? a->din[IN_BETA]->data : NULL;
    for (int64_t r = 0; r < rows; r++) {
        float mu = stats[2 * r], rstd = stats[2 * r + 1];
        const float *xr = x + r * c, *dyr = dy + r * c;
        double mg = 0, mgx = 0; /* mean(g), mean(g * xhat) */
        for (int64_t j = 0; j < c; j++) {
            float xhat = (xr[j] - mu) * rstd, g = dyr[j] * gamma[j];
            mg += g;
            mgx += (double)g * xhat;
            if (dgamma) dgamma[j] += dyr[j] * xhat;
            if (dbeta) dbeta[j] += dyr[j];
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

static const struct gr_op_desc ln_op = {
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
};

GR_PLUGIN_DECLARE();

int graphrun_plugin_init(const struct gr_host *host, void *host_ctx, char *err, size_t err_len) {
    return host->register_op(host_ctx, &ln_op, err, err_len);
}
