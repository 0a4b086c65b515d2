/* The gru op's steps (ops/gru.c gives the equations), forward
 * (ops/gru_cell.c) and backward (ops/gru_back.c): blocks of samples through
 * all T steps, either step by step (the host's products, then the gates row
 * by row) or fused (per step, per 16 units and per tile of up to 8 rows,
 * x_t @ Wx and h_{t-1} @ U summed in registers as the host's products sum
 * them, then the gates on the tile; backward, the step's rows, then
 * dh = dGH_t @ U^T + dh z per tile in registers). Both give the same bits:
 * every element of a product is summed in the host's order (ops/gemm_order.h),
 * and the gates are the same operations in the same order (no fused
 * multiply-adds: the step-by-step loops have none). Samples never meet, and
 * x, y, the saved gates and the gradients stay batch-major (row b T + t), as
 * the weight gradients' products read them. */
#ifndef GR_OPS_GRU_CELL_H
#define GR_OPS_GRU_CELL_H

#include <stdint.h>

#include "graphrun/plugin.h"

/* Forward. x [B, T, I], y [B, T, H] as the tensors lie; wx [I, 3H], u [H, 3H],
 * bi, bh [3H] (gate blocks r, z, n). Training (gates set): gates [B*T, 3H]
 * leaves holding r, z, n and ghn [B*T, H] gh_n + b_hn of every row; step by
 * step, gates must arrive holding x @ Wx (gru.c projects every step at
 * once), and gh [B, 3H] is scratch. Evaluation (gates NULL): step by step,
 * gi, gh [B, 3H] and eghn [B, H] scratch. zeros [3H]: h and gh before the
 * first step. wp, when set, is Wx and U packed for the fused steps
 * (gru_cell_pack_floats); NULL runs step by step. */
struct gru_cell {
    int64_t T, I, H;
    int reverse;
    const float *x, *wx, *u, *bi, *bh;
    float *y, *gates, *ghn;
    float *gi, *gh, *eghn;
    const float *zeros;
    float *wp;
    int skip_zeros; /* Wx is finite and one block of k: x's zeros add nothing (gru_cell_check_zeros) */
    const struct gr_host *host;
    void *host_ctx;
};

/* Whether this build has the fused steps (AVX-512; any I and H, the units
 * past the last multiple of 16 masked). */
int gru_cell_fits(int64_t in, int64_t h);
/* The floats of the packed Wx and U: each 16 units' columns side by side,
 * [H/16 rounded up][I + H][3 gates][16], zeros past H. */
int64_t gru_cell_pack_floats(int64_t in, int64_t h);
/* wp from wx and u, and skip_zeros; where wp still holds them
 * (gr_args.params_kept), skip_zeros alone. */
void gru_cell_pack(struct gru_cell *e);
void gru_cell_check_zeros(struct gru_cell *e);

/* Samples [b0, b1) through all T steps: fused where wp is set, else step
 * by step. Any b1 - b0; the fused steps sum the same in any tiling. */
void gru_cell_rows(const struct gru_cell *e, int64_t b0, int64_t b1);

/* The fused steps' tiles: at most GRU_CELL_ROWS rows (8 rows x 3 gates
 * of 16 units: 24 accumulators), n rows in gru_cell_tiles(n) tiles as even
 * as they go (32 rows: 8 8 8 8). */
#define GRU_CELL_ROWS 8
static inline int64_t gru_cell_tiles(int64_t n) { return (n + GRU_CELL_ROWS - 1) / GRU_CELL_ROWS; }
static inline int gru_cell_tile_rows(int64_t n, int64_t k) {
    return (int)(n / gru_cell_tiles(n) + (k < n % gru_cell_tiles(n)));
}

/* Backward. The saved gates and ghn, y (h_{t-1} of each row) and dy as
 * they lie, zeros [3H]; out: dgi, dgh [B*T, 3H] (dGI = [dr_, dz_, dn_],
 * dGH = [dr_, dz_, dn_ r]) of every row, dh [B, H] scratch. ut: U^T [3H, H]
 * for the step-by-step product, or utp (when set): U^T packed for the
 * fused steps (gru_back_pack). */
struct gru_back {
    int64_t T, H;
    int reverse;
    const float *gates, *ghn, *y, *dy, *zeros;
    float *dgi, *dgh, *dh;
    const float *ut;
    float *utp;
    const struct gr_host *host;
    void *host_ctx;
};

/* Whether this build has the fused backward (AVX-512, any H), and the
 * floats gru_back_pack writes: U^T in column slices of 64, [H/64 rounded
 * up][3H][64], zeros past H. */
int gru_back_fits(int64_t h);
int64_t gru_back_pack_floats(int64_t h);
void gru_back_pack(const struct gru_back *e, const float *u);

/* Samples [b0, b1) back through all T steps (dh zeroed first): fused
 * where utp is set, else step by step. */
void gru_back_rows(const struct gru_back *e, int64_t b0, int64_t b1);

#endif
