/* Every op's forward on values worked out by hand. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "runtime/engine/plan.h"

/* the harness helpers of tests/helpers.c, by their short names */
#define expect_out tg_expect_out
#define expect_shape tg_expect_shape
#define setup tg_op_setup
#define teardown tg_op_teardown

Test(ops, input_shapes_and_dtypes) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: im, op: input, data: images, shape: [28, 28]}\n"
                              "- {name: lb, op: input, data: labels}\n", 5), 0, "%s", t.ctx.err);
    const struct gr_node *im = &t.g.nodes[tg_node(&t, "im")], *lb = &t.g.nodes[tg_node(&t, "lb")];
    cr_expect_eq(im->shape.rank, 3);
    cr_expect_eq(im->shape.dim[0], 5);
    cr_expect_eq(im->shape.dim[2], 28);
    cr_expect_eq(im->dtype, GR_F32);
    cr_expect_eq(lb->shape.rank, 1);
    cr_expect_eq(lb->dtype, GR_I32);
    tg_free(&t);
}

Test(ops, param_has_no_batch_axis_and_is_initialised) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: w, op: param, shape: [3, 4], init: ones}\n", 7), 0, "%s", t.ctx.err);
    const struct gr_node *w = &t.g.nodes[tg_node(&t, "w")];
    cr_expect_eq(w->shape.rank, 2);
    cr_expect_eq(w->shape.dim[0], 3);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    cr_expect_eq(t.g.n_weights, 12);
    for (int i = 0; i < 12; i++) cr_expect_float_eq(t.g.param[w->param_offset + i], 1.0f, 0.0f);
    tg_free(&t);
}

Test(ops, reshape_keeps_order_and_fills_minus_one) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [6]}\n"
                  "- {name: y, op: reshape, inputs: [x], shape: [3, -1]}\n", 2);
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    tg_set(&h, 0, x, 12);
    gr_harness_forward(&h);
    expect_shape(&h, 3, (int64_t[]){2, 3, 2});
    expect_out(&h, x, 12);
    teardown(&t, &h);
}

Test(ops, slice_index_drops_the_axis) {
    struct tgraph t;
    struct gr_harness h;
    /* x[b, t, j] = 100 b + 10 t + j, shape [2, 3, 2]; y = x[:, -1, :] */
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [3, 2]}\n"
                  "- {name: y, op: slice, inputs: [x], axis: 1, index: -1}\n", 2);
    float x[12];
    for (int b = 0; b < 2; b++)
        for (int s = 0; s < 3; s++)
            for (int j = 0; j < 2; j++) x[b * 6 + s * 2 + j] = (float)(100 * b + 10 * s + j);
    tg_set(&h, 0, x, 12);
    gr_harness_forward(&h);
    expect_shape(&h, 2, (int64_t[]){2, 2});
    expect_out(&h, (float[]){20, 21, 120, 121}, 4);
    teardown(&t, &h);
}

Test(ops, slice_range_keeps_the_axis) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [3, 2]}\n"
                  "- {name: y, op: slice, inputs: [x], axis: -2, begin: 1, end: -1}\n", 2);
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    tg_set(&h, 0, x, 12);
    gr_harness_forward(&h);
    expect_shape(&h, 3, (int64_t[]){2, 1, 2});
    expect_out(&h, (float[]){2, 3, 8, 9}, 4);
    teardown(&t, &h);
}

Test(ops, matmul_with_a_shared_matrix) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: a, op: input, data: images, shape: [3]}\n"
                  "- {name: b, op: param, shape: [3, 2]}\n"
                  "- {name: y, op: matmul, inputs: [a, b]}\n", 2);
    tg_set(&h, 0, (float[]){1, 2, 3, 4, 5, 6}, 6);
    tg_set(&h, 1, (float[]){1, 0, 0, 1, 1, 1}, 6);
    gr_harness_forward(&h);
    /* [1 2 3] @ [[1 0] [0 1] [1 1]] = [4 5]; [4 5 6] -> [10 11] */
    expect_out(&h, (float[]){4, 5, 10, 11}, 4);
    teardown(&t, &h);
}

