/* A relu folded into the batch_norm before it (runtime/engine/fuse.c),
 * with its mask applied by a max pool after it or not, gives the bits of
 * the nodes run one after the other, in training and in evaluation, and is
 * not folded where the caller reads the producer. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "runtime/engine/plan.h"
#include "runtime/host/host.h"
#include "runtime/host/registry.h"

#define HEAD(side)                                                                            \
    "- {name: x, op: input, data: images, shape: [" side ", " side ", 2]}\n"                   \
    "- {name: c, op: conv2d, filters: 8, kernel_size: [3, 3], padding: same, inputs: [x]}\n" \
    "- {name: bn, op: batch_norm, inputs: [c]}\n"                                              \
    "- {name: r, op: relu, inputs: [bn]}\n"
#define TAIL "- {name: d, op: dense, units: 2, inputs: [f]}\n- {name: loss, op: mean, inputs: [d]}\n"
/* the relu read by flatten, by a max pool that leaves a row and a column
 * out, and by one whose windows tile the image */
#define POOL "- {name: pl, op: max_pool2d, size: [2, 2], inputs: [r]}\n- {name: f, op: flatten, inputs: [pl]}\n"
static const char *const yamls[3] = {HEAD("5") "- {name: f, op: flatten, inputs: [r]}\n" TAIL, HEAD("5") POOL TAIL,
                                     HEAD("4") POOL TAIL};

#define BATCH 3
#define MAX_PARAMS 2048

struct result {
    int absorbed;
    uint32_t fused, pool_fused;
    int pool_zeros; /* windows the relu zeroed whole: where the mask matters */
    float loss, out[BATCH * 2], grad[MAX_PARAMS];
    int64_t n_params;
};

/* One training step (with_loss) or one evaluation forward on the same
 * inputs and parameters; `read_bn`: the batch_norm is a target too. */
static void run(const char *yaml, int with_loss, int read_bn, struct result *res) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, yaml, BATCH), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    int loss = tg_node(&t, "loss"), d = tg_node(&t, "d"), bn = tg_node(&t, "bn"), x = tg_node(&t, "x");
    int targets[2] = {with_loss ? loss : d, bn};
    struct gr_plan p;
    cr_assert_eq(gr_plan_init(&p, &t.g, BATCH, targets, read_bn ? 2 : 1, with_loss ? loss : -1), 0, "%s", t.ctx.err);
    float *xv = p.val[x].data;
    for (int64_t i = 0; i < gr_shape_count(&p.val[x].shape); i++) xv[i] = (float)((i * 29) % 17 - 8) * 0.25f;
    gr_plan_forward(&p);
    if (with_loss) {
        gr_plan_zero_grad(&p);
        gr_plan_backward(&p);
        res->loss = *(const float *)p.val[loss].data;
        cr_assert_leq(t.g.param_floats, MAX_PARAMS);
        res->n_params = t.g.param_floats;
        memcpy(res->grad, t.g.grad, (size_t)t.g.param_floats * sizeof(float));
    }
    memcpy(res->out, p.val[d].data, sizeof res->out);
    res->absorbed = p.absorbed[tg_node(&t, "r")];
    res->fused = p.args[bn].fused;
    if (strstr(yaml, "max_pool2d")) {
        int pl = tg_node(&t, "pl");
        res->pool_fused = p.args[pl].fused;
        for (int64_t i = 0; i < gr_shape_count(&p.val[pl].shape); i++) res->pool_zeros += ((float *)p.val[pl].data)[i] == 0;
    }
    gr_plan_free(&p);
    tg_free(&t);
}

static void expect_same(const float *a, const float *b, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++) cr_expect(a[i] == b[i], "%s[%lld]: %a folded, %a apart", what, (long long)i, a[i], b[i]);
}

