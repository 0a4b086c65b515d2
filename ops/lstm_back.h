/* The lstm op's steps backward through time (ops/lstm_back.c), for a leaf
 * of the training state (lstm_cell.h's layout): per step, from the last to
 * the first, dz of every row (lstm.c's backward equations), then
 * dh_next = dz_t @ Wh^T. Either step by step (the rows, then the host's
 * product over the leaf) or fused (the step's rows, then per tile of rows
 * its rows' product summed in registers, as the host sums it, the tiles in
 * turn on each slice of Wh^T), with the same bits. */
#ifndef GR_OPS_LSTM_BACK_H
#define GR_OPS_LSTM_BACK_H

#include <stdint.h>

#include "graphrun/plugin.h"

/* The state z [T*B, 4H] (activated gates), c and tc [T*B, H], zeros [H];
 * dy [B, T, H] as the tensor lies; out: dz [T*B, 4H] in the state's rows
 * (it may be z itself: each row's gates are read before its dz is stored),
 * dh_next and dc_next [B, H] (zero at the start). wht: Wh^T [4H, H] for
 * the step-by-step product, or whp (when set): Wh^T packed for the fused
 * steps by lstm_back_pack. */
struct lstm_back {
    int64_t T, H;
    int reverse;
    const float *z, *c, *tc, *zeros, *dy;
    float *dz, *dh_next, *dc_next;
    const float *wht;
    float *whp;
    const struct gr_host *host;
    void *host_ctx;
};

/* Whether this build's fused steps take H (AVX-512, H a multiple of 16),
 * and the floats lstm_back_pack writes (4H by H rounded up to 64). */
int lstm_back_fits(int64_t h);
/* Whether the leaves run fused (whp set): the fused steps reproduce the
 * host's product dz_t @ Wh^T at any rows (ops/gemm_order.h); else the
 * host's runs. */
int lstm_back_fused(const struct lstm_back *e);
/* Whether the leaves take the host's product (then Wh^T is needed as it
 * is, wht), and the floats of Wh^T the backward needs:
 * packed where lstm_back_fits, as it is where lstm_back_plain. */
int lstm_back_plain(int64_t h);
int64_t lstm_back_wh_floats(int64_t h);
int64_t lstm_back_pack_floats(int64_t h);

/* whp = Wh^T from wh [H, 4H] (the kernel's rows I..I+H-1), in column
 * slices of 64 ([H/64 rounded up][4H][64], zeros past H). */
void lstm_back_pack(const struct lstm_back *e, const float *wh);

/* The leaf [b0, b1) back through all T steps: dz of its rows, dh_next and
 * dc_next of its samples. */
void lstm_back_rows(const struct lstm_back *e, int64_t b0, int64_t b1);
/* Fused only (lstm_back_fused for the leaf): samples [r0, r1) of the leaf
 * [lo, hi) back through all T steps, with the bits of the leaf run whole
 * (rows never meet; each row's sums are the same in any tiling). */
void lstm_back_part(const struct lstm_back *e, int64_t lo, int64_t hi, int64_t r0, int64_t r1);

#endif
