/* conv2d: a 2-D convolution over NHWC images, as TensorFlow's Conv2D.
 *   x[B, H, W, C] -> y[B, OH, OW, F]
 *   y[b, oh, ow, f] = bias[f] + sum_{kh, kw, c} x[b, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw, c] * kernel[kh, kw, c, f]
 * with x = 0 outside the image (padding). `valid` pads nothing; `same` makes
 * OH = ceil(H / sh), padding (OH - 1) * sh + (KH - 1) * dh + 1 - H rows in
 * all, the smaller half on top, as TensorFlow does (ops/util.h, gr_window).
 *
 * Parameters as Keras makes them: kernel [KH, KW, C, F] Glorot-uniform with
 * fan_in = KH*KW*C and fan_out = KH*KW*F (models/init.c: the receptive field
 * is the product of all axes but the last two), bias [F] zeros. PyTorch's
 * weight [F, C, KH, KW] is kernel.permute(3, 2, 0, 1).
 *
 * As products (im2col): for a block of images, col[R, K] with R = nb*OH*OW
 * output cells and K = KH*KW*C holds, in row r, the input patch that cell r
 * reads, in the kernel's (kh, kw, c) order, so that
 *   Y[R, F]  = col @ kernel[K, F] + bias
 *   dkernel += col^T @ dY            dbias += sum over rows of dY
 *   dcol     = dY @ kernel^T,  then dx += col2im(dcol) (each patch added back
 *              where it was read)
 * The batch is cut into blocks of whole images (a block's patches fill about
 * CONV_BLOCK_FLOATS, so col stays in cache) and the blocks into at most
 * CONV_PARTS parts; the pool runs parts, and a part runs its blocks in
 * order. The host's sgemm, called from inside a parallel_for job, runs on
 * that job's thread (nested parallelism runs inline): each thread multiplies
 * its own blocks, with no second level of threads. Blocks of different parts
 * write disjoint images of y and dx; dkernel and dbias are summed per part
 * into scratch and the parts added in order, so the result does not depend
 * on the number of threads. Told to assign dx (GR_OP_ASSIGNS_GRAD), a block
 * clears its images of dx before adding into them. Nothing is saved: backward rebuilds each block's
 * col, which is cheaper than keeping B*OH*OW*K floats between passes. A 1x1
 * kernel with stride 1 needs no col: x itself is [B*H*W, C]. A small patch
 * (K <= CONV_DIRECT_K, e.g. a first layer on 1 or 3 channels) is not worth a
 * product at all (OpenBLAS reaches half its speed with K = 9): it runs the
 * same sums directly, vectorised over the F filters of each output cell. */
#include <string.h>

#include "fastmath.h" /* GR_HAVE_V16: AVX-512 */
#include "graphrun/plugin.h"
#include "lower.h"
#include "conv2d.h"
#include "util.h"

#define CONV_BLOCK_FLOATS (1 << 17)
#define CONV_PARTS 8

enum { A_FILTERS, A_KERNEL, A_STRIDES, A_PADDING, A_DILATION };
static const char *const padding_choices[] = {"valid", "same", NULL};
static const struct gr_attr_spec conv_attrs[] = {
    [A_FILTERS] = {"filters", GR_ATTR_INT, "output channels F", .min = 1, .max = 1 << 20},
    [A_KERNEL] = {"kernel_size", GR_ATTR_INTS, "[KH, KW], or [K] for K x K", .min = 1, .max = 4096},
    [A_STRIDES] = {"strides", GR_ATTR_INTS, "[SH, SW], or [S] for both", .def = "[1, 1]", .min = 1, .max = 4096},
    [A_PADDING] = {"padding", GR_ATTR_STRING, "valid: no padding; same: OH = ceil(H / SH), TensorFlow's split",
                   .def = "valid", .choices = padding_choices},
    [A_DILATION] = {"dilation", GR_ATTR_INTS, "[DH, DW], or [D] for both: gaps between kernel taps", .def = "[1, 1]",
                    .min = 1, .max = 4096},
};
enum { P_KERNEL, P_BIAS };
static const struct gr_param_spec conv_params[] = {
    [P_KERNEL] = {"kernel", GR_INIT_GLOROT_UNIFORM, "[KH, KW, C, F]"},
    [P_BIAS] = {"bias", GR_INIT_ZEROS, "[F]"},
};
enum { IN_X, IN_KERNEL, IN_BIAS };

