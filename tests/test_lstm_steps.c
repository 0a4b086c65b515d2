/* Training's fused LSTM steps (ops/lstm_cell.c, ops/lstm_back.c) against
 * the step-by-step path of the host's products, state and outputs bit for
 * bit, forward and backward, the leaves whole and in parts. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "ops/lstm_back.h"
#include "ops/lstm_cell.h"
#include "ops/util.h"

/* ---- training's fused steps against its step-by-step path, both ways ---------- */

/* The state of a training forward (ops/lstm_cell.h) over B samples, and y. */
struct train_run {
    float *xh, *z, *c, *tc, *y;
};

/* Cut q of a leaf [lo, hi) run in three uneven parts: a row, about half,
 * the rest (stricter than lstm.c's leaf_parts, whose parts hold a tile of
 * rows at least). */
static int64_t part_cut(int64_t lo, int64_t hi, int q) {
    int64_t c[4] = {lo, lo + 1, lo + 1 + (hi - lo) / 2, hi};
    return c[q] < hi ? c[q] : hi;
}

/* The leaves whole, or (parts, fused only) each in three parts, last first. */
static void train_run(const struct lstm_cell *base, struct train_run *o, int64_t b, float *wp, int parts) {
    struct lstm_cell e = *base;
    e.xh = o->xh, e.z = o->z, e.c = o->c, e.tc = o->tc, e.y = o->y, e.wp = wp;
    if (wp) lstm_cell_pack(&e);
    for (int64_t k = 0; k < gr_sum_leaves(b); k++) {
        int64_t lo, hi;
        gr_sum_leaf(b, k, &lo, &hi);
        if (!parts) lstm_cell_train_rows(&e, lo, hi);
        for (int q = parts ? 2 : -1; q >= 0; q--)
            if (part_cut(lo, hi, q) < part_cut(lo, hi, q + 1))
                lstm_cell_train_part(&e, lo, hi, part_cut(lo, hi, q), part_cut(lo, hi, q + 1));
    }
}

/* Every float of the two runs' state and outputs, bit for bit. */
static void expect_same_floats(const float *a, const float *b, int64_t n, const char *what, const char *shape) {
    int64_t differ = 0, first = -1;
    for (int64_t k = 0; k < n; k++)
        if (memcmp(a + k, b + k, sizeof(float)) != 0 && differ++ == 0) first = k;
    cr_expect_eq(differ, 0, "%s: %s: %lld of %lld differ, the first %lld: %.9g, %.9g", shape, what, (long long)differ,
                 (long long)n, (long long)first, first >= 0 ? a[first] : 0.0, first >= 0 ? b[first] : 0.0);
}

/* Backward through the forward's state, step by step (host products with
 * Wh^T), fused (packed Wh^T) where lstm_back_fits, and fused in parts
 * where a leaf runs fused: dz, dh_next and dc_next bit for bit. */
