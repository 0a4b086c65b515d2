/* Test helpers: build a graph from a YAML node list and run one node. */
#ifndef GR_TEST_HELPERS_H
#define GR_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "models/builder.h"
#include "models/init.h"
#include "models/open.h"
#include "runtime/base/ctx.h"
#include "runtime/optim/optimizer.h"
#include "runtime/host/host.h"
#include "runtime/engine/graph.h"
#include "runtime/engine/harness.h"
#include "runtime/yaml/yaml.h"

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

/* The reference model's graph section as YAML; one %d: the LSTM's units. */
#define TG_MNIST_GRAPH                                                         \
    "graph:\n"                                                                 \
    "  - {name: image, op: input, data: images, shape: [784]}\n"               \
    "  - {name: label, op: input, data: labels}\n"                             \
    "  - {name: rows, op: reshape, inputs: [image], shape: [28, 28]}\n"        \
    "  - {name: lstm, op: lstm, inputs: [rows], num_units: %d}\n"              \
    "  - {name: last, op: slice, inputs: [lstm], axis: 1, index: -1}\n"        \
    "  - {name: logits, op: dense, inputs: [last], units: 10}\n"               \
    "  - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}\n"

/* Make a fresh folder /tmp/graphrun-TAG-XXXXXX into buf (asserts). */
void tg_tmpdir(char *buf, size_t len, const char *tag);
/* Remove a folder and everything in it (asserts). */
void tg_rmtree(const char *dir);

/* Run a shell command built from fmt; its standard output (add 2>&1 for
 * errors too) into *out (malloc'd, NUL-terminated; NULL: discarded).
 * Returns the exit status, or -1 if a signal ended it. */
int tg_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A whole file, malloc'd and NUL-terminated (its length in *len if not
 * NULL), or NULL if it cannot be read. */
char *tg_slurp(const char *path, size_t *len);

/* Path of a data file under the source tree's data/mnist. */
const char *tg_mnist(const char *file);

/* A built-in optimizer by name with learning rate lr, its keys at their
 * defaults but for the (name, value) pairs that follow, ended by NULL. */
void tg_optim(struct gr_optim_cfg *cfg, const char *name, double lr, ...);

#endif
