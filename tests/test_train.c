/* End to end on real MNIST (a subset): the loss falls, the accuracy clears a
 * bar that a broken gradient misses, and a seed fixes every number. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "runtime/session/checkpoint.h"
#include "runtime/config/config.h"
#include "runtime/host/threads.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"

/* The shipped model on 12000 training images, 300 steps. */
static void config_text(char *out, size_t len, int steps, int units, uint64_t seed) {
    snprintf(out, len,
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte,"
             " limit: 12000}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte}\n"
             TG_MNIST_GRAPH
             "train: {loss: loss, optimizer: {name: adam, lr: 0.01}, batch_size: 64, steps: %d, seed: %llu}\n"
             "eval: {logits: logits, every: 100, samples: 1000, batch_size: 500}\n",
             GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, units, steps, (unsigned long long)seed);
}

struct run {
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
};

static void open_run(struct run *r, int steps, int units, uint64_t seed, int threads) {
    char text[4096];
    config_text(text, sizeof text, steps, units, seed);
    cr_assert_eq(gr_ctx_init(&r->ctx), 0);
    cr_assert_eq(gr_config_parse(&r->ctx, &r->cfg, "e2e.yaml", "", text, strlen(text)), 0, "%s", r->ctx.err);
    struct gr_session_opts opts = {.threads = threads};
    cr_assert_eq(gr_session_open(&r->ctx, &r->s, &r->cfg, &opts), 0, "%s (run tools/fetch_mnist.sh first)",
                 r->ctx.err);
}

static void close_run(struct run *r) {
    gr_session_close(&r->s);
    gr_config_free(&r->ctx, &r->cfg);
    gr_ctx_free(&r->ctx);
}

Test(train, the_loss_falls_and_accuracy_clears_the_bar, .timeout = 300) {
    struct run r;
    open_run(&r, 300, 32, 5, 0);
    double first = 0, last = 0;
    for (int step = 1; step <= 300; step++) {
        float loss = gr_session_step(&r.s);
        cr_assert(loss == loss, "loss is nan at step %d", step);
        if (step <= 20) first += loss / 20;
        if (step > 280) last += loss / 20;
    }
    double acc = gr_session_accuracy(&r.s, &r.s.test_set, 1000);
    cr_log_info("mean loss %.3f -> %.3f, accuracy %.4f on 1000 test images", first, last, acc);
    /* chance is ln 10 = 2.30 and 0.10; a model this size passes 0.85 within 300 steps */
    cr_expect_gt(first, 1.5, "the first losses (%.3f) should be near chance", first);
    cr_expect_lt(last, 0.5 * first, "mean loss went from %.3f to %.3f", first, last);
    cr_expect_gt(acc, 0.85, "accuracy on 1000 test images: %.4f", acc);
    close_run(&r);
}

Test(train, a_seed_fixes_every_loss, .timeout = 120) {
    float a[30], b[30], c[30];
    struct run r;
    open_run(&r, 30, 16, 11, 1);
    for (int i = 0; i < 30; i++) a[i] = gr_session_step(&r.s);
    close_run(&r);
    open_run(&r, 30, 16, 11, 1);
    for (int i = 0; i < 30; i++) b[i] = gr_session_step(&r.s);
    close_run(&r);
    cr_expect_arr_eq(a, b, sizeof a, "same seed, same thread count: identical losses");
    open_run(&r, 30, 16, 12, 1);
    for (int i = 0; i < 30; i++) c[i] = gr_session_step(&r.s);
    close_run(&r);
    cr_expect(memcmp(a, c, sizeof a) != 0, "another seed gives other losses");
}

