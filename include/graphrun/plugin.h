/*
 * graphrun/plugin.h - everything an op needs, and all an op file includes.
 *
 * Built-in ops (ops/<name>.c) and plugin ops use this header alone, and both
 * register through the same entry point, so a plugin op is never second-class.
 *
 * A worked example: y = x * scale, one input, one attribute.
 *
 *     enum { A_SCALE };
 *     static const struct gr_attr_spec scale_attrs[] = {
 *         [A_SCALE] = { "scale", GR_ATTR_FLOAT, "factor", .def = "1.0" },
 *     };
 *     // out[B, ...] = x[B, ...]; shapes are full shapes, axis 0 is the batch
 *     static int scale_infer(struct gr_infer *inf) {
 *         if (inf->in_dtype[0] != GR_F32)
 *             return gr_infer_fail(inf, -1, "input must be float32");
 *         inf->out = *inf->in[0];
 *         return 0;
 *     }
 *     static void scale_forward(const struct gr_args *a) {
 *         const float *x = a->in[0]->data; float *y = a->out->data;
 *         float s = (float)a->attrs[A_SCALE].f;
 *         for (int64_t i = 0, n = gr_shape_count(&a->out->shape); i < n; i++) y[i] = s * x[i];
 *     }
 *     // dx += s * dy (backward accumulates; zeroing is the runtime's job)
 *     static void scale_backward(const struct gr_args *a) { ... }
 *     static const struct gr_op_desc scale_op = {
 *         .name = "scale", .summary = "y = scale * x", .inputs_doc = "x [B, ...]",
 *         .min_inputs = 1, .max_inputs = 1, .attrs = scale_attrs, .n_attrs = 1,
 *         .infer = scale_infer, .forward = scale_forward, .backward = scale_backward,
 *     };
 *     GR_PLUGIN_DECLARE();   // the ABI this file was built for, checked on load
 *     int graphrun_plugin_init(const struct gr_host *host, void *host_ctx,
 *                              char *err, size_t err_len) {
 *         return host->register_op(host_ctx, &scale_op, err, err_len);
 *     }
 *
 * Build it as a shared library (cc -shared -fPIC -I<prefix>/include x.c -o x.so)
 * and name it in a config: `plugins: [x.so]`. docs/writing-an-op.md walks
 * through a complete one.
 *
 * Conventions
 *   - Every activation has the batch as axis 0; parameters have no batch axis.
 *   - Attribute shapes given in YAML exclude the batch axis; axes count it.
 *   - forward writes out; backward ADDS into din[i] (din[i] is NULL when that
 *     input takes no gradient) and never clears it. An op may opt in to be
 *     told when it is the first to write a gradient (GR_OP_ASSIGNS_GRAD):
 *     then bit i of gr_args.din_assign is set, din[i] holds garbage, and
 *     backward must write (assign) every element of it instead of adding,
 *     which spares graphrun zeroing it each step (parameters': GR_OP_ASSIGNS_PARAM_GRAD).
 *   - Kernels never allocate: what forward must leave for backward goes in
 *     `saved`, temporary space in `scratch`; infer says how many bytes of each.
 *   - infer runs when the graph is built, before any allocation, and again
 *     whenever the batch changes; it must depend only on its arguments.
 *   - Attribute values reach infer and the kernels already parsed and checked
 *     against the schema (type, range, choices, default); infer reports a
 *     further problem with gr_infer_fail(inf, attr, ...), and the message
 *     points at that attribute's line and column in the user's YAML.
 *
 * What `training` means (gr_infer.training, gr_args.training)
 *   1 in a training plan: each step runs forward, then backward, with the
 *   same arguments. An op behaves as it does while learning: batch
 *   statistics, dropout masks, state updated, `saved` filled for backward.
 *   0 in an evaluation plan (periodic and final accuracy, eval, predict):
 *   forward only, `saved` is NULL, and an op behaves as at inference
 *   (running statistics, no dropout) and changes no state. infer sees the
 *   flag of the plan it sizes, so it may ask for `saved` only in training.
 *   backward is only ever called in training.
 *
 * During backward, in[] (inputs, parameters and state) and out still hold
 *   what forward left there: nothing runs between an op's forward and its
 *   backward that writes them (a view's output is its input's memory, and
 *   graphrun never reuses a value's buffer within a step). So backward may
 *   recompute from x or y instead of saving them.
 *
 * Inside a parallel_for job a kernel may call sgemm (it runs inline, on the
 *   job's thread, single-threaded), random_uniform, and its own code; it must
 *   not call parallel_for (a nested call also runs inline, which is correct
 *   but serial), alloc or free, nor register_op. Jobs of one call run at the
 *   same time on different threads: each writes only its own part of the
 *   output (or of scratch), and the split into chunks depends only on n and
 *   the thread count, so a result that must not depend on the thread count
 *   has to be summed in fixed blocks (see ops/layer_norm.c).
 *
 * Growing the ABI without a version bump
 *   GR_ABI_VERSION stays 1 while structs only grow at their end:
 *   gr_host, gr_infer and gr_args (graphrun allocates them; a plugin built
 *   against an older header reads and writes the prefix it knows) and
 *   gr_op_desc (the plugin owns it: graphrun copies the bytes an older
 *   plugin declared into a zero-filled descriptor of its own, so fields the
 *   plugin never knew read as 0). A copy of the first version of this header
 *   is kept in tests/plugin_abi1/, and a plugin built against it is loaded
 *   and trained by the test suite. Grown so far, in this order: gr_infer's
 *   index_limit; gr_op_desc's lower (ONNX export) and state tables;
 *   gr_infer's state shapes; gr_args's random stream (rng_key, rng_step);
 *   gr_host's random_uniform; the initializers he_uniform, lecun_normal,
 *   lecun_uniform; GR_OP_ASSIGNS_GRAD with gr_args's din_assign;
 *   GR_OP_FUSES_RELU with gr_args's fused, then GR_OP_MASKS_RELU;
 *   gr_args's params_kept; gr_host's threads; GR_OP_ASSIGNS_PARAM_GRAD;
 *   gr_infer's in_grad. The flags GR_OP_FUSES_POOL, GR_OP_ROWWISE and
 *   GR_OP_ROW_MEAN are built-in ops' only (a plugin declaring one is refused).
 */
