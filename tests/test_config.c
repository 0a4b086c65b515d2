/* The config front-end on good files and broken ones: every error names the
 * file, line and column, and says what is wrong. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_cases.h"
#include "helpers.h"
#include "runtime/engine/optim.h"
#include "runtime/config/config.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"

TestSuite(config, .init = make_data, .fini = remove_data);

Test(config, the_base_config_opens) {
    char text[4096], err[1024];
    with_line(text, sizeof text, 0, NULL);
    cr_assert_eq(open_config(text, err, sizeof err), 0, "%s", err);
}

Test(config, the_shipped_config_parses) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    char path[512];
    snprintf(path, sizeof path, "%s/configs/lstm_mnist.yaml", GR_SOURCE_DIR);
    cr_assert_eq(gr_config_load(&ctx, &cfg, path), 0, "%s", ctx.err);
    cr_expect_eq(cfg.batch_size, 64);
    cr_expect_eq(cfg.steps, 1200);
    cr_expect_str_eq(cfg.optim.desc->name, "adam");
    cr_expect_float_eq(cfg.optim.lr, 0.01, 1e-12);
    cr_expect_eq(cfg.eval_every, 50);
    cr_expect_eq(cfg.eval_samples, 2000);
    cr_expect(strstr(cfg.data.train.files[0].path, "/configs/../data/mnist/train-images-idx3-ubyte"),
              "data paths are relative to the config: %s", cfg.data.train.files[0].path);
    /* and its graph builds into the tutorial's shapes */
    struct gr_graph g;
    gr_graph_init(&g, &ctx, cfg.path);
    cr_assert_eq(gr_build_graph(&ctx, &g, cfg.path, cfg.graph, 64), 0, "%s", ctx.err);
    const struct gr_node *lstm = &g.nodes[gr_graph_find(&g, "lstm")], *logits = &g.nodes[gr_graph_find(&g, "logits")];
    cr_expect_eq(lstm->shape.rank, 3);
    cr_expect_eq(lstm->shape.dim[1], 28);
    cr_expect_eq(lstm->shape.dim[2], 64);
    cr_expect_eq(logits->shape.dim[1], 10);
    gr_graph_free(&g);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

struct bad {
    int line;           /* line of the base to replace; 0: `text` is the whole file */
    const char *text;
    const char *expect; /* the message must contain this */
    int line2;          /* optionally a second line to replace */
    const char *text2;
};