/* A 1- or 2-entry list attribute as (h, w); -1 if it has another length. */
static int pair(const struct gr_attr_value *v, int64_t *h, int64_t *w) {
    if (v->n < 1 || v->n > 2) return -1;
    *h = v->ints[0];
    *w = v->ints[v->n - 1];
    return 0;
}

/* Shapes to geometry, every check with the attribute to blame; 0 or an
 * error already in inf. Also used by the kernels (with inf == NULL, after
 * infer has succeeded on the same shapes). */
static int geometry(struct gr_infer *inf, const struct gr_shape *x, const struct gr_attr_value *at,
                    struct conv_geom *g) {
    int64_t kh, kw, sh, sw, dh, dw;
    if (pair(&at[A_KERNEL], &kh, &kw))
        return inf ? gr_infer_fail(inf, A_KERNEL, "kernel_size: expected 1 or 2 values, got %d", at[A_KERNEL].n) : -1;
    if (pair(&at[A_STRIDES], &sh, &sw))
        return inf ? gr_infer_fail(inf, A_STRIDES, "strides: expected 1 or 2 values, got %d", at[A_STRIDES].n) : -1;
    if (pair(&at[A_DILATION], &dh, &dw))
        return inf ? gr_infer_fail(inf, A_DILATION, "dilation: expected 1 or 2 values, got %d", at[A_DILATION].n) : -1;
    int same = strcmp(at[A_PADDING].s, "same") == 0;
    memset(g, 0, sizeof *g);
    g->B = x->dim[0];
    g->H = x->dim[1];
    g->W = x->dim[2];
    g->C = x->dim[3];
    g->F = at[A_FILTERS].i;
    if (gr_window_init(&g->wh, g->H, kh, sh, dh, same))
        return inf ? gr_infer_fail(inf, A_KERNEL,
                                   "kernel_size: the kernel spans %lld rows (%lld taps, dilation %lld) but the input "
                                   "has %lld, and padding is valid",
                                   (long long)g->wh.ext, (long long)kh, (long long)dh, (long long)g->H)
                   : -1;
    if (gr_window_init(&g->ww, g->W, kw, sw, dw, same))
        return inf ? gr_infer_fail(inf, A_KERNEL,
                                   "kernel_size: the kernel spans %lld columns (%lld taps, dilation %lld) but the "
                                   "input has %lld, and padding is valid",
                                   (long long)g->ww.ext, (long long)kw, (long long)dw, (long long)g->W)
                   : -1;
    g->OH = g->wh.out;
    g->OW = g->ww.out;
    int64_t kdims[3] = {kh, kw, g->C}, cell[3] = {g->OH, g->OW, 1};
    g->K = gr_prod_i64(kdims, 3);
    cell[2] = g->K;
    int64_t per_image = gr_prod_i64(cell, 3); /* col floats of one image */
    if (g->K < 0 || per_image < 0 || per_image > ((int64_t)1 << 40))
        return inf ? gr_infer_fail(inf, A_KERNEL, "kernel_size: the unfolded patches of one image are too large") : -1;
    g->nb = CONV_BLOCK_FLOATS / per_image;
    if (g->nb < 1) g->nb = 1;
    if (g->nb > g->B) g->nb = g->B;
    g->blocks = (g->B + g->nb - 1) / g->nb;
    g->parts = g->blocks < CONV_PARTS ? g->blocks : CONV_PARTS;
    g->mode = kh == 1 && kw == 1 && sh == 1 && sw == 1 ? CONV_POINTWISE
              : g->K <= CONV_DIRECT_K                     ? CONV_DIRECT
                                                          : CONV_IM2COL;
    return 0;
}

