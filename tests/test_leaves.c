/* A training step by leaves (runtime/session/leaves.h): each thread runs
 * the whole graph on one leaf of the batch at a time with a plan of its own,
 * and the leaves' gradients are added up the halving tree. It must give one
 * pass's parameters bit for bit where every product sums a row the same way
 * at both sizes (the LSTM's), and to rounding elsewhere; the same bits at
 * every thread count; name the node of a non-finite value in any leaf; and
 * it must not take a graph whose rows meet (batch_norm) or that draws by
 * position (dropout), a batch that does not halve evenly, or a plugin's
 * word that an op keeps rows apart. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "models/open.h"
#include "runtime/config/config.h"
#include "runtime/host/registry.h"
#include "runtime/session/leaves.h"
#include "runtime/session/session.h"

#define STEPS 6

struct run {
    struct gr_ctx ctx;
    struct gr_config cfg;
    struct gr_session s;
};

/* MNIST's first 2000 images, `graph` (YAML, the loss named loss, the logits logits), `batch`. */
static void open_run(struct run *r, const char *graph, int batch, int threads, int whole) {
    char text[4096];
    snprintf(text, sizeof text,
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte,"
             " limit: 2000}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte,"
             " limit: 200}\n"
             "graph:\n%s"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.01}, batch_size: %d, steps: %d, seed: 7}\n"
             "eval: {logits: logits, every: 100, samples: 200, batch_size: 100}\n",
             GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, graph, batch, STEPS);
    cr_assert_eq(gr_ctx_init(&r->ctx), 0);
    cr_assert_eq(gr_config_parse(&r->ctx, &r->cfg, "leaves.yaml", "", text, strlen(text)), 0, "%s", r->ctx.err);
    struct gr_session_opts opts = {.threads = threads, .whole_batch = whole};
    cr_assert_eq(gr_session_open(&r->ctx, &r->s, &r->cfg, &opts), 0, "%s (run tools/fetch_mnist.sh first)",
                 r->ctx.err);
}

static void close_run(struct run *r) {
    gr_session_close(&r->s);
    gr_config_free(&r->ctx, &r->cfg);
    gr_ctx_free(&r->ctx);
}

/* Train STEPS steps: the first step's gradient and the last parameters,
 * one block (malloc'ed: gradient, then parameters), and the losses. whole:
 * 1 one pass, 0 by leaves, SOLO by leaves on the calling thread alone, as
 * on a busy machine (leaves.h). */
#define SOLO 2
static float *train(const char *graph, int batch, int threads, int whole, int64_t want_leaves, float *loss,
                    int64_t *floats) {
    struct run r;
    open_run(&r, graph, batch, threads, whole == 1);
    if (whole == SOLO) r.s.pace.solo = 1 << 30;
    cr_assert_eq(r.s.leaves, want_leaves, "batch %d, %d threads%s: %lld leaves, expected %lld", batch, threads,
                 whole ? ", whole" : "", (long long)r.s.leaves, (long long)want_leaves);
    int64_t n = *floats = r.s.g.param_floats;
    float *p = malloc((size_t)(2 * n) * sizeof *p);
    cr_assert(p);
    for (int k = 0; k < STEPS; k++) {
        loss[k] = gr_session_step(&r.s);
        if (k == 0) memcpy(p, r.s.g.grad, (size_t)n * sizeof *p);
    }
    memcpy(p + n, r.s.g.param, (size_t)n * sizeof *p);
    close_run(&r);
    return p;
}

/* How many of n floats differ in their bits. */
static int64_t differing(const float *a, const float *b, int64_t n) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return bad;
}

/* By leaves at 1, 2 and 3 threads against one pass: the same parameters,
 * bit for bit; the loss (the leaves' mean) to rounding. */
