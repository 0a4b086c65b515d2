/* No heap allocation in a training step after the first: every call to the
 * C allocator (ours, libc's, OpenBLAS's, Criterion's) goes through the
 * wrappers below, which count while a test watches. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "helpers.h"
#include "runtime/config/config.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

/* test-only state: one test per process, so one counter is enough */
static volatile int watching;
static volatile long allocations;

void *malloc(size_t n) {
    if (watching) allocations++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t s) {
    if (watching) allocations++;
    return __libc_calloc(n, s);
}
void *realloc(void *p, size_t n) {
    if (watching) allocations++;
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n) {
    if (watching) allocations++;
    return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n) {
    if (watching) allocations++;
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}

/* augmented: the training images augmented and a validation set held out */
static void run(int threads, int augmented) {
    char text[4096];
    snprintf(text, sizeof text,
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte, limit: 2000%s}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte, limit: 1500}\n"
             "%s"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: rows, op: reshape, inputs: [image], shape: [28, 28]}\n"
             "  - {name: lstm, op: lstm, inputs: [rows], num_units: 64}\n"
             "  - {name: last, op: slice, inputs: [lstm], axis: 1, index: -1}\n"
             "  - {name: logits, op: dense, inputs: [last], units: 10}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.01}, batch_size: 64, steps: 40}\n"
             "eval: {logits: logits, batch_size: 1000}\n",
             GR_SOURCE_DIR, GR_SOURCE_DIR, augmented ? ", augment: {shift: 2, rotate: 10, erase: {p: 0.5}}" : "",
             GR_SOURCE_DIR, GR_SOURCE_DIR, augmented ? "  validation: 300\n" : "");
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "alloc.yaml", "", text, strlen(text)), 0, "%s", ctx.err);
    struct gr_session s;
    struct gr_session_opts opts = {.threads = threads};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    /* the first step and evaluation may warm up libraries */
    gr_session_step(&s);
    gr_session_accuracy(&s, &s.test_set, 1500);
    allocations = 0;
    watching = 1;
    for (int i = 0; i < 30; i++) gr_session_step(&s);
    double acc = gr_session_accuracy(&s, &s.test_set, 1500); /* a full batch and a partial one */
    if (augmented) gr_session_accuracy(&s, &s.valid_set, 300);
    watching = 0;
    cr_expect_eq(allocations, 0, "%ld allocations in 30 steps and an evaluation (%d threads%s)", allocations, threads,
                 augmented ? ", augmented" : "");
    cr_expect_eq(s.aug_array >= 0, augmented);
    cr_expect_gt(acc, 0.2, "the steps trained (accuracy %.3f)", acc);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

Test(alloc, no_allocation_in_steps_one_thread) { run(1, 0); }

Test(alloc, no_allocation_in_steps_two_threads) { run(2, 0); }

Test(alloc, no_allocation_in_augmented_steps_and_validation) { run(2, 1); }

Test(alloc, the_wrappers_count) {
    allocations = 0;
    watching = 1;
    void *p = malloc(100);
    watching = 0;
    free(p);
    cr_expect_eq(allocations, 1, "the counting wrappers are in use");
}
