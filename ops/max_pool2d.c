/* max_pool2d: the largest value of each window, per channel (NHWC).
 *   y[b, oh, ow, c] = max over the window's cells inside the image of x[b, ih, iw, c]
 * Windows as in ops/pool.h: `size` [PH, PW], `strides` (default: the size),
 * `padding` valid or same (TensorFlow's; padded cells are never the max).
 * Backward routes each dy to the cell that was the max, the first one in
 * (row, column) order on ties: dx[argmax] += dy (when told to assign, each
 * image's dx is cleared first: a cell no window took gets 0; where the
 * windows tile the image, each cell is written once instead). When its
 * input is a relu folded into the node before (GR_FUSED_MASK_RELU) it
 * routes dy only where y > 0: the relu passed the cell taken exactly
 * then, and that node skips the relu's mask. Training keeps that cell's
 * index within its image (int32, one per output value) for backward; where
 * 2 x 2 windows tile the image, one byte instead: the cell within its
 * window (0 to 3), plus POOL_MASKED when the relu's mask stops dy there,
 * so backward reads neither y nor an int32. */
#include <float.h>
#include <string.h>

#include "pool.h"

static const struct gr_attr_spec maxpool_attrs[] = POOL_ATTRS;

/* Windows that tile the image (stride = size, no padding, nothing left
 * over): each cell of dx lies in exactly one window. */
static int tiles(const struct pool_geom *g) {
    return g->wh.stride == g->wh.k && g->ww.stride == g->ww.k && g->wh.pad == 0 && g->ww.pad == 0 &&
           g->OH * g->wh.k == g->H && g->OW * g->ww.k == g->W;
}

/* 2 x 2 windows tiling the image: training keeps one byte per output */
static int compact(const struct pool_geom *g) { return tiles(g) && g->wh.k == 2 && g->ww.k == 2; }

static int maxpool_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    struct pool_geom g;
    if (pool_geometry(inf, inf->in[0], inf->attrs, &g)) return -1;
    int64_t image = gr_prod_i64(inf->in[0]->dim + 1, 3);
    if (image < 0 || image > INT32_MAX)
        return gr_infer_fail(inf, -1, "an image of %lld values is too large to index with int32",
                             (long long)image);
    inf->out = (struct gr_shape){4, {g.B, g.OH, g.OW, g.C}};
    if (inf->training)
        inf->saved_bytes = (size_t)gr_shape_count(&inf->out) * (compact(&g) ? sizeof(uint8_t) : sizeof(int32_t));
    return 0;
}

struct maxpool_job {
    const struct gr_args *a;
    struct pool_geom g;
};

/* Training forward of image b where 2 x 2 windows tile it: the four cells
 * of a channel compared in registers, first to last with a strict >, as
 * the general loop does (the first max wins ties; a NaN in the first cell
 * stays, a later one is passed over), so it vectorises over channels; the
 * cell taken kept in a byte, with POOL_MASKED where `mask` and not y > 0;
 * `mask` constant where inlined. */
static inline __attribute__((always_inline)) void forward_tiled_2x2(const struct maxpool_job *j, int64_t b,
                                                                    int mask) {
    const struct pool_geom *g = &j->g;
    int64_t C = g->C, W = g->W;
    const float *xb = (const float *)j->a->in[0]->data + b * g->H * W * C;
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow = 0; ow < g->OW; ow++) {
            int64_t o = ((b * g->OH + oh) * g->OW + ow) * C;
            const float *restrict x0 = xb + (2 * oh * W + 2 * ow) * C, *restrict x1 = x0 + C, *restrict x2 = x0 + W * C,
                                  *restrict x3 = x2 + C;
            float *restrict yo = (float *)j->a->out->data + o;
            uint8_t *restrict ao = (uint8_t *)j->a->saved + o;
            for (int64_t c = 0; c < C; c++) {
                float m = x0[c];
                uint8_t at = 0;
                if (x1[c] > m) m = x1[c], at = 1;
                if (x2[c] > m) m = x2[c], at = 2;
                if (x3[c] > m) m = x3[c], at = 3;
                yo[c] = m;
                ao[c] = (uint8_t)(at | (mask && !(m > 0.0f) ? POOL_MASKED : 0));
            }
        }
}