static void same_bits(const char *graph, int batch, int64_t leaves) {
    float want_loss[STEPS], loss[STEPS];
    int64_t n, m;
    float *want = train(graph, batch, 2, 1, 1, want_loss, &n);
    for (int threads = 1; threads <= 3; threads++) {
        float *got = train(graph, batch, threads, 0, leaves, loss, &m);
        cr_assert_eq(m, n);
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < 2 * n; i++)
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0 && bad++ == 0) first = i;
        cr_expect_eq(bad, 0, "batch %d by %lld leaves, %d threads: %lld of %lld gradients and parameters differ "
                             "from one pass's (first at %lld: %.9g against %.9g)",
                     batch, (long long)leaves, threads, (long long)bad, (long long)(2 * n), (long long)first,
                     first >= 0 ? got[first] : 0.0, first >= 0 ? want[first] : 0.0);
        for (int k = 0; k < STEPS; k++)
            cr_expect(fabsf(loss[k] - want_loss[k]) <= 2e-7f * fabsf(want_loss[k]),
                      "step %d: loss %.9g by leaves, %.9g in one pass", k + 1, loss[k], want_loss[k]);
        free(got);
    }
    free(want);
}

#define IMAGE_ROWS                                                                                                    \
    "  - {name: image, op: input, data: images, shape: [784]}\n"                                                     \
    "  - {name: label, op: input, data: labels}\n"                                                                   \
    "  - {name: rows, op: reshape, inputs: [image], shape: [28, 28]}\n"

/* MNIST's rows through an lstm of `units`, its last step to the logits */
static void lstm_graph(char *buf, size_t len, int units) {
    snprintf(buf, len,
             IMAGE_ROWS "  - {name: lstm, op: lstm, inputs: [rows], num_units: %d}\n"
                        "  - {name: last, op: slice, inputs: [lstm], axis: 1, index: -1}\n"
                        "  - {name: logits, op: dense, inputs: [last], units: 10}\n"
                        "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n",
             units);
}

Test(leaves, an_lstm_by_leaves_gives_the_bits_of_one_pass, .timeout = 120) {
    /* 32 units take the fused kernels, 24 the step-by-step path */
    for (int units = 24; units <= 32; units += 8) {
        char graph[1024];
        lstm_graph(graph, sizeof graph, units);
        same_bits(graph, 128, 4);
    }
}

static void command_bits_at_1_and_3_threads(void);

/* One pass with fewer summation leaves than threads (batch 33: leaves of
 * 17 and 16; 32: one) runs each leaf's rows in parts on the threads
 * (ops/lstm.c), its product after them: the bits of one thread. */
Test(leaves, an_lstm_with_fewer_leaves_than_threads_gives_one_threads_bits, .timeout = 120) {
    static const int shapes[][2] = {{33, 16}, {32, 16}, {33, 64}, {32, 64}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        char graph[1024];
        lstm_graph(graph, sizeof graph, shapes[c][1]);
        float want_loss[STEPS], loss[STEPS];
        int64_t n, m;
        float *want = train(graph, shapes[c][0], 1, 1, 1, want_loss, &n);
        for (int threads = 2; threads <= 3; threads++) {
            float *got = train(graph, shapes[c][0], threads, 1, 1, loss, &m);
            cr_assert_eq(m, n);
            int64_t bad = differing(got, want, 2 * n);
            cr_expect_eq(bad, 0, "batch %d, %d units, one pass: %lld of %lld values differ between 1 and %d threads",
                         shapes[c][0], shapes[c][1], (long long)bad, (long long)(2 * n), threads);
            cr_expect_arr_eq(loss, want_loss, sizeof loss);
            free(got);
        }
        free(want);
    }
    command_bits_at_1_and_3_threads();
}

/* The same through the command (which may pick other OpenBLAS kernels
 * than the tests' process; graphrun's own run every product): 3 steps of
 * batch 33 at 16 units. */