Test(ops, matmul_batched) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: a, op: input, data: images, shape: [1, 2]}\n"
                  "- {name: b, op: input, data: images, shape: [2, 1]}\n"
                  "- {name: y, op: matmul, inputs: [a, b]}\n", 2);
    tg_set(&h, 0, (float[]){1, 2, 3, 4}, 4);
    tg_set(&h, 1, (float[]){5, 6, 7, 8}, 4);
    gr_harness_forward(&h);
    /* sample 0: [1 2] @ [5 6]^T = 17; sample 1: [3 4] @ [7 8]^T = 53 */
    expect_shape(&h, 3, (int64_t[]){2, 1, 1});
    expect_out(&h, (float[]){17, 53}, 2);
    teardown(&t, &h);
}

Test(ops, add_broadcasts_a_bias_and_a_column) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: a, op: input, data: images, shape: [3]}\n"
                  "- {name: b, op: param, shape: [3]}\n"
                  "- {name: y, op: add, inputs: [a, b]}\n", 2);
    tg_set(&h, 0, (float[]){1, 2, 3, 4, 5, 6}, 6);
    tg_set(&h, 1, (float[]){10, 20, 30}, 3);
    gr_harness_forward(&h);
    expect_out(&h, (float[]){11, 22, 33, 14, 25, 36}, 6);
    teardown(&t, &h);

    setup(&t, &h, "- {name: a, op: input, data: images, shape: [3]}\n"
                  "- {name: b, op: input, data: images, shape: [1]}\n"
                  "- {name: y, op: add, inputs: [a, b]}\n", 2);
    tg_set(&h, 0, (float[]){1, 2, 3, 4, 5, 6}, 6);
    tg_set(&h, 1, (float[]){100, 200}, 2);
    gr_harness_forward(&h);
    expect_out(&h, (float[]){101, 102, 103, 204, 205, 206}, 6);
    teardown(&t, &h);
}

Test(ops, mul_broadcasts) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: a, op: input, data: images, shape: [2]}\n"
                  "- {name: b, op: param, shape: [2]}\n"
                  "- {name: y, op: mul, inputs: [a, b]}\n", 2);
    tg_set(&h, 0, (float[]){1, 2, 3, 4}, 4);
    tg_set(&h, 1, (float[]){-1, 0.5f}, 2);
    gr_harness_forward(&h);
    expect_out(&h, (float[]){-1, 1, -3, 2}, 4);
    teardown(&t, &h);
}

Test(ops, sigmoid_tanh_relu) {
    struct tgraph t;
    struct gr_harness h;
    const float x[4] = {0.0f, logf(3.0f), -logf(3.0f), 0.5f * logf(3.0f)};
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [4]}\n- {name: y, op: sigmoid, inputs: [x]}\n", 1);
    tg_set(&h, 0, x, 4);
    gr_harness_forward(&h);
    /* sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4, sigmoid(ln 3 / 2) = sqrt3/(1+sqrt3) */
    expect_out(&h, (float[]){0.5f, 0.75f, 0.25f, sqrtf(3.0f) / (1.0f + sqrtf(3.0f))}, 4);
    teardown(&t, &h);

    setup(&t, &h, "- {name: x, op: input, data: images, shape: [4]}\n- {name: y, op: tanh, inputs: [x]}\n", 1);
    tg_set(&h, 0, x, 4);
    gr_harness_forward(&h);
    /* tanh(ln 3 / 2) = (3 - 1) / (3 + 1) = 1/2, tanh(ln 3) = (9 - 1) / (9 + 1) */
    expect_out(&h, (float[]){0.0f, 0.8f, -0.8f, 0.5f}, 4);
    teardown(&t, &h);

    setup(&t, &h, "- {name: x, op: input, data: images, shape: [4]}\n- {name: y, op: relu, inputs: [x]}\n", 1);
    tg_set(&h, 0, (float[]){-2.0f, 0.0f, 3.5f, -0.1f}, 4);
    gr_harness_forward(&h);
    expect_out(&h, (float[]){0.0f, 0.0f, 3.5f, 0.0f}, 4);
    teardown(&t, &h);
}

Test(ops, concat_along_the_last_axis) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: a, op: input, data: images, shape: [2]}\n"
                  "- {name: b, op: input, data: images, shape: [3]}\n"
                  "- {name: y, op: concat, inputs: [a, b]}\n", 2);
    tg_set(&h, 0, (float[]){1, 2, 3, 4}, 4);
    tg_set(&h, 1, (float[]){5, 6, 7, 8, 9, 10}, 6);
    gr_harness_forward(&h);
    expect_shape(&h, 2, (int64_t[]){2, 5});
    expect_out(&h, (float[]){1, 2, 5, 6, 7, 3, 4, 8, 9, 10}, 10);
    teardown(&t, &h);
}

