/* Products in registers on AVX-512 (gemm_portable.c has the kernels for
 * other builds): C[m, n] (=|+=) A @ B, A^T @ B or A @ B^T, all row-major,
 * for every shape the host's sgemm is asked for.
 *
 * Each element is summed in graphrun's order (gemm.h): one fused
 * multiply-add chain over each block of k from zero, then added into C
 * (acc + C, never C + a0 b0 + ...). tests/test_gemm.c holds every kernel
 * against that order written out. It is also the order of OpenBLAS's
 * SkylakeX kernels, but OpenBLAS picks its kernels by the CPU model it
 * knows (Haswell's, on some AVX-512 machines), and its small-matrix paths
 * sum by the product's shape: a product left to it changed its bits with
 * the batch and the thread count, so graphrun runs them all itself.
 *
 * Speed: OpenBLAS's small-matrix path is fast at [32, 64] x [64, 256] but
 * falls to 60-100 GFLOP/s a core at [32, 128] x [128, 512] and
 * [1792, 28] x [28, 256] (128 units; an LSTM's input projection), where this
 * kernel runs at 135-145, 90% of libxsmm's JIT kernels (measured with
 * tools/bench/gemm_bench.c; libxsmm sums C first, so it cannot give these
 * bits, and it is one dependency more).
 *
 * A @ B's tile is 6 rows by 64 columns (24 zmm accumulators, 4 for B, 1 for
 * the broadcast): per k, 4 loads of B and 6 broadcasts of A feed 24 FMAs, so
 * the two FMA ports, not the loads, bound it. Columns beyond a multiple of
 * 16 are masked. */
#include "runtime/host/gemm.h"

#include "runtime/base/ctx.h"

#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>

#define TILE_ROWS 6
#define TILE_VECS 4

/* One tile: `rows` x `nv` vectors of 16 columns (the last masked by `mask`);
 * A's element (i, q) is a[i * si + q * sq], so A may be read transposed. */
