/* The layers on values worked out by hand, for what the PyTorch fixtures
 * (test_fixtures.c) cannot show: TensorFlow's padding, Keras's fans, ties,
 * indices out of range, reversed sequences, thread counts, views. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "runtime/engine/plan.h"

#define EPS 1e-6f
#define expect_out tg_expect_out
#define expect_shape tg_expect_shape
#define setup tg_op_setup
#define teardown tg_op_teardown

/* ---- layers: what the PyTorch fixtures (test_fixtures.c) cannot show ---- */

Test(layers, conv2d_same_pads_like_tensorflow_and_sums_by_hand) {
    struct tgraph t;
    struct gr_harness h;
    /* x [1, 2, 3, 1] = 1..6, 2x2 kernel of ones, same: OH = 2, OW = 3, one
     * row and one column of padding after (TensorFlow puts the odd one last) */
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [2, 3, 1]}\n"
                  "- {name: y, op: conv2d, inputs: [x], filters: 1, kernel_size: [2], padding: same}\n", 1);
    expect_shape(&h, 4, (int64_t[]){1, 2, 3, 1});
    tg_set(&h, 0, (float[]){1, 2, 3, 4, 5, 6}, 6);
    tg_set(&h, 1, (float[]){1, 1, 1, 1}, 4);
    tg_set(&h, 2, (float[]){0.5f}, 1);
    gr_harness_forward(&h);
    /* [[1 2 3] [4 5 6]] windows: 1+2+4+5, 2+3+5+6, 3+6, 4+5, 5+6, 6 */
    expect_out(&h, (float[]){12.5f, 16.5f, 9.5f, 9.5f, 11.5f, 6.5f}, 6);
    teardown(&t, &h);
}

Test(layers, conv2d_kernel_fans_are_keras_s) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [8, 8, 4]}\n"
                              "- {name: c, op: conv2d, inputs: [x], filters: 16, kernel_size: [3, 5]}\n", 2), 0, "%s",
                 t.ctx.err);
    const struct gr_node *k = &t.g.nodes[tg_node(&t, "c.kernel")];
    cr_assert_eq(k->shape.rank, 4);
    cr_expect(k->shape.dim[0] == 3 && k->shape.dim[1] == 5 && k->shape.dim[2] == 4 && k->shape.dim[3] == 16);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    /* Glorot-uniform with fan_in = 3*5*4 = 60 and fan_out = 3*5*16 = 240 */
    double bound = sqrt(6.0 / (60 + 240)), largest = 0;
    const float *w = t.g.param + k->param_offset;
    for (int i = 0; i < 3 * 5 * 4 * 16; i++) largest = fmax(largest, fabs(w[i]));
    cr_expect_leq(largest, bound, "largest |w| %g exceeds Keras's bound %g", largest, bound);
    cr_expect_gt(largest, 0.95 * bound, "largest |w| %g: the draws do not reach Keras's bound %g", largest, bound);
    tg_free(&t);
}

Test(layers, max_pool_routes_ties_to_the_first_max_and_avg_pool_counts_inside_cells) {
    struct tgraph t;
    struct gr_harness h;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [2, 2, 1]}\n"
                              "- {name: y, op: max_pool2d, inputs: [x]}\n", 1), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_harness_init(&h, &t.g, tg_node(&t, "y"), 1), 0, "%s", t.ctx.err);
    tg_set(&h, 0, (float[]){1, 3, 3, 2}, 4);
    gr_harness_forward(&h);
    expect_out(&h, (float[]){3}, 1);
    ((float *)h.dout.data)[0] = 1.0f;
    gr_harness_backward(&h);
    const float *dx = h.din[0].data;
    cr_expect(dx[0] == 0 && dx[1] == 1 && dx[2] == 0 && dx[3] == 0, "dx = %g %g %g %g", dx[0], dx[1], dx[2], dx[3]);
    teardown(&t, &h);

    /* 3x3 windows, stride 1, same, on a 2x2 image of 1, 2, 3, 4: every window
     * covers all four cells (divide by 4, not by 9) */
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [2, 2, 1]}\n"
                  "- {name: y, op: avg_pool2d, inputs: [x], size: [3], strides: [1], padding: same}\n", 1);
    tg_set(&h, 0, (float[]){1, 2, 3, 4}, 4);
    gr_harness_forward(&h);
    expect_out(&h, (float[]){2.5f, 2.5f, 2.5f, 2.5f}, 4);
    teardown(&t, &h);
}

