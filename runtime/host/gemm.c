/* Small products in registers: C[m, n] = A[m, k] @ B[k, n] (or C +=), all
 * row-major and untransposed, for the shapes a step of a recurrent layer or
 * a dense layer makes, and A^T @ B, a weight gradient over many rows.
 *
 * Each element is summed as OpenBLAS's SkylakeX kernels sum it: one fused
 * multiply-add chain over each block of k from zero, then added into C
 * (acc + C, never C + a0 b0 + ...), so results are bit for bit those of
 * OpenBLAS where gr_gemm_fits (tests/test_gemm.c holds the two against
 * each other).
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

#include "runtime/base/ctx.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define GR_GEMM_HAVE_KERNELS 1

#define TILE_ROWS 6
#define TILE_VECS 4
/* A^T @ B takes 12 rows by 32 columns: A^T's rows lie side by side in
 * memory, so 12 broadcasts read one line, and B is streamed half as often */
#define TN_ROWS 12
#define TN_VECS 2
#define TILE_MAX_ROWS 12

/* One tile: `rows` x `nv` vectors of 16 columns (the last masked by `mask`);
 * A's element (i, q) is a[i * si + q * sq], so A may be read transposed. */
static inline __attribute__((always_inline)) void tile(int rows, int nv, int masked, __mmask16 mask, int64_t k,
                                                       const float *a,
                                                       int64_t si, int64_t sq, const float *b, int64_t ldb, float *c,
                                                       int64_t ldc, int add) {
    __m512 acc[TILE_MAX_ROWS][TILE_VECS];
    _Pragma("GCC unroll 16") for (int i = 0; i < rows; i++)
        _Pragma("GCC unroll 16") for (int v = 0; v < nv; v++) acc[i][v] = _mm512_setzero_ps();
    _Pragma("GCC unroll 4") for (int64_t q = 0; q < k; q++) {
        __m512 bv[TILE_VECS];
        _Pragma("GCC unroll 16") for (int v = 0; v < nv; v++)
            bv[v] = masked && v + 1 == nv ? _mm512_maskz_loadu_ps(mask, b + q * ldb + 16 * v)
                                          : _mm512_loadu_ps(b + q * ldb + 16 * v);
        _Pragma("GCC unroll 16") for (int i = 0; i < rows; i++) {
            __m512 av = _mm512_set1_ps(a[i * si + q * sq]);
            _Pragma("GCC unroll 16") for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < rows; i++) _Pragma("GCC unroll 16") for (int v = 0; v < nv; v++) {
        float *p = c + i * ldc + 16 * v;
        __m512 r = acc[i][v];
        if (masked && v + 1 == nv) {
            if (add) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, p));
            _mm512_mask_storeu_ps(p, mask, r);
        } else {
            if (add) r = _mm512_add_ps(r, _mm512_loadu_ps(p));
            _mm512_storeu_ps(p, r);
        }
    }
}

/* every (rows, vectors) edge tile compiled with constant bounds, so its
 * accumulators stay in registers */
#define TILE_CASE(R, V, M) \
    case (R) * 8 + (V): tile(R, V, M, mask, k, a + i * lda, lda, 1, b + j, ldb, c + i * ldc + j, ldc, add); break;
#define TN_CASE(R, V, M) \
    case (R) * 8 + (V): tile(R, V, M, mask, k, a + i, 1, lda, pack, 16 * TN_VECS, c + i * ldc + j, ldc, add); break;

/* C (=|+=) A @ B for one block of k */
static void nn_block(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                     int64_t ldc, int add) {
    for (int64_t j = 0; j < n; j += 16 * TILE_VECS) {
        int64_t w = n - j < 16 * TILE_VECS ? n - j : 16 * TILE_VECS;
        int nv = (int)((w + 15) / 16);
        __mmask16 mask = (__mmask16)(w % 16 ? (1u << (w % 16)) - 1 : 0xffffu);
        for (int64_t i = 0; i < m; i += TILE_ROWS) {
            int rows = m - i < TILE_ROWS ? (int)(m - i) : TILE_ROWS;
            /* a whole panel without masks: masked loads cost about 8% here */
            if (w == 16 * TILE_VECS) switch (rows * 8 + nv) {
                    TILE_CASE(6, 4, 0) TILE_CASE(5, 4, 0) TILE_CASE(4, 4, 0)
                    TILE_CASE(3, 4, 0) TILE_CASE(2, 4, 0) TILE_CASE(1, 4, 0)
                    default: GR_ASSERT(0);
                }
            else switch (rows * 8 + nv) {
                    TILE_CASE(6, 4, 1) TILE_CASE(6, 3, 1) TILE_CASE(6, 2, 1) TILE_CASE(6, 1, 1)
                    TILE_CASE(5, 4, 1) TILE_CASE(5, 3, 1) TILE_CASE(5, 2, 1) TILE_CASE(5, 1, 1)
                    TILE_CASE(4, 4, 1) TILE_CASE(4, 3, 1) TILE_CASE(4, 2, 1) TILE_CASE(4, 1, 1)
                    TILE_CASE(3, 4, 1) TILE_CASE(3, 3, 1) TILE_CASE(3, 2, 1) TILE_CASE(3, 1, 1)
                    TILE_CASE(2, 4, 1) TILE_CASE(2, 3, 1) TILE_CASE(2, 2, 1) TILE_CASE(2, 1, 1)
                    TILE_CASE(1, 4, 1) TILE_CASE(1, 3, 1) TILE_CASE(1, 2, 1) TILE_CASE(1, 1, 1)
                    default: GR_ASSERT(0);
                }
        }
    }
}

