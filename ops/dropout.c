/* dropout (inverted): in training, each value is kept with probability
 * 1 - rate and scaled by 1 / (1 - rate), else zeroed; in evaluation, the
 * identity. So the expected output equals the input in both.
 *
 *   training:   m_i = [u_i >= rate],  y_i = x_i * m_i / (1 - rate)
 *   evaluation: y = x
 *   backward:   dx_i += dy_i * m_i / (1 - rate)  (= when told to assign)
 *
 * u_i is element i of the node's random stream at this step (host
 * random_uniform: keyed by train.seed, the node's name and the step). The
 * mask is not saved: backward draws the same u_i again, since a step's
 * forward and backward share the step and a value depends on nothing else.
 * So the mask costs no memory, does not depend on the thread count or
 * split, is the unbroken run's after --resume, and replays in gradcheck
 * (which holds the step fixed). */
#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

enum { A_RATE };
static const struct gr_attr_spec dropout_attrs[] = {
    [A_RATE] = {"rate", GR_ATTR_FLOAT, "the fraction of values dropped in training, in [0, 1)", .def = "0.5"},
};

static int dropout_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    double rate = inf->attrs[A_RATE].f;
    if (!(rate >= 0 && rate < 1))
        return gr_infer_fail(inf, A_RATE, "rate: expected a number in [0, 1), got %g%s", rate,
                             rate == 1 ? " (a rate of 1 drops every value)" : "");
    inf->out = *inf->in[0];
    return 0;
}

/* Values are drawn this many at a time, on the stack. */
#define DROP_CHUNK 256

/* y (forward) or dx (backward) over elements [b, e): out = in * mask * scale,
 * added into out for backward. */
struct drop_job {
    const struct gr_args *a;
    const float *in;
    float *out;
    int accumulate;
};

static void drop_part(void *arg, int64_t b, int64_t e) {
    const struct drop_job *j = arg;
    float rate = (float)j->a->attrs[A_RATE].f, scale = (float)(1.0 / (1.0 - j->a->attrs[A_RATE].f));
    float u[DROP_CHUNK];
    for (int64_t i0 = b; i0 < e; i0 += DROP_CHUNK) {
        int64_t n = e - i0 < DROP_CHUNK ? e - i0 : DROP_CHUNK;
        j->a->host->random_uniform(j->a->host_ctx, j->a, i0, n, u);
        const float *x = j->in + i0;
        float *y = j->out + i0;
        if (j->accumulate)
            for (int64_t i = 0; i < n; i++) y[i] += u[i] >= rate ? x[i] * scale : 0.0f;
        else
            for (int64_t i = 0; i < n; i++) y[i] = u[i] >= rate ? x[i] * scale : 0.0f;
    }
}

static void copy_part(void *arg, int64_t b, int64_t e) {
    const struct drop_job *j = arg;
    for (int64_t i = b; i < e; i++) j->out[i] = j->in[i];
}

static void dropout_forward(const struct gr_args *a) {
    struct drop_job j = {a, a->in[0]->data, a->out->data, 0};
    int64_t n = gr_shape_count(&a->out->shape);
    gr_for_range(a, n, a->training && a->attrs[A_RATE].f > 0 ? drop_part : copy_part, &j);
}

static void add_part(void *arg, int64_t b, int64_t e) {
    const struct drop_job *j = arg;
    for (int64_t i = b; i < e; i++) j->out[i] += j->in[i];
}

static void dropout_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    int add = !gr_din_assigns(a, 0);
    struct drop_job j = {a, a->dout->data, a->din[0]->data, add};
    int64_t n = gr_shape_count(&a->out->shape);
    gr_for_range(a, n, a->training && a->attrs[A_RATE].f > 0 ? drop_part : add ? add_part : copy_part, &j);
}

static void dropout_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(&inf->out);
    *fwd = 2 * n;
    *bwd = 2 * n;
}

/* The exported model is the evaluation graph, where dropout passes x on. */
static int dropout_lower(struct gr_lower *lw) { return gr_lower_same(lw, "Identity", 0, NULL); }

const struct gr_op_desc gr_op_dropout = {
    .name = "dropout",
    .summary = "training: y = x * [u >= rate] / (1 - rate), u uniform per value; evaluation: y = x",
    .inputs_doc = "x",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = dropout_attrs,
    .n_attrs = 1,
    .infer = dropout_infer,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .flops = dropout_flops,
    .flags = GR_OP_ASSIGNS_GRAD,
    .lower = dropout_lower,
};
