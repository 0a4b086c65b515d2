/* The lstm op's evaluation kernel: for each step, each 16 units and each
 * tile of up to 6 rows, the 6 x 4 vectors of z (the four gates of those
 * units) are summed in 24 registers, first x_t @ Wx, set aside in L1, then
 * h_{t-1} @ Wh from zero and added to it, then the gates and the cell
 * update run on the registers and only c and h are stored.
 *
 * Units outside rows: each 16 units' columns of Wx and Wh (4 gates x 16
 * columns x (I + H) rows, 23.5 KB at I = 28, H = 64) stay in L1 while all
 * tiles of the block take them, and per k, 4 loads of W and 6 broadcasts of
 * x or h feed 24 FMAs, so the two FMA ports bound the products.
 *
 * Step by step (lstm.c's own products and cell_forward), z made a round
 * trip through memory between two products and the gate loop, and the
 * 32-row blocks left 2-row tiles; this runs the same operations on the
 * same values in the same order. */
#include "lstm_eval.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "fastmath.h"

/* runtime/host/gemm.h's GR_GEMM_ONE_BLOCK: a k up to this is summed in one
 * chain from zero, as here */
#define ONE_BLOCK 448

#ifdef GR_HAVE_V16

#define ROWS 6
/* tiles that take each 16 units' weights in turn, at most */
#define TILES 6

int lstm_eval_fits(int64_t in, int64_t h) { return h % 16 == 0 && in >= 1 && in <= ONE_BLOCK && h <= ONE_BLOCK; }

#define INLINE static inline __attribute__((always_inline))

/* z[i][g] = sum over q of a_i[q] * w[q][g], an FMA chain from zero in q
 * order (w the tile's 16 units, packed), stored, or with `add` added to z
 * as the host adds a product into C ((h @ Wh) + (x @ Wx)). With a list qs,
 * only its k values of q (the others' terms are zeros, see
 * lstm_eval_rows). */
INLINE void chain(int R, float z[ROWS][4][16], const float *const *a, const int32_t *qs, int64_t k, const float *w,
                  int add) {
    __m512 acc[ROWS][4];
    _Pragma("GCC unroll 8") for (int i = 0; i < R; i++)
        _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) acc[i][g] = _mm512_setzero_ps();
    _Pragma("GCC unroll 4") for (int64_t n = 0; n < k; n++) {
        int64_t q = qs ? qs[n] : n;
        __m512 bv[4];
        _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) bv[g] = _mm512_loadu_ps(w + 64 * q + 16 * g);
        _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {
            __m512 av = _mm512_set1_ps(a[i][q]);
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) acc[i][g] = _mm512_fmadd_ps(av, bv[g], acc[i][g]);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++)
        _mm512_store_ps(z[i][g], add ? _mm512_add_ps(acc[i][g], _mm512_load_ps(z[i][g])) : acc[i][g]);
}

/* one function per row count, dense and listed, so that the 24
 * accumulators have the registers to themselves (inlined beside the gates,
 * whose constants the compiler hoists, they spilled) */
typedef void chain_fn(float z[ROWS][4][16], const float *const *a, const int32_t *qs, int64_t k, const float *w,
                      int add);
#define CHAIN(R)                                                                                                   \
    static __attribute__((noinline)) void chain##R(float z[ROWS][4][16], const float *const *a, const int32_t *qs, \
                                                   int64_t k, const float *w, int add) {                           \
        (void)qs;                                                                                                  \
        chain(R, z, a, NULL, k, w, add);                                                                           \
    }                                                                                                              \
    static __attribute__((noinline)) void listed##R(float z[ROWS][4][16], const float *const *a, const int32_t *qs, \
                                                    int64_t k, const float *w, int add) {                          \
        chain(R, z, a, qs, k, w, add);                                                                             \
    }
CHAIN(1) CHAIN(2) CHAIN(3) CHAIN(4) CHAIN(5) CHAIN(6)
static chain_fn *const dense[ROWS + 1] = {NULL, chain1, chain2, chain3, chain4, chain5, chain6};
static chain_fn *const listed[ROWS + 1] = {NULL, listed1, listed2, listed3, listed4, listed5, listed6};

/* The q at which some row of the tile has x_t != 0 (NaN counts), in
 * order, into qs (room for I + 16); returns how many. Compressed 16 at a
 * time: a loop over the set bits mispredicted its branch. */
