/* graphrun's small-product kernel (runtime/host/gemm.c): every element is
 * one fused multiply-add chain over k from zero, then C added once, which is
 * how OpenBLAS's SkylakeX kernels sum at these shapes; so the host's sgemm
 * gives the same bits whichever of the two runs a product. */
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

/* C (=|+=) A @ B with ld's wider than the rows, the contract written out */
static void reference(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                      float *c, int64_t ldc, int add) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int64_t q = 0; q < k; q++) acc = fmaf(a[i * lda + q], b[q * ldb + j], acc);
            c[i * ldc + j] = add ? acc + c[i * ldc + j] : acc;
        }
}

static int64_t m_of[] = {1, 5, 6, 7, 32, 33};
static int64_t n_of[] = {1, 10, 16, 48, 64, 80, 256};
static int64_t k_of[] = {1, 9, 28, 64, 92, 256};

Test(gemm, direct_sums_like_one_fma_chain_then_adds_c) {
    enum { PAD = 3 };
    for (size_t im = 0; im < sizeof m_of / sizeof *m_of; im++)
        for (size_t in = 0; in < sizeof n_of / sizeof *n_of; in++)
            for (size_t ik = 0; ik < sizeof k_of / sizeof *k_of; ik++)
                for (int add = 0; add < 2; add++) {
                    int64_t m = m_of[im], n = n_of[in], k = k_of[ik];
                    int64_t lda = k + PAD, ldb = n + PAD, ldc = n + PAD;
                    size_t na = (size_t)(m * lda), nb = (size_t)(k * ldb), nc = (size_t)(m * ldc);
                    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
                    float *c = malloc(nc * sizeof *c), *want = malloc(nc * sizeof *want);
                    cr_assert(a && b && c && want);
                    fill(a, na, 1u + (unsigned)im);
                    fill(b, nb, 7u + (unsigned)in);
                    fill(c, nc, 13u + (unsigned)ik);
                    memcpy(want, c, nc * sizeof *c);
                    reference(m, n, k, a, lda, b, ldb, want, ldc, add);
                    int rc = gr_gemm_direct(m, n, k, a, lda, b, ldb, c, ldc, add);
                    if (rc == 0) {
                        /* the padding between rows stays as it was */
                        cr_assert_eq(memcmp(c, want, nc * sizeof *c), 0, "[%lld, %lld] @ [%lld, %lld] add %d differs",
                                     (long long)m, (long long)k, (long long)k, (long long)n, add);
                    } else {
                        cr_assert(!gr_gemm_direct_fits(m, n, k) || rc == -1);
                        /* a shape it refuses is left untouched */
                        fill(want, nc, 13u + (unsigned)ik);
                        cr_assert_eq(memcmp(c, want, nc * sizeof *c), 0);
                    }
                    free(a), free(b), free(c), free(want);
                }
}

Test(gemm, direct_refuses_what_openblas_sums_otherwise) {
    cr_assert_not(gr_gemm_direct_fits(32, 64, GR_GEMM_DIRECT_K + 1));
    cr_assert_not(gr_gemm_direct_fits(32, 100, 64)); /* 4 columns past 96 */
    cr_assert_not(gr_gemm_direct_fits(0, 64, 64));
    float x = 5.0f;
    cr_assert_eq(gr_gemm_direct(1, 100, 1, &x, 1, &x, 1, &x, 1, 0), -1);
    cr_assert_eq(x, 5.0f);
}

/* Where OpenBLAS runs its SkylakeX kernels (graphrun's command makes sure it
 * does on such CPUs), the kernel gives OpenBLAS's bits at the LSTM's shapes. */
Test(gemm, direct_gives_openblas_skylakex_bits) {
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "skylakex") != 0 || !gr_gemm_direct_fits(1, 16, 1)) {
        cr_skip_test("OpenBLAS runs %s kernels here", core ? core : "unknown");
    }
    static const int64_t shapes[][3] = {{32, 256, 64}, {32, 64, 256}, {32, 256, 28}, {896, 256, 28}, {64, 10, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int add = 0; add < 2; add++) {
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            float *a = malloc((size_t)(m * k) * sizeof *a), *b = malloc((size_t)(k * n) * sizeof *b);
            float *c = malloc((size_t)(m * n) * sizeof *c), *d = malloc((size_t)(m * n) * sizeof *d);
            cr_assert(a && b && c && d);
            fill(a, (size_t)(m * k), 3), fill(b, (size_t)(k * n), 5), fill(c, (size_t)(m * n), 11);
            memcpy(d, c, (size_t)(m * n) * sizeof *c);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)k, b, (int)n,
                        add ? 1.0f : 0.0f, d, (int)n);
            cr_assert_eq(gr_gemm_direct(m, n, k, a, k, b, n, c, n, add), 0);
            cr_assert_eq(memcmp(c, d, (size_t)(m * n) * sizeof *c), 0, "[%lld, %lld, %lld] add %d", (long long)m,
                         (long long)n, (long long)k, add);
            free(a), free(b), free(c), free(d);
        }
}