static void command_bits_at_1_and_3_threads(void) {
    char tmp[256];
    tg_tmpdir(tmp, sizeof tmp, "leafparts");
    char *ck[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    for (int k = 0; k < 2; k++)
        ck[k] = tg_train_tensors(tmp, "tests", "short_mnist.yaml", k ? 3 : 1,
                                 "--set train.batch_size=33 --set graph.lstm.num_units=16", &len[k]);
    cr_expect(len[0] == len[1] && memcmp(ck[0], ck[1], len[0]) == 0,
              "graphrun train, batch 33, 16 units: the checkpoint's tensors differ between 1 and 3 threads");
    free(ck[0]), free(ck[1]);
    tg_rmtree(tmp);
}

/* By leaves a graph of GRU, RNN and every elementwise op gives the same
 * bits at every thread count, and one pass's (same_bits). */
static void same_at_every_thread_count(const char *graph, int batch, int64_t leaves) {
    float first_loss[STEPS], loss[STEPS];
    int64_t n, m;
    float *first = train(graph, batch, 1, 0, leaves, first_loss, &n);
    for (int threads = 2; threads <= 4; threads++) {
        /* 4: 3 threads, every step on the calling thread alone (its ops
         * then run there too, as in a leaf on the pool) */
        int solo = threads == 4;
        float *got = train(graph, batch, solo ? 3 : threads, solo ? SOLO : 0, leaves, loss, &m);
        cr_assert_eq(m, n);
        int64_t bad = differing(got, first, 2 * n);
        cr_expect_eq(bad, 0, "batch %d by leaves: %lld of %lld values differ between 1 and %d threads%s", batch,
                     (long long)bad, (long long)(2 * n), solo ? 3 : threads, solo ? ", all on one" : "");
        cr_expect_arr_eq(loss, first_loss, sizeof loss);
        free(got);
    }
    free(first);
}

Test(leaves, a_gru_an_rnn_and_every_elementwise_op_by_leaves_agree_at_every_thread_count, .timeout = 120) {
    /* concat, slice and flatten on the way */
    const char *mixed = IMAGE_ROWS
        "  - {name: gru, op: gru, inputs: [rows], num_units: 16}\n"
        "  - {name: rnn, op: rnn, inputs: [rows], num_units: 16}\n"
        "  - {name: both, op: concat, inputs: [gru, rnn], axis: 2}\n"
        "  - {name: last, op: slice, inputs: [both], axis: 1, index: -1}\n"
        "  - {name: flat, op: flatten, inputs: [last]}\n"
        "  - {name: hidden, op: dense, inputs: [flat], units: 32}\n"
        "  - {name: a, op: relu, inputs: [hidden]}\n"
        "  - {name: b, op: tanh, inputs: [a]}\n"
        "  - {name: c, op: sigmoid, inputs: [b]}\n"
        "  - {name: d, op: gelu, inputs: [c]}\n"
        "  - {name: e, op: leaky_relu, inputs: [d]}\n"
        "  - {name: logits, op: dense, inputs: [e], units: 10}\n"
        "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n";
    same_at_every_thread_count(mixed, 128, 4);
    same_bits(mixed, 128, 4);
}

/* Graphs whose products once changed their sums with the rows (a product
 * over k > 448 summed in one chain at a leaf's 32 rows and in blocks at
 * 256; OpenBLAS's rows past its last whole 16 of 10 logits, at leaves of
 * 25) and so agreed with one pass only to rounding: graphrun's kernels sum
 * a row the same at any rows (runtime/host/gemm.h), so now to the bit. */
Test(leaves, an_mlp_over_784_inputs_and_an_rnn_at_leaves_of_25_give_one_passs_bits, .timeout = 120) {
    const char *mlp = "  - {name: image, op: input, data: images, shape: [784]}\n"
                      "  - {name: label, op: input, data: labels}\n"
                      "  - {name: hidden, op: dense, inputs: [image], units: 64}\n"
                      "  - {name: act, op: relu, inputs: [hidden]}\n"
                      "  - {name: logits, op: dense, inputs: [act], units: 10}\n"
                      "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n";
    same_bits(mlp, 256, 8);
    const char *rnn = IMAGE_ROWS "  - {name: rnn, op: rnn, inputs: [rows], num_units: 16}\n"
                                 "  - {name: last, op: slice, inputs: [rnn], axis: 1, index: -1}\n"
                                 "  - {name: logits, op: dense, inputs: [last], units: 10}\n"
                                 "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n";
    same_bits(rnn, 100, 4);
}

static int64_t leaves_of(const char *graph, int batch) {
    struct run r;
    open_run(&r, graph, batch, 2, 0);
    int64_t n = r.s.leaves;
    close_run(&r);
    return n;
}

/* An MLP on the images with `middle` (nodes reading `hidden`, the last
 * named `mid`) between its two dense layers, or none. */
static const char *mlp_with(char *buf, size_t len, const char *middle) {
    snprintf(buf, len,
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: hidden, op: dense, inputs: [image], units: 16}\n"
             "%s"
             "  - {name: logits, op: dense, inputs: [%s], units: 10}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n",
             middle ? middle : "", middle ? "mid" : "hidden");
    return buf;
}