#ifndef GRAPHRUN_PLUGIN_H
#define GRAPHRUN_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when a struct below changes in a way that breaks an old plugin.
 * Growing a struct at its end does not (see "Growing the ABI" above): struct
 * gr_host, gr_infer and gr_args, which graphrun allocates and plugins only
 * receive, and gr_op_desc, copied into a zero-filled one of today's size. */
#define GR_ABI_VERSION 1

#define GR_MAX_DIMS 6
#define GR_MAX_INPUTS 16 /* user inputs, parameters and state */
#define GR_MAX_PARAMS 8
#define GR_MAX_ATTRS 24
#define GR_ERR_LEN 512

enum gr_dtype { GR_F32 = 0, GR_I32 = 1 };

struct gr_shape {
    int rank;
    int64_t dim[GR_MAX_DIMS];
};

struct gr_tensor {
    enum gr_dtype dtype;
    struct gr_shape shape;
    void *data;
};

/* *out = a * b for sizes a, b >= 0; returns -1 (and leaves *out) when a size
 * is negative or the product exceeds INT64_MAX. Every product of sizes a user
 * gives (attributes, input shapes) goes through this in infer. */
static inline int gr_size_mul(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a)) return -1;
    *out = a * b;
    return 0;
}

/* Number of elements: the product of the dims (1 for rank 0), for shapes
 * already checked (graphrun checks every inferred shape before use; infer
 * multiplies unchecked sizes with gr_size_mul). */
static inline int64_t gr_shape_count(const struct gr_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->dim[i];
    return n;
}

