/* graphrun/lower.h: how an op is lowered to ONNX by `graphrun export`, the
 * part of the op contract that a descriptor's `lower` member uses. It is
 * included by graphrun/plugin.h; a plugin includes that header only. */
#ifndef GRAPHRUN_LOWER_H
#define GRAPHRUN_LOWER_H

#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- lowering to ONNX ------------------------------------------------------
 *
 * `graphrun export` writes the evaluation graph as an ONNX model: `input`
 * nodes become the model's inputs (axis 0, the batch, left dynamic), `param`
 * nodes its initializers, and every other node is written by its op's
 * `lower` function, in graph order. A lowering receives its node in a
 * struct gr_lower (the ONNX names of its inputs, their shapes, a parameter's
 * values, the attributes) and the functions of struct gr_onnx to call, and
 * must leave the node's value in the tensor named `out`. For relu:
 *
 *     static int relu_lower(struct gr_lower *lw) {
 *         return lw->onnx->node(lw, "Relu", 1, lw->in, 1, &lw->out, 0, NULL);
 *     }
 *
 * Shapes are graphrun's: axis 0 of a value computed from the data is the
 * batch, which the model leaves dynamic, so a lowering never writes that
 * size into the model (a Reshape keeps it with a leading 0). A lowering may
 * write any op of the ai.onnx domain at the model's opset (onnx->opset),
 * and make initializers of its own (a kernel laid out as ONNX wants it);
 * initializers no node reads (a parameter it replaced) are left out of the
 * file. */

/* ONNX's element types (TensorProto.DataType), those graphrun writes. */
enum gr_onnx_type { GR_ONNX_FLOAT = 1, GR_ONNX_INT32 = 6, GR_ONNX_INT64 = 7 };

/* ONNX's attribute types (AttributeProto.AttributeType), those graphrun writes. */
enum gr_onnx_attr_type {
    GR_ONNX_ATTR_FLOAT = 1,
    GR_ONNX_ATTR_INT = 2,
    GR_ONNX_ATTR_STRING = 3,
    GR_ONNX_ATTR_TENSOR = 4, /* a float tensor: dims ints[0..n), values floats */
    GR_ONNX_ATTR_FLOATS = 6,
    GR_ONNX_ATTR_INTS = 7,
};

struct gr_onnx_attr {
    const char *name;
    enum gr_onnx_attr_type type;
    int64_t i;           /* INT */
    float f;             /* FLOAT */
    const char *s;       /* STRING */
    int n;               /* INTS, FLOATS: how many; TENSOR: its rank */
    const int64_t *ints; /* INTS; TENSOR: its dims */
    const float *floats; /* FLOATS; TENSOR: its values, row-major */
};

static inline struct gr_onnx_attr gr_onnx_int(const char *name, int64_t v) {
    struct gr_onnx_attr a = {name, GR_ONNX_ATTR_INT, v, 0, NULL, 0, NULL, NULL};
    return a;
}
static inline struct gr_onnx_attr gr_onnx_float(const char *name, float v) {
    struct gr_onnx_attr a = {name, GR_ONNX_ATTR_FLOAT, 0, v, NULL, 0, NULL, NULL};
    return a;
}
static inline struct gr_onnx_attr gr_onnx_string(const char *name, const char *v) {
    struct gr_onnx_attr a = {name, GR_ONNX_ATTR_STRING, 0, 0, v, 0, NULL, NULL};
    return a;
}
static inline struct gr_onnx_attr gr_onnx_ints(const char *name, int n, const int64_t *v) {
    struct gr_onnx_attr a = {name, GR_ONNX_ATTR_INTS, 0, 0, NULL, n, v, NULL};
    return a;
}
static inline struct gr_onnx_attr gr_onnx_floats(const char *name, int n, const float *v) {
    struct gr_onnx_attr a = {name, GR_ONNX_ATTR_FLOATS, 0, 0, NULL, n, NULL, v};
    return a;
}
static inline struct gr_onnx_attr gr_onnx_tensor(const char *name, int rank, const int64_t *dims, const float *v) {
    struct gr_onnx_attr a = {name, GR_ONNX_ATTR_TENSOR, 0, 0, NULL, rank, dims, v};
    return a;
}

