/* A model with dropout and batch normalisation, trained by the command,
 * killed with SIGKILL at random moments and resumed each time: the losses
 * it prints are the unbroken run's (dropout's masks come from the step, which
 * the checkpoint restores), and its final checkpoint holds the unbroken
 * run's weights and running statistics to the bit. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "runtime/config/config.h"
#include "runtime/session/checkpoint.h"
#include "runtime/session/session.h"

#define STEPS 300 /* long enough beside its start for several kills to land */

static char dir[64];

static void setup(void) { tg_tmpdir(dir, sizeof dir, "resume"); }
static void teardown(void) { tg_rmtree(dir); }

TestSuite(resume_layers, .init = setup, .fini = teardown, .timeout = 300);

/* A small CNN on 1000 MNIST images: a strided convolution, batch_norm on
 * images and on features, dropout; a checkpoint and an evaluation (200 test
 * images, through the running statistics) every step. */
static void cnn_config(char *text, size_t len, const char *ckpt, int steps) {
    snprintf(text, len,
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte,"
             " limit: 1000}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte,"
             " limit: 200}\n"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: pixels, op: reshape, inputs: [image], shape: [28, 28, 1]}\n"
             "  - {name: conv, op: conv2d, inputs: [pixels], filters: 8, kernel_size: [3], strides: [2], padding: same,"
             " init: {kernel: he_uniform}}\n"
             "  - {name: bn1, op: batch_norm, inputs: [conv], momentum: 0.8}\n"
             "  - {name: relu1, op: relu, inputs: [bn1]}\n"
             "  - {name: pool, op: max_pool2d, inputs: [relu1]}\n"
             "  - {name: flat, op: flatten, inputs: [pool]}\n"
             "  - {name: hidden, op: dense, inputs: [flat], units: 32}\n"
             "  - {name: bn2, op: batch_norm, inputs: [hidden]}\n"
             "  - {name: relu2, op: relu, inputs: [bn2]}\n"
             "  - {name: drop, op: dropout, inputs: [relu2], rate: 0.5}\n"
             "  - {name: logits, op: dense, inputs: [drop], units: 10}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.003}, batch_size: 32, steps: %d, seed: 11,\n"
             "        checkpoint: {path: %s, every: 1}}\n"
             "eval: {logits: logits, every: 1, samples: 200, batch_size: 100}\n",
             GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, steps, ckpt);
}

/* The parameter block (weights and state) a checkpoint holds, into `block`
 * (param_floats floats, malloc'd); the run's step into *step. */
static float *checkpoint_block(const char *cfg_path, const char *ckpt, int64_t *n, int64_t *step) {
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    cr_assert_eq(gr_config_load(&ctx, &cfg, cfg_path), 0, "%s", ctx.err);
    struct gr_session_opts opts = {.threads = 1};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    cr_assert_eq(gr_checkpoint_load(&s, ckpt, step), 0, "%s: %s", ckpt, ctx.err);
    cr_expect_eq(s.step, *step, "the session's step is the checkpoint's");
    *n = s.g.param_floats;
    float *block = malloc((size_t)*n * sizeof *block);
    cr_assert_not_null(block);
    memcpy(block, s.g.param, (size_t)*n * sizeof *block);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    return block;
}

/* the step of a checkpoint of the config `arg`, which must load */
static int64_t step_of(const char *ckpt, void *arg) {
    int64_t step = 0, n;
    free(checkpoint_block(arg, ckpt, &n, &step));
    return step;
}

Test(resume_layers, dropout_and_batch_norm_killed_and_resumed_print_the_same_losses) {
    char cfg[256], ckpt[256], straight_ckpt[256], text[4096];
    snprintf(cfg, sizeof cfg, "%s/cnn.yaml", dir);
    snprintf(ckpt, sizeof ckpt, "%s/cnn.safetensors", dir);
    snprintf(straight_ckpt, sizeof straight_ckpt, "%s/straight.safetensors", dir);
    cnn_config(text, sizeof text, ckpt, STEPS);
    tg_write_text(cfg, text);

    static char straight[65536], joined[65536];
    int kills = tg_kill_and_resume(cfg, ckpt, STEPS, dir, straight_ckpt, 4321, step_of, (void *)cfg, straight, joined,
                                   sizeof joined);
    cr_expect_geq(kills, 3, "only %d kills landed during training", kills);
    cr_expect_str_eq(joined, straight, "killed and resumed runs print the unbroken run's losses");

    /* the same weights, moments aside, and the same running statistics */
    int64_t n1, n2, s1, s2;
    float *a = checkpoint_block(cfg, straight_ckpt, &n1, &s1), *b = checkpoint_block(cfg, ckpt, &n2, &s2);
    cr_expect_eq(s1, STEPS);
    cr_expect_eq(s2, STEPS);
    cr_assert_eq(n1, n2);
    cr_expect_arr_eq(a, b, (size_t)n1 * sizeof *a, "the resumed run's parameters or state differ");
    free(a);
    free(b);
}