Test(ops, dense_is_x_kernel_plus_bias) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [3]}\n"
                  "- {name: y, op: dense, inputs: [x], units: 2}\n", 2);
    cr_assert_eq(h.args.n_in, 3, "dense takes x, kernel and bias");
    tg_set(&h, 0, (float[]){1, 2, 3, -1, 0, 1}, 6);
    tg_set(&h, 1, (float[]){1, 2, 3, 4, 5, 6}, 6); /* kernel [3, 2] */
    tg_set(&h, 2, (float[]){0.5f, -0.5f}, 2);
    gr_harness_forward(&h);
    /* [1 2 3] @ K = [22 28]; [-1 0 1] @ K = [4 4] */
    expect_out(&h, (float[]){22.5f, 27.5f, 4.5f, 3.5f}, 4);
    teardown(&t, &h);
}

Test(ops, dense_and_lstm_parameters_are_initialised_as_tensorflow_does) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [28, 28]}\n"
                              "- {name: l, op: lstm, inputs: [x], num_units: 64}\n"
                              "- {name: d, op: dense, inputs: [l], units: 10}\n", 4), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    const struct gr_node *k = &t.g.nodes[tg_node(&t, "l.kernel")], *b = &t.g.nodes[tg_node(&t, "l.bias")];
    const struct gr_node *dk = &t.g.nodes[tg_node(&t, "d.kernel")], *db = &t.g.nodes[tg_node(&t, "d.bias")];
    cr_expect_eq(k->shape.dim[0], 28 + 64);
    cr_expect_eq(k->shape.dim[1], 4 * 64);
    /* Glorot-uniform: |w| <= sqrt(6 / (fan_in + fan_out)), variance limit^2 / 3 */
    double limit = sqrt(6.0 / (92 + 256)), sum2 = 0;
    int64_t n = gr_shape_count(&k->shape);
    for (int64_t i = 0; i < n; i++) {
        float w = t.g.param[k->param_offset + i];
        cr_assert_leq(fabs(w), limit, "lstm kernel value %g beyond the Glorot limit %g", w, limit);
        sum2 += (double)w * w;
    }
    cr_expect_float_eq(sum2 / (double)n, limit * limit / 3.0, 0.05 * limit * limit / 3.0);
    for (int64_t i = 0; i < 256; i++) cr_expect_eq(t.g.param[b->param_offset + i], 0.0f);
    for (int64_t i = 0; i < 10; i++) cr_expect_eq(t.g.param[db->param_offset + i], 0.0f);
    double dlimit = sqrt(6.0 / (64 + 10));
    for (int64_t i = 0; i < 640; i++) cr_assert_leq(fabs(t.g.param[dk->param_offset + i]), dlimit);
    tg_free(&t);
}

Test(ops, lstm_two_steps_by_hand) {
    struct tgraph t;
    struct gr_harness h;
    /* one sample, two steps, one input, one unit; forget_bias 0 to keep the sums short */
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [2, 1]}\n"
                  "- {name: y, op: lstm, inputs: [x], num_units: 1, forget_bias: 0.0}\n", 1);
    const float x0 = 1.0f, x1 = -0.5f;
    /* kernel rows: [Wx; Wh], columns i, f, g, o */
    const float wx[4] = {0.5f, -0.25f, 1.0f, 0.75f}, wh[4] = {0.1f, 0.2f, -0.3f, 0.4f};
    const float bias[4] = {0.0f, 0.5f, -0.1f, 0.2f};
    tg_set(&h, 0, (float[]){x0, x1}, 2);
    tg_set(&h, 1, (float[]){wx[0], wx[1], wx[2], wx[3], wh[0], wh[1], wh[2], wh[3]}, 8);
    tg_set(&h, 2, bias, 4);
    gr_harness_forward(&h);
    double sg[4], c = 0, hv = 0, want[2];
    for (int s = 0; s < 2; s++) {
        double xv = s == 0 ? x0 : x1;
        for (int k = 0; k < 4; k++) sg[k] = xv * wx[k] + hv * wh[k] + bias[k];
        double i = 1 / (1 + exp(-sg[0])), f = 1 / (1 + exp(-sg[1])), g = tanh(sg[2]), o = 1 / (1 + exp(-sg[3]));
        c = f * c + i * g;
        hv = o * tanh(c);
        want[s] = hv;
    }
    expect_out(&h, (float[]){(float)want[0], (float)want[1]}, 2);
    teardown(&t, &h);
}

