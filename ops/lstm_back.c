/* The lstm op's steps backward through time (lstm.c gives the equations).
 *
 * Step by step, each step ran the rows' dz, then the host's product
 * dh_next [n, H] = dz_t [n, 4H] @ Wh^T over the leaf's 32 rows: dz went to
 * memory and back, and the product's 6-row tiles left one of 2 rows. Fused,
 * dz of every row of the step, then each tile of up to 6 rows (as even as
 * they go) runs its rows' product in registers, 64 columns at a time, the
 * tiles in turn on each slice of Wh^T (lstm_cell_chain: the FMA chains of
 * the host's product, from zero in k order), the same
 * operations on the same values. */
#include "lstm_back.h"

#include <string.h>

#include "fastmath.h"
#include "gemm_order.h"
#include "lstm_cell.h"
#include "util.h"

/* The rows a row's reads are fetched ahead of it, where the state is past
 * the caches (lstm_cell_state_past_l2): then every row's gates, c, tanh(c)
 * and dy come from memory, a row's gates a 4 KB page of their own at 256
 * units, where the hardware's prefetchers stop; their loads were most of
 * cell_backward's time. 8 rows ahead: 256 units 1.027x a step (4 rows:
 * 1.010x); 64 and 128 units, whose rows the caches still hold, 0.99-1.0x. */
#define AHEAD 8

/* the lines of a row cell_backward will read: gates, tanh(c), c_{t-1}, dy */
struct ahead {
    const float *g, *tc, *cprev, *dy;
};

/* One step of one row backward: dz [4H] from the saved gates g (dz may be
 * g: each 16 units' gates are loaded before their dz is stored); dh_next
 * arrives holding dh from later steps, dc_next is updated in place;
 * next, where set, the row AHEAD rows on, whose lines are fetched. */
static void cell_backward(int64_t H, const float *g, const float *restrict tc, const float *restrict cprev,
                          const float *restrict dy, const float *restrict dh_next, float *restrict dc_next, float *dz,
                          const struct ahead *next) {
    int64_t j = 0;
    (void)next;
#ifdef GR_HAVE_V16
    /* the scalar loop below, 16 units at a time, operation for operation
     * (no fused multiply-adds), so the bits are the same */
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; j + 16 <= H; j += 16) {
        if (next) {
            for (int q = 0; q < 4; q++) _mm_prefetch((const char *)(next->g + q * H + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(next->tc + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(next->cprev + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(next->dy + j), _MM_HINT_T0);
        }
        __m512 ig = _mm512_loadu_ps(g + j), fg = _mm512_loadu_ps(g + H + j);
        __m512 gg = _mm512_loadu_ps(g + 2 * H + j), og = _mm512_loadu_ps(g + 3 * H + j);
        __m512 t = _mm512_loadu_ps(tc + j);
        __m512 dh = _mm512_add_ps(_mm512_loadu_ps(dy + j), _mm512_loadu_ps(dh_next + j));
        __m512 dc = _mm512_add_ps(_mm512_loadu_ps(dc_next + j),
                                  _mm512_mul_ps(_mm512_mul_ps(dh, og), _mm512_sub_ps(one, _mm512_mul_ps(t, t))));
        _mm512_storeu_ps(dz + j, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dc, gg), ig), _mm512_sub_ps(one, ig)));
        _mm512_storeu_ps(dz + H + j, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dc, _mm512_loadu_ps(cprev + j)), fg),
                                                   _mm512_sub_ps(one, fg)));
        _mm512_storeu_ps(dz + 2 * H + j, _mm512_mul_ps(_mm512_mul_ps(dc, ig), _mm512_sub_ps(one, _mm512_mul_ps(gg, gg))));
        _mm512_storeu_ps(dz + 3 * H + j, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dh, t), og), _mm512_sub_ps(one, og)));
        _mm512_storeu_ps(dc_next + j, _mm512_mul_ps(dc, fg));
    }
#endif
    for (; j < H; j++) {
        float ig = g[j], fg = g[H + j], gg = g[2 * H + j], og = g[3 * H + j];
        float dh = dy[j] + dh_next[j];
        float dc = dc_next[j] + dh * og * (1.0f - tc[j] * tc[j]);
        dz[j] = dc * gg * ig * (1.0f - ig);
        dz[H + j] = dc * cprev[j] * fg * (1.0f - fg);
        dz[2 * H + j] = dc * ig * (1.0f - gg * gg);
        dz[3 * H + j] = dh * tc[j] * og * (1.0f - og);
        dc_next[j] = dc * fg;
    }
}

/* The row of sample b at processing step t in the leaf [b0, b0 + n), and
 * dz of it (cell_backward), of the rows [.., end) this thread runs now:
 * lines are fetched ahead only within them (a part's neighbour may be
 * writing the rows past its end). */
