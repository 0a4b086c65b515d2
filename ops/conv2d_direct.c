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
/* NC neighbouring cells (ow .. ow + NC - 1) whose taps are all inside the
 * image's columns, times NV vectors of 16 filters from f0: NC * NV
 * independent chains held in registers, each tap's kernel vectors loaded
 * once for all NC cells. Each cell's sum starts at the bias and takes its
 * taps in (kh, kw, c) order, one fused multiply-add each. NC and NV are
 * constants where it is inlined, so the arrays live in registers. */
static inline __attribute__((always_inline)) void direct_block(const struct conv_geom *g, const float *restrict x,
                                                               const float *restrict w, const float *restrict bias,
                                                               int64_t b, int64_t oh, int64_t ow, int64_t f0, int NC,
                                                               int NV, float *restrict y) {
    int64_t F = g->F, C = g->C, KW = g->ww.k, kh0, kh1, step = g->ww.stride * C;
    gr_window_taps(&g->wh, oh, &kh0, &kh1);
    __m512 acc[8][2], wv[2];
    _Pragma("GCC unroll 8") for (int k = 0; k < NC; k++) _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)
        acc[k][v] = _mm512_loadu_ps(bias + f0 + 16 * v);
    for (int64_t kh = kh0; kh < kh1; kh++) {
        int64_t ih = oh * g->wh.stride - g->wh.pad + kh * g->wh.dilation;
        for (int64_t kw = 0; kw < KW; kw++) {
            int64_t iw = ow * g->ww.stride - g->ww.pad + kw * g->ww.dilation;
            const float *xs = x + ((b * g->H + ih) * g->W + iw) * C;
            const float *wr = w + (kh * KW + kw) * C * F + f0;
            for (int64_t c = 0; c < C; c++) {
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) wv[v] = _mm512_loadu_ps(wr + c * F + 16 * v);
                _Pragma("GCC unroll 8") for (int k = 0; k < NC; k++) {
                    __m512 xv = _mm512_set1_ps(xs[k * step + c]);
                    _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[k][v] = _mm512_fmadd_ps(xv, wv[v], acc[k][v]);
                }
            }
        }
    }
    float *yo = y + ((b * g->OH + oh) * g->OW + ow) * F + f0;
    _Pragma("GCC unroll 8") for (int k = 0; k < NC; k++) _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)
        _mm512_storeu_ps(yo + k * F + 16 * v, acc[k][v]);
}

/* Cells [ow, ow + n) of row oh, n a multiple of 4, all their taps inside
 * the image's columns; F a multiple of 16. */
static void direct_run(const struct conv_geom *g, const float *restrict x, const float *restrict w,
                       const float *restrict bias, int64_t b, int64_t oh, int64_t ow, int64_t n, float *restrict y) {
    int64_t F = g->F;
    for (int64_t end = ow + n; ow < end;) {
        int eight = end - ow >= 8;
        for (int64_t f0 = 0; f0 < F;) {
            if (F - f0 >= 32) {
                if (eight) direct_block(g, x, w, bias, b, oh, ow, f0, 8, 2, y);
                else direct_block(g, x, w, bias, b, oh, ow, f0, 4, 2, y);
                f0 += 32;
            } else {
                if (eight) direct_block(g, x, w, bias, b, oh, ow, f0, 8, 1, y);
                else direct_block(g, x, w, bias, b, oh, ow, f0, 4, 1, y);
                f0 += 16;
            }
        }
        ow += eight ? 8 : 4;
    }
}

/* NC cells ows[k] of row oh outside the run, with the same number of taps
 * inside the image's columns (each from its own first tap), NV vectors of
 * filters from f0: NC * NV chains side by side, each summing its cell's
 * taps from 0 in (kh, kw, c) order as direct_cell does, the bias added
 * at the end. */
