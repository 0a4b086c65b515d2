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

/* Path of a data file under the source tree's data/mnist. */
const char *tg_mnist(const char *file);

#endif
