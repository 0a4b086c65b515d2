/* The lstm op's steps (ops/lstm_cell.c), for evaluation and training: the
 * cell update of one row (lstm_cell_forward), and blocks of samples through
 * all T steps, either step by step (the host's products into z, then the
 * cell row by row) or fused (the products, the gates and the cell update in
 * one pass over each tile of rows, z never leaving registers). Each element
 * of z is summed as the host's products sum it (x_t @ Wx from zero, then
 * h_{t-1} @ Wh from zero added to it: runtime/host/gemm.c), and the gates
 * are lstm_cell_forward operation for operation, so both give the same
 * bits. */
#ifndef GR_OPS_LSTM_CELL_H
#define GR_OPS_LSTM_CELL_H

#include <stdint.h>

#include "graphrun/plugin.h"

/* The time index of processing step s of T: a reversed layer runs from
 * the last step to the first (lstm.c). */
static inline int64_t lstm_time_of(int64_t T, int reverse, int64_t s) { return reverse ? T - 1 - s : s; }

/* What the steps read and write: x [B, T, I] and y [B, T, H] as the
 * tensors lie, the kernel w [I + H, 4H] (Wx then Wh), bias [4H].
 * Evaluation: c [B, H] scratch, z [B, 4H] scratch (step by step), no xh.
 * Training (xh set): lstm.c's state, leaf-major then step-major rows (leaf
 * [lo, hi) of n samples: row T lo + s n + (b - lo) for sample b at
 * processing step s), xh [T*B, I + H] rows [x_t, h_{t-1}], z [T*B, 4H]
 * the activated gates i, f, g, o, c [T*B, H], tc [T*B, H] = tanh(c), and
 * zeros [H] for c_{-1}. wp, when set, is the kernel packed for the fused
 * steps ((I + H) * 4H floats, lstm_cell_pack); NULL runs step by step. */
struct lstm_cell {
    int64_t T, I, H;
    int reverse;
    const float *x, *w, *bias;
    float fb;
    float *y, *c, *z, *wp;
    float *xh, *tc;
    const float *zeros;
    int skip_zeros; /* Wx is finite: x's zeros add nothing (lstm_cell_pack) */
    const struct gr_host *host; /* the products step by step */
    void *host_ctx;
};

/* One step of one row: z holds the pre-activations [4H] without the bias and
 * leaves with the activated gates. `keep` (training) stores the gates, c and
 * tanh(c); without it c is updated in place (cprev == c) and only h is written. */
void lstm_cell_forward(int64_t H, float *z, const float *bias, float fb, const float *cprev, float *c, float *tc,
                       float *h, int keep);

/* Whether this build's fused kernel takes these sizes (AVX-512 and H a
 * multiple of 16; I or H past one block of the host's k run in its
 * blocks). */
int lstm_cell_fits(int64_t in, int64_t h);

/* The kernel into wp, and skip_zeros, once before the blocks run; where
 * wp still holds the kernel (gr_args.params_kept), skip_zeros alone. */
void lstm_cell_pack(struct lstm_cell *e);
void lstm_cell_check_zeros(struct lstm_cell *e);

/* Whether a leaf of n samples' activated gates, T n 4H floats, pass 2 MB,
 * twice a core's L2: then its state goes to memory between forward and
 * backward, and the steps write it past the caches and fetch it ahead. */
static inline int lstm_cell_state_past_l2(int64_t T, int64_t n, int64_t H) {
    return (double)T * (double)n * 16.0 * (double)H > (double)(2 << 20);
}

/* Whether the fused steps write a leaf of n samples' gates and tanh(c)
 * with streaming stores (ops/lstm_cell.c says when); the same bits either
 * way. */
int lstm_cell_streams_gates(const struct lstm_cell *e, int64_t n);

/* Evaluation: samples [b0, b1) (at most 36) through all T steps, fused
 * (lstm_cell_fits said yes, and wp was packed). */
void lstm_cell_eval_rows(const struct lstm_cell *e, int64_t b0, int64_t b1);

/* The fused steps' tiles: at most this many rows, n rows in
 * lstm_cell_tiles(n) tiles as even as they go, tile k of
 * lstm_cell_tile_rows(n, k) (32: 6 6 5 5 5 5; 6-row tiles left one of 2,
 * at a third of the speed of 6). */
#define LSTM_CELL_ROWS 6
static inline int64_t lstm_cell_tiles(int64_t n) { return (n + LSTM_CELL_ROWS - 1) / LSTM_CELL_ROWS; }
static inline int lstm_cell_tile_rows(int64_t n, int64_t k) {
    return (int)(n / lstm_cell_tiles(n) + (k < n % lstm_cell_tiles(n)));
}

/* z[i][g][l] = sum over q < k of a[i][q] * w[64 q + 16 g + l] for the R
 * rows of a tile, each an FMA chain from zero in q order, as the host's
 * products sum one block of k (64 columns, w packed [k][64]; AVX-512);
 * with `add`, that sum is added to what z holds (acc + z), as the host
 * adds a block into C (ops/gemm_order.h). */
void lstm_cell_chain(int R, float z[LSTM_CELL_ROWS][4][16], const float *const *a, int64_t k, const float *w,
                     int add);

/* Training: the leaf [b0, b1) through all T steps, its state kept: xh
 * filled from x, then fused when wp is set, else step by step. */
void lstm_cell_train_rows(const struct lstm_cell *e, int64_t b0, int64_t b1);
/* Fused only (wp set): samples [r0, r1) of the leaf [lo, hi) through all T
 * steps, into the leaf's state as lstm_cell_train_rows leaves it. Rows never
 * meet and the fused steps sum the same way in any tiling, so a leaf run
 * in parts, on several threads, has the bits of the leaf run whole. */
void lstm_cell_train_part(const struct lstm_cell *e, int64_t lo, int64_t hi, int64_t r0, int64_t r1);

#endif
