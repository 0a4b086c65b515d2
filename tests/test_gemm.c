/* graphrun's product kernels (runtime/host/gemm.c): every element is one
 * fused multiply-add chain over each block of k from zero, added into C
 * block after block, which is how OpenBLAS's SkylakeX kernels sum where
 * gr_gemm_fits; so the host's sgemm gives the same bits whichever of the two
 * runs a product. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/host/gemm.h"

/* values with many significant bits, so a different order shows */
static void fill(float *v, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f + 1e-3f * (float)(i % 7);
    }
}

/* k's blocks as OpenBLAS (SkylakeX) makes them: 448, a remainder under
 * 896 halved and rounded up to 16 */
static int64_t block_len(int64_t k, int64_t ls) {
    return k - ls >= 896 ? 448 : k - ls > 448 ? ((k - ls) / 2 + 15) / 16 * 16 : k - ls;
}

/* C (=|+=) A @ B with ld's wider than the rows, A stored [m, k] or, with
 * `tn`, [k, m]: the contract written out, each block summed from zero in one
 * chain, then added */
static void reference(int tn, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                      int64_t ldb, float *c, int64_t ldc, int add) {
    for (int64_t ls = 0, len; ls < k; ls += len) {
        len = block_len(k, ls);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float acc = 0.0f;
                for (int64_t q = ls; q < ls + len; q++)
                    acc = fmaf(a[tn ? q * lda + i : i * lda + q], b[q * ldb + j], acc);
                c[i * ldc + j] = add || ls > 0 ? acc + c[i * ldc + j] : acc;
            }
    }
}

/* gr_gemm_direct (or gr_gemm_tn) against the reference on filled operands:
 * the same bits, the padding between C's rows included */
static void expect_kernel(int tn, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc,
                          const unsigned seed[3], int add) {
    size_t na = (size_t)((tn ? k : m) * lda), nb = (size_t)(k * ldb), nc = (size_t)(m * ldc);
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *c = malloc(nc * sizeof *c), *want = malloc(nc * sizeof *want);
    cr_assert(a && b && c && want);
    fill(a, na, seed[0]), fill(b, nb, seed[1]), fill(c, nc, seed[2]);
    memcpy(want, c, nc * sizeof *c);
    reference(tn, m, n, k, a, lda, b, ldb, want, ldc, add);
    int rc = tn ? gr_gemm_tn(m, n, k, a, lda, b, ldb, c, ldc, add) : gr_gemm_direct(m, n, k, a, lda, b, ldb, c, ldc, add);
    int same = memcmp(c, want, nc * sizeof *c) == 0;
    free(a), free(b), free(c), free(want);
    if (rc != 0) cr_skip_test("no AVX-512 in this build");
    cr_assert(same, "%s[%lld, %lld] @ [%lld, %lld] add %d differs", tn ? "transposed " : "", (long long)m, (long long)k,
              (long long)k, (long long)n, add);
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
                    expect_kernel(0, m, n, k, k + PAD, n + PAD, n + PAD, seed, add);
                }
}

Test(gemm, tn_sums_in_blocks_of_k) {
    static const int64_t shapes[][3] = {{92, 128, 1792}, {13, 48, 500}, {1, 10, 1000}, {25, 32, 448}, {12, 16, 9}};
    static const unsigned seed[3] = {17, 19, 23};
    enum { PAD = 5 };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int add = 0; add < 2; add++) {
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            expect_kernel(1, m, n, k, m + PAD, n + PAD, n + PAD, seed, add);
        }
}

/* The LSTM's weight gradient per leaf of 32 samples (92 x 256 x 896), and
 * the edges of A^T @ B's tiling: odd m, rows past a chunk of 288, narrow
 * panels (n under 16, 48), k on both sides of a block of 448 and of a piece
 * of k (112 for 64 columns, 448 for 16), and B's rows far apart (ldb over
 * 64), where the kernel fetches the next piece ahead */
Test(gemm, tn_pauses_each_chain_between_pieces_of_k_without_changing_its_order) {
    static const int64_t shapes[][3] = {{92, 256, 896}, {93, 256, 449}, {297, 64, 447}, {7, 10, 1000}, {13, 48, 113},
                                        {300, 80, 1}, {31, 3, 449}, {101, 112, 225}, {1, 16, 1000}, {6, 64, 112}};
    static const unsigned seed[3] = {29, 31, 37};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int pad = 0; pad < 2; pad++)
            for (int add = 0; add < 2; add++) {
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], p = pad ? 67 : 0;
                expect_kernel(1, m, n, k, m + p, n + p, n + 3 * p, seed, add);
            }
}

