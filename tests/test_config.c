/* The config front-end on good files and broken ones: every error names the
 * file, line and column, and says what is wrong. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "runtime/engine/optim.h"
#include "runtime/config/config.h"
#include "models/open.h"
#include "runtime/session/evaluate.h"

/* A small valid config; cases below replace one of its lines (1-based). */
static const char *const base[] = {
    "data:",                                                                    /* 1 */
    "  train: {images: tr-img, labels: tr-lab}",                                /* 2 */
    "  test: {images: te-img, labels: te-lab}",                                 /* 3 */
    "graph:",                                                                   /* 4 */
    "  - {name: image, op: input, data: images, shape: [16]}",                  /* 5 */
    "  - {name: label, op: input, data: labels}",                               /* 6 */
    "  - {name: rows, op: reshape, inputs: [image], shape: [4, 4]}",            /* 7 */
    "  - {name: lstm, op: lstm, inputs: [rows], num_units: 8}",                 /* 8 */
    "  - {name: last, op: slice, inputs: [lstm], axis: 1, index: -1}",          /* 9 */
    "  - {name: logits, op: dense, inputs: [last], units: 3}",                  /* 10 */
    "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}",     /* 11 */
    "train:",                                                                   /* 12 */
    "  loss: loss",                                                             /* 13 */
    "  optimizer: {name: adam, lr: 0.01}",                                      /* 14 */
    "  batch_size: 4",                                                          /* 15 */
    "  steps: 10",                                                              /* 16 */
    "eval: {logits: logits, every: 5, samples: 8, batch_size: 4}",              /* 17 */
};
#define N_BASE (int)(sizeof base / sizeof base[0])

/* The base config with line `line` replaced by `text` (NULL: the base). */
static void with_lines(char *out, size_t len, int line, const char *text, int line2, const char *text2) {
    size_t used = 0;
    for (int i = 0; i < N_BASE; i++) {
        const char *l = base[i];
        if (i + 1 == line && text) l = text;
        if (i + 1 == line2 && text2) l = text2;
        used += (size_t)snprintf(out + used, len - used, "%s\n", l);
    }
}

static void with_line(char *out, size_t len, int line, const char *text) {
    with_lines(out, len, line, text, 0, NULL);
}

/* A temporary folder holding a tiny dataset: 20 training and 10 test 4x4
 * images with labels 0..2. */
static char tmpdir[64];

static void write_idx(const char *name, int rank, const uint32_t *dims, const uint8_t *data, size_t n) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    uint8_t h[4] = {0, 0, 0x08, (uint8_t)rank};
    fwrite(h, 1, 4, f);
    for (int i = 0; i < rank; i++) {
        uint8_t d[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
        fwrite(d, 1, 4, f);
    }
    fwrite(data, 1, n, f);
    fclose(f);
}

static void make_data(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/graphrun-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    uint8_t img[20 * 16], lab[20];
    for (int i = 0; i < 20 * 16; i++) img[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 20; i++) lab[i] = (uint8_t)(i % 3);
    write_idx("tr-img", 3, (uint32_t[]){20, 4, 4}, img, sizeof img);
    write_idx("tr-lab", 1, (uint32_t[]){20}, lab, 20);
    write_idx("te-img", 3, (uint32_t[]){10, 4, 4}, img, 10 * 16);
    write_idx("te-lab", 1, (uint32_t[]){10}, lab, 10);
}

/* a copy of tr-img under a name YAML has to quote (the run text's test) */
#define ODD_NAME "tr img # x: 'q' \"d\"\nline2"

