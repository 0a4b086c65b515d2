/* Plans: gradients summed over fan-out, no gradient where none is needed,
 * smaller batches in a planned arena, and no allocation while stepping. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "runtime/engine/optim.h"
#include "runtime/engine/plan.h"
#include "runtime/host/registry.h"

/* loss = mean_b,j (w_j^2 + x_bj w_j): w feeds three places */
static const char *fanout_yaml =
    "- {name: x, op: input, data: images, shape: [3]}\n"
    "- {name: w, op: param, shape: [3]}\n"
    "- {name: ww, op: mul, inputs: [w, w]}\n"
    "- {name: xw, op: mul, inputs: [x, w]}\n"
    "- {name: s, op: add, inputs: [ww, xw]}\n"
    "- {name: loss, op: mean, inputs: [s]}\n";

Test(plan, gradients_sum_over_every_consumer) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, fanout_yaml, 2), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    int loss = tg_node(&t, "loss"), w = tg_node(&t, "w"), x = tg_node(&t, "x");
    struct gr_plan p;
    cr_assert_eq(gr_plan_init(&p, &t.g, 2, &loss, 1, loss), 0, "%s", t.ctx.err);
    const float wv[3] = {0.5f, -1.0f, 2.0f}, xv[6] = {1, 2, 3, -1, 0, 4};
    memcpy(t.g.param + t.g.nodes[w].param_offset, wv, sizeof wv);
    memcpy(p.val[x].data, xv, sizeof xv);
    gr_plan_forward(&p);
    gr_plan_zero_grad(&p);
    gr_plan_backward(&p);
    /* dloss/dw_j = 1/6 * sum_b (2 w_j + x_bj) */
    const float *g = t.g.grad + t.g.nodes[w].param_offset;
    for (int j = 0; j < 3; j++) {
        float want = (2 * (2 * wv[j]) + xv[j] + xv[3 + j]) / 6.0f;
        cr_expect_float_eq(g[j], want, 1e-6f, "dw[%d] = %g, expected %g", j, g[j], want);
    }
    double want_loss = 0;
    for (int b = 0; b < 2; b++)
        for (int j = 0; j < 3; j++) want_loss += wv[j] * wv[j] + xv[b * 3 + j] * wv[j];
    cr_expect_float_eq(*(float *)p.val[loss].data, (float)(want_loss / 6), 1e-6f);
    /* the data input needs no gradient, so it has no buffer */
    cr_expect_null(p.grad[x].data);
    /* zeroing makes the next step independent of this one */
    float first = g[0];
    gr_plan_zero_grad(&p);
    gr_plan_backward(&p);
    cr_expect_eq(g[0], first);
    gr_plan_free(&p);
    tg_free(&t);
}

Test(plan, labels_take_no_gradient_and_unused_nodes_do_not_run) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [4]}\n"
                              "- {name: l, op: input, data: labels}\n"
                              "- {name: d, op: dense, inputs: [x], units: 3}\n"
                              "- {name: side, op: relu, inputs: [d]}\n"
                              "- {name: loss, op: softmax_cross_entropy, inputs: [d, l]}\n", 4), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    int loss = tg_node(&t, "loss");
    struct gr_plan p;
    cr_assert_eq(gr_plan_init(&p, &t.g, 4, &loss, 1, loss), 0, "%s", t.ctx.err);
    cr_expect_eq(p.fwd[tg_node(&t, "side")], 0, "a node the loss does not need is not planned");
    cr_expect_null(p.args[loss].din[1], "labels get no gradient");
    cr_expect_not_null(p.args[loss].din[0]);
    cr_expect_null(p.args[tg_node(&t, "d")].din[0], "the data input gets no gradient");
    gr_plan_free(&p);
    tg_free(&t);
}

/* The training plan of `yaml` at `batch`, for node "loss". */
static void loss_plan(struct tgraph *t, const char *yaml, int64_t batch, struct gr_plan *p) {
    cr_assert_eq(tg_build(t, yaml, batch), 0, "%s", t->ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t->g, gr_init_fill), 0);
    int loss = tg_node(t, "loss");
    cr_assert_eq(gr_plan_init(p, &t->g, batch, &loss, 1, loss), 0, "%s", t->ctx.err);
}

