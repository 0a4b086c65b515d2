/* What ops own besides their weights: state (batch_norm's running
 * statistics) declared like parameters, untrained, written by forward in
 * training only; initializers chosen in YAML with `init:`; and the
 * registry's own copy of a descriptor, so an op built against an older,
 * shorter struct gr_op_desc reads as having no state; descriptors and
 * inferred shapes that are out of range refused without reading past them. */
#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "ops/core.h"
#include "runtime/host/registry.h"
#include "runtime/session/evaluate.h"
#include "runtime/session/session.h"

Test(state, batch_norm_state_is_an_untrained_param_after_the_parameters) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [3]}\n"
                              "- {name: y, op: batch_norm, inputs: [x]}\n"
                              "- {name: w, op: param, shape: [3]}\n", 4), 0, "%s", t.ctx.err);
    const char *names[] = {"y.gamma", "y.beta", "y.running_mean", "y.running_var"};
    const struct gr_node *y = &t.g.nodes[tg_node(&t, "y")];
    cr_assert_eq(y->n_in, 5, "x, two parameters, two state tensors");
    for (int k = 0; k < 4; k++) {
        int i = tg_node(&t, names[k]);
        cr_expect_eq(y->in[1 + k], i, "input %d is %s", 1 + k, names[k]);
        cr_expect_eq(gr_node_is_state(&t.g, i), k >= 2, "%s", names[k]);
        cr_expect_eq(gr_node_is_trainable(&t.g, i), k < 2, "%s", names[k]);
        cr_expect_eq(t.g.nodes[i].needs_grad, k < 2, "%s", names[k]);
        cr_expect_eq(gr_node_takes_grad(y, 1 + k), k < 2, "%s", names[k]);
    }
    /* the block: trainable parameters first (w, declared later, too), state after */
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0, "%s", t.ctx.err);
    cr_expect_eq(t.g.trainable_floats, 3 * 16, "gamma, beta and w, 16 floats each");
    cr_expect_eq(t.g.param_floats, 5 * 16);
    cr_expect_eq(t.g.n_state, 6);
    cr_expect_geq(t.g.nodes[tg_node(&t, "y.running_mean")].param_offset, t.g.trainable_floats);
    cr_expect_lt(t.g.nodes[tg_node(&t, "w")].param_offset, t.g.trainable_floats);
    const float *rv = t.g.param + t.g.nodes[tg_node(&t, "y.running_var")].param_offset;
    for (int c = 0; c < 3; c++) cr_expect_float_eq(rv[c], 1.0f, 0.0f, "the running variance starts at 1");
    tg_free(&t);
}

/* x [2, 2] = [[1, 2], [3, 6]], momentum 0.5: batch mean [2, 4], biased
 * variance [1, 4] (normalising), unbiased [2, 8] (the running variance). */
Test(state, batch_norm_by_hand_in_training_then_evaluation) {
    struct tgraph t;
    struct gr_harness h;
    for (int training = 1; training >= 0; training--) {
        cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [2]}\n"
                                  "- {name: y, op: batch_norm, inputs: [x], momentum: 0.5, epsilon: 1e-6}\n", 2),
                     0, "%s", t.ctx.err);
        cr_assert_eq(gr_harness_init(&h, &t.g, tg_node(&t, "y"), training), 0, "%s", t.ctx.err);
        tg_set(&h, 0, (float[]){1, 2, 3, 6}, 4);
        tg_set(&h, 1, (float[]){1, 2}, 2);        /* gamma */
        tg_set(&h, 2, (float[]){0, 10}, 2);       /* beta */
        tg_set(&h, 3, (float[]){0, 0}, 2);        /* running mean */
        tg_set(&h, 4, (float[]){1.5f, 4.5f}, 2);  /* running variance */
        gr_harness_forward(&h);
        const float *y = h.out.data, *rm = h.in[3].data, *rv = h.in[4].data;
        if (training) {
            /* xhat = [[-1, -1], [1, 1]] (to 1e-6), y = xhat * gamma + beta */
            const float want[] = {-1, 8, 1, 12};
            for (int i = 0; i < 4; i++) cr_expect_float_eq(y[i], want[i], 1e-5f, "y[%d] = %g", i, y[i]);
            const float mean[] = {1, 2}, var[] = {1.75f, 6.25f}; /* 0.5 old + 0.5 batch */
            for (int c = 0; c < 2; c++) {
                cr_expect_float_eq(rm[c], mean[c], 1e-6f, "running mean[%d] = %g", c, rm[c]);
                cr_expect_float_eq(rv[c], var[c], 1e-6f, "running variance[%d] = %g", c, rv[c]);
            }
        } else {
            /* (x - 0) / sqrt([1.5, 4.5]) * gamma + beta, the state untouched */
            for (int i = 0; i < 4; i++) {
                double want = (i % 2 ? 2.0 : 1.0) * (double)((float[]){1, 2, 3, 6})[i] / sqrt(i % 2 ? 4.5 : 1.5) +
                              (i % 2 ? 10 : 0);
                cr_expect_float_eq(y[i], want, 1e-5, "evaluation y[%d] = %g, want %g", i, y[i], want);
            }
            cr_expect(rm[0] == 0 && rm[1] == 0 && rv[0] == 1.5f && rv[1] == 4.5f, "evaluation changed the state");
        }
        gr_harness_free(&h);
        tg_free(&t);
    }
}

