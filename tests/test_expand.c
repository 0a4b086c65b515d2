/* The model DSL's shorthand (models/expand.h): a short graph builds the
 * graph its long form builds, node for node and weight for weight; names,
 * inputs, activations and blocks follow the stated rules; every mistake is
 * one located line; `graphrun expand` prints a config that trains to the
 * same losses. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "models/expand.h"
#include "runtime/config/config.h"

#define GRAPHRUN GR_BUILD_DIR "/graphrun"

/* A config's graph and blocks (the text holds both keys), built at batch 4. */
struct model {
    struct gr_ctx ctx;
    struct gr_ydoc doc;
    struct gr_graph g;
};

static int model_build(struct model *m, const char *yaml) {
    memset(m, 0, sizeof *m);
    cr_assert_eq(gr_ctx_init(&m->ctx), 0);
    gr_graph_init(&m->g, &m->ctx, "test.yaml");
    cr_assert_eq(gr_yaml_parse(&m->ctx, &m->doc, "test.yaml", yaml, strlen(yaml)), 0, "%s", m->ctx.err);
    const struct gr_ynode *root = m->doc.root;
    return gr_build_model(&m->ctx, &m->g, "test.yaml", gr_ymap_get(root, "graph"), gr_ymap_get(root, "blocks"), 4);
}

static void model_free(struct model *m) {
    gr_graph_free(&m->g);
    gr_yaml_free(&m->doc);
    gr_ctx_free(&m->ctx);
}

/* "name op <- in0 in1 ...", a node as one line, its parameters included. */
static void node_line(const struct gr_graph *g, int i, char *buf, size_t len) {
    const struct gr_node *nd = &g->nodes[i];
    size_t used = (size_t)snprintf(buf, len, "%s %s <-", nd->name, nd->op->name);
    for (int k = 0; k < nd->n_in && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, " %s", g->nodes[nd->in[k]].name);
}

/* The nodes of a model, one line each, into `out`. */
static void graph_lines(const struct gr_graph *g, char *out, size_t len) {
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < g->n && used < len; i++) {
        char line[512];
        node_line(g, i, line, sizeof line);
        used += (size_t)snprintf(out + used, len - used, "%s\n", line);
    }
}

/* A small CNN written short: a block used twice, activations, no inputs but the loss's. */
static const char short_cnn[] =
    "blocks:\n"
    "  conv_block:\n"
    "    params: [filters]\n"
    "    defaults: {kernel: 3}\n"
    "    graph:\n"
    "      - {op: conv2d, filters: $filters, kernel_size: [$kernel], padding: same, activation: relu}\n"
    "      - {op: conv2d, filters: $filters, kernel_size: ['${kernel}'], padding: same}\n"
    "      - {op: layer_norm, activation: relu}\n"
    "      - {op: max_pool2d}\n"
    "graph:\n"
    "  - {name: label, op: input, data: labels}\n"
    "  - {name: image, op: input, data: images, shape: [8, 8, 1]}\n"
    "  - {use: conv_block, with: {filters: 4}}\n"
    "  - {use: conv_block, with: {filters: 8, kernel: 1}}\n"
    "  - {op: flatten}\n"
    "  - {op: dense, units: 16, activation: {op: leaky_relu, alpha: 0.2}}\n"
    "  - {name: logits, op: dense, units: 3}\n"
    "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n";