Test(fuse, a_relu_after_batch_norm_runs_inside_it_with_the_same_bits) {
    for (int pool = 0; pool < 3; pool++)
        for (int train = 1; train >= 0; train--) {
            struct result folded = {0}, apart = {0};
            run(yamls[pool], train, 0, &folded);
            run(yamls[pool], train, 1, &apart);
            cr_expect_eq(folded.absorbed, 1, "the relu was not folded (pool %d, training %d)", pool, train);
            uint32_t want = pool == 2 ? GR_FUSED_RELU | GR_FUSED_RELU_MASKED | GR_FUSED_POOL
                            : pool     ? GR_FUSED_RELU | GR_FUSED_RELU_MASKED
                                       : GR_FUSED_RELU;
            cr_expect_eq(folded.fused, want);
            cr_expect_eq(folded.pool_fused, pool ? GR_FUSED_MASK_RELU : 0u);
            cr_expect_eq(apart.absorbed, 0, "the relu was folded though the batch_norm is read");
            cr_expect_eq(apart.fused | apart.pool_fused, 0u);
            expect_same(folded.out, apart.out, BATCH * 2, train ? "training output" : "evaluation output");
            if (!train) continue;
            if (pool) cr_expect_gt(folded.pool_zeros, 0, "no window is all zeros, so the mask is not tested");
            cr_expect(folded.loss == apart.loss, "loss %a folded, %a apart", folded.loss, apart.loss);
            cr_assert_eq(folded.n_params, apart.n_params);
            expect_same(folded.grad, apart.grad, folded.n_params, "parameter gradient");
            float nonzero = 0;
            for (int64_t i = 0; i < folded.n_params; i++) nonzero += folded.grad[i] != 0.0f;
            cr_expect_gt(nonzero, 20, "only %g gradients are not 0", nonzero);
        }
}

/* The 2 x 2 max pool after the relu run by the batch_norm too
 * (GR_FUSED_POOL): images of 14 x 14 with 8 channels at batch 24 give 4704
 * rows, 19 blocks of sums straddling the images, and enough values that two
 * threads share every pass. Where the pool's windows do not tile the image
 * 2 x 2, or the relu has another reader, the pool runs on its own. */
#define PBATCH 24
#define PHEAD(side)                                                                                    \
    "- {name: x, op: input, data: images, shape: [" side ", " side ", 2]}\n"                            \
    "- {name: c, op: conv2d, filters: 8, kernel_size: [3, 3], padding: same, inputs: [x]}\n"          \
    "- {name: bn, op: batch_norm, inputs: [c]}\n- {name: r, op: relu, inputs: [bn]}\n"
#define PPOOL(size) "- {name: pl, op: max_pool2d, size: [" size "], inputs: [r]}\n- {name: f, op: flatten, inputs: [pl]}\n"
#define PTAIL "- {name: d, op: dense, units: 2, inputs: [f]}\n- {name: loss, op: mean, inputs: [d]}\n"
#define PTWICE                                                                                         \
    "- {name: d, op: dense, units: 2, inputs: [f]}\n- {name: m, op: mean, inputs: [d]}\n"              \
    "- {name: rm, op: mean, inputs: [r]}\n- {name: loss, op: add, inputs: [m, rm]}\n"

struct pooled {
    int folded, absorbed, zeros;
    float loss;
    int64_t n_pool, n_dx, n_params;
    float *pool, *dx, *params, *grad; /* the pool's output, bn's input gradient, the parameter block and its gradient */
};

static float *copy(const void *src, int64_t n) {
    float *d = malloc((size_t)n * sizeof *d);
    cr_assert(d);
    memcpy(d, src, (size_t)n * sizeof *d);
    return d;
}

/* One training step (with_loss) or one evaluation forward at `threads`;
 * `read_bn`: the batch_norm is a target too, so nothing is folded. */
static void run_pooled(const char *yaml, int threads, int with_loss, int read_bn, struct pooled *res) {
    struct tgraph t;
    cr_assert_eq(tg_build(&t, yaml, PBATCH), 0, "%s", t.ctx.err);
    cr_assert_eq(gr_ctx_set_threads(&t.ctx, threads), 0);
    cr_assert_eq(gr_graph_alloc_params(&t.g, gr_init_fill), 0);
    int loss = tg_node(&t, "loss"), bn = tg_node(&t, "bn"), x = tg_node(&t, "x"), c = tg_node(&t, "c");
    int pl = tg_node(&t, "pl"), targets[2] = {loss, bn};
    struct gr_plan p;
    cr_assert_eq(gr_plan_init(&p, &t.g, PBATCH, targets, read_bn ? 2 : 1, with_loss ? loss : -1), 0, "%s", t.ctx.err);
    struct gr_rng rng;
    gr_rng_seed(&rng, 3);
    /* even images random, odd ones one value per channel: equal cells in a
     * window, where the first max must win (a tie) */
    float *xv = p.val[x].data;
    int64_t n = gr_shape_count(&p.val[x].shape), image = n / PBATCH;
    for (int64_t i = 0; i < n; i++) xv[i] = (i / image) % 2 && i % image >= 2 ? xv[i - 2] : gr_rng_uniform(&rng) - 0.5f;
    gr_plan_forward(&p);
    if (with_loss) {
        gr_plan_zero_grad(&p);
        gr_plan_backward(&p);
        res->loss = *(const float *)p.val[loss].data;
        res->n_dx = gr_shape_count(&p.grad[c].shape);
        res->dx = copy(p.grad[c].data, res->n_dx);
        res->grad = copy(t.g.grad, t.g.param_floats);
    }
    res->n_params = t.g.param_floats; /* the running statistics among them */
    res->params = copy(t.g.param, t.g.param_floats);
    res->n_pool = gr_shape_count(&p.val[pl].shape);
    res->pool = copy(p.val[pl].data, res->n_pool);
    for (int64_t i = 0; i < res->n_pool; i++) res->zeros += res->pool[i] == 0.0f;
    res->folded = (p.args[bn].fused & GR_FUSED_POOL) != 0;
    res->absorbed = p.absorbed[pl];
    gr_plan_free(&p);
    tg_free(&t);
}