Test(layers, embedding_gives_nan_for_an_index_outside_the_table_and_writes_nothing_for_it) {
    struct tgraph t;
    struct gr_harness h;
    cr_assert_eq(tg_build(&t, "- {name: l, op: input, data: labels}\n"
                              "- {name: y, op: embedding, inputs: [l], input_dim: 3, output_dim: 2}\n", 3), 0, "%s",
                 t.ctx.err);
    cr_assert_eq(gr_harness_init(&h, &t.g, tg_node(&t, "y"), 1), 0, "%s", t.ctx.err);
    int32_t *idx = h.in[0].data;
    idx[0] = 2;
    idx[1] = 3; /* one past the table */
    idx[2] = -1;
    tg_set(&h, 1, (float[]){10, 11, 20, 21, 30, 31}, 6);
    gr_harness_forward(&h);
    const float *y = h.out.data;
    cr_expect(y[0] == 30 && y[1] == 31, "row 2: %g %g", y[0], y[1]);
    for (int i = 2; i < 6; i++) cr_expect(isnan(y[i]), "y[%d] = %g, expected NaN", i, y[i]);
    for (int i = 0; i < 6; i++) ((float *)h.dout.data)[i] = 1.0f;
    gr_harness_backward(&h);
    const float *dt = h.din[1].data;
    cr_expect(dt[0] == 0 && dt[1] == 0 && dt[2] == 0 && dt[3] == 0 && dt[4] == 1 && dt[5] == 1);
    cr_expect_null(h.args.din[0], "indices take no gradient");
    teardown(&t, &h);
}

/* h_t of a reversed layer on x is h_{T-1-t} of the forward layer on x with
 * its steps reversed; the gradients mirror the same way. */
static void expect_reverse_mirrors_forward(const char *op) {
    enum { B = 3, T = 4, I = 2, U = 5 };
    float *out[2], *dx[2], *dw[2];
    int64_t n_w = 0;
    for (int rev = 0; rev < 2; rev++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "- {name: x, op: input, data: images, shape: [%d, %d]}\n"
                                    "- {name: y, op: %s, inputs: [x], num_units: %d, reverse: %s}\n",
                 T, I, op, U, rev ? "true" : "false");
        struct tgraph t;
        struct gr_harness h;
        cr_assert_eq(tg_build(&t, yaml, B), 0, "%s", t.ctx.err);
        cr_assert_eq(gr_harness_init(&h, &t.g, tg_node(&t, "y"), 1), 0, "%s", t.ctx.err);
        struct gr_rng rng;
        gr_rng_seed(&rng, 5);
        float *x = h.in[0].data, *dy = h.dout.data;
        for (int b = 0; b < B; b++) /* the reversed layer reads x with its steps reversed */
            for (int s = 0; s < T; s++)
                for (int i = 0; i < I; i++)
                    x[(b * T + (rev ? T - 1 - s : s)) * I + i] = (float)((b * 7 + s * 3 + i) % 11) / 5.0f - 1.0f;
        for (int k = 1; k < h.args.n_in; k++) {
            gr_rng_seed(&rng, (uint64_t)k);
            float *w = h.in[k].data;
            for (int64_t e = 0; e < gr_shape_count(&h.in[k].shape); e++) w[e] = 0.8f * gr_rng_uniform(&rng) - 0.4f;
        }
        for (int b = 0; b < B; b++)
            for (int s = 0; s < T; s++)
                for (int j = 0; j < U; j++)
                    dy[(b * T + (rev ? T - 1 - s : s)) * U + j] = (float)((b + 2 * s + 3 * j) % 5) - 2.0f;
        gr_harness_forward(&h);
        gr_harness_backward(&h);
        n_w = gr_shape_count(&h.in[1].shape);
        out[rev] = malloc(B * T * U * sizeof(float));
        dx[rev] = malloc(B * T * I * sizeof(float));
        dw[rev] = malloc((size_t)n_w * sizeof(float));
        for (int b = 0; b < B; b++)
            for (int s = 0; s < T; s++) {
                int t2 = rev ? T - 1 - s : s;
                memcpy(out[rev] + (b * T + s) * U, (float *)h.out.data + (b * T + t2) * U, U * sizeof(float));
                memcpy(dx[rev] + (b * T + s) * I, (float *)h.din[0].data + (b * T + t2) * I, I * sizeof(float));
            }
        memcpy(dw[rev], h.din[1].data, (size_t)n_w * sizeof(float));
        teardown(&t, &h);
    }
    for (int i = 0; i < B * T * U; i++)
        cr_expect_float_eq(out[1][i], out[0][i], 1e-6f, "%s: h[%d] %g vs %g", op, i, out[1][i], out[0][i]);
    for (int i = 0; i < B * T * I; i++)
        cr_expect_float_eq(dx[1][i], dx[0][i], 1e-5f, "%s: dx[%d] %g vs %g", op, i, dx[1][i], dx[0][i]);
    for (int64_t i = 0; i < n_w; i++)
        cr_expect_float_eq(dw[1][i], dw[0][i], 1e-5f, "%s: dkernel[%lld] %g vs %g", op, (long long)i, dw[1][i],
                           dw[0][i]);
    for (int r = 0; r < 2; r++) {
        free(out[r]);
        free(dx[r]);
        free(dw[r]);
    }
}

