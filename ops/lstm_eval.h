/* The lstm op's evaluation kernel (ops/lstm_eval.c): a block of samples
 * through all T steps with the products, the gates and the cell update in
 * one pass over each tile of rows, z never leaving registers. Each element
 * of z is summed as the host's products sum it (x_t @ Wx from zero, then
 * h_{t-1} @ Wh from zero added to it: runtime/host/gemm.c), and the gates
 * are lstm.c's cell_forward operation for operation, so the outputs are the
 * same bits as the step-by-step products and cell_forward. */
#ifndef GR_OPS_LSTM_EVAL_H
#define GR_OPS_LSTM_EVAL_H

#include <stdint.h>

/* What the kernel reads and writes: x [B, T, I] and y [B, T, H] as the
 * tensors lie, the kernel [I + H, 4H] (Wx then Wh), bias [4H]; scratch for
 * c [B, H] and the kernel packed, (I + H) * 4H floats. */
struct lstm_eval {
    int64_t T, I, H;
    int reverse;
    const float *x, *w, *bias;
    float fb;
    float *y, *c, *wp;
    int skip_zeros; /* Wx is finite: x's zeros add nothing (lstm_eval_pack) */
};

/* Whether this build's kernel takes these sizes (AVX-512, H a multiple of
 * 16, and I and H within one block of the host's k). */
int lstm_eval_fits(int64_t in, int64_t h);

/* The kernel into wp, and skip_zeros, once before the blocks run. */
void lstm_eval_pack(struct lstm_eval *e);

/* Samples [b0, b1) through all T steps (lstm_eval_fits said yes, and wp
 * was packed). */
void lstm_eval_rows(const struct lstm_eval *e, int64_t b0, int64_t b1);

#endif
