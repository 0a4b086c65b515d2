/* The random numbers kernels draw (Philox-4x32-10 keyed by train.seed and
 * the node's name, counted by step and element) and dropout, the op that
 * draws them: reproducible, independent of the split, replayed by
 * backward. PyTorch's dropout is compared with the mask applied in
 * test_fixtures (the fixture draws graphrun's mask in Python). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "runtime/base/rng.h"

/* Known answers of Random123's Philox-4x32-10 (kat_vectors). */
Test(random, philox_matches_the_published_known_answers) {
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        gr_philox4x32(kat[i].ctr, kat[i].key, out);
        cr_expect_arr_eq(out, kat[i].out, sizeof out, "vector %zu: %08x %08x %08x %08x", i, out[0], out[1], out[2],
                         out[3]);
    }
}

/* A value depends on (key, step, element) only: drawn in one call, in
 * pieces at any offsets, or backwards, it is the same. */
Test(random, a_value_depends_only_on_key_step_and_element) {
    enum { N = 1000 };
    static float whole[N], pieces[N];
    uint64_t key = gr_rng_node_key(5, "drop");
    gr_rng_uniform_at(key, 7, 0, N, whole);
    for (int64_t b = N; b > 0;) { /* pieces of 1..13 values, from the end */
        int64_t n = 1 + (b * 7) % 13;
        if (n > b) n = b;
        gr_rng_uniform_at(key, 7, b - n, n, pieces + b - n);
        b -= n;
    }
    cr_expect_arr_eq(whole, pieces, sizeof whole);
    double sum = 0;
    for (int i = 0; i < N; i++) {
        cr_expect(whole[i] >= 0.0f && whole[i] < 1.0f, "u[%d] = %g", i, whole[i]);
        sum += whole[i];
    }
    /* mean of 1000 uniforms: 0.5 with a standard deviation of 0.0091 */
    cr_expect(fabs(sum / N - 0.5) < 0.05, "mean %g", sum / N);
    /* another step, node or seed: another stream */
    static float other[N];
    const struct {
        uint64_t key;
        int64_t step;
    } others[] = {{key, 8}, {gr_rng_node_key(5, "drop2"), 7}, {gr_rng_node_key(6, "drop"), 7}};
    for (size_t o = 0; o < 3; o++) {
        gr_rng_uniform_at(others[o].key, others[o].step, 0, N, other);
        int same = 0;
        for (int i = 0; i < N; i++) same += other[i] == whole[i];
        cr_expect_lt(same, 5, "case %zu: %d of %d values equal", o, same, N);
    }
    cr_expect_eq(gr_rng_node_key(5, "drop"), key, "the key is a function of seed and name");
}

/* A dropout node on x [B, 600] (B = 100: 60000 values, split over threads
 * when there are two), training at step `step` with `threads` threads. */
struct drop {
    struct tgraph t;
    struct gr_harness h;
};

static void drop_open(struct drop *d, double rate, int threads, uint64_t seed, int training) {
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "- {name: x, op: input, data: images, shape: [600]}\n"
             "- {name: y, op: dropout, inputs: [x], rate: %g}\n", rate);
    cr_assert_eq(tg_build(&d->t, yaml, 100), 0, "%s", d->t.ctx.err);
    d->t.ctx.seed = seed;
    cr_assert_eq(gr_ctx_set_threads(&d->t.ctx, threads), 0);
    cr_assert_eq(gr_harness_init(&d->h, &d->t.g, tg_node(&d->t, "y"), training), 0, "%s", d->t.ctx.err);
    float *x = d->h.in[0].data;
    for (int i = 0; i < 60000; i++) x[i] = 1.0f + (float)(i % 7);
}

static void drop_close(struct drop *d) {
    gr_harness_free(&d->h);
    tg_free(&d->t);
}

Test(random, dropout_keeps_one_minus_rate_scaled_and_backward_uses_the_same_mask) {
    struct drop d;
    drop_open(&d, 0.4, 2, 3, 1);
    gr_harness_forward(&d.h);
    const float *x = d.h.in[0].data, *y = d.h.out.data;
    int kept = 0;
    for (int i = 0; i < 60000; i++) {
        if (y[i] == 0.0f) continue;
        kept++;
        cr_assert_float_eq(y[i], x[i] / 0.6f, 1e-5f * y[i], "y[%d] = %g for x %g", i, y[i], x[i]);
    }
    /* binomial(60000, 0.6): standard deviation 120 */
    cr_expect(abs(kept - 36000) < 600, "kept %d of 60000 at rate 0.4", kept);
    /* backward: dx = dy where the value was kept, scaled, else 0 */
    float *dy = d.h.dout.data;
    for (int i = 0; i < 60000; i++) dy[i] = 0.5f;
    gr_harness_backward(&d.h);
    const float *dx = d.h.din[0].data;
    for (int i = 0; i < 60000; i++)
        cr_assert_float_eq(dx[i], y[i] != 0.0f ? 0.5f / 0.6f : 0.0f, 1e-6f, "dx[%d] = %g, y %g", i, dx[i], y[i]);
    drop_close(&d);
}

/* The mask is a function of seed, node and step: one thread or two, it is
 * the same; the same step again, the same; the next step, another. */
Test(random, dropout_masks_repeat_by_step_not_by_thread) {
    static float y[3][60000];
    for (int r = 0; r < 3; r++) {
        struct drop d;
        drop_open(&d, 0.5, r == 1 ? 2 : 1, 3, 1);
        if (r == 2) d.h.step = 2;
        gr_harness_forward(&d.h);
        memcpy(y[r], d.h.out.data, sizeof y[r]);
        drop_close(&d);
    }
    cr_expect_arr_eq(y[0], y[1], sizeof y[0], "one and two threads drew different masks");
    int differ = 0;
    for (int i = 0; i < 60000; i++) differ += (y[0][i] == 0.0f) != (y[2][i] == 0.0f);
    /* two independent masks at rate 0.5 differ in half the places */
    cr_expect(abs(differ - 30000) < 900, "steps 1 and 2 differ in %d of 60000 places", differ);
}

Test(random, dropout_is_the_identity_in_evaluation_and_at_rate_zero) {
    for (int c = 0; c < 2; c++) {
        struct drop d;
        drop_open(&d, c ? 0.0 : 0.7, 1, 3, c);
        gr_harness_forward(&d.h);
        cr_expect_arr_eq(d.h.out.data, d.h.in[0].data, 60000 * sizeof(float), "case %d", c);
        drop_close(&d);
    }
}
