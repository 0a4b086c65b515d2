/* Datasets as a run reads them: a validation set held out of the training
 * set by the seed and never trained on, or one of its own, and what
 * periodic evaluation reads; MNIST as .npy files written by numpy training
 * to the IDX files' losses; float targets and several feature arrays from
 * files; a regression on a CSV's float column; `graphrun data`. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "runtime/config/config.h"
#include "runtime/session/evaluate.h"
#include "runtime/session/session.h"
#include "runtime/session/train.h"

static char dir[64];

static void setup(void) { tg_tmpdir(dir, sizeof dir, "data"); }

static void teardown(void) { tg_rmtree(dir); }

TestSuite(data, .init = setup, .fini = teardown, .timeout = 300);

static const char *path_in(const char *name) {
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

struct run {
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
};

static int open_run(struct run *r, const char *text, const char *const *sets, int n_sets) {
    cr_assert_eq(gr_ctx_init(&r->ctx), 0);
    cr_assert_eq(gr_config_parse_ex(&r->ctx, &r->cfg, "data.yaml", dir, text, strlen(text), sets, n_sets), 0, "%s",
                 r->ctx.err);
    struct gr_session_opts opts = {.threads = 1};
    return gr_session_open(&r->ctx, &r->s, &r->cfg, &opts);
}

static void close_run(struct run *r) {
    gr_session_close(&r->s);
    gr_config_free(&r->ctx, &r->cfg);
    gr_ctx_free(&r->ctx);
}

/* n samples as IDX files in the test's folder: x [n, 4] uint8 (sample i
 * holds 200 at position i % 3, and i), labels y = i % 3, and wrong labels
 * z = (i + 1) % 3, which the test set reads; a graph on them. */
static void small_set(char *text, size_t len, int n, const char *extra_data, const char *extra_train) {
    uint8_t x[4 * 256] = {0}, y[256], z[256];
    cr_assert_leq(n, 256);
    for (int i = 0; i < n; i++) {
        x[4 * i + i % 3] = 200;
        x[4 * i + 3] = (uint8_t)i;
        y[i] = (uint8_t)(i % 3);
        z[i] = (uint8_t)((i + 1) % 3);
    }
    tg_write_idx(path_in("x"), 2, (uint32_t[]){(uint32_t)n, 4}, x);
    tg_write_idx(path_in("y"), 1, (uint32_t[]){(uint32_t)n}, y);
    tg_write_idx(path_in("z"), 1, (uint32_t[]){(uint32_t)n}, z);
    snprintf(text, len,
             "data:\n"
             "  train: {images: x, labels: y}\n"
             "  test: {images: x, labels: z, limit: 20}\n"
             "%s"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [4]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: logits, op: dense, inputs: [image], units: 3}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.1}, batch_size: 8, steps: 40, seed: 3%s}\n"
             "eval: {logits: logits, every: 10}\n",
             extra_data, extra_train);
}

/* Which rows a run holds out: the validation set's rows, in order. */
static void held_rows(const char *text, const char *seed, int32_t *rows, int64_t *n) {
    struct run r;
    const char *sets[] = {seed};
    cr_assert_eq(open_run(&r, text, sets, seed ? 1 : 0), 0, "%s", r.ctx.err);
    *n = r.s.valid_set.n;
    for (int64_t i = 0; i < *n; i++) rows[i] = gr_split_row(&r.s.valid_set, i);
    close_run(&r);
}

