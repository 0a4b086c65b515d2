/* leaky_relu: y = x where x > 0, alpha * x elsewhere.
 * alpha defaults to 0.01, PyTorch's LeakyReLU slope (Keras's layer uses 0.3
 * and TensorFlow's tf.nn.leaky_relu 0.2: write `alpha` to match them).
 * backward: dx += dy where x > 0, alpha * dy elsewhere (x = 0 takes alpha). */
#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

enum { A_ALPHA };
static const struct gr_attr_spec leaky_attrs[] = {
    [A_ALPHA] = {"alpha", GR_ATTR_FLOAT, "slope for x <= 0 (PyTorch's default)", .def = "0.01", .min = 0, .max = 1},
};

static int leaky_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    inf->out = *inf->in[0];
    return 0;
}

static void forward_part(void *arg, int64_t b, int64_t e) {
    const struct gr_args *a = arg;
    const float *x = a->in[0]->data;
    float *y = a->out->data, alpha = (float)a->attrs[A_ALPHA].f;
    for (int64_t i = b; i < e; i++) y[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
}

static void leaky_forward(const struct gr_args *a) {
    gr_for_range(a, gr_shape_count(&a->out->shape), forward_part, (void *)a);
}

static void backward_part(void *arg, int64_t b, int64_t e) {
    const struct gr_args *a = arg;
    const float *x = a->in[0]->data, *dy = a->dout->data;
    float *dx = a->din[0]->data, alpha = (float)a->attrs[A_ALPHA].f;
    for (int64_t i = b; i < e; i++) dx[i] += x[i] > 0.0f ? dy[i] : alpha * dy[i];
}

static void leaky_backward(const struct gr_args *a) {
    if (a->din[0]) gr_for_range(a, gr_shape_count(&a->out->shape), backward_part, (void *)a);
}

static void leaky_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = 2 * n;
    *bwd = 2 * n;
}

static int leaky_lower(struct gr_lower *lw) {
    struct gr_onnx_attr alpha = gr_onnx_float("alpha", (float)lw->attrs[A_ALPHA].f);
    return gr_lower_same(lw, "LeakyRelu", 1, &alpha);
}

const struct gr_op_desc gr_op_leaky_relu = {
    .name = "leaky_relu",
    .summary = "y = x for x > 0, alpha * x otherwise (alpha 0.01 as PyTorch)",
    .inputs_doc = "x",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = leaky_attrs,
    .n_attrs = 1,
    .infer = leaky_infer,
    .forward = leaky_forward,
    .backward = leaky_backward,
    .flags = GR_OP_ROWWISE,
    .flops = leaky_flops,
    .lower = leaky_lower,
};