static inline __attribute__((always_inline)) void edge_block(const struct conv_geom *g, const float *restrict x,
                                                             const float *restrict w, const float *restrict bias,
                                                             int64_t b, int64_t oh, const int64_t *ows, int64_t f0,
                                                             int NC, int NV, float *restrict y) {
    int64_t F = g->F, C = g->C, KW = g->ww.k, kh0, kh1, kw0[4], kw1 = 0;
    gr_window_taps(&g->wh, oh, &kh0, &kh1);
    _Pragma("GCC unroll 4") for (int k = 0; k < NC; k++) gr_window_taps(&g->ww, ows[k], &kw0[k], &kw1);
    int64_t taps = kw1 - kw0[NC - 1];
    __m512 acc[4][2];
    _Pragma("GCC unroll 4") for (int k = 0; k < NC; k++) _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)
        acc[k][v] = _mm512_setzero_ps();
    for (int64_t kh = kh0; kh < kh1; kh++) {
        int64_t ih = oh * g->wh.stride - g->wh.pad + kh * g->wh.dilation;
        for (int64_t j = 0; j < taps; j++) {
            const float *xs[4], *wr[4];
            _Pragma("GCC unroll 4") for (int k = 0; k < NC; k++) {
                int64_t kw = kw0[k] + j, iw = ows[k] * g->ww.stride - g->ww.pad + kw * g->ww.dilation;
                xs[k] = x + ((b * g->H + ih) * g->W + iw) * C;
                wr[k] = w + (kh * KW + kw) * C * F + f0;
            }
            for (int64_t c = 0; c < C; c++)
                _Pragma("GCC unroll 4") for (int k = 0; k < NC; k++) {
                    __m512 xv = _mm512_set1_ps(xs[k][c]);
                    _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)
                        acc[k][v] = _mm512_fmadd_ps(xv, _mm512_loadu_ps(wr[k] + c * F + 16 * v), acc[k][v]);
                }
        }
    }
    _Pragma("GCC unroll 4") for (int k = 0; k < NC; k++) _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)
        _mm512_storeu_ps(y + ((b * g->OH + oh) * g->OW + ows[k]) * F + f0 + 16 * v,
                         _mm512_add_ps(_mm512_loadu_ps(bias + f0 + 16 * v), acc[k][v]));
}

/* edge_block on the chunk of filters at f0, n wide (32 or 16), for nc cells */
static void edge_cells(const struct conv_geom *g, const float *restrict x, const float *restrict w,
                       const float *restrict bias, int64_t b, int64_t oh, const int64_t *ows, int nc, int64_t f0,
                       int64_t n, float *restrict y) {
    switch (nc * 2 + (n == 32)) {
    case 2: edge_block(g, x, w, bias, b, oh, ows, f0, 1, 1, y); break;
    case 3: edge_block(g, x, w, bias, b, oh, ows, f0, 1, 2, y); break;
    case 4: edge_block(g, x, w, bias, b, oh, ows, f0, 2, 1, y); break;
    case 5: edge_block(g, x, w, bias, b, oh, ows, f0, 2, 2, y); break;
    case 6: edge_block(g, x, w, bias, b, oh, ows, f0, 3, 1, y); break;
    case 7: edge_block(g, x, w, bias, b, oh, ows, f0, 3, 2, y); break;
    case 8: edge_block(g, x, w, bias, b, oh, ows, f0, 4, 1, y); break;
    default: edge_block(g, x, w, bias, b, oh, ows, f0, 4, 2, y); break;
    }
}

/* The cells of row oh outside the run [r0, r1), in groups of up to four
 * with the same number of taps, the vector chunks of filters (32, 16)
 * through edge_block; a narrower rest through direct_cell. */
static void edge_row(const struct conv_geom *g, const float *restrict x, const float *restrict w,
                     const float *restrict bias, int64_t b, int64_t oh, int64_t r0, int64_t r1, float *restrict y) {
    int64_t F = g->F, ows[4], taps = -1, kw0 = 0, kw1 = 0;
    int nc = 0;
    for (int64_t ow = 0; ow <= g->OW; ow++) {
        if (ow == r0 && r1 > r0) ow = r1;
        if (ow < g->OW) gr_window_taps(&g->ww, ow, &kw0, &kw1);
        if (nc > 0 && (ow == g->OW || nc == 4 || kw1 - kw0 != taps)) { /* the group is complete */
            for (int64_t f0 = 0, n; f0 < F; f0 += n) {
                n = chunk_width(F, f0);
                if (n == 32 || n == 16) {
                    edge_cells(g, x, w, bias, b, oh, ows, nc, f0, n, y);
                    continue;
                }
                for (int k = 0; k < nc; k++) {
                    float acc[32] = {0}, *yo = y + ((b * g->OH + oh) * g->OW + ows[k]) * F;
                    direct_cell(g, x, w, b, oh, ows[k], f0, n, acc);
                    for (int64_t j = 0; j < n; j++) yo[f0 + j] = bias[f0 + j] + acc[j];
                }
            }
            nc = 0;
        }
        if (ow == g->OW) break;
        taps = kw1 - kw0;
        ows[nc++] = ow;
    }
}
#endif

