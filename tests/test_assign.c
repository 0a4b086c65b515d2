/* Backward told to assign (GR_OP_ASSIGNS_GRAD, gr_args.din_assign): every
 * op that opts in writes the bits that adding into a zeroed gradient gives,
 * over a gradient full of garbage; and a plan tells only a gradient's first
 * writer to assign, leaving that buffer out of the zeroing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "runtime/engine/plan.h"
#include "runtime/host/registry.h"

/* One case per opting op and mode; `y` is the node under test. */
static const struct {
    const char *op, *what, *yaml;
} cases[] = {
    {"relu", "relu", "- {name: x, op: input, data: images, shape: [6]}\n- {name: y, op: relu, inputs: [x]}\n"},
    {"batch_norm", "batch_norm over images",
     "- {name: x, op: input, data: images, shape: [3, 3, 4]}\n- {name: y, op: batch_norm, inputs: [x]}\n"},
    {"max_pool2d", "max_pool2d leaving a row and a column to no window",
     "- {name: x, op: input, data: images, shape: [5, 5, 3]}\n- {name: y, op: max_pool2d, size: [2, 2], inputs: [x]}\n"},
    {"max_pool2d", "max_pool2d whose 2 x 2 windows tile the image (one byte per index)",
     "- {name: x, op: input, data: images, shape: [4, 6, 3]}\n- {name: y, op: max_pool2d, size: [2, 2], inputs: [x]}\n"},
    {"max_pool2d", "max_pool2d whose windows tile the image",
     "- {name: x, op: input, data: images, shape: [4, 6, 3]}\n- {name: y, op: max_pool2d, size: [2, 3], inputs: [x]}\n"},
    {"conv2d", "conv2d, direct (one channel)",
     "- {name: x, op: input, data: images, shape: [6, 6, 1]}\n"
     "- {name: y, op: conv2d, filters: 16, kernel_size: [3, 3], padding: same, inputs: [x]}\n"},
    {"conv2d", "conv2d, im2col",
     "- {name: x, op: input, data: images, shape: [6, 6, 8]}\n"
     "- {name: y, op: conv2d, filters: 16, kernel_size: [3, 3], padding: same, inputs: [x]}\n"},
    {"conv2d", "conv2d, pointwise",
     "- {name: x, op: input, data: images, shape: [4, 4, 8]}\n"
     "- {name: y, op: conv2d, filters: 16, kernel_size: [1, 1], inputs: [x]}\n"},
    {"flatten", "flatten", "- {name: x, op: input, data: images, shape: [2, 3]}\n- {name: y, op: flatten, inputs: [x]}\n"},
    {"reshape", "reshape",
     "- {name: x, op: input, data: images, shape: [6]}\n- {name: y, op: reshape, shape: [2, 3], inputs: [x]}\n"},
    {"dropout", "dropout", "- {name: x, op: input, data: images, shape: [40]}\n- {name: y, op: dropout, rate: 0.5, inputs: [x]}\n"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

Test(assign, every_opting_op_assigns_the_bits_adding_into_zeros_gives) {
    for (size_t c = 0; c < N_CASES; c++) {
        struct tgraph t;
        struct gr_harness h;
        cr_assert_eq(tg_build(&t, cases[c].yaml, 3), 0, "%s: %s", cases[c].what, t.ctx.err);
        int y = tg_node(&t, "y");
        const struct gr_op_desc *op = t.g.nodes[y].op;
        cr_assert(op->flags & GR_OP_ASSIGNS_GRAD, "%s does not opt in", cases[c].op);
        cr_assert_eq(gr_harness_init(&h, &t.g, y, 1), 0, "%s", t.ctx.err);
        int64_t n = gr_shape_count(&h.in[0].shape), m = gr_shape_count(&h.dout.shape);
        float *x = h.in[0].data, *dy = h.dout.data;
        for (int64_t i = 0; i < n; i++) x[i] = (float)((i * 37) % 23 - 11) * 0.125f;
        for (int64_t i = 0; i < m; i++) dy[i] = (float)((i * 11) % 7 - 3) * 0.5f;
        gr_harness_forward(&h);
        gr_harness_backward(&h); /* adds into zeros */
        float *added = malloc((size_t)n * sizeof *added);
        memcpy(added, h.din[0].data, (size_t)n * sizeof *added);
        for (int64_t i = 0; i < n; i++) ((float *)h.din[0].data)[i] = NAN;
        for (int k = 1; k < h.args.n_in; k++) /* parameters' gradients still add */
            if (h.args.din[k]) memset(h.din[k].data, 0, gr_shape_bytes(&h.din[k].shape));
        h.args.din_assign = 1u;
        op->backward(&h.args);
        /* equal as numbers: 0 + (-0) is +0, which assigning leaves -0 */
        const float *got = h.din[0].data;
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) bad += !(got[i] == added[i]);
        cr_expect_eq(bad, 0, "%s: %lld of %lld assigned values differ", cases[c].what, (long long)bad, (long long)n);
        free(added);
        gr_harness_free(&h);
        tg_free(&t);
    }
}

Test(assign, the_cases_cover_every_built_in_op_that_opts_in) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, cases[0].yaml, 2), 0, "%s", t.ctx.err);
    const struct gr_registry *reg = t.ctx.reg;
    for (int i = 0; i < reg->n; i++) {
        if (!(reg->ops[i].desc->flags & GR_OP_ASSIGNS_GRAD)) continue;
        int found = 0;
        for (size_t c = 0; c < N_CASES; c++) found |= strcmp(cases[c].op, reg->ops[i].desc->name) == 0;
        cr_expect(found, "op '%s' assigns but has no case here", reg->ops[i].desc->name);
    }
    tg_free(&t);
}

