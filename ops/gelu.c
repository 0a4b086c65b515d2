/* gelu: the Gaussian error linear unit, as PyTorch's GELU.
 *   none (exact): y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
 *                 dy/dx = Phi(x) + x * phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
 *   tanh:         y = 0.5 x (1 + tanh(u)),  u = sqrt(2 / pi) (x + 0.044715 x^3)
 *                 dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2),  t = tanh(u)
 * Computed in float with libm's erff and tanhf. */
#include <math.h>
#include <string.h>

#include "graphrun/plugin.h"
#include "util.h"

enum { A_APPROX };
static const char *const approx_choices[] = {"none", "tanh", NULL};
static const struct gr_attr_spec gelu_attrs[] = {
    [A_APPROX] = {"approximate", GR_ATTR_STRING, "none: the exact erf form; tanh: the tanh approximation",
                  .def = "none", .choices = approx_choices},
};

#define SQRT1_2 0.70710678118654752440f
#define SQRT2_PI 0.79788456080286535588f   /* sqrt(2 / pi) */
#define INV_SQRT2PI 0.39894228040143267794f /* 1 / sqrt(2 pi) */

static int gelu_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    inf->out = *inf->in[0];
    return 0;
}

static int is_tanh(const struct gr_args *a) { return strcmp(a->attrs[A_APPROX].s, "tanh") == 0; }

static void forward_part(void *arg, int64_t b, int64_t e) {
    const struct gr_args *a = arg;
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    if (is_tanh(a))
        for (int64_t i = b; i < e; i++) {
            float v = x[i], u = SQRT2_PI * (v + 0.044715f * v * v * v);
            y[i] = 0.5f * v * (1.0f + tanhf(u));
        }
    else
        for (int64_t i = b; i < e; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * SQRT1_2));
}

static void gelu_forward(const struct gr_args *a) {
    gr_for_range(a, gr_shape_count(&a->out->shape), forward_part, (void *)a);
}

static void backward_part(void *arg, int64_t b, int64_t e) {
    const struct gr_args *a = arg;
    const float *x = a->in[0]->data, *dy = a->dout->data;
    float *dx = a->din[0]->data;
    if (is_tanh(a))
        for (int64_t i = b; i < e; i++) {
            float v = x[i], t = tanhf(SQRT2_PI * (v + 0.044715f * v * v * v));
            float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * SQRT2_PI * (1.0f + 3.0f * 0.044715f * v * v);
            dx[i] += dy[i] * d;
        }
    else
        for (int64_t i = b; i < e; i++) {
            float v = x[i];
            float d = 0.5f * (1.0f + erff(v * SQRT1_2)) + v * INV_SQRT2PI * expf(-0.5f * v * v);
            dx[i] += dy[i] * d;
        }
}

static void gelu_backward(const struct gr_args *a) {
    if (a->din[0]) gr_for_range(a, gr_shape_count(&a->out->shape), backward_part, (void *)a);
}

static void gelu_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = 8 * n;
    *bwd = 12 * n;
}

const struct gr_op_desc gr_op_gelu = {
    .name = "gelu",
    .summary = "y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), or its tanh approximation (as PyTorch)",
    .inputs_doc = "x",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = gelu_attrs,
    .n_attrs = 1,
    .infer = gelu_infer,
    .forward = gelu_forward,
    .backward = gelu_backward,
    .flops = gelu_flops,
};
