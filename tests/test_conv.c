/* conv2d's direct kernels (ops/conv2d_direct.c, K = KH*KW*C <= 32) against
 * a plain reference written element by element, which makes each sum with
 * the same operations in the same order, so the two agree bit for bit:
 *   y:       a cell of the interior run (AVX-512, F a multiple of 16: from
 *            the first column whose taps are all inside the image, whole
 *            groups of 4) starts at the bias and takes one fused
 *            multiply-add per tap in (kh, kw, c) order; any other cell sums
 *            its taps from 0 (fused in chunks of 16 or 32 filters, a
 *            multiply then an add in a narrower chunk) and adds the bias;
 *   dkernel: per block of images, a tap's columns ow0, ow0 + 2, ... in one
 *            chain and the others in a second (fused, in a chunk of 16 or
 *            32 filters), added as A + B into the part's partial; the
 *            parts' partials then summed in order;
 *   dbias:   per block, rows r < rows - rows % 4 in four chains by r mod 4,
 *            the rest into the first, added as (a0 + a1) + (a2 + a3).
 * The blocks and parts follow conv2d's sizes (ops/conv2d.c: a block's
 * patches fill at most 2^17 floats, at most 8 parts). Without AVX-512 every
 * chunk is 16 filters wide and every product is a multiply then an add. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "ops/fastmath.h" /* GR_HAVE_V16, as the library is built */

#ifdef GR_HAVE_V16
#define V16 1
#else
#define V16 0
#endif

struct win {
    int64_t in, k, s, d, pad, out;
};

/* TensorFlow's padding: same makes out = ceil(in / s), the smaller half of
 * the padding first; valid pads nothing. */
static struct win win_make(int64_t in, int64_t k, int64_t s, int64_t d, int same) {
    struct win w = {in, k, s, d, 0, 0};
    int64_t ext = (k - 1) * d + 1;
    if (same) {
        w.out = (in + s - 1) / s;
        int64_t total = (w.out - 1) * s + ext - in;
        w.pad = total > 0 ? total / 2 : 0;
    } else {
        w.out = (in - ext) / s + 1;
    }
    return w;
}

/* The input index tap j of output o reads, or -1 outside the image. */
static int64_t win_at(const struct win *w, int64_t o, int64_t j) {
    int64_t i = o * w->s - w->pad + j * w->d;
    return i >= 0 && i < w->in ? i : -1;
}

struct shape {
    int64_t B, H, W, C, F, kh, kw, sh, sw, dh, dw;
    int same;
};

/* The filter chunk of f: its width (32, 16 with AVX-512; 16 without; the
 * rest narrower). */
static int64_t chunk_of(int64_t F, int64_t f) {
    int64_t f0 = 0, n = 0;
    while (f0 <= f) {
        n = V16 && F - f0 >= 32 ? 32 : F - f0 >= 16 ? 16 : F - f0;
        f0 += n;
    }
    return n;
}

static float ref_cell(const struct shape *s, const struct win *wh, const struct win *ww, const float *x,
                      const float *k, const float *bias, int64_t b, int64_t oh, int64_t ow, int64_t f, int in_run) {
    int fused = in_run || (V16 && chunk_of(s->F, f) >= 16);
    float acc = in_run ? bias[f] : 0.0f;
    for (int64_t i = 0; i < s->kh; i++)
        for (int64_t j = 0; j < s->kw; j++) {
            int64_t ih = win_at(wh, oh, i), iw = win_at(ww, ow, j);
            if (ih < 0 || iw < 0) continue;
            for (int64_t c = 0; c < s->C; c++) {
                float xv = x[((b * s->H + ih) * s->W + iw) * s->C + c], kv = k[((i * s->kw + j) * s->C + c) * s->F + f];
                if (fused) acc = fmaf(xv, kv, acc);
                else acc += xv * kv;
            }
        }
    return in_run ? acc : bias[f] + acc;
}

static void ref_forward(const struct shape *s, const struct win *wh, const struct win *ww, const float *x,
                        const float *k, const float *bias, float *y) {
    int64_t run0 = (ww->pad + ww->s - 1) / ww->s, run1 = run0, ext = (ww->k - 1) * ww->d + 1;
    while (run1 < ww->out && run1 * ww->s - ww->pad + ext <= ww->in) run1++;
    run1 = V16 && s->F % 16 == 0 ? run0 + (run1 - run0) / 4 * 4 : run0;
    for (int64_t b = 0; b < s->B; b++)
        for (int64_t oh = 0; oh < wh->out; oh++)
            for (int64_t ow = 0; ow < ww->out; ow++)
                for (int64_t f = 0; f < s->F; f++)
                    y[((b * wh->out + oh) * ww->out + ow) * s->F + f] =
                        ref_cell(s, wh, ww, x, k, bias, b, oh, ow, f, ow >= run0 && ow < run1);
}