static inline __attribute__((always_inline)) void tile(int rows, int nv, int masked, __mmask16 mask, int64_t k,
                                                       const float *a,
                                                       int64_t si, int64_t sq, const float *b, int64_t ldb, float *c,
                                                       int64_t ldc, int add) {
    __m512 acc[TILE_ROWS][TILE_VECS];
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

/* k goes in blocks of GEMM_Q = 448, a remainder between 448 and 896 in two
 * halves rounded up to 16, each block's product summed from zero and added
 * into C in turn (ops/gemm_order.h's gr_gemm_k_block). */
#define GEMM_Q GR_GEMM_ONE_BLOCK

/* A^T @ B, the weight gradient of a layer over many rows (an LSTM's leaf:
 * m = 92, n = 256, k = 896), runs 6 x 64 tiles like A @ B (8 x 48 and
 * 12 x 32 on a narrower last panel: 24 accumulators each), broadcasting
 * A's row q in place (A^T's rows lie side by side in memory) against B's
 * panel of 64 columns copied side by side. A @ B^T runs the same way, the
 * panel copied from B's rows as columns and A's element (i, q) broadcast
 * from its row i. The panel is cut along k into
 * pieces of TN_KC rows (longer for a narrower panel: the same 28 KB), so
 * that one piece stays in the L1 cache while every tile of C's rows runs
 * over it: a tile's chain pauses at the piece's end,
 * its accumulators saved to `save` and reloaded for the next piece, so each
 * element is still one chain over its block of k from zero, then added
 * into C. Rows go TN_MC at a time so the scratch stays on the stack
 * (about 184 KB: 72 KB of saved accumulators, up to 112 KB of B). With
 * TN_TALL rows or more, the panel's piece is the whole block (up to
 * 448 x 64, 112 KB, taken from L2 as the fused LSTM steps take their
 * weights) and no chain pauses: in a training run the weight gradient at
 * 284 rows ran 2.5% faster so; at 156 and 92 rows, 1.8% and 3.4% slower. */
#define TN_NR (16 * TILE_VECS)
#define TN_KC 112 /* 64, 150, 224 and 448 measured slower at the leaf's shape */
#define TN_MC 288 /* B's piece packed once for up to 288 rows: 96 measured 4% slower at 284 */
#define TN_MAX_ROWS 12
#define TN_TALL 240
#define TN_TINY 0x1p-51f /* the least nonzero magnitude of A and B where zeros are left out (tn_block) */

/* One tile over the piece q = 0..kc-1 of the block: A's element (i, q) at
 * a[q * lda + i] when `ta` (A stored [k, m]), else at a[i * lda + q]; B's
 * piece packed [kc, 16 nv]. The chain starts from zero
 * on the block's first piece (else from `save`), and on its last the sum
 * goes into C (acc + C when `add`), else back to `save`. With qs, the
 * chain takes only the q it lists, kc of them, as qs[n] - q0 (the piece
 * from q0 on); NULL, every q in turn. */
static inline __attribute__((always_inline)) void tn_tile(int rows, int nv, int ta, int64_t kc, const float *a,
                                                          int64_t lda,
                                                          const float *bp, float *save, int first, int last, float *c,
                                                          int64_t ldc, int add, __mmask16 mask,
                                                          const uint16_t *qs, int64_t q0) {
    __m512 acc[TN_MAX_ROWS][TILE_VECS];
    _Pragma("GCC unroll 16") for (int i = 0; i < rows; i++) _Pragma("GCC unroll 16") for (int v = 0; v < nv; v++)
        acc[i][v] = first ? _mm512_setzero_ps() : _mm512_load_ps(save + i * TN_NR + 16 * v);
    if (last)
        _Pragma("GCC unroll 16") for (int i = 0; i < rows; i++)
            _Pragma("GCC unroll 16") for (int v = 0; v < nv; v++) __builtin_prefetch(c + i * ldc + 16 * v, 1, 3);
    _Pragma("GCC unroll 4") for (int64_t n = 0; n < kc; n++) {
        int64_t q = qs ? qs[n] - q0 : n;
        __m512 bv[TILE_VECS];
        _Pragma("GCC unroll 16") for (int v = 0; v < nv; v++) bv[v] = _mm512_load_ps(bp + q * 16 * nv + 16 * v);
        _Pragma("GCC unroll 16") for (int i = 0; i < rows; i++) {
            __m512 av = _mm512_set1_ps(ta ? a[q * lda + i] : a[i * lda + q]);
            _Pragma("GCC unroll 16") for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < rows; i++) _Pragma("GCC unroll 16") for (int v = 0; v < nv; v++) {
        __m512 r = acc[i][v];
        float *p = c + i * ldc + 16 * v;
        if (!last)
            _mm512_store_ps(save + i * TN_NR + 16 * v, r);
        else if (v + 1 == nv && mask != 0xffffu) {
            if (add) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask, p));
            _mm512_mask_storeu_ps(p, mask, r);
        } else {
            if (add) r = _mm512_add_ps(r, _mm512_loadu_ps(p));
            _mm512_storeu_ps(p, r);
        }
    }
}

#define TN_CASE(R, V) \
    case (R) * 8 + (V): tn_tile(R, V, TA, kc, a, lda, bp, save, first, last, c, ldc, add, mask, NULL, 0); break;
#define TN_CASES2(R) TN_CASE(R, 2) TN_CASE(R, 1)
#define TN_CASES3(R) TN_CASE(R, 3) TN_CASES2(R)
#define TN_CASES4(R) TN_CASE(R, 4) TN_CASES3(R)

/* the tile's height for nv vectors of columns: 24 accumulators */
static int tn_rows(int nv) { return nv == 4 ? 6 : nv == 3 ? 8 : TN_MAX_ROWS; }

#define TN_SWITCH                                                                     \
    switch (rows * 8 + nv) {                                                          \
        TN_CASES4(6) TN_CASES4(5) TN_CASES4(4) TN_CASES4(3) TN_CASES4(2) TN_CASES4(1) \
        TN_CASES3(8) TN_CASES3(7)                                                     \
        TN_CASES2(12) TN_CASES2(11) TN_CASES2(10) TN_CASES2(9)                        \
        default: GR_ASSERT(0);                                                        \
    }

/* A^T @ B's tile of 64 columns over the q of its piece [q0, q0 + kc) that
 * qs lists (nq of them, ascending; A at the piece's first q): the q where
 * all the tile's rows of A^T are zero left out (tn_list) */