/* h feeds two relus: the later (r2) writes dh first and assigns, the
 * earlier adds; loss = mean(r1 + r2 + relu(d2)) */
static const char *fanout_yaml = "- {name: x, op: input, data: images, shape: [4]}\n"
                                 "- {name: h, op: dense, inputs: [x], units: 5}\n"
                                 "- {name: r1, op: relu, inputs: [h]}\n"
                                 "- {name: r2, op: relu, inputs: [h]}\n"
                                 "- {name: s, op: add, inputs: [r1, r2]}\n"
                                 "- {name: loss, op: mean, inputs: [s]}\n";

/* param gradients after one step, every activation gradient first filled
 * with NaN; `reference`: nobody assigns and everything is zeroed */
static void step_grads(int reference, float *out, int64_t *n_out, uint32_t *bits_r1, uint32_t *bits_r2) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, fanout_yaml, 3), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    int loss = tg_node(&t, "loss"), x = tg_node(&t, "x");
    struct gr_plan p;
    cr_assert_eq(gr_plan_init(&p, &t.g, 3, &loss, 1, loss), 0, "%s", t.ctx.err);
    for (int i = 0; i < 12; i++) ((float *)p.val[x].data)[i] = (float)(i % 5) - 2.0f;
    for (int i = 0; i < t.g.n; i++)
        if (p.grad[i].data && !(t.g.nodes[i].op->flags & GR_OP_PARAM))
            for (int64_t e = 0; e < gr_shape_count(&p.grad[i].shape); e++) ((float *)p.grad[i].data)[e] = NAN;
    if (reference)
        for (int i = 0; i < t.g.n; i++) {
            p.args[i].din_assign = 0;
            if (p.grad[i].data) memset(p.grad[i].data, 0, gr_shape_bytes(&p.grad[i].shape));
        }
    *bits_r1 = p.args[tg_node(&t, "r1")].din_assign;
    *bits_r2 = p.args[tg_node(&t, "r2")].din_assign;
    gr_plan_forward(&p);
    gr_plan_zero_grad(&p);
    gr_plan_backward(&p);
    *n_out = t.g.param_floats;
    memcpy(out, t.g.grad, (size_t)t.g.param_floats * sizeof *out);
    gr_plan_free(&p);
    tg_free(&t);
}

