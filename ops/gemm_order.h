/* How the host's products sum each element, so that an op which runs a
 * product inside a fused kernel (ops/lstm_cell.c, ops/lstm_back.c) gives
 * the host's bits: k in blocks of GR_GEMM_ONE_BLOCK (a remainder between
 * one and two blocks in two halves rounded up to 16), each block an FMA
 * chain from zero in k order, added into C in turn (acc + C). That is how
 * OpenBLAS's SkylakeX kernels sum (measured), and so graphrun's own
 * kernels (runtime/host/gemm.c), which the host runs where
 * gr_gemm_blocked holds and the columns fit (runtime/host/gemm.h). */
#ifndef GR_OPS_GEMM_ORDER_H
#define GR_OPS_GEMM_ORDER_H

#include <stdint.h>

#define GR_GEMM_ONE_BLOCK 448

/* The length of the block of k that starts at ls. */
static inline int64_t gr_gemm_k_block(int64_t k, int64_t ls) {
    int64_t len = k - ls;
    if (len >= 2 * GR_GEMM_ONE_BLOCK) return GR_GEMM_ONE_BLOCK;
    if (len > GR_GEMM_ONE_BLOCK) return (len / 2 + 15) / 16 * 16;
    return len;
}

/* Whether an [m, k] @ [k, n] product is summed in those blocks: OpenBLAS's
 * small-matrix path (m n k under 2^21) splits a k over one block otherwise. */
static inline int gr_gemm_blocked(int64_t m, int64_t n, int64_t k) {
    return k <= GR_GEMM_ONE_BLOCK || (double)m * (double)n * (double)k >= 0x1p21;
}

#endif
