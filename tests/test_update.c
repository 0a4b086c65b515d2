/* The update a training session makes after backward, on real MNIST (the
 * small config of tests/helpers.c): weight decay spared for the parameters
 * weight_decay_exclude names and nowhere else; frozen parameters
 * (trainable: false) never moved, even by decoupled decay; clipping by
 * global norm and by value, each against the same step taken unclipped;
 * the norm it reports against one taken here. */
#include <criterion/criterion.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "ops/core.h"
#include "runtime/config/config.h"

struct run {
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
};

static void open_text(struct run *r, const char *text) {
    cr_assert_eq(gr_ctx_init(&r->ctx), 0);
    cr_assert_eq(gr_config_parse(&r->ctx, &r->cfg, "u.yaml", "", text, strlen(text)), 0, "%s", r->ctx.err);
    struct gr_session_opts opts = {.threads = 1};
    cr_assert_eq(gr_session_open(&r->ctx, &r->s, &r->cfg, &opts), 0, "%s (run tools/fetch_mnist.sh)", r->ctx.err);
}

static void open_run(struct run *r, const char *optimizer, const char *extra) {
    char text[4096];
    tg_small_config(text, sizeof text, 16, 10, optimizer, extra, 5);
    open_text(r, text);
}

static void close_run(struct run *r) {
    gr_session_close(&r->s);
    gr_config_free(&r->ctx, &r->cfg);
    gr_ctx_free(&r->ctx);
}

static float *copy(const float *x, int64_t n) {
    float *c = malloc((size_t)n * sizeof *c);
    memcpy(c, x, (size_t)n * sizeof *c);
    return c;
}

/* SGD with weight decay 0.5: p - lr (g + 0.5 p) where decayed, p - lr g for
 * the biases the pattern spares (the second step: the biases start at 0). */
Test(update, weight_decay_spares_the_parameters_the_patterns_name) {
    struct run r;
    open_run(&r, "{name: sgd, lr: 0.1, weight_decay: 0.5, weight_decay_exclude: ['*.bias']}", NULL);
    struct gr_graph *g = &r.s.g;
    gr_session_step(&r.s);
    float *p0 = copy(g->param, g->param_floats);
    gr_session_step(&r.s);
    int spared = 0, decayed = 0;
    double moved = 0; /* the biases' size: where a decay would show */
    for (int i = 0; i < g->n; i++) {
        const struct gr_node *nd = &g->nodes[i];
        if (!(nd->op->flags & GR_OP_PARAM)) continue;
        int bias = fnmatch("*.bias", nd->name, 0) == 0;
        spared += bias;
        decayed += !bias;
        for (int64_t k = nd->param_offset; k < nd->param_offset + gr_shape_count(&nd->shape); k++) {
            moved += bias ? fabs(p0[k]) : 0;
            float want = bias ? p0[k] - 0.1f * g->grad[k] : p0[k] - 0.1f * (g->grad[k] + 0.5f * p0[k]);
            cr_expect(g->param[k] == want, "%s[%lld]: %.9g, expected %.9g", nd->name,
                      (long long)(k - nd->param_offset), (double)g->param[k], (double)want);
        }
    }
    cr_expect(spared == 2 && decayed == 2, "%d spared, %d decayed", spared, decayed);
    cr_expect_gt(moved, 1e-3, "the biases are still about 0");
    free(p0);
    close_run(&r);
}

/* A frozen scale after the logits: AdamW's decoupled decay would shrink it
 * by 1 - lr wd a step if it were updated. */
Test(update, frozen_parameters_are_never_updated) {
    char text[4096];
    snprintf(text, sizeof text,
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte,"
             " limit: 2000}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte,"
             " limit: 1000}\n"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: logits, op: dense, inputs: [image], units: 10}\n"
             "  - {name: scale, op: param, shape: [10], init: ones, trainable: false}\n"
             "  - {name: scaled, op: mul, inputs: [logits, scale]}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [scaled, label]}\n"
             "train: {loss: loss, optimizer: {name: adamw, lr: 0.1, weight_decay: 0.5}, batch_size: 32, steps: 5}\n",
             GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR);
    struct run r;
    open_text(&r, text);
    const struct gr_node *scale = &r.s.g.nodes[gr_graph_find(&r.s.g, "scale")];
    const struct gr_node *kernel = &r.s.g.nodes[gr_graph_find(&r.s.g, "logits.kernel")];
    float k0 = r.s.g.param[kernel->param_offset + 100];
    for (int step = 0; step < 3; step++) gr_session_step(&r.s);
    for (int k = 0; k < 10; k++) cr_expect_eq(r.s.g.param[scale->param_offset + k], 1.0f, "scale[%d] moved", k);
    cr_expect_neq(r.s.g.param[kernel->param_offset + 100], k0, "the trainable kernel did not move");
    close_run(&r);
}

/* The same first step, unclipped and clipped: the norm reported is the
 * unclipped gradient's (taken here in double), the clipped gradient is the
 * unclipped one scaled by max / (norm + 1e-6) (torch's clip_grad_norm_),
 * or clamped, and SGD steps along it. */
Test(update, clipping_by_norm_and_by_value_against_the_unclipped_step) {
    const char *sgd = "{name: sgd, lr: 0.5}";
    struct run a, b, c;
    open_run(&a, sgd, NULL);
    open_run(&b, sgd, "clip: {norm: 0.001}");
    open_run(&c, sgd, "clip: {value: 0.0005}");
    int64_t n = a.s.g.param_floats;
    float *p0 = copy(a.s.g.param, n);
    gr_session_step(&a.s);
    gr_session_step(&b.s);
    gr_session_step(&c.s);
    double ss = 0;
    for (int64_t k = 0; k < n; k++) ss += (double)a.s.g.grad[k] * a.s.g.grad[k];
    cr_expect(fabs(a.s.grad_norm - sqrt(ss)) <= 1e-12 * sqrt(ss), "norm %.17g, taken here %.17g", a.s.grad_norm,
              sqrt(ss));
    cr_expect(b.s.grad_norm == a.s.grad_norm && c.s.grad_norm == a.s.grad_norm, "the norm is taken before clipping");
    cr_assert_gt(a.s.grad_norm, 0.01, "a norm this small would not be clipped");
    float scale = (float)(0.001 / (a.s.grad_norm + 1e-6));
    double clipped = 0;
    int clamped = 0;
    for (int64_t k = 0; k < n; k++) {
        float gb = a.s.g.grad[k] * scale, gc = fmaxf(-0.0005f, fminf(0.0005f, a.s.g.grad[k]));
        clamped += gc != a.s.g.grad[k];
        clipped += (double)b.s.g.grad[k] * b.s.g.grad[k];
        cr_expect(b.s.g.grad[k] == gb && b.s.g.param[k] == p0[k] - 0.5f * gb, "norm clip at %lld", (long long)k);
        cr_expect(c.s.g.grad[k] == gc && c.s.g.param[k] == p0[k] - 0.5f * gc, "value clip at %lld", (long long)k);
    }
    cr_expect(fabs(sqrt(clipped) - 0.001) < 1e-8, "the clipped gradient's norm is %.9g", sqrt(clipped));
    cr_expect_gt(clamped, 0, "no element reached the value");
    free(p0);
    close_run(&a);
    close_run(&b);
    close_run(&c);
}
