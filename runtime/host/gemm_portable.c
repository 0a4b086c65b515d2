/* graphrun's product kernels where the build has no AVX-512 (gemm.c has
 * those): AVX2 with FMA, 8 lanes, or else one lane with fmaf. They sum every
 * element exactly as gemm.c's do (gemm.h: k in blocks, each block one fused
 * multiply-add chain from zero, then acc + C), so a product's bits depend on
 * its operands and k only: not on m, on how many threads split it, nor on
 * which BLAS the machine has.
 *
 * One scheme serves A @ B, A^T @ B and A @ B^T: B's panel of NR columns is
 * copied side by side (from rows of B, or from columns of B^T), zero-padded
 * past n, one piece of KC rows at a time, so the piece stays in the L1
 * cache while every tile of C's rows runs over it; a tile broadcasts A's
 * element (i, q) from wherever op(A) keeps it. A tile's chain pauses at the
 * piece's end, its accumulators saved and reloaded for the next piece, so
 * each element is still one chain over its block of k. C's last, narrower
 * panel goes through a small buffer: no masked loads or stores. */
#if !defined(__AVX512F__)
#include <math.h>

#include "runtime/base/ctx.h"
#include "runtime/host/gemm.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
/* 6 x 16: 12 accumulators, 2 vectors of B and a broadcast in 16 ymm */
typedef __m256 vec;
#define LANES 8
#define TILE_ROWS 6
#define TILE_VECS 2
static inline vec vzero(void) { return _mm256_setzero_ps(); }
static inline vec vload(const float *p) { return _mm256_loadu_ps(p); }
static inline vec vset1(float x) { return _mm256_set1_ps(x); }
static inline vec vfma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline vec vadd(vec a, vec b) { return _mm256_add_ps(a, b); }
static inline void vstore(float *p, vec v) { _mm256_storeu_ps(p, v); }
#else
/* one lane: fmaf rounds once, as a vector FMA does */
typedef float vec;
#define LANES 1
#define TILE_ROWS 4
#define TILE_VECS 4
static inline vec vzero(void) { return 0.0f; }
static inline vec vload(const float *p) { return *p; }
static inline vec vset1(float x) { return x; }
static inline vec vfma(vec a, vec b, vec c) { return fmaf(a, b, c); }
static inline vec vadd(vec a, vec b) { return a + b; }
static inline void vstore(float *p, vec v) { *p = v; }
#endif

#define NR (LANES * TILE_VECS) /* a panel's columns */
#define KC 256                 /* a piece's rows of k: KC x NR floats of B */
#define MC 240                 /* C's rows whose chains are saved between pieces */

/* One tile of `rows` over the piece q = 0..kc-1: A's element (i, q) at
 * a[q * lda + i] when `ta` (A stored [k, m]), else a[i * lda + q]; B's piece
 * packed [kc, NR]. The chains start from zero on the block's first piece
 * (else from `save`); on its last the sums go into C's w columns (acc + C
 * when `add`), else back to `save`. */