/* Scratch, in floats: per part a col and a dcol buffer of one block, then
 * per part the partial dkernel [K, F] and dbias [F], then kernel^T [F, K]
 * for backward's products (not in the direct mode), then per part the
 * direct dkernel's running sums (only in the direct mode). */
static int64_t col_floats(const struct conv_geom *g) { return g->mode == CONV_IM2COL ? g->nb * g->OH * g->OW * g->K : 0; }
static int64_t partial_floats(const struct conv_geom *g) { return g->K * g->F + g->F; }
static int64_t kernel_t_floats(const struct conv_geom *g) { return g->mode == CONV_DIRECT ? 0 : g->K * g->F; }
/* per part, the direct dkernel's running sums (conv_direct_dkernel) */
static int64_t chain_floats(const struct conv_geom *g) { return g->mode == CONV_DIRECT ? 2 * g->K * g->F + 4 * g->F : 0; }

static int conv_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    char s[96];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank != 4)
        return gr_infer_fail(inf, -1, "input must be [batch, height, width, channels], got %s",
                             gr_shape_format(x, s, sizeof s));
    struct conv_geom g;
    if (geometry(inf, x, inf->attrs, &g)) return -1;
    int64_t kf;
    if (gr_mul_i64(g.K, g.F, &kf) || kf > ((int64_t)1 << 36))
        return gr_infer_fail(inf, A_FILTERS, "filters: the kernel [%lld, %lld, %lld, %lld] is too large", (long long)g.wh.k,
                             (long long)g.ww.k, (long long)g.C, (long long)g.F);
    inf->out = (struct gr_shape){4, {g.B, g.OH, g.OW, g.F}};
    inf->param[P_KERNEL] = (struct gr_shape){4, {g.wh.k, g.ww.k, g.C, g.F}};
    inf->param[P_BIAS] = (struct gr_shape){1, {g.F}};
    /* forward: a col per part; backward also a dcol per part and the partials */
    int64_t per_part = inf->training ? 2 * col_floats(&g) + partial_floats(&g) + chain_floats(&g) : col_floats(&g);
    int64_t floats;
    if (gr_mul_i64(per_part, g.parts, &floats) || floats > ((int64_t)1 << 38))
        return gr_infer_fail(inf, -1, "working memory is too large");
    if (inf->training) floats += kernel_t_floats(&g);
    inf->scratch_bytes = (size_t)floats * sizeof(float);
    return 0;
}

/* d[0, n) = s[0, n), or 0 where s is NULL: a copy of a patch row is a few
 * hundred bytes, where a call to memcpy or memset costs as much as the
 * copy. */
static inline void copy_floats(float *restrict d, const float *restrict s, int64_t n) {
    int64_t i = 0;
#ifdef GR_HAVE_V16
    __m512 z = _mm512_setzero_ps();
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_ps(d + i, s ? _mm512_loadu_ps(s + i) : z);
        _mm512_storeu_ps(d + i + 16, s ? _mm512_loadu_ps(s + i + 16) : z);
    }
    if (i + 16 <= n) _mm512_storeu_ps(d + i, s ? _mm512_loadu_ps(s + i) : z), i += 16;
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(d + i, m, s ? _mm512_maskz_loadu_ps(m, s + i) : _mm512_setzero_ps());
    }
#else
    for (; i < n; i++) d[i] = s ? s[i] : 0.0f;
#endif
}

