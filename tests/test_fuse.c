/* A relu folded into the batch_norm before it (runtime/engine/fuse.c),
 * with its mask applied by a max pool after it or not, gives the bits of
 * the nodes run one after the other, in training and in evaluation, and is
 * not folded where the caller reads the producer. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"
#include "runtime/engine/plan.h"

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
            cr_expect_eq(folded.fused, pool ? GR_FUSED_RELU | GR_FUSED_RELU_MASKED : GR_FUSED_RELU);
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
