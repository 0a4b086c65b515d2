/* The gru op's steps backward through time (gru.c gives the equations,
 * gru_cell.h the layout).
 *
 * Step by step, each step ran every row's dGI and dGH (a scalar loop: the
 * compiler left it unvectorised, 17% of a training step at 64 units), then
 * the host's product dh += dGH_t [n, 3H] @ U^T over the block's rows.
 * Fused, the rows' loop runs 16 units at a time, then each tile of up to 6
 * rows (as even as they go) sums its rows' product in registers, 64
 * columns at a time, the tiles in turn on each slice of U^T
 * (lstm_cell_chain: the FMA chains of the host's product, from zero in k
 * order, added to dh as the host adds into C), the same operations on the
 * same values. */
#include <string.h>

#include "fastmath.h"
#include "gemm_order.h"
#include "gru_cell.h"
#include "lstm_cell.h"
#include "util.h"

/* One row of step t backward: dh arrives holding dh from later steps and
 * leaves holding dh z; g the row's r, z, n, hn its gh_n + b_hn, hp h_{t-1}
 * (zeros at the first step), d its dy. */
static void row_backward(int64_t H, const float *restrict g, const float *restrict hn, const float *restrict hp,
                         const float *restrict d, float *restrict dh, float *restrict dgi, float *restrict dgh) {
    int64_t i = 0;
#ifdef GR_HAVE_V16
    /* the scalar loop below, 16 units at a time, operation for operation
     * (no fused multiply-adds), so the bits are the same */
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= H; i += 16) {
        __m512 rg = _mm512_loadu_ps(g + i), z = _mm512_loadu_ps(g + H + i), n = _mm512_loadu_ps(g + 2 * H + i);
        __m512 dhi = _mm512_add_ps(_mm512_loadu_ps(dh + i), _mm512_loadu_ps(d + i));
        __m512 dn = _mm512_mul_ps(_mm512_mul_ps(dhi, _mm512_sub_ps(one, z)), _mm512_sub_ps(one, _mm512_mul_ps(n, n)));
        __m512 dz = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dhi, _mm512_sub_ps(_mm512_loadu_ps(hp + i), n)), z),
                                  _mm512_sub_ps(one, z));
        __m512 dr =
            _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dn, _mm512_loadu_ps(hn + i)), rg), _mm512_sub_ps(one, rg));
        _mm512_storeu_ps(dgi + i, dr);
        _mm512_storeu_ps(dgh + i, dr);
        _mm512_storeu_ps(dgi + H + i, dz);
        _mm512_storeu_ps(dgh + H + i, dz);
        _mm512_storeu_ps(dgi + 2 * H + i, dn);
        _mm512_storeu_ps(dgh + 2 * H + i, _mm512_mul_ps(dn, rg));
        _mm512_storeu_ps(dh + i, _mm512_mul_ps(dhi, z));
    }
#endif
    for (; i < H; i++) {
        float rg = g[i], z = g[H + i], n = g[2 * H + i], prev = hp[i];
        float dhi = dh[i] + d[i];
        float dn = dhi * (1.0f - z) * (1.0f - n * n);
        float dz = dhi * (prev - n) * z * (1.0f - z);
        float dr = dn * hn[i] * rg * (1.0f - rg);
        dgi[i] = dgh[i] = dr;
        dgi[H + i] = dgh[H + i] = dz;
        dgi[2 * H + i] = dn;
        dgh[2 * H + i] = dn * rg;
        dh[i] = dhi * z;
    }
}

/* the rows of samples [b0, b1) at processing step s (time t, tp the
 * previous step's or -1) */
static void step_rows(const struct gru_back *e, int64_t b0, int64_t b1, int64_t t, int64_t tp) {
    int64_t T = e->T, H = e->H, G = 3 * H;
    for (int64_t b = b0; b < b1; b++) {
        int64_t r = b * T + t;
        row_backward(H, e->gates + r * G, e->ghn + r * H, tp >= 0 ? e->y + (b * T + tp) * H : e->zeros, e->dy + r * H,
                     e->dh + b * H, e->dgi + r * G, e->dgh + r * G);
    }
}