/* Patches of images [b0, b1) into col, rows (b, oh, ow), columns (kh, kw, c). */
static void im2col(const struct conv_geom *g, const float *x, int64_t b0, int64_t b1, float *col) {
    const struct gr_window *wh = &g->wh, *ww = &g->ww;
    int64_t C = g->C, KW = ww->k, row_len = g->K;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t oh = 0; oh < g->OH; oh++) {
            int64_t kh0, kh1;
            gr_window_taps(wh, oh, &kh0, &kh1);
            for (int64_t ow = 0; ow < g->OW; ow++) {
                float *dst = col + (((b - b0) * g->OH + oh) * g->OW + ow) * row_len;
                int64_t kw0, kw1;
                gr_window_taps(ww, ow, &kw0, &kw1);
                for (int64_t kh = 0; kh < wh->k; kh++) {
                    float *d = dst + kh * KW * C;
                    if (kh < kh0 || kh >= kh1 || kw0 == kw1) {
                        copy_floats(d, NULL, KW * C);
                        continue;
                    }
                    int64_t ih = oh * wh->stride - wh->pad + kh * wh->dilation;
                    const float *src = x + ((b * g->H + ih) * g->W) * C;
                    copy_floats(d, NULL, kw0 * C);
                    if (ww->dilation == 1) /* the taps are contiguous in x */
                        copy_floats(d + kw0 * C, src + (ow * ww->stride - ww->pad + kw0) * C, (kw1 - kw0) * C);
                    else
                        for (int64_t kw = kw0; kw < kw1; kw++)
                            copy_floats(d + kw * C, src + (ow * ww->stride - ww->pad + kw * ww->dilation) * C, C);
                    copy_floats(d + kw1 * C, NULL, (KW - kw1) * C);
                }
            }
        }
}

/* d[0, n) += s[0, n), written out for col2im's short runs like copy_floats */
static inline void add_floats(float *restrict d, const float *restrict s, int64_t n) {
    int64_t i = 0;
#ifdef GR_HAVE_V16
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_ps(d + i, _mm512_add_ps(_mm512_loadu_ps(d + i), _mm512_loadu_ps(s + i)));
        _mm512_storeu_ps(d + i + 16, _mm512_add_ps(_mm512_loadu_ps(d + i + 16), _mm512_loadu_ps(s + i + 16)));
    }
    if (i + 16 <= n) _mm512_storeu_ps(d + i, _mm512_add_ps(_mm512_loadu_ps(d + i), _mm512_loadu_ps(s + i))), i += 16;
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(d + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + i), _mm512_maskz_loadu_ps(m, s + i)));
    }
#else
    for (; i < n; i++) d[i] += s[i];
#endif
}

/* dx += col2im(dcol) for images [b0, b1): the reverse of im2col, padding dropped. */
static void col2im(const struct conv_geom *g, const float *dcol, int64_t b0, int64_t b1, float *dx) {
    const struct gr_window *wh = &g->wh, *ww = &g->ww;
    int64_t C = g->C, KW = ww->k, row_len = g->K;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t oh = 0; oh < g->OH; oh++) {
            int64_t kh0, kh1;
            gr_window_taps(wh, oh, &kh0, &kh1);
            for (int64_t ow = 0; ow < g->OW; ow++) {
                const float *src = dcol + (((b - b0) * g->OH + oh) * g->OW + ow) * row_len;
                int64_t kw0, kw1;
                gr_window_taps(ww, ow, &kw0, &kw1);
                for (int64_t kh = kh0; kh < kh1; kh++) {
                    int64_t ih = oh * wh->stride - wh->pad + kh * wh->dilation;
                    float *drow = dx + ((b * g->H + ih) * g->W) * C;
                    const float *s = src + kh * KW * C;
                    if (ww->dilation == 1)
                        add_floats(drow + (ow * ww->stride - ww->pad + kw0) * C, s + kw0 * C, (kw1 - kw0) * C);
                    else
                        for (int64_t kw = kw0; kw < kw1; kw++)
                            add_floats(drow + (ow * ww->stride - ww->pad + kw * ww->dilation) * C, s + kw * C, C);
                }
            }
        }
}

#ifdef GR_HAVE_V16
/* add_rows on NV vectors of columns from f0 at once, four chains each: one
 * pass over the rows reads each row's NV * 16 floats together, where a
 * pass per vector read the rows again (and fetched the neighbouring
 * vector's cache lines for nothing). */