/* OpenBLAS (SkylakeX) cuts k into blocks of GEMM_Q = 448, a remainder
 * between 448 and 896 into two halves rounded up to 16, and adds each
 * block's product, summed from zero, into C in turn (measured). */
#define GEMM_Q GR_GEMM_ONE_BLOCK
#define GEMM_UNROLL 16

/* C (=|+=) A^T @ B for k <= GEMM_Q, A stored [k, m] */
static void tn_block(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc, int add) {
    /* B's panel copied side by side: its rows lie ldb apart, which at a
     * power of two puts them all in a few sets of the L1 cache */
    float pack[GEMM_Q * 16 * TN_VECS] __attribute__((aligned(64)));
    for (int64_t j = 0; j < n; j += 16 * TN_VECS) {
        int64_t w = n - j < 16 * TN_VECS ? n - j : 16 * TN_VECS;
        int nv = (int)((w + 15) / 16);
        __mmask16 mask = (__mmask16)(w % 16 ? (1u << (w % 16)) - 1 : 0xffffu);
        for (int64_t q = 0; q < k; q++)
            for (int v = 0; v < nv; v++)
                _mm512_store_ps(pack + q * 16 * TN_VECS + 16 * v,
                                _mm512_maskz_loadu_ps(v + 1 < nv ? (__mmask16)0xffff : mask, b + q * ldb + j + 16 * v));
        for (int64_t i = 0; i < m; i += TN_ROWS) {
            int rows = m - i < TN_ROWS ? (int)(m - i) : TN_ROWS;
            if (w == 16 * TN_VECS) switch (rows * 8 + nv) {
                    TN_CASE(12, 2, 0) TN_CASE(11, 2, 0) TN_CASE(10, 2, 0) TN_CASE(9, 2, 0)
                    TN_CASE(8, 2, 0) TN_CASE(7, 2, 0) TN_CASE(6, 2, 0) TN_CASE(5, 2, 0)
                    TN_CASE(4, 2, 0) TN_CASE(3, 2, 0) TN_CASE(2, 2, 0) TN_CASE(1, 2, 0)
                    default: GR_ASSERT(0);
                }
            else switch (rows * 8 + nv) {
                    TN_CASE(12, 2, 1) TN_CASE(12, 1, 1) TN_CASE(11, 2, 1) TN_CASE(11, 1, 1) TN_CASE(10, 2, 1)
                    TN_CASE(10, 1, 1) TN_CASE(9, 2, 1) TN_CASE(9, 1, 1) TN_CASE(8, 2, 1) TN_CASE(8, 1, 1)
                    TN_CASE(7, 2, 1) TN_CASE(7, 1, 1) TN_CASE(6, 2, 1) TN_CASE(6, 1, 1) TN_CASE(5, 2, 1)
                    TN_CASE(5, 1, 1) TN_CASE(4, 2, 1) TN_CASE(4, 1, 1) TN_CASE(3, 2, 1) TN_CASE(3, 1, 1)
                    TN_CASE(2, 2, 1) TN_CASE(2, 1, 1) TN_CASE(1, 2, 1) TN_CASE(1, 1, 1)
                    default: GR_ASSERT(0);
                }
        }
    }
}

/* The length of the block of k that starts at ls. */
static int64_t k_block(int64_t k, int64_t ls) {
    int64_t len = k - ls;
    if (len >= 2 * GEMM_Q) return GEMM_Q;
    if (len > GEMM_Q) return (len / 2 + GEMM_UNROLL - 1) / GEMM_UNROLL * GEMM_UNROLL;
    return len;
}

int gr_gemm_tn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
               int64_t ldc, int add) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    for (int64_t ls = 0, len; ls < k; ls += len) {
        len = k_block(k, ls);
        tn_block(m, n, len, a + ls * lda, lda, b + ls * ldb, ldb, c, ldc, add || ls > 0);
    }
    return 0;
}

int gr_gemm_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                   int64_t ldc, int add) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    for (int64_t ls = 0, len; ls < k; ls += len) {
        len = k_block(k, ls);
        nn_block(m, n, len, a + ls, lda, b + ls * ldb, ldb, c, ldc, add || ls > 0);
    }
    return 0;
}

#else
#define GR_GEMM_HAVE_KERNELS 0

int gr_gemm_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                   int64_t ldc, int add) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc, (void)add;
    return -1;
}

int gr_gemm_tn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
               int64_t ldc, int add) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc, (void)add;
    return -1;
}

#endif

/* OpenBLAS (SkylakeX) sums the columns past the last whole 16 of a product
 * in another order, unless there are fewer than 16 in all; and its
 * small-matrix paths (m n k under about 2^20) split a k over 448 otherwise
 * than in blocks (all measured: tools/bench/gemm_bench.c's shapes, and
 * test_gemm). Where these say no, OpenBLAS runs. */
int gr_gemm_fits(int64_t m, int64_t n, int64_t k) {
    return GR_GEMM_HAVE_KERNELS && m > 0 && n > 0 && (n % 16 == 0 || n < 16) &&
           (k <= GR_GEMM_ONE_BLOCK || (double)m * (double)n * (double)k >= 0x1p21);
}