Test(train, the_thread_count_does_not_change_the_numbers, .timeout = 120) {
    float a[25], b[25];
    double acc[2];
    struct run r;
    for (int k = 0; k < 2; k++) {
        open_run(&r, 25, 24, 3, k + 1);
        cr_assert_eq(gr_pool_threads(r.ctx.pool), k + 1);
        for (int i = 0; i < 25; i++) (k ? b : a)[i] = gr_session_step(&r.s);
        acc[k] = gr_session_accuracy(&r.s, &r.s.test_set, 1000);
        close_run(&r);
    }
    /* work is split by rows and by column blocks, never along a sum */
    cr_expect_arr_eq(a, b, sizeof a, "1 and 2 threads: identical losses");
    cr_expect_eq(acc[0], acc[1]);
}

Test(train, each_epoch_visits_every_sample_once) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_sampler s;
    cr_assert_eq(gr_sampler_init(&ctx, &s, 10, &ctx.rng), 0);
    int32_t idx[30];
    gr_sampler_next(&s, &ctx.rng, 7, idx);
    gr_sampler_next(&s, &ctx.rng, 23, idx + 7); /* crosses two epoch boundaries */
    for (int e = 0; e < 3; e++) {
        int seen[10] = {0};
        for (int k = 0; k < 10; k++) seen[idx[e * 10 + k]]++;
        for (int v = 0; v < 10; v++) cr_expect_eq(seen[v], 1, "epoch %d saw sample %d %d times", e, v, seen[v]);
    }
    cr_expect(memcmp(idx, idx + 10, 10 * sizeof *idx) != 0, "each epoch is reshuffled");
    cr_expect_eq(s.epoch, 2);
    gr_sampler_free(&ctx, &s);
    gr_ctx_free(&ctx);
}

Test(train, a_non_finite_loss_names_the_step_and_the_node_and_keeps_the_checkpoint, .timeout = 120) {
    /* a quadratic loss with a learning rate far too large diverges
     * geometrically and overflows within a few steps */
    char dir[64], text[4096], ckpt[128];
    snprintf(dir, sizeof dir, "/tmp/graphrun-nan-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ckpt, sizeof ckpt, "%s/div.safetensors", dir);
    snprintf(text, sizeof text,
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte, limit: 1000}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte, limit: 500}\n"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {name: y, op: dense, inputs: [image], units: 10}\n"
             "  - {name: sq, op: mul, inputs: [y, y]}\n"
             "  - {name: loss, op: mean, inputs: [sq]}\n"
             "train: {loss: loss, optimizer: {name: sgd, lr: 1000}, batch_size: 16, steps: 500,"
             " checkpoint: {path: %s, every: 3}}\n",
             GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, ckpt);
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "div.yaml", "", text, strlen(text)), 0, "%s", ctx.err);
    struct gr_train_opts opts = {.threads = 1};
    struct gr_train_result res;
    cr_assert_eq(gr_train(&ctx, &cfg, &opts, &res), -1, "a diverging run reported success");
    cr_log_info("%s", ctx.err);
    char want[256];
    snprintf(want, sizeof want, "step %lld: the loss is", (long long)res.steps + 1);
    cr_expect(strstr(ctx.err, want), "names the failing step: %s", ctx.err);
    cr_expect(strstr(ctx.err, "node 'sq' (mul)") || strstr(ctx.err, "node 'y' (dense)"), "names the node: %s", ctx.err);
    cr_expect_geq(res.checkpoint_step, 3);
    snprintf(want, sizeof want, "the checkpoint of step %lld (%s) is kept", (long long)res.checkpoint_step, ckpt);
    cr_expect(strstr(ctx.err, want), "says which checkpoint is kept: %s", ctx.err);
    cr_expect(strchr(ctx.err, '\n') == NULL);
    /* and that checkpoint holds finite numbers */
    struct gr_session s;
    struct gr_session_opts so = {.threads = 1};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &so), 0, "%s", ctx.err);
    int64_t step;
    cr_assert_eq(gr_checkpoint_load(&s, ckpt, &step), 0, "%s", ctx.err);
    cr_expect_eq(step, res.checkpoint_step);
    for (int64_t i = 0; i < s.g.param_floats; i++) cr_assert(isfinite(s.g.param[i]), "parameter %lld is not finite", (long long)i);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    unlink(ckpt);
    rmdir(dir);
}