static int64_t nonzero_columns(int R, const float *const *a, int64_t I, int32_t *qs) {
    int64_t n = 0;
    for (int64_t q0 = 0; q0 < I; q0 += 16) {
        __mmask16 in = (__mmask16)(I - q0 >= 16 ? 0xffffu : (1u << (I - q0)) - 1), any = 0;
        for (int i = 0; i < R; i++)
            any |= _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, a[i] + q0), _mm512_setzero_ps(), _CMP_NEQ_UQ);
        __m512i q = _mm512_add_epi32(_mm512_set1_epi32((int)q0),
                                     _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
        _mm512_storeu_si512(qs + n, _mm512_maskz_compress_epi32(any, q));
        n += __builtin_popcount(any);
    }
    return n;
}

/* fastmath.h's gr_sigmoid16 of v[k], or gr_tanh16 where bit k of `tanh` is
 * set, n of them side by side (operation for operation, so the same bits) */
INLINE void activate_n(int n, __m512 *v, unsigned tanh) {
    const __m512 one = _mm512_set1_ps(1.0f);
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++)
        v[k] = tanh >> k & 1 ? _mm512_add_ps(v[k], v[k]) : _mm512_sub_ps(_mm512_setzero_ps(), v[k]);
    gr_exp16_n(n, v);
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++)
        v[k] = gr_rcp16(tanh >> k & 1 ? _mm512_add_ps(v[k], one) : _mm512_add_ps(one, v[k]));
    _Pragma("GCC unroll 8") for (int k = 0; k < n; k++)
        if (tanh >> k & 1) v[k] = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), v[k], one);
}

/* m rows' gates and c (as cell_forward: i, f, g, o, then c = f c + i g);
 * z[i] leaves holding o and c in its first two vectors */
INLINE void gate_rows(int m, float z[][4][16], const float *bias, int64_t H, __m512 fb, float *c) {
    __m512 v[8];
    _Pragma("GCC unroll 2") for (int i = 0; i < m; i++) _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
        v[4 * i + g] = _mm512_add_ps(_mm512_load_ps(z[i][g]), _mm512_loadu_ps(bias + g * H));
        if (g == 1) v[4 * i + g] = _mm512_add_ps(v[4 * i + g], fb);
    }
    activate_n(4 * m, v, 0x4444); /* g, the third of each row's four */
    _Pragma("GCC unroll 2") for (int i = 0; i < m; i++) {
        __m512 cv = _mm512_fmadd_ps(v[4 * i + 1], _mm512_loadu_ps(c + i * H), _mm512_mul_ps(v[4 * i], v[4 * i + 2]));
        _mm512_storeu_ps(c + i * H, cv);
        _mm512_store_ps(z[i][0], v[4 * i + 3]);
        _mm512_store_ps(z[i][1], cv);
    }
}

/* h = o * tanh(c) for m rows */
INLINE void h_rows(int m, float z[][4][16], float *const *h) {
    __m512 v[4];
    _Pragma("GCC unroll 4") for (int i = 0; i < m; i++) v[i] = _mm512_load_ps(z[i][1]);
    activate_n(m, v, 0xf);
    _Pragma("GCC unroll 4") for (int i = 0; i < m; i++) _mm512_storeu_ps(h[i], _mm512_mul_ps(_mm512_load_ps(z[i][0]), v[i]));
}

/* lstm.c's cell_forward on the tile's 16 units, in two passes over its
 * rows, two rows' gates side by side, then h = o * tanh(c) four rows at a
 * time: a row at a time, its chains of dependent operations left the FMA
 * ports waiting on latency. */
static inline void gates(int R, float z[ROWS][4][16], const float *bias, int64_t H, float fb, float *c, float *const *h) {
    const __m512 fbv = _mm512_set1_ps(fb);
    int i = 0;
    for (; i + 2 <= R; i += 2) gate_rows(2, z + i, bias, H, fbv, c + i * H);
    if (i < R) gate_rows(1, z + i, bias, H, fbv, c + i * H);
    for (i = 0; i + 4 <= R; i += 4) h_rows(4, z + i, h + i);
    switch (R - i) {
        case 3: h_rows(3, z + i, h + i); break;
        case 2: h_rows(2, z + i, h + i); break;
        case 1: h_rows(1, z + i, h + i); break;
        default: break;
    }
}

/* a[i] = p + i * stride (added up: computed, gcc vectorized it with 64-bit
 * multiplies of 15 cycles' latency) */
static inline void rows_of(int R, const float **a, const float *p, int64_t stride) {
    for (int i = 0; i < R; i++, p += stride) a[i] = p;
}

/* Rows [r0, r0 + R) at processing step s, units [u, u + 16); qs and nq
 * the tile's nonzero columns of x_t when e->skip_zeros. */