/* A product's backward counts the gradients the plan forms: no layer
 * forms the gradient of the data, and a stacked layer forms its input's. */
Test(plan, operations_count_only_the_gradients_formed) {
    struct tgraph t;
    struct gr_plan p;
    loss_plan(&t,
              "- {name: x, op: input, data: images, shape: [3, 4]}\n"
              "- {name: a, op: lstm, inputs: [x], num_units: 5}\n"
              "- {name: b, op: lstm, inputs: [a], num_units: 2}\n"
              "- {name: d, op: dense, inputs: [x], units: 3}\n"
              "- {name: e, op: dense, inputs: [d], units: 2}\n"
              "- {name: mb, op: mean, inputs: [b]}\n"
              "- {name: me, op: mean, inputs: [e]}\n"
              "- {name: loss, op: add, inputs: [mb, me]}\n",
              6, &p);
    double f, bw;
    /* lstm, B 6, T 3, I 4, H 5 (G 20): dh_next 2(T-1)BGH, dWx 2TBIG, dWh
     * 2(T-1)BHG, the cell 16TBH; no dX */
    gr_plan_node_flops(&p, tg_node(&t, "a"), &f, &bw);
    cr_expect_eq(bw, 2.0 * 2 * 6 * 20 * 5 + 2.0 * 3 * 6 * 4 * 20 + 2.0 * 2 * 6 * 5 * 20 + 16.0 * 3 * 6 * 5,
                 "lstm a: %g", bw);
    /* the stacked lstm (I 5, H 2, G 8) also forms dX, 2TBIG */
    gr_plan_node_flops(&p, tg_node(&t, "b"), &f, &bw);
    cr_expect_eq(bw, 2.0 * 2 * 6 * 8 * 2 + 2.0 * 3 * 6 * 5 * 8 + 2.0 * 2 * 6 * 2 * 8 + 16.0 * 3 * 6 * 2 +
                         2.0 * 3 * 6 * 5 * 8,
                 "lstm b: %g", bw);
    /* dense over 18 rows: dK 2RIU and the bias RU, then dX too */
    gr_plan_node_flops(&p, tg_node(&t, "d"), &f, &bw);
    cr_expect_eq(bw, 2.0 * 18 * 4 * 3 + 18.0 * 3, "dense d: %g", bw);
    gr_plan_node_flops(&p, tg_node(&t, "e"), &f, &bw);
    cr_expect_eq(bw, 4.0 * 18 * 3 * 2 + 18.0 * 2, "dense e: %g", bw);
    gr_plan_free(&p);
    tg_free(&t);
}

