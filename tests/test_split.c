/* Split-invariant parameter gradients (ops/util.h's tree): the gradient an
 * op sums over a batch is, bit for bit, the sum of the gradients it sums
 * over the batch's two halves, which is what two ranks of a data-parallel
 * run add in their allreduce. And the tree neither drops nor repeats a
 * sample: the batch's gradient is the sum of its samples' (in double).
 * Also util.h's tiled transpose, against the definition. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "ops/util.h"
#include "runtime/session/parallel.h"

/* The halving tree, written out as util.h describes it. */
static int64_t count_leaves(int64_t n) { return n <= GR_SUM_LEAF ? 1 : count_leaves(n / 2) + count_leaves(n - n / 2); }

Test(tree, leaves_cover_the_batch_in_order) {
    for (int64_t n = 1; n <= 3000; n++) {
        int64_t leaves = gr_sum_leaves(n), at = 0;
        cr_assert_eq(leaves, count_leaves(n), "batch %lld: %lld leaves, expected %lld", (long long)n, (long long)leaves,
                     (long long)count_leaves(n));
        for (int64_t k = 0; k < leaves; k++) {
            int64_t lo, hi;
            gr_sum_leaf(n, k, &lo, &hi);
            cr_assert(lo == at && hi > lo && hi - lo <= GR_SUM_LEAF, "batch %lld, leaf %lld: [%lld, %lld) after %lld",
                      (long long)n, (long long)k, (long long)lo, (long long)hi, (long long)at);
            at = hi;
        }
        cr_assert_eq(at, n);
    }
}

Test(util, transpose_in_tiles_matches_the_definition) {
    static const int64_t shapes[][2] = {{1, 1}, {1, 40}, {40, 1}, {3, 5}, {16, 16}, {17, 33}, {64, 256}, {92, 19}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
        float *src = malloc((size_t)n * sizeof *src), *dst = malloc((size_t)(n + 1) * sizeof *dst);
        cr_assert(src && dst);
        for (int64_t i = 0; i < n; i++) src[i] = (float)i;
        dst[n] = -1.0f; /* a guard past the end */
        gr_transpose(src, rows, cols, dst);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++)
                cr_assert_eq(dst[c * rows + r], src[r * cols + c], "[%lld, %lld] at (%lld, %lld)", (long long)rows,
                             (long long)cols, (long long)r, (long long)c);
        cr_assert_eq(dst[n], -1.0f, "[%lld, %lld]: wrote past the end", (long long)rows, (long long)cols);
        free(src);
        free(dst);
    }
}

/* A rank's first sample, as a data-parallel run splits a batch. */
static int64_t rank_lo(int64_t n, int64_t r, int64_t ranks) {
    int64_t lo, part;
    if (r == ranks) return n;
    gr_parallel_range(n, r, ranks, &lo, &part);
    return lo;
}

/* Whether [lo, hi) is a node of the tree over [a, b). */
static int is_node(int64_t a, int64_t b, int64_t lo, int64_t hi) {
    if (a == lo && b == hi) return 1;
    if (b - a <= GR_SUM_LEAF || lo < a || hi > b) return 0;
    int64_t m = a + (b - a) / 2;
    return is_node(a, m, lo, hi) || is_node(m, b, lo, hi);
}

Test(tree, each_of_a_power_of_two_ranks_holds_a_subtree) {
    for (int64_t ranks = 2; ranks <= 16; ranks *= 2)
        for (int64_t n = GR_SUM_LEAF * ranks; n <= 3000; n++)
            for (int64_t r = 0; r < ranks; r++)
                cr_assert(is_node(0, n, rank_lo(n, r, ranks), rank_lo(n, r + 1, ranks)),
                          "batch %lld, rank %lld of %lld: [%lld, %lld) is not a node", (long long)n, (long long)r,
                          (long long)ranks, (long long)rank_lo(n, r, ranks), (long long)rank_lo(n, r + 1, ranks));
}

/* ---- ops ------------------------------------------------------------------ */

struct run {
    struct tgraph t;
    struct gr_harness h;
};

/* `node` of `yaml` at batch b, its inputs and dout drawn from `seed` per
 * sample (so a sample's values do not depend on the batch around it),
 * samples [first, first + b) of that stream; forward and backward. */
static void run_op(struct run *r, const char *yaml, int64_t b, int64_t first, const float *params[], int n_params) {
    cr_assert_eq(tg_build(&r->t, yaml, b), 0, "%s", r->t.ctx.err);
    cr_assert_eq(gr_harness_init(&r->h, &r->t.g, tg_node(&r->t, "y"), 1), 0, "%s", r->t.ctx.err);
    struct gr_tensor *x = &r->h.in[0], *dout = &r->h.dout;
    int64_t per_x = gr_shape_count(&x->shape) / b, per_y = gr_shape_count(&dout->shape) / b;
    float *xs = x->data, *dy = dout->data;
    for (int64_t s = 0; s < b; s++) {
        struct gr_rng rng;
        gr_rng_seed(&rng, (uint64_t)(1000 + first + s));
        for (int64_t k = 0; k < per_x; k++) xs[s * per_x + k] = (float)(2.0 * gr_rng_uniform(&rng) - 1.0);
        /* dout as the mean loss over the whole batch seeds it: a power of two */
        for (int64_t k = 0; k < per_y; k++) dy[s * per_y + k] = (float)(2.0 * gr_rng_uniform(&rng) - 1.0) / 128.0f;
    }
    for (int p = 0; p < n_params; p++) tg_set(&r->h, 1 + p, params[p], gr_shape_count(&r->h.in[1 + p].shape));
    gr_harness_forward(&r->h);
    gr_harness_backward(&r->h);
}

