/* mul: out = a * b elementwise, with numpy broadcasting.
 * backward: da += dout * b and db += dout * a, each summed over the axes that
 * input was broadcast along. */
#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

static int mul_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32 || inf->in_dtype[1] != GR_F32) return gr_infer_fail(inf, -1, "inputs must be float32");
    char sa[96], sb[96];
    if (gr_broadcast_shape(inf->in[0], inf->in[1], &inf->out))
        return gr_infer_fail(inf, -1, "shapes %s and %s do not broadcast", gr_shape_format(inf->in[0], sa, sizeof sa),
                             gr_shape_format(inf->in[1], sb, sizeof sb));
    return 0;
}

static void row_mul(void *u, int64_t n, float *a, int64_t sa, float *b, int64_t sb, float *c) {
    (void)u;
    for (int64_t i = 0; i < n; i++) c[i] = a[i * sa] * b[i * sb];
}

/* a: gradient accumulated (stride 0 sums), b: the other input, c: dout */
static void row_acc_mul(void *u, int64_t n, float *a, int64_t sa, float *b, int64_t sb, float *c) {
    (void)u;
    for (int64_t i = 0; i < n; i++) a[i * sa] += c[i] * b[i * sb];
}

static void mul_forward(const struct gr_args *x) {
    gr_broadcast_rows(&x->in[0]->shape, &x->in[1]->shape, &x->out->shape, x->in[0]->data, x->in[1]->data,
                      x->out->data, row_mul, NULL);
}

static void mul_backward(const struct gr_args *x) {
    for (int k = 0; k < 2; k++)
        if (x->din[k])
            gr_broadcast_rows(&x->in[k]->shape, &x->in[1 - k]->shape, &x->out->shape, x->din[k]->data,
                              x->in[1 - k]->data, x->dout->data, row_acc_mul, NULL);
}

static void mul_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = 1 * n;
    *bwd = 2 * n;
}

/* ONNX's Mul broadcasts as numpy does */
static int mul_lower(struct gr_lower *lw) { return gr_lower_same(lw, "Mul", 0, NULL); }

const struct gr_op_desc gr_op_mul = {
    .name = "mul",
    .summary = "out = a * b elementwise (numpy broadcasting)",
    .inputs_doc = "a, b (shapes that broadcast)",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = mul_infer,
    .forward = mul_forward,
    .backward = mul_backward,
    .flops = mul_flops,
    .lower = mul_lower,
};
