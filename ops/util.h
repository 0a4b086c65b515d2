/* Helpers shared by the built-in ops. They use only graphrun/plugin.h, so a
 * plugin could copy them; nothing here reaches into the runtime. */
#ifndef GR_OPS_UTIL_H
#define GR_OPS_UTIL_H

#include <string.h>

#include "graphrun/plugin.h"

/* Resolve a possibly negative axis against `rank`; -1 if out of range. */
static inline int gr_axis(int64_t axis, int rank) {
    if (axis < 0) axis += rank;
    return (axis < 0 || axis >= rank) ? -1 : (int)axis;
}

/* Numpy broadcasting of a and b (aligned at their last axes) into out.
 * Returns -1 if some axis pair is neither equal nor 1. */
int gr_broadcast_shape(const struct gr_shape *a, const struct gr_shape *b, struct gr_shape *out);

/* Walk `out` (contiguous) in rows along its last axis, giving each row's
 * pointers into a and b with their strides along that axis (0 where the axis
 * is broadcast). `fn` decides which pointers it reads and which it writes. */
typedef void (*gr_row_fn)(void *u, int64_t n, float *a, int64_t sa, float *b, int64_t sb, float *c);
void gr_broadcast_rows(const struct gr_shape *as, const struct gr_shape *bs, const struct gr_shape *cs, float *a,
                       float *b, float *c, gr_row_fn fn, void *u);

/* fn(arg, begin, end) over [0, n): on the host's threads when n is large
 * enough to pay for the hand-off (elementwise work split into contiguous
 * ranges, so the result is the same either way), else right here. */
#define GR_PARALLEL_MIN 32768
static inline void gr_for_range(const struct gr_args *a, int64_t n, void (*fn)(void *arg, int64_t b, int64_t e),
                                void *arg) {
    if (n >= GR_PARALLEL_MIN) a->host->parallel_for(a->host_ctx, n, fn, arg);
    else fn(arg, 0, n);
}

/* Split-invariant batch sums: how the built-in ops sum a parameter's
 * gradient over the batch, so that its bits do not depend on how the batch
 * is split between ranks.  The samples [0, B) are halved, mid = lo + (hi -
 * lo) / 2, until a range holds at most GR_SUM_LEAF samples; each such leaf is
 * summed on its own, and sums are added left + right back up the tree.  A
 * rank of a power-of-two count N takes the range at depth log2 N
 * (gr_parallel_range), a node of this tree when the ranges above it hold
 * more than GR_SUM_LEAF samples, so its local sum is that node's, bit for
 * bit; two ranks' sums added by the allreduce are then the root's (float
 * addition commutes).
 *
 * A leaf's sum goes to its part: part 0 is the gradient itself (the leaf is
 * added onto what it holds: zero, unless another node shares the
 * parameter), part k >= 1 is rest + (k - 1) * len in scratch.  gr_sum_tree
 * then adds the parts up the tree into part 0. */
#define GR_SUM_LEAF 32
int64_t gr_sum_leaves(int64_t n);
void gr_sum_leaf(int64_t n, int64_t k, int64_t *lo, int64_t *hi);
static inline float *gr_sum_part(float *first, float *rest, int64_t len, int64_t k) {
    return k == 0 ? first : rest + (k - 1) * len;
}
void gr_sum_tree(const struct gr_args *a, int64_t n, float *first, float *rest, int64_t len);
/* A leaf's bias-like part: rows r0..r1 of m (row length ld) summed column
 * by column, row after row, into dst[cols] (onto what dst holds when
 * `onto`, else from zero); on the host's threads over columns when large. */
void gr_sum_rows(const struct gr_args *a, const float *m, int64_t ld, int64_t r0, int64_t r1, float *dst,
                 int64_t cols, int onto);
/* dst[c * rows + r] = src[r * cols + c]: a [rows, cols] matrix transposed
 * (a recurrent kernel, once per backward, so each step's product reads both
 * operands row by row), in 16 x 16 tiles: element by element, one side's
 * stride of a power of two kept hitting the same few cache sets. */