Test(assign, only_a_gradients_first_writer_assigns_and_the_rest_add) {
    float got[64], want[64];
    int64_t n, n_ref;
    uint32_t r1, r2, ref1, ref2;
    step_grads(0, got, &n, &r1, &r2);
    step_grads(1, want, &n_ref, &ref1, &ref2);
    cr_assert(n >= 4 * 5 + 5 && n <= 64, "%lld parameter floats", (long long)n); /* blocks are padded */
    cr_assert_eq(n_ref, n);
    cr_expect_eq(r2, 1u, "r2 runs backward first, so it assigns dh");
    cr_expect_eq(r1, 0u, "r1 runs after r2 and must add");
    for (int64_t i = 0; i < n; i++) cr_expect(isfinite(got[i]), "dparam[%lld] is %g", (long long)i, got[i]);
    cr_expect_arr_eq(got, want, (size_t)n * sizeof *got, "assigning changed the gradients");
}

/* Parameters (GR_OP_ASSIGNS_PARAM_GRAD): told to assign a parameter's
 * gradient, an op writes the bits that adding into zeros gives. At 40
 * samples dense and lstm sum two leaves, the first written over the
 * gradient, the second added up the tree. */
static const struct {
    const char *op, *what, *yaml;
    int batch;
} pcases[] = {
    {"dense", "dense", "- {name: x, op: input, data: images, shape: [7]}\n- {name: y, op: dense, units: 5, inputs: [x]}\n", 3},
    {"dense", "dense over two leaves",
     "- {name: x, op: input, data: images, shape: [7]}\n- {name: y, op: dense, units: 5, inputs: [x]}\n", 40},
    {"lstm", "lstm step by step",
     "- {name: x, op: input, data: images, shape: [4, 3]}\n- {name: y, op: lstm, num_units: 5, inputs: [x]}\n", 3},
    {"lstm", "lstm fused, two leaves",
     "- {name: x, op: input, data: images, shape: [5, 3]}\n- {name: y, op: lstm, num_units: 16, inputs: [x]}\n", 40},
};
#define N_PCASES (sizeof pcases / sizeof pcases[0])

static void fill(float *v, int64_t n, int64_t salt) {
    for (int64_t i = 0; i < n; i++) v[i] = (float)((i * 37 + salt * 11) % 23 - 11) * 0.03125f;
}

Test(assign, every_op_assigning_parameters_writes_the_bits_adding_into_zeros_gives) {
    for (size_t c = 0; c < N_PCASES; c++) {
        struct tgraph t;
        struct gr_harness h;
        cr_assert_eq(tg_build(&t, pcases[c].yaml, pcases[c].batch), 0, "%s: %s", pcases[c].what, t.ctx.err);
        int y = tg_node(&t, "y");
        const struct gr_op_desc *op = t.g.nodes[y].op;
        cr_assert(op->flags & GR_OP_ASSIGNS_PARAM_GRAD, "%s does not opt in", pcases[c].op);
        cr_assert_eq(gr_harness_init(&h, &t.g, y, 1), 0, "%s", t.ctx.err);
        unsigned params = 0;
        for (int k = 0; k < h.args.n_in; k++) {
            fill(h.in[k].data, gr_shape_count(&h.in[k].shape), k);
            if (k > 0 && h.args.din[k] && (t.g.nodes[t.g.nodes[y].in[k]].op->flags & GR_OP_PARAM)) params |= 1u << k;
        }
        cr_assert_eq(params, 6u, "%s: kernel and bias take gradients", pcases[c].what);
        fill(h.dout.data, gr_shape_count(&h.dout.shape), 5);
        float *added[GR_MAX_INPUTS] = {NULL};
        gr_harness_forward(&h);
        gr_harness_backward(&h); /* adds into zeros */
        for (int k = 1; k < h.args.n_in; k++)
            if (params >> k & 1u) {
                added[k] = malloc(gr_shape_bytes(&h.din[k].shape));
                memcpy(added[k], h.din[k].data, gr_shape_bytes(&h.din[k].shape));
                for (int64_t e = 0; e < gr_shape_count(&h.din[k].shape); e++) ((float *)h.din[k].data)[e] = NAN;
            }
        if (h.args.din[0]) memset(h.din[0].data, 0, gr_shape_bytes(&h.din[0].shape));
        gr_harness_forward(&h); /* backward may write over what forward saved */
        h.args.din_assign = params;
        op->backward(&h.args);
        for (int k = 1; k < h.args.n_in; k++) {
            if (!added[k]) continue;
            const float *got = h.din[k].data;
            int64_t n = gr_shape_count(&h.din[k].shape), bad = 0;
            for (int64_t i = 0; i < n; i++) bad += !(got[i] == added[k][i]);
            cr_expect_eq(bad, 0, "%s: %lld of %lld of parameter %d's gradient differ", pcases[c].what, (long long)bad,
                         (long long)n, k);
            free(added[k]);
        }
        gr_harness_free(&h);
        tg_free(&t);
    }
}

