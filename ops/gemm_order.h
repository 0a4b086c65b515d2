/* How the host's products sum each element, so that an op which runs a
 * product inside a fused kernel (ops/lstm_cell.c, ops/lstm_back.c) gives
 * the host's bits: k in blocks of GR_GEMM_ONE_BLOCK (a remainder between
 * one and two blocks in two halves rounded up to 16), each block an FMA
 * chain from zero in k order, added into C in turn (acc + C). graphrun's
 * own kernels (runtime/host/gemm.h) sum every product the host runs so. */
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

#endif