static inline __attribute__((always_inline)) void add_rows_v(const float *restrict m, int64_t rows, int64_t F,
                                                             int64_t f0, int NV, float *restrict sum) {
    __m512 a[4][4];
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) a[0][v] = a[1][v] = a[2][v] = a[3][v] = _mm512_setzero_ps();
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4)
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            a[k][v] = _mm512_add_ps(a[k][v], _mm512_loadu_ps(m + (r + k) * F + f0 + 16 * v));
    for (; r < rows; r++)
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)
            a[0][v] = _mm512_add_ps(a[0][v], _mm512_loadu_ps(m + r * F + f0 + 16 * v));
    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {
        __m512 t = _mm512_add_ps(_mm512_add_ps(a[0][v], a[1][v]), _mm512_add_ps(a[2][v], a[3][v]));
        _mm512_storeu_ps(sum + f0 + 16 * v, _mm512_add_ps(t, _mm512_loadu_ps(sum + f0 + 16 * v)));
    }
}
#endif

/* sum[f] += sum over `rows` rows of m[r, f] (rows of F floats), summing
 * each column of 16 in four chains of rows (r mod 4, the last rows % 4
 * rows in the first) */
static void add_rows(const float *restrict m, int64_t rows, int64_t F, float *restrict sum) {
    int64_t f0 = 0;
#ifdef GR_HAVE_V16
    for (; f0 + 64 <= F; f0 += 64) add_rows_v(m, rows, F, f0, 4, sum);
    if (f0 + 32 <= F) add_rows_v(m, rows, F, f0, 2, sum), f0 += 32;
    if (f0 + 16 <= F) add_rows_v(m, rows, F, f0, 1, sum), f0 += 16;
#endif
    for (int64_t r = 0; r < rows; r++)
        for (int64_t f = f0; f < F; f++) sum[f] += m[r * F + f];
}

struct conv_job {
    const struct gr_args *a;
    struct conv_geom g;
    float *scratch;
};

/* Images [b0, b1) of block k, and the blocks [k0, k1) of part p. */
static void block_range(const struct conv_geom *g, int64_t k, int64_t *b0, int64_t *b1) {
    *b0 = k * g->nb;
    *b1 = *b0 + g->nb < g->B ? *b0 + g->nb : g->B;
}
static void part_range(const struct conv_geom *g, int64_t p, int64_t *k0, int64_t *k1) {
    *k0 = g->blocks * p / g->parts;
    *k1 = g->blocks * (p + 1) / g->parts;
}

static void forward_parts(void *arg, int64_t p0, int64_t p1) {
    const struct conv_job *j = arg;
    const struct gr_args *a = j->a;
    const struct conv_geom *g = &j->g;
    const float *x = a->in[IN_X]->data, *w = a->in[IN_KERNEL]->data, *bias = a->in[IN_BIAS]->data;
    float *y = a->out->data;
    float *col = j->scratch + p0 * col_floats(g); /* one buffer per job: the first part's */
    int64_t cells = g->OH * g->OW, F = g->F;
    for (int64_t p = p0; p < p1; p++) {
        int64_t k0, k1;
        part_range(g, p, &k0, &k1);
        for (int64_t k = k0; k < k1; k++) {
            int64_t b0, b1;
            block_range(g, k, &b0, &b1);
            int64_t rows = (b1 - b0) * cells;
            float *yb = y + b0 * cells * F;
            if (g->mode == CONV_DIRECT) {
                conv_direct_forward(g, x, w, bias, b0, b1, y);
                continue;
            }
            const float *src = col;
            if (g->mode == CONV_POINTWISE) src = x + b0 * cells * g->C;
            else im2col(g, x, b0, b1, col);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t f = 0; f < F; f++) yb[r * F + f] = bias[f];
            a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, rows, F, g->K, 1.0f, src, g->K, w, F, 1.0f, yb, F);
        }
    }
}

static void conv_forward(const struct gr_args *a) {
    struct conv_job j = {a, {0}, a->scratch};
    (void)geometry(NULL, &a->in[IN_X]->shape, a->attrs, &j.g); /* infer accepted these shapes */
    a->host->parallel_for(a->host_ctx, j.g.parts, forward_parts, &j);
}