Test(data, validation_is_held_out_by_the_seed_and_never_trained_on) {
    char text[4096];
    small_set(text, sizeof text, 50, "  validation: 10\n", "");
    struct run r;
    cr_assert_eq(open_run(&r, text, NULL, 0), 0, "%s", r.ctx.err);
    cr_expect_eq(r.s.train_set.n, 40);
    cr_expect_eq(r.s.valid_set.n, 10);
    cr_expect_eq(r.s.eval_set, &r.s.valid_set, "periodic evaluation reads the validation set");
    cr_expect_eq(r.s.eval_samples, 10);
    int held[50] = {0};
    for (int64_t i = 0; i < 10; i++) held[gr_split_row(&r.s.valid_set, i)]++;
    for (int64_t i = 0; i < 40; i++) held[gr_split_row(&r.s.train_set, i)] += 2;
    for (int i = 0; i < 50; i++) cr_expect(held[i] == 1 || held[i] == 2, "row %d in both sets or neither", i);
    for (int64_t i = 1; i < 10; i++) cr_expect_lt(gr_split_row(&r.s.valid_set, i - 1), gr_split_row(&r.s.valid_set, i));
    /* 40 steps of 8: eight epochs of the 40 training rows, never a held-out one */
    int seen[50] = {0};
    for (int step = 0; step < 40; step++) {
        gr_session_step(&r.s);
        for (int k = 0; k < 8; k++) seen[r.s.idx[k]]++;
    }
    for (int i = 0; i < 50; i++)
        cr_expect_eq(seen[i], held[i] == 2 ? 8 : 0, "row %d trained on %d times", i, seen[i]);
    close_run(&r);

    /* the seed decides the set: again the same, another seed another */
    int32_t a[50], b[50], c[50];
    int64_t na, nb, nc;
    held_rows(text, NULL, a, &na);
    held_rows(text, NULL, b, &nb);
    held_rows(text, "train.seed=4", c, &nc);
    cr_expect(na == 10 && nb == 10 && nc == 10);
    cr_expect(memcmp(a, b, sizeof a[0] * 10) == 0, "the same seed holds the same rows out");
    cr_expect(memcmp(a, c, sizeof a[0] * 10) != 0, "another seed holds other rows out");
    /* a fraction of data.train, rounded: 0.25 of 50 */
    held_rows(text, "data.validation=0.25", c, &nc);
    cr_expect_eq(nc, 13);
}

/* The run's periodic accuracy is the validation set's: its labels are
 * right, the test set's wrong (z), so the two accuracies are far apart. */
Test(data, eval_on_chooses_the_set_periodic_evaluation_reads) {
    char text[4096];
    small_set(text, sizeof text, 50, "  validation: 10\n", "");
    struct run r;
    const char *on_test[] = {"eval.on=test"};
    cr_assert_eq(open_run(&r, text, on_test, 1), 0, "%s", r.ctx.err);
    cr_expect_eq(r.s.eval_set, &r.s.test_set);
    cr_expect_eq(r.s.eval_samples, 20);
    close_run(&r);
    /* a validation set of its own: the first 30 samples of the same files */
    const char *own[] = {"data.validation={images: x, labels: y, limit: 30}"};
    cr_assert_eq(open_run(&r, text, own, 1), 0, "%s", r.ctx.err);
    cr_expect_eq(r.s.train_set.n, 50, "nothing held out of data.train");
    cr_expect_eq(r.s.valid_set.n, 30);
    cr_expect_eq(r.s.eval_set, &r.s.valid_set);
    struct gr_train_result res;
    cr_assert_eq(gr_train_run(&r.s, NULL, &res), 0, "%s", r.ctx.err);
    double valid = gr_session_accuracy(&r.s, &r.s.valid_set, 30), test = gr_session_accuracy(&r.s, &r.s.test_set, 20);
    cr_expect_eq(res.last_eval_accuracy, valid, "periodic evaluation reads the validation set");
    cr_expect_eq(res.test_accuracy, test, "the final line reads the whole test set");
    cr_expect(valid > 0.9 && test < 0.1, "validation %g, test %g", valid, test);
    close_run(&r);
}