static const struct bad bad_configs[] = {
    /* the config's own keys */
    {12, "trian:", "test.yaml:12:1: unknown key 'trian' in the config (did you mean 'train'?)"},
    {15, "  batch_sise: 4", "test.yaml:15:3: unknown key 'batch_sise' in train (did you mean 'batch_size'?)"},
    {15, "  batch_size: -3", "test.yaml:15:15: train.batch_size: expected an integer in [1, 1048576], got -3"},
    {15, "  batch_size: 0", "test.yaml:15:15: train.batch_size: expected an integer in [1, 1048576], got 0"},
    {15, "  batch_size: 4.5", "test.yaml:15:15: train.batch_size: expected an integer in [1, 1048576], got '4.5'"},
    {15, "  batch_size: [4]", "test.yaml:15:15: train.batch_size: expected an integer in [1, 1048576], got a list"},
    {14, "  optimizer: {name: adam, lr: 0}", "test.yaml:14:31: train.optimizer.lr: expected a number in (0, 1000], got 0"},
    {14, "  optimizer: {name: adam, lr: 0.01, epsilon: 0}", "test.yaml:14:46: train.optimizer.epsilon: expected a number in (0, 1], got 0"},
    {14, "  optimizer: {name: adam, lr: 0.01, beta2: 1}", "test.yaml:14:44: train.optimizer.beta2: expected a number in [0, 0.999999999], got 1"},
    {16, "  steps: 10\n  seed: -1", "test.yaml:17:9: train.seed: expected an integer in [0, 9223372036854775807], got -1"},
    {16, "  steps: 2147483648", "test.yaml:16:10: train.steps: expected an integer in [1, 2147483647], got 2147483648"},
    {14, "  optimizer: {name: adam, lr: -0.5}", "test.yaml:14:31: train.optimizer.lr: expected a number in (0, 1000], got -0.5"},
    {14, "  optimizer: {name: adam, lr: \"0.01\"}", "test.yaml:14:31: train.optimizer.lr: expected a number in (0, 1000], got string '0.01'"},
    {14, "  optimizer: {name: adam, lr: nan}", "test.yaml:14:31: train.optimizer.lr: expected a number in (0, 1000], got 'nan'"},
    {14, "  optimizer: {name: adamm, lr: 0.01}", "test.yaml:14:21: train.optimizer.name: unknown value 'adamm' (did you mean 'adam'?)"},
    {14, "  optimizer: {name: adam, lr: 0.01, momentum: 0.9}", "test.yaml:14:37: unknown key 'momentum' in train.optimizer (adam)"},
    {14, "  optimizer: {lr: 0.01}", "test.yaml:14:14: train.optimizer: missing 'name'"},
    {14, "  optimizer: {name: sgd, lr: 0.1, beta1: 0.9}", "test.yaml:14:35: unknown key 'beta1' in train.optimizer (sgd)"},
    {16, "  epochs: 2\n  steps: 3", "test.yaml:16:11: train: give either 'steps' or 'epochs', not both"},
    {16, "", "test.yaml:13:3: train: missing 'steps' (or 'epochs')"},
    {16, "  steps: 1e3", "test.yaml:16:10: train.steps: expected an integer in [1, 2147483647], got '1e3'"},
    {13, "  loss: los", "test.yaml:13:9: train.loss: no node named 'los' (did you mean 'loss'?)"},
    {17, "eval: {logits: logit, every: 5}", "test.yaml:17:16: eval.logits: no node named 'logit' (did you mean 'logits'?)"},
    {17, "eval: {logits: logits, every: 0}", "test.yaml:17:31: eval.every: expected an integer in [1, 2147483647], got 0"},
    {1, "dta:", "test.yaml:1:1: unknown key 'dta' in the config (did you mean 'data'?)"},
    {2, "  train: {images: tr-img}", "test.yaml:6:36: node 'label': data: data.train has no array 'labels' (it has images)"},
    {2, "  train: {images: tr-img, labels: tr-lab, limit: -1}", "test.yaml:2:50: data.train.limit: expected an integer in [1, 2147483647], got -1"},
    {3, "  test: {images: te-img, labels: te-lab}\n  pixel_range: [1, 0]", "test.yaml:4:16: data.pixel_range: low (1) must be below high (0)"},
    {3, "  test: {images: te-img, labels: te-lab}\n  pixel_range: [0]", "test.yaml:4:16: data.pixel_range: expected [low, high], got 1 values"},
    /* the graph's nodes */
    {0, "data: {train: {images: a, labels: b}, test: {images: a, labels: b}}\ngraph: {image: 1}\n",
     "test.yaml:2:8: graph: expected a list, got a mapping"},
    {5, "  - {data: images, shape: [16]}", "test.yaml:5:5: graph[0]: node has no 'op' (nor 'use')"},
    {5, "  - {name: image, data: images, shape: [16]}", "test.yaml:5:5: node 'image': no 'op'"},
    {5, "  - {name: im.age, op: input, data: images, shape: [16]}", "test.yaml:5:12: node name 'im.age': use 1-63 letters"},
    {8, "  - {name: lstm, op: lstn, inputs: [rows], num_units: 8}", "test.yaml:8:22: node 'lstm': unknown op 'lstn' (did you mean 'lstm'?)"},
    {8, "  - {name: lstm, op: lstm, inputs: [rows], num_unit: 8}", "test.yaml:8:44: unknown key 'num_unit' in node 'lstm' (op lstm) (did you mean 'num_units'?)"},
    {8, "  - {name: lstm, op: lstm, inputs: [rows], num_units: -3}", "test.yaml:8:55: node 'lstm': num_units: expected an integer in [1, 1048576], got -3"},
    {8, "  - {name: lstm, op: lstm, inputs: [rows]}", "test.yaml:8:5: node 'lstm': op 'lstm' needs attribute 'num_units' (hidden units H)"},
    {8, "  - {name: lstm, op: lstm, inputs: [rows], num_units: 8, forget_bias: yes}", "test.yaml:8:71: node 'lstm': forget_bias: expected a number, got 'yes'"},
    {8, "  - {name: lstm, op: lstm, inputs: [rowz], num_units: 8}", "test.yaml:8:37: node 'lstm': input 'rowz' names no node (did you mean 'rows'?)"},
    {8, "  - {name: lstm, op: lstm, inputs: [rows, image], num_units: 8}", "test.yaml:8:36: node 'lstm': op 'lstm' takes at most 1 input, got 2"},
    {8, "  - {name: lstm, op: lstm, inputs: [], num_units: 8}", "test.yaml:8:36: node 'lstm': op 'lstm' takes 1 input, got 0"},
    {11, "  - {name: loss, op: softmax_cross_entropy}", "test.yaml:11:5: node 'loss': op 'softmax_cross_entropy' takes 2 inputs: name them with 'inputs'"},
    {9, "  - {name: rows, op: slice, inputs: [lstm], axis: 1, index: -1}", "test.yaml:9:12: node name 'rows' is already used at line 7"},
    {7, "  - {name: rows, op: reshape, inputs: [last], shape: [4, 4]}", "node 'rows': the graph has a cycle: rows -> lstm -> last -> rows"},
    {7, "  - {name: rows, op: reshape, inputs: [image], shape: [4, 5]}", "test.yaml:7:55: node 'rows': shape holds 20 values per sample, but the input has 16"},
    {7, "  - {name: rows, op: reshape, inputs: [image], shape: [-1, -1]}", "test.yaml:7:55: node 'rows': only one entry may be -1"},
    {7, "  - {name: rows, op: reshape, inputs: [image], shape: [4, 0]}", "test.yaml:7:55: node 'rows': entries must be positive or -1"},
    {8, "  - {name: lstm, op: lstm, inputs: [image], num_units: 8}", "test.yaml:8:5: node 'lstm': input must be [batch, time, features], got [4, 16]"},
    {9, "  - {name: last, op: slice, inputs: [lstm], axis: 0, index: -1}", "test.yaml:9:51: node 'last': axis 0 is the batch and cannot be sliced"},
    {9, "  - {name: last, op: slice, inputs: [lstm], axis: 1, index: 4}", "test.yaml:9:61: node 'last': index 4 is out of range for an axis of 4"},
    {9, "  - {name: last, op: slice, inputs: [lstm], axis: 3, index: 0}", "test.yaml:9:51: node 'last': axis 3 is out of range for rank 3"},
    {9, "  - {name: last, op: slice, inputs: [lstm], axis: 1, index: 0, begin: 1}", "node 'last': give either index or begin/end, not both"},
    {10, "  - {name: logits, op: dense, inputs: [label], units: 3}", "test.yaml:10:5: node 'logits': input must be float32"},
    {11, "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, rows]}", "test.yaml:11:5: node 'loss': target distributions of shape [4, 4, 4] do not match logits [4, 3]"},
    {11, "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label], axis: 1}", "test.yaml:11:70: unknown key 'axis' in node 'loss' (op softmax_cross_entropy)"},
    {6, "  - {name: label, op: input, data: label}", "test.yaml:6:36: node 'label': data: no dataset has an array 'label' (did you mean 'labels'?)"},
    /* init: the initializers of an op's own parameters */
    {10, "  - {name: logits, op: dense, inputs: [last], units: 3, init: {kernal: he_normal}}",
     "test.yaml:10:64: node 'logits': init: op 'dense' has no parameter 'kernal' (did you mean 'kernel'?)"},
    {10, "  - {name: logits, op: dense, inputs: [last], units: 3, init: {gamma: ones}}",
     "test.yaml:10:64: node 'logits': init: op 'dense' has no parameter 'gamma' (its parameters: kernel, bias)"},
    {10, "  - {name: logits, op: dense, inputs: [last], units: 3, init: {kernel: he_norml}}",
     "test.yaml:10:72: node 'logits': init.kernel: unknown value 'he_norml' (did you mean 'he_normal'?)"},
    {10, "  - {name: logits, op: dense, inputs: [last], units: 3, init: he_normal}",
     "test.yaml:10:63: node 'logits': init: expected a mapping from parameter to initializer, e.g. {kernel: "
     "he_normal}, got a scalar"},
    {10, "  - {name: bn, op: batch_norm, inputs: [last], init: {running_mean: ones}}\n"
         "  - {name: logits, op: dense, inputs: [bn], units: 3}",
     "test.yaml:10:55: node 'bn': init: 'running_mean' is state of op 'batch_norm', not a trained parameter; it "
     "starts at the op's own values"},
    {9, "  - {name: last, op: slice, inputs: [lstm], axis: 1, index: -1, init: {x: ones}}",
     "test.yaml:9:65: unknown key 'init' in node 'last' (op slice)"},
    /* YAML itself */
    {14, "  optimizer: {name: adam, lr: 0.01", "test.yaml:15:13: YAML syntax error"},
    {16, "  steps: 10\n  steps: 20", "test.yaml:17:3: duplicate key 'steps' (first given at line 16)"},
    {13, "  loss: *nowhere", "test.yaml:13:9: alias '*nowhere' names no anchor defined before it"},
    {0, "", "test.yaml: the config is empty"},
    {0, "- 1\n- 2\n", "test.yaml:1:1: config: expected a mapping, got a list"},
    {0, "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
     "document too large: more than 100000 YAML nodes (after expanding aliases)"},
};