static void row_backward(const struct lstm_back *e, int64_t b0, int64_t n, int64_t t, int64_t b, int64_t end) {
    int64_t T = e->T, H = e->H, r = T * b0 + t * n + b - b0, tt = lstm_time_of(T, e->reverse, t);
    const float *cprev = t > 0 ? e->c + (r - n) * H : e->zeros;
    struct ahead next, *ahead = NULL;
    if (b + AHEAD < end && lstm_cell_state_past_l2(T, n, H)) {
        next = (struct ahead){.g = e->z + (r + AHEAD) * 4 * H, .tc = e->tc + (r + AHEAD) * H,
                              .cprev = t > 0 ? cprev + AHEAD * H : e->zeros, .dy = e->dy + ((b + AHEAD) * T + tt) * H};
        ahead = &next;
    }
    cell_backward(H, e->z + r * 4 * H, e->tc + r * H, cprev, e->dy + (b * T + tt) * H, e->dh_next + b * H,
                  e->dc_next + b * H, e->dz + r * 4 * H, ahead);
}

int64_t lstm_back_pack_floats(int64_t h) { return (h + 63) / 64 * 64 * 4 * h; }

void lstm_back_pack(const struct lstm_back *e, const float *wh) { gr_transpose_slices64(wh, e->H, 4 * e->H, e->whp); }

/* Rows [b, b + m) (m at most GROUP) at step t > 0, their dz already in
 * place: dh_next = dz_t @ Wh^T, each 64 columns' in registers, tile by tile
 * (lstm_cell_tiles), and stored where they are columns of H. Each slice of
 * Wh^T (4H x 64, 256 KB at H = 256) and each block of k of it is taken by
 * every tile in turn: tile by tile, each tile streamed all of Wh^T (1 MB
 * at H = 256, beyond a core's L2) once a tile. The order of each element's
 * sums is the tile's alone, so the bits are the same in either order. */
#define GROUP (LSTM_CELL_ROWS * 6)
static void group_products(const struct lstm_back *e, int64_t b0, int64_t n, int64_t t, int64_t b, int64_t m) {
    int64_t H = e->H, G = 4 * H, nt = lstm_cell_tiles(m);
    float z[GROUP / LSTM_CELL_ROWS][LSTM_CELL_ROWS][4][16] __attribute__((aligned(64)));
    const float *ak[LSTM_CELL_ROWS] = {NULL};
    const float *dz = e->dz + (e->T * b0 + t * n + b - b0) * G; /* row b's dz */
    for (int64_t s = 0; s < H; s += 64) {
        /* the host's blocks of k, each from zero, added in turn */
        for (int64_t ls = 0, len; ls < G; ls += len) {
            len = gr_gemm_k_block(G, ls);
            for (int64_t k = 0, i0 = 0; k < nt; i0 += lstm_cell_tile_rows(m, k), k++) {
                int R = lstm_cell_tile_rows(m, k);
                for (int i = 0; i < R; i++) ak[i] = dz + (i0 + i) * G + ls;
                lstm_cell_chain(R, z[k], ak, len, e->whp + s * G + ls * 64, ls > 0);
            }
        }
        for (int64_t k = 0, i0 = 0; k < nt; i0 += lstm_cell_tile_rows(m, k), k++)
            for (int i = 0; i < lstm_cell_tile_rows(m, k); i++)
                for (int g = 0; g < 4 && s + 16 * g < H; g++)
                    memcpy(e->dh_next + (b + i0 + i) * H + s + 16 * g, z[k][i][g], 16 * sizeof(float));
    }
}

void lstm_back_part(const struct lstm_back *e, int64_t lo, int64_t hi, int64_t r0, int64_t r1) {
    for (int64_t t = e->T - 1; t >= 0; t--)
        for (int64_t b = r0; b < r1; b += GROUP) {
            int64_t m = r1 - b < GROUP ? r1 - b : GROUP;
            for (int64_t i = b; i < b + m; i++) row_backward(e, lo, hi - lo, t, i, b + m);
            if (t > 0) group_products(e, lo, hi - lo, t, b, m);
        }
}

void lstm_back_rows(const struct lstm_back *e, int64_t b0, int64_t b1) {
    int64_t T = e->T, H = e->H, G = 4 * H, n = b1 - b0;
    if (lstm_back_fused(e)) {
        lstm_back_part(e, b0, b1, b0, b1);
        return;
    }
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t b = b0; b < b1; b++) row_backward(e, b0, n, t, b, b1);
        if (t > 0) /* dh_next[n, H] = dz_t[n, 4H] @ Wh^T[4H, H] */
            e->host->sgemm(e->host_ctx, GR_NO_TRANS, GR_NO_TRANS, n, H, G, 1.0f, e->dz + (T * b0 + t * n) * G, G,
                           e->wht, H, 0.0f, e->dh_next + b0 * H, H);
    }
}

int lstm_back_fused(const struct lstm_back *e) { return e->whp != NULL; }

int lstm_back_plain(int64_t h) { return !lstm_back_fits(h); }

int64_t lstm_back_wh_floats(int64_t h) {
    return (lstm_back_fits(h) ? lstm_back_pack_floats(h) : 0) + (lstm_back_plain(h) ? 4 * h * h : 0);
}

int lstm_back_fits(int64_t h) {
#ifdef GR_HAVE_V16
    return h % 16 == 0;
#else
    (void)h;
    return 0;
#endif
}