static void remove_data(void) {
    const char *names[] = {"tr-img", "tr-lab", "te-img", "te-lab", ODD_NAME};
    char path[256];
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

/* Load `text` through everything up to the first training step. Returns 0,
 * or -1 with the message in `err`. */
static int open_config(const char *text, char *err, size_t len) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    struct gr_session s;
    memset(&s, 0, sizeof s);
    int rc = gr_config_parse(&ctx, &cfg, "test.yaml", tmpdir, text, strlen(text));
    struct gr_session_opts opts = {.threads = 1};
    if (rc == 0) rc = gr_session_open(&ctx, &s, &cfg, &opts);
    snprintf(err, len, "%s", rc ? ctx.err : "");
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    return rc;
}

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
    cr_expect(strstr(cfg.train_data.images, "/configs/../data/mnist/train-images-idx3-ubyte"),
              "data paths are relative to the config: %s", cfg.train_data.images);
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
    {14, "  optimizer: {name: adam, lr: -0.5}", "test.yaml:14:31: train.optimizer.lr: expected a number in [0, 1000], got -0.5"},
    {14, "  optimizer: {name: adam, lr: \"0.01\"}", "test.yaml:14:31: train.optimizer.lr: expected a number in [0, 1000], got string '0.01'"},
    {14, "  optimizer: {name: adam, lr: nan}", "test.yaml:14:31: train.optimizer.lr: expected a number in [0, 1000], got 'nan'"},
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
    {2, "  train: {images: tr-img}", "test.yaml:2:10: data.train: missing 'labels'"},
    {2, "  train: {images: tr-img, labels: tr-lab, limit: -1}", "test.yaml:2:50: data.train.limit: expected an integer in [1, 2147483647], got -1"},
    {3, "  test: {images: te-img, labels: te-lab}\n  pixel_range: [1, 0]", "test.yaml:4:16: data.pixel_range: low (1) must be below high (0)"},
    {3, "  test: {images: te-img, labels: te-lab}\n  pixel_range: [0]", "test.yaml:4:16: data.pixel_range: expected [low, high], got 1 values"},
    /* the graph's nodes */
    {0, "data: {train: {images: a, labels: b}, test: {images: a, labels: b}}\ngraph: {image: 1}\n",
     "test.yaml:2:8: graph: expected a list, got a mapping"},
    {5, "  - {op: input, data: images, shape: [16]}", "test.yaml:5:5: graph[0]: node has no 'name'"},
    {5, "  - {name: image, data: images, shape: [16]}", "test.yaml:5:5: node 'image': no 'op'"},
    {5, "  - {name: im.age, op: input, data: images, shape: [16]}", "test.yaml:5:12: node name 'im.age': use 1-63 letters"},
    {8, "  - {name: lstm, op: lstn, inputs: [rows], num_units: 8}", "test.yaml:8:22: node 'lstm': unknown op 'lstn' (did you mean 'lstm'?)"},
    {8, "  - {name: lstm, op: lstm, inputs: [rows], num_unit: 8}", "test.yaml:8:44: unknown key 'num_unit' in node 'lstm' (op lstm) (did you mean 'num_units'?)"},
    {8, "  - {name: lstm, op: lstm, inputs: [rows], num_units: -3}", "test.yaml:8:55: node 'lstm': num_units: expected an integer in [1, 1048576], got -3"},
    {8, "  - {name: lstm, op: lstm, inputs: [rows]}", "test.yaml:8:5: node 'lstm': op 'lstm' needs attribute 'num_units' (hidden units H)"},
    {8, "  - {name: lstm, op: lstm, inputs: [rows], num_units: 8, forget_bias: yes}", "test.yaml:8:71: node 'lstm': forget_bias: expected a number, got 'yes'"},
    {8, "  - {name: lstm, op: lstm, inputs: [rowz], num_units: 8}", "test.yaml:8:37: node 'lstm': input 'rowz' names no node (did you mean 'rows'?)"},
    {8, "  - {name: lstm, op: lstm, inputs: [rows, image], num_units: 8}", "test.yaml:8:36: node 'lstm': op 'lstm' takes at most 1 input, got 2"},
    {8, "  - {name: lstm, op: lstm, num_units: 8}", "test.yaml:8:5: node 'lstm': op 'lstm' takes 1 input, got 0"},
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
    {6, "  - {name: label, op: input, data: label}", "test.yaml:6:36: node 'label': data: unknown value 'label' (did you mean 'labels'?)"},
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
    {2, "  train: {images: tr-img, labels: te-lab}", "test.yaml:2:19: data.train: "},
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

/* Parse the base config with overrides; 0 or -1 with ctx->err. */
static int parse_with(struct gr_ctx *ctx, struct gr_config *cfg, const char *const *sets, int n) {
    char text[4096];
    with_line(text, sizeof text, 0, NULL);
    return gr_config_parse_ex(ctx, cfg, "test.yaml", tmpdir, text, strlen(text), sets, n);
}