#define TNL_CASE(R) \
    case R: tn_tile(R, TILE_VECS, 1, nq, a, lda, bp, save, first, last, c, ldc, add, 0xffffu, qs, q0); break;

static void tn_tile_listed(int rows, const uint16_t *qs, int64_t nq, int64_t q0, const float *a, int64_t lda,
                           const float *bp, float *save, int first, int last, float *c, int64_t ldc, int add) {
    switch (rows) {
        TNL_CASE(6) TNL_CASE(5) TNL_CASE(4) TNL_CASE(3) TNL_CASE(2) TNL_CASE(1)
        default: GR_ASSERT(0);
    }
}

static void tn_tile_any(int rows, int nv, int ta, int64_t kc, const float *a, int64_t lda, const float *bp,
                        float *save, int first, int last, float *c, int64_t ldc, int add, __mmask16 mask) {
    if (ta) {
        enum { TA = 1 };
        TN_SWITCH
    } else {
        enum { TA = 0 };
        TN_SWITCH
    }
}

/* Tiles of 6 rows of A^T @ B that leave out zeros (tn_block): for each, the
 * q of the block at which some of its rows of A^T is not zero. */
struct tn_lists {
    uint16_t qs[TN_MC / TILE_ROWS][GEMM_Q + 16]; /* the listed q, ascending */
    int64_t nq[TN_MC / TILE_ROWS];             /* how many */
    int64_t at[TN_MC / TILE_ROWS][GEMM_Q / TN_KC + 2]; /* how many lie before piece p */
    uint16_t nz[TN_MC / 16][GEMM_Q + 16];      /* bit i of nz[v][q]: A(q, 16 v + i) != 0, zeros past k */
};

/* The lists of rows [0, mc) of A^T (A's element (q, i) at a[q * lda + i])
 * over q in [0, k), pieces of `piece` (a multiple of 16, or k): A's rows
 * to bit masks (NaN and infinities count as not zero), then each tile's
 * bits for 16 q at a time, compressed to the q they keep. */
static int tn_list(struct tn_lists *l, int64_t mc, int64_t k, const float *a, int64_t lda, int64_t piece) {
    const int64_t nv = (mc + 15) / 16;
    /* the least of |x| - 1 over A's floats as integers: a zero wraps to
     * the largest, so it is under TN_TINY's bits - 1 only where some
     * nonzero is under TN_TINY (NaN and infinities are over it) */
    __m512i least = _mm512_set1_epi32(-1);
    const __m512i magnitude = _mm512_set1_epi32(0x7fffffff), one = _mm512_set1_epi32(1);
    for (int64_t q = 0; q < k; q++)
        for (int64_t v = 0; v < nv; v++) {
            int64_t left = mc - 16 * v;
            __mmask16 in = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1);
            __m512 x = _mm512_maskz_loadu_ps(in, a + q * lda + 16 * v);
            l->nz[v][q] = _mm512_mask_cmp_ps_mask(in, x, _mm512_setzero_ps(), _CMP_NEQ_UQ);
            least = _mm512_min_epu32(least, _mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(x), magnitude), one));
        }
    for (int64_t v = 0; v < nv; v++) memset(l->nz[v] + k, 0, 16 * sizeof(uint16_t));
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (int64_t i = 0, g = 0; i < mc; i += TILE_ROWS, g++) {
        int rows = mc - i < TILE_ROWS ? (int)(mc - i) : TILE_ROWS;
        int64_t v = i / 16, sh = i % 16, n = 0;
        int two = sh + rows > 16; /* the tile's bits run into the next word */
        const __m512i bits = _mm512_set1_epi32((1 << rows) - 1);
        for (int64_t q0 = 0; q0 < k; q0 += 16) {
            if (q0 % piece == 0) l->at[g][q0 / piece] = n;
            __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(l->nz[v] + q0)));
            if (two)
                w = _mm512_or_si512(w, _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(
                                                             (const __m256i *)(l->nz[v + 1] + q0))),
                                                         16));
            /* past k the words are zero, so no q past k is kept */
            __mmask16 keep = _mm512_test_epi32_mask(_mm512_srli_epi32(w, (unsigned)sh), bits);
            __m512i kept = _mm512_maskz_compress_epi32(keep, _mm512_add_epi32(lane, _mm512_set1_epi32((int)q0)));
            _mm256_storeu_si256((__m256i *)(l->qs[g] + n), _mm512_cvtepi32_epi16(kept));
            n += __builtin_popcount(keep);
        }
        l->at[g][(k + piece - 1) / piece] = n;
        l->nq[g] = n;
    }
    union {
        float f;
        uint32_t u;
    } tiny = {TN_TINY};
    return _mm512_reduce_min_epu32(least) >= tiny.u - 1;
}

