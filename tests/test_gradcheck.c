/* Every registered op's backward against central finite differences, and
 * proof that the check is tight: the same backward with its sign flipped or
 * scaled by 0.9 (a missing or wrong term) must fail it. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "runtime/host/registry.h"

/* the node under test is always "y" */
struct gcase {
    const char *op, *yaml;
    int64_t batch;
};

static const struct gcase cases[] = {
    {"reshape", "- {name: x, op: input, data: images, shape: [6]}\n"
                "- {name: y, op: reshape, inputs: [x], shape: [3, -1]}\n", 3},
    {"slice", "- {name: x, op: input, data: images, shape: [4, 3]}\n"
              "- {name: y, op: slice, inputs: [x], axis: 1, index: -1}\n", 3},
    {"slice", "- {name: x, op: input, data: images, shape: [4, 3]}\n"
              "- {name: y, op: slice, inputs: [x], axis: 2, begin: 1}\n", 3},
    {"matmul", "- {name: x, op: input, data: images, shape: [3]}\n"
               "- {name: w, op: param, shape: [3, 4]}\n"
               "- {name: y, op: matmul, inputs: [x, w]}\n", 3},
    {"matmul", "- {name: a, op: input, data: images, shape: [2, 3]}\n"
               "- {name: b, op: input, data: images, shape: [3, 2]}\n"
               "- {name: y, op: matmul, inputs: [a, b]}\n", 3},
    {"add", "- {name: a, op: input, data: images, shape: [4]}\n"
            "- {name: b, op: input, data: images, shape: [4]}\n"
            "- {name: y, op: add, inputs: [a, b]}\n", 3},
    {"add", "- {name: a, op: input, data: images, shape: [2, 4]}\n"
            "- {name: b, op: param, shape: [4]}\n"
            "- {name: y, op: add, inputs: [a, b]}\n", 3},
    {"add", "- {name: a, op: input, data: images, shape: [1, 4]}\n"
            "- {name: b, op: input, data: images, shape: [3, 1]}\n"
            "- {name: y, op: add, inputs: [a, b]}\n", 2},
    {"mul", "- {name: a, op: input, data: images, shape: [4]}\n"
            "- {name: b, op: input, data: images, shape: [4]}\n"
            "- {name: y, op: mul, inputs: [a, b]}\n", 3},
    {"mul", "- {name: a, op: input, data: images, shape: [2, 4]}\n"
            "- {name: b, op: param, shape: [4]}\n"
            "- {name: y, op: mul, inputs: [a, b]}\n", 3},
    {"sigmoid", "- {name: x, op: input, data: images, shape: [5]}\n"
                "- {name: y, op: sigmoid, inputs: [x]}\n", 3},
    {"tanh", "- {name: x, op: input, data: images, shape: [5]}\n"
             "- {name: y, op: tanh, inputs: [x]}\n", 3},
    {"relu", "- {name: x, op: input, data: images, shape: [5]}\n"
             "- {name: y, op: relu, inputs: [x]}\n", 3},
    {"concat", "- {name: a, op: input, data: images, shape: [2]}\n"
               "- {name: b, op: input, data: images, shape: [3]}\n"
               "- {name: y, op: concat, inputs: [a, b]}\n", 3},
    {"concat", "- {name: a, op: input, data: images, shape: [2, 3]}\n"
               "- {name: b, op: input, data: images, shape: [1, 3]}\n"
               "- {name: c, op: input, data: images, shape: [3, 3]}\n"
               "- {name: y, op: concat, inputs: [a, b, c], axis: 1}\n", 2},
    {"dense", "- {name: x, op: input, data: images, shape: [3]}\n"
              "- {name: y, op: dense, inputs: [x], units: 4}\n", 3},
    {"dense", "- {name: x, op: input, data: images, shape: [2, 3]}\n"
              "- {name: y, op: dense, inputs: [x], units: 4}\n", 3},
    {"lstm", "- {name: x, op: input, data: images, shape: [4, 3]}\n"
             "- {name: y, op: lstm, inputs: [x], num_units: 5}\n", 3},
    {"lstm", "- {name: x, op: input, data: images, shape: [1, 2]}\n"
             "- {name: y, op: lstm, inputs: [x], num_units: 3, forget_bias: 0.0}\n", 2},
    {"softmax", "- {name: x, op: input, data: images, shape: [5]}\n"
                "- {name: y, op: softmax, inputs: [x]}\n", 3},
    {"softmax_cross_entropy", "- {name: x, op: input, data: images, shape: [5]}\n"
                              "- {name: l, op: input, data: labels}\n"
                              "- {name: y, op: softmax_cross_entropy, inputs: [x, l]}\n", 4},
    {"softmax_cross_entropy", "- {name: x, op: input, data: images, shape: [4]}\n"
                              "- {name: t, op: input, data: images, shape: [4]}\n"
                              "- {name: y, op: softmax_cross_entropy, inputs: [x, t]}\n", 3},
    {"mean", "- {name: x, op: input, data: images, shape: [2, 3]}\n"
             "- {name: y, op: mean, inputs: [x]}\n", 3},
    {"conv2d", "- {name: x, op: input, data: images, shape: [5, 5, 2]}\n"
               "- {name: y, op: conv2d, inputs: [x], filters: 3, kernel_size: [3]}\n", 2},
    {"conv2d", "- {name: x, op: input, data: images, shape: [6, 5, 2]}\n"
               "- {name: y, op: conv2d, inputs: [x], filters: 2, kernel_size: [3, 2], strides: [2], padding: same}\n", 2},
    {"conv2d", "- {name: x, op: input, data: images, shape: [6, 6, 1]}\n"
               "- {name: y, op: conv2d, inputs: [x], filters: 2, kernel_size: [2], dilation: [2, 1], padding: same}\n", 2},
    {"conv2d", "- {name: x, op: input, data: images, shape: [3, 2, 4]}\n"
               "- {name: y, op: conv2d, inputs: [x], filters: 3, kernel_size: [1]}\n", 2},
    /* unfolded patches and products (K = 3 * 3 * 4 > 32) */
    {"conv2d", "- {name: x, op: input, data: images, shape: [4, 5, 4]}\n"
               "- {name: y, op: conv2d, inputs: [x], filters: 3, kernel_size: [3], padding: same}\n", 1},
    /* the direct sums in vector chunks: 4 cells at once with 32 filters;
     * 16 filters and a tail of 4 */
    {"conv2d", "- {name: x, op: input, data: images, shape: [3, 8, 1]}\n"
               "- {name: y, op: conv2d, inputs: [x], filters: 32, kernel_size: [3], padding: same}\n", 1},
    {"conv2d", "- {name: x, op: input, data: images, shape: [3, 5, 2]}\n"
               "- {name: y, op: conv2d, inputs: [x], filters: 20, kernel_size: [3], strides: [1, 2], padding: same}\n", 1},
    {"max_pool2d", "- {name: x, op: input, data: images, shape: [4, 4, 3]}\n"
                   "- {name: y, op: max_pool2d, inputs: [x]}\n", 2},
    {"max_pool2d", "- {name: x, op: input, data: images, shape: [5, 5, 2]}\n"
                   "- {name: y, op: max_pool2d, inputs: [x], size: [3], strides: [2], padding: same}\n", 2},
    {"avg_pool2d", "- {name: x, op: input, data: images, shape: [4, 4, 3]}\n"
                   "- {name: y, op: avg_pool2d, inputs: [x]}\n", 2},
    {"avg_pool2d", "- {name: x, op: input, data: images, shape: [5, 5, 2]}\n"
                   "- {name: y, op: avg_pool2d, inputs: [x], size: [3, 2], strides: [2, 1], padding: same}\n", 2},
    {"global_avg_pool", "- {name: x, op: input, data: images, shape: [3, 3, 2]}\n"
                        "- {name: y, op: global_avg_pool, inputs: [x]}\n", 2},
    {"flatten", "- {name: x, op: input, data: images, shape: [2, 3]}\n"
                "- {name: y, op: flatten, inputs: [x]}\n", 3},
    {"leaky_relu", "- {name: x, op: input, data: images, shape: [6]}\n"
                   "- {name: y, op: leaky_relu, inputs: [x]}\n", 3},
    {"leaky_relu", "- {name: x, op: input, data: images, shape: [6]}\n"
                   "- {name: y, op: leaky_relu, inputs: [x], alpha: 0.3}\n", 3},
    {"gelu", "- {name: x, op: input, data: images, shape: [6]}\n"
             "- {name: y, op: gelu, inputs: [x]}\n", 3},
    {"gelu", "- {name: x, op: input, data: images, shape: [6]}\n"
             "- {name: y, op: gelu, inputs: [x], approximate: tanh}\n", 3},
    {"log_softmax", "- {name: x, op: input, data: images, shape: [5]}\n"
                    "- {name: y, op: log_softmax, inputs: [x]}\n", 3},
    {"embedding", "- {name: l, op: input, data: labels}\n"
                  "- {name: y, op: embedding, inputs: [l], input_dim: 4, output_dim: 5}\n", 6},
    {"mse", "- {name: a, op: input, data: images, shape: [2, 3]}\n"
            "- {name: b, op: input, data: images, shape: [2, 3]}\n"
            "- {name: y, op: mse, inputs: [a, b]}\n", 3},
    {"rnn", "- {name: x, op: input, data: images, shape: [4, 3]}\n"
            "- {name: y, op: rnn, inputs: [x], num_units: 5}\n", 3},
    {"rnn", "- {name: x, op: input, data: images, shape: [4, 3]}\n"
            "- {name: y, op: rnn, inputs: [x], num_units: 5, reverse: true}\n", 3},
    {"gru", "- {name: x, op: input, data: images, shape: [4, 3]}\n"
            "- {name: y, op: gru, inputs: [x], num_units: 5}\n", 3},
    {"gru", "- {name: x, op: input, data: images, shape: [4, 3]}\n"
            "- {name: y, op: gru, inputs: [x], num_units: 5, reverse: true}\n", 3},
    {"lstm", "- {name: x, op: input, data: images, shape: [4, 3]}\n"
             "- {name: y, op: lstm, inputs: [x], num_units: 5, reverse: true}\n", 3},
    {"layer_norm", "- {name: x, op: input, data: images, shape: [2, 6]}\n"
                   "- {name: y, op: layer_norm, inputs: [x]}\n", 3},
    /* a random op with its mask held fixed: the harness keeps the step */
    {"dropout", "- {name: x, op: input, data: images, shape: [12]}\n"
                "- {name: y, op: dropout, inputs: [x], rate: 0.5}\n", 3},
    {"dropout", "- {name: x, op: input, data: images, shape: [2, 5]}\n"
                "- {name: y, op: dropout, inputs: [x], rate: 0.2}\n", 3},
    {"batch_norm", "- {name: x, op: input, data: images, shape: [5]}\n"
                   "- {name: y, op: batch_norm, inputs: [x]}\n", 4},
    {"batch_norm", "- {name: x, op: input, data: images, shape: [3, 2, 4]}\n"
                   "- {name: y, op: batch_norm, inputs: [x], momentum: 0.5, epsilon: 0.001}\n", 2},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* float32 kernels, central differences with h = 1e-2, the loss summed in
 * double: every case here stays well below 2e-4 + 2e-3 |g|, while the
 * mutation tests below show a 10% error exceeds it by far. */
static struct gr_gradcheck tolerance(void) {
    struct gr_gradcheck gc = gr_gradcheck_defaults();
    gc.fill = gr_init_fill;
    return gc;
}

/* Run case c (index picks the seed 1000 + index) with op `replace` in place
 * of the op under test when given; expect it to pass or to fail. */
static void run_case_seed(const struct gcase *c, int index, uint64_t seed, const struct gr_op_desc *replace,
                          int expect_pass);
static void run_case(const struct gcase *c, int index, const struct gr_op_desc *replace, int expect_pass) {
    run_case_seed(c, index, 1000u + (uint64_t)index, replace, expect_pass);
}

static void run_case_seed(const struct gcase *c, int index, uint64_t seed, const struct gr_op_desc *replace,
                          int expect_pass) {
    struct tgraph t;
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%s", c->yaml);
    if (replace) {
        /* the same graph with the op under test swapped for `replace` */
        char *at = strstr(yaml, "name: y, op: ");
        cr_assert(at);
        at += strlen("name: y, op: ");
        char rest[2048];
        snprintf(rest, sizeof rest, "%s", at + strlen(c->op));
        snprintf(at, sizeof yaml - (size_t)(at - yaml), "%s%s", replace->name, rest);
    }
    struct gr_ctx *ctx = NULL;
    memset(&t, 0, sizeof t);
    cr_assert_eq(gr_ctx_init(&t.ctx), 0);
    ctx = &t.ctx;
    if (replace) {
        char err[GR_ERR_LEN];
        cr_assert_eq(ctx->host.register_op(ctx, replace, err, sizeof err), 0, "%s", err);
    }
    gr_graph_init(&t.g, ctx, "test.yaml");
    cr_assert_eq(gr_yaml_parse(ctx, &t.doc, "test.yaml", yaml, strlen(yaml)), 0, "%s", ctx->err);
    cr_assert_eq(gr_build_graph(ctx, &t.g, "test.yaml", t.doc.root, c->batch), 0, "case %d: %s", index, ctx->err);
    struct gr_rng rng;
    gr_rng_seed(&rng, seed);
    struct gr_gradcheck gc = tolerance();
    int rc = gr_gradcheck_node(&t.g, tg_node(&t, "y"), &rng, &gc);
    cr_assert_geq(rc, 0, "case %d: %s", index, ctx->err);
    cr_assert_gt(gc.checked, 0, "case %d (%s): no element was checked", index, c->op);
    cr_log_info("case %d (%s%s): %d elements, worst %.3f x tolerance", index, c->op, replace ? ", mutant" : "",
                gc.checked, gc.worst);
    if (expect_pass)
        cr_expect_eq(gc.failed, 0, "case %d (%s): %d of %d elements off; worst: %s (%.2f x tolerance)", index, c->op,
                     gc.failed, gc.checked, gc.report, gc.worst);
    else
        cr_expect_gt(gc.failed, 0, "case %d (%s): a corrupted backward passed the check (worst %.2f x tolerance)",
                     index, c->op, gc.worst);
    tg_free(&t);
}

Test(gradcheck, every_case_passes) {
    for (int i = 0; i < N_CASES; i++) run_case(&cases[i], i, NULL, 1);
}

Test(gradcheck, every_differentiable_op_has_a_case) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    int covered = 0;
    for (int i = 0; i < ctx.reg->n; i++) {
        const struct gr_op_desc *d = ctx.reg->ops[i].desc;
        if (!d->backward) continue;
        int found = 0;
        for (int c = 0; c < N_CASES && !found; c++) found = strcmp(cases[c].op, d->name) == 0;
        cr_expect(found, "op '%s' has a backward but no gradient-check case in this file", d->name);
        covered += found;
    }
    cr_expect_geq(covered, 29);
    gr_ctx_free(&ctx);
}

