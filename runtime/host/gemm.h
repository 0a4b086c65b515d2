/* graphrun's own product kernels, which run every product the host's sgemm
 * is asked for (alpha 1, beta 0 or 1, at most one operand transposed):
 * AVX-512 in runtime/host/gemm.c, AVX2 or one lane in
 * runtime/host/gemm_portable.c. Each element of C is summed in one order
 * fixed by k alone (ops/gemm_order.h): k in blocks, each block one fused
 * multiply-add chain from zero in k order, added into C in turn (acc + C).
 * So a product's bits do not depend on m, on how the host splits it over
 * threads, or on which kernels the machine's BLAS picks; evaluation at a
 * large batch gives training's bits, and ops that fuse a product
 * (ops/lstm_cell.c, ops/lstm_back.c) reproduce them. All matrices are
 * row-major with leading dimensions lda, ldb, ldc; `add` gives C += the
 * product (summed from zero, then added), else C = it. */
#ifndef GR_HOST_GEMM_H
#define GR_HOST_GEMM_H

#include <stdint.h>

/* GR_GEMM_ONE_BLOCK and the blocks of k (ops reproduce the order) */
#include "ops/gemm_order.h"

/* C[m, n] (=|+=) A[m, k] @ B[k, n] */
void gr_gemm_direct(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                    float *c, int64_t ldc, int add);

/* C[m, n] (=|+=) A^T @ B with A stored [k, m]: the weight gradient of a
 * layer over many rows */
void gr_gemm_tn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                int64_t ldc, int add);

/* C[m, n] (=|+=) A[m, k] @ B^T with B stored [n, k]: a layer's input
 * gradient through its weights */
void gr_gemm_nt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                int64_t ldc, int add);

#endif