Test(gemm, the_host_leaves_to_openblas_what_it_sums_otherwise) {
    if (!gr_gemm_fits(1, 16, 1)) cr_skip_test("no AVX-512 in this build");
    cr_assert(gr_gemm_fits(32, 256, 64) && gr_gemm_fits(64, 10, 64) && gr_gemm_fits(32, 64, 448));
    cr_assert(gr_gemm_fits(92, 256, 1792) && gr_gemm_fits(32, 128, 512));
    cr_assert_not(gr_gemm_fits(32, 100, 64));   /* 4 columns past 96 */
    cr_assert_not(gr_gemm_fits(10, 48, 1792));  /* OpenBLAS's small-matrix path, k over 448 */
    cr_assert_not(gr_gemm_fits(64, 16, 512));
    cr_assert_not(gr_gemm_fits(92, 72, 1792));
}

/* Where OpenBLAS runs its SkylakeX kernels (graphrun's command makes sure it
 * does on such CPUs), the kernel gives OpenBLAS's bits at the LSTM's shapes. */
Test(gemm, direct_gives_openblas_skylakex_bits) {
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "skylakex") != 0 || !gr_gemm_fits(1, 16, 1)) {
        cr_skip_test("OpenBLAS runs %s kernels here", core ? core : "unknown");
    }
    openblas_set_num_threads(1); /* as graphrun keeps it: its threads cut no product's k */
    static const int64_t ms[] = {1, 6, 32, 92, 100}, ns[] = {10, 16, 64, 256};
    static const int64_t ks[] = {1, 9, 64, 300, 447, 448, 449, 500, 784, 896, 1000, 1792};
    int checked = 0;
    for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
        for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
            for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++)
                for (int tn = 0; tn < 2; tn++)
                    for (int add = 0; add < 2; add++) {
                        int64_t m = ms[im], n = ns[in], k = ks[ik];
                        if (!gr_gemm_fits(m, n, k)) continue;
                        size_t na = (size_t)(m * k), nb = (size_t)(k * n), nc = (size_t)(m * n);
                        float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
                        float *c = malloc(nc * sizeof *c), *d = malloc(nc * sizeof *d);
                        cr_assert(a && b && c && d);
                        fill(a, na, 3), fill(b, nb, 5), fill(c, nc, 11);
                        memcpy(d, c, nc * sizeof *c);
                        cblas_sgemm(CblasRowMajor, tn ? CblasTrans : CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k,
                                    1.0f, a, tn ? (int)m : (int)k, b, (int)n, add ? 1.0f : 0.0f, d, (int)n);
                        int rc = tn ? gr_gemm_tn(m, n, k, a, m, b, n, c, n, add) : gr_gemm_direct(m, n, k, a, k, b, n, c, n, add);
                        cr_assert_eq(rc, 0);
                        cr_assert_eq(memcmp(c, d, nc * sizeof *c), 0, "%s [%lld, %lld, %lld] add %d", tn ? "A^T B" : "A B",
                                     (long long)m, (long long)n, (long long)k, add);
                        checked++;
                        free(a), free(b), free(c), free(d);
                    }
    cr_assert_gt(checked, 100);
}

/* conv2d's input gradient dY @ kernel^T runs as dY @ (kernel^T laid out):
 * graphrun's kernel on the transposed copy gives the bits of OpenBLAS's
 * A @ B^T, at the shapes of a 3x3 convolution on 1 to 64 channels. */
Test(gemm, direct_on_a_transposed_copy_gives_openblas_a_times_b_transposed) {
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "skylakex") != 0 || !gr_gemm_fits(1, 16, 1)) {
        cr_skip_test("OpenBLAS runs %s kernels here", core ? core : "unknown");
    }
    openblas_set_num_threads(1);
    static const int64_t ms[] = {49, 196, 784, 1568}, ns[] = {32, 288, 576}, ks[] = {16, 32, 64};
    int checked = 0;
    for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
        for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
            for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++)
                for (int add = 0; add < 2; add++) {
                    int64_t m = ms[im], n = ns[in], k = ks[ik];
                    if (!gr_gemm_fits(m, n, k)) continue;
                    size_t na = (size_t)(m * k), nb = (size_t)(k * n), nc = (size_t)(m * n);
                    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *bt = malloc(nb * sizeof *bt);
                    float *c = malloc(nc * sizeof *c), *d = malloc(nc * sizeof *d);
                    cr_assert(a && b && bt && c && d);
                    fill(a, na, 3), fill(b, nb, 5), fill(c, nc, 11);
                    memcpy(d, c, nc * sizeof *c);
                    for (int64_t q = 0; q < k; q++) /* b is [n, k]; bt = b^T [k, n] */
                        for (int64_t j = 0; j < n; j++) bt[q * n + j] = b[j * k + q];
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)k, b,
                                (int)k, add ? 1.0f : 0.0f, d, (int)n);
                    cr_assert_eq(gr_gemm_direct(m, n, k, a, k, bt, n, c, n, add), 0);
                    cr_assert_eq(memcmp(c, d, nc * sizeof *c), 0, "A B^T [%lld, %lld, %lld] add %d", (long long)m,
                                 (long long)n, (long long)k, add);
                    checked++;
                    free(a), free(b), free(bt), free(c), free(d);
                }
    cr_assert_gt(checked, 50);
}
