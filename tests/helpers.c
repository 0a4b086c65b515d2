#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

int tg_build(struct tgraph *t, const char *yaml, int64_t batch) {
    memset(t, 0, sizeof *t);
    cr_assert_eq(gr_ctx_init(&t->ctx), 0, "context: %s", t->ctx.err);
    gr_graph_init(&t->g, &t->ctx, "test.yaml");
    if (gr_yaml_parse(&t->ctx, &t->doc, "test.yaml", yaml, strlen(yaml))) return -1;
    return gr_build_graph(&t->ctx, &t->g, "test.yaml", t->doc.root, batch);
}

void tg_free(struct tgraph *t) {
    gr_graph_free(&t->g);
    gr_yaml_free(&t->doc);
    gr_ctx_free(&t->ctx);
}

int tg_node(struct tgraph *t, const char *name) {
    int i = gr_graph_find(&t->g, name);
    cr_assert_geq(i, 0, "no node '%s'", name);
    return i;
}

void tg_set(struct gr_harness *h, int k, const float *v, int64_t n) {
    cr_assert_eq(gr_shape_count(&h->in[k].shape), n, "input %d holds %lld values, test gives %lld", k,
                 (long long)gr_shape_count(&h->in[k].shape), (long long)n);
    memcpy(h->in[k].data, v, (size_t)n * sizeof(float));
}

const char *tg_mnist(const char *file) {
    static char path[1024]; /* test-only convenience: one path in use at a time */
    snprintf(path, sizeof path, "%s/data/mnist/%s", GR_SOURCE_DIR, file);
    return path;
}

void tg_small_config(char *buf, size_t len, int units, int steps, const char *optimizer, const char *train_extra,
                     int eval_every) {
    snprintf(buf, len,
             "data:\n"
             "  train: {images: %s/data/mnist/train-images-idx3-ubyte, labels: %s/data/mnist/train-labels-idx1-ubyte,"
             " limit: 2000}\n"
             "  test: {images: %s/data/mnist/t10k-images-idx3-ubyte, labels: %s/data/mnist/t10k-labels-idx1-ubyte,"
             " limit: 1000}\n"
             "graph:\n"
             "  - {name: image, op: input, data: images, shape: [784]}\n"
             "  - {name: label, op: input, data: labels}\n"
             "  - {name: rows, op: reshape, inputs: [image], shape: [28, 28]}\n"
             "  - {name: lstm, op: lstm, inputs: [rows], num_units: %d}\n"
             "  - {name: last, op: slice, inputs: [lstm], axis: 1, index: -1}\n"
             "  - {name: logits, op: dense, inputs: [last], units: 10}\n"
             "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"
             "train: {loss: loss, optimizer: %s, batch_size: 32, steps: %d, seed: 7%s%s}\n"
             "eval: {logits: logits, every: %d, samples: 200, batch_size: 200}\n",
             GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, GR_SOURCE_DIR, units, optimizer, steps,
             train_extra ? ", " : "", train_extra ? train_extra : "", eval_every);
}