int64_t gru_back_pack_floats(int64_t h) { return (h + 63) / 64 * 64 * 3 * h; }

/* whole slices of 64 columns by 16 x 16 transposes (the element loop was
 * 1.3% of a step at 256 units, where each backward packs 768 KB) */
void gru_back_pack(const struct gru_back *e, const float *u) { gr_transpose_slices64(u, e->H, 3 * e->H, e->utp); }

int gru_back_fits(int64_t h) {
#ifdef GR_HAVE_V16
    return h >= 1;
#else
    (void)h;
    return 0;
#endif
}

/* Samples [b, b + m) (m at most GROUP) at step t, their dGH and dh z in
 * place: dh = dGH_t @ U^T + dh, 64 columns at a time in registers, tile by
 * tile (lstm_cell_tiles), the host's blocks of k = 3H each from zero and
 * added in turn, the first onto dh z (the host's product with beta 1). */
#define GROUP (LSTM_CELL_ROWS * 6)
static void group_products(const struct gru_back *e, int64_t b, int64_t m, int64_t t) {
    int64_t T = e->T, H = e->H, G = 3 * H, nt = lstm_cell_tiles(m);
    float z[GROUP / LSTM_CELL_ROWS][LSTM_CELL_ROWS][4][16] __attribute__((aligned(64)));
    const float *ak[LSTM_CELL_ROWS] = {NULL};
    for (int64_t s = 0; s < H; s += 64) {
        int64_t w = H - s < 64 ? H - s : 64;
        for (int64_t k = 0, i0 = 0; k < nt; i0 += lstm_cell_tile_rows(m, k), k++)
            for (int i = 0; i < lstm_cell_tile_rows(m, k); i++) {
                memset(z[k][i], 0, sizeof z[k][i]);
                memcpy(z[k][i], e->dh + (b + i0 + i) * H + s, (size_t)w * sizeof(float));
            }
        for (int64_t ls = 0, len; ls < G; ls += len) {
            len = gr_gemm_k_block(G, ls);
            for (int64_t k = 0, i0 = 0; k < nt; i0 += lstm_cell_tile_rows(m, k), k++) {
                int R = lstm_cell_tile_rows(m, k);
                for (int i = 0; i < R; i++) ak[i] = e->dgh + ((b + i0 + i) * T + t) * G + ls;
                lstm_cell_chain(R, z[k], ak, len, e->utp + s * G + ls * 64, 1);
            }
        }
        for (int64_t k = 0, i0 = 0; k < nt; i0 += lstm_cell_tile_rows(m, k), k++)
            for (int i = 0; i < lstm_cell_tile_rows(m, k); i++)
                memcpy(e->dh + (b + i0 + i) * H + s, z[k][i], (size_t)w * sizeof(float));
    }
}

void gru_back_rows(const struct gru_back *e, int64_t b0, int64_t b1) {
    int64_t T = e->T, H = e->H, G = 3 * H;
    memset(e->dh + b0 * H, 0, (size_t)((b1 - b0) * H) * sizeof(float));
    for (int64_t s = T - 1; s >= 0; s--) {
        int64_t t = e->reverse ? T - 1 - s : s, tp = s > 0 ? (e->reverse ? T - s : s - 1) : -1;
        if (!e->utp) {
            step_rows(e, b0, b1, t, tp);
            if (tp >= 0) /* dh[n, H] += dGH_t @ U^T */
                e->host->sgemm(e->host_ctx, GR_NO_TRANS, GR_NO_TRANS, b1 - b0, H, G, 1.0f, e->dgh + (b0 * T + t) * G,
                               T * G, e->ut, H, 1.0f, e->dh + b0 * H, H);
            continue;
        }
        for (int64_t b = b0; b < b1; b += GROUP) {
            int64_t m = b1 - b < GROUP ? b1 - b : GROUP;
            step_rows(e, b, b + m, t, tp);
            if (tp >= 0) group_products(e, b, m, t);
        }
    }
}
