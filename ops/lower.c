#include "lower.h"

#include <stdio.h>

int gr_lower_same(struct gr_lower *lw, const char *op_type, int n_attrs, const struct gr_onnx_attr *attrs) {
    return lw->onnx->node(lw, op_type, lw->n_in, lw->in, 1, &lw->out, n_attrs, attrs);
}

const char *gr_lower_unary(struct gr_lower *lw, const char *op_type, const char *in, const char *out, const char *hint,
                           int n_attrs, const struct gr_onnx_attr *attrs) {
    if (!in || (!out && !(out = lw->onnx->fresh(lw, hint)))) return NULL;
    return lw->onnx->node(lw, op_type, 1, &in, 1, &out, n_attrs, attrs) ? NULL : out;
}

const char *gr_lower_transpose(struct gr_lower *lw, const char *in, int rank, const int64_t *perm, const char *out,
                               const char *hint) {
    struct gr_onnx_attr a = gr_onnx_ints("perm", rank, perm);
    return gr_lower_unary(lw, "Transpose", in, out, hint, 1, &a);
}

int gr_lower_nchw(struct gr_lower *lw, const char *op_type, int n_extra, const char *const *extra, int n_attrs,
                  const struct gr_onnx_attr *attrs) {
    static const int64_t to_nchw[4] = {0, 3, 1, 2}, to_nhwc[4] = {0, 2, 3, 1};
    const char *in[4] = {gr_lower_transpose(lw, lw->in[0], 4, to_nchw, NULL, "nchw")};
    const char *y = lw->onnx->fresh(lw, "y_nchw");
    if (!in[0] || !y || n_extra > 3) return -1;
    for (int k = 0; k < n_extra; k++) in[1 + k] = extra[k];
    if (lw->onnx->node(lw, op_type, 1 + n_extra, in, 1, &y, n_attrs, attrs)) return -1;
    return gr_lower_transpose(lw, y, 4, to_nhwc, lw->out, NULL) ? 0 : -1;
}

void gr_lower_pads(const struct gr_window *wh, const struct gr_window *ww, int64_t pads[4]) {
    const struct gr_window *w[2] = {wh, ww};
    for (int a = 0; a < 2; a++) {
        int64_t total = (w[a]->out - 1) * w[a]->stride + w[a]->ext - w[a]->in;
        if (total < 0) total = 0;
        pads[a] = w[a]->pad;
        pads[2 + a] = total - w[a]->pad;
    }
}

int gr_lower_recurrent(struct gr_lower *lw, const char *op_type, const char *w, const char *r, const char *b,
                       int64_t hidden, int reverse, int n_attrs, const struct gr_onnx_attr *attrs) {
    static const int64_t swap[3] = {1, 0, 2}, axis1[1] = {1};
    struct gr_onnx_attr at[8];
    if (n_attrs > 6) return gr_lower_fail(lw, "too many attributes for a recurrent op");
    at[0] = gr_onnx_int("hidden_size", hidden);
    at[1] = gr_onnx_string("direction", reverse ? "reverse" : "forward");
    for (int k = 0; k < n_attrs; k++) at[2 + k] = attrs[k];
    const char *in[4] = {gr_lower_transpose(lw, lw->in[0], 3, swap, NULL, "x_tbi"), w, r, b};
    const char *y = lw->onnx->fresh(lw, "y_t1bh"), *axes = gr_onnx_const_i64(lw, "axis1", 1, 1, axis1);
    const char *yt = lw->onnx->fresh(lw, "y_tbh");
    if (!in[0] || !y || !axes || !yt || lw->onnx->node(lw, op_type, 4, in, 1, &y, 2 + n_attrs, at)) return -1;
    const char *sq[2] = {y, axes};
    if (lw->onnx->node(lw, "Squeeze", 2, sq, 1, &yt, 0, NULL)) return -1;
    return gr_lower_transpose(lw, yt, 3, swap, lw->out, NULL) ? 0 : -1;
}

void gr_lower_gates_t(float *dst, const float *src, int64_t k, int64_t h, int g, const int *order) {
    for (int q = 0; q < g; q++)
        for (int64_t j = 0; j < h; j++)
            for (int64_t i = 0; i < k; i++) dst[(q * h + j) * k + i] = src[i * g * h + order[q] * h + j];
}