Test(ops, softmax_rows) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [3]}\n- {name: y, op: softmax, inputs: [x]}\n", 2);
    /* row 0: [0, ln 2, ln 5] -> [1, 2, 5] / 8; row 1 would overflow exp without the max shift */
    tg_set(&h, 0, (float[]){0, logf(2), logf(5), 1000, 1001, 1002}, 6);
    gr_harness_forward(&h);
    double e1 = exp(1.0), e2 = exp(2.0), s = 1 + e1 + e2;
    expect_out(&h, (float[]){0.125f, 0.25f, 0.625f, (float)(1 / s), (float)(e1 / s), (float)(e2 / s)}, 6);
    teardown(&t, &h);
}

Test(ops, softmax_cross_entropy_sparse_and_dense) {
    struct tgraph t;
    struct gr_harness h;
    /* row 0: logits [0, 0], label 0 -> ln 2; row 1: [ln 3, 0], label 1 -> ln 4 */
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [2]}\n"
                  "- {name: l, op: input, data: labels}\n"
                  "- {name: y, op: softmax_cross_entropy, inputs: [x, l]}\n", 2);
    tg_set(&h, 0, (float[]){0, 0, logf(3), 0}, 4);
    int32_t *lab = h.in[1].data;
    lab[0] = 0;
    lab[1] = 1;
    gr_harness_forward(&h);
    expect_out(&h, (float[]){1.5f * logf(2)}, 1);
    cr_expect_eq(h.args.din[1], NULL, "labels take no gradient");
    teardown(&t, &h);

    /* one-hot targets; logits of 1000 would overflow exp without the max shift:
     * row 0 -> ln 2, row 1 ([1001, 1000], label 1) -> ln(1 + e) */
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [2]}\n"
                  "- {name: p, op: input, data: images, shape: [2]}\n"
                  "- {name: y, op: softmax_cross_entropy, inputs: [x, p]}\n", 2);
    tg_set(&h, 0, (float[]){1000, 1000, 1001, 1000}, 4);
    tg_set(&h, 1, (float[]){1, 0, 0, 1}, 4);
    gr_harness_forward(&h);
    expect_out(&h, (float[]){(float)((log(2.0) + log(1.0 + exp(1.0))) / 2)}, 1);
    teardown(&t, &h);
}

/* A class index outside [0, C) is never dropped from the mean: the loss is
 * nan, which stops a training step and names the node. */
Test(ops, softmax_cross_entropy_with_a_label_out_of_range_is_nan) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [2]}\n"
                  "- {name: l, op: input, data: labels}\n"
                  "- {name: y, op: softmax_cross_entropy, inputs: [x, l]}\n", 2);
    const int32_t bad[3] = {2, -1, 7};
    for (int k = 0; k < 3; k++) {
        tg_set(&h, 0, (float[]){0, 0, 1, 0}, 4);
        int32_t *lab = h.in[1].data;
        lab[0] = 0;
        lab[1] = bad[k];
        gr_harness_forward(&h);
        float loss = *(const float *)h.out.data;
        cr_expect(isnan(loss), "label %d of 2 classes gave a loss of %g", bad[k], loss);
    }
    teardown(&t, &h);
}

Test(ops, mean_of_all_elements) {
    struct tgraph t;
    struct gr_harness h;
    setup(&t, &h, "- {name: x, op: input, data: images, shape: [2]}\n- {name: y, op: mean, inputs: [x]}\n", 2);
    tg_set(&h, 0, (float[]){1, 2, 3, 4}, 4);
    gr_harness_forward(&h);
    expect_shape(&h, 0, NULL);
    expect_out(&h, (float[]){2.5f}, 1);
    teardown(&t, &h);
}

/* ---- the vectorizable math the gates use -------------------------------- */

#include "ops/fastmath.h"