/* A session on MNIST with a batch_norm: the optimizer holds the trainable
 * floats only, every training step moves the running mean by the batch's
 * mean of the step's input (nothing else touches it), and evaluation
 * leaves it. */
Test(state, training_updates_the_state_the_optimizer_never_sees, .timeout = 60) {
    char text[4096];
    snprintf(text, sizeof text,
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte,"
             " limit: 640}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte,"
             " limit: 100}\n"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: hidden, op: dense, inputs: [image], units: 16}\n"
             "  - {name: bn, op: batch_norm, inputs: [hidden], momentum: 0.75}\n"
             "  - {name: act, op: relu, inputs: [bn]}\n"
             "  - {name: logits, op: dense, inputs: [act], units: 10}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.01}, batch_size: 32, steps: 5, seed: 2}\n"
             "eval: {logits: logits, samples: 100, batch_size: 50}\n",
             GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR);
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "bn.yaml", NULL, text, strlen(text)), 0, "%s", ctx.err);
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    /* the optimizer updates its segments of the block only: the trainable
     * parameters, which lead it; the state comes after them */
    cr_expect_lt(s.g.trainable_floats, s.g.param_floats);
    cr_assert_gt(s.opt.n_seg, 0);
    for (int k = 0; k < s.opt.n_seg; k++)
        cr_expect_leq(s.opt.seg[k].end, s.g.trainable_floats, "segment %d reaches into the state", k);
    cr_expect_geq(s.g.nodes[gr_graph_find(&s.g, "bn.running_var")].param_offset, s.g.trainable_floats);
    int hid = gr_graph_find(&s.g, "hidden");
    float *rm = s.g.param + s.g.nodes[gr_graph_find(&s.g, "bn.running_mean")].param_offset;
    double want[16] = {0};
    for (int step = 1; step <= 5; step++) {
        gr_session_step(&s);
        cr_expect_eq(s.step, step);
        cr_expect_eq(s.tp.step, step, "the kernels' random step is the step under way");
        const float *h = s.tp.val[hid].data; /* this step's input to bn */
        for (int c = 0; c < 16; c++) {
            double mean = 0;
            for (int r = 0; r < 32; r++) mean += h[r * 16 + c];
            want[c] = 0.75 * want[c] + 0.25 * mean / 32;
            cr_expect_float_eq(rm[c], want[c], 1e-5 * (1 + fabs(want[c])), "step %d: running mean[%d] %g, want %g",
                               step, c, rm[c], want[c]);
        }
    }
    float before[16];
    memcpy(before, rm, sizeof before);
    gr_session_accuracy(&s, &s.test_set, 100);
    cr_expect_arr_eq(rm, before, sizeof before, "evaluation changed the running mean");
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