Test(config, overrides_change_the_values_they_name) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    const char *sets[] = {"train.optimizer.lr=0.001", "train.batch_size=2", "graph.lstm.num_units=5",
                          "train.optimizer.beta1=0.8", "graph.3.num_units=6", "eval.every=3"};
    cr_assert_eq(parse_with(&ctx, &cfg, sets, 6), 0, "%s", ctx.err);
    cr_expect_float_eq(cfg.optim.lr, 0.001, 1e-12);
    cr_expect_float_eq(cfg.optim.hp[gr_optim_key_index(cfg.optim.desc, "beta1")], 0.8, 1e-12);
    cr_expect_eq(cfg.batch_size, 2);
    cr_expect_eq(cfg.eval_every, 3);
    /* the later override of the same node wins: graph.3 is the lstm */
    const struct gr_ynode *units = gr_ymap_get(cfg.graph->items[3], "num_units");
    cr_assert_not_null(units);
    cr_expect_str_eq(units->str, "6");
    /* the effective texts show the tree as the overrides left it */
    cr_expect(strstr(cfg.text, "lr: 0.001"), "%s", cfg.text);
    cr_expect(strstr(cfg.run_text, "num_units: 6"), "%s", cfg.run_text);
    cr_expect(strstr(cfg.run_text, "--set train.optimizer.lr=0.001 --set train.batch_size=2"), "%s", cfg.run_text);
    /* and the run builds with them: 20 samples, batch 2 */
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    cr_expect_eq(s.g.nodes[s.logits].shape.dim[0], 2);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

Test(config, the_run_text_has_absolute_paths_and_parses_back) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg, again;
    cr_assert_eq(parse_with(&ctx, &cfg, NULL, 0), 0, "%s", ctx.err);
    char want[256];
    snprintf(want, sizeof want, "images: %s/tr-img", tmpdir);
    cr_expect(strstr(cfg.run_text, want), "no '%s' in:\n%s", want, cfg.run_text);
    /* parsed from another folder, it still finds the data */
    cr_assert_eq(gr_config_parse(&ctx, &again, "run/config.yaml", "/nonexistent", cfg.run_text, strlen(cfg.run_text)),
                 0, "%s", ctx.err);
    cr_expect_str_eq(again.train_data.images, cfg.train_data.images);
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_expect_eq(gr_session_open(&ctx, &s, &again, &opts), 0, "%s", ctx.err);
    gr_session_close(&s);
    gr_config_free(&ctx, &again);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