/* The same for the gru, the rnn, matmul with a data operand, and conv2d. */
Test(plan, operations_count_only_the_gradients_formed_by_every_product) {
    struct tgraph t;
    struct gr_plan p;
    loss_plan(&t,
              "- {name: x, op: input, data: images, shape: [3, 4]}\n"
              "- {name: g, op: gru, inputs: [x], num_units: 2}\n"
              "- {name: r, op: rnn, inputs: [g], num_units: 3}\n"
              "- {name: w, op: param, shape: [4, 2]}\n"
              "- {name: m, op: matmul, inputs: [x, w]}\n"
              "- {name: mr, op: mean, inputs: [r]}\n"
              "- {name: mm, op: mean, inputs: [m]}\n"
              "- {name: loss, op: add, inputs: [mr, mm]}\n",
              6, &p);
    double f, bw, B = 6, T = 3;
    /* gru, I 4, H 2, G 6: dh 2B(T-1)GH, dW 2BTIG, dU 2B(T-1)HG, the gates 25BTH; no dX */
    gr_plan_node_flops(&p, tg_node(&t, "g"), &f, &bw);
    cr_expect_eq(bw, 2 * B * (T - 1) * 6 * 2 + 2 * B * T * 4 * 6 + 2 * B * (T - 1) * 2 * 6 + 25 * B * T * 2, "gru: %g",
                 bw);
    /* rnn over it, I 2, H 3: dX as well as dW */
    gr_plan_node_flops(&p, tg_node(&t, "r"), &f, &bw);
    cr_expect_eq(bw, 2 * B * (T - 1) * 3 * 3 + 2 * (2 * B * T * 2 * 3) + 2 * B * (T - 1) * 3 * 3 + 4 * B * T * 3,
                 "rnn: %g", bw);
    /* matmul of the data [18, 4] by w [4, 2]: dw only, one product's worth */
    gr_plan_node_flops(&p, tg_node(&t, "m"), &f, &bw);
    cr_expect_eq(f, 2.0 * 18 * 4 * 2);
    cr_expect_eq(bw, f, "matmul: %g", bw);
    gr_plan_free(&p);
    tg_free(&t);

    loss_plan(&t,
              "- {name: x, op: input, data: images, shape: [4, 4, 1]}\n"
              "- {name: c1, op: conv2d, inputs: [x], filters: 2, kernel_size: [3, 3], padding: same}\n"
              "- {name: c2, op: conv2d, inputs: [c1], filters: 2, kernel_size: [3, 3], padding: same}\n"
              "- {name: loss, op: mean, inputs: [c2]}\n",
              6, &p);
    /* 96 output cells by F 2; c1's taps K = 9 (no dX), c2's K = 18 (dX too); the bias a cell */
    gr_plan_node_flops(&p, tg_node(&t, "c1"), &f, &bw);
    cr_expect_eq(bw, 2.0 * 96 * 9 * 2 + 96 * 2, "conv c1: %g", bw);
    gr_plan_node_flops(&p, tg_node(&t, "c2"), &f, &bw);
    cr_expect_eq(bw, 4.0 * 96 * 18 * 2 + 96 * 2, "conv c2: %g", bw);
    gr_plan_free(&p);
    tg_free(&t);
}

Test(plan, a_loss_must_be_a_scalar_that_depends_on_parameters) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [4]}\n"
                              "- {name: d, op: dense, inputs: [x], units: 3}\n"
                              "- {name: m, op: mean, inputs: [x]}\n", 4), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    struct gr_plan p;
    int d = tg_node(&t, "d"), m = tg_node(&t, "m");
    cr_expect_eq(gr_plan_init(&p, &t.g, 4, &d, 1, d), -1);
    cr_expect(strstr(t.ctx.err, "test.yaml:2:3: node 'd': a loss must be one float, but its shape is [4, 3]"),
              "got: %s", t.ctx.err);
    cr_expect_eq(gr_plan_init(&p, &t.g, 4, &m, 1, m), -1);
    cr_expect(strstr(t.ctx.err, "node 'm': the loss does not depend on any trainable parameter"), "got: %s",
              t.ctx.err);
    tg_free(&t);
}

Test(plan, a_smaller_batch_runs_in_the_same_arena) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [2, 3]}\n"
                              "- {name: l, op: lstm, inputs: [x], num_units: 4}\n"
                              "- {name: y, op: slice, inputs: [l], axis: 1, index: -1}\n", 8), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    int y = tg_node(&t, "y"), x = tg_node(&t, "x");
    struct gr_plan p;
    cr_assert_eq(gr_plan_init(&p, &t.g, 8, &y, 1, -1), 0, "%s", t.ctx.err);
    struct gr_rng rng;
    gr_rng_seed(&rng, 3);
    float *xv = p.val[x].data;
    for (int k = 0; k < 8 * 6; k++) xv[k] = gr_rng_uniform(&rng);
    gr_plan_forward(&p);
    float full[8 * 4];
    memcpy(full, p.val[y].data, sizeof full);
    void *arena = p.arena;
    uint64_t allocs = t.ctx.n_allocs;
    cr_assert_eq(gr_plan_set_batch(&p, 3), 0, "%s", t.ctx.err);
    cr_expect_eq(p.val[y].shape.dim[0], 3);
    gr_plan_forward(&p); /* the first 3 samples are still in place */
    cr_expect_arr_eq(p.val[y].data, full, 3 * 4 * sizeof(float), "samples do not depend on the batch size");
    cr_expect_eq(p.arena, arena);
    cr_expect_eq(t.ctx.n_allocs, allocs, "resizing allocated");
    gr_plan_free(&p);
    tg_free(&t);
}