Test(state, init_chooses_the_initializers_of_an_op_s_own_parameters) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [400]}\n"
                              "- {name: a, op: dense, inputs: [x], units: 300, init: {kernel: he_uniform, bias: ones}}\n"
                              "- {name: b, op: dense, inputs: [x], units: 300, init: {kernel: lecun_uniform}}\n"
                              "- {name: c, op: dense, inputs: [x], units: 300, init: {kernel: he_normal}}\n"
                              "- {name: d, op: dense, inputs: [x], units: 300, init: {kernel: lecun_normal}}\n", 2),
                 0, "%s", t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0, "%s", t.ctx.err);
    /* fan_in 400: bounds sqrt(6/400) and sqrt(3/400), deviations sqrt(2/400) and sqrt(1/400) */
    const struct {
        const char *node, *init;
        double bound, sd;
    } want[] = {{"a.kernel", "he_uniform", sqrt(6.0 / 400), sqrt(2.0 / 400)},
                {"b.kernel", "lecun_uniform", sqrt(3.0 / 400), sqrt(1.0 / 400)},
                {"c.kernel", "he_normal", 0, sqrt(2.0 / 400)},
                {"d.kernel", "lecun_normal", 0, sqrt(1.0 / 400)},
                {"a.bias", "ones", 0, 0},
                {"b.bias", "zeros", 0, 0}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const struct gr_node *p = &t.g.nodes[tg_node(&t, want[k].node)];
        cr_expect_str_eq(p->attrs[GR_PARAM_INIT].s, want[k].init, "%s", want[k].node);
        int64_t n = gr_shape_count(&p->shape);
        const float *w = t.g.param + p->param_offset;
        double ss = 0, largest = 0;
        for (int64_t i = 0; i < n; i++) {
            ss += (double)w[i] * w[i];
            largest = fmax(largest, fabs(w[i]));
        }
        if (want[k].bound > 0) {
            cr_expect_leq(largest, want[k].bound, "%s: |w| up to %g, bound %g", want[k].node, largest, want[k].bound);
            cr_expect_gt(largest, 0.99 * want[k].bound, "%s: |w| up to %g, bound %g", want[k].node, largest,
                         want[k].bound);
        }
        if (want[k].sd > 0) /* 120000 draws: the estimate is within 1% */
            cr_expect(fabs(sqrt(ss / (double)n) / want[k].sd - 1) < 0.01, "%s: deviation %g, want %g", want[k].node,
                      sqrt(ss / (double)n), want[k].sd);
    }
    const float *ones = t.g.param + t.g.nodes[tg_node(&t, "a.bias")].param_offset;
    cr_expect_float_eq(ones[299], 1.0f, 0.0f);
    tg_free(&t);
}

/* An op registered with an older header's struct gr_op_desc: the registry
 * copies the bytes that header declared and zeroes the rest, so whatever
 * lies in memory after the old struct (here: a state table and a count
 * that would be refused) is never read. */
static int same_infer(struct gr_infer *inf) {
    inf->out = *inf->in[0];
    return 0;
}
static void same_forward(const struct gr_args *a) { (void)a; }
static int same_lower(struct gr_lower *lw) {
    (void)lw;
    return 0;
}

Test(state, a_shorter_descriptor_reads_as_having_no_state) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_op_desc d = {.name = "old_op", .summary = "y = x", .inputs_doc = "x", .min_inputs = 1, .max_inputs = 1,
                           .infer = same_infer, .forward = same_forward};
    d.state = (const struct gr_param_spec *)&d; /* not a table */
    d.n_state = 99;
    char err[GR_ERR_LEN] = "";
    cr_expect_neq(ctx.host.register_op(&ctx, &d, err, sizeof err), 0, "today's size reads the bad count");
    cr_expect(strstr(err, "n_state must be 0..8"), "%s", err);
    ctx.reg->desc_size = offsetof(struct gr_op_desc, lower); /* as the plugin loader sets it for ABI 1 */
    cr_assert_eq(ctx.host.register_op(&ctx, &d, err, sizeof err), 0, "%s", err);
    const struct gr_op_desc *copy = gr_registry_find(ctx.reg, "old_op");
    cr_assert_not_null(copy);
    cr_expect_neq(copy, &d, "the registry keeps its own copy");
    cr_expect_eq(copy->n_state, 0);
    cr_expect_null(copy->state);
    cr_expect_eq(copy->infer, same_infer);
    cr_expect_null(copy->lower, "the first header had no lowering either");
    /* a header with the lowering and no state table yet: the lowering is kept */
    d.name = "lowered_op";
    d.lower = same_lower;
    ctx.reg->desc_size = offsetof(struct gr_op_desc, state);
    cr_assert_eq(ctx.host.register_op(&ctx, &d, err, sizeof err), 0, "%s", err);
    copy = gr_registry_find(ctx.reg, "lowered_op");
    cr_assert_not_null(copy);
    cr_expect_eq(copy->lower, same_lower);
    cr_expect_eq(copy->n_state, 0);
    cr_expect_null(copy->state);
    gr_ctx_free(&ctx);
}