/* What graphrun offers a lowering. Every function copies the strings and
 * arrays it is given; on failure it returns -1 or NULL with a message in
 * lw->err, which the lowering passes on by returning -1. */
struct gr_onnx {
    uint32_t size; /* sizeof(struct gr_onnx) of the running graphrun: grows only at its end */
    int opset;     /* the ai.onnx opset the model imports */
    /* Append a node of the ai.onnx domain: op_type, its inputs ("" skips an
     * optional one), its outputs and attributes. */
    int (*node)(struct gr_lower *lw, const char *op_type, int n_in, const char *const *in, int n_out,
                const char *const *out, int n_attrs, const struct gr_onnx_attr *attrs);
    /* A tensor name no other tensor of the model has, made from the node's
     * name and `hint` ("lstm/W"); it lives until the export ends. */
    const char *(*fresh)(struct gr_lower *lw, const char *hint);
    /* A new initializer of `type` and shape [dims[0], ..., dims[rank-1]]:
     * its name (fresh, from `hint`) in *name, and zeroed memory for its
     * values, row-major, which the lowering fills before it returns. */
    void *(*initializer)(struct gr_lower *lw, const char *hint, enum gr_onnx_type type, int rank,
                         const int64_t *dims, const char **name);
};

/* One node to lower (graphrun fills it; the lowering may write err). Like
 * struct gr_infer, graphrun allocates it and it grows only at its end. */
struct gr_lower {
    const struct gr_onnx *onnx;
    void *onnx_ctx;                       /* graphrun's, for the functions above */
    const char *node;                     /* the node's name in the config */
    int n_in;                             /* user inputs + parameters + state, as in gr_args */
    const char *in[GR_MAX_INPUTS];        /* the inputs' tensor names in the model */
    struct gr_shape in_shape[GR_MAX_INPUTS];
    enum gr_dtype in_dtype[GR_MAX_INPUTS];
    const float *in_value[GR_MAX_INPUTS]; /* a parameter or state: its values; else NULL */
    const char *out;                      /* the name the node's value must have */
    struct gr_shape out_shape;
    enum gr_dtype out_dtype;
    const struct gr_attr_value *attrs;    /* indexed like desc->attrs */
    char err[GR_ERR_LEN];                 /* why the lowering failed */
};

/* Format an error into lw->err and return -1 (as gr_infer_fail). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int gr_lower_fail(struct gr_lower *lw, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lw->err, sizeof lw->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* An int64 initializer holding v[0..n) as a vector (rank 1), or a scalar
 * when rank is 0 (n = 1); its name, or NULL. For Reshape's shape, Slice's
 * starts, Squeeze's axes. */
static inline const char *gr_onnx_const_i64(struct gr_lower *lw, const char *hint, int rank, int n, const int64_t *v) {
    const char *name = NULL;
    int64_t dims[1] = {n};
    int64_t *dst = (int64_t *)lw->onnx->initializer(lw, hint, GR_ONNX_INT64, rank, dims, &name);
    if (!dst) return NULL;
    for (int i = 0; i < n; i++) dst[i] = v[i];
    return name;
}

/* A float scalar initializer (rank 0) holding v; its name, or NULL. */
static inline const char *gr_onnx_const_f32(struct gr_lower *lw, const char *hint, float v) {
    const char *name = NULL;
    float *dst = (float *)lw->onnx->initializer(lw, hint, GR_ONNX_FLOAT, 0, NULL, &name);
    if (!dst) return NULL;
    dst[0] = v;
    return name;
}

#ifdef __cplusplus
}
#endif
#endif