/* Blocks of nb images, parts of blocks, as ops/conv2d.c cuts the batch. */
static int64_t images_per_block(const struct shape *s, const struct win *wh, const struct win *ww) {
    int64_t nb = ((int64_t)1 << 17) / (wh->out * ww->out * s->kh * s->kw * s->C);
    return nb < 1 ? 1 : nb > s->B ? s->B : nb;
}

/* dkernel[i, j, c, f] of images [b0, b1) */
static float ref_dkernel_block(const struct shape *s, const struct win *wh, const struct win *ww, const float *x,
                               const float *dy, int64_t b0, int64_t b1, int64_t i, int64_t j, int64_t c, int64_t f) {
    int two = V16 && chunk_of(s->F, f) >= 16;
    float ch[2] = {0.0f, 0.0f};
    int64_t ow0 = 0;
    while (ow0 < ww->out && win_at(ww, ow0, j) < 0) ow0++;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t oh = 0; oh < wh->out; oh++) {
            int64_t ih = win_at(wh, oh, i);
            if (ih < 0) continue;
            for (int64_t ow = ow0; ow < ww->out; ow++) {
                int64_t iw = win_at(ww, ow, j);
                if (iw < 0) continue;
                float xv = x[((b * s->H + ih) * s->W + iw) * s->C + c];
                float dv = dy[((b * wh->out + oh) * ww->out + ow) * s->F + f];
                if (two) ch[(ow - ow0) & 1] = fmaf(xv, dv, ch[(ow - ow0) & 1]);
                else ch[0] += xv * dv;
            }
        }
    return two ? ch[0] + ch[1] : ch[0];
}

/* dbias[f] of images [b0, b1) */
static float ref_dbias_block(const struct shape *s, const struct win *wh, const struct win *ww, const float *dy,
                             int64_t b0, int64_t b1, int64_t f) {
    int64_t cells = wh->out * ww->out, rows = (b1 - b0) * cells, rows4 = rows - rows % 4;
    const float *m = dy + b0 * cells * s->F;
    if (!(V16 && f < s->F - s->F % 16)) {
        float sum = 0.0f;
        for (int64_t r = 0; r < rows; r++) sum += m[r * s->F + f];
        return sum;
    }
    float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t r = 0; r < rows; r++) a[r < rows4 ? r % 4 : 0] += m[r * s->F + f];
    return (a[0] + a[1]) + (a[2] + a[3]);
}

/* grad[e] = 0 + the sum over parts in order of (the sum over the part's
 * blocks in order of block(e)), for the kernel (e < KF) and the bias. */
static void ref_gradients(const struct shape *s, const struct win *wh, const struct win *ww, const float *x,
                          const float *dy, float *dk, float *db) {
    int64_t nb = images_per_block(s, wh, ww), blocks = (s->B + nb - 1) / nb, parts = blocks < 8 ? blocks : 8;
    int64_t K = s->kh * s->kw * s->C;
    for (int64_t e = 0; e < K * s->F + s->F; e++) {
        float total = 0.0f;
        for (int64_t p = 0; p < parts; p++) {
            float part = 0.0f;
            for (int64_t blk = blocks * p / parts; blk < blocks * (p + 1) / parts; blk++) {
                int64_t b0 = blk * nb, b1 = b0 + nb < s->B ? b0 + nb : s->B, f = e % s->F, t = e / s->F;
                if (e >= K * s->F) part = ref_dbias_block(s, wh, ww, dy, b0, b1, e - K * s->F) + part;
                else part += ref_dkernel_block(s, wh, ww, x, dy, b0, b1, t / (s->kw * s->C), t / s->C % s->kw,
                                               t % s->C, f);
            }
            total += part;
        }
        if (e < K * s->F) dk[e] = 0.0f + total;
        else db[e - K * s->F] = 0.0f + total;
    }
}

static void expect_bits(const float *got, const float *want, int64_t n, const char *what, int c) {
    int64_t bad = 0, first = -1;
    for (int64_t e = 0; e < n; e++)
        if (memcmp(&got[e], &want[e], sizeof(float)) != 0 && bad++ == 0) first = e;
    cr_expect_eq(bad, 0, "case %d: %s: %lld of %lld elements differ, first [%lld]: %a, want %a", c, what, (long long)bad,
                 (long long)n, (long long)first, (double)(first >= 0 ? got[first] : 0), (double)(first >= 0 ? want[first] : 0));
}