/* op(B)'s rows q = 0..kc-1, columns 0..w-1, copied side by side
 * [kc, 16 nv] (at ldb a power of two B's rows would share a few sets of the
 * L1 cache); op(B)(q, j) is b[q * ldb + j], or b[j * ldb + q] when `tb`.
 * Each row of B lies on another page (4 KB apart at an LSTM's 256 units),
 * where the hardware's prefetchers do not follow, so row q + TN_AHEAD is
 * fetched while row q is copied: the copy's loads had waited on memory for
 * 14% of the weight gradient's time at 256 units (that product 4.6-13%
 * faster alone, a training step at batch 64 2.7-3.6% faster). */
#define TN_AHEAD 32
/* returns whether every float copied is finite and zero or at least
 * TN_TINY in magnitude (checked only where B is read by rows, the weight
 * gradient's case, else 1) */
static int tn_pack_b(int tb, int64_t kc, int64_t w, const float *b, int64_t ldb, float *bp) {
    int64_t nv = (w + 15) / 16;
    if (tb) {
        for (int64_t q = 0; q < kc; q++)
            for (int64_t j = 0; j < 16 * nv; j++) bp[q * 16 * nv + j] = j < w ? b[j * ldb + q] : 0.0f;
        return 1;
    }
    __mmask16 bad = 0;
    for (int64_t q = 0; q < kc; q++)
        for (int64_t v = 0; v < nv; v++) {
            if (q + TN_AHEAD < kc) _mm_prefetch((const char *)(b + (q + TN_AHEAD) * ldb + 16 * v), _MM_HINT_T0);
            int64_t left = w - 16 * v;
            __mmask16 mv = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1);
            __m512 x = _mm512_maskz_loadu_ps(mv, b + q * ldb + 16 * v);
            /* x - x is NaN where x is infinite or NaN */
            bad |= _mm512_cmp_ps_mask(_mm512_sub_ps(x, x), _mm512_setzero_ps(), _CMP_NEQ_UQ);
            bad |= _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NEQ_OQ), _mm512_abs_ps(x),
                                           _mm512_set1_ps(TN_TINY), _CMP_LT_OQ);
            _mm512_store_ps(bp + q * 16 * nv + 16 * v, x);
        }
    return bad == 0;
}

/* C (=|+=) op(A) @ op(B) for k <= GEMM_Q: A^T @ B (ta), or A @ B^T (tb).
 *
 * A^T @ B leaves out zeros. A weight gradient X^T dY whose inputs hold many
 * zeros (blank pixels, padding, ReLU's outputs, an LSTM's h_{-1} = 0) runs
 * each tile of 6 rows of C over the q at which one of its rows of A^T is
 * not zero, listed once a block for every panel of B (tn_list), where that
 * leaves out at least an eighth of the block. A term 0 * b (b finite) added
 * to a chain leaves it as it was unless the chain holds -0 (-0 + 0 = +0).
 * A chain from +0 holds -0 only after an FMA rounded a tiny negative
 * result to zero; with every nonzero a and b at least TN_TINY = 2^-51 in
 * magnitude, each product is a multiple of 2^-148 and each float one of
 * 2^-149, so a nonzero result never rounds to zero and the chain never
 * holds -0: the bits are the whole product's. Where a block of A or a
 * piece of B holds a smaller nonzero, an infinity or a NaN (0 * inf is
 * NaN), its tiles run every q. An LSTM's leaf
 * at 64 units over MNIST (92 x 256 x 896): the 4 tiles of whole pixels keep
 * 6%, 45%, 64% and 41% of q, the weight gradient took 12% less time, and a
 * training step at batch 64 ran 1.028x as fast (batch 256: 1.042x; 256
 * units: 1.01x); an MLP over MNIST's pixels, 1.12x. */
