/* What the rnn and gru ops share. Both keep x, y and their gradients
 * batch-major (row b * T + t, as the tensors lie), run the recurrence in
 * blocks of REC_BLOCK samples on the pool (samples never interact, so a
 * block runs all its steps without waiting for the others, and the
 * arithmetic does not depend on the thread count), and turn every weight
 * gradient into one product over all B*T rows. */
#ifndef GR_OPS_RECURRENT_H
#define GR_OPS_RECURRENT_H

#include <string.h>

#include "graphrun/plugin.h"

/* Per-step products of at most 32 rows take OpenBLAS's small-matrix path
 * (as measured for the lstm). */
#define REC_BLOCK 32

/* The time index of processing step s: s itself, or T-1-s for a reversed layer. */
static inline int64_t rec_time(int64_t T, int reverse, int64_t s) { return reverse ? T - 1 - s : s; }

static inline int64_t rec_blocks(int64_t B) { return (B + REC_BLOCK - 1) / REC_BLOCK; }

/* Samples [*b0, *b1) of block k. */
static inline void rec_block(int64_t B, int64_t k, int64_t *b0, int64_t *b1) {
    *b0 = k * REC_BLOCK;
    *b1 = *b0 + REC_BLOCK < B ? *b0 + REC_BLOCK : B;
}

/* dst[c] += sum over `rows` rows of m[., c] (row length ld), for columns
 * [c0, c1): a parallel_for body over columns, so every column is summed in
 * row order whatever the split. */
struct rec_colsum {
    const float *m;
    float *dst;
    int64_t rows, ld;
};
static inline void rec_colsum_part(void *arg, int64_t c0, int64_t c1) {
    const struct rec_colsum *j = arg;
    for (int64_t r = 0; r < j->rows; r++) {
        const float *row = j->m + r * j->ld;
        for (int64_t c = c0; c < c1; c++) j->dst[c] += row[c];
    }
}

/* dU[H, G] += sum over rows (b, t) of h_prev(b, t)^T dA[(b, t), :], where
 * h_prev is y at the previous processing step and the first step has none.
 * With rows batch-major, the previous step's row is the row before (or, when
 * reversed, after), so after zeroing dA's rows of the first step the whole
 * sum is one product of y shifted by a row: dA is modified. */
static inline void rec_recurrent_grad(const struct gr_args *a, const float *y, float *dA, int64_t B, int64_t T,
                                      int64_t H, int64_t G, int reverse, float *dU) {
    int64_t first = rec_time(T, reverse, 0), rows = B * T;
    if (rows < 2) return;
    for (int64_t b = 0; b < B; b++) memset(dA + (b * T + first) * G, 0, (size_t)G * sizeof(float));
    const float *hp = reverse ? y + H : y;
    const float *da = reverse ? dA : dA + G;
    a->host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, H, G, rows - 1, 1.0f, hp, H, da, G, 1.0f, dU, G);
}

#endif
