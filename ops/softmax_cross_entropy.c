/* softmax_cross_entropy: the mean over R rows of -log softmax(logits)[label],
 * fused so it never forms log(0):
 *   loss = 1/R * sum_r ( logsumexp(x_r) - x_r[label_r] ),
 *   logsumexp(x) = m + log sum_j exp(x_j - m),  m = max_j x_j
 * Inputs: logits [..., C] float32, and either int32 class indices [...] or
 * float32 targets [..., C] (then the row's term is sum_j t_rj (lse(x_r) - x_rj),
 * the cross-entropy when t_r is a distribution).
 * Output: a scalar. The targets take no gradient.
 * backward: dlogits_r += dloss * (softmax(x_r) - onehot(label_r)) / R, and for
 * targets dlogits_rj += dloss * (softmax(x_r)_j * sum_k t_rk - t_rj) / R
 * A class index outside [0, C) makes the loss nan: the runtime checks every
 * label against C before a run, so this only shows a broken input loudly
 * (the training step stops and names this node) instead of dropping a row. */
#include <math.h>

#include "graphrun/plugin.h"

static int xent_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0], *t = inf->in[1];
    char sx[96], st[96];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "logits must be float32");
    if (x->rank < 2) return gr_infer_fail(inf, -1, "logits need a batch axis and a class axis, got %s", gr_shape_format(x, sx, sizeof sx));
    int ok = 1;
    if (inf->in_dtype[1] == GR_I32) {
        ok = t->rank == x->rank - 1;
        for (int i = 0; ok && i < t->rank; i++) ok = t->dim[i] == x->dim[i];
        if (!ok)
            return gr_infer_fail(inf, -1, "class indices of shape %s do not match logits %s (expected the logits' shape without its last axis)",
                                 gr_shape_format(t, st, sizeof st), gr_shape_format(x, sx, sizeof sx));
        inf->index_limit[1] = x->dim[x->rank - 1]; /* a label indexes one of C classes */
    } else {
        ok = t->rank == x->rank;
        for (int i = 0; ok && i < t->rank; i++) ok = t->dim[i] == x->dim[i];
        if (!ok)
            return gr_infer_fail(inf, -1, "target distributions of shape %s do not match logits %s",
                                 gr_shape_format(t, st, sizeof st), gr_shape_format(x, sx, sizeof sx));
    }
    inf->out.rank = 0;
    return 0;
}

/* logsumexp of one row, and the row's max */
static double row_lse(const float *x, int64_t c, float *max) {
    float m = x[0];
    for (int64_t j = 1; j < c; j++) m = x[j] > m ? x[j] : m;
    double s = 0;
    for (int64_t j = 0; j < c; j++) s += exp((double)(x[j] - m));
    *max = m;
    return (double)m + log(s);
}

static void xent_forward(const struct gr_args *a) {
    const struct gr_shape *xs = &a->in[0]->shape;
    int64_t c = xs->dim[xs->rank - 1], rows = gr_shape_count(xs) / c;
    const float *x = a->in[0]->data;
    int sparse = a->in[1]->dtype == GR_I32;
    double total = 0;
    for (int64_t r = 0; r < rows; r++) {
        float m;
        double lse = row_lse(x + r * c, c, &m);
        if (sparse) {
            int32_t k = ((const int32_t *)a->in[1]->data)[r];
            total += k >= 0 && k < c ? lse - x[r * c + k] : (double)NAN;
        } else {
            const float *t = (const float *)a->in[1]->data + r * c;
            for (int64_t j = 0; j < c; j++) total += (double)t[j] * (lse - x[r * c + j]);
        }
    }
    *(float *)a->out->data = (float)(total / (double)rows);
}

static void xent_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    const struct gr_shape *xs = &a->in[0]->shape;
    int64_t c = xs->dim[xs->rank - 1], rows = gr_shape_count(xs) / c;
    const float *x = a->in[0]->data;
    float *dx = a->din[0]->data;
    float scale = *(const float *)a->dout->data / (float)rows;
    int sparse = a->in[1]->dtype == GR_I32;
    for (int64_t r = 0; r < rows; r++) {
        float m;
        double lse = row_lse(x + r * c, c, &m);
        const float *t = sparse ? NULL : (const float *)a->in[1]->data + r * c;
        int32_t label = sparse ? ((const int32_t *)a->in[1]->data)[r] : -1;
        double tsum = 1.0;
        if (t) {
            tsum = 0;
            for (int64_t j = 0; j < c; j++) tsum += t[j];
        }
        for (int64_t j = 0; j < c; j++) {
            float p = (float)exp((double)x[r * c + j] - lse);
            float target = t ? t[j] : (label == j ? 1.0f : 0.0f);
            dx[r * c + j] += scale * (p * (float)tsum - target);
        }
    }
}

static void xent_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    double n = (double)gr_shape_count(inf->in[0]);
    *fwd = 3 * n;
    *bwd = 3 * n;
}

const struct gr_op_desc gr_op_softmax_cross_entropy = {
    .name = "softmax_cross_entropy",
    .summary = "loss = mean over rows of logsumexp(x) - x[label] (fused, stable)",
    .inputs_doc = "logits [..., C]; labels [...] int32, or targets [..., C] float32",
    .min_inputs = 2,
    .max_inputs = 2,
    .no_grad = 1u << 1,
    .infer = xent_infer,
    .forward = xent_forward,
    .backward = xent_backward,
    .flags = GR_OP_ROW_MEAN,
    .flops = xent_flops,
};