Test(leaves, only_graphs_whose_rows_never_meet_and_batches_that_halve_evenly_run_by_leaves, .timeout = 60) {
    char graph[1024];
    const char *mlp = mlp_with(graph, sizeof graph, NULL);
    cr_expect_eq(leaves_of(mlp, 64), 2);
    cr_expect_eq(leaves_of(mlp, 96), 4, "96 halves into four leaves of 24");
    cr_expect_eq(leaves_of(mlp, 32), 1, "one leaf: one pass");
    cr_expect_eq(leaves_of(mlp, 66), 1, "66 halves into 33, then 16 and 17: leaves of two sizes");
    /* batch_norm's statistics are over the batch: its rows meet */
    const char *norm = mlp_with(graph, sizeof graph, "  - {name: mid, op: batch_norm, inputs: [hidden]}\n");
    cr_expect_eq(leaves_of(norm, 128), 1, "batch_norm: one pass");
    /* dropout draws its masks by position in the batch */
    const char *drop = mlp_with(graph, sizeof graph, "  - {name: mid, op: dropout, inputs: [hidden], rate: 0.5}\n");
    cr_expect_eq(leaves_of(drop, 128), 1, "dropout: one pass");
    /* and with a rowwise op there, by leaves */
    const char *act = mlp_with(graph, sizeof graph, "  - {name: mid, op: tanh, inputs: [hidden]}\n");
    cr_expect_eq(leaves_of(act, 128), 4, "tanh: by leaves");
}

/* One sample of 128 overflows the loss; whichever leaf and thread took it,
 * the message names the node, as one pass's does. */
Test(leaves, a_non_finite_value_in_any_leaf_is_named, .timeout = 60) {
    char dir[256], csv[300], text[2048];
    tg_tmpdir(dir, sizeof dir, "leaf-nan");
    snprintf(csv, sizeof csv, "%s/t.csv", dir);
    char *rows = malloc(128 * 32 + 16), *at = rows;
    cr_assert(rows);
    at += sprintf(at, "x,y\n");
    for (int r = 0; r < 128; r++) at += sprintf(at, "%d,%s\n", r, r == 5 ? "1e30" : "1");
    tg_write_text(csv, rows);
    free(rows);
    snprintf(text, sizeof text,
             "data:\n  train: {file: %s, csv: {header: true}}\n  test: {file: %s, csv: {header: true}}\n"
             "graph:\n"
             "  - {name: xy, op: input, data: features, shape: [2]}\n"
             "  - {name: x, op: slice, inputs: [xy], axis: 1, begin: 0, end: 1}\n"
             "  - {name: t, op: slice, inputs: [xy], axis: 1, begin: 1, end: 2}\n"
             "  - {name: pred, op: dense, inputs: [x], units: 1}\n"
             "  - {name: loss, op: mse, inputs: [pred, t]}\n"
             "train: {loss: loss, optimizer: {name: sgd, lr: 0.01}, batch_size: 128, steps: 3, seed: 1}\n",
             csv, csv);
    for (int threads = 1; threads <= 2; threads++) {
        struct gr_ctx ctx;
        cr_assert_eq(gr_ctx_init(&ctx), 0);
        struct gr_config cfg;
        cr_assert_eq(gr_config_parse(&ctx, &cfg, "nan.yaml", "", text, strlen(text)), 0, "%s", ctx.err);
        struct gr_train_opts opts = {.threads = threads};
        struct gr_train_result res;
        cr_assert_eq(gr_train(&ctx, &cfg, &opts, &res), -1, "an overflowing run reported success");
        cr_expect(strstr(ctx.err, "step 1: the loss is infinite; the first non-finite value is in the output of node "
                                  "'loss' (mse)"),
                  "%d threads: %s", threads, ctx.err);
        gr_config_free(&ctx, &cfg);
        gr_ctx_free(&ctx);
    }
    tg_rmtree(dir);
}

