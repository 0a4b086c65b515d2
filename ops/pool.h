/* What max_pool2d and avg_pool2d share: the attribute schema and the window
 * geometry over NHWC images (x[B, H, W, C] -> y[B, OH, OW, C], each output
 * cell summarising a PH x PW window of one channel). */
#ifndef GR_OPS_POOL_H
#define GR_OPS_POOL_H

#include <string.h>

#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

enum { POOL_SIZE, POOL_STRIDES, POOL_PADDING, POOL_N_ATTRS };
static const char *const pool_padding_choices[] = {"valid", "same", NULL};
#define POOL_ATTRS                                                                                                     \
    {                                                                                                                  \
        [POOL_SIZE] = {"size", GR_ATTR_INTS, "window [PH, PW], or [P] for P x P", .def = "[2, 2]", .min = 1,          \
                       .max = 4096},                                                                                   \
        [POOL_STRIDES] = {"strides", GR_ATTR_INTS, "[SH, SW], or [S] for both; default: the window size",             \
                          .optional = 1, .min = 1, .max = 4096},                                                       \
        [POOL_PADDING] = {"padding", GR_ATTR_STRING, "valid: whole windows only; same: OH = ceil(H / SH)",            \
                          .def = "valid", .choices = pool_padding_choices},                                            \
    }

struct pool_geom {
    int64_t B, H, W, C, OH, OW;
    struct gr_window wh, ww;
};

/* The compact index a training max pool keeps where 2 x 2 windows tile the
 * image (one byte per output value), and batch_norm writes when it runs
 * the relu and the pool after it (GR_FUSED_POOL, ops/batch_norm_pool.c):
 * bits 0-1 the cell the max was taken from, 2 * row + column within the
 * window (the first max in that order on ties), plus POOL_MASKED where the
 * folded relu's mask stops dy (the max is not > 0). A byte equal to the
 * cell q (0 to 3) routes dy to q. */
#define POOL_CELL 3
#define POOL_MASKED 4

/* Shapes and attributes to geometry; with inf, every problem is reported
 * there (the kernels call it with NULL on shapes infer accepted). */
static inline int pool_geometry(struct gr_infer *inf, const struct gr_shape *x, const struct gr_attr_value *at,
                                struct pool_geom *g) {
    char s[96];
    if (x->rank != 4)
        return inf ? gr_infer_fail(inf, -1, "input must be [batch, height, width, channels], got %s",
                                   gr_shape_format(x, s, sizeof s))
                   : -1;
    const struct gr_attr_value *size = &at[POOL_SIZE], *st = &at[POOL_STRIDES];
    if (size->n < 1 || size->n > 2)
        return inf ? gr_infer_fail(inf, POOL_SIZE, "size: expected 1 or 2 values, got %d", size->n) : -1;
    if (st->present && (st->n < 1 || st->n > 2))
        return inf ? gr_infer_fail(inf, POOL_STRIDES, "strides: expected 1 or 2 values, got %d", st->n) : -1;
    int64_t ph = size->ints[0], pw = size->ints[size->n - 1];
    int64_t sh = st->present ? st->ints[0] : ph, sw = st->present ? st->ints[st->n - 1] : pw;
    int same = strcmp(at[POOL_PADDING].s, "same") == 0;
    memset(g, 0, sizeof *g);
    g->B = x->dim[0];
    g->H = x->dim[1];
    g->W = x->dim[2];
    g->C = x->dim[3];
    if (gr_window_init(&g->wh, g->H, ph, sh, 1, same))
        return inf ? gr_infer_fail(inf, POOL_SIZE, "size: the window has %lld rows but the input has %lld, and padding is valid",
                                   (long long)ph, (long long)g->H)
                   : -1;
    if (gr_window_init(&g->ww, g->W, pw, sw, 1, same))
        return inf ? gr_infer_fail(inf, POOL_SIZE,
                                   "size: the window has %lld columns but the input has %lld, and padding is valid",
                                   (long long)pw, (long long)g->W)
                   : -1;
    g->OH = g->wh.out;
    g->OW = g->ww.out;
    return 0;
}

/* fn over images [0, B) on the pool when the tensor is large enough to pay
 * for it; images never share cells, so any split gives the same values. */
static inline void pool_for_images(const struct gr_args *a, const struct pool_geom *g,
                                   void (*fn)(void *arg, int64_t b0, int64_t b1), void *arg) {
    if (g->B > 1 && g->B * g->H * g->W * g->C >= GR_PARALLEL_MIN) a->host->parallel_for(a->host_ctx, g->B, fn, arg);
    else fn(arg, 0, g->B);
}

/* MaxPool or AveragePool on NCHW (ops/lower.h) with TensorFlow's padding as
 * explicit pads; `extra` adds attributes (count_include_pad). */
static inline int pool_lower(struct gr_lower *lw, const char *op_type, int n_extra, const struct gr_onnx_attr *extra) {
    struct pool_geom g;
    if (pool_geometry(NULL, &lw->in_shape[0], lw->attrs, &g)) return gr_lower_fail(lw, "the input's geometry is invalid");
    int64_t kernel[2] = {g.wh.k, g.ww.k}, strides[2] = {g.wh.stride, g.ww.stride}, pads[4];
    gr_lower_pads(&g.wh, &g.ww, pads);
    struct gr_onnx_attr at[4] = {gr_onnx_ints("kernel_shape", 2, kernel), gr_onnx_ints("strides", 2, strides),
                                 gr_onnx_ints("pads", 4, pads)};
    if (n_extra > 1) return gr_lower_fail(lw, "too many attributes for a pool");
    if (n_extra) at[3] = extra[0];
    return gr_lower_nchw(lw, op_type, 0, NULL, 3 + n_extra, at);
}

#endif