Test(config, every_broken_config_gets_its_message) {
    char text[8192], err[1024];
    int n = (int)(sizeof bad_configs / sizeof bad_configs[0]);
    for (int i = 0; i < n; i++) {
        const struct bad *b = &bad_configs[i];
        if (b->line) with_lines(text, sizeof text, b->line, b->text, b->line2, b->text2);
        else snprintf(text, sizeof text, "%s", b->text);
        int rc = open_config(text, err, sizeof err);
        cr_expect_eq(rc, -1, "case %d was accepted:\n%s", i, text);
        cr_expect(strstr(err, b->expect) != NULL, "case %d:\n  expected: %s\n  got:      %s", i, b->expect, err);
        cr_expect(strchr(err, '\n') == NULL, "case %d: the message spans lines: %s", i, err);
    }
    cr_expect_geq(n, 40);
}

/* Errors that need the data: the graph and the files must agree. */
static const struct bad bad_with_data[] = {
    {15, "  batch_size: 21", "test.yaml:15:15: train.batch_size: 21 is larger than the 20 training samples"},
    {17, "eval: {logits: logits, samples: 11}", "test.yaml:17:33: eval.samples: 11 is more than the 10 test samples"},
    {5, "  - {name: image, op: input, data: images, shape: [15]}", "test.yaml:5:51: node 'image': shape holds 15 values per sample, but the images are [4, 4] (16 values)",
     7, "  - {name: rows, op: reshape, inputs: [image], shape: [3, 5]}"},
    {10, "  - {name: logits, op: dense, inputs: [last], units: 2}", "test.yaml:2:35: data.train.labels: label 2 at index 2 is out of range: node 'logits' has 2 classes"},
    {17, "eval: {logits: lstm}", "test.yaml:17:16: eval.logits: node 'lstm' must be float32 [batch, classes], its shape is [4, 4, 8]"},
    {2, "  train: {images: no-such-file, labels: tr-lab}", "test.yaml:2:19: data.train: "},
    {2, "  train: {images: tr-img, labels: te-lab}", "test.yaml:2:35: data.train: "},
    {3, "  test: {images: tr-lab, labels: te-lab}", "test.yaml:3:18: data.test: "},
};