/* Each bad override: the error starts with the override itself. */
Test(config, a_bad_override_is_named_in_its_error) {
    static const struct {
        const char *set, *text;
    } cases[] = {
        {"train.optimizer.lr=-1", "--set train.optimizer.lr=-1: train.optimizer.lr: expected a number"},
        {"train.optimizer.lr=fast", "--set train.optimizer.lr=fast: train.optimizer.lr: expected a number"},
        {"train.optimizr.lr=0.1", "--set train.optimizr.lr=0.1: unknown key 'optimizr' in train (did you mean 'optimizer'?)"},
        {"graph.lstn.num_units=3", "--set graph.lstn.num_units=3: no node 'lstn' in graph (did you mean 'lstm'?)"},
        {"graph.lstm.num_units=0", "--set graph.lstm.num_units=0: node 'lstm': num_units: expected an integer in [1, 1048576], got 0"},
        {"train.steps.x=1", "--set train.steps.x=1: 'train.steps' is a value, not a section"},
        {"train.steps", "--set train.steps: expected PATH=VALUE"},
        {"train.steps=", "--set train.steps=: no value after '='"},
        {"train.steps=[1, 2", "--set train.steps=[1, 2: the value is not YAML"},
        /* paths: every part named, nothing silently ignored */
        {".=5", "--set .=5: the path '.' has an empty part"},
        {"train..steps=5", "--set train..steps=5: the path 'train..steps' has an empty part"},
        {".train.steps=5", "--set .train.steps=5: the path '.train.steps' has an empty part"},
        {"train.steps.=5", "--set train.steps.=5: the path 'train.steps.' has an empty part"},
        {"=5", "--set =5: no path before '='"},
        {"graph.9.units=3", "--set graph.9.units=3: index 9 is out of range for graph (7 items)"},
        {"graph.lstm.inputs.x=1", "--set graph.lstm.inputs.x=1: graph.lstm.inputs is a list without named items: give an index, not 'x'"},
        {"train.loss.x.y=1", "--set train.loss.x.y=1: 'train.loss' is a value, not a section"},
        {"train.\xdd=1", "--set train.\xdd=1: the path holds a control character or is not UTF-8"},
        {"train.a\tb=1", "--set train.a\\tb=1: the path holds a control character or is not UTF-8"},
        /* ranges: the whole range, whichever bound was crossed */
        {"train.steps=0", "--set train.steps=0: train.steps: expected an integer in [1, 2147483647], got 0"},
        {"train.seed=-1", "--set train.seed=-1: train.seed: expected an integer in [0, 9223372036854775807], got -1"},
        {"train.optimizer.beta2=1", "--set train.optimizer.beta2=1: train.optimizer.beta2: expected a number in [0, 0.999999999], got 1"},
        {"train.optimizer.lr=0", "--set train.optimizer.lr=0: train.optimizer.lr: expected a number in (0, 1000], got 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gr_ctx ctx;
        cr_assert_eq(gr_ctx_init(&ctx), 0);
        struct gr_config cfg;
        int rc = parse_with(&ctx, &cfg, &cases[i].set, 1);
        if (rc == 0) {
            struct gr_session s;
            struct gr_session_opts opts = {.threads = 1};
            rc = gr_session_open(&ctx, &s, &cfg, &opts);
            gr_session_close(&s);
        }
        cr_expect_eq(rc, -1, "%s was accepted", cases[i].set);
        cr_expect(strstr(ctx.err, cases[i].text) == ctx.err, "%s\n  expected: %s\n  got:      %s", cases[i].set,
                  cases[i].text, ctx.err);
        gr_config_free(&ctx, &cfg);
        gr_ctx_free(&ctx);
    }
}

/* Open the base config with overrides through everything up to the first
 * step; 0, or -1 with the message in `err`. */
static int open_with(const char *const *sets, int n, char *err, size_t len) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    int rc = parse_with(&ctx, &cfg, sets, n);
    if (rc == 0) {
        struct gr_session s;
        struct gr_session_opts opts = {.threads = 1};
        rc = gr_session_open(&ctx, &s, &cfg, &opts);
        gr_session_close(&s);
    }
    snprintf(err, len, "%s", rc ? ctx.err : "");
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    return rc;
}

/* An error an override causes names it, wherever it is found: the config's
 * checks, the graph builder, shape inference, the checks against the data. */
