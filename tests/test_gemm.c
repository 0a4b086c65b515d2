/* graphrun's product kernels (runtime/host/gemm.c, gemm_portable.c): every
 * element is one fused multiply-add chain over each block of k from zero,
 * added into C block after block; so a product's bits depend on k alone,
 * not on m or on how the host splits it, whatever the machine's BLAS. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/host/gemm.h"

/* values with many significant bits, so a different order shows */
static void fill(float *v, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f + 1e-3f * (float)(i % 7);
    }
}

/* k's blocks: 448, a remainder under 896 halved and rounded up to 16 */
static int64_t block_len(int64_t k, int64_t ls) {
    return k - ls >= 896 ? 448 : k - ls > 448 ? ((k - ls) / 2 + 15) / 16 * 16 : k - ls;
}

enum kind { NN, TN, NT };

/* C (=|+=) op(A) @ op(B) with ld's wider than the rows, A stored [m, k]
 * (or [k, m] for TN), B stored [k, n] (or [n, k] for NT): the contract
 * written out, each block summed from zero in one chain, then added */
static void reference(enum kind kind, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                      int64_t ldb, float *c, int64_t ldc, int add) {
    for (int64_t ls = 0, len; ls < k; ls += len) {
        len = block_len(k, ls);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float acc = 0.0f;
                for (int64_t q = ls; q < ls + len; q++)
                    acc = fmaf(a[kind == TN ? q * lda + i : i * lda + q], b[kind == NT ? j * ldb + q : q * ldb + j],
                               acc);
                c[i * ldc + j] = add || ls > 0 ? acc + c[i * ldc + j] : acc;
            }
    }
}

static const char *const kind_name[] = {"A @ B", "A^T @ B", "A @ B^T"};

/* how a test reshapes the filled A (stored [k, m] for TN) and B before the product */
typedef void shape_fn(float *a, int64_t lda, float *b, int64_t ldb, int64_t m, int64_t n, int64_t k);

/* the kernel of `kind` against the reference on filled operands (then
 * `shape`d, when given): the same bits, the padding between C's rows
 * included */
static void expect_shaped(enum kind kind, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc,
                          const unsigned seed[3], int add, shape_fn *shape) {
    size_t na = (size_t)((kind == TN ? k : m) * lda), nb = (size_t)((kind == NT ? n : k) * ldb);
    size_t nc = (size_t)(m * ldc);
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *c = malloc(nc * sizeof *c), *want = malloc(nc * sizeof *want);
    cr_assert(a && b && c && want);
    fill(a, na, seed[0]), fill(b, nb, seed[1]), fill(c, nc, seed[2]);
    if (shape) shape(a, lda, b, ldb, m, n, k);
    memcpy(want, c, nc * sizeof *c);
    reference(kind, m, n, k, a, lda, b, ldb, want, ldc, add);
    if (kind == NN) gr_gemm_direct(m, n, k, a, lda, b, ldb, c, ldc, add);
    if (kind == TN) gr_gemm_tn(m, n, k, a, lda, b, ldb, c, ldc, add);
    if (kind == NT) gr_gemm_nt(m, n, k, a, lda, b, ldb, c, ldc, add);
    int64_t off = -1;
    for (size_t e = 0; e < nc && off < 0; e++)
        if (memcmp(&c[e], &want[e], sizeof *c) != 0) off = (int64_t)e;
    float got = off >= 0 ? c[off] : 0.0f, ref = off >= 0 ? want[off] : 0.0f;
    free(a), free(b), free(c), free(want);
    cr_assert(off < 0, "%s [%lld, %lld, %lld] add %d: element (%lld, %lld) is %.9g, the contract's %.9g",
              kind_name[kind], (long long)m, (long long)n, (long long)k, add, (long long)(off / ldc),
              (long long)(off % ldc), got, ref);
}

static void expect_kernel(enum kind kind, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc,
                          const unsigned seed[3], int add) {
    expect_shaped(kind, m, n, k, lda, ldb, ldc, seed, add, NULL);
}

static int64_t m_of[] = {1, 5, 6, 7, 32, 33};
static int64_t n_of[] = {1, 10, 16, 48, 64, 80, 256};
static int64_t k_of[] = {1, 9, 28, 64, 92, 448, 500, 1000};

Test(gemm, direct_sums_in_blocks_of_k_each_one_fma_chain_then_adds_c) {
    enum { PAD = 3 };
    for (size_t im = 0; im < sizeof m_of / sizeof *m_of; im++)
        for (size_t in = 0; in < sizeof n_of / sizeof *n_of; in++)
            for (size_t ik = 0; ik < sizeof k_of / sizeof *k_of; ik++)
                for (int add = 0; add < 2; add++) {
                    int64_t m = m_of[im], n = n_of[in], k = k_of[ik];
                    unsigned seed[3] = {1u + (unsigned)im, 7u + (unsigned)in, 13u + (unsigned)ik};
                    expect_kernel(NN, m, n, k, k + PAD, n + PAD, n + PAD, seed, add);
                }
}