static inline __attribute__((always_inline)) void tile(int rows, int ta, int64_t kc, const float *a, int64_t lda,
                                                       const float *bp, float *save, int first, int last, float *c,
                                                       int64_t ldc, int add, int64_t w) {
    vec acc[TILE_ROWS][TILE_VECS];
    _Pragma("GCC unroll 8") for (int i = 0; i < rows; i++)
        _Pragma("GCC unroll 8") for (int v = 0; v < TILE_VECS; v++) acc[i][v] = first ? vzero() : vload(save + i * NR + v * LANES);
    for (int64_t q = 0; q < kc; q++) {
        vec bv[TILE_VECS];
        _Pragma("GCC unroll 8") for (int v = 0; v < TILE_VECS; v++) bv[v] = vload(bp + q * NR + v * LANES);
        _Pragma("GCC unroll 8") for (int i = 0; i < rows; i++) {
            vec av = vset1(ta ? a[q * lda + i] : a[i * lda + q]);
            _Pragma("GCC unroll 8") for (int v = 0; v < TILE_VECS; v++) acc[i][v] = vfma(av, bv[v], acc[i][v]);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < rows; i++) {
        float *p = c + i * ldc, part[NR];
        _Pragma("GCC unroll 8") for (int v = 0; v < TILE_VECS; v++) {
            if (!last)
                vstore(save + i * NR + v * LANES, acc[i][v]);
            else if (w == NR)
                vstore(p + v * LANES, add ? vadd(acc[i][v], vload(p + v * LANES)) : acc[i][v]);
            else
                vstore(part + v * LANES, acc[i][v]);
        }
        if (last && w < NR)
            for (int64_t j = 0; j < w; j++) p[j] = add ? part[j] + p[j] : part[j];
    }
}

/* every height compiled with a constant bound, so the accumulators stay in
 * registers */
#define TILE_CASE(R) \
    case R: tile(R, ta, kc, a, lda, bp, save, first, last, c, ldc, add, w); break;

static void tile_any(int rows, int ta, int64_t kc, const float *a, int64_t lda, const float *bp, float *save,
                     int first, int last, float *c, int64_t ldc, int add, int64_t w) {
    switch (rows) {
        TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4)
#if TILE_ROWS > 4
        TILE_CASE(5) TILE_CASE(6)
#endif
        default: GR_ASSERT(0);
    }
}

/* op(B)'s rows q = 0..kc-1, columns 0..w-1, copied [kc, NR] and zero-padded:
 * op(B)(q, j) is b[q * ldb + j], or b[j * ldb + q] when `tb` */
static void pack_b(int tb, int64_t kc, int64_t w, const float *b, int64_t ldb, float *bp) {
    for (int64_t q = 0; q < kc; q++)
        for (int64_t j = 0; j < NR; j++) bp[q * NR + j] = j >= w ? 0.0f : tb ? b[j * ldb + q] : b[q * ldb + j];
}

/* C (=|+=) op(A) @ op(B) for one block of k */
static void block(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float *c, int64_t ldc, int add) {
    float bp[KC * NR] __attribute__((aligned(32)));
    float save[MC * NR] __attribute__((aligned(32)));
    for (int64_t i0 = 0; i0 < m; i0 += MC) {
        int64_t mc = m - i0 < MC ? m - i0 : MC;
        for (int64_t j = 0; j < n; j += NR) {
            int64_t w = n - j < NR ? n - j : NR;
            for (int64_t q0 = 0; q0 < k; q0 += KC) {
                int64_t kc = k - q0 < KC ? k - q0 : KC;
                pack_b(tb, kc, w, tb ? b + j * ldb + q0 : b + q0 * ldb + j, ldb, bp);
                for (int64_t i = i0; i < i0 + mc; i += TILE_ROWS)
                    tile_any(i0 + mc - i < TILE_ROWS ? (int)(i0 + mc - i) : TILE_ROWS, ta, kc,
                             ta ? a + q0 * lda + i : a + i * lda + q0, lda, bp, save + (i - i0) * NR, q0 == 0,
                             q0 + kc >= k, c + i * ldc + j, ldc, add, w);
            }
        }
    }
}

/* The blocks of k in turn, the first into C as `add` says, the rest added
 * (op(A)'s and op(B)'s elements lie ka and kb floats apart along k). */
static void blocks(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                   int64_t ldb, float *c, int64_t ldc, int add) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    int64_t ka = ta ? lda : 1, kb = tb ? 1 : ldb;
    for (int64_t ls = 0, len; ls < k; ls += len) {
        len = gr_gemm_k_block(k, ls);
        block(ta, tb, m, n, len, a + ls * ka, lda, b + ls * kb, ldb, c, ldc, add || ls > 0);
    }
}

void gr_gemm_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                    int64_t ldc, int add) {
    blocks(0, 0, m, n, k, a, lda, b, ldb, c, ldc, add);
}

void gr_gemm_tn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                int64_t ldc, int add) {
    blocks(1, 0, m, n, k, a, lda, b, ldb, c, ldc, add);
}

void gr_gemm_nt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                int64_t ldc, int add) {
    blocks(0, 1, m, n, k, a, lda, b, ldb, c, ldc, add);
}

#endif