static void check_case(const struct shape *s, int c, int threads) {
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "- {name: x, op: input, data: images, shape: [%lld, %lld, %lld]}\n"
             "- {name: y, op: conv2d, inputs: [x], filters: %lld, kernel_size: [%lld, %lld], strides: [%lld, %lld],"
             " dilation: [%lld, %lld], padding: %s}\n",
             (long long)s->H, (long long)s->W, (long long)s->C, (long long)s->F, (long long)s->kh, (long long)s->kw,
             (long long)s->sh, (long long)s->sw, (long long)s->dh, (long long)s->dw, s->same ? "same" : "valid");
    struct tgraph t;
    struct gr_harness h;
    tg_op_run_random(&t, &h, yaml, s->B, threads, 5 + (uint64_t)c);
    const float *dy = h.dout.data;
    struct win wh = win_make(s->H, s->kh, s->sh, s->dh, s->same), ww = win_make(s->W, s->kw, s->sw, s->dw, s->same);
    int64_t ny = gr_shape_count(&h.out.shape), nk = gr_shape_count(&h.in[1].shape);
    cr_assert_eq(ny, s->B * wh.out * ww.out * s->F, "case %d: the output's shape", c);
    float *y = malloc((size_t)ny * sizeof *y), *dk = malloc((size_t)nk * sizeof *dk), *db = malloc((size_t)s->F * sizeof *db);
    ref_forward(s, &wh, &ww, h.in[0].data, h.in[1].data, h.in[2].data, y);
    ref_gradients(s, &wh, &ww, h.in[0].data, dy, dk, db);
    expect_bits(h.out.data, y, ny, "y", c);
    expect_bits(h.din[1].data, dk, nk, "dkernel", c);
    expect_bits(h.din[2].data, db, s->F, "dbias", c);
    free(y);
    free(dk);
    free(db);
    gr_harness_free(&h);
    tg_free(&t);
}

/* The MNIST CNN's first layer over several blocks and parts; odd widths,
 * strides, dilations and valid padding; F not a multiple of 16 (a chunk of
 * 32 or 16 and a narrower rest) and F < 4; kernels 3 wide (one pass over a
 * row's three taps) and not. */
Test(conv, direct_kernels_make_the_reference_s_sums_bit_for_bit) {
    const struct shape cases[] = {
        {40, 28, 28, 1, 32, 3, 3, 1, 1, 1, 1, 1},  {5, 13, 11, 3, 48, 3, 3, 1, 1, 1, 1, 1},
        {5, 13, 11, 3, 48, 3, 3, 2, 2, 1, 1, 0},   {5, 13, 11, 3, 48, 3, 3, 2, 2, 1, 1, 1},
        {3, 13, 17, 2, 32, 3, 3, 2, 1, 2, 2, 1},   {3, 13, 17, 2, 16, 3, 3, 1, 2, 1, 2, 0},
        {3, 9, 10, 3, 33, 3, 3, 1, 1, 1, 1, 1},    {3, 9, 10, 3, 20, 3, 2, 1, 2, 2, 1, 1},
        {4, 13, 17, 1, 64, 5, 5, 1, 1, 1, 1, 1},   {4, 13, 17, 1, 7, 5, 5, 1, 1, 1, 1, 0},
        {2, 30, 31, 2, 32, 4, 3, 1, 1, 1, 1, 1},   {2, 6, 5, 1, 32, 3, 3, 1, 1, 1, 1, 1},
        {2, 6, 7, 1, 16, 3, 3, 1, 1, 1, 1, 0},     {3, 9, 10, 8, 40, 2, 2, 1, 1, 1, 1, 1},
        /* fewer than 4 filters: a narrow chunk's sums sit at the end of the
         * scratch (the sanitizer build checks that nothing reads past it) */
        {3, 9, 10, 1, 1, 3, 3, 1, 1, 1, 1, 1},     {3, 9, 10, 2, 2, 3, 3, 1, 1, 1, 1, 1},
        {2, 8, 9, 1, 3, 5, 5, 1, 1, 1, 1, 0},      {2, 8, 9, 1, 1, 1, 3, 1, 1, 1, 1, 1},
    };
    for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) check_case(&cases[c], c, 1 + c % 2);
}