/* The same model written out, as the rules name its nodes. */
static const char long_cnn[] =
    "graph:\n"
    "  - {name: label, op: input, data: labels}\n"
    "  - {name: image, op: input, data: images, shape: [8, 8, 1]}\n"
    "  - {name: conv2d_1, op: conv2d, inputs: [image], filters: 4, kernel_size: [3], padding: same}\n"
    "  - {name: conv2d_1_relu, op: relu, inputs: [conv2d_1]}\n"
    "  - {name: conv2d_2, op: conv2d, inputs: [conv2d_1_relu], filters: 4, kernel_size: [3], padding: same}\n"
    "  - {name: layer_norm_1, op: layer_norm, inputs: [conv2d_2]}\n"
    "  - {name: layer_norm_1_relu, op: relu, inputs: [layer_norm_1]}\n"
    "  - {name: max_pool2d_1, op: max_pool2d, inputs: [layer_norm_1_relu]}\n"
    "  - {name: conv2d_3, op: conv2d, inputs: [max_pool2d_1], filters: 8, kernel_size: [1], padding: same}\n"
    "  - {name: conv2d_3_relu, op: relu, inputs: [conv2d_3]}\n"
    "  - {name: conv2d_4, op: conv2d, inputs: [conv2d_3_relu], filters: 8, kernel_size: [1], padding: same}\n"
    "  - {name: layer_norm_2, op: layer_norm, inputs: [conv2d_4]}\n"
    "  - {name: layer_norm_2_relu, op: relu, inputs: [layer_norm_2]}\n"
    "  - {name: max_pool2d_2, op: max_pool2d, inputs: [layer_norm_2_relu]}\n"
    "  - {name: flatten_1, op: flatten, inputs: [max_pool2d_2]}\n"
    "  - {name: dense_1, op: dense, inputs: [flatten_1], units: 16}\n"
    "  - {name: dense_1_leaky_relu, op: leaky_relu, inputs: [dense_1], alpha: 0.2}\n"
    "  - {name: logits, op: dense, inputs: [dense_1_leaky_relu], units: 3}\n"
    "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n";

Test(expand, a_short_graph_builds_its_long_form_node_for_node_and_weight_for_weight) {
    struct model s, l;
    cr_assert_eq(model_build(&s, short_cnn), 0, "%s", s.ctx.err);
    cr_assert_eq(model_build(&l, long_cnn), 0, "%s", l.ctx.err);
    static char a[8192], b[8192];
    graph_lines(&s.g, a, sizeof a);
    graph_lines(&l.g, b, sizeof b);
    cr_expect_str_eq(a, b);
    cr_assert_eq(s.g.n, l.g.n);
    for (int i = 0; i < s.g.n; i++) {
        cr_expect_eq(s.g.nodes[i].shape.rank, l.g.nodes[i].shape.rank, "%s", s.g.nodes[i].name);
        for (int d = 0; d < s.g.nodes[i].shape.rank; d++)
            cr_expect_eq(s.g.nodes[i].shape.dim[d], l.g.nodes[i].shape.dim[d], "%s", s.g.nodes[i].name);
        cr_expect(!memcmp(s.g.nodes[i].attrs, l.g.nodes[i].attrs, 0), "");
        for (int k = 0; k < s.g.nodes[i].op->n_attrs; k++) {
            const struct gr_attr_value *x = &s.g.nodes[i].attrs[k], *y = &l.g.nodes[i].attrs[k];
            cr_expect(x->present == y->present && x->i == y->i && x->f == y->f && x->n == y->n &&
                          !memcmp(x->ints, y->ints, sizeof x->ints),
                      "node %s: attribute %s differs", s.g.nodes[i].name, s.g.nodes[i].op->attrs[k].name);
        }
    }
    /* the same weights drawn in the same order */
    gr_rng_seed(&s.ctx.rng, 7);
    gr_rng_seed(&l.ctx.rng, 7);
    cr_assert_eq(gr_graph_alloc_params(&s.g, gr_init_fill), 0);
    cr_assert_eq(gr_graph_alloc_params(&l.g, gr_init_fill), 0);
    cr_assert_eq(s.g.param_floats, l.g.param_floats);
    cr_assert_gt(s.g.n_weights, 500);
    cr_expect(!memcmp(s.g.param, l.g.param, (size_t)s.g.param_floats * sizeof(float)), "the weights differ");
    model_free(&s);
    model_free(&l);
}

/* The nodes of `yaml` as lines, or the error. */
static void lines_of(const char *yaml, char *out, size_t len) {
    struct model m;
    if (model_build(&m, yaml)) snprintf(out, len, "error: %s", m.ctx.err);
    else graph_lines(&m.g, out, len);
    model_free(&m);
}