void gr_transpose(const float *src, int64_t rows, int64_t cols, float *dst);
/* src [rows, cols] transposed in slices of 64 of its rows, for the fused
 * recurrent backward's products: dst [rows/64 rounded up][cols][64], zeros
 * past `rows`; whole slices by gr_transpose. */
void gr_transpose_slices64(const float *src, int64_t rows, int64_t cols, float *dst);
/* Whether backward assigns din[k] instead of adding into it (plugin.h,
 * GR_OP_ASSIGNS_GRAD): din[k] then holds garbage on entry. */
static inline int gr_din_assigns(const struct gr_args *a, int k) { return (a->din_assign >> k) & 1u; }

/* relu's backward of d where relu's input (or output) is y: d where y > 0,
 * else +0, as d's bits ANDed with a mask, which GCC vectorises and never
 * branches on, where it keeps the select `y > 0 ? d : 0` a branch */
static inline float gr_relu_masked(float d, float y) {
    uint32_t b;
    memcpy(&b, &d, sizeof b);
    b &= 0u - (uint32_t)(y > 0.0f);
    memcpy(&d, &b, sizeof d);
    return d;
}

/* a * b into *out for non-negative a and b; -1 if the product would exceed
 * INT64_MAX. Shape inference multiplies sizes with it before any allocation. */
static inline int gr_mul_i64(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a)) return -1;
    *out = a * b;
    return 0;
}

/* The product of n non-negative values, or -1 if it overflows. */
static inline int64_t gr_prod_i64(const int64_t *v, int n) {
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        if (gr_mul_i64(p, v[i], &p)) return -1;
    return p;
}

/* One spatial axis of a sliding window (convolution or pooling), with
 * TensorFlow's padding rules. The window covers ext = (k - 1) * dilation + 1
 * input cells; output cell o reads inputs o * stride - pad + j * dilation,
 * j = 0..k-1, those outside [0, in) being padding.
 *   valid: out = (in - ext) / stride + 1 (floor), pad = 0; needs in >= ext.
 *   same:  out = ceil(in / stride); the total padding
 *          max((out - 1) * stride + ext - in, 0) is split with the smaller
 *          half before (pad) and the larger after, as TensorFlow does. */
struct gr_window {
    int64_t in, k, stride, dilation, ext, out, pad;
};

/* Fill w; -1 (with w->ext set) when a valid window does not fit the input. */
static inline int gr_window_init(struct gr_window *w, int64_t in, int64_t k, int64_t stride, int64_t dilation,
                                 int same) {
    w->in = in;
    w->k = k;
    w->stride = stride;
    w->dilation = dilation;
    w->ext = (k - 1) * dilation + 1;
    if (same) {
        w->out = (in + stride - 1) / stride;
        int64_t total = (w->out - 1) * stride + w->ext - in;
        w->pad = total > 0 ? total / 2 : 0;
        return 0;
    }
    if (in < w->ext) return -1;
    w->out = (in - w->ext) / stride + 1;
    w->pad = 0;
    return 0;
}

/* The taps j in [*j0, *j1) of output cell o that land inside the input. */
static inline void gr_window_taps(const struct gr_window *w, int64_t o, int64_t *j0, int64_t *j1) {
    int64_t start = o * w->stride - w->pad, d = w->dilation, lo, hi;
    if (d == 1) { /* the common case, without a division */
        lo = start >= 0 ? 0 : -start;
        hi = w->in - start;
    } else {
        lo = start >= 0 ? 0 : (-start + d - 1) / d;
        hi = w->in - start <= 0 ? 0 : (w->in - start + d - 1) / d;
    }
    *j0 = lo;
    *j1 = hi < w->k ? hi : w->k;
    if (*j1 < *j0) *j1 = *j0;
}

#endif
