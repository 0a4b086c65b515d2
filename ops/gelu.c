/* gelu: the Gaussian error linear unit, as PyTorch's GELU.
 *   none (exact): y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
 *                 dy/dx = Phi(x) + x * phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
 *   tanh:         y = 0.5 x (1 + tanh(u)),  u = sqrt(2 / pi) (x + 0.044715 x^3)
 *                 dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2),  t = tanh(u)
 * Computed in float with libm's erff and tanhf. */
#include <math.h>
#include <string.h>

#include "graphrun/plugin.h"
#include "lower.h"
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

/* Gelu is ONNX's from opset 20 on; at 17 it is built from its formula:
 *   none: 0.5 * x * (1 + Erf(x / sqrt 2))
 *   tanh: 0.5 * x * (1 + Tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) */
static int gelu_lower(struct gr_lower *lw) {
    const struct gr_onnx *o = lw->onnx;
    const char *x = lw->in[0], *t = NULL;
    if (strcmp(lw->attrs[A_APPROX].s, "tanh") == 0) {
        const char *x2 = o->fresh(lw, "x2"), *x3 = o->fresh(lw, "x3"), *c = gr_onnx_const_f32(lw, "c", 0.044715f);
        const char *cx3 = o->fresh(lw, "cx3"), *s = o->fresh(lw, "s"), *k = gr_onnx_const_f32(lw, "k", SQRT2_PI);
        const char *u = o->fresh(lw, "u");
        const char *xx[2] = {x, x}, *xx2[2] = {x2, x}, *m3[2] = {x3, c}, *a[2] = {x, cx3}, *mu[2] = {s, k};
        if (!x2 || !x3 || !c || !cx3 || !s || !k || !u || o->node(lw, "Mul", 2, xx, 1, &x2, 0, NULL) ||
            o->node(lw, "Mul", 2, xx2, 1, &x3, 0, NULL) || o->node(lw, "Mul", 2, m3, 1, &cx3, 0, NULL) ||
            o->node(lw, "Add", 2, a, 1, &s, 0, NULL) || o->node(lw, "Mul", 2, mu, 1, &u, 0, NULL))
            return -1;
        t = gr_lower_unary(lw, "Tanh", u, NULL, "tanh", 0, NULL);
    } else {
        const char *r = gr_onnx_const_f32(lw, "sqrt1_2", SQRT1_2), *xs = o->fresh(lw, "xs");
        const char *m[2] = {x, r};
        if (!r || !xs || o->node(lw, "Mul", 2, m, 1, &xs, 0, NULL)) return -1;
        t = gr_lower_unary(lw, "Erf", xs, NULL, "erf", 0, NULL);
    }
    const char *one = gr_onnx_const_f32(lw, "one", 1.0f), *half = gr_onnx_const_f32(lw, "half", 0.5f);
    const char *p = o->fresh(lw, "p"), *q = o->fresh(lw, "q");
    if (!t || !one || !half || !p || !q) return -1;
    const char *a1[2] = {t, one}, *m1[2] = {x, p}, *m2[2] = {q, half};
    return o->node(lw, "Add", 2, a1, 1, &p, 0, NULL) || o->node(lw, "Mul", 2, m1, 1, &q, 0, NULL) ||
                   o->node(lw, "Mul", 2, m2, 1, &lw->out, 0, NULL)
               ? -1
               : 0;
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
    .flags = GR_OP_ROWWISE,
    .flops = gelu_flops,
    .lower = gelu_lower,
};