static void tn_block(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                     int64_t ldb, float *c, int64_t ldc, int add) {
    float bp[GEMM_Q * TN_NR] __attribute__((aligned(64)));
    float save[TN_MC * TN_NR] __attribute__((aligned(64)));
    /* per tile of 6 rows (full panels): the listed q, how many, where a piece starts in them */
    struct tn_lists l;
    /* full panels' pieces (below) */
    const int64_t full_piece = m >= TN_TALL ? k : TN_KC;
    /* listing costs about a cycle a q and tile, the tile's products 12 a
     * panel: with fewer than 4 panels it would cost more than it saves
     * where A has few zeros */
    const int lists = ta && n >= 2 * TN_NR;
    for (int64_t i0 = 0; i0 < m; i0 += TN_MC) {
        int64_t mc = m - i0 < TN_MC ? m - i0 : TN_MC;
        int listed = lists && tn_list(&l, mc, k, a + i0, lda, full_piece);
        for (int64_t j = 0; j < n; j += TN_NR) {
            int64_t w = n - j < TN_NR ? n - j : TN_NR;
            int nv = (int)((w + 15) / 16), height = tn_rows(nv);
            __mmask16 mask = (__mmask16)(w % 16 ? (1u << (w % 16)) - 1 : 0xffffu);
            /* a narrower panel, a longer piece; a tall C, the whole block */
            int64_t piece = m >= TN_TALL ? k : TN_KC * TILE_VECS / nv;
            for (int64_t q0 = 0; q0 < k; q0 += piece) {
                int64_t kc = k - q0 < piece ? k - q0 : piece;
                int finite = tn_pack_b(tb, kc, w, tb ? b + j * ldb + q0 : b + q0 * ldb + j, ldb, bp);
                for (int64_t i = 0; i < mc; i += height) {
                    int rows = mc - i < height ? (int)(mc - i) : height, first = q0 == 0, last = q0 + kc >= k;
                    float *ct = c + (i0 + i) * ldc + j;
                    if (listed && w == TN_NR) { /* whole panels: the listed tile stores 64 columns */
                        /* this piece's part of the tile's list */
                        int64_t g = i / TILE_ROWS, s0 = l.at[g][q0 / piece], s1 = l.at[g][q0 / piece + 1];
                        if (finite && l.nq[g] <= k - k / 8) {
                            tn_tile_listed(rows, l.qs[g] + s0, s1 - s0, q0, a + q0 * lda + i0 + i, lda, bp,
                                           save + i * TN_NR, first, last, ct, ldc, add);
                            continue;
                        }
                    }
                    tn_tile_any(rows, nv, ta, kc, ta ? a + q0 * lda + i0 + i : a + (i0 + i) * lda + q0, lda, bp,
                                save + i * TN_NR, first, last, ct, ldc, add, mask);
                }
            }
        }
    }
}

void gr_gemm_tn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                int64_t ldc, int add) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    for (int64_t ls = 0, len; ls < k; ls += len) {
        len = gr_gemm_k_block(k, ls);
        tn_block(1, 0, m, n, len, a + ls * lda, lda, b + ls * ldb, ldb, c, ldc, add || ls > 0);
    }
}

/* A @ B^T as A^T @ B is run: B^T's panel is copied into place */
void gr_gemm_nt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                int64_t ldc, int add) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    for (int64_t ls = 0, len; ls < k; ls += len) {
        len = gr_gemm_k_block(k, ls);
        tn_block(0, 1, m, n, len, a + ls, lda, b + ls, ldb, c, ldc, add || ls > 0);
    }
}

void gr_gemm_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                    float *c, int64_t ldc, int add) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    for (int64_t ls = 0, len; ls < k; ls += len) {
        len = gr_gemm_k_block(k, ls);
        nn_block(m, n, len, a + ls, lda, b + ls * ldb, ldb, c, ldc, add || ls > 0);
    }
}

#endif