Test(plan, training_steps_allocate_nothing) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, "- {name: x, op: input, data: images, shape: [3, 2]}\n"
                              "- {name: l, op: input, data: labels}\n"
                              "- {name: h, op: lstm, inputs: [x], num_units: 4}\n"
                              "- {name: last, op: slice, inputs: [h], axis: 1, index: -1}\n"
                              "- {name: d, op: dense, inputs: [last], units: 3}\n"
                              "- {name: loss, op: softmax_cross_entropy, inputs: [d, l]}\n", 5), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    int loss = tg_node(&t, "loss");
    struct gr_plan p;
    cr_assert_eq(gr_plan_init(&p, &t.g, 5, &loss, 1, loss), 0, "%s", t.ctx.err);
    struct gr_optim o;
    struct gr_optim_cfg oc;
    tg_optim(&oc, "adam", 0.01, "beta1", 0.9, "beta2", 0.999, "epsilon", 1e-8, NULL);
    cr_assert_eq(gr_optim_init(&t.ctx, &o, &oc, t.g.param_floats), 0);
    uint64_t before = t.ctx.n_allocs;
    for (int s = 0; s < 5; s++) {
        gr_plan_forward(&p);
        gr_plan_zero_grad(&p);
        gr_plan_backward(&p);
        gr_optim_step(&o, NULL, t.g.param, t.g.grad);
    }
    cr_expect_eq(t.ctx.n_allocs, before, "%llu allocations during 5 steps",
                 (unsigned long long)(t.ctx.n_allocs - before));
    gr_optim_free(&t.ctx, &o);
    gr_plan_free(&p);
    tg_free(&t);
}

Test(optim, adam_first_steps_by_hand) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_optim o;
    struct gr_optim_cfg oc;
    tg_optim(&oc, "adam", 0.1, "beta1", 0.9, "beta2", 0.999, "epsilon", 1e-8, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 2), 0);
    float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, -4.0f};
    /* step 1: m^ = g, v^ = g^2, so p -= lr * sign(g) (up to eps) */
    gr_optim_step(&o, NULL, p, g);
    cr_expect_float_eq(p[0], 0.9f, 1e-6f);
    cr_expect_float_eq(p[1], -1.9f, 1e-6f);
    /* step 2 with g' = (1, 0): m = 0.9*0.1*g + 0.1 g', v = 0.999*0.001 g^2 + 0.001 g'^2 */
    float g2[2] = {1.0f, 0.0f};
    gr_optim_step(&o, NULL, p, g2);
    double m0 = 0.9 * 0.05 + 0.1 * 1.0, v0 = 0.999 * 0.001 * 0.25 + 0.001 * 1.0;
    double m1 = 0.9 * 0.1 * -4.0, v1 = 0.999 * 0.001 * 16.0;
    double c1 = 1 - 0.81, c2 = 1 - 0.999 * 0.999;
    double want0 = 0.9 - 0.1 * (m0 / c1) / (sqrt(v0 / c2) + 1e-8);
    double want1 = -1.9 - 0.1 * (m1 / c1) / (sqrt(v1 / c2) + 1e-8);
    cr_expect_float_eq(p[0], (float)want0, 1e-6f, "p[0] = %.8f, expected %.8f", p[0], want0);
    cr_expect_float_eq(p[1], (float)want1, 1e-6f, "p[1] = %.8f, expected %.8f", p[1], want1);
    gr_optim_free(&ctx, &o);
    gr_ctx_free(&ctx);
}

Test(optim, sgd_with_momentum_by_hand) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_optim o;
    struct gr_optim_cfg oc;
    tg_optim(&oc, "sgd", 0.5, "momentum", 0.9, NULL);
    cr_assert_eq(gr_optim_init(&ctx, &o, &oc, 1), 0);
    float p = 1.0f, g = 2.0f;
    gr_optim_step(&o, NULL, &p, &g); /* v = 2, p = 1 - 1 = 0 */
    cr_expect_float_eq(p, 0.0f, 1e-7f);
    gr_optim_step(&o, NULL, &p, &g); /* v = 3.8, p = -1.9 */
    cr_expect_float_eq(p, -1.9f, 1e-6f);
    gr_optim_free(&ctx, &o);
    gr_ctx_free(&ctx);
}