#define HEAD "  - {name: label, op: input, data: labels}\n  - {name: x, op: input, data: images, shape: [4]}\n"
#define HEAD_LINES "label input <-\nx input <-\n"

Test(expand, generated_names_never_take_a_written_one) {
    char got[4096];
    /* relu_1 is written, so the unnamed relus are relu_2 and relu_3; the
     * activation node of an unnamed dense takes the dense's generated name */
    lines_of("graph:\n" HEAD "  - {op: relu}\n  - {name: relu_1, op: tanh}\n  - {op: relu}\n"
             "  - {op: dense, units: 2, activation: relu}\n",
             got, sizeof got);
    cr_expect_str_eq(got, HEAD_LINES "relu_2 relu <- x\nrelu_1 tanh <- relu_2\nrelu_3 relu <- relu_1\n"
                                     "dense_1.kernel param <-\ndense_1.bias param <-\n"
                                     "dense_1 dense <- relu_3 dense_1.kernel dense_1.bias\n"
                                     "dense_1_relu relu <- dense_1\n");
}

Test(expand, a_block_names_its_nodes_after_its_use) {
    char got[4096];
    const char *blocks = "blocks:\n"
                         "  b:\n"
                         "    graph:\n"
                         "      - {name: h, op: relu}\n"
                         "      - {op: tanh}\n"
                         "      - {name: out, op: add, inputs: [h, $input]}\n";
    char yaml[2048];
    /* named: b1_h, and the last node takes the use's name; repeated: b2_1_h,
     * b2_2_h, the last b2; unnamed: b_1_h (the first use of b without a name) */
    snprintf(yaml, sizeof yaml, "%sgraph:\n" HEAD "  - {name: b1, use: b}\n  - {name: b2, use: b, repeat: 2}\n"
             "  - {use: b}\n  - {op: sigmoid, inputs: [b1]}\n", blocks);
    lines_of(yaml, got, sizeof got);
    cr_expect_str_eq(got, HEAD_LINES "b1_h relu <- x\ntanh_1 tanh <- b1_h\nb1 add <- b1_h x\n"
                                     "b2_1_h relu <- b1\ntanh_2 tanh <- b2_1_h\nb2_1_out add <- b2_1_h b1\n"
                                     "b2_2_h relu <- b2_1_out\ntanh_3 tanh <- b2_2_h\nb2 add <- b2_2_h b2_1_out\n"
                                     "b_1_h relu <- b2\ntanh_4 tanh <- b_1_h\nb_1_out add <- b_1_h b2\n"
                                     "sigmoid_1 sigmoid <- b1\n");
}

Test(expand, inputs_inside_a_block_are_its_own_nodes_first_then_the_graphs) {
    char got[4096];
    /* `x` is a node of the block and of the graph: the block's wins; a name
     * may come before the node it names; `$input` is what feeds the block
     * (here the use's `inputs`, the graph's x); a block inside a block takes
     * the node before it, and its output takes the outer use's name */
    lines_of("blocks:\n"
             "  inner:\n"
             "    params: [units]\n"
             "    graph: [{op: dense, units: $units}]\n"
             "  outer:\n"
             "    graph:\n"
             "      - {op: tanh, inputs: [x]}\n"
             "      - {name: x, op: relu, inputs: [$input]}\n"
             "      - {name: in, use: inner, with: {units: 3}}\n"
             "graph:\n" HEAD "  - {op: sigmoid}\n  - {name: o, use: outer, inputs: x}\n",
             got, sizeof got);
    cr_expect_str_eq(got, HEAD_LINES "sigmoid_1 sigmoid <- x\n"
                                     "o_x relu <- x\ntanh_1 tanh <- o_x\n"
                                     "o.kernel param <-\no.bias param <-\n"
                                     "o dense <- o_x o.kernel o.bias\n");
}