/* Part p's partial dkernel [K, F] and dbias [F] over its blocks; its dx. */
static void backward_parts(void *arg, int64_t p0, int64_t p1) {
    const struct conv_job *j = arg;
    const struct gr_args *a = j->a;
    const struct conv_geom *g = &j->g;
    const float *x = a->in[IN_X]->data, *w = a->in[IN_KERNEL]->data, *dy = a->dout->data;
    float *dx = a->din[IN_X] ? a->din[IN_X]->data : NULL;
    int want_dw = a->din[IN_KERNEL] != NULL, want_db = a->din[IN_BIAS] != NULL, assign = gr_din_assigns(a, IN_X);
    int64_t cf = col_floats(g), cells = g->OH * g->OW, F = g->F, K = g->K;
    float *col = j->scratch + p0 * 2 * cf, *dcol = col + cf;
    float *partials = j->scratch + g->parts * 2 * cf, *wt = partials + g->parts * partial_floats(g);
    float *chains = wt + kernel_t_floats(g) + p0 * chain_floats(g); /* one per job: the first part's */
    for (int64_t p = p0; p < p1; p++) {
        float *pw = partials + p * partial_floats(g), *pb = pw + K * F;
        int64_t k0, k1;
        part_range(g, p, &k0, &k1);
        memset(pw, 0, (size_t)partial_floats(g) * sizeof(float));
        for (int64_t k = k0; k < k1; k++) {
            int64_t b0, b1;
            block_range(g, k, &b0, &b1);
            int64_t rows = (b1 - b0) * cells;
            const float *dyb = dy + b0 * cells * F;
            /* the direct dkernel sums dbias too, image by image */
            if (want_db && !(g->mode == CONV_DIRECT && want_dw)) add_rows(dyb, rows, F, pb);
            if (dx && assign && g->mode != CONV_POINTWISE) /* the block's images, cleared while in cache */
                memset(dx + b0 * g->H * g->W * g->C, 0, (size_t)((b1 - b0) * g->H * g->W * g->C) * sizeof *dx);
            if (g->mode == CONV_DIRECT) {
                if (want_dw) conv_direct_dkernel(g, x, dy, b0, b1, chains, pw, want_db ? pb : NULL);
                if (dx) conv_direct_dx(g, w, dy, b0, b1, dx);
                continue;
            }
            if (want_dw) {
                const float *src = col;
                if (g->mode == CONV_POINTWISE) src = x + b0 * cells * g->C;
                else im2col(g, x, b0, b1, col);
                a->host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, K, F, rows, 1.0f, src, K, dyb, F, 1.0f, pw, F);
            }
            if (!dx) continue;
            if (g->mode == CONV_POINTWISE) { /* dx rows are the cells: add dY @ kernel^T straight in */
                a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, rows, K, F, 1.0f, dyb, F, wt, K,
                               assign ? 0.0f : 1.0f, dx + b0 * cells * g->C, K);
                continue;
            }
            a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, rows, K, F, 1.0f, dyb, F, wt, K, 0.0f, dcol, K);
            col2im(g, dcol, b0, b1, dx);
        }
    }
}

/* dkernel and dbias += the parts' partials, in part order, for elements [e0, e1). */
static void reduce_parts(void *arg, int64_t e0, int64_t e1) {
    const struct conv_job *j = arg;
    const struct conv_geom *g = &j->g;
    const float *partials = j->scratch + g->parts * 2 * col_floats(g);
    int64_t KF = g->K * g->F, stride = partial_floats(g);
    float *dw = j->a->din[IN_KERNEL] ? j->a->din[IN_KERNEL]->data : NULL;
    float *db = j->a->din[IN_BIAS] ? j->a->din[IN_BIAS]->data : NULL;
    for (int64_t e = e0; e < e1; e++) {
        float *dst = e < KF ? dw : db;
        if (!dst) continue;
        float s = 0.0f;
        for (int64_t p = 0; p < g->parts; p++) s += partials[p * stride + e];
        dst[e < KF ? e : e - KF] += s;
    }
}

