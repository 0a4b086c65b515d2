/* Test helpers: build a graph from a YAML node list and run one node. */
#ifndef GR_TEST_HELPERS_H
#define GR_TEST_HELPERS_H

#include <stdint.h>

#include "models/builder.h"
#include "runtime/ctx.h"
#include "runtime/graph.h"
#include "runtime/harness.h"
#include "runtime/yaml.h"

struct tgraph {
    struct gr_ctx ctx;
    struct gr_ydoc doc;
    struct gr_graph g;
};

/* Parse `yaml` (a list of nodes) and build it at `batch`. Returns 0, or -1
 * with the message in t->ctx.err. The context is set up either way. */
int tg_build(struct tgraph *t, const char *yaml, int64_t batch);
void tg_free(struct tgraph *t);
/* Index of node `name`; asserts it exists. */
int tg_node(struct tgraph *t, const char *name);

/* Copy `n` floats into harness input k. */
void tg_set(struct gr_harness *h, int k, const float *v, int64_t n);

/* A config for the reference model on the first 2000 training and 1000 test
 * MNIST images: `units` LSTM units, `train_extra` appended inside the train
 * mapping (e.g. "checkpoint: {path: x}"), `optimizer` the optimizer mapping. */
void tg_small_config(char *buf, size_t len, int units, int steps, const char *optimizer, const char *train_extra,
                     int eval_every);

/* Path of a data file under the source tree's data/mnist. */
const char *tg_mnist(const char *file);

#endif