static int ft_infer(struct gr_infer *inf) {
    inf->out = *inf->in[0];
    return 0;
}
static void ft_forward(const struct gr_args *a) { (void)a; }

/* The flags promise graphrun's halving tree of batch sums, so only its own
 * ops may declare them. */
Test(leaves, only_built_in_ops_may_declare_that_they_keep_rows_apart) {
    struct gr_ctx ctx;
    cr_assert_eq(gr_ctx_init(&ctx), 0);
    struct gr_op_desc d = {.name = "fake_rows", .summary = "y = x", .inputs_doc = "x [B, C]", .min_inputs = 1,
                           .max_inputs = 1, .infer = ft_infer, .forward = ft_forward, .flags = GR_OP_ROWWISE};
    char err[256] = "";
    cr_expect_neq(gr_registry_add_op(ctx.reg, &d, err, sizeof err), 0, "a plugin's op declared GR_OP_ROWWISE");
    cr_expect(strstr(err, "GR_OP_ROWWISE") != NULL, "%s", err);
    d.flags = GR_OP_ROW_MEAN;
    cr_expect_neq(gr_registry_add_op(ctx.reg, &d, err, sizeof err), 0, "a plugin's op declared GR_OP_ROW_MEAN");
    d.flags = 0;
    cr_expect_eq(gr_registry_add_op(ctx.reg, &d, err, sizeof err), 0, "%s", err);
    gr_ctx_free(&ctx);
}

/* On a busy machine: GR_PACE_LATE steps in a row slower than the calling
 * thread would have been alone send the next GR_PACE_SOLO to it alone; a
 * step in time resets the count; after the solo steps, one late step
 * suffices, for twice as long each time up to GR_PACE_SOLO_MAX. Times: 2
 * leaves, the caller's at 1 s, so alone takes 2 s. */
Test(leaves, steps_go_to_the_calling_thread_alone_while_the_others_lag) {
    struct gr_leaves_pace p = {0, 0, 0};
    for (int k = 1; k < GR_PACE_LATE; k++) {
        gr_leaves_pace(&p, 2.5, 1.0, 1, 2);
        cr_expect_eq(p.solo, 0, "%d late steps: still on every thread", k);
    }
    gr_leaves_pace(&p, 1.2, 1.0, 1, 2);
    cr_expect_eq(p.late, 0, "a step in time starts the count again");
    gr_leaves_pace(&p, 2.0, 1.0, 1, 2);
    cr_expect_eq(p.late, 0, "as fast as alone is not late");
    for (int k = 0; k < GR_PACE_LATE; k++) gr_leaves_pace(&p, 2.5, 1.0, 1, 2);
    cr_expect_eq(p.solo, GR_PACE_SOLO, "%d late steps in a row: the next %d alone", GR_PACE_LATE, GR_PACE_SOLO);
    for (int64_t span = 2 * GR_PACE_SOLO; span <= 2 * GR_PACE_SOLO_MAX; span *= 2) {
        p.solo = 0;
        gr_leaves_pace(&p, 2.5, 1.0, 1, 2);
        int64_t want = span < GR_PACE_SOLO_MAX ? span : GR_PACE_SOLO_MAX;
        cr_expect_eq(p.solo, want, "back on every thread, one late step: %lld alone, expected %lld",
                     (long long)p.solo, (long long)want);
    }
    p.solo = 0;
    gr_leaves_pace(&p, 1.0, 1.0, 1, 2);
    cr_expect_eq(p.span, 0, "a step in time ends the doubling");
    for (int k = 0; k < GR_PACE_LATE; k++) gr_leaves_pace(&p, 2.5, 1.0, 1, 2);
    cr_expect_eq(p.solo, GR_PACE_SOLO, "and the count starts over");
    p.solo = 0;
    gr_leaves_pace(&p, 1.0, 1.0, 1, 2);
    gr_leaves_pace(&p, 3.9, 1.0, 2, 8); /* 8 leaves, the caller's at 0.5 s: 4 s alone */
    cr_expect_eq(p.late, 0, "8 leaves in 3.9 s where alone takes 4 s: in time");
    gr_leaves_pace(&p, 9.0, 0, 0, 2);
    cr_expect_eq(p.late, 0, "a step whose caller ran no leaf counts as in time");
}