/* A mutant runs the real backward, then scales what it produced. Each test
 * process builds one graph at a time, so one pointer to the real op is enough. */
static const struct gr_op_desc *real_op;
static float mutant_factor;

static void mutant_backward(const struct gr_args *a) {
    real_op->backward(a);
    for (int k = 0; k < a->n_in; k++) {
        if (!a->din[k]) continue;
        float *d = a->din[k]->data;
        int64_t n = gr_shape_count(&a->din[k]->shape);
        for (int64_t i = 0; i < n; i++) d[i] *= mutant_factor;
    }
}

static void run_mutants(float factor) {
    for (int i = 0; i < N_CASES; i++) {
        struct gr_ctx ctx;
        cr_assert_eq(gr_ctx_init(&ctx), 0);
        real_op = gr_registry_find(ctx.reg, cases[i].op);
        cr_assert(real_op);
        struct gr_op_desc mutant = *real_op;
        mutant.name = "mutant";
        mutant.backward = mutant_backward;
        /* registered as a plugin's op is: these are reserved */
        mutant.flags &= ~(unsigned)(GR_OP_FUSES_POOL | GR_OP_ROWWISE | GR_OP_ROW_MEAN);
        mutant_factor = factor;
        run_case(&cases[i], i, &mutant, 0);
        gr_ctx_free(&ctx);
    }
}

