/* conv2d's geometry and its direct kernels (ops/conv2d_direct.c): the
 * sums written out for small patches (K = KH*KW*C <= CONV_DIRECT_K), where
 * an im2col copy and a product would cost more than the arithmetic. */
#ifndef GR_OPS_CONV2D_H
#define GR_OPS_CONV2D_H

#include <stdint.h>

#include "graphrun/plugin.h"
#include "util.h"

#define CONV_DIRECT_K 32

enum conv_mode { CONV_IM2COL, CONV_POINTWISE, CONV_DIRECT };

/* Everything the kernels need, derived from shapes and attributes alone. */
struct conv_geom {
    int64_t B, H, W, C, F, OH, OW, K; /* K = KH*KW*C */
    struct gr_window wh, ww;
    int64_t nb, blocks, parts; /* images per block, blocks, parts */
    enum conv_mode mode;
};

/* y[cell, :] = bias + the cell's sums, for images [b0, b1) */
void conv_direct_forward(const struct conv_geom *g, const float *restrict x, const float *restrict w,
                         const float *restrict bias, int64_t b0, int64_t b1, float *restrict y);
/* dkernel[t + c, f] += over the output cells of images [b0, b1), and
 * db[f] (unless NULL) += dy summed over them, with chains: 2*K*F + 4*F
 * floats of scratch for the running sums */
void conv_direct_dkernel(const struct conv_geom *g, const float *restrict x, const float *restrict dy, int64_t b0,
                         int64_t b1, float *restrict chains, float *restrict dw, float *restrict db);
/* dx += dy through the kernel, for images [b0, b1) */
void conv_direct_dx(const struct conv_geom *g, const float *restrict w, const float *restrict dy, int64_t b0,
                    int64_t b1, float *restrict dx);

#endif