static void expect_back_bits(struct gr_ctx *ctx, const struct lstm_cell *fwd, const struct train_run *st, int64_t b,
                             struct gr_rng *rng, const char *shape) {
    int64_t t = fwd->T, h = fwd->H, g = 4 * h, rows = b * t;
    if (!lstm_back_fits(h)) return;
    float *dy = malloc((size_t)(rows * h) * sizeof *dy), *wht = malloc((size_t)lstm_back_pack_floats(h) * sizeof *wht);
    float *whp = malloc((size_t)lstm_back_pack_floats(h) * sizeof *whp), *out[3][3];
    for (int64_t k = 0; k < rows * h; k++) dy[k] = (float)gr_rng_uniform(rng) - 0.5f;
    const float *wh = fwd->w + fwd->I * g;
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < g; c++) wht[c * h + r] = wh[r * g + c];
    for (int m = 0; m < 3; m++) {
        out[m][0] = calloc((size_t)(rows * g), sizeof(float));
        out[m][1] = calloc((size_t)(b * h), sizeof(float));
        out[m][2] = calloc((size_t)(b * h), sizeof(float));
        struct lstm_back e = {.T = t, .H = h, .reverse = fwd->reverse, .z = st->z, .c = st->c, .tc = st->tc,
                              .zeros = fwd->zeros, .dy = dy, .dz = out[m][0], .dh_next = out[m][1],
                              .dc_next = out[m][2], .wht = wht, .whp = m ? whp : NULL, .host = &ctx->host,
                              .host_ctx = ctx};
        if (m) lstm_back_pack(&e, wh);
        for (int64_t k = 0; k < gr_sum_leaves(b); k++) {
            int64_t lo, hi;
            gr_sum_leaf(b, k, &lo, &hi);
            if (m < 2 || !lstm_back_fused(&e)) lstm_back_rows(&e, lo, hi);
            for (int q = m < 2 || !lstm_back_fused(&e) ? -1 : 2; q >= 0; q--)
                if (part_cut(lo, hi, q) < part_cut(lo, hi, q + 1))
                    lstm_back_part(&e, lo, hi, part_cut(lo, hi, q), part_cut(lo, hi, q + 1));
        }
    }
    for (int m = 1; m < 3; m++) {
        expect_same_floats(out[0][0], out[m][0], rows * g, m == 1 ? "dz" : "dz, in parts", shape);
        expect_same_floats(out[0][1], out[m][1], b * h, m == 1 ? "dh_next" : "dh_next, in parts", shape);
        expect_same_floats(out[0][2], out[m][2], b * h, m == 1 ? "dc_next" : "dc_next, in parts", shape);
    }
    for (int m = 0; m < 3; m++) free(out[m][0]), free(out[m][1]), free(out[m][2]);
    free(dy), free(wht), free(whp);
}

/* B samples of T steps through the fused steps and through the host's
 * products and lstm_cell_forward, on the op's leaves; x with exact zeros
 * (whole steps of them too), and optionally an infinite weight of Wx (its
 * zeros must then be summed, see expect_eval_bits). */
static void expect_train_bits(struct gr_ctx *ctx, int reverse, int64_t b, int64_t t, int64_t in, int64_t units,
                              int poison) {
    int64_t g = 4 * units, nx = b * t * in, nw = (in + units) * g, rows = b * t;
    struct gr_rng rng;
    gr_rng_seed(&rng, (uint64_t)(b * 1000 + in * 10 + units));
    float *x = malloc((size_t)nx * sizeof *x), *w = malloc((size_t)nw * sizeof *w), *bias = malloc((size_t)g * 4);
    float *zeros = calloc((size_t)units, sizeof *zeros), *wp = malloc((size_t)nw * sizeof *wp);
    tg_lstm_inputs(&rng, rows, in, units, x, w, bias);
    if (poison) w[0] = INFINITY;
    struct lstm_cell e = {.T = t, .I = in, .H = units, .reverse = reverse, .x = x, .w = w, .bias = bias, .fb = 0.75f,
                          .zeros = zeros, .host = &ctx->host, .host_ctx = ctx};
    struct train_run run[3];
    for (int k = 0; k < 3; k++) {
        run[k].xh = calloc((size_t)(rows * (in + units)), sizeof(float));
        run[k].z = aligned_alloc(64, (size_t)(rows * g + 15) / 16 * 64); /* on lines, as a plan's state */
        memset(run[k].z, 0, (size_t)(rows * g) * sizeof(float));
        run[k].c = calloc((size_t)(rows * units), sizeof(float));
        run[k].tc = aligned_alloc(64, (size_t)(rows * units + 15) / 16 * 64);
        memset(run[k].tc, 0, (size_t)(rows * units) * sizeof(float));
        run[k].y = calloc((size_t)(rows * units), sizeof(float));
        train_run(&e, &run[k], b, k == 0 ? NULL : wp, k == 2);
    }
    char shape[96];
    snprintf(shape, sizeof shape, "B %lld, T %lld, I %lld, H %lld%s%s", (long long)b, (long long)t, (long long)in,
             (long long)units, reverse ? ", reversed" : "", poison ? ", Wx infinite" : "");
    for (int k = 1; k < 3; k++) {
        char what[128];
        snprintf(what, sizeof what, "%s%s", shape, k == 2 ? ", leaves in parts" : "");
        expect_same_floats(run[0].y, run[k].y, rows * units, "y", what);
        expect_same_floats(run[0].xh, run[k].xh, rows * (in + units), "xh", what);
        expect_same_floats(run[0].z, run[k].z, rows * g, "gates", what);
        expect_same_floats(run[0].c, run[k].c, rows * units, "c", what);
        expect_same_floats(run[0].tc, run[k].tc, rows * units, "tanh(c)", what);
    }
    expect_back_bits(ctx, &e, &run[0], b, &rng, shape);
    for (int k = 0; k < 3; k++) free(run[k].xh), free(run[k].z), free(run[k].c), free(run[k].tc), free(run[k].y);
    free(x), free(w), free(bias), free(zeros), free(wp);
}

