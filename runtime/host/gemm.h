/* graphrun's own kernel for small untransposed products (runtime/host/gemm.c),
 * which the host's sgemm uses where it fits and OpenBLAS elsewhere. */
#ifndef GR_HOST_GEMM_H
#define GR_HOST_GEMM_H

#include <stdint.h>

#include "runtime/base/ctx.h"

/* The largest inner dimension the kernel takes: OpenBLAS sums k in one chain
 * up to at least 300 (measured), so both give the same bits up to here. */
#define GR_GEMM_DIRECT_K 256

/* C[m, n] = A[m, k] @ B[k, n], or C += A @ B when `add` (the product summed
 * from zero, then added), row-major with leading dimensions lda, ldb, ldc.
 * Returns 0, or -1 (and touches nothing) when the kernel does not take the
 * shape (see gr_gemm_direct_fits) or the CPU build has no AVX-512. */
int gr_gemm_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                   int64_t ldc, int add);

/* Whether gr_gemm_direct takes [m, k] @ [k, n]. */
int gr_gemm_direct_fits(int64_t m, int64_t n, int64_t k);

#endif