Test(config, errors_found_against_the_data) {
    char text[8192], err[1024];
    int n = (int)(sizeof bad_with_data / sizeof bad_with_data[0]);
    for (int i = 0; i < n; i++) {
        const struct bad *b = &bad_with_data[i];
        with_lines(text, sizeof text, b->line, b->text, b->line2, b->text2);
        cr_expect_eq(open_config(text, err, sizeof err), -1, "case %d was accepted", i);
        cr_expect(strstr(err, bad_with_data[i].expect) != NULL, "case %d:\n  expected: %s\n  got:      %s", i,
                  bad_with_data[i].expect, err);
    }
}

Test(config, data_errors_name_the_file_and_the_problem) {
    char text[8192], err[1024];
    with_line(text, sizeof text, 2, "  train: {images: no-such-file, labels: tr-lab}");
    open_config(text, err, sizeof err);
    cr_expect(strstr(err, "no-such-file: cannot open: No such file or directory"), "got: %s", err);
    with_line(text, sizeof text, 2, "  train: {images: tr-img, labels: te-lab}");
    open_config(text, err, sizeof err);
    cr_expect(strstr(err, "te-lab: 10 labels, but"), "got: %s", err);
    with_line(text, sizeof text, 3, "  test: {images: tr-lab, labels: te-lab}");
    open_config(text, err, sizeof err);
    cr_expect(strstr(err, "tr-lab: images need at least 2 axes"), "got: %s", err);
}

Test(config, a_missing_file_is_an_error_not_a_crash) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    cr_expect_eq(gr_config_load(&ctx, &cfg, "/nonexistent/x.yaml"), -1);
    cr_expect(strstr(ctx.err, "/nonexistent/x.yaml: cannot open: No such file or directory"), "got: %s", ctx.err);
    gr_config_free(&ctx, &cfg);
    cr_expect_eq(gr_config_load(&ctx, &cfg, "/tmp"), -1);
    cr_expect(strstr(ctx.err, "/tmp: not a regular file"), "got: %s", ctx.err);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

Test(config, limit_and_epochs_set_the_run_length) {
    char text[8192];
    with_line(text, sizeof text, 16, "  epochs: 3");
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "test.yaml", tmpdir, text, strlen(text)), 0, "%s", ctx.err);
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    cr_expect_eq(s.steps, 15, "3 epochs of 20 samples in batches of 4");
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    with_line(text, sizeof text, 2, "  train: {images: tr-img, labels: tr-lab, limit: 8}");
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "test.yaml", tmpdir, text, strlen(text)), 0, "%s", ctx.err);
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    cr_expect_eq(s.train.n, 8);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