/* Broken graphs and their one-line messages, positions included. */
static const struct {
    const char *yaml, *expect;
} bad[] = {
    {"graph:\n  - {op: relu}\n", "test.yaml:2:5: node 'relu_1': no 'inputs', and no node is written before it"},
    {"graph:\n" HEAD "  - {op: add}\n",
     "test.yaml:4:5: node 'add_1': op 'add' takes 2 inputs: name them with 'inputs'"},
    {"graph:\n  - {name: x, op: input, data: images, shape: [4]}\n  - {name: label, op: input, data: labels}\n"
     "  - {op: relu}\n",
     "test.yaml:4:5: node 'relu_1': no 'inputs', so it takes the node before it, 'label', but that gives int32"},
    {"graph:\n" HEAD "  - {op: reshape, inputs: [label], shape: [1]}\n  - {op: relu}\n",
     "test.yaml:5:5: node 'relu_1': no 'inputs', so it takes the node before it, 'reshape_1', but that gives int32"},
    {"graph:\n" HEAD "  - {op: lstn}\n", "test.yaml:4:10: graph[2]: unknown op 'lstn' (did you mean 'lstm'?)"},
    {"graph:\n" HEAD "  - {units: 3}\n", "test.yaml:4:5: graph[2]: node has no 'op' (nor 'use')"},
    {"graph:\n" HEAD "  - {name: h, op: dense, units: 2, activation: relu}\n  - {name: h_relu, op: tanh}\n",
     "test.yaml:4:48: node name 'h_relu' (made for the activation of node 'h') is already used at test.yaml:5:12"},
    {"graph:\n" HEAD "  - {name: r, op: rnn, num_units: 2, activation: relu}\n",
     "test.yaml:4:50: node 'r': activation: a recurrent layer's activation is its cell's (tanh), not a choice"},
    {"graph:\n" HEAD "  - {op: relu, activation: tanh}\n",
     "test.yaml:4:28: node 'relu_1': activation: op 'relu' is not a layer"},
    {"graph:\n" HEAD "  - {op: dense, units: 2, activation: add}\n",
     "test.yaml:4:39: node 'dense_1': activation: op 'add' is not an activation"},
    {"graph:\n" HEAD "  - {op: dense, units: 2, activation: {op: relu, inputs: [x]}}\n",
     "test.yaml:4:58: node 'dense_1': activation: its input is the layer: leave 'inputs' out"},
    {"blocks: {b: {params: [n], graph: [{op: dense, units: $n}]}}\ngraph:\n" HEAD "  - {use: b, with: {m: 2}}\n",
     "test.yaml:5:21: graph[2]: with: block 'b' has no parameter 'm' (did you mean 'n'?)"},
    {"blocks: {b: {params: [n], graph: [{op: dense, units: $n}]}}\ngraph:\n" HEAD "  - {use: b}\n",
     "test.yaml:5:5: graph[2]: block 'b' needs its parameter 'n' (with: {n: ...}), declared at test.yaml:1:23"},
    {"blocks: {b: {params: [n], graph: [{op: dense, units: $m}]}}\ngraph:\n" HEAD "  - {use: b, with: {n: 2}}\n",
     "test.yaml:1:54: in block 'b' used at test.yaml:5:5: '$m' names no parameter of block 'b' (did you mean '$n'?)"},
    {"blocks: {b: {params: [n], graph: [{op: dense, units: $n}]}}\ngraph:\n" HEAD "  - {use: b, with: {n: -2}}\n",
     "test.yaml:1:54: in block 'b' used at test.yaml:5:5: node 'dense_1': units: expected an integer in [1, "},
    {"blocks: {b: {graph: [{op: relu}]}}\ngraph:\n" HEAD "  - {use: b, repeat: 0}\n",
     "test.yaml:5:22: graph[2]: repeat: expected an integer in [1, 10000], got 0"},
    {"blocks: {b: {graph: [{op: relu}]}}\ngraph:\n" HEAD "  - {use: b, repeat: -1}\n",
     "test.yaml:5:22: graph[2]: repeat: expected an integer in [1, 10000], got -1"},
    {"blocks:\n  a: {graph: [{op: relu}, {use: b}]}\n  b: {graph: [{use: a}]}\ngraph:\n" HEAD "  - {use: a}\n",
     "test.yaml:3:21: in block 'b' used at test.yaml:2:27, in block 'a' used at test.yaml:7:5: blocks.b.graph[0]: "
     "use: blocks use each other in a cycle: a -> b -> a"},
    {"blocks: {relu: {graph: [{op: tanh}]}}\ngraph:\n" HEAD,
     "test.yaml:1:10: block 'relu' has the name of an op; give the block a name of its own"},
    {"blocks: {b: {graph: [{name: h, op: relu}]}}\ngraph:\n" HEAD "  - {name: c, use: b, repeat: 2}\n"
     "  - {name: c_1_h, op: tanh}\n",
     "test.yaml:6:12: node name 'c_1_h' is already used at test.yaml:1:29: in block 'b' used at test.yaml:5:5 (node "
     "'h' of block 'b')"},
    {"blocks: {b: {graph: [{name: h, op: relu}]}}\ngraph:\n" HEAD "  - {name: c, use: b}\n  - {name: c, op: tanh}\n",
     "test.yaml:6:12: node name 'c' is already used at test.yaml:5:12 (the last node of a use)"},
    {"blocks: {b: {graph: [{op: relu}]}}\ngraph:\n" HEAD "  - {use: c}\n",
     "test.yaml:5:11: graph[2]: use: no block 'c' (did you mean 'b'?)"},
    {"blocks: {b: {graph: [{op: relu}]}}\ngraph:\n" HEAD "  - {use: relu}\n",
     "test.yaml:5:11: graph[2]: use: 'relu' is an op, not a block: write 'op: relu'"},
    {"blocks: {b: {graph: [{op: relu, foo: $input}]}}\ngraph:\n" HEAD "  - {use: b}\n",
     "test.yaml:1:38: in block 'b' used at test.yaml:5:5: '$input' names the block's input node"},
    {"blocks: {b: {graph: [{op: relu}]}}\ngraph:\n" HEAD "  - {use: b, inputs: [x, label]}\n",
     "test.yaml:5:22: graph[2]: inputs: a block takes one input, got 2"},
    {"blocks: {b: {params: [n], graph: [{op: dense}]}}\ngraph:\n" HEAD "  - {use: b, n: 2}\n",
     "test.yaml:5:14: graph[2]: 'n' is a parameter of block 'b': give it under 'with:'"},
    {"blocks: {b: {params: [input], graph: [{op: relu}]}}\ngraph:\n" HEAD,
     "test.yaml:1:23: blocks.b.params: 'input' is reserved"},
    {"blocks: {b: {params: [n], defaults: {n: 2}, graph: [{op: relu}]}}\ngraph:\n" HEAD,
     "test.yaml:1:38: blocks.b.defaults: parameter 'n' is also in params (at test.yaml:1:23)"},
    {"blocks: {b: {graph: []}}\ngraph:\n" HEAD, "test.yaml:1:21: blocks.b.graph: no nodes"},
    {"blocks: {b: {nodes: []}}\ngraph:\n" HEAD, "test.yaml:1:14: unknown key 'nodes' in blocks.b"},
    {"blocks: [b]\ngraph:\n" HEAD, "test.yaml:1:9: blocks: expected a mapping, got a list"},
    {"blocks: {b: {params: [n], graph: [{op: dense, units: 'x$n'}]}}\ngraph:\n" HEAD "  - {use: b, with: {n: [2]}}\n",
     "test.yaml:1:54: in block 'b' used at test.yaml:5:5: '$n' is a list: only a value that is the reference alone"},
    {"blocks: {b: {graph: [{op: relu, inputs: [$input]}]}}\ngraph:\n  - {use: b}\n",
     "test.yaml:1:42: in block 'b' used at test.yaml:3:5: node 'relu_1': $input: nothing feeds the block"},
    {"blocks: {b: {graph: [{op: relu}]}}\ngraph:\n" HEAD "  - {use: b, repeat: 10000}\n  - {use: b, repeat: 10000}\n"
     "  - {use: b, repeat: 10000}\n  - {use: b, repeat: 10000}\n  - {use: b, repeat: 10000}\n",
     "test.yaml:7:5: the expanded graph would hold more than 100000 YAML nodes"},
};