/* `init` is the node key of an op that owns parameters, so such an op may
 * not take an attribute of that name; an op without parameters may. */
Test(state, an_op_with_parameters_cannot_name_an_attribute_init) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    static const struct gr_attr_spec attrs[] = {{"init", GR_ATTR_FLOAT, "a scale", .def = "1"}};
    static const struct gr_param_spec params[] = {{"w", GR_INIT_ONES, "[C]"}};
    struct gr_op_desc d = {.name = "scaled", .summary = "y = x", .inputs_doc = "x", .min_inputs = 1, .max_inputs = 1,
                           .attrs = attrs, .n_attrs = 1, .params = params, .n_params = 1, .infer = same_infer,
                           .forward = same_forward};
    char err[GR_ERR_LEN] = "";
    cr_expect_neq(ctx.host.register_op(&ctx, &d, err, sizeof err), 0);
    cr_expect_str_eq(err, "op 'scaled': attribute name 'init' is reserved");
    d.n_params = 0;
    d.params = NULL;
    cr_expect_eq(ctx.host.register_op(&ctx, &d, err, sizeof err), 0, "%s", err);
    gr_ctx_free(&ctx);
}

/* The counts of inputs, parameters and state are summed in 64 bits: a
 * max_inputs of INT_MAX wrapped the sum below GR_MAX_INPUTS and passed. */
Test(state, a_descriptor_whose_inputs_overflow_an_int_is_refused) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    static const struct gr_param_spec params[] = {{"w", GR_INIT_ONES, "[C]"}};
    struct gr_op_desc d = {.name = "wide", .summary = "y = x", .inputs_doc = "x", .min_inputs = 1,
                           .max_inputs = 2147483647, .params = params, .n_params = 1, .infer = same_infer,
                           .forward = same_forward};
    char err[GR_ERR_LEN] = "";
    cr_expect_neq(ctx.host.register_op(&ctx, &d, err, sizeof err), 0, "max_inputs INT_MAX with a parameter");
    cr_expect(strstr(err, "max_inputs + n_params + n_state exceeds"), "%s", err);
    d.max_inputs = 1;
    cr_expect_eq(ctx.host.register_op(&ctx, &d, err, sizeof err), 0, "%s", err);
    gr_ctx_free(&ctx);
}

/* An op's infer may return a shape of any rank; the message reporting it
 * reads no dims past the shape's array. */
static int huge_rank_infer(struct gr_infer *inf) {
    inf->out = *inf->in[0];
    inf->out.rank = 1 << 30;
    return 0;
}

Test(state, an_inferred_shape_of_a_bad_rank_is_reported_by_its_rank) {
    struct tgraph t;
    memset(&t, 0, sizeof t);
    cr_assert_eq(gr_ctx_init(&t.ctx), 0);
    struct gr_op_desc d = {.name = "huge_rank", .summary = "y = x", .inputs_doc = "x", .min_inputs = 1,
                           .max_inputs = 1, .infer = huge_rank_infer, .forward = same_forward};
    char err[GR_ERR_LEN] = "";
    cr_assert_eq(t.ctx.host.register_op(&t.ctx, &d, err, sizeof err), 0, "%s", err);
    const char *yaml = "- {name: x, op: input, data: images, shape: [3]}\n- {name: y, op: huge_rank, inputs: [x]}\n";
    gr_graph_init(&t.g, &t.ctx, "test.yaml");
    cr_assert_eq(gr_yaml_parse(&t.ctx, &t.doc, "test.yaml", yaml, strlen(yaml)), 0, "%s", t.ctx.err);
    cr_expect_neq(gr_build_graph(&t.ctx, &t.g, "test.yaml", t.doc.root, 4), 0, "a rank of 2^30 was accepted");
    cr_expect(strstr(t.ctx.err, "output shape of rank 1073741824 is out of range (ranks go from 0 to 6)"), "%s",
              t.ctx.err);
    tg_free(&t);
    struct gr_shape bad = {.rank = 1 << 30, .dim = {1, 2, 3, 4, 5, 6}};
    char buf[512];
    cr_expect_str_eq(gr_shape_format(&bad, buf, sizeof buf), "[1, 2, 3, 4, 5, 6]",
                     "the header's own formatter stops at GR_MAX_DIMS");
}