Test(ops, fast_exp_sigmoid_tanh_against_libm) {
    double worst_exp = 0, worst_sig = 0, worst_tanh = 0;
    for (int k = -400000; k <= 400000; k++) {
        float x = (float)k * 2e-4f; /* [-80, 80] */
        double e = exp((double)x);
        worst_exp = fmax(worst_exp, fabs(gr_exp(x) - e) / e);
        worst_sig = fmax(worst_sig, fabs(gr_sigmoid(x) - 1 / (1 + exp(-(double)x))));
        worst_tanh = fmax(worst_tanh, fabs(gr_tanh(x) - tanh((double)x)));
    }
    cr_expect_lt(worst_exp, 3e-7, "exp: relative error %g", worst_exp);
    cr_expect_lt(worst_sig, 2e-7, "sigmoid: absolute error %g", worst_sig);
    cr_expect_lt(worst_tanh, 3e-7, "tanh: absolute error %g", worst_tanh);
    /* far out of range: saturate, never inf or nan */
    cr_expect_eq(gr_sigmoid(-1000.0f), gr_sigmoid(-1000.0f));
    cr_expect_float_eq(gr_sigmoid(1000.0f), 1.0f, 0.0f);
    cr_expect_float_eq(gr_tanh(-1000.0f), -1.0f, 0.0f);
    cr_expect_float_eq(gr_tanh(1000.0f), 1.0f, 0.0f);
    cr_expect_lt(gr_sigmoid(-1000.0f), 1e-37f);
#ifdef GR_HAVE_V16
    /* the 16-wide versions agree with the scalar ones to their precision */
    double worst16 = 0;
    for (int k = -40000; k < 40000; k += 16) {
        float xs[16], s16[16], t16[16];
        for (int i = 0; i < 16; i++) xs[i] = (float)(k + i) * 2e-3f;
        _mm512_storeu_ps(s16, gr_sigmoid16(_mm512_loadu_ps(xs)));
        _mm512_storeu_ps(t16, gr_tanh16(_mm512_loadu_ps(xs)));
        for (int i = 0; i < 16; i++) {
            worst16 = fmax(worst16, fabs(s16[i] - 1 / (1 + exp(-(double)xs[i]))));
            worst16 = fmax(worst16, fabs(t16[i] - tanh((double)xs[i])));
        }
    }
    cr_expect_lt(worst16, 5e-7, "16-wide sigmoid and tanh: absolute error %g", worst16);
#endif
}

#ifdef GR_HAVE_V16
/* gr_exp16 as first written: 2^n built in the exponent field, then a multiply */
static __m512 exp16_by_exponent_field(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(12582912.0f));
    __m512 n = _mm512_sub_ps(t, _mm512_set1_ps(12582912.0f));
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* gr_exp16 scales by 2^n with one scalef; the gates (and so every loss a
 * run prints) must keep the bits the multiply by the built power gave: one
 * float bit pattern in 3, NaNs, infinities and denormals included */
Test(ops, exp16_scalef_gives_the_bits_of_the_exponent_field_multiply) {
    uint64_t differ = 0;
    float first = 0;
    for (uint64_t u = 0; u < (1ull << 32); u += 3 * 16) {
        uint32_t bits[16];
        for (int i = 0; i < 16; i++) bits[i] = (uint32_t)(u + 3 * (uint64_t)i);
        __m512 x = _mm512_castsi512_ps(_mm512_loadu_si512(bits));
        __mmask16 m = _mm512_cmpneq_epi32_mask(_mm512_castps_si512(gr_exp16(x)),
                                               _mm512_castps_si512(exp16_by_exponent_field(x)));
        if (m && !differ) memcpy(&first, &bits[__builtin_ctz(m)], sizeof first);
        differ += (uint64_t)__builtin_popcount(m);
    }
    cr_expect_eq(differ, 0, "%llu inputs differ, the first %a", (unsigned long long)differ, (double)first);
}
#endif

