/* An ONNX model in memory, as graphrun export builds it: the names in use,
 * the nodes in order, the initializers (a parameter's values are borrowed
 * from the graph, a lowering's own are held here), the graph's inputs and
 * outputs and the metadata. Everything is copied in: strings, attribute
 * arrays, a lowering's tensors. runtime/export/protobuf.h writes it. */
#ifndef GR_EXPORT_MODEL_H
#define GR_EXPORT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "graphrun/plugin.h"

struct gr_ctx;

#define GR_ONNX_IR_VERSION 8 /* what opset 17 needs, and the newest onnx 1.12 checks */
#define GR_ONNX_OPSET 17     /* LayerNormalization; Gelu (20) is built from Erf */

struct gr_onnx_init {
    const char *name;
    enum gr_onnx_type type;
    int rank;
    int64_t dims[GR_MAX_DIMS];
    int64_t count;    /* elements */
    const void *data; /* count elements of type, in this machine's byte order */
    int used;         /* read by a node or a graph output: written */
};

struct gr_onnx_node {
    const char *name, *op_type;
    int n_in, n_out, n_attrs;
    const char **in, **out;
    struct gr_onnx_attr *attrs;
};

/* A graph input or output; axis 0 is the dynamic batch when `batch`. */
struct gr_onnx_value {
    const char *name;
    enum gr_onnx_type type;
    int rank, batch;
    int64_t dims[GR_MAX_DIMS];
};

struct gr_onnx_model {
    struct gr_ctx *ctx;
    struct gr_onnx_arena *arena;
    struct gr_onnx_name *names; /* open addressing, power-of-two size */
    size_t n_names, cap_names;
    struct gr_onnx_node *nodes;
    int n_nodes, cap_nodes;
    struct gr_onnx_init *inits;
    int n_inits, cap_inits;
    struct gr_onnx_value inputs[GR_MAX_INPUTS * 4], outputs[4];
    int n_inputs, n_outputs;
    const char *meta_key[8], *meta_value[8];
    int n_meta;
    const char *graph_name, *producer_version, *doc;
};

void gr_onnx_model_init(struct gr_onnx_model *m, struct gr_ctx *ctx);
void gr_onnx_model_free(struct gr_onnx_model *m);

/* A copy of s (n bytes and a NUL) in the model's arena; NULL when out of memory. */
char *gr_onnx_strndup(struct gr_onnx_model *m, const char *s, size_t n);
/* Zeroed memory in the arena (small) or an allocation of its own (large). */
void *gr_onnx_alloc(struct gr_onnx_model *m, size_t bytes);

/* Mark `name` taken; `defined`: a value of the model (an input, an
 * initializer, a node's output). Returns the stored name, or NULL (error in
 * ctx->err) when it is already defined, or out of memory. */
const char *gr_onnx_name_take(struct gr_onnx_model *m, const char *name, int defined);
/* 0 unknown, 1 taken (reserved or made fresh), 2 defined. */
int gr_onnx_name_state(const struct gr_onnx_model *m, const char *name);
/* `base` if no value of the model has that name yet, else base_2, base_3, ...;
 * the result is taken. */
const char *gr_onnx_name_fresh(struct gr_onnx_model *m, const char *base);

/* Append a node (every string and array copied); its outputs become defined.
 * -1 with ctx->err set for an input not yet defined or an output already
 * defined. */
int gr_onnx_add_node(struct gr_onnx_model *m, const char *name, const char *op_type, int n_in, const char *const *in,
                     int n_out, const char *const *out, int n_attrs, const struct gr_onnx_attr *attrs);
/* Append an initializer named `name` (already taken with gr_onnx_name_take)
 * whose data is borrowed: it must outlive the model. */
int gr_onnx_add_init(struct gr_onnx_model *m, const char *name, enum gr_onnx_type type, int rank, const int64_t *dims,
                     const void *data);
/* Mark the initializers some node or output reads; the others are not written. */
void gr_onnx_mark_used(struct gr_onnx_model *m);

/* Bytes of one element. */
static inline size_t gr_onnx_type_size(enum gr_onnx_type t) { return t == GR_ONNX_INT64 ? 8 : 4; }

#endif