/* Pooling windows hold many values close together: the drawing rule must
 * keep every max and every sign away from a step's reach, seed after seed. */
Test(gradcheck, max_pool_and_leaky_relu_pass_at_many_seeds) {
    for (int i = 0; i < N_CASES; i++) {
        if (strcmp(cases[i].op, "max_pool2d") != 0 && strcmp(cases[i].op, "leaky_relu") != 0) continue;
        for (uint64_t seed = 1; seed <= 10; seed++) run_case_seed(&cases[i], i, seed, NULL, 1);
    }
}

Test(gradcheck, a_flipped_sign_fails) { run_mutants(-1.0f); }

Test(gradcheck, a_ten_percent_error_fails) { run_mutants(0.9f); }

/* One input's gradient 10% off, the others right: each input of the
 * layers with several weights is checked on its own. */
static int mutant_input;

static void one_input_mutant_backward(const struct gr_args *a) {
    real_op->backward(a);
    if (!a->din[mutant_input]) return;
    float *d = a->din[mutant_input]->data;
    int64_t n = gr_shape_count(&a->din[mutant_input]->shape);
    for (int64_t i = 0; i < n; i++) d[i] *= 0.9f;
}

Test(gradcheck, one_wrong_input_gradient_fails) {
    const char *ops[] = {"conv2d", "max_pool2d", "rnn", "gru", "lstm", "mse", "layer_norm", "batch_norm"};
    int tried = 0;
    for (int i = 0; i < N_CASES; i++) {
        int wanted = 0;
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) wanted |= strcmp(cases[i].op, ops[o]) == 0;
        if (!wanted) continue;
        struct gr_ctx ctx;
        cr_assert_eq(gr_ctx_init(&ctx), 0);
        real_op = gr_registry_find(ctx.reg, cases[i].op);
        cr_assert(real_op);
        struct gr_op_desc mutant = *real_op;
        mutant.name = "mutant";
        mutant.backward = one_input_mutant_backward;
        /* registered as a plugin's op is: these are reserved */
        mutant.flags &= ~(unsigned)(GR_OP_FUSES_POOL | GR_OP_ROWWISE | GR_OP_ROW_MEAN);
        for (mutant_input = 0; mutant_input < real_op->max_inputs + real_op->n_params; mutant_input++) {
            run_case(&cases[i], i, &mutant, 0);
            tried++;
        }
        gr_ctx_free(&ctx);
    }
    cr_expect_geq(tried, 30);
}