Test(expand, every_mistake_is_one_line_with_its_positions) {
    char got[4096];
    int n = (int)(sizeof bad / sizeof bad[0]);
    for (int i = 0; i < n; i++) {
        lines_of(bad[i].yaml, got, sizeof got);
        cr_expect(!strncmp(got, "error: ", 7), "case %d was accepted:\n%s", i, bad[i].yaml);
        cr_expect(strstr(got, bad[i].expect) == got + 7, "case %d:\n  expected: %s\n  got:      %s", i, bad[i].expect,
                  got);
        cr_expect_null(strchr(got, '\n'), "case %d spans lines: %s", i, got);
    }
}

/* ---- graphrun expand ------------------------------------------------------- */

static char tmp[64];
static void make_tmp(void) { tg_tmpdir(tmp, sizeof tmp, "expand"); }
static void remove_tmp(void) { tg_rmtree(tmp); }
TestSuite(expand_command, .init = make_tmp, .fini = remove_tmp, .timeout = 300);

/* The lines of `text` that hold `what`, joined. */
static void lines_with(const char *text, const char *what, char *out, size_t len) {
    size_t used = 0;
    out[0] = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *end = strchr(l, '\n');
        size_t n = end ? (size_t)(end - l) : strlen(l);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(n < 511 ? n : 511), l);
        if (strstr(line, what) && used < len) used += (size_t)snprintf(out + used, len - used, "%s\n", line);
    }
}