/* y[cell, :] = bias + the cell's sums. With AVX-512 and F a multiple of
 * 16, the columns from the first whose taps are all inside the image, in
 * whole groups of four, start from the bias (direct_run); every other cell
 * adds the bias to its sum at the end. */
void conv_direct_forward(const struct conv_geom *g, const float *restrict x, const float *restrict w,
                         const float *restrict bias, int64_t b0, int64_t b1, float *restrict y) {
    int64_t F = g->F;
#ifdef GR_HAVE_V16
    /* the output columns whose taps are all inside the image */
    int64_t s = g->ww.stride, ow_in0 = (g->ww.pad + s - 1) / s, ow_in1 = ow_in0;
    while (ow_in1 < g->OW && ow_in1 * s - g->ww.pad + g->ww.ext <= g->W) ow_in1++;
    int64_t run = F % 16 == 0 ? (ow_in1 - ow_in0) / 4 * 4 : 0;
#endif
    for (int64_t b = b0; b < b1; b++)
        for (int64_t oh = 0; oh < g->OH; oh++) {
#ifdef GR_HAVE_V16
            if (run > 0) direct_run(g, x, w, bias, b, oh, ow_in0, run, y);
            edge_row(g, x, w, bias, b, oh, ow_in0, ow_in0 + run, y);
            continue;
#endif
            for (int64_t ow = 0; ow < g->OW; ow++) {
                float *yo = y + ((b * g->OH + oh) * g->OW + ow) * F;
                for (int64_t f0 = 0, n; f0 < F; f0 += n) {
                    n = chunk_width(F, f0);
                    float acc[32] = {0};
                    direct_cell(g, x, w, b, oh, ow, f0, n, acc);
                    for (int64_t j = 0; j < n; j++) yo[f0 + j] = bias[f0 + j] + acc[j];
                }
            }
        }
}

/* The output columns [ow0, ow1) whose tap kw lies inside the image:
 * iw = ow*sw - pw + kw*dw in [0, W); returns off = kw*dw - pw. */
static int64_t tap_columns(const struct conv_geom *g, int64_t kw, int64_t *ow0, int64_t *ow1) {
    int64_t off = kw * g->ww.dilation - g->ww.pad, s = g->ww.stride;
    *ow0 = off >= 0 ? 0 : (-off + s - 1) / s;
    *ow1 = g->W - off <= 0 ? 0 : (g->W - off + s - 1) / s;
    if (*ow1 > g->OW) *ow1 = g->OW;
    return off;
}

#ifdef GR_HAVE_V16
/* dkernel_three's column ow, of either parity, for the taps kw whose
 * columns hold it: e takes the even columns, o the odd ones. */
static inline __attribute__((always_inline)) void three_column(const float *restrict xr, const float *restrict d,
                                                               int64_t ow, int64_t sC, const int64_t *lo,
                                                               const int64_t *hi, const int64_t *off, int NV,
                                                               __m512 (*e)[2], __m512 (*o)[2]) {
    _Pragma("GCC unroll 3") for (int kw = 0; kw < 3; kw++) {
        if (ow < lo[kw] || ow >= hi[kw]) continue;
        __m512 xv = _mm512_set1_ps(xr[ow * sC + off[kw]]);
        _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {
            __m512 dv = _mm512_loadu_ps(d + 16 * v);
            if (ow & 1) o[kw][v] = _mm512_fmadd_ps(xv, dv, o[kw][v]);
            else e[kw][v] = _mm512_fmadd_ps(xv, dv, e[kw][v]);
        }
    }
}

/* The sums of dkernel_image for the three taps kw of row kh, channel c and
 * NV vectors of filters from f0, in one pass over image b's rows: each
 * column of dy is loaded once for the three taps (12 chains in registers).
 * A tap's two chains split its columns by parity, as there (which chain
 * holds the even ones does not matter: they are added as A + B). */