static void free_run(struct run *r) {
    gr_harness_free(&r->h);
    tg_free(&r->t);
}

/* Parameters drawn once, the same for every batch. */
static void draw_params(const char *yaml, float *store, const float *params[], int n_params) {
    struct run r;
    cr_assert_eq(tg_build(&r.t, yaml, 1), 0, "%s", r.t.ctx.err);
    cr_assert_eq(gr_harness_init(&r.h, &r.t.g, tg_node(&r.t, "y"), 1), 0, "%s", r.t.ctx.err);
    struct gr_rng rng;
    gr_rng_seed(&rng, 99);
    for (int p = 0; p < n_params; p++) {
        int64_t n = gr_shape_count(&r.h.in[1 + p].shape);
        for (int64_t k = 0; k < n; k++) store[k] = (float)(gr_rng_uniform(&rng) - 0.5);
        params[p] = store;
        store += n;
    }
    free_run(&r);
}

/* Batch b against its halves [0, b/2) and [b/2, b): every parameter's
 * gradient equals half 0's + half 1's exactly; and against its samples one
 * by one, summed in double, to 1e-5 of the largest. */
static void check_split(const char *yaml, int n_params, int64_t b) {
    static float store[1 << 20];
    const float *params[4];
    draw_params(yaml, store, params, n_params);
    struct run whole, lo, hi;
    run_op(&whole, yaml, b, 0, params, n_params);
    run_op(&lo, yaml, b / 2, 0, params, n_params);
    run_op(&hi, yaml, b - b / 2, b / 2, params, n_params);
    for (int p = 1; p <= n_params; p++) {
        int64_t n = gr_shape_count(&whole.h.din[p].shape), off = 0;
        const float *w = whole.h.din[p].data, *l = lo.h.din[p].data, *u = hi.h.din[p].data;
        for (int64_t k = 0; k < n; k++)
            if (w[k] != l[k] + u[k] && !off) off = k + 1;
        cr_expect_eq(off, 0, "batch %lld, parameter %d, element %lld: %.9g, the halves %.9g + %.9g", (long long)b, p,
                     (long long)(off - 1), off ? w[off - 1] : 0.0, off ? l[off - 1] : 0.0, off ? u[off - 1] : 0.0);
    }
    static double sum[1 << 20];
    for (int p = 1; p <= n_params; p++) {
        int64_t n = gr_shape_count(&whole.h.din[p].shape);
        memset(sum, 0, (size_t)n * sizeof *sum);
        for (int64_t s = 0; s < b; s++) {
            struct run one;
            run_op(&one, yaml, 1, s, params, n_params);
            const float *d = one.h.din[p].data;
            for (int64_t k = 0; k < n; k++) sum[k] += d[k];
            free_run(&one);
        }
        double worst = 0, big = 0;
        for (int64_t k = 0; k < n; k++) {
            worst = fmax(worst, fabs(whole.h.din[p].data ? ((const float *)whole.h.din[p].data)[k] - sum[k] : 0));
            big = fmax(big, fabs(sum[k]));
        }
        cr_expect_leq(worst, 1e-5 * big, "batch %lld, parameter %d: %.3g off the samples' sum (largest %.3g)",
                      (long long)b, p, worst, big);
    }
    free_run(&whole);
    free_run(&lo);
    free_run(&hi);
}

#define DENSE "- {name: x, op: input, data: images, shape: [40]}\n- {name: y, op: dense, inputs: [x], units: 24}\n"
#define DENSE_SEQ "- {name: x, op: input, data: images, shape: [3, 40]}\n- {name: y, op: dense, inputs: [x], units: 24}\n"
#define LSTM "- {name: x, op: input, data: images, shape: [5, 7]}\n- {name: y, op: lstm, inputs: [x], num_units: 20}\n"
#define LSTM_R                                                                                                        \
    "- {name: x, op: input, data: images, shape: [5, 7]}\n"                                                          \
    "- {name: y, op: lstm, inputs: [x], num_units: 20, reverse: true}\n"

/* 64: two leaves of 32 against one each; 96: four of 24 against two;
 * 200: eight of 25 against four */
Test(split, dense) {
    check_split(DENSE, 2, 64);
    check_split(DENSE, 2, 200);
}
Test(split, dense_over_a_sequence) { check_split(DENSE_SEQ, 2, 96); }
Test(split, lstm) {
    check_split(LSTM, 2, 64);
    check_split(LSTM, 2, 96);
}
Test(split, lstm_reversed) { check_split(LSTM_R, 2, 96); }

#define GRU "- {name: x, op: input, data: images, shape: [4, 6]}\n- {name: y, op: gru, inputs: [x], num_units: 12}\n"
#define GRU_R                                                                                                         \
    "- {name: x, op: input, data: images, shape: [4, 6]}\n"                                                          \
    "- {name: y, op: gru, inputs: [x], num_units: 12, reverse: true}\n"
#define RNN "- {name: x, op: input, data: images, shape: [4, 6]}\n- {name: y, op: rnn, inputs: [x], num_units: 12}\n"
#define RNN_R                                                                                                         \
    "- {name: x, op: input, data: images, shape: [4, 6]}\n"                                                          \
    "- {name: y, op: rnn, inputs: [x], num_units: 12, reverse: true}\n"

Test(split, gru) { check_split(GRU, 4, 96); }
Test(split, gru_reversed) { check_split(GRU_R, 4, 64); }
Test(split, rnn) { check_split(RNN, 3, 96); }
Test(split, rnn_reversed) { check_split(RNN_R, 3, 64); }