Test(config, an_error_an_override_causes_names_it_wherever_found) {
    static const struct {
        const char *sets[2];
        const char *text;
    } cases[] = {
        /* shape inference, at an attribute the override wrote, or an item of it */
        {{"graph.rows.shape=[4, 5]"},
         "--set graph.rows.shape=[4, 5]: node 'rows': shape holds 20 values per sample, but the input has 16"},
        {{"graph.rows.shape.1=5"}, "--set graph.rows.shape.1=5: node 'rows': shape holds 20 values per sample"},
        /* shape inference about the node as a whole, after its inputs changed */
        {{"graph.lstm.inputs=[image]"},
         "--set graph.lstm.inputs=[image]: node 'lstm': input must be [batch, time, features], got [4, 16]"},
        {{"graph.lstm.inputs.0=image"}, "--set graph.lstm.inputs.0=image: node 'lstm': input must be [batch, time"},
        {{"graph.rows.inputs=[last]"},
         "--set graph.rows.inputs=[last]: node 'rows': the graph has a cycle: rows -> lstm -> last -> rows"},
        /* the check of the input's shape against the images */
        {{"graph.rows.shape=[3, 5]", "graph.image.shape=[15]"},
         "--set graph.image.shape=[15]: node 'image': shape holds 15 values per sample, but the images are [4, 4]"},
        /* duplicate names, whichever of the two the override wrote */
        {{"graph.last.name=rows"}, "--set graph.last.name=rows: node name 'rows' is already used at line 7"},
        {{"graph.rows.name=last"}, "--set graph.rows.name=last: node name 'last' is also used at line 9"},
        {{"graph.rows.name=x", "graph.last.name=x"},
         "--set graph.last.name=x: node name 'x' is already used by --set graph.rows.name=x"},
        {{"graph.last={name: rows, op: slice, inputs: [lstm], axis: 1, index: -1}"},
         "--set graph.last={name: rows, op: slice, inputs: [lstm], axis: 1, index: -1}: node name 'rows' is already "
         "used at line 7"},
        /* bad values inside a mapping the override wrote */
        {{"train.optimizer={name: adam, lr: fast}"},
         "--set train.optimizer={name: adam, lr: fast}: train.optimizer.lr: expected a number in [0, 1000], got 'fast'"},
        {{"graph.lstm={name: lstm, op: lstm, inputs: [rows], num_units: {n: 8}}"},
         "--set graph.lstm={name: lstm, op: lstm, inputs: [rows], num_units: {n: 8}}: node 'lstm': num_units: expected "
         "an integer in [1, 1048576], got a mapping"},
        {{"data.train={images: tr-img, labels: tr-lab, limit: {n: 1}}"},
         "--set data.train={images: tr-img, labels: tr-lab, limit: {n: 1}}: data.train.limit: expected "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[1024];
        int n = cases[i].sets[1] ? 2 : 1;
        cr_expect_eq(open_with(cases[i].sets, n, err, sizeof err), -1, "%s was accepted", cases[i].sets[n - 1]);
        cr_expect(strstr(err, cases[i].text) == err, "%s\n  expected: %s\n  got:      %s", cases[i].sets[n - 1],
                  cases[i].text, err);
    }
}

/* A message is one line, whatever a user put in a name or a value. */
Test(config, control_characters_in_a_message_are_escaped) {
    char err[1024];
    const char *set = "train.steps=[1,\n 2";
    cr_expect_eq(open_with(&set, 1, err, sizeof err), -1);
    cr_expect(strstr(err, "--set train.steps=[1,\\n 2: the value is not YAML (value:3:1: ") == err, "got: %s", err);
    char text[4096];
    with_line(text, sizeof text, 13, "  \"lo\\tss\\r\\nx\": loss");
    cr_expect_eq(open_config(text, err, sizeof err), -1);
    cr_expect_str_eq(err, "test.yaml:13:3: unknown key 'lo\\tss\\r\\nx' in train (expected one of: loss, optimizer, "
                          "batch_size, steps, epochs, seed, threads, checkpoint, log_every)");
}

/* Byte-order marks: UTF-8's is skipped, UTF-16's and UTF-32's refused. */
Test(config, a_utf8_byte_order_mark_is_skipped_others_refused) {
    char text[4096], marked[4200], err[1024];
    with_line(text, sizeof text, 0, NULL);
    snprintf(marked, sizeof marked, "\xef\xbb\xbf%s", text);
    cr_expect_eq(open_config(marked, err, sizeof err), 0, "%s", err);
    /* and positions are the file's: line 15 is still line 15 */
    with_line(text, sizeof text, 15, "  batch_size: 0");
    snprintf(marked, sizeof marked, "\xef\xbb\xbf%s", text);
    cr_expect_eq(open_config(marked, err, sizeof err), -1);
    cr_expect(strstr(err, "test.yaml:15:15: train.batch_size: expected an integer in [1, 1048576], got 0"), "%s", err);
    static const struct {
        const char *mark;
        size_t len;
        const char *name;
    } others[] = {{"\xff\xfe", 2, "UTF-16"}, {"\xfe\xff", 2, "UTF-16"}, {"\xff\xfe\0\0", 4, "UTF-32"},
                  {"\0\0\xfe\xff", 4, "UTF-32"}};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct gr_ctx ctx;
        cr_assert_eq(gr_ctx_init(&ctx), 0);
        memcpy(marked, others[i].mark, others[i].len);
        memcpy(marked + others[i].len, "d\0a\0", 4);
        struct gr_config cfg;
        cr_expect_eq(gr_config_parse(&ctx, &cfg, "test.yaml", tmpdir, marked, others[i].len + 4), -1);
        char want[128];
        snprintf(want, sizeof want, "test.yaml:1:1: the file is %s (it starts with a %s byte-order mark); save it as UTF-8",
                 others[i].name, others[i].name);
        cr_expect_str_eq(ctx.err, want);
        gr_config_free(&ctx, &cfg);
        gr_ctx_free(&ctx);
    }
}

/* Everything after the run text's first line (its comment). */
static const char *run_body(const char *run_text) {
    const char *nl = strchr(run_text, '\n');
    cr_assert_not_null(nl);
    return nl + 1;
}

/* Strings written back into the run folder's config stay what they were:
 * newlines, '#', ': ' and quotes in override values and in paths. */