/* A subtler bug: tanh's derivative written as 1 + y^2 instead of 1 - y^2. */
static int wrong_tanh_infer(struct gr_infer *inf) {
    inf->out = *inf->in[0];
    return 0;
}
static void wrong_tanh_forward(const struct gr_args *a) {
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    for (int64_t i = 0; i < gr_shape_count(&a->out->shape); i++) y[i] = tanhf(x[i]);
}
static void wrong_tanh_backward(const struct gr_args *a) {
    const float *y = a->out->data, *dy = a->dout->data;
    float *dx = a->din[0]->data;
    for (int64_t i = 0; i < gr_shape_count(&a->out->shape); i++) dx[i] += dy[i] * (1.0f + y[i] * y[i]);
}

Test(gradcheck, a_wrong_derivative_fails) {
    static const struct gr_op_desc wrong = {
        .name = "wrong_tanh", .summary = "tanh with a wrong derivative", .inputs_doc = "x", .min_inputs = 1,
        .max_inputs = 1,
        .infer = wrong_tanh_infer, .forward = wrong_tanh_forward, .backward = wrong_tanh_backward,
    };
    const struct gcase c = {"tanh", "- {name: x, op: input, data: images, shape: [5]}\n"
                                    "- {name: y, op: tanh, inputs: [x]}\n", 3};
    run_case(&c, 0, &wrong, 0);
}