static inline __attribute__((always_inline)) void dkernel_three(const struct conv_geom *g, const float *restrict x,
                                                                const float *restrict dy, int64_t b, int64_t kh,
                                                                int64_t c, int64_t f0, int NV, float *restrict chains) {
    int64_t F = g->F, C = g->C, KF = g->K * F, sC = g->ww.stride * C, lo[3], hi[3], off[3], all0 = 0, all1 = g->OW;
    __m512 e[3][2], o[3][2];
    _Pragma("GCC unroll 3") for (int kw = 0; kw < 3; kw++) {
        off[kw] = tap_columns(g, kw, &lo[kw], &hi[kw]) * C + c;
        float *ca = chains + ((kh * 3 + kw) * C + c) * F + f0;
        _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {
            e[kw][v] = _mm512_loadu_ps(ca + 16 * v);
            o[kw][v] = _mm512_loadu_ps(ca + KF + 16 * v);
        }
        all0 = lo[kw] > all0 ? lo[kw] : all0;
        all1 = hi[kw] < all1 ? hi[kw] : all1;
    }
    for (int64_t oh = 0; oh < g->OH; oh++) {
        int64_t ih = oh * g->wh.stride - g->wh.pad + kh * g->wh.dilation;
        if (ih < 0 || ih >= g->H) continue;
        const float *xr = x + (b * g->H + ih) * g->W * C, *d = dy + (b * g->OH + oh) * g->OW * F + f0;
        int64_t ow = 0;
        for (; ow < g->OW && (ow < all0 || ow & 1); ow++) three_column(xr, d + ow * F, ow, sC, lo, hi, off, NV, e, o);
        for (; ow + 2 <= all1; ow += 2) {
            __m512 d0[2], d1[2];
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {
                d0[v] = _mm512_loadu_ps(d + ow * F + 16 * v);
                d1[v] = _mm512_loadu_ps(d + (ow + 1) * F + 16 * v);
            }
            _Pragma("GCC unroll 3") for (int kw = 0; kw < 3; kw++) {
                __m512 x0 = _mm512_set1_ps(xr[ow * sC + off[kw]]), x1 = _mm512_set1_ps(xr[(ow + 1) * sC + off[kw]]);
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {
                    e[kw][v] = _mm512_fmadd_ps(x0, d0[v], e[kw][v]);
                    o[kw][v] = _mm512_fmadd_ps(x1, d1[v], o[kw][v]);
                }
            }
        }
        for (; ow < g->OW; ow++) three_column(xr, d + ow * F, ow, sC, lo, hi, off, NV, e, o);
    }
    _Pragma("GCC unroll 3") for (int kw = 0; kw < 3; kw++) {
        float *ca = chains + ((kh * 3 + kw) * C + c) * F + f0;
        _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {
            _mm512_storeu_ps(ca + 16 * v, e[kw][v]);
            _mm512_storeu_ps(ca + KF + 16 * v, o[kw][v]);
        }
    }
}
#endif

/* Image b's rows added into the running sums of every (tap, c, filter): for
 * a chunk of 16 or 32 filters, A = chains[0, K*F) takes the columns ow0,
 * ow0 + 2, ... and B = chains[K*F, 2K*F) the others (two independent chains
 * of fused multiply-adds); a narrower chunk adds all into A. One image's dy
 * (OH*OW*F floats) stays in cache across the K passes over it, where a
 * block's did not. */
