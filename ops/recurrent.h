/* What the rnn and gru ops share. Both keep x, y and their gradients
 * batch-major (row b * T + t, as the tensors lie), run the recurrence in
 * blocks of REC_BLOCK samples on the pool (samples never interact, so a
 * block runs all its steps without waiting for the others, and the
 * arithmetic does not depend on the thread count), and turn every weight
 * gradient into one product over each leaf's rows (util.h's tree). */
#ifndef GR_OPS_RECURRENT_H
#define GR_OPS_RECURRENT_H

#include <string.h>

#include "fastmath.h"
#include "gemm_order.h"
#include "graphrun/plugin.h"
#include "util.h"

/* The samples a block of the recurrence takes (chosen when its per-step
 * products ran on OpenBLAS's small-matrix path, up to 32 rows). */
#define REC_BLOCK 32
/* the fewest rows a smaller block keeps but the last (rec_block_rows) */
#define REC_MIN_ROWS 8

/* The time index of processing step s: s itself, or T-1-s for a reversed layer. */
static inline int64_t rec_time(int64_t T, int reverse, int64_t s) { return reverse ? T - 1 - s : s; }

/* Blocks of `rows` samples over a batch of B. */
static inline int64_t rec_blocks(int64_t B, int64_t rows) { return (B + rows - 1) / rows; }

/* Samples [*b0, *b1) of block k. */
static inline void rec_block(int64_t B, int64_t rows, int64_t k, int64_t *b0, int64_t *b1) {
    *b0 = k * rows;
    *b1 = *b0 + rows < B ? *b0 + rows : B;
}

/* The rows a block of the recurrence takes: REC_BLOCK, or fewer (at least
 * REC_MIN_ROWS, the last block what is left) where blocks of REC_BLOCK would
 * be fewer than the threads a parallel_for has here (batch 32 on 2 threads
 * ran its whole recurrence on one), so that each thread takes a block. The
 * bits stay those of blocks of REC_BLOCK: the host's products sum every
 * element the same at any rows (runtime/host/gemm.h). */
static inline int64_t rec_block_rows(const struct gr_args *a, int64_t B) {
    const struct gr_host *h = a->host;
    int64_t threads = GR_HOST_HAS(h, threads) ? h->threads(a->host_ctx) : 1;
    if (threads <= 1 || rec_blocks(B, REC_BLOCK) >= threads) return REC_BLOCK;
    int64_t rows = (B + threads - 1) / threads;
    if (rows < REC_MIN_ROWS) rows = REC_MIN_ROWS;
    return rows >= B ? REC_BLOCK : rows;
}

/* The parameters' gradients, summed leaf by leaf up util.h's tree so their
 * bits do not depend on how the batch is split between ranks. `rest` holds
 * (leaves - 1) parts of the largest gradient; each call finishes its tree,
 * so the gradients take turns with it. */
static inline int64_t rec_rest_floats(int64_t B, int64_t len) { return (gr_sum_leaves(B) - 1) * len; }

/* dst[K, N] += A^T D over the rows (b, t) of every sample (row b * T + t,
 * A's rows K long, D's N long), A's rows from a_off and D's from d_off
 * within each leaf's rows, `cut` rows fewer than the leaf has. */
static inline void rec_product_grad(const struct gr_args *a, int64_t B, int64_t T, int64_t K, int64_t N, const float *A,
                                    int64_t a_off, const float *D, int64_t d_off, int64_t cut, float *dst, float *rest) {
    for (int64_t k = 0; k < gr_sum_leaves(B); k++) {
        int64_t b0, b1;
        gr_sum_leaf(B, k, &b0, &b1);
        float *part = gr_sum_part(dst, rest, K * N, k);
        int64_t rows = (b1 - b0) * T - cut;
        if (rows > 0)
            a->host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, K, N, rows, 1.0f, A + (b0 * T + a_off) * K, K,
                           D + (b0 * T + d_off) * N, N, k == 0 ? 1.0f : 0.0f, part, N);
        else if (k > 0)
            memset(part, 0, (size_t)(K * N) * sizeof(float));
    }
    gr_sum_tree(a, B, dst, rest, K * N);
}

/* dst[N] += the column sums of D's rows (every sample's T rows). */
static inline void rec_bias_grad(const struct gr_args *a, int64_t B, int64_t T, int64_t N, const float *D, float *dst,
                                 float *rest) {
    for (int64_t k = 0; k < gr_sum_leaves(B); k++) {
        int64_t b0, b1;
        gr_sum_leaf(B, k, &b0, &b1);
        gr_sum_rows(a, D, N, b0 * T, b1 * T, gr_sum_part(dst, rest, N, k), N, k == 0);
    }
    gr_sum_tree(a, B, dst, rest, N);
}

/* dU[H, G] += sum over rows (b, t) of h_prev(b, t)^T dA[(b, t), :], where
 * h_prev is y at the previous processing step and the first step has none.
 * With rows batch-major, the previous step's row is the row before (or, when
 * reversed, after), so after zeroing dA's rows of the first step the whole
 * sum is one product of y shifted by a row (a leaf's rows, one fewer): dA
 * is modified. */
static inline void rec_recurrent_grad(const struct gr_args *a, const float *y, float *dA, int64_t B, int64_t T,
                                      int64_t H, int64_t G, int reverse, float *dU, float *rest) {
    int64_t first = rec_time(T, reverse, 0);
    for (int64_t b = 0; b < B; b++) memset(dA + (b * T + first) * G, 0, (size_t)G * sizeof(float));
    rec_product_grad(a, B, T, H, G, y, reverse ? 1 : 0, dA, reverse ? 0 : 1, 1, dU, rest);
}

#endif
