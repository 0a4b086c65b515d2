/* avg_pool2d: the mean of each window, per channel (NHWC).
 *   y[b, oh, ow, c] = 1/n * sum over the window's n cells inside the image of x[b, ih, iw, c]
 * Windows as in ops/pool.h. With `same` padding, n counts only the cells
 * inside the image, as TensorFlow's average pooling does (padding is not a
 * zero that dilutes the edge).  Backward: dx[cell] += dy / n for each of
 * the window's n cells. Nothing is saved. */
#include "pool.h"

static const struct gr_attr_spec avgpool_attrs[] = POOL_ATTRS;

static int avgpool_infer(struct gr_infer *inf) {
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    struct pool_geom g;
    if (pool_geometry(inf, inf->in[0], inf->attrs, &g)) return -1;
    inf->out = (struct gr_shape){4, {g.B, g.OH, g.OW, g.C}};
    return 0;
}

struct avgpool_job {
    const struct gr_args *a;
    struct pool_geom g;
};

/* forward (backward = 0) or backward over images [b0, b1) */
static void run_images(const struct avgpool_job *j, int64_t b0, int64_t b1, int backward) {
    const struct pool_geom *g = &j->g;
    const float *x = j->a->in[0]->data, *dy = backward ? j->a->dout->data : NULL;
    float *y = j->a->out->data, *dx = backward ? j->a->din[0]->data : NULL;
    int64_t C = g->C;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t oh = 0; oh < g->OH; oh++) {
            int64_t h0, h1;
            gr_window_taps(&g->wh, oh, &h0, &h1);
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t w0, w1;
                gr_window_taps(&g->ww, ow, &w0, &w1);
                int64_t o = ((b * g->OH + oh) * g->OW + ow) * C;
                float inv = 1.0f / (float)((h1 - h0) * (w1 - w0));
                if (!backward)
                    for (int64_t c = 0; c < C; c++) y[o + c] = 0.0f;
                for (int64_t kh = h0; kh < h1; kh++)
                    for (int64_t kw = w0; kw < w1; kw++) {
                        int64_t ih = oh * g->wh.stride - g->wh.pad + kh, iw = ow * g->ww.stride - g->ww.pad + kw;
                        int64_t cell = ((b * g->H + ih) * g->W + iw) * C;
                        if (backward)
                            for (int64_t c = 0; c < C; c++) dx[cell + c] += dy[o + c] * inv;
                        else
                            for (int64_t c = 0; c < C; c++) y[o + c] += x[cell + c];
                    }
                if (!backward)
                    for (int64_t c = 0; c < C; c++) y[o + c] *= inv;
            }
        }
}

static void forward_images(void *arg, int64_t b0, int64_t b1) { run_images(arg, b0, b1, 0); }
static void backward_images(void *arg, int64_t b0, int64_t b1) { run_images(arg, b0, b1, 1); }

static void avgpool_forward(const struct gr_args *a) {
    struct avgpool_job j = {a, {0}};
    (void)pool_geometry(NULL, &a->in[0]->shape, a->attrs, &j.g); /* infer accepted these shapes */
    pool_for_images(a, &j.g, forward_images, &j);
}

static void avgpool_backward(const struct gr_args *a) {
    if (!a->din[0]) return;
    struct avgpool_job j = {a, {0}};
    (void)pool_geometry(NULL, &a->in[0]->shape, a->attrs, &j.g);
    pool_for_images(a, &j.g, backward_images, &j);
}

static void avgpool_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    struct pool_geom g;
    if (pool_geometry(NULL, inf->in[0], inf->attrs, &g)) return;
    double out = (double)gr_shape_count(&inf->out), taps = (double)g.wh.k * (double)g.ww.k;
    *fwd = out * (taps + 1);
    *bwd = out * taps;
}

/* AveragePool with count_include_pad = 0: the mean of the cells inside */
static int avgpool_lower(struct gr_lower *lw) {
    struct gr_onnx_attr inside = gr_onnx_int("count_include_pad", 0);
    return pool_lower(lw, "AveragePool", 1, &inside);
}

const struct gr_op_desc gr_op_avg_pool2d = {
    .name = "avg_pool2d",
    .summary = "y[B, OH, OW, C] = mean of each window of x[B, H, W, C] (NHWC; same padding averages inside cells only)",
    .inputs_doc = "x [B, H, W, C]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = avgpool_attrs,
    .n_attrs = POOL_N_ATTRS,
    .infer = avgpool_infer,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .flops = avgpool_flops,
    .lower = avgpool_lower,
};
