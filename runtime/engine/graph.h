/* The op graph: nodes in topological order, each an op applied to earlier
 * nodes, with attributes already checked against the op's schema and shapes
 * inferred at the build batch size. Parameters are nodes too (op "param"),
 * and their values and gradients live in two flat blocks so an optimizer is
 * one loop over memory.
 *
 * Building only records; running is the plan's job (plan.h). */
#ifndef GR_GRAPH_H
#define GR_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "graphrun/plugin.h"

struct gr_ctx;
struct gr_rng;
struct gr_ynode;
struct gr_ydoc;

struct gr_node {
    const char *name;
    const struct gr_op_desc *op;
    int n_user;               /* inputs named in the YAML */
    int n_in;                 /* n_user + op->n_params + op->n_state */
    int in[GR_MAX_INPUTS];    /* node indices, all smaller than this node's */
    struct gr_attr_value attrs[GR_MAX_ATTRS];
    struct gr_shape shape;    /* at the build batch size */
    enum gr_dtype dtype;
    size_t saved_bytes, scratch_bytes;
    int needs_grad;           /* a parameter's gradient flows through it */
    /* what a message about it points at (NULL: made by graphrun): its YAML
     * declaration, or the --set override that changed it, and each attribute
     * as written; inside the config, which outlives the graph, or among the
     * YAML nodes the model DSL made for it (graph->made) */
    const struct gr_ynode *at;
    const struct gr_ynode *attr_at[GR_MAX_ATTRS];
    /* parameters only */
    int owner;                /* node whose op declared it, or -1 */
    int64_t param_offset;     /* in floats, into graph->param and graph->grad */
};

struct gr_graph {
    struct gr_ctx *ctx;
    const char *file;         /* config file, for messages */
    struct gr_node *nodes;
    int n, cap;
    int64_t batch;            /* the build batch size */
    /* The blocks hold the trainable parameters first, then the others
     * (trainable: false, and the ops' state), so an optimizer runs over
     * the first trainable_floats only. */
    int64_t param_floats;     /* size of the blocks, padded per parameter */
    int64_t trainable_floats; /* the trainable part, at the start */
    int64_t n_weights;        /* values of every parameter node, unpadded */
    int64_t n_state;          /* of those, the ops' state's */
    float *param, *grad;
    struct gr_str *strings;   /* names and attribute strings, owned */
    struct gr_ydoc *made;     /* YAML nodes the model DSL made (its expansion), owned */
};

void gr_graph_init(struct gr_graph *g, struct gr_ctx *ctx, const char *file);
void gr_graph_free(struct gr_graph *g);

/* Append a copy of `node` as is; returns its index or -1. */
int gr_graph_append(struct gr_graph *g, const struct gr_node *node);
/* Append a new node; returns its index or -1. `name` is copied. */
int gr_graph_add(struct gr_graph *g, const char *name, const struct gr_op_desc *op, int n_user,
                 const int *in, const struct gr_attr_value *attrs);
int gr_graph_find(const struct gr_graph *g, const char *name);
const char *gr_graph_strdup(struct gr_graph *g, const char *s);

/* Record an error about node i and return -1: "FILE:LINE:COL: node 'x': ..."
 * at attribute `attr` as written (or at the node for -1, an attribute left
 * to its default, or a parameter, which points at its owner), or
 * "--set PATH=VALUE: node 'x': ..." when an override wrote it. */
int gr_node_fail(const struct gr_graph *g, int i, int attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Run the op's infer for node i, reading input shapes from `shapes`/`dtypes`
 * (indexed by node; NULL: the nodes' own shapes). On error records the
 * message located by gr_node_fail and returns -1. */
/* The op's infer arguments for node i alone (gr_node_infer also runs it). */
void gr_node_infer_args(const struct gr_graph *g, int i, int64_t batch, int training, const struct gr_shape *shapes,
                        const enum gr_dtype *dtypes, struct gr_infer *inf);
/* Whether input k of node nd can take a gradient: parameters always, state
 * never, user inputs unless the op declares them gradient-free (no_grad:
 * labels, indices). */
int gr_node_takes_grad(const struct gr_node *nd, int k);
int gr_node_infer(struct gr_graph *g, int i, int64_t batch, int training, const struct gr_shape *shapes,
                  const enum gr_dtype *dtypes, struct gr_infer *inf);

/* Whether node i is a parameter node that holds an op's state. */
int gr_node_is_state(const struct gr_graph *g, int i);
/* Whether node i is a parameter the optimizer updates. */
int gr_node_is_trainable(const struct gr_graph *g, int i);

/* Lay out the parameter blocks (each param node's offset, param_floats,
 * trainable_floats, n_weights, n_state) without allocating them. */
int gr_graph_layout_params(struct gr_graph *g);
/* Fills a parameter of `shape` with initializer `init`, drawing from rng
 * (models/init.c's gr_init_fill is graphrun's; the runtime knows none). */
typedef void (*gr_param_fill_fn)(enum gr_init init, const struct gr_shape *shape, float *dst, struct gr_rng *rng);

/* Lay out the parameter blocks for every param node, allocate them and fill
 * them with `fill` (NULL: zeros), drawing from the context's generator in
 * node order. */
int gr_graph_alloc_params(struct gr_graph *g, gr_param_fill_fn fill);

/* Bytes of one tensor of this shape, or 0 on overflow. */
size_t gr_shape_bytes(const struct gr_shape *s);

#endif
