/* The model DSL: a YAML list of nodes becomes a checked op graph.
 *
 *   - name: lstm          # unique, letters, digits, '_' and '-'
 *     op: lstm            # any registered op, built-in or plugin
 *     inputs: [rows]      # names of other nodes, in any order in the file
 *     num_units: 64       # the op's attributes, checked against its schema
 *
 * An op that owns weights (dense, lstm, or a plugin's) declares them in its
 * descriptor; the builder creates one `param` node per weight, named
 * "<node>.<weight>", with the shape the op's infer asked for and the op's
 * initializer, and appends it to the node's inputs. So layers own their
 * weights without the runtime knowing any layer.
 *
 * The shorthand (nodes without names or inputs, `activation:`, blocks) is
 * expanded first, by models/expand.c, into such a list. */
#ifndef GR_MODELS_BUILDER_H
#define GR_MODELS_BUILDER_H

#include <stdint.h>

#include "runtime/engine/graph.h"
#include "runtime/yaml/yaml.h"

/* Expand the node list `graph` with the config's `blocks` (NULL: none; see
 * models/expand.h), check it, sort it topologically and infer every shape at
 * `batch`. Allocates no tensor memory; see gr_graph_alloc_params. g keeps
 * the YAML nodes the expansion made, which its nodes' positions point into. */
int gr_build_model(struct gr_ctx *ctx, struct gr_graph *g, const char *file, const struct gr_ynode *graph,
                   const struct gr_ynode *blocks, int64_t batch);
/* The same without blocks. */
int gr_build_graph(struct gr_ctx *ctx, struct gr_graph *g, const char *file, const struct gr_ynode *seq,
                   int64_t batch);

#endif