static void sgd_like_update(const struct gr_optim_args *a, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) a->param[i] -= (float)a->lr * a->grad[i];
}

/* Optimizers are descriptors checked as they register, as ops are: their
 * keys' names (name, lr and weight_decay_exclude are every optimizer's),
 * ranges and defaults, their states, and the keys a state depends on. */
Test(optim, a_bad_optimizer_descriptor_is_refused_at_registration) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    static const struct gr_optim_key lr_key[] = {{"lr", GR_OPTIM_FLOAT, "reserved", 0.1, 0, 1, 0}};
    static const struct gr_optim_key outside[] = {{"decay", GR_OPTIM_FLOAT, "rate", 2.0, 0, 1, 0}};
    static const struct gr_optim_key open_min[] = {{"eps", GR_OPTIM_FLOAT, "floor", 0.0, 0, 1, 1}};
    static const struct gr_optim_state twice[] = {{"m", "a", 0, NULL, NULL}, {"m", "b", 0, NULL, NULL}};
    static const struct gr_optim_key decay_exclude[] = {{"weight_decay_exclude", GR_OPTIM_FLOAT, "taken", 0, 0, 1, 0}};
    static const struct gr_optim_state with_nothing[] = {{"m", "a", 0, "amsgrad", NULL}};
    static const struct gr_optim_state from_nothing[] = {{"m", "a", 0, NULL, "start"}};
    const struct {
        struct gr_optim_desc d;
        const char *want;
    } bad[] = {
        {{"Bad", "X", "p", NULL, 0, NULL, 0, NULL, sgd_like_update}, "must be 1-63 characters"},
        {{"adam", "X", "p", NULL, 0, NULL, 0, NULL, sgd_like_update}, "already registered"},
        {{"x", "X", "p", NULL, 0, NULL, 0, NULL, NULL}, "no update function"},
        {{"x", "X", "p", lr_key, 1, NULL, 0, NULL, sgd_like_update}, "invalid or reserved name"},
        {{"x", "X", "p", outside, 1, NULL, 0, NULL, sgd_like_update}, "default lies outside its range"},
        {{"x", "X", "p", open_min, 1, NULL, 0, NULL, sgd_like_update}, "default lies outside its range"},
        {{"x", "X", "p", NULL, 0, twice, 2, NULL, sgd_like_update}, "declared twice"},
        {{"x", NULL, "p", NULL, 0, NULL, 0, NULL, sgd_like_update}, "title and a summary"},
        {{"x", "X", "p", decay_exclude, 1, NULL, 0, NULL, sgd_like_update}, "invalid or reserved name"},
        {{"x", "X", "p", NULL, 0, with_nothing, 1, NULL, sgd_like_update}, "names a key it does not have"},
        {{"x", "X", "p", NULL, 0, from_nothing, 1, NULL, sgd_like_update}, "names a key it does not have"},
    };
    int before = ctx.reg->n_optims;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        cr_expect_eq(gr_registry_add_optimizer(ctx.reg, &bad[i].d, err, sizeof err), -1, "case %zu accepted", i);
        cr_expect(strstr(err, bad[i].want), "case %zu: expected '%s', got '%s'", i, bad[i].want, err);
    }
    cr_expect_eq(ctx.reg->n_optims, before, "a refused optimizer stayed registered");
    static const struct gr_optim_desc good = {"plain", "Plain", "p -= lr g", NULL, 0, NULL, 0, NULL, sgd_like_update};
    char err[256] = "";
    cr_expect_eq(gr_registry_add_optimizer(ctx.reg, &good, err, sizeof err), 0, "%s", err);
    cr_expect_eq(gr_registry_optimizer(ctx.reg, "plain"), &good);
    gr_ctx_free(&ctx);
}