Test(layers, reversed_recurrences_mirror_the_forward_ones) {
    expect_reverse_mirrors_forward("lstm");
    expect_reverse_mirrors_forward("gru");
    expect_reverse_mirrors_forward("rnn");
}

/* Blocks of images (conv2d), of samples (gru, rnn) and of rows
 * (layer_norm, batch_norm) are fixed by the shapes, and partial sums added
 * in a fixed order; dropout's mask depends on the element alone: one and
 * two threads give the same bits. */
Test(layers, layers_give_the_same_bits_on_one_and_two_threads) {
    const char *yamls[] = {
        "- {name: x, op: input, data: images, shape: [12, 12, 3]}\n"
        "- {name: y, op: conv2d, inputs: [x], filters: 16, kernel_size: [3], padding: same}\n",
        "- {name: x, op: input, data: images, shape: [12, 12, 8]}\n"
        "- {name: y, op: conv2d, inputs: [x], filters: 8, kernel_size: [3], strides: [2]}\n",
        "- {name: x, op: input, data: images, shape: [12, 12, 8]}\n- {name: y, op: max_pool2d, inputs: [x]}\n",
        "- {name: x, op: input, data: images, shape: [6, 10]}\n- {name: y, op: gru, inputs: [x], num_units: 24}\n",
        "- {name: x, op: input, data: images, shape: [6, 10]}\n- {name: y, op: rnn, inputs: [x], num_units: 24}\n",
        "- {name: x, op: input, data: images, shape: [6, 600]}\n- {name: y, op: layer_norm, inputs: [x]}\n",
        /* 5760 rows: 23 blocks of sums; the running statistics compared too */
        "- {name: x, op: input, data: images, shape: [12, 12, 8]}\n- {name: y, op: batch_norm, inputs: [x]}\n",
        "- {name: x, op: input, data: images, shape: [6, 600]}\n- {name: y, op: dropout, inputs: [x], rate: 0.3}\n",
    };
    for (size_t c = 0; c < sizeof yamls / sizeof yamls[0]; c++) {
        float *res[2] = {NULL, NULL};
        size_t total = 0;
        for (int threads = 1; threads <= 2; threads++) {
            struct tgraph t;
            struct gr_harness h;
            tg_op_run_random(&t, &h, yamls[c], 40, threads, 9);
            size_t n_out = (size_t)gr_shape_count(&h.out.shape);
            total = n_out;
            for (int k = 0; k < h.args.n_in; k++) total += (size_t)gr_shape_count(&h.in[k].shape);
            res[threads - 1] = calloc(total, sizeof(float));
            memcpy(res[threads - 1], h.out.data, n_out * sizeof(float));
            size_t at = n_out;
            for (int k = 0; k < h.args.n_in; k++) {
                size_t n = (size_t)gr_shape_count(&h.in[k].shape);
                /* a gradient, or what forward left in the input (an op's state) */
                memcpy(res[threads - 1] + at, h.args.din[k] ? h.din[k].data : h.in[k].data, n * sizeof(float));
                at += n;
            }
            gr_harness_free(&h);
            tg_free(&t);
        }
        cr_expect_arr_eq(res[0], res[1], total * sizeof(float), "case %zu: one and two threads differ", c);
        free(res[0]);
        free(res[1]);
    }
}

