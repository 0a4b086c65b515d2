/* Every registered op's backward against central finite differences, and
 * proof that the check is tight: the same backward with its sign flipped or
 * scaled by 0.9 (a missing or wrong term) must fail it. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "runtime/registry.h"

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
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* float32 kernels, central differences with h = 1e-2, the loss summed in
 * double: every case here stays below a tenth of 2e-4 + 2e-3 |g|, while the
 * mutation tests below show a 10% error exceeds it by far. */
static struct gr_gradcheck tolerance(void) {
    return (struct gr_gradcheck){.h = 1e-2, .atol = 2e-4, .rtol = 2e-3, .max_elems = 400};
}

static void run_case(const struct gcase *c, int index, const struct gr_op_desc *replace, int expect_pass) {
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
    gr_rng_seed(&rng, 1000u + (uint64_t)index);
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
    cr_expect_geq(covered, 14);
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
        mutant_factor = factor;
        run_case(&cases[i], i, &mutant, 0);
        gr_ctx_free(&ctx);
    }
}

Test(gradcheck, a_flipped_sign_fails) { run_mutants(-1.0f); }

Test(gradcheck, a_ten_percent_error_fails) { run_mutants(0.9f); }

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
