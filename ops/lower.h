/* What the built-in ops' ONNX lowerings share (graphrun export; the
 * contract is in include/graphrun/lower.h, which plugin.h includes). Like
 * ops/util.h, these use the contract alone, so a plugin may copy them. */
#ifndef GR_OPS_LOWER_H
#define GR_OPS_LOWER_H

#include "graphrun/plugin.h"
#include "util.h"

/* The node as one ONNX op of the same inputs and output: out = op_type(in...). */
int gr_lower_same(struct gr_lower *lw, const char *op_type, int n_attrs, const struct gr_onnx_attr *attrs);

/* out = op_type(in) for one input, into `out` (NULL: a fresh name from
 * `hint`); returns the output's name, or NULL. */
const char *gr_lower_unary(struct gr_lower *lw, const char *op_type, const char *in, const char *out, const char *hint,
                           int n_attrs, const struct gr_onnx_attr *attrs);

/* Transpose(in, perm) of rank `rank` into `out` (NULL: fresh); its name, or NULL. */
const char *gr_lower_transpose(struct gr_lower *lw, const char *in, int rank, const int64_t *perm, const char *out,
                               const char *hint);

/* An NHWC image op as ONNX's NCHW one: x [B, H, W, C] transposed to
 * [B, C, H, W], op_type(x, extra...) with the attributes, and the result
 * transposed back into lw->out. ONNX runtimes drop a transpose pair that
 * cancels, so consecutive image ops cost no copies there. */
int gr_lower_nchw(struct gr_lower *lw, const char *op_type, int n_extra, const char *const *extra, int n_attrs,
                  const struct gr_onnx_attr *attrs);

/* TensorFlow's padding of two windows as ONNX's explicit pads
 * [top, left, bottom, right] (same: the odd row or column at the end). */
void gr_lower_pads(const struct gr_window *wh, const struct gr_window *ww, int64_t pads[4]);

/* A recurrent op (LSTM, GRU, RNN) over a batch-major sequence: x [B, T, I]
 * transposed to ONNX's [T, B, I] (layout=1 is not read by every runtime),
 * op_type(x, W, R, B) with hidden_size, direction ("reverse" writes h_t at
 * position t, as graphrun does) and the attributes, its Y [T, 1, B, H]
 * squeezed and transposed back into lw->out [B, T, H]. */
int gr_lower_recurrent(struct gr_lower *lw, const char *op_type, const char *w, const char *r, const char *b,
                       int64_t hidden, int reverse, int n_attrs, const struct gr_onnx_attr *attrs);

/* A recurrent layer's weights in ONNX's layout: dst [1, G*H, K] (W or R,
 * num_directions = 1) from graphrun's src [K, G*H] (input rows k), where
 * ONNX's gate block q is graphrun's block order[q]: dst[q*H + j, k] =
 * src[k, order[q]*H + j]. */
void gr_lower_gates_t(float *dst, const float *src, int64_t k, int64_t h, int g, const int *order);

/* A weight tensor of lw->in_value[k] that must be there (an op's parameter). */
static inline const float *gr_lower_value(struct gr_lower *lw, int k) {
    if (!lw->in_value[k]) gr_lower_fail(lw, "input %d is not a parameter: its values are unknown to the export", k);
    return lw->in_value[k];
}

#endif