static void dkernel_image(const struct conv_geom *g, const float *restrict x, const float *restrict dy, int64_t b,
                          float *restrict chains) {
    int64_t F = g->F, C = g->C, s = g->ww.stride;
#ifdef GR_HAVE_V16
    int64_t KF = g->K * F;
#endif
    for (int64_t kh = 0; kh < g->wh.k; kh++) {
#ifdef GR_HAVE_V16
        if (g->ww.k == 3 && F % 16 == 0) { /* the three taps of the row in one pass */
            for (int64_t c = 0; c < C; c++)
                for (int64_t f0 = 0; f0 < F; f0 += F - f0 >= 32 ? 32 : 16)
                    if (F - f0 >= 32) dkernel_three(g, x, dy, b, kh, c, f0, 2, chains);
                    else dkernel_three(g, x, dy, b, kh, c, f0, 1, chains);
            continue;
        }
#endif
        for (int64_t kw = 0; kw < g->ww.k; kw++) {
            int64_t ow0, ow1, off = tap_columns(g, kw, &ow0, &ow1);
            for (int64_t c = 0; c < C; c++)
                for (int64_t f0 = 0, n; f0 < F; f0 += n) {
                    n = chunk_width(F, f0);
                    float *ca = chains + ((kh * g->ww.k + kw) * C + c) * F + f0;
#ifdef GR_HAVE_V16
                    float *cb = ca + KF;
                    /* a chunk narrower than 16 adds in place below: its sums
                     * are not loaded (16 floats from cb would run past the
                     * buffer's end when F < 4) */
                    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
                    if (n >= 16) a0 = _mm512_loadu_ps(ca), a2 = _mm512_loadu_ps(cb);
                    if (n == 32) a1 = _mm512_loadu_ps(ca + 16), a3 = _mm512_loadu_ps(cb + 16);
#endif
                    for (int64_t oh = 0; oh < g->OH; oh++) {
                        int64_t ih = oh * g->wh.stride - g->wh.pad + kh * g->wh.dilation;
                        if (ih < 0 || ih >= g->H) continue;
                        const float *xr = x + ((b * g->H + ih) * g->W + off) * C + c;
                        const float *d = dy + (b * g->OH + oh) * g->OW * F + f0;
#ifdef GR_HAVE_V16
                        if (n >= 16) {
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
                            for (int64_t j = 0; j < n; j++) ca[j] += xr[ow * s * C] * d[ow * F + j];
                    }
#ifdef GR_HAVE_V16
                    if (n >= 16) {
                        _mm512_storeu_ps(ca, a0);
                        _mm512_storeu_ps(cb, a2);
                        if (n == 32) _mm512_storeu_ps(ca + 16, a1), _mm512_storeu_ps(cb + 16, a3);
                    }
#endif
                }
        }
    }
}

/* dbias's sums over rows [r0, r1) of m, a block of `rows` rows of F
 * floats, as add_rows (ops/conv2d.c) makes them over the whole block: with
 * AVX-512 each vector of 16 columns in four chains, row r in chain r mod 4
 * (the last rows % 4 rows in the first), here ch[k*F, (k + 1)*F) kept in
 * scratch between calls; the other columns straight into sum in row order. */
static void bias_rows(const float *restrict m, int64_t r0, int64_t r1, int64_t rows, int64_t F, float *restrict ch,
                      float *restrict sum) {
    int64_t fv = 0;
    (void)rows; /* the chains' rows: AVX-512 only */
#ifdef GR_HAVE_V16
    fv = F - F % 16;
    for (int64_t r = r0; r < r1; r++) {
        float *c = ch + (r < rows - rows % 4 ? r % 4 : 0) * F;
        for (int64_t f0 = 0; f0 < fv; f0 += 16)
            _mm512_storeu_ps(c + f0, _mm512_add_ps(_mm512_loadu_ps(c + f0), _mm512_loadu_ps(m + r * F + f0)));
    }
#endif
    (void)ch;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t f = fv; f < F; f++) sum[f] += m[r * F + f];
}

/* dkernel[t + c, f] += sum over the output cells of images [b0, b1) whose
 * tap t lies inside the image of x[that cell's input, c] * dy[cell, f],
 * summed as A + B (see dkernel_image); chains: 2*K*F floats of scratch,
 * and 4*F more for db's. With db, also db[f] += the sum over the images'
 * cells of dy[cell, f], image by image while its dy is in cache. */
void conv_direct_dkernel(const struct conv_geom *g, const float *restrict x, const float *restrict dy, int64_t b0,
                         int64_t b1, float *restrict chains, float *restrict dw, float *restrict db) {
    int64_t F = g->F, KF = g->K * F, cells = g->OH * g->OW;
    float *bch = chains + 2 * KF;
    memset(chains, 0, (size_t)(2 * KF + 4 * F) * sizeof *chains);
    for (int64_t b = b0; b < b1; b++) {
        dkernel_image(g, x, dy, b, chains);
        if (db) bias_rows(dy + b0 * cells * F, (b - b0) * cells, (b - b0 + 1) * cells, (b1 - b0) * cells, F, bch, db);
    }
#ifdef GR_HAVE_V16
    for (int64_t f = 0; db && f < F - F % 16; f++)
        db[f] = ((bch[f] + bch[F + f]) + (bch[2 * F + f] + bch[3 * F + f])) + db[f];
#endif
    for (int64_t t = 0; t < g->K; t++)
        for (int64_t f0 = 0, n; f0 < F; f0 += n) {
            n = chunk_width(F, f0);
            float *dwr = dw + t * F + f0;
            const float *ca = chains + t * F + f0, *cb = ca + KF;
#ifdef GR_HAVE_V16
            if (n >= 16) {
                for (int64_t j = 0; j < n; j++) dwr[j] += ca[j] + cb[j];
                continue;
            }
#endif
            (void)cb;
            for (int64_t j = 0; j < n; j++) dwr[j] += ca[j];
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