/* A CNN on MNIST written short: blocks, activations, the sequence. */
static void write_short_cnn(const char *path) {
    char text[4096], tr[512], trl[512], te[512], tel[512];
    snprintf(tr, sizeof tr, "%s", tg_mnist("train-images-idx3-ubyte"));
    snprintf(trl, sizeof trl, "%s", tg_mnist("train-labels-idx1-ubyte"));
    snprintf(te, sizeof te, "%s", tg_mnist("t10k-images-idx3-ubyte"));
    snprintf(tel, sizeof tel, "%s", tg_mnist("t10k-labels-idx1-ubyte"));
    snprintf(text, sizeof text,
             "data:\n"
             "  train: {images: %s, labels: %s, limit: 512}\n"
             "  test: {images: %s, labels: %s, limit: 256}\n"
             "blocks:\n"
             "  conv_block:\n"
             "    params: [filters]\n"
             "    graph:\n"
             "      - {op: conv2d, filters: $filters, kernel_size: [3], padding: same, activation: relu}\n"
             "      - {op: conv2d, filters: $filters, kernel_size: [3], padding: same}\n"
             "      - {op: relu}\n"
             "      - {op: max_pool2d}\n"
             "graph:\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {op: reshape, shape: [28, 28, 1]}\n"
             "  - {use: conv_block, with: {filters: 8}}\n"
             "  - {use: conv_block, with: {filters: 16}}\n"
             "  - {op: flatten}\n"
             "  - {op: dense, units: 32, activation: relu}\n"
             "  - {name: logits, op: dense, units: 10}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: {name: adam, lr: 0.003}, batch_size: 32, steps: 40, seed: 3, log_every: 2}\n"
             "eval: {logits: logits, every: 5, samples: 128, batch_size: 128}\n",
             tr, trl, te, tel);
    tg_write_text(path, text);
}