Test(ops, large_elementwise_ops_split_over_threads_give_the_same_values) {
    const char *ops[] = {"sigmoid", "tanh", "relu"};
    for (int k = 0; k < 3; k++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "- {name: x, op: input, data: images, shape: [50000]}\n"
                                    "- {name: y, op: %s, inputs: [x]}\n", ops[k]);
        float *out[2], *grad[2];
        for (int threads = 1; threads <= 2; threads++) {
            struct tgraph t;
            struct gr_harness h;
            cr_assert_eq(tg_build(&t, yaml, 2), 0, "%s", t.ctx.err);
            cr_assert_eq(gr_ctx_set_threads(&t.ctx, threads), 0);
            cr_assert_eq(gr_harness_init(&h, &t.g, tg_node(&t, "y"), 1), 0, "%s", t.ctx.err);
            float *x = h.in[0].data, *dy = h.dout.data;
            for (int i = 0; i < 100000; i++) {
                x[i] = (float)((i * 7919) % 2001 - 1000) * 0.01f;
                dy[i] = (float)(i % 13) - 6.0f;
            }
            gr_harness_forward(&h);
            gr_harness_backward(&h);
            out[threads - 1] = malloc(100000 * sizeof(float));
            grad[threads - 1] = malloc(100000 * sizeof(float));
            memcpy(out[threads - 1], h.out.data, 100000 * sizeof(float));
            memcpy(grad[threads - 1], h.din[0].data, 100000 * sizeof(float));
            gr_harness_free(&h);
            tg_free(&t);
        }
        cr_expect_arr_eq(out[0], out[1], 100000 * sizeof(float), "%s forward", ops[k]);
        cr_expect_arr_eq(grad[0], grad[1], 100000 * sizeof(float), "%s backward", ops[k]);
        /* and the values are the op's: spot-check against libm */
        double want = k == 0 ? 1 / (1 + exp(-(double)((12345 * 7919) % 2001 - 1000) * 0.01))
                    : k == 1 ? tanh((double)((12345 * 7919) % 2001 - 1000) * 0.01)
                             : fmax(0.0, (double)((12345 * 7919) % 2001 - 1000) * 0.01);
        cr_expect_float_eq(out[1][12345], want, 3e-6, "%s(x[12345]) = %g, expected %g", ops[k], out[1][12345], want);
        for (int i = 0; i < 2; i++) {
            free(out[i]);
            free(grad[i]);
        }
    }
}


/* max_pool2d's 2 x 2 tiling path (forward_tiled_2x2) against the windows
 * scanned cell by cell: the first max in (row, column) order on ties, a NaN
 * in a window's first cell kept and a later one passed over; the cell taken
 * kept as one byte, its place in the window (no relu mask here). */
Test(ops, max_pool2d_tiling_2x2_takes_the_first_max_as_the_scan_does) {
    struct tgraph t;
    struct gr_harness h;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [4, 6, 3]}\n"
                              "- {name: y, op: max_pool2d, size: [2, 2], inputs: [x]}\n", 2), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_harness_init(&h, &t.g, tg_node(&t, "y"), 1), 0, "%s", t.ctx.err);
    float *x = h.in[0].data;
    for (int i = 0; i < 144; i++) x[i] = (float)(((unsigned)i * 2654435761u >> 20) % 3); /* many ties */
    x[0] = NAN;          /* image 0, window (0, 0), channel 0: first cell */
    x[72 + 3 + 1] = NAN; /* image 1, window (0, 0), channel 1: second cell */
    gr_harness_forward(&h);
    const float *y = h.out.data;
    const uint8_t *at = h.saved;
    for (int b = 0; b < 2; b++)
        for (int oh = 0; oh < 2; oh++)
            for (int ow = 0; ow < 3; ow++)
                for (int c = 0; c < 3; c++) {
                    int o = ((b * 2 + oh) * 3 + ow) * 3 + c, best = -1, best_q = -1;
                    for (int kh = 0; kh < 2; kh++)
                        for (int kw = 0; kw < 2; kw++) {
                            int cell = ((2 * oh + kh) * 6 + 2 * ow + kw) * 3 + c;
                            if (best < 0 || x[72 * b + cell] > x[72 * b + best]) best = cell, best_q = kh * 2 + kw;
                        }
                    float want = x[72 * b + best];
                    cr_expect(y[o] == want || (isnan(y[o]) && isnan(want)), "y[%d] = %g, expected %g", o, y[o], want);
                    cr_expect_eq(at[o], best_q, "argmax[%d] = %d, expected %d", o, at[o], best_q);
                }
    cr_expect(isnan(y[0]), "a NaN first cell is the window's max");
    cr_expect(!isnan(y[18 + 1]), "a later NaN is passed over");
    gr_harness_free(&h);
    tg_free(&t);
}
