/* conv2d's direct kernels: see ops/conv2d.h. */
#include <string.h>

#include "conv2d.h"
#include "fastmath.h" /* GR_HAVE_V16: AVX-512 */

/* The direct sums, for images [b0, b1), in chunks of filters whose running
 * sums stay in registers: with AVX-512, 32 filters in two vectors (two
 * independent chains of fused multiply-adds), then 16; the rest one by one. */
#define DIRECT_W 16

/* sum over the taps of cell (oh, ow) inside the image and the channels of
 * x * kernel[t + c, f0 + j] into acc[j], j < n, t = (kh * KW + kw) * C */
static void direct_cell(const struct conv_geom *g, const float *restrict x, const float *restrict w, int64_t b,
                        int64_t oh, int64_t ow, int64_t f0, int64_t n, float *restrict acc) {
    int64_t F = g->F, C = g->C, KW = g->ww.k, kh0, kh1, kw0, kw1;
    gr_window_taps(&g->wh, oh, &kh0, &kh1);
    gr_window_taps(&g->ww, ow, &kw0, &kw1);
#ifdef GR_HAVE_V16
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
#endif
    for (int64_t kh = kh0; kh < kh1; kh++) {
        int64_t ih = oh * g->wh.stride - g->wh.pad + kh * g->wh.dilation;
        for (int64_t kw = kw0; kw < kw1; kw++) {
            int64_t iw = ow * g->ww.stride - g->ww.pad + kw * g->ww.dilation;
            const float *xs = x + ((b * g->H + ih) * g->W + iw) * C;
            const float *wr = w + (kh * KW + kw) * C * F + f0;
            for (int64_t c = 0; c < C; c++) {
#ifdef GR_HAVE_V16
                if (n >= 16) {
                    __m512 xv = _mm512_set1_ps(xs[c]);
                    a0 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(wr + c * F), a0);
                    if (n == 32) a1 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(wr + c * F + 16), a1);
                    continue;
                }
#endif
                for (int64_t j = 0; j < n; j++) acc[j] += xs[c] * wr[c * F + j];
            }
        }
    }
#ifdef GR_HAVE_V16
    if (n >= 16) {
        _mm512_storeu_ps(acc, a0);
        if (n == 32) _mm512_storeu_ps(acc + 16, a1);
    }
#endif
}

/* The width of the chunk of filters starting at f0. */
static int64_t chunk_width(int64_t F, int64_t f0) {
#ifdef GR_HAVE_V16
    if (F - f0 >= 32) return 32;
    if (F - f0 >= 16) return 16;
#endif
    return F - f0 < DIRECT_W ? F - f0 : DIRECT_W;
}

#ifdef GR_HAVE_V16
/* Four neighbouring cells (ow .. ow + 3) whose taps are all inside the
 * image's columns, 16 filters from f0: four independent chains, so the
 * fused multiply-adds overlap instead of waiting for each other. */
static void direct_four(const struct conv_geom *g, const float *restrict x, const float *restrict w,
                        const float *restrict bias, int64_t b, int64_t oh, int64_t ow, int64_t f0, float *restrict y) {
    int64_t F = g->F, C = g->C, KW = g->ww.k, kh0, kh1, step = g->ww.stride * C;
    gr_window_taps(&g->wh, oh, &kh0, &kh1);
    __m512 a0 = _mm512_loadu_ps(bias + f0), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t kh = kh0; kh < kh1; kh++) {
        int64_t ih = oh * g->wh.stride - g->wh.pad + kh * g->wh.dilation;
        for (int64_t kw = 0; kw < KW; kw++) {
            int64_t iw = ow * g->ww.stride - g->ww.pad + kw * g->ww.dilation;
            const float *xs = x + ((b * g->H + ih) * g->W + iw) * C;
            const float *wr = w + (kh * KW + kw) * C * F + f0;
            for (int64_t c = 0; c < C; c++) {
                __m512 wv = _mm512_loadu_ps(wr + c * F);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(xs[c]), wv, a0);
                a1 = _mm512_fmadd_ps(_mm512_set1_ps(xs[step + c]), wv, a1);
                a2 = _mm512_fmadd_ps(_mm512_set1_ps(xs[2 * step + c]), wv, a2);
                a3 = _mm512_fmadd_ps(_mm512_set1_ps(xs[3 * step + c]), wv, a3);
            }
        }
    }
    float *yo = y + ((b * g->OH + oh) * g->OW + ow) * F + f0;
    _mm512_storeu_ps(yo, a0);
    _mm512_storeu_ps(yo + F, a1);
    _mm512_storeu_ps(yo + 2 * F, a2);
    _mm512_storeu_ps(yo + 3 * F, a3);
}
#endif

/* y[cell, :] = bias + the cell's sums */
void conv_direct_forward(const struct conv_geom *g, const float *restrict x, const float *restrict w,
                         const float *restrict bias, int64_t b0, int64_t b1, float *restrict y) {
    int64_t F = g->F;
    /* the output columns whose taps are all inside the image */
    int64_t s = g->ww.stride, ow_in0 = (g->ww.pad + s - 1) / s, ow_in1 = ow_in0;
    while (ow_in1 < g->OW && ow_in1 * s - g->ww.pad + g->ww.ext <= g->W) ow_in1++;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
#ifdef GR_HAVE_V16
                if (F % 16 == 0 && ow >= ow_in0 && ow + 4 <= ow_in1) {
                    for (int64_t f0 = 0; f0 < F; f0 += 16) direct_four(g, x, w, bias, b, oh, ow, f0, y);
                    ow += 3;
                    continue;
                }
#endif
                float *yo = y + ((b * g->OH + oh) * g->OW + ow) * F;
                for (int64_t f0 = 0, n; f0 < F; f0 += n) {
                    n = chunk_width(F, f0);
                    float acc[32] = {0};
                    direct_cell(g, x, w, b, oh, ow, f0, n, acc);
                    for (int64_t j = 0; j < n; j++) yo[f0 + j] = bias[f0 + j] + acc[j];
                }
            }
}