static void forward_images(void *arg, int64_t b0, int64_t b1) {
    const struct maxpool_job *j = arg;
    const struct pool_geom *g = &j->g;
    const float *x = j->a->in[0]->data;
    float *y = j->a->out->data;
    int32_t *arg_max = j->a->saved; /* NULL when evaluating */
    int64_t C = g->C;
    int fast = arg_max && compact(g), mask = (j->a->fused & GR_FUSED_MASK_RELU) != 0;
    for (int64_t b = b0; b < b1; b++) {
        if (fast) {
            if (mask) forward_tiled_2x2(j, b, 1);
            else forward_tiled_2x2(j, b, 0);
            continue;
        }
        const float *xb = x + b * g->H * g->W * C;
        for (int64_t oh = 0; oh < g->OH; oh++) {
            int64_t h0, h1;
            gr_window_taps(&g->wh, oh, &h0, &h1);
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t w0, w1;
                gr_window_taps(&g->ww, ow, &w0, &w1);
                int64_t o = ((b * g->OH + oh) * g->OW + ow) * C;
                float *yo = y + o;
                int32_t *ao = arg_max ? arg_max + o : NULL;
                for (int64_t c = 0; c < C; c++) yo[c] = -FLT_MAX;
                for (int64_t kh = h0; kh < h1; kh++)
                    for (int64_t kw = w0; kw < w1; kw++) {
                        int64_t cell = ((oh * g->wh.stride - g->wh.pad + kh) * g->W + ow * g->ww.stride - g->ww.pad + kw) * C;
                        const float *xc = xb + cell;
                        if (ao) {
                            for (int64_t c = 0; c < C; c++)
                                if (xc[c] > yo[c] || (kh == h0 && kw == w0)) {
                                    yo[c] = xc[c];
                                    ao[c] = (int32_t)(cell + c);
                                }
                        } else {
                            for (int64_t c = 0; c < C; c++) yo[c] = xc[c] > yo[c] ? xc[c] : yo[c];
                        }
                    }
            }
        }
    }
}

static void maxpool_forward(const struct gr_args *a) {
    struct maxpool_job j = {a, {0}};
    (void)pool_geometry(NULL, &a->in[0]->shape, a->attrs, &j.g); /* infer accepted these shapes */
    pool_for_images(a, &j.g, forward_images, &j);
}

/* dx of image b where 2 x 2 windows tile it, from the compact indices:
 * each cell of dx is that of one window, dy (masked) where it was the max;
 * assigning, 0 elsewhere, and 0.0f + dy keeps the bits adding into a
 * cleared dx gives (+0 for -0); adding, a masked dy adds +0 as the relu's
 * backward would. `assign` constant where inlined. */
static inline __attribute__((always_inline)) void backward_tiled_2x2(const struct maxpool_job *j, int64_t b,
                                                                     int assign) {
    const struct pool_geom *g = &j->g;
    int64_t C = g->C, W = g->W;
    float *dxb = (float *)j->a->din[0]->data + b * g->H * W * C;
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow = 0; ow < g->OW; ow++) {
            int64_t o = ((b * g->OH + oh) * g->OW + ow) * C;
            const float *restrict dy = (const float *)j->a->dout->data + o;
            const uint8_t *restrict at = (const uint8_t *)j->a->saved + o;
            float *restrict d[4] = {dxb + (2 * oh * W + 2 * ow) * C};
            d[1] = d[0] + C, d[2] = d[0] + W * C, d[3] = d[2] + C;
            for (int q = 0; q < 4; q++)
                for (int64_t c = 0; c < C; c++) {
                    float v = at[c] & POOL_MASKED ? 0.0f : dy[c];
                    if (assign) d[q][c] = (at[c] & POOL_CELL) == q ? 0.0f + v : 0.0f;
                    else if ((at[c] & POOL_CELL) == q) d[q][c] += v;
                }
        }
}