Test(gemm, tn_sums_in_blocks_of_k) {
    static const int64_t shapes[][3] = {{92, 128, 1792}, {13, 48, 500}, {1, 10, 1000}, {25, 32, 448}, {12, 16, 9}};
    static const unsigned seed[3] = {17, 19, 23};
    enum { PAD = 5 };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int add = 0; add < 2; add++) {
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            expect_kernel(TN, m, n, k, m + PAD, n + PAD, n + PAD, seed, add);
        }
}

/* The LSTM's weight gradient per leaf of 32 samples (92 x 256 x 896), and
 * the edges of A^T @ B's tiling: odd m, rows past a chunk of 288, narrow
 * panels (n under 16, 48), k on both sides of a block of 448 and of a piece
 * of k (112 for 64 columns, 448 for 16; a whole block at 240 rows or
 * more, 250 x 90 x 1000 with a narrow last panel), and B's rows far apart
 * (ldb over 64) */
Test(gemm, tn_pauses_each_chain_between_pieces_of_k_without_changing_its_order) {
    static const int64_t shapes[][3] = {{92, 256, 896}, {93, 256, 449}, {297, 64, 447}, {7, 10, 1000}, {13, 48, 113},
                                        {300, 80, 1}, {31, 3, 449}, {101, 112, 225}, {1, 16, 1000}, {6, 64, 112},
                                        {250, 90, 1000}};
    static const unsigned seed[3] = {29, 31, 37};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int pad = 0; pad < 2; pad++)
            for (int add = 0; add < 2; add++) {
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], p = pad ? 67 : 0;
                expect_kernel(TN, m, n, k, m + p, n + p, n + 3 * p, seed, add);
            }
}

/* A^T's rows (the weight gradient's inputs, A stored [k, m]) with zeros as
 * images and recurrent states have them: whole rows of A zero at some q
 * (a blank image row, h_{-1}), the first columns mostly zero (blank
 * margins) with one nonzero at a moving column (each bit of a tile's
 * mask), a band zero but for one column in six, -0 among the zeros, and an
 * infinity at one q of column 3 (it counts as not zero). */
static void zero_rows(float *a, int64_t lda, float *b, int64_t ldb, int64_t m, int64_t n, int64_t k) {
    (void)b, (void)ldb, (void)n;
    for (int64_t q = 0; q < k; q++)
        for (int64_t i = 0; i < m; i++) {
            float *x = a + q * lda + i;
            if (q % 3 == 0 || (i < 30 && (q * 7 + i) % 11 != 0) || (i >= 30 && i < 42 && i % 6 != q % 6))
                *x = (q + i) % 4 == 0 ? -0.0f : 0.0f;
        }
    if (k > 10 && m > 3) a[10 * lda + 3] = INFINITY;
}

/* the same, and an infinity and a NaN in B at q where some tiles of A^T
 * are all zero: 0 * inf is NaN, so those q may not be left out */
static void zero_rows_bad_b(float *a, int64_t lda, float *b, int64_t ldb, int64_t m, int64_t n, int64_t k) {
    zero_rows(a, lda, b, ldb, m, n, k);
    if (k > 300 && n > 70) b[300 * ldb + 5] = INFINITY, b[300 * ldb + 70] = NAN;
    if (k > 4) b[3 * ldb] = -INFINITY;
}

/* A chain that an FMA rounds to -0 (a tiny negative product) turns +0 at
 * the next term 0 * b, b >= 0, so such terms may not be left out: one q of
 * A^T nonzero, -2^-78 (or -2^-40 against B's 2^-120), B's row there
 * positive and tiny, the other rows of B as filled (both signs). */
static void underflow(float *a, int64_t lda, float *b, int64_t ldb, int64_t m, int64_t n, int64_t k, float av,
                      float bv) {
    for (int64_t q = 0; q < k; q++)
        for (int64_t i = 0; i < m; i++) a[q * lda + i] = q == 1 ? av : 0.0f;
    for (int64_t j = 0; j < n; j++) b[ldb + j] = bv;
}
static void underflow_a(float *a, int64_t lda, float *b, int64_t ldb, int64_t m, int64_t n, int64_t k) {
    underflow(a, lda, b, ldb, m, n, k, -0x1p-78f, 0x1p-78f);
}
static void underflow_b(float *a, int64_t lda, float *b, int64_t ldb, int64_t m, int64_t n, int64_t k) {
    underflow(a, lda, b, ldb, m, n, k, -0x1p-40f, 0x1p-120f);
}