Test(expand_command, the_expanded_config_trains_to_the_same_losses) {
    char *out = NULL, *a = NULL, *b = NULL, path[256];
    snprintf(path, sizeof path, "%s/short.yaml", tmp);
    write_short_cnn(path);
    int rc = tg_sh(&out, "cd '%s' && '%s' expand short.yaml > long.yaml && cat long.yaml", tmp, GRAPHRUN);
    cr_assert_eq(rc, 0, "%s", out);
    /* the long form: no blocks, no activation keys, every node named with its inputs */
    cr_expect_null(strstr(out, "blocks:"), "%s", out);
    cr_expect_null(strstr(out, "activation"), "%s", out);
    cr_expect(strstr(out, "- {name: conv2d_1_relu, op: relu, inputs: [conv2d_1]}\n"), "%s", out);
    cr_expect(strstr(out, "- {name: dense_1, op: dense, inputs: [flatten_1], units: 32}\n"), "%s", out);
    free(out);
    /* both trained on one thread with the same seed print the same losses */
    rc = tg_sh(&a, "cd '%s' && '%s' train short.yaml --threads 1 --run-dir short 2>&1", tmp, GRAPHRUN);
    cr_assert_eq(rc, 0, "%s", a);
    rc = tg_sh(&b, "cd '%s' && '%s' train long.yaml --threads 1 --run-dir long 2>&1", tmp, GRAPHRUN);
    cr_assert_eq(rc, 0, "%s", b);
    static char la[8192], lb[8192];
    lines_with(a, "train loss:", la, sizeof la);
    lines_with(b, "train loss:", lb, sizeof lb);
    cr_expect_eq(tg_count_lines(la), 8, "%s", la);
    cr_expect_str_eq(la, lb);
    free(a);
    free(b);
    /* and every loss of the metrics, to six digits */
    rc = tg_sh(&out, "cd '%s' && cut -d, -f1-4 short/metrics.csv > s.csv && cut -d, -f1-4 long/metrics.csv > l.csv && "
               "wc -l < s.csv && cmp s.csv l.csv", tmp);
    cr_expect_eq(rc, 0, "the metrics differ");
    cr_expect_eq(atoi(out), 25, "%s", out); /* 20 rows of 2 steps, 4 evaluations between */
    free(out);
}

Test(expand_command, the_long_form_expands_to_itself) {
    char *one = NULL, *two = NULL, path[256];
    snprintf(path, sizeof path, "%s/short.yaml", tmp);
    write_short_cnn(path);
    cr_assert_eq(tg_sh(&one, "cd '%s' && '%s' expand short.yaml | tee long.yaml", tmp, GRAPHRUN), 0);
    cr_assert_eq(tg_sh(&two, "cd '%s' && '%s' expand long.yaml", tmp, GRAPHRUN), 0, "%s", two);
    cr_expect_str_eq(one, two);
    free(one);
    free(two);
}

Test(expand_command, the_explicit_reference_config_is_the_expansion_of_the_default_one) {
    char *one = NULL, *two = NULL;
    cr_assert_eq(tg_sh(&one, "'%s' expand '%s/configs/lstm_mnist.yaml'", GRAPHRUN, GR_SOURCE_DIR), 0);
    cr_assert_eq(tg_sh(&two, "'%s' expand '%s/configs/lstm_mnist_explicit.yaml'", GRAPHRUN, GR_SOURCE_DIR), 0);
    cr_expect_str_eq(one, two);
    free(one);
    free(two);
}

Test(expand_command, summary_and_errors_show_the_generated_names) {
    char *out = NULL;
    cr_assert_eq(tg_sh(&out, "'%s' summary '%s/configs/lstm_mnist.yaml' 2>&1", GRAPHRUN, GR_SOURCE_DIR), 0, "%s", out);
    cr_expect(strstr(out, "\nreshape_1        reshape  "), "%s", out);
    cr_expect(strstr(out, "\nslice_1          slice  "), "%s", out);
    free(out);
    /* an unnamed node is reached by its index, and named in the message */
    int rc = tg_sh(&out, "'%s' check '%s/configs/lstm_mnist.yaml' --set graph.2.shape=[28,29] 2>&1", GRAPHRUN,
                   GR_SOURCE_DIR);
    cr_expect_eq(rc, 1);
    cr_expect_str_eq(out, "--set graph.2.shape=[28,29]: node 'reshape_1': shape holds 812 values per sample, but the "
                          "input has 784\n");
    free(out);
}