/* The metrics rows' step, epoch, loss and accuracy (lr and wall time left out). */
static char *metrics_core(const char *run) {
    char path[512], *text, *out;
    snprintf(path, sizeof path, "%s/metrics.csv", run);
    cr_assert_not_null(text = tg_slurp(path, NULL), "%s", path);
    out = calloc(1, strlen(text) + 1);
    char *o = out;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int commas = 0;
        for (char *p = line; *p && commas < 4; p++) {
            commas += *p == ',';
            if (commas < 4) *o++ = *p;
        }
        *o++ = '\n';
    }
    free(text);
    return out;
}

static void train_quietly(const char *config, const char *run, const char *extra) {
    char *out = NULL;
    int rc = tg_sh(&out, "'%s' train '%s' --run-dir '%s' --threads 1 --quiet %s 2>&1", GR_BUILD_DIR "/graphrun",
                   config, run, extra);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
}

/* tools/make_npy_mnist.py writes MNIST as np.save does; the reference
 * config with its four paths pointed at those files trains to the same
 * losses and accuracies, row for row (the same seed and threads; both runs
 * shortened to 150 steps by the same overrides). */
Test(data, mnist_as_npy_written_by_numpy_trains_to_the_idx_losses) {
    char *out = NULL;
    int rc = tg_sh(&out, "/usr/bin/python3 '%s/tools/make_npy_mnist.py' '%s' '%s' 2>&1", GR_SOURCE_DIR, tg_mnist(""),
                   dir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char *text = tg_slurp(GR_SOURCE_DIR "/configs/lstm_mnist.yaml", NULL), npy[8192];
    cr_assert_not_null(text);
    const char *idx[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                          "t10k-labels-idx1-ubyte"};
    const char *npys[4] = {"train-images.npy", "train-labels.npy", "t10k-images.npy", "t10k-labels.npy"};
    size_t at = 0;
    for (const char *p = text; *p;) {
        int hit = -1;
        for (int k = 0; k < 4; k++)
            if (!strncmp(p, "../data/mnist/", 14) && !strncmp(p + 14, idx[k], strlen(idx[k]))) hit = k;
        if (hit < 0) {
            npy[at++] = *p++;
            continue;
        }
        at += (size_t)snprintf(npy + at, sizeof npy - at, "%s/%s", dir, npys[hit]);
        p += 14 + strlen(idx[hit]);
    }
    npy[at] = 0;
    cr_assert(strstr(npy, "t10k-labels.npy") && !strstr(npy, "idx"), "four paths replaced:\n%s", npy);
    tg_write_text(path_in("npy.yaml"), npy);
    free(text);
    const char *shorter = "--set train.steps=150 --set train.checkpoint.every=1000";
    train_quietly(GR_SOURCE_DIR "/configs/lstm_mnist.yaml", path_in("idx-run"), shorter);
    train_quietly(path_in("npy.yaml"), path_in("npy-run"), shorter);
    char *a = metrics_core(path_in("idx-run")), *b = metrics_core(path_in("npy-run"));
    cr_expect(strlen(a) > 300, "15 rows:\n%s", a);
    cr_expect_str_eq(b, a, "the .npy run's rows differ from the IDX run's");
    free(a);
    free(b);
}

/* 30 samples of 4 float32 features (class c = i % 3 puts 1 at feature c),
 * their classes as int64 and as one-hot float32 rows, as .npy files. */
static void class_files(void) {
    float x[30 * 4] = {0}, onehot[30 * 3] = {0};
    int64_t cls[30];
    for (int i = 0; i < 30; i++) {
        x[4 * i + i % 3] = 1;
        x[4 * i + 3] = (float)i / 30;
        onehot[3 * i + i % 3] = 1;
        cls[i] = i % 3;
    }
    tg_write_npy(path_in("x.npy"), "<f4", "(30, 4)", x, sizeof x);
    tg_write_npy(path_in("t.npy"), "<f4", "(30, 3)", onehot, sizeof onehot);
    tg_write_npy(path_in("c.npy"), "<i8", "(30,)", cls, sizeof cls);
}

static void class_config(char *text, size_t len, const char *target_input, const char *eval_labels) {
    snprintf(text, len,
             "data:\n"
             "  train: {arrays: {x: x.npy, targets: t.npy}, labels: c.npy}\n"
             "  test: {arrays: {x: x.npy, targets: t.npy}, labels: c.npy}\n"
             "graph:\n"
             "  - {name: in, op: input, data: x, shape: [4]}\n"
             "  - %s\n"
             "  - {name: logits, op: dense, inputs: [in], units: 3}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, y]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.05}, batch_size: 6, steps: 20, seed: 2}\n"
             "eval: {logits: logits, labels: %s}\n",
             target_input, eval_labels);
}

/* Float targets from a file feed softmax_cross_entropy: one-hot rows give
 * the losses the class indices give, and accuracy counts their argmax. */
Test(data, float_targets_from_a_file_train_like_class_indices) {
    class_files();
    char a[2048], b[2048];
    class_config(a, sizeof a, "{name: y, op: input, data: labels}", "labels");
    class_config(b, sizeof b, "{name: y, op: input, data: targets, shape: [3]}", "targets");
    struct run ra, rb;
    cr_assert_eq(open_run(&ra, a, NULL, 0), 0, "%s", ra.ctx.err);
    cr_assert_eq(open_run(&rb, b, NULL, 0), 0, "%s", rb.ctx.err);
    cr_expect_eq(ra.s.g.nodes[gr_graph_find(&ra.s.g, "y")].dtype, GR_I32);
    cr_expect_eq(rb.s.g.nodes[gr_graph_find(&rb.s.g, "y")].dtype, GR_F32);
    for (int k = 0; k < 20; k++) {
        float la = gr_session_step(&ra.s), lb = gr_session_step(&rb.s);
        cr_expect(fabsf(la - lb) <= 1e-6f * fabsf(la), "step %d: %.9g with indices, %.9g with one-hot rows", k, la, lb);
    }
    double acc_a = gr_session_accuracy(&ra.s, &ra.s.test_set, 30), acc_b = gr_session_accuracy(&rb.s, &rb.s.test_set, 30);
    cr_expect_eq(acc_a, acc_b);
    cr_expect_gt(acc_a, 0.9);
    close_run(&ra);
    close_run(&rb);
}

/* The periodic evaluation measures the loss only where every evaluation set
 * holds what the loss reads: a test set without the training targets is
 * evaluated for its accuracy alone, and opens. */
Test(data, a_test_set_without_what_the_loss_reads_is_evaluated_for_accuracy) {
    class_files();
    char text[2048], cut[2048];
    class_config(text, sizeof text, "{name: y, op: input, data: targets, shape: [3]}", "labels");
    const char *was = "  test: {arrays: {x: x.npy, targets: t.npy}", *test = strstr(text, was);
    cr_assert_not_null(test);
    snprintf(cut, sizeof cut, "%.*s  test: {arrays: {x: x.npy}%s", (int)(test - text), text, test + strlen(was));
    struct run r;
    cr_assert_eq(open_run(&r, cut, NULL, 0), 0, "%s", r.ctx.err);
    cr_expect_eq(r.s.n_eval_targets, 1);
    struct gr_measure m;
    gr_session_measure(&r.s, &r.s.test_set, 30, &m);
    cr_expect_eq(m.has_loss, 0);
    close_run(&r);
    class_config(text, sizeof text, "{name: y, op: input, data: targets, shape: [3]}", "labels");
    cr_assert_eq(open_run(&r, text, NULL, 0), 0, "%s", r.ctx.err);
    cr_expect_eq(r.s.n_eval_targets, 2, "with the targets in the test set, the loss is measured too");
    close_run(&r);
}

/* A regression on a CSV's float column: y = 2x - 1 + x^2 / 10, read as
 * float32 targets by an input that says so, fitted with mse. */
Test(data, a_regression_on_a_csv_float_column) {
    FILE *f = fopen(path_in("line.csv"), "w");
    cr_assert_not_null(f);
    fprintf(f, "x,y\n");
    for (int i = 0; i < 64; i++) {
        double x = -1 + 2.0 * i / 63;
        fprintf(f, "%.6f,%.6f\n", x, 2 * x - 1 + x * x / 10);
    }
    fclose(f);
    char text[2048];
    snprintf(text, sizeof text,
             "data:\n"
             "  train: {file: line.csv, csv: {label: y}}\n"
             "  test: {file: line.csv, csv: {label: y}}\n"
             "graph:\n"
             "  - {name: x, op: input, data: features, shape: [1]}\n"
             "  - {name: y, op: input, data: labels, dtype: float32, shape: [1]}\n"
             "  - {name: h, op: dense, inputs: [x], units: 16}\n"
             "  - {name: a, op: tanh, inputs: [h]}\n"
             "  - {name: pred, op: dense, inputs: [a], units: 1}\n"
             "  - {name: loss, op: mse, inputs: [pred, y]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.02}, batch_size: 16, steps: 600, seed: 1}\n");
    struct run r;
    cr_assert_eq(open_run(&r, text, NULL, 0), 0, "%s", r.ctx.err);
    float first = gr_session_step(&r.s), last = 0;
    for (int k = 1; k < 600; k++) last = gr_session_step(&r.s);
    cr_expect(first > 0.3f && last < 2e-3f, "mse from %g to %g", first, last);
    close_run(&r);
    /* without dtype, `data: labels` is int32, which float values cannot feed */
    const char *int_labels[] = {"graph.y={name: y, op: input, data: labels, shape: [1]}"};
    cr_assert_eq(open_run(&r, text, int_labels, 1), -1);
    cr_expect(strstr(r.ctx.err, "an int32 input reads uint8 or int32 arrays (dtype: float32 reads floats)") != NULL,
              "%s", r.ctx.err);
    close_run(&r);
}

/* Two inputs read two arrays of one dataset, each its own file and type. */
Test(data, several_arrays_feed_several_inputs) {
    class_files();
    uint8_t b[30 * 2];
    for (int i = 0; i < 60; i++) b[i] = (uint8_t)(4 * i);
    tg_write_npy(path_in("b.npy"), "|u1", "(30, 2)", b, sizeof b);
    char text[2048];
    snprintf(text, sizeof text,
             "data:\n"
             "  train: {arrays: {x: x.npy, b: b.npy}, labels: c.npy}\n"
             "  test: {arrays: {x: x.npy, b: b.npy}, labels: c.npy}\n"
             "  pixel_range: [0, 255]\n"
             "graph:\n"
             "  - {name: ix, op: input, data: x, shape: [4]}\n"
             "  - {name: ib, op: input, data: b, shape: [2]}\n"
             "  - {name: y, op: input, data: labels}\n"
             "  - {name: both, op: concat, inputs: [ix, ib]}\n"
             "  - {name: logits, op: dense, inputs: [both], units: 3}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, y]}\n"
             "train: {loss: loss, optimizer: {name: sgd, lr: 0.001}, batch_size: 5, steps: 3, seed: 4}\n");
    struct run r;
    cr_assert_eq(open_run(&r, text, NULL, 0), 0, "%s", r.ctx.err);
    int ix = gr_graph_find(&r.s.g, "ix"), ib = gr_graph_find(&r.s.g, "ib"), iy = gr_graph_find(&r.s.g, "y");
    for (int step = 0; step < 3; step++) {
        gr_session_step(&r.s);
        const float *fx = r.s.tp.val[ix].data, *fb = r.s.tp.val[ib].data;
        const int32_t *fy = r.s.tp.val[iy].data;
        for (int k = 0; k < 5; k++) {
            int row = r.s.idx[k];
            for (int j = 0; j < 3; j++) cr_expect_eq(fx[4 * k + j], j == row % 3 ? 1.0f : 0.0f);
            cr_expect_eq(fb[2 * k], (float)(8 * row));
            cr_expect_eq(fb[2 * k + 1], (float)(8 * row + 4));
            cr_expect_eq(fy[k], row % 3);
        }
    }
    close_run(&r);
}

/* graphrun data on the corpus' valid config: 20 and 10 images of 4x4
 * (bytes (7 i) mod 256), labels i mod 3. */
Test(data, the_data_command_counts_and_ranges) {
    char *out = NULL;
    int rc = tg_sh(&out, "cd '%s/tests/bad' && '%s' data configs/ok.yaml --set data.validation=5 2>&1", GR_SOURCE_DIR,
                   GR_BUILD_DIR "/graphrun");
    cr_assert_eq(rc, 0, "%s", out);
    const char *want[] = {
        "data.train (less the validation set): 15 samples\n  configs/../data/train-images (idx)\n",
        "    images       uint8    [4, 4]           (uint8 in the file)  values 0 to 255 (inputs 0 to 1)\n",
        "data.validation (held out of data.train by train.seed 0): 5 samples\n",
        "data.test: 10 samples\n",
        "      histogram: 0: 4 1: 3 2: 3\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) cr_expect(strstr(out, want[i]), "no %s in:\n%s", want[i], out);
    /* the training and validation histograms add up to the files' 7, 7 and 6 */
    int h[2][3], found = 0;
    for (const char *p = out; (p = strstr(p, "histogram: 0: ")) && found < 2; p++, found++)
        cr_assert_eq(sscanf(p, "histogram: 0: %d 1: %d 2: %d", &h[found][0], &h[found][1], &h[found][2]), 3);
    cr_assert_eq(found, 2);
    cr_expect(h[0][0] + h[1][0] == 7 && h[0][1] + h[1][1] == 7 && h[0][2] + h[1][2] == 6, "%s", out);
    free(out);
}

/* Samples of 7 axes (an array [N, 1, 1, 1, 1, 1, 2, 2]; samples carry at
 * most 7) are named whole in a shape error and an augment error: they were
 * shown cut to their first 6 axes ([1, 1, 1, 1, 1, 2]). */
Test(data, samples_of_seven_axes_are_shown_whole) {
    float x[30 * 4];
    int64_t c[30];
    for (int i = 0; i < 30; i++) {
        c[i] = i % 3;
        for (int j = 0; j < 4; j++) x[4 * i + j] = (float)(i + j);
    }
    tg_write_npy(path_in("x7.npy"), "<f4", "(30, 1, 1, 1, 1, 1, 2, 2)", x, sizeof x);
    tg_write_npy(path_in("c7.npy"), "<i8", "(30,)", c, sizeof c);
    const char *shapes[] = {"[3]", "[4]"}, *augments[] = {"", ", augment: {array: x, shift: 1}"};
    const char *want[] = {"array 'x' of data.train is [1, 1, 1, 1, 1, 2, 2] (4 values)",
                          "array 'x' holds float32 samples of [1, 1, 1, 1, 1, 2, 2];"};
    for (int k = 0; k < 2; k++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "data:\n"
                 "  train: {arrays: {x: x7.npy}, labels: c7.npy%s}\n"
                 "  test: {arrays: {x: x7.npy}, labels: c7.npy}\n"
                 "graph:\n"
                 "  - {name: in, op: input, data: x, shape: %s}\n"
                 "  - {name: y, op: input, data: labels}\n"
                 "  - {name: logits, op: dense, inputs: [in], units: 3}\n"
                 "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, y]}\n"
                 "train: {loss: loss, optimizer: {name: sgd, lr: 0.1}, batch_size: 5, steps: 1}\n",
                 augments[k], shapes[k]);
        struct run r;
        cr_expect_neq(open_run(&r, text, NULL, 0), 0, "case %d opened", k);
        cr_expect(strstr(r.ctx.err, want[k]) != NULL, "case %d: %s", k, r.ctx.err);
        close_run(&r);
    }
}