Test(assign, the_parameter_cases_cover_every_built_in_op_that_opts_in) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, pcases[0].yaml, 2), 0, "%s", t.ctx.err);
    const struct gr_registry *reg = t.ctx.reg;
    for (int i = 0; i < reg->n; i++) {
        if (!(reg->ops[i].desc->flags & GR_OP_ASSIGNS_PARAM_GRAD)) continue;
        int found = 0;
        for (size_t c = 0; c < N_PCASES; c++) found |= strcmp(pcases[c].op, reg->ops[i].desc->name) == 0;
        cr_expect(found, "op '%s' assigns parameters but has no case here", reg->ops[i].desc->name);
    }
    tg_free(&t);
}

/* A plan leaves the parameters its ops assign out of the zeroing, and the
 * rest of the block (padding included) in: over a block full of NaN, a
 * step gives the gradients of a step over zeros that nobody assigns. */
static const char *lstm_yaml = "- {name: x, op: input, data: images, shape: [5, 3]}\n"
                               "- {name: h, op: lstm, num_units: 16, inputs: [x]}\n"
                               "- {name: d, op: dense, units: 3, inputs: [h]}\n"
                               "- {name: loss, op: mean, inputs: [d]}\n";

static int64_t plan_grads(int reference, float *out, int64_t *zeroed) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, lstm_yaml, 40), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    int loss = tg_node(&t, "loss"), x = tg_node(&t, "x");
    struct gr_plan p;
    cr_assert_eq(gr_plan_init(&p, &t.g, 40, &loss, 1, loss), 0, "%s", t.ctx.err);
    fill(p.val[x].data, 40 * 15, 1);
    for (int64_t i = 0; i < t.g.param_floats; i++) t.g.grad[i] = NAN;
    if (reference) {
        for (int i = 0; i < t.g.n; i++) p.args[i].din_assign = 0;
        memset(t.g.grad, 0, (size_t)t.g.param_floats * sizeof(float));
    } else {
        cr_expect_eq(p.args[tg_node(&t, "h")].din_assign, 6u, "lstm assigns its kernel's and bias's gradients");
        cr_expect_eq(p.args[tg_node(&t, "d")].din_assign, 6u, "dense assigns its kernel's and bias's gradients");
    }
    *zeroed = p.pzero_floats;
    gr_plan_forward(&p);
    gr_plan_zero_grad(&p);
    gr_plan_backward(&p);
    int64_t n = t.g.param_floats;
    memcpy(out, t.g.grad, (size_t)n * sizeof *out);
    gr_plan_free(&p);
    tg_free(&t);
    return n;
}

Test(assign, a_plan_zeroes_only_the_parameters_nobody_assigns) {
    static float got[8192], want[8192];
    int64_t zeroed, zeroed_ref;
    int64_t n = plan_grads(0, got, &zeroed);
    cr_assert(n > 19 * 64 && n <= 8192, "%lld parameter floats", (long long)n);
    cr_assert_eq(plan_grads(1, want, &zeroed_ref), n);
    /* the lstm's kernel [19, 64] and bias [64], dense's [16, 3] and [3] are
     * assigned; only padding is left */
    cr_expect_lt(zeroed, 64, "%lld of %lld floats zeroed", (long long)zeroed, (long long)n);
    int64_t bad = 0, nonfinite = 0;
    for (int64_t i = 0; i < n; i++) {
        nonfinite += !isfinite(got[i]);
        bad += !(got[i] == want[i]);
    }
    cr_expect_eq(nonfinite, 0, "%lld gradient floats left as garbage", (long long)nonfinite);
    cr_expect_eq(bad, 0, "%lld of %lld gradient floats differ", (long long)bad, (long long)n);
}