Test(config, the_run_text_reads_back_as_the_same_config) {
    char src[256], dst[512];
    snprintf(src, sizeof src, "%s/tr-img", tmpdir);
    snprintf(dst, sizeof dst, "%s/%s", tmpdir, ODD_NAME);
    cr_assert_eq(link(src, dst), 0);
    const char *sets[] = {"data.train.images=\"tr img # x: 'q' \\\"d\\\"\\nline2\"",
                          "train.checkpoint.path=ck#1\n\n  two",
                          "eval.logits='logits'"};
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg, again;
    cr_assert_eq(parse_with(&ctx, &cfg, sets, 3), 0, "%s", ctx.err);
    cr_expect_str_eq(cfg.train_data.images, dst);
    char ckpt[256];
    snprintf(ckpt, sizeof ckpt, "%s/ck#1\ntwo", tmpdir);
    cr_expect_str_eq(cfg.checkpoint, ckpt);
    /* the header is one comment line naming every override */
    const char *body = run_body(cfg.run_text);
    const char *head = "# the effective config of this run: test.yaml with --set data.train.images=\"tr img # x: "
                       "'q' \\\"d\\\"\\nline2\" ";
    cr_expect(strncmp(cfg.run_text, head, strlen(head)) == 0, "%s", cfg.run_text);
    const char *tail = "--set train.checkpoint.path=ck#1\\n\\n  two --set eval.logits='logits'; paths made absolute\n";
    cr_expect(strstr(cfg.run_text, tail) == body - strlen(tail), "%s", cfg.run_text);
    /* read back from elsewhere: the same values, and the same text again */
    cr_assert_eq(gr_config_parse(&ctx, &again, "run/config.yaml", "/nonexistent", cfg.run_text, strlen(cfg.run_text)),
                 0, "%s\n%s", ctx.err, cfg.run_text);
    cr_expect_str_eq(again.train_data.images, dst);
    cr_expect_str_eq(again.checkpoint, ckpt);
    cr_expect_str_eq(again.logits, "logits");
    cr_expect_str_eq(run_body(again.run_text), body);
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_expect_eq(gr_session_open(&ctx, &s, &again, &opts), 0, "%s", ctx.err);
    gr_session_close(&s);
    gr_config_free(&ctx, &again);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

/* What the config's checks leave to the graph builder is written back too,
 * and reads back as the same tree: an empty value in a flow mapping, a key
 * '<<' an override made (plain, it would read back as a merge key). */
Test(config, the_run_text_reads_back_what_the_builder_checks_later) {
    const char *sets[] = {"graph.last={name: last, op: slice, inputs: [lstm], axis: 1, index: -1, note: }",
                          "graph.lstm.<<={num_units: 4}"};
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg, again;
    cr_assert_eq(parse_with(&ctx, &cfg, sets, 2), 0, "%s", ctx.err);
    cr_assert_eq(gr_config_parse(&ctx, &again, "run/config.yaml", "/nonexistent", cfg.run_text, strlen(cfg.run_text)),
                 0, "%s\n%s", ctx.err, cfg.run_text);
    cr_expect_str_eq(run_body(again.run_text), run_body(cfg.run_text));
    const struct gr_ynode *lstm = again.graph->items[3];
    cr_expect_str_eq(gr_ymap_get(lstm, "num_units")->str, "8", "the '<<' key merged on reading back");
    cr_expect_not_null(gr_ymap_get(lstm, "<<"));
    gr_config_free(&ctx, &again);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
}

/* A config with `relus` relu nodes chained between 'last' and 'logits'
 * (eight YAML nodes each), malloc'd. */
static char *chain_config(int relus) {
    size_t len = 4096 + (size_t)relus * 64, used = 0;
    char *text = malloc(len);
    cr_assert_not_null(text);
    for (int i = 0; i < N_BASE; i++) {
        if (i + 1 == 10) {
            for (int r = 0; r < relus; r++) {
                char prev[16];
                snprintf(prev, sizeof prev, "r%d", r - 1);
                used += (size_t)snprintf(text + used, len - used, "  - {name: r%d, op: relu, inputs: [%s]}\n", r,
                                         r ? prev : "last");
            }
            used += (size_t)snprintf(text + used, len - used,
                                     "  - {name: logits, op: dense, inputs: [r%d], units: 3}\n", relus - 1);
            continue;
        }
        used += (size_t)snprintf(text + used, len - used, "%s\n", base[i]);
    }
    return text;
}

/* The documented budget of 100,000 YAML nodes is what a config may hold
 * (it once ran out at half that, when the run's copy of the tree was
 * counted too), and going over it is an error with a position. */
Test(config, the_node_budget_is_100000_and_located, .timeout = 120) {
    char err[1024];
    char *text = chain_config(11000); /* about 88,000 nodes */
    cr_expect_eq(open_config(text, err, sizeof err), 0, "%s", err);
    /* with an override too: the run's copy and the edit stay within it */
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    const char *set = "train.steps=12";
    cr_expect_eq(gr_config_parse_ex(&ctx, &cfg, "test.yaml", tmpdir, text, strlen(text), &set, 1), 0, "%s", ctx.err);
    gr_config_free(&ctx, &cfg);
    /* an override that takes the tree over the budget is named */
    char *list = malloc(300000);
    cr_assert_not_null(list);
    size_t used = (size_t)snprintf(list, 300000, "train.pad=[0");
    for (int i = 0; i < 20000; i++) used += (size_t)snprintf(list + used, 300000 - used, ",0");
    snprintf(list + used, 300000 - used, "]");
    const char *big = list;
    cr_expect_eq(gr_config_parse_ex(&ctx, &cfg, "test.yaml", tmpdir, text, strlen(text), &big, 1), -1);
    cr_expect(strstr(ctx.err, ": the config would have more than 100000 YAML nodes") && strncmp(ctx.err, "--set train.pad=[0,0,", 21) == 0,
              "%.200s", ctx.err);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    free(list);
    free(text);
    /* over the budget in the file: the position of the first node too many */
    text = chain_config(12600);
    cr_expect_eq(open_config(text, err, sizeof err), -1);
    cr_expect(strstr(err, "test.yaml:") == err && strstr(err, ": document too large: more than 100000 YAML nodes"),
              "%s", err);
    int line = 0, col = 0;
    cr_expect_eq(sscanf(err, "test.yaml:%d:%d:", &line, &col), 2, "%s", err);
    cr_expect(line > 12000 && col > 0, "%s", err);
    free(text);
}

/* Parse YAML text into `doc` (asserts). */
static void parse_yaml(struct gr_ctx *ctx, struct gr_ydoc *doc, const char *text) {
    cr_assert_eq(gr_yaml_parse(ctx, doc, "m.yaml", text, strlen(text)), 0, "%s", ctx->err);
}

static const char *scalar_at(const struct gr_ynode *root, const char *map, const char *key) {
    const struct gr_ynode *m = gr_ymap_get(root, map), *v = m ? gr_ymap_get(m, key) : NULL;
    return v && v->kind == GR_Y_SCALAR ? v->str : NULL;
}

/* YAML 1.1 merge keys: <<: *a and <<: [*a, *b]; the mapping's own keys win
 * wherever they stand, then earlier merged mappings over later ones. */
Test(config, merge_keys_merge_mappings) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_ydoc doc;
    parse_yaml(&ctx, &doc,
               "a: &a {x: 1, y: 2}\n"
               "b: &b {y: 3, z: 4}\n"
               "c: {<<: [*a, *b], x: 9}\n"
               "d:\n  w: 0\n  <<: *b\n  y: 5\n"
               "e: {<<: {v: 7}, '<<': quoted}\n"
               "f: &f {<<: *a, k: 1}\n"
               "g: {<<: *f}\n");
    const struct gr_ynode *r = doc.root;
    cr_expect_str_eq(scalar_at(r, "c", "x"), "9");
    cr_expect_str_eq(scalar_at(r, "c", "y"), "2");
    cr_expect_str_eq(scalar_at(r, "c", "z"), "4");
    cr_expect_eq(gr_ymap_get(r, "c")->n, 3);
    cr_expect_str_eq(scalar_at(r, "d", "w"), "0");
    cr_expect_str_eq(scalar_at(r, "d", "y"), "5");
    cr_expect_str_eq(scalar_at(r, "d", "z"), "4");
    cr_expect_eq(gr_ymap_get(r, "d")->n, 3);
    /* a quoted '<<' is an ordinary key */
    cr_expect_str_eq(scalar_at(r, "e", "v"), "7");
    cr_expect_str_eq(scalar_at(r, "e", "<<"), "quoted");
    /* merges nest: g has f's keys, f's merged ones included */
    cr_expect_str_eq(scalar_at(r, "g", "x"), "1");
    cr_expect_str_eq(scalar_at(r, "g", "k"), "1");
    gr_yaml_free(&doc);
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"a: {<<: 5}\n", "m.yaml:1:9: merge key '<<': expected a mapping or a list of mappings (e.g. <<: *defaults), got a scalar"},
        {"a: &a {x: 1}\nb: {<<: [*a, [1]]}\n", "m.yaml:2:14: merge key '<<': expected a mapping or a list of mappings (e.g. <<: *defaults), got a list in the list"},
        {"a: &a {x: 1}\nb: {<<: *a, <<: *a}\n", "m.yaml:2:13: duplicate merge key '<<' (list the mappings instead: <<: [*a, *b])"},
        {"a: &a {x: 1}\nb: {<<: *a, x: 2, x: 3}\n", "m.yaml:2:19: duplicate key 'x' (first given at line 2)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(gr_yaml_parse(&ctx, &doc, "m.yaml", bad[i].text, strlen(bad[i].text)), -1, "%s", bad[i].text);
        cr_expect_str_eq(ctx.err, bad[i].err);
    }
    gr_ctx_free(&ctx);
}

