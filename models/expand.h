/* The model DSL's shorthand, expanded into the explicit node list that
 * models/builder.c reads. It runs before the builder, on the YAML tree (the
 * overrides already applied), and only rewrites: every check of a node
 * (keys, ops, attributes, inputs, shapes) stays the builder's, so a short
 * config is checked exactly like its long form, and `graphrun expand` prints
 * that long form.
 *
 *   blocks:
 *     conv_block:                     # a named, parameterised sub-graph
 *       params: [filters]             # required parameters
 *       defaults: {kernel: 3}         # optional ones, with their values
 *       graph:
 *         - {op: conv2d, filters: $filters, kernel_size: $kernel, padding: same, activation: relu}
 *         - {op: max_pool2d}
 *   graph:
 *     - {name: label, op: input, data: labels}
 *     - {name: image, op: input, data: images, shape: [28, 28, 1]}
 *     - {use: conv_block, with: {filters: 32}, repeat: 2}
 *     - {op: flatten}
 *     - {name: logits, op: dense, units: 10}
 *     - {name: loss, op: softmax_cross_entropy, inputs: [logits, label]}
 *
 * The rules (README, "Writing less", says the same for users):
 *
 * Sequence. A node without `inputs` whose op takes inputs takes one: the
 * node written just before it in the same list. A `use` counts as the last
 * node of its (last) instance, a node with `activation:` as its activation
 * node; the first node of a block takes the block's input (the use's
 * `inputs`, or the node before the use). That node's output must be float32
 * (the builder checks it once shapes are inferred: a labels input, or
 * anything made from labels, is refused), and there must be one (the first
 * node of `graph:` has none). An op that takes two or more inputs needs
 * `inputs`.
 *
 * Names. A node without `name` is named `<op>_<n>`: n counts the unnamed
 * nodes of that op from 1 in the order of the expanded graph, skipping every
 * number whose name a node already has, so a generated name never takes a
 * written one. Inside a block instance a node written `name: x` is named
 * `<prefix>_x`, where the prefix is the use's name (`<name>_<r>` for
 * repetition r of a `repeat`), or `<block>_<k>` for the k-th use of the block
 * without a name; the last node of a named use's last instance takes the
 * use's name itself, so `inputs: [that_name]` reads the block's output. Any
 * two nodes with one name are refused, with both positions.
 *
 * Activation. `activation: OP` (or `activation: {op: OP, <attributes>,
 * name: N}`) on a layer - an op with weights that takes one input: dense,
 * conv2d, embedding, layer_norm, a plugin's layer - puts a node of OP right
 * after it, named `<layer>_<op>` (or N), which the next node takes. The
 * layer keeps its name and its weights' names (`<layer>.kernel`): a name
 * always means the node of that name in the expanded graph. OP is any
 * registered op that takes exactly one input and owns no weights. The
 * recurrent layers (lstm, gru, rnn) refuse it: their activation belongs to
 * the cell (tanh) and is not a choice, and an activation appended to their
 * outputs under that key would mean something else than in Keras.
 *
 * Blocks. `use: B` stands for the nodes of block B's `graph`, with each
 * `$param` or `${param}` in any scalar value replaced: a scalar that is
 * exactly one reference becomes the argument's value as it is (a number, a
 * list, a mapping), and a reference inside other text is replaced by the
 * argument's text (which must then be a scalar). Arguments come from the
 * use's `with:`, else from the block's `defaults:`. `$input` names the
 * block's input node, in `inputs` only. Names in a block's `inputs` are the
 * block's own nodes first, then the graph's. `repeat: N` (1 to 10000)
 * chains N instances. Refused, each at its position: an unknown block or
 * parameter, a missing argument, a reference to no parameter, blocks that
 * use each other in a cycle (with the cycle), a block named like an op.
 * A node made from a block is located at its line in the block and at the
 * use, in one line:
 *   cfg.yaml:5:9: in block 'conv_block' used at cfg.yaml:12:5: node 'conv2d_1': filters: ...
 * An override's node keeps naming the override. At most 100,000 YAML nodes
 * are made. */
#ifndef GR_MODELS_EXPAND_H
#define GR_MODELS_EXPAND_H

#include "runtime/yaml/yaml.h"

struct gr_ctx;

struct gr_expansion {
    struct gr_ydoc *doc;          /* the nodes the expansion made (the list refers to the config's too) */
    const struct gr_ynode *graph; /* the explicit node list: `list`, or the config's own when that is
                                     not a list of nodes */
    struct gr_ynode *list;        /* the list the expansion made, or NULL */
    unsigned *implicit;           /* per item of `list`: bit k set when input k was taken implicitly */
};

/* Expand `graph` (the config's node list) with the `blocks` mapping (NULL:
 * none). Registered ops must be known: load the config's plugins first. On
 * error returns -1 with one located line in ctx->err, and frees what it made. */
int gr_expand_graph(struct gr_ctx *ctx, const char *file, const struct gr_ynode *graph,
                    const struct gr_ynode *blocks, struct gr_expansion *out);
void gr_expansion_free(struct gr_ctx *ctx, struct gr_expansion *x);

/* `root` (a config) with `graph` replaced by `x->graph` and no `blocks`: the
 * tree `graphrun expand` writes. Made in x->doc. */
struct gr_ynode *gr_expanded_config(struct gr_expansion *x, const struct gr_ynode *root);

#endif