/* "[64, 28, 28]" into buf, for messages (at most GR_MAX_DIMS dims); returns buf. */
static inline const char *gr_shape_format(const struct gr_shape *s, char *buf, size_t len) {
    size_t used = 0;
    int w = snprintf(buf, len, "[");
    for (int i = 0; w >= 0 && (used += (size_t)w) < len && i < s->rank && i < GR_MAX_DIMS; i++)
        w = snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)s->dim[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

/* ---- attributes ---------------------------------------------------------- */

enum gr_attr_type {
    GR_ATTR_INT,    /* YAML integer, checked against [min, max] */
    GR_ATTR_FLOAT,  /* YAML number, checked against [min, max] */
    GR_ATTR_BOOL,   /* true / false */
    GR_ATTR_STRING, /* one of `choices` when given */
    GR_ATTR_INTS,   /* list of integers, at most GR_MAX_DIMS, each in [min, max] */
};

struct gr_attr_spec {
    const char *name;
    enum gr_attr_type type;
    const char *doc;
    /* Default as YAML text ("64", "1.0", "true", "[28, 28]", "zeros"), parsed
     * and range-checked by the same code as a user's value. NULL: the
     * attribute is required, unless `optional` is set (then `present` says). */
    const char *def;
    int optional;
    double min, max;            /* both 0: no range check */
    const char *const *choices; /* NULL-terminated, for GR_ATTR_STRING */
};

struct gr_attr_value {
    int present;               /* given in YAML, or defaulted */
    int64_t i;                 /* INT, BOOL */
    double f;                  /* FLOAT (INT values are mirrored here too) */
    const char *s;             /* STRING */
    int n;                     /* INTS: how many */
    int64_t ints[GR_MAX_DIMS]; /* INTS */
};

/* ---- parameters an op owns ---------------------------------------------- */

/* Initializers, by the fans of the parameter's shape (as Keras computes them):
 *   rank 0:     fan_in = fan_out = 1
 *   rank 1 [n]: fan_in = fan_out = n
 *   rank >= 2:  rf = the product of every axis but the last two (1 for a
 *               matrix), fan_in = dim[-2] * rf, fan_out = dim[-1] * rf;
 *               a conv kernel [KH, KW, C, F]: fan_in = KH*KW*C, fan_out = KH*KW*F,
 *               a dense kernel [I, U]: fan_in = I, fan_out = U.
 * Normal ones are plain (not truncated) normals. New values are only ever
 * appended (a plugin stores the number). A config chooses another
 * initializer for an op's parameter with the node key `init:`
 * (`init: {kernel: he_normal}`). */
enum gr_init {
    GR_INIT_ZEROS,
    GR_INIT_ONES,
    GR_INIT_GLOROT_UNIFORM, /* U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
    GR_INIT_GLOROT_NORMAL,  /* N(0, 2 / (fan_in + fan_out)) */
    GR_INIT_HE_NORMAL,      /* N(0, 2 / fan_in) */
    GR_INIT_HE_UNIFORM,     /* U(-a, a), a = sqrt(6 / fan_in) */
    GR_INIT_LECUN_NORMAL,   /* N(0, 1 / fan_in) */
    GR_INIT_LECUN_UNIFORM,  /* U(-a, a), a = sqrt(3 / fan_in) */
    GR_INIT_COUNT
};

/* A parameter becomes a node named "<node>.<name>" and is appended to the op's
 * inputs after the user inputs. infer sets its shape in inf->param[k]; the
 * fans of its initializer are those above.
 *
 * State (gr_op_desc.state) is declared with the same struct: a tensor the op
 * keeps across steps that is not trained (batch normalisation's running mean
 * and variance). It becomes a `param` node named "<node>.<name>" with
 * trainable false, starting at its initializer's values; it is appended to
 * the inputs after the parameters, takes no gradient, is never touched by
 * the optimizer, is saved in checkpoints (param/<node>.<name>) and shown by
 * `graphrun summary` as state. forward writes it in training (in[k]->data
 * is writable) and only reads it in evaluation. infer sets its shape in
 * inf->state[k]. */
struct gr_param_spec {
    const char *name;
    enum gr_init init;
    const char *doc;
};

/* ---- shape inference ----------------------------------------------------- */

struct gr_infer {
    int n_in;                                   /* user inputs */
    const struct gr_shape *in[GR_MAX_INPUTS];
    enum gr_dtype in_dtype[GR_MAX_INPUTS];
    const struct gr_attr_value *attrs;          /* indexed like desc->attrs */
    int64_t batch;                              /* for ops that start a batch */
    int training;                               /* 0: forward only, nothing saved */

    /* set by infer */
    struct gr_shape out;
    enum gr_dtype out_dtype;                    /* zero: GR_F32 */
    struct gr_shape param[GR_MAX_PARAMS];
    size_t saved_bytes;   /* kept from forward to backward, per node */
    size_t scratch_bytes; /* temporary, shared between nodes */

    /* on failure: a message without location, and the attribute to blame (-1: the node) */
    char err[GR_ERR_LEN];
    int err_attr;

    /* ---- grown at the end (older plugins never see these) ---- */
    /* Set by infer when user input k holds integer indices that must lie in
     * [0, index_limit[k]) (a loss's class labels, an embedding's rows);
     * graphrun checks the data before a run, so kernels may trust it. 0: no limit. */
    int64_t index_limit[GR_MAX_INPUTS];
    /* Set by infer for each state tensor the op declares (desc->state), like param[]. */
    struct gr_shape state[GR_MAX_PARAMS];
    /* For desc->flops only: 1 where backward forms din[k] (none of the data) */
    unsigned char in_grad[GR_MAX_INPUTS];
};

/* Format an error into inf->err, blame attribute `attr` (-1: the node) and
 * return -1, so infer can `return gr_infer_fail(inf, ...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int gr_infer_fail(struct gr_infer *inf, int attr, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(inf->err, sizeof inf->err, fmt, ap);
    va_end(ap);
    inf->err_attr = attr;
    return -1;
}

/* ---- kernels ------------------------------------------------------------- */

struct gr_host;

struct gr_args {
    int n_in;                                 /* user inputs + parameters + state */
    const struct gr_tensor *in[GR_MAX_INPUTS];
    struct gr_tensor *out;
    struct gr_tensor *din[GR_MAX_INPUTS];     /* NULL: no gradient wanted */
    const struct gr_tensor *dout;             /* backward only */
    void *saved;                              /* infer's saved_bytes */
    void *scratch;                            /* infer's scratch_bytes */
    const struct gr_attr_value *attrs;
    const struct gr_host *host;
    void *host_ctx;                           /* pass back to host calls */
    int training;                             /* see "What training means" */

    /* ---- grown at the end (older plugins never see these) ---- */
    /* This node's random stream, read by host->random_uniform (which is how
     * an op should use them). rng_key: the run's seed (train.seed) and the
     * node's name, hashed, so it does not depend on the node's place in the
     * graph. *rng_step: the training step under way (1 on the first step,
     * the same in that step's forward and backward, restored by --resume;
     * 0 in evaluation). gradcheck holds it fixed, so a random op replays. */
    uint64_t rng_key;
    const int64_t *rng_step;
    /* Bit i set: din[i] was not cleared and this backward is its first
     * writer, so it must assign every element (din[i] = ..., not +=). Set
     * only for an op with GR_OP_ASSIGNS_GRAD, only for an input that is not
     * a parameter and that appears once among the node's inputs; backward
     * only, 0 otherwise. */
    uint32_t din_assign;
    /* GR_FUSED_* bits: the plan folded this node's only consumer into it
     * (an op with GR_OP_FUSES_RELU only). With GR_FUSED_RELU, `out` is the
     * relu node's output: forward writes max(y, 0) of its own result y, and
     * `dout` is the gradient of that, so backward takes dy = dout where
     * out > 0, else 0, as relu's backward would have given it; with
     * GR_FUSED_RELU_MASKED too, the consumer already zeroed dout where out
     * is not > 0, so backward takes it as it is. With GR_FUSED_MASK_RELU
     * (an op with GR_OP_MASKS_RELU only), input 0 is such a folded relu's
     * output and this op its only reader: backward routes dy into dx only
     * where its own output is > 0, which for a max of relu outputs is
     * where the cell it took passed the relu. GR_FUSED_POOL (built-in ops
     * only: set for no plugin's op) adds to GR_FUSED_RELU and
     * GR_FUSED_RELU_MASKED a 2 x 2 max pool whose windows tile the relu's
     * output and which is its only reader: `out` and `dout` are the pool's
     * value and gradient, y and the relu's value are never stored, and
     * in[n_in] holds the pool's index (one byte per pooled value, the
     * format of ops/pool.h; data NULL outside training), which forward
     * writes and backward reads to route dout to the cells taken. */
    uint32_t fused;
    /* 1: the parameters are those of this node's last forward and backward
     * in this plan (a step by leaves, from a plan's second leaf), so what
     * they derived from them alone into `saved` holds. 0 otherwise. */
    uint32_t params_kept;
};
enum gr_fused {
    GR_FUSED_RELU = 1u << 0,
    GR_FUSED_RELU_MASKED = 1u << 1,
    GR_FUSED_MASK_RELU = 1u << 2,
    GR_FUSED_POOL = 1u << 3,
};

/* ---- the op descriptor --------------------------------------------------- */

struct gr_lower;

enum gr_op_flags {
    GR_OP_INPUT = 1u << 0, /* runtime feeds it from data (built-in only) */
    GR_OP_PARAM = 1u << 1, /* a trainable parameter (built-in only) */
    GR_OP_VIEW = 1u << 2,  /* the output is input 0's memory under another
                              shape (same element count): forward has
                              nothing to do; backward still adds into din[0] */
    GR_OP_ASSIGNS_GRAD = 1u << 3, /* backward honours gr_args.din_assign */
    GR_OP_FUSES_RELU = 1u << 4,   /* honours gr_args.fused's GR_FUSED_RELU */
    GR_OP_RELU = 1u << 5,         /* the op is y = max(x, 0) with relu's
                                     gradient, exactly: a producer with
                                     GR_OP_FUSES_RELU may run it instead,
                                     and its own kernels then never run */
    GR_OP_MASKS_RELU = 1u << 6,   /* honours gr_args.fused's GR_FUSED_MASK_RELU */
    GR_OP_FUSES_POOL = 1u << 7,   /* honours gr_args.fused's GR_FUSED_POOL
                                     (built-in only: it writes max_pool2d's
                                     index, whose format is graphrun's own) */
    /* Built-in only, they let a training step run by leaves with one
     * pass's bits (runtime/session/leaves.h): */
    GR_OP_ROWWISE = 1u << 8,  /* row r of the output reads only row r of the
                                 inputs; parameters' gradients summed over
                                 graphrun's halving tree of the rows */
    GR_OP_ROW_MEAN = 1u << 9, /* one float, the mean over rows of terms a row
                                 each; backward scales dout by 1 / rows */
    GR_OP_ASSIGNS_PARAM_GRAD = 1u << 10, /* din_assign for parameters too */
};

struct gr_op_desc {
    const char *name;
    const char *summary;    /* one line of math */
    const char *inputs_doc; /* the inputs and their shapes, e.g. "x [B, T, I]" */
    int min_inputs, max_inputs;
    uint32_t no_grad; /* bit i set: user input i takes no gradient (labels) */
    const struct gr_attr_spec *attrs;
    int n_attrs;
    const struct gr_param_spec *params;
    int n_params;
    int (*infer)(struct gr_infer *inf);
    void (*forward)(const struct gr_args *a);
    void (*backward)(const struct gr_args *a); /* NULL: not differentiable */
    unsigned flags;
    /* Optional: floating-point operations (a multiply-add counts 2) for the
     * whole batch, given the inferred shapes in `inf` (inf->out included);
     * backward's for the gradients inf->in_grad marks. */
    void (*flops)(const struct gr_infer *inf, double *forward, double *backward);
    /* ---- grown at the end: graphrun copies the bytes a plugin's header
     * declared (its sizeof_op_desc) into a zero-filled descriptor, so an
     * older plugin reads as having none of these. In the order they were
     * added: a plugin built against any earlier plugin.h loads. ---- */
    /* Optional: how the op is written into an ONNX model by `graphrun
     * export` (see graphrun/lower.h, included below); NULL: a graph holding the op
     * on the way to the logits cannot be exported. */
    int (*lower)(struct gr_lower *lw);
    /* Non-trainable state, declared like parameters (see struct
     * gr_param_spec): inputs n_user + n_params ... in[] order. */
    const struct gr_param_spec *state;
    int n_state;
};

/* ---- the host table ------------------------------------------------------ */

enum gr_trans { GR_NO_TRANS = 0, GR_TRANS = 1 };

/* Grows only at its end: a plugin checks `size` before using a later field. */
struct gr_host {
    uint32_t abi_version;
    uint32_t size; /* sizeof(struct gr_host) of the running graphrun */

    /* Register an op. graphrun copies the descriptor itself, but not what
     * it points to: names, tables and functions must outlive graphrun's use
     * of them (plugins stay loaded until the context is freed). */
    int (*register_op)(void *host_ctx, const struct gr_op_desc *desc, char *err, size_t err_len);

    /* Row-major C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C. */
    void (*sgemm)(void *host_ctx, enum gr_trans ta, enum gr_trans tb, int64_t m,
                  int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

    /* Run fn(arg, begin, end) over [0, n) split into chunks, on the context's
     * threads; returns when all chunks are done. */
    void (*parallel_for)(void *host_ctx, int64_t n,
                         void (*fn)(void *arg, int64_t begin, int64_t end), void *arg);

    /* Memory from graphrun's allocator (64-byte aligned), for a plugin's own
     * tables at init; kernels never allocate. */
    void *(*alloc)(void *host_ctx, size_t bytes);
    void (*free)(void *host_ctx, void *p);

    /* ---- grown at the end: check `size` before using these ---- */
    /* out[i] = u(offset + i) for i in [0, n): uniform in [0, 1) with 24
     * random bits, a pure function of (a->rng_key, *a->rng_step, offset + i).
     * The generator is counter-based, Philox-4x32-10 (Salmon et al. 2011):
     * element e is word e mod 4 of the block at counter (e / 4 as 64 bits,
     * step as 64 bits) under the 64-bit key. So a value depends neither on
     * the thread that draws it nor on how the work is split (a parallel_for
     * job draws its own range with offset = its begin), a step's forward and
     * backward draw the same values (backward can regenerate a mask instead
     * of saving it), a resumed run draws what the unbroken run drew, and
     * gradcheck, which holds the step fixed, replays them. */
    void (*random_uniform)(void *host_ctx, const struct gr_args *a, int64_t offset, int64_t n, float *out);
    /* How many threads a parallel_for called from here runs its chunks on:
     * the context's, or 1 inside a job (a nested call runs inline). */
    int (*threads)(void *host_ctx);
};

/* Whether the running graphrun's host table has `field` (a plugin built
 * against this header, run by an older graphrun, checks before calling). */
#define GR_HOST_HAS(host, field) ((host)->size >= offsetof(struct gr_host, field) + sizeof((host)->field))

/* A plugin's one entry point. Built-in ops are registered by a function of
 * this same type (gr_builtin_init). Returns 0, or non-zero with a message. */
typedef int (*gr_plugin_init_fn)(const struct gr_host *host, void *host_ctx, char *err, size_t err_len);
#define GR_PLUGIN_ENTRY "graphrun_plugin_init"
/* What a plugin defines (graphrun itself never does). */
int graphrun_plugin_init(const struct gr_host *host, void *host_ctx, char *err, size_t err_len);

/* What a plugin was built against, read by the loader before it calls any of
 * the plugin's code: the ABI version and the sizes of the structs and types
 * that cross the boundary (as Lua's loader checks its numeric types). */
struct gr_plugin_abi {
    uint32_t abi_version;
    uint32_t sizeof_op_desc, sizeof_attr_spec, sizeof_attr_value, sizeof_param_spec;
    uint32_t sizeof_infer, sizeof_args, sizeof_tensor, sizeof_shape;
    uint32_t sizeof_int64, sizeof_float, sizeof_pointer;
};
#define GR_PLUGIN_ABI_SYMBOL "graphrun_plugin_abi"
#define GR_PLUGIN_ABI_INIT                                                                                            \
    {                                                                                                                 \
        GR_ABI_VERSION, (uint32_t)sizeof(struct gr_op_desc), (uint32_t)sizeof(struct gr_attr_spec),                  \
            (uint32_t)sizeof(struct gr_attr_value), (uint32_t)sizeof(struct gr_param_spec),                           \
            (uint32_t)sizeof(struct gr_infer), (uint32_t)sizeof(struct gr_args), (uint32_t)sizeof(struct gr_tensor), \
            (uint32_t)sizeof(struct gr_shape), (uint32_t)sizeof(int64_t), (uint32_t)sizeof(float),                    \
            (uint32_t)sizeof(void *)                                                                                  \
    }
/* Put this once in a plugin's source, at file scope. */
#define GR_PLUGIN_DECLARE() const struct gr_plugin_abi graphrun_plugin_abi = GR_PLUGIN_ABI_INIT

#ifdef __cplusplus
}
#endif

/* Lowering to ONNX (struct gr_lower, struct gr_onnx): part of this contract,
 * in a header of its own. */
#include "lower.h"
#endif
