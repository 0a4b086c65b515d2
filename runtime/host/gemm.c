/* Small products in registers: C[m, n] = A[m, k] @ B[k, n] (or C +=), all
 * row-major and untransposed, for the shapes a step of a recurrent layer or
 * a dense layer makes (k <= GR_GEMM_DIRECT_K).
 *
 * Each element is summed as OpenBLAS's SkylakeX kernels sum it at these
 * shapes: one fused multiply-add chain over k from zero, then C added once
 * (acc + C, never C + a0 b0 + ...), so results are bit for bit those of
 * OpenBLAS (tests/test_layers.c holds the two against each other).
 *
 * Why: OpenBLAS's small-matrix path is fast at [32, 64] x [64, 256] but
 * falls to 60-100 GFLOP/s a core at [32, 128] x [128, 512] and
 * [1792, 28] x [28, 256] (128 units; an LSTM's input projection), where this
 * kernel runs at 135-145, 90% of libxsmm's JIT kernels (measured with
 * tools/bench/gemm_bench.c; libxsmm sums C first, so it cannot give the
 * same bits, and it is one dependency more).
 *
 * The tile is 6 rows by 64 columns (24 zmm accumulators, 4 for B, 1 for the
 * broadcast): per k, 4 loads of B and 6 broadcasts of A feed 24 FMAs, so the
 * two FMA ports, not the loads, bound it. Columns beyond a multiple of 16
 * are masked. */
#include "runtime/host/gemm.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#define TILE_ROWS 6
#define TILE_VECS 4

/* One tile: `rows` x `nv` vectors of 16 columns (the last masked by `mask`). */
static inline __attribute__((always_inline)) void tile(int rows, int nv, __mmask16 mask, int64_t k, const float *a,
                                                       int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
                                                       int add) {
    __m512 acc[TILE_ROWS][TILE_VECS];
    _Pragma("GCC unroll 8") for (int i = 0; i < rows; i++)
        _Pragma("GCC unroll 8") for (int v = 0; v < nv; v++) acc[i][v] = _mm512_setzero_ps();
    _Pragma("GCC unroll 4") for (int64_t q = 0; q < k; q++) {
        __m512 bv[TILE_VECS];
        _Pragma("GCC unroll 8") for (int v = 0; v < nv; v++)
            bv[v] = v + 1 < nv ? _mm512_loadu_ps(b + q * ldb + 16 * v) : _mm512_maskz_loadu_ps(mask, b + q * ldb + 16 * v);
        _Pragma("GCC unroll 8") for (int i = 0; i < rows; i++) {
            __m512 av = _mm512_set1_ps(a[i * lda + q]);
            _Pragma("GCC unroll 8") for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < rows; i++) _Pragma("GCC unroll 8") for (int v = 0; v < nv; v++) {
        float *p = c + i * ldc + 16 * v;
        __mmask16 mk = v + 1 < nv ? (__mmask16)0xffff : mask;
        __m512 r = acc[i][v];
        if (add) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mk, p));
        _mm512_mask_storeu_ps(p, mk, r);
    }
}

/* every (rows, vectors) edge tile compiled with constant bounds, so its
 * accumulators stay in registers */
#define TILE_CASE(R, V) \
    case (R) * 8 + (V): tile(R, V, mask, k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, add); break;

int gr_gemm_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                   int64_t ldc, int add) {
    if (!gr_gemm_direct_fits(m, n, k)) return -1;
    for (int64_t j = 0; j < n; j += 16 * TILE_VECS) {
        int64_t w = n - j < 16 * TILE_VECS ? n - j : 16 * TILE_VECS;
        int nv = (int)((w + 15) / 16);
        __mmask16 mask = (__mmask16)(w % 16 ? (1u << (w % 16)) - 1 : 0xffffu);
        for (int64_t i = 0; i < m; i += TILE_ROWS) {
            int rows = m - i < TILE_ROWS ? (int)(m - i) : TILE_ROWS;
            switch (rows * 8 + nv) {
                TILE_CASE(6, 4) TILE_CASE(6, 3) TILE_CASE(6, 2) TILE_CASE(6, 1)
                TILE_CASE(5, 4) TILE_CASE(5, 3) TILE_CASE(5, 2) TILE_CASE(5, 1)
                TILE_CASE(4, 4) TILE_CASE(4, 3) TILE_CASE(4, 2) TILE_CASE(4, 1)
                TILE_CASE(3, 4) TILE_CASE(3, 3) TILE_CASE(3, 2) TILE_CASE(3, 1)
                TILE_CASE(2, 4) TILE_CASE(2, 3) TILE_CASE(2, 2) TILE_CASE(2, 1)
                TILE_CASE(1, 4) TILE_CASE(1, 3) TILE_CASE(1, 2) TILE_CASE(1, 1)
                default: GR_ASSERT(0);
            }
        }
    }
    return 0;
}

int gr_gemm_direct_fits(int64_t m, int64_t n, int64_t k) {
    /* OpenBLAS sums columns past the last whole 16 in another order unless
     * there are fewer than 16 in all (measured), and splits k above a few
     * hundred */
    return m > 0 && n > 0 && k > 0 && k <= GR_GEMM_DIRECT_K && (n % 16 == 0 || n < 16);
}

#else

int gr_gemm_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                   int64_t ldc, int add) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc, (void)add;
    return -1;
}

int gr_gemm_direct_fits(int64_t m, int64_t n, int64_t k) {
    (void)m, (void)n, (void)k;
    return 0;
}

#endif