static void tile(int R, const struct lstm_eval *e, int64_t r0, int64_t u, int64_t s, const int32_t *qs, int64_t nq) {
    const int64_t T = e->T, I = e->I, H = e->H;
    const float *w = e->wp + u * 4 * (I + H); /* [I + H][4][16] */
    const int64_t tt = e->reverse ? T - 1 - s : s, tp = e->reverse ? tt + 1 : tt - 1;
    const float *a[ROWS] = {NULL};
    float z[ROWS][4][16] __attribute__((aligned(64)));
    rows_of(R, a, e->x + (r0 * T + tt) * I, T * I);
    if (e->skip_zeros) {
        listed[R](z, a, qs, nq, w, 0);
    } else {
        dense[R](z, a, NULL, I, w, 0);
    }
    if (s > 0) {
        rows_of(R, a, e->y + (r0 * T + tp) * H, T * H);
        dense[R](z, a, NULL, H, w + 64 * I, 1);
    }
    float *h[ROWS] = {NULL};
    rows_of(R, (const float **)h, e->y + (r0 * T + tt) * H + u, T * H);
    gates(R, z, e->bias + u, H, e->fb, e->c + r0 * H + u, h);
}

/* Each 16 units' columns side by side, [H / 16][I + H][4 gates][16]: in
 * the kernel's own layout one unit's 4 gates lie 4H floats apart and its
 * rows 16H apart, so a slice's lines fall in a quarter of L1's sets (at
 * H = 64) and did not stay there. */
void lstm_eval_pack(struct lstm_eval *e) {
    int64_t rows = e->I + e->H, G = 4 * e->H;
    e->skip_zeros = 1;
    for (int64_t k = 0; k < e->I * G; k++) e->skip_zeros &= isfinite(e->w[k]) != 0;
    for (int64_t u = 0; u < e->H; u += 16)
        for (int64_t q = 0; q < rows; q++)
            for (int g = 0; g < 4; g++)
                memcpy(e->wp + (u * rows + q * 16) * 4 + g * 16, e->w + q * G + g * e->H + u, 16 * sizeof(float));
}

/* x's zeros: a term 0 * w (w finite) is a zero, and adding a zero to a
 * chain leaves it as it was, but for the sign of a zero sum (-0 + 0 = +0),
 * which the gates do not see (z + bias, and exp(-0) = exp(+0)). So where no
 * row of a tile has x_t[q] != 0, step q of the chain x_t @ Wx is left out
 * and the bits stay those of the whole product: MNIST's digits leave 58%
 * of q out over 6 rows (a whole blank image row, 17% of them). */
static void run_tiles(const struct lstm_eval *e, int64_t b0, int64_t b1) {
    int32_t qs[TILES][ONE_BLOCK + 16];
    int64_t nq[TILES] = {0};
    for (int64_t s = 0; s < e->T; s++) {
        int64_t tt = e->reverse ? e->T - 1 - s : s;
        for (int64_t r0 = b0, k = 0; r0 < b1 && e->skip_zeros; r0 += ROWS, k++) {
            const float *a[ROWS] = {NULL};
            int R = b1 - r0 < ROWS ? (int)(b1 - r0) : ROWS;
            rows_of(R, a, e->x + (r0 * e->T + tt) * e->I, e->T * e->I);
            nq[k] = nonzero_columns(R, a, e->I, qs[k]);
        }
        for (int64_t u = 0; u < e->H; u += 16)
            for (int64_t r0 = b0, k = 0; r0 < b1; r0 += ROWS, k++)
                tile(b1 - r0 < ROWS ? (int)(b1 - r0) : ROWS, e, r0, u, s, qs[k], nq[k]);
    }
}

void lstm_eval_rows(const struct lstm_eval *e, int64_t b0, int64_t b1) {
    for (int64_t r = b0; r < b1; r++)
        for (int64_t k = 0; k < e->H; k++) e->c[r * e->H + k] = 0.0f;
    for (int64_t r = b0; r < b1; r += TILES * ROWS) run_tiles(e, r, b1 - r < TILES * ROWS ? b1 : r + TILES * ROWS);
}

#else

int lstm_eval_fits(int64_t in, int64_t h) {
    (void)in, (void)h;
    return 0;
}

void lstm_eval_pack(struct lstm_eval *e) { (void)e; }

void lstm_eval_rows(const struct lstm_eval *e, int64_t b0, int64_t b1) { (void)e, (void)b0, (void)b1; }

#endif