/* dkernel[t + c, f] += sum over the output cells whose tap t lies inside
 * the image of x[that cell's input, c] * dy[cell, f] */
void conv_direct_dkernel(const struct conv_geom *g, const float *restrict x, const float *restrict dy, int64_t b0,
                         int64_t b1, float *restrict dw) {
    int64_t F = g->F, C = g->C;
    for (int64_t kh = 0; kh < g->wh.k; kh++)
        for (int64_t kw = 0; kw < g->ww.k; kw++) {
            /* the output columns whose tap kw is inside: iw = ow*sw - pw + kw*dw in [0, W) */
            int64_t off = kw * g->ww.dilation - g->ww.pad, s = g->ww.stride;
            int64_t ow0 = off >= 0 ? 0 : (-off + s - 1) / s;
            int64_t ow1 = g->W - off <= 0 ? 0 : (g->W - off + s - 1) / s;
            if (ow1 > g->OW) ow1 = g->OW;
            for (int64_t c = 0; c < C; c++)
                for (int64_t f0 = 0, n; f0 < F; f0 += n) {
                    n = chunk_width(F, f0);
                    float acc[32] = {0};
#ifdef GR_HAVE_V16
                    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#endif
                    for (int64_t b = b0; b < b1; b++)
                        for (int64_t oh = 0; oh < g->OH; oh++) {
                            int64_t ih = oh * g->wh.stride - g->wh.pad + kh * g->wh.dilation;
                            if (ih < 0 || ih >= g->H) continue;
                            const float *xr = x + ((b * g->H + ih) * g->W + off) * C + c;
                            const float *d = dy + (b * g->OH + oh) * g->OW * F + f0;
#ifdef GR_HAVE_V16
                            if (n >= 16) { /* even and odd columns in separate chains */
                                int64_t ow = ow0;
                                for (; ow + 2 <= ow1; ow += 2) {
                                    __m512 xv = _mm512_set1_ps(xr[ow * s * C]), xw = _mm512_set1_ps(xr[(ow + 1) * s * C]);
                                    a0 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(d + ow * F), a0);
                                    a2 = _mm512_fmadd_ps(xw, _mm512_loadu_ps(d + (ow + 1) * F), a2);
                                    if (n == 32) {
                                        a1 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(d + ow * F + 16), a1);
                                        a3 = _mm512_fmadd_ps(xw, _mm512_loadu_ps(d + (ow + 1) * F + 16), a3);
                                    }
                                }
                                for (; ow < ow1; ow++) {
                                    __m512 xv = _mm512_set1_ps(xr[ow * s * C]);
                                    a0 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(d + ow * F), a0);
                                    if (n == 32) a1 = _mm512_fmadd_ps(xv, _mm512_loadu_ps(d + ow * F + 16), a1);
                                }
                                continue;
                            }
#endif
                            for (int64_t ow = ow0; ow < ow1; ow++)
                                for (int64_t j = 0; j < n; j++) acc[j] += xr[ow * s * C] * d[ow * F + j];
                        }
#ifdef GR_HAVE_V16
                    if (n >= 16) {
                        _mm512_storeu_ps(acc, _mm512_add_ps(a0, a2));
                        if (n == 32) _mm512_storeu_ps(acc + 16, _mm512_add_ps(a1, a3));
                    }
#endif
                    float *dwr = dw + ((kh * g->ww.k + kw) * C + c) * F + f0;
                    for (int64_t j = 0; j < n; j++) dwr[j] += acc[j];
                }
        }
}

/* dx[input of tap t, c] += sum_f dy[cell, f] * kernel[t + c, f], cell by cell */
void conv_direct_dx(const struct conv_geom *g, const float *restrict w, const float *restrict dy, int64_t b0,
                    int64_t b1, float *restrict dx) {
    int64_t F = g->F, C = g->C, KW = g->ww.k;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t oh = 0; oh < g->OH; oh++) {
            int64_t kh0, kh1;
            gr_window_taps(&g->wh, oh, &kh0, &kh1);
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t kw0, kw1;
                gr_window_taps(&g->ww, ow, &kw0, &kw1);
                const float *d = dy + ((b * g->OH + oh) * g->OW + ow) * F;
                for (int64_t kh = kh0; kh < kh1; kh++) {
                    int64_t ih = oh * g->wh.stride - g->wh.pad + kh * g->wh.dilation;
                    for (int64_t kw = kw0; kw < kw1; kw++) {
                        int64_t iw = ow * g->ww.stride - g->ww.pad + kw * g->ww.dilation;
                        float *dxs = dx + ((b * g->H + ih) * g->W + iw) * C;
                        const float *wr = w + (kh * KW + kw) * C * F;
                        for (int64_t c = 0; c < C; c++) {
                            float part[DIRECT_W] = {0}, sum = 0.0f;
                            int64_t f = 0;
                            for (; f + DIRECT_W <= F; f += DIRECT_W)
                                for (int j = 0; j < DIRECT_W; j++) part[j] += d[f + j] * wr[c * F + f + j];
                            for (; f < F; f++) sum += d[f] * wr[c * F + f];
                            for (int j = 0; j < DIRECT_W; j++) sum += part[j];
                            dxs[c] += sum;
                        }
                    }
                }
            }
        }
}