static void pooled_free(struct pooled *r) {
    free(r->pool);
    free(r->dx);
    free(r->params);
    free(r->grad);
}

Test(fuse, a_2x2_max_pool_after_the_relu_runs_inside_batch_norm_with_the_same_bits) {
    static const struct {
        const char *yaml;
        int folds;
    } cases[] = {
        {PHEAD("14") PPOOL("2, 2") PTAIL, 1},
        {PHEAD("13") PPOOL("2, 2") PTAIL, 0}, /* a row and a column left out */
        {PHEAD("12") PPOOL("3, 3") PTAIL, 0}, /* 3 x 3 windows tiling the image */
        {PHEAD("14") PPOOL("2, 2") PTWICE, 0}, /* the relu read twice */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int threads = 1; threads <= 2; threads++)
            for (int train = 1; train >= 0; train--) {
                struct pooled folded = {0}, apart = {0};
                run_pooled(cases[k].yaml, threads, train, 0, &folded);
                run_pooled(cases[k].yaml, threads, train, 1, &apart);
                cr_expect_eq(folded.folded, cases[k].folds, "case %zu, training %d: GR_FUSED_POOL %d", k, train,
                             folded.folded);
                cr_expect_eq(folded.absorbed, cases[k].folds, "case %zu: the pool absorbed %d", k, folded.absorbed);
                cr_expect_eq(apart.folded | apart.absorbed, 0, "case %zu: folded though the batch_norm is read", k);
                cr_expect_gt(folded.zeros, 0, "case %zu: no window is all zeros, so the mask is not tested", k);
                cr_assert_eq(folded.n_pool, apart.n_pool);
                expect_same(folded.pool, apart.pool, folded.n_pool, train ? "training pool" : "evaluation pool");
                cr_assert_eq(folded.n_params, apart.n_params);
                expect_same(folded.params, apart.params, folded.n_params, "parameters and running statistics");
                if (train) {
                    cr_expect(folded.loss == apart.loss, "case %zu: loss %a folded, %a apart", k, folded.loss,
                              apart.loss);
                    cr_assert_eq(folded.n_dx, apart.n_dx);
                    expect_same(folded.dx, apart.dx, folded.n_dx, "batch_norm's input gradient");
                    expect_same(folded.grad, apart.grad, folded.n_params, "parameter gradient");
                    int64_t nonzero = 0;
                    for (int64_t i = 0; i < folded.n_dx; i++) nonzero += folded.dx[i] != 0.0f;
                    cr_expect_gt(nonzero, folded.n_dx / 2, "case %zu: only %lld input gradients are not 0", k,
                                 (long long)nonzero);
                }
                pooled_free(&folded);
                pooled_free(&apart);
            }
}

static int fp_infer(struct gr_infer *inf) {
    inf->out = *inf->in[0];
    return 0;
}
static void fp_forward(const struct gr_args *a) { (void)a; }

/* Folding the pool writes max_pool2d's own index format, so only graphrun's
 * ops may declare it: a descriptor registered after the built-ins (as a
 * plugin's is) with GR_OP_FUSES_POOL is refused, and without it accepted. */
Test(fuse, only_built_in_ops_may_declare_that_they_fold_a_pool) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_op_desc d = {.name = "fake_norm", .summary = "y = x", .inputs_doc = "x [B, C]", .min_inputs = 1,
                           .max_inputs = 1, .infer = fp_infer, .forward = fp_forward,
                           .flags = GR_OP_FUSES_RELU | GR_OP_FUSES_POOL};
    char err[256] = "";
    cr_expect_neq(gr_registry_add_op(ctx.reg, &d, err, sizeof err), 0, "a plugin's op declared GR_OP_FUSES_POOL");
    cr_expect(strstr(err, "GR_OP_FUSES_POOL") != NULL, "%s", err);
    d.flags = GR_OP_FUSES_RELU;
    cr_expect_eq(gr_registry_add_op(ctx.reg, &d, err, sizeof err), 0, "%s", err);
    gr_ctx_free(&ctx);
}
