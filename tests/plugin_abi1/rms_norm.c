/* rms_norm: a graphrun plugin op scaling each row by the inverse of its
 * root mean square over the last axis (Zhang and Sennrich's RMSNorm).
 *
 *   x[..., C] -> y[..., C];  for each row of C values:
 *   rrms = 1 / sqrt(mean(x^2) + epsilon),  xhat = x * rrms,  y = xhat * gamma
 *
 * Parameter gamma [C] (ones). Backward, per row, with g = dy * gamma:
 *   dx = rrms * (g - xhat * mean(g * xhat)),  dgamma += sum over rows of dy * xhat */
#include <graphrun/plugin.h>
#include <math.h>

enum { A_EPSILON };
static const struct gr_attr_spec rms_attrs[] = {
    [A_EPSILON] = {"epsilon", GR_ATTR_FLOAT, "added to the mean square", .def = "1e-6", .min = 0, .max = 1},
};
enum { P_GAMMA };
static const struct gr_param_spec rms_params[] = {
    [P_GAMMA] = {"gamma", GR_INIT_ONES, "[C] scale"},
};
enum { IN_X, IN_GAMMA };

static int rms_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank < 2) return gr_infer_fail(inf, -1, "input needs a batch axis and a feature axis");
    int64_t c = x->dim[x->rank - 1];
    inf->out = *x;
    inf->param[P_GAMMA] = (struct gr_shape){1, {c}};
    /* rrms of every row, kept for backward */
    if (inf->training) inf->saved_bytes = (size_t)(gr_shape_count(x) / c) * sizeof(float);
    return 0;
}

static void rms_forward(const struct gr_args *a) {
    const float *x = a->in[IN_X]->data, *gamma = a->in[IN_GAMMA]->data;
    float *y = a->out->data, *rrms_of = a->saved;
    int64_t c = a->out->shape.dim[a->out->shape.rank - 1], rows = gr_shape_count(&a->out->shape) / c;
    float eps = (float)a->attrs[A_EPSILON].f;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        double sq = 0;
        for (int64_t j = 0; j < c; j++) sq += (double)xr[j] * xr[j];
        float rrms = 1.0f / sqrtf((float)(sq / (double)c) + eps);
        for (int64_t j = 0; j < c; j++) y[r * c + j] = xr[j] * rrms * gamma[j];
        if (rrms_of) rrms_of[r] = rrms;
    }
}

static void rms_backward(const struct gr_args *a) {
    const float *x = a->in[IN_X]->data, *gamma = a->in[IN_GAMMA]->data, *dy = a->dout->data, *rrms_of = a->saved;
    int64_t c = a->out->shape.dim[a->out->shape.rank - 1], rows = gr_shape_count(&a->out->shape) / c;
    float *dx = a->din[IN_X] ? a->din[IN_X]->data : NULL;
    float *dgamma = a->din[IN_GAMMA] ? a->din[IN_GAMMA]->data : NULL;
    for (int64_t r = 0; r < rows; r++) {
        float rrms = rrms_of[r];
        const float *xr = x + r * c, *dyr = dy + r * c;
        double mgx = 0; /* mean(g * xhat) */
        for (int64_t j = 0; j < c; j++) {
            float xhat = xr[j] * rrms;
            mgx += (double)dyr[j] * gamma[j] * xhat;
            if (dgamma) dgamma[j] += dyr[j] * xhat;
        }
        mgx /= (double)c;
        if (dx)
            for (int64_t j = 0; j < c; j++)
                dx[r * c + j] += rrms * (dyr[j] * gamma[j] - xr[j] * rrms * (float)mgx);
    }
}

static const struct gr_op_desc rms_op = {
    .name = "rms_norm",
    .summary = "y = x / sqrt(mean(x^2) + epsilon) * gamma over the last axis",
    .inputs_doc = "x [..., C]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = rms_attrs,
    .n_attrs = 1,
    .params = rms_params,
    .n_params = 1,
    .infer = rms_infer,
    .forward = rms_forward,
    .backward = rms_backward,
};

GR_PLUGIN_DECLARE();

int graphrun_plugin_init(const struct gr_host *host, void *host_ctx, char *err, size_t err_len) {
    return host->register_op(host_ctx, &rms_op, err, err_len);
}