/* A config that shares blocks through merge keys is the config written out;
 * a mistake in a shared block points where the block is written. */
Test(config, a_config_shares_blocks_through_merge_keys) {
    char text[4096], err[1024];
    with_lines(text, sizeof text, 8, "  - &rnn {name: lstm, op: lstm, inputs: [rows], num_units: 8}\n"
                                     "  - {<<: *rnn, name: lstm2, inputs: [lstm]}",
               9, "  - {name: last, op: slice, inputs: [lstm2], axis: 1, index: -1}");
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_config cfg;
    cr_assert_eq(gr_config_parse(&ctx, &cfg, "test.yaml", tmpdir, text, strlen(text)), 0, "%s", ctx.err);
    struct gr_session s;
    struct gr_session_opts opts = {.threads = 1};
    cr_assert_eq(gr_session_open(&ctx, &s, &cfg, &opts), 0, "%s", ctx.err);
    const struct gr_node *l2 = &s.g.nodes[gr_graph_find(&s.g, "lstm2")];
    cr_expect_str_eq(l2->op->name, "lstm");
    cr_expect_eq(l2->shape.dim[2], 8);
    cr_expect_str_eq(s.g.nodes[l2->in[0]].name, "lstm");
    /* the run's config holds the merged nodes, no '<<' */
    cr_expect(strstr(cfg.run_text, "{name: lstm2, inputs: [lstm], op: lstm, num_units: 8}"), "%s", cfg.run_text);
    gr_session_close(&s);
    gr_config_free(&ctx, &cfg);
    gr_ctx_free(&ctx);
    with_lines(text, sizeof text, 8, "  - &rnn {name: lstm, op: lstm, inputs: [rows], num_units: 0}\n"
                                     "  - {<<: *rnn, name: lstm2, inputs: [lstm]}",
               9, "  - {name: last, op: slice, inputs: [lstm2], axis: 1, index: -1}");
    cr_expect_eq(open_config(text, err, sizeof err), -1);
    cr_expect_str_eq(err, "test.yaml:8:60: node 'lstm': num_units: expected an integer in [1, 1048576], got 0");
}

/* Aliases cannot nest a tree deeper than the text may. */
Test(config, aliases_keep_the_depth_limit) {
    char text[4096];
    size_t used = (size_t)snprintf(text, sizeof text, "a: &a ");
    for (int i = 0; i < 40; i++) text[used++] = '[';
    for (int i = 0; i < 40; i++) text[used++] = ']';
    used += (size_t)snprintf(text + used, sizeof text - used, "\nb: ");
    for (int i = 0; i < 30; i++) text[used++] = '[';
    used += (size_t)snprintf(text + used, sizeof text - used, "*a");
    for (int i = 0; i < 30; i++) text[used++] = ']';
    snprintf(text + used, sizeof text - used, "\n");
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_ydoc doc;
    cr_expect_eq(gr_yaml_parse(&ctx, &doc, "m.yaml", text, strlen(text)), -1);
    cr_expect_str_eq(ctx.err, "m.yaml:2:34: nesting deeper than 64 levels (after expanding aliases)");
    gr_ctx_free(&ctx);
}