/* Statistics in one pass over x (blocks combined by Chan's formula) stay
 * as accurate as a two-pass variance for a channel far from zero: mean 1e4
 * and std 1e-2, where a sum of squares minus the squared mean loses every
 * digit and a float mean's rounding alone is several ulps of the variance.
 * 5760 rows: 22 whole blocks and a partial one. */
Test(layers, batch_norm_statistics_are_two_pass_accurate_far_from_zero) {
    enum { B = 40, ROWS = B * 12 * 12, C = 2 };
    struct tgraph t;
    struct gr_harness h;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [12, 12, 2]}\n"
                              "- {name: y, op: batch_norm, inputs: [x], momentum: 0}\n", B), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_harness_init(&h, &t.g, tg_node(&t, "y"), 1), 0, "%s", t.ctx.err);
    struct gr_rng rng;
    gr_rng_seed(&rng, 3);
    float *x = h.in[0].data;
    for (int r = 0; r < ROWS; r++) {
        x[r * C] = 1e4f + 3.5e-2f * (gr_rng_uniform(&rng) - 0.5f);
        x[r * C + 1] = -3.0f + 4.0f * (gr_rng_uniform(&rng) - 0.5f);
    }
    gr_harness_forward(&h);
    const float *rmean = h.in[3].data, *rvar = h.in[4].data, *rstd = (const float *)h.saved + C;
    for (int c = 0; c < C; c++) {
        double mean = 0, m2 = 0; /* two passes in double over the same floats */
        for (int r = 0; r < ROWS; r++) mean += x[r * C + c];
        mean /= ROWS;
        for (int r = 0; r < ROWS; r++) m2 += (x[r * C + c] - mean) * (x[r * C + c] - mean);
        double var = m2 / ROWS, want_rstd = 1 / sqrt(var + 1e-5);
        cr_expect_leq(fabs(rmean[c] - mean), 1e-7 * fabs(mean), "channel %d: mean %.9g, expected %.9g", c, rmean[c],
                      mean);
        cr_expect_leq(fabs(rvar[c] - m2 / (ROWS - 1)), 2e-7 * m2 / (ROWS - 1),
                      "channel %d: running variance %.9g, expected %.9g", c, rvar[c], m2 / (ROWS - 1));
        cr_expect_leq(fabs(rstd[c] - want_rstd), 2e-7 * want_rstd, "channel %d: rstd %.9g, expected %.9g", c, rstd[c],
                      want_rstd);
    }
    teardown(&t, &h);
}

Test(layers, flatten_is_a_view_in_a_plan) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [2, 3]}\n"
                              "- {name: y, op: flatten, inputs: [x]}\n", 4), 0, "%s", t.ctx.err);
    int y = tg_node(&t, "y"), x = tg_node(&t, "x");
    cr_expect_eq(t.g.nodes[y].shape.rank, 2);
    cr_expect_eq(t.g.nodes[y].shape.dim[1], 6);
    struct gr_plan p;
    cr_assert_eq(gr_plan_init(&p, &t.g, 4, &y, 1, -1), 0, "%s", t.ctx.err);
    cr_expect_eq(p.val[y].data, p.val[x].data, "flatten's output is its input's memory");
    gr_plan_free(&p);
    tg_free(&t);
}