/* A^T @ B leaves out the q where a tile's rows of A^T are all zero
 * (runtime/host/gemm.c): the bits of the whole chain all the same, over
 * an LSTM's leaf at 64 and 256 units (pieces of k, and whole blocks), C
 * past a chunk of 288 rows, uneven blocks, a last panel of 49 to 63
 * columns (C's rows contiguous, and padded), B with non-finite values, and
 * chains that underflow to -0 */
Test(gemm, tn_leaves_out_zero_rows_of_a_without_changing_a_bit) {
    static const int64_t shapes[][4] = {{92, 256, 896, 5}, {284, 1024, 896, 5}, {300, 256, 449, 5},
                                        {40, 320, 1000, 5}, {2, 177, 8, 0},       {13, 191, 300, 0},
                                        {7, 249, 60, 3}};
    static const unsigned seed[3] = {53, 59, 61};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int bad = 0; bad < 2; bad++)
            for (int add = 0; add < 2; add++) {
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], p = shapes[s][3];
                expect_shaped(TN, m, n, k, m + 3, n, n + p, seed, add, bad ? zero_rows_bad_b : zero_rows);
            }
    for (int add = 0; add < 2; add++) {
        expect_shaped(TN, 1, 128, 8, 1, 128, 128, seed, add, underflow_a);
        expect_shaped(TN, 6, 256, 100, 9, 256, 260, seed, add, underflow_b);
    }
}

/* A @ B^T: a dense layer's and a recurrent layer's input gradient
 * (dY @ W^T), the MNIST CNN's shapes, and the same edges as A^T @ B's */
Test(gemm, nt_sums_in_blocks_of_k) {
    static const int64_t shapes[][3] = {{64, 784, 128}, {1792, 28, 256}, {196, 288, 64}, {93, 256, 449},
                                        {7, 10, 1000},  {13, 48, 113},   {300, 80, 1},   {31, 3, 449},
                                        {1, 16, 1000},  {6, 64, 112},    {33, 100, 900}, {260, 40, 900}};
    static const unsigned seed[3] = {41, 43, 47};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int pad = 0; pad < 2; pad++)
            for (int add = 0; add < 2; add++) {
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], p = pad ? 67 : 0;
                expect_kernel(NT, m, n, k, k + p, k + 2 * p, n + 3 * p, seed, add);
            }
}

/* What the host relies on to split a product and to evaluate at another
 * batch: C's rows computed apart, in any cut, are the whole's rows bit for
 * bit, for each kind of product (the reference above says so element by
 * element; this holds the kernels' own row tiling to it). */
Test(gemm, rows_computed_apart_are_the_wholes_rows) {
    enum { M = 97, N = 80, K = 900 };
    static float a[M * K], b[K * N], whole[M * N], part[M * N];
    fill(a, M * K, 3), fill(b, K * N, 5);
    static const int64_t cuts[] = {1, 5, 6, 7, 32, 50, 96};
    for (int kind = NN; kind <= NT; kind++) {
        /* TN reads A as [K, M] and NT reads B as [N, K]: the same floats */
        int64_t lda = kind == TN ? M : K, ldb = kind == NT ? K : N;
        memset(whole, 0, sizeof whole);
        if (kind == NN) gr_gemm_direct(M, N, K, a, lda, b, ldb, whole, N, 0);
        if (kind == TN) gr_gemm_tn(M, N, K, a, lda, b, ldb, whole, N, 0);
        if (kind == NT) gr_gemm_nt(M, N, K, a, lda, b, ldb, whole, N, 0);
        for (size_t ci = 0; ci < sizeof cuts / sizeof *cuts; ci++) {
            int64_t r = cuts[ci];
            for (int64_t r0 = 0; r0 < M; r0 += r) {
                int64_t rows = M - r0 < r ? M - r0 : r;
                const float *ap = kind == TN ? a + r0 : a + r0 * lda;
                if (kind == NN) gr_gemm_direct(rows, N, K, ap, lda, b, ldb, part + r0 * N, N, 0);
                if (kind == TN) gr_gemm_tn(rows, N, K, ap, lda, b, ldb, part + r0 * N, N, 0);
                if (kind == NT) gr_gemm_nt(rows, N, K, ap, lda, b, ldb, part + r0 * N, N, 0);
            }
            cr_expect_eq(memcmp(whole, part, sizeof whole), 0, "%s in blocks of %lld rows", kind_name[kind],
                         (long long)r);
        }
    }
}