Test(lstm, fused_training_steps_give_the_bits_of_the_step_by_step_path_forward_and_backward) {
    if (!lstm_cell_fits(1, 16)) cr_skip_test("no AVX-512 in this build");
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0, "%s", ctx.err);
    static const int64_t hs[] = {16, 32, 64, 80}, ins[] = {1, 28, 100}, bs[] = {1, 7, 32, 33};
    for (size_t ih = 0; ih < 4; ih++)
        for (size_t ii = 0; ii < 3; ii++)
            for (size_t ib = 0; ib < 4; ib++)
                for (int reverse = 0; reverse < 2; reverse++)
                    expect_train_bits(&ctx, reverse, bs[ib], 5, ins[ii], hs[ih], 0);
    expect_train_bits(&ctx, 0, 33, 5, 28, 64, 1);
    expect_train_bits(&ctx, 0, 70, 9, 28, 64, 0); /* three leaves */
    expect_train_bits(&ctx, 1, 33, 4, 28, 128, 0); /* leaves of 16 and 17: the host's product, 4H over 448 */
    expect_train_bits(&ctx, 0, 64, 3, 28, 128, 0); /* 4H = 512: two blocks of k, fused */
    expect_train_bits(&ctx, 0, 32, 3, 10, 144, 0); /* 4H = 576, H not a multiple of 64 */
    expect_train_bits(&ctx, 1, 9, 3, 20, 256, 0);  /* 4H = 1024: blocks of 448, 288 and 288 */
    expect_train_bits(&ctx, 0, 7, 3, 20, 256, 0);  /* a leaf too small for blocks: the host's */
    /* past one block of k forward: h @ Wh in blocks (H 464: 240 and 224),
     * x @ Wx too (I 500: 256 and 244; 900: 448, 240, 212), x's zeros then
     * summed */
    expect_train_bits(&ctx, 0, 13, 2, 500, 464, 0);
    expect_train_bits(&ctx, 1, 7, 2, 20, 480, 0);
    expect_train_bits(&ctx, 0, 9, 2, 900, 16, 0);
    expect_train_bits(&ctx, 0, 9, 2, 900, 32, 1);
    struct lstm_cell wide = {.T = 40, .H = 128, .z = (float *)(uintptr_t)64, .tc = (float *)(uintptr_t)128};
    cr_expect(lstm_cell_streams_gates(&wide, 32), "2.6 MB of gates a leaf: gates and tanh(c) are streamed");
    cr_expect(lstm_cell_state_past_l2(40, 32, 128), "and backward fetches its rows ahead");
    cr_expect(!lstm_cell_state_past_l2(28, 32, 64), "0.9 MB of gates a leaf stay in the caches");
    expect_train_bits(&ctx, 0, 32, 40, 28, 128, 0); /* so here */
    gr_ctx_free(&ctx);
}