/* Assigning dx of image b where windows tile it: each cell written once, in
 * window order, dy (masked) where it was the max, else 0; 0.0f + v keeps
 * the bits that adding into a cleared dx gives (+0 for -0). */
static void assign_tiled(const struct maxpool_job *j, int64_t b, int mask) {
    const struct pool_geom *g = &j->g;
    const float *dy = j->a->dout->data, *y = j->a->out->data;
    const int32_t *arg_max = j->a->saved;
    float *dx = (float *)j->a->din[0]->data + b * g->H * g->W * g->C;
    int64_t C = g->C;
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow = 0; ow < g->OW; ow++) {
            int64_t o = ((b * g->OH + oh) * g->OW + ow) * C;
            for (int64_t kh = 0; kh < g->wh.k; kh++)
                for (int64_t kw = 0; kw < g->ww.k; kw++) {
                    int32_t cell = (int32_t)(((oh * g->wh.k + kh) * g->W + ow * g->ww.k + kw) * C);
                    float *d = dx + cell;
                    for (int64_t c = 0; c < C; c++) {
                        float v = mask ? gr_relu_masked(dy[o + c], y[o + c]) : dy[o + c];
                        d[c] = arg_max[o + c] == cell + (int32_t)c ? 0.0f + v : 0.0f;
                    }
                }
        }
}

static void backward_images(void *arg, int64_t b0, int64_t b1) {
    const struct maxpool_job *j = arg;
    const struct pool_geom *g = &j->g;
    const float *dy = j->a->dout->data, *y = j->a->out->data;
    const int32_t *arg_max = j->a->saved;
    int mask = (j->a->fused & GR_FUSED_MASK_RELU) != 0, assign = gr_din_assigns(j->a, 0);
    float *dx = j->a->din[0]->data;
    int64_t per_out = g->OH * g->OW * g->C, per_in = g->H * g->W * g->C;
    for (int64_t b = b0; b < b1; b++) {
        if (compact(g)) {
            if (assign) backward_tiled_2x2(j, b, 1);
            else backward_tiled_2x2(j, b, 0);
            continue;
        }
        if (assign && tiles(g)) {
            assign_tiled(j, b, mask);
            continue;
        }
        if (assign) memset(dx + b * per_in, 0, (size_t)per_in * sizeof *dx);
        if (mask) /* dx = relu's backward of what is routed: y > 0 where the cell taken passed the relu */
            for (int64_t o = b * per_out; o < (b + 1) * per_out; o++)
                dx[b * per_in + arg_max[o]] += gr_relu_masked(dy[o], y[o]);
        else
            for (int64_t o = b * per_out; o < (b + 1) * per_out; o++) dx[b * per_in + arg_max[o]] += dy[o];
    }
}

static void maxpool_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    struct maxpool_job j = {a, {0}};
    (void)pool_geometry(NULL, &a->in[0]->shape, a->attrs, &j.g);
    pool_for_images(a, &j.g, backward_images, &j);
}

static void maxpool_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    struct pool_geom g;
    if (pool_geometry(NULL, inf->in[0], inf->attrs, &g)) return;
    double out = (double)gr_shape_count(&inf->out);
    *fwd = out * (double)g.wh.k * (double)g.ww.k;
    *bwd = out;
}

/* MaxPool: a padded cell is never the max, in ONNX as here */
static int maxpool_lower(struct gr_lower *lw) { return pool_lower(lw, "MaxPool", 0, NULL); }

const struct gr_op_desc gr_op_max_pool2d = {
    .name = "max_pool2d",
    .summary = "y[B, OH, OW, C] = max of each window of x[B, H, W, C] (NHWC); dy goes to the first max",
    .inputs_doc = "x [B, H, W, C]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = maxpool_attrs,
    .n_attrs = POOL_N_ATTRS,
    .infer = maxpool_infer,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .flops = maxpool_flops,
    .flags = GR_OP_ASSIGNS_GRAD | GR_OP_MASKS_RELU,
    .lower = maxpool_lower,
};
