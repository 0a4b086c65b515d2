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
 * index within its image (int32, one per output value) for backward. */
#include <float.h>
#include <string.h>

#include "pool.h"

static const struct gr_attr_spec maxpool_attrs[] = POOL_ATTRS;

static int maxpool_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    struct pool_geom g;
    if (pool_geometry(inf, inf->in[0], inf->attrs, &g)) return -1;
    int64_t image = gr_prod_i64(inf->in[0]->dim + 1, 3);
    if (image < 0 || image > INT32_MAX)
        return gr_infer_fail(inf, -1, "an image of %lld values is too large to index with int32",
                             (long long)image);
    inf->out = (struct gr_shape){4, {g.B, g.OH, g.OW, g.C}};
    if (inf->training) inf->saved_bytes = (size_t)gr_shape_count(&inf->out) * sizeof(int32_t);
    return 0;
}

struct maxpool_job {
    const struct gr_args *a;
    struct pool_geom g;
};

/* Windows that tile the image (stride = size, no padding, nothing left
 * over): each cell of dx lies in exactly one window. */
static int tiles(const struct pool_geom *g) {
    return g->wh.stride == g->wh.k && g->ww.stride == g->ww.k && g->wh.pad == 0 && g->ww.pad == 0 &&
           g->OH * g->wh.k == g->H && g->OW * g->ww.k == g->W;
}

/* Training forward of image b where 2 x 2 windows tile it: the four cells
 * of a channel compared in registers, first to last with a strict >, as
 * the general loop does (the first max wins ties; a NaN in the first cell
 * stays, a later one is passed over), so it vectorises over channels. */
static void forward_tiled_2x2(const struct maxpool_job *j, int64_t b) {
    const struct pool_geom *g = &j->g;
    int64_t C = g->C, W = g->W;
    const float *xb = (const float *)j->a->in[0]->data + b * g->H * W * C;
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow = 0; ow < g->OW; ow++) {
            int64_t o = ((b * g->OH + oh) * g->OW + ow) * C;
            int32_t c0 = (int32_t)((2 * oh * W + 2 * ow) * C), c1 = c0 + (int32_t)C, c2 = c0 + (int32_t)(W * C),
                    c3 = c2 + (int32_t)C;
            float *restrict yo = (float *)j->a->out->data + o;
            int32_t *restrict ao = (int32_t *)j->a->saved + o;
            for (int64_t c = 0; c < C; c++) {
                float m = xb[c0 + c], v1 = xb[c1 + c], v2 = xb[c2 + c], v3 = xb[c3 + c];
                int32_t at = c0;
                if (v1 > m) m = v1, at = c1;
                if (v2 > m) m = v2, at = c2;
                if (v3 > m) m = v3, at = c3;
                yo[c] = m;
                ao[c] = at + (int32_t)c;
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
    int fast = arg_max && tiles(g) && g->wh.k == 2 && g->ww.k == 2;
    for (int64_t b = b0; b < b1; b++) {
        if (fast) {
            forward_tiled_2x2(j, b);
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
