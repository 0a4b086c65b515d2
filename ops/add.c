/* add: out = a + b with numpy broadcasting (a bias [N] onto [B, T, N], say).
 * backward: da += dout summed over the axes a was broadcast along; same for b. */
#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

static int add_infer(struct gr_infer *inf) {
    char sa[96], sb[96];
    if (inf->in_dtype[0] != GR_F32 || inf->in_dtype[1] != GR_F32) return gr_infer_fail(inf, -1, "inputs must be float32");
    if (gr_broadcast_shape(inf->in[0], inf->in[1], &inf->out))
        return gr_infer_fail(inf, -1, "shapes %s and %s do not broadcast", gr_shape_format(inf->in[0], sa, sizeof sa),
                             gr_shape_format(inf->in[1], sb, sizeof sb));
    return 0;
}

static void row_add(void *u, int64_t n, float *a, int64_t sa, float *b, int64_t sb, float *c) {
    (void)u;
    if (sa == 1 && sb == 1)
        for (int64_t i = 0; i < n; i++) c[i] = a[i] + b[i];
    else
        for (int64_t i = 0; i < n; i++) c[i] = a[i * sa] + b[i * sb];
}

/* a is the gradient being accumulated (stride 0 sums a broadcast axis), c is dout */
static void row_acc(void *u, int64_t n, float *a, int64_t sa, float *b, int64_t sb, float *c) {
    (void)u, (void)b, (void)sb;
    for (int64_t i = 0; i < n; i++) a[i * sa] += c[i];
}

static void add_forward(const struct gr_args *x) {
    gr_broadcast_rows(&x->in[0]->shape, &x->in[1]->shape, &x->out->shape, x->in[0]->data, x->in[1]->data,
                      x->out->data, row_add, NULL);
}

static void add_backward(const struct gr_args *x) {
    for (int k = 0; k < 2; k++)
        if (x->din[k])
            gr_broadcast_rows(&x->in[k]->shape, &x->in[k]->shape, &x->out->shape, x->din[k]->data, x->din[k]->data,
                              x->dout->data, row_acc, NULL);
}

static void add_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = 1 * n;
    *bwd = 1 * n;
}

/* ONNX's Add broadcasts as numpy does */
static int add_lower(struct gr_lower *lw) { return gr_lower_same(lw, "Add", 0, NULL); }

const struct gr_op_desc gr_op_add = {
    .name = "add",
    .summary = "out = a + b (numpy broadcasting)",
    .inputs_doc = "a, b (shapes that broadcast)",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = add_infer,
    .forward = add_forward,
    .backward = add_backward,
    .flops = add_flops,
    .lower = add_lower,
};
