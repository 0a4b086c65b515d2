/* graphrun's own kernels for small products (runtime/host/gemm.c), which
 * the host's sgemm uses where they give OpenBLAS's bits, and OpenBLAS
 * elsewhere. The host decides once for a whole product, before splitting it
 * over threads, so a thread count never changes which kernel sums an
 * element. */
#ifndef GR_HOST_GEMM_H
#define GR_HOST_GEMM_H

#include <stdint.h>

/* GR_GEMM_ONE_BLOCK and the blocks of k (ops reproduce the order) */
#include "ops/gemm_order.h"

/* C[m, n] = A[m, k] @ B[k, n], or C += A @ B when `add` (the product summed
 * from zero, then added), row-major with leading dimensions lda, ldb, ldc.
 * k in blocks of GR_GEMM_ONE_BLOCK. Returns 0, or -1 (and touches nothing)
 * when the build has no AVX-512. */
int gr_gemm_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                   int64_t ldc, int add);

/* C[m, n] (=|+=) A^T @ B with A stored [k, m] (the weight gradient of a
 * layer over many rows): k summed in OpenBLAS's blocks, so the bits are
 * OpenBLAS's (SkylakeX) at any k where gr_gemm_fits. Returns 0, or -1
 * (touching nothing) when the build has no AVX-512. */
int gr_gemm_tn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
               int64_t ldc, int add);

/* Whether the host runs [m, k] @ [k, n] with gr_gemm_direct, and
 * [k, m]^T @ [k, n] with gr_gemm_tn: where the build has the kernels and they
 * sum as OpenBLAS's SkylakeX kernels do (for any m, n, k: a split product's
 * parts follow the whole's choice). */
int gr_gemm_fits(int64_t m, int64_t n, int64_t k);

#endif