/* kernel^T [F, K] into scratch: dY @ kernel^T as a product of untransposed
 * matrices, which graphrun's A @ B kernel runs without copying B^T's panels
 * for every block of rows (runtime/host/gemm.c; the same bits as its
 * A @ B^T); OpenBLAS's A @ B^T took about 1.4 times as long on
 * [rows, 64] x [64, 288] (the MNIST CNN's second convolution, in a
 * profile). */
static void transpose_kernel(const struct conv_job *j) {
    const struct conv_geom *g = &j->g;
    const float *w = j->a->in[IN_KERNEL]->data;
    float *wt = j->scratch + g->parts * (2 * col_floats(g) + partial_floats(g));
    gr_transpose(w, g->K, g->F, wt);
}

static void conv_backward(const struct gr_args *a) {
    struct conv_job j = {a, {0}, a->scratch};
    (void)geometry(NULL, &a->in[IN_X]->shape, a->attrs, &j.g); /* infer accepted these shapes */
    if (a->din[IN_X] && j.g.mode != CONV_DIRECT) transpose_kernel(&j);
    a->host->parallel_for(a->host_ctx, j.g.parts, backward_parts, &j);
    if (a->din[IN_KERNEL] || a->din[IN_BIAS]) a->host->parallel_for(a->host_ctx, partial_floats(&j.g), reduce_parts, &j);
}

static void conv_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    struct conv_geom g;
    if (geometry(NULL, inf->in[0], inf->attrs, &g)) return;
    double cells = (double)g.B * (double)g.OH * (double)g.OW, mac = cells * (double)g.K * (double)g.F;
    *fwd = 2 * mac + cells * (double)g.F;
    /* the input's and the kernel's gradients, each where it is wanted */
    *bwd = (inf->in_grad[IN_X] + inf->in_grad[IN_KERNEL]) * 2 * mac + cells * (double)g.F;
}

/* Conv on NCHW (gr_lower_nchw) with the kernel as ONNX lays it,
 * W[f, c, kh, kw] = kernel[kh, kw, c, f], and TensorFlow's padding as
 * explicit pads. */
static int conv_lower(struct gr_lower *lw) {
    struct conv_geom g;
    if (geometry(NULL, &lw->in_shape[IN_X], lw->attrs, &g)) return gr_lower_fail(lw, "the input's geometry is invalid");
    const float *k = gr_lower_value(lw, IN_KERNEL);
    int64_t kh = g.wh.k, kw = g.ww.k, C = g.C, F = g.F, dims[4] = {F, C, kh, kw};
    const char *w_name = NULL;
    float *w = k ? lw->onnx->initializer(lw, "W", GR_ONNX_FLOAT, 4, dims, &w_name) : NULL;
    if (!w) return -1;
    for (int64_t f = 0; f < F; f++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < kh * kw; i++) w[(f * C + c) * kh * kw + i] = k[(i * C + c) * F + f];
    int64_t kernel[2] = {kh, kw}, strides[2] = {g.wh.stride, g.ww.stride}, dil[2] = {g.wh.dilation, g.ww.dilation};
    int64_t pads[4];
    gr_lower_pads(&g.wh, &g.ww, pads);
    struct gr_onnx_attr at[4] = {gr_onnx_ints("kernel_shape", 2, kernel), gr_onnx_ints("strides", 2, strides),
                                 gr_onnx_ints("dilations", 2, dil), gr_onnx_ints("pads", 4, pads)};
    const char *extra[2] = {w_name, lw->in[IN_BIAS]};
    return gr_lower_nchw(lw, "Conv", 2, extra, 4, at);
}

const struct gr_op_desc gr_op_conv2d = {
    .name = "conv2d",
    .summary = "y[B, OH, OW, F] = conv(x[B, H, W, C], kernel[KH, KW, C, F]) + bias[F] (NHWC, TensorFlow padding)",
    .inputs_doc = "x [B, H, W, C]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = conv_attrs,
    .n_attrs = 5,
    .params = conv_params,
    .n_params = 2,
    .infer = conv_infer,
    .forward = conv_forward,
    .backward = conv_backward,
    .flops = conv_flops,
    .flags = GR_OP_ASSIGNS_GRAD,
    .lower = conv_lower,
};
