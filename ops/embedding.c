/* embedding: int32 indices to rows of a trainable table.
 *   x[B, ...] int32 -> y[B, ..., D],  y[i, :] = embeddings[x[i], :]
 * Parameter embeddings [V, D] (V = input_dim, D = output_dim),
 * Glorot-uniform over [V, D] (Keras draws U(-0.05, 0.05) and PyTorch
 * N(0, 1): copy their tables in to match them).
 * backward: dembeddings[x[i], :] += dy[i, :]; the indices take no gradient.
 *
 * Every index must lie in [0, V). The kernels do not stop a run, so the
 * data feeding this op has to be checked before training starts (as labels
 * are against the logits); an index that slips through gives a row of NaN,
 * which stops training at this node, and is skipped by backward: it never
 * reads or writes outside the table and is never clamped to a valid row. */
#include <math.h>

#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

enum { A_INPUT_DIM, A_OUTPUT_DIM };
static const struct gr_attr_spec embedding_attrs[] = {
    [A_INPUT_DIM] = {"input_dim", GR_ATTR_INT, "vocabulary size V: indices lie in [0, V)", .min = 1, .max = INT32_MAX},
    [A_OUTPUT_DIM] = {"output_dim", GR_ATTR_INT, "vector length D", .min = 1, .max = 1 << 24},
};
enum { P_EMBEDDINGS };
static const struct gr_param_spec embedding_params[] = {
    [P_EMBEDDINGS] = {"embeddings", GR_INIT_GLOROT_UNIFORM, "[V, D]: row v is index v's vector"},
};
enum { IN_X, IN_TABLE };

static int embedding_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    if (inf->in_dtype[0] != GR_I32) return gr_infer_fail(inf, -1, "input must be int32 indices (labels)");
    if (x->rank + 1 > GR_MAX_DIMS) return gr_infer_fail(inf, -1, "input has %d axes; at most %d", x->rank, GR_MAX_DIMS - 1);
    int64_t V = inf->attrs[A_INPUT_DIM].i, D = inf->attrs[A_OUTPUT_DIM].i, table;
    if (gr_mul_i64(V, D, &table) || table > ((int64_t)1 << 36))
        return gr_infer_fail(inf, A_INPUT_DIM, "input_dim: a table of %lld x %lld floats is too large", (long long)V, (long long)D);
    inf->out = *x;
    inf->out.dim[x->rank] = D;
    inf->out.rank = x->rank + 1;
    inf->param[P_EMBEDDINGS] = (struct gr_shape){2, {V, D}};
    inf->index_limit[0] = V; /* an index picks one of V rows */
    return 0;
}

static void forward_part(void *arg, int64_t i0, int64_t i1) {
    const struct gr_args *a = arg;
    const int32_t *x = a->in[IN_X]->data;
    const float *table = a->in[IN_TABLE]->data;
    float *y = a->out->data;
    int64_t V = a->in[IN_TABLE]->shape.dim[0], D = a->in[IN_TABLE]->shape.dim[1];
    for (int64_t i = i0; i < i1; i++) {
        float *yi = y + i * D;
        if (x[i] >= 0 && x[i] < V) {
            const float *row = table + (int64_t)x[i] * D;
            for (int64_t d = 0; d < D; d++) yi[d] = row[d];
        } else {
            for (int64_t d = 0; d < D; d++) yi[d] = NAN;
        }
    }
}

static void embedding_forward(const struct gr_args *a) {
    int64_t n = gr_shape_count(&a->in[IN_X]->shape), D = a->in[IN_TABLE]->shape.dim[1];
    if (n * D >= GR_PARALLEL_MIN) a->host->parallel_for(a->host_ctx, n, forward_part, (void *)a);
    else forward_part((void *)a, 0, n);
}

/* Rows of the table scatter-added one index after another, in order. */
static void embedding_backward(const struct gr_args *a) {
    if (!a->din[IN_TABLE]) return;
    const int32_t *x = a->in[IN_X]->data;
    const float *dy = a->dout->data;
    float *dt = a->din[IN_TABLE]->data;
    int64_t n = gr_shape_count(&a->in[IN_X]->shape), V = a->in[IN_TABLE]->shape.dim[0],
            D = a->in[IN_TABLE]->shape.dim[1];
    for (int64_t i = 0; i < n; i++) {
        if (x[i] < 0 || x[i] >= V) continue;
        float *row = dt + (int64_t)x[i] * D;
        for (int64_t d = 0; d < D; d++) row[d] += dy[i * D + d];
    }
}

static void embedding_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    *fwd = 0;
    *bwd = (double)gr_shape_count(&inf->out);
}

/* Gather(embeddings, indices): the table is ONNX's data input, the int32
 * indices its second */
static int embedding_lower(struct gr_lower *lw) {
    const char *in[2] = {lw->in[IN_TABLE], lw->in[IN_X]};
    return lw->onnx->node(lw, "Gather", 2, in, 1, &lw->out, 0, NULL);
}

const struct gr_op_desc gr_op_embedding = {
    .name = "embedding",
    .summary = "y[B, ..., D] = embeddings[x[B, ...]]; indices must be checked to lie in [0, V) before training "
               "(one outside gives NaN, never a clamped row)",
    .inputs_doc = "x [B, ...] int32 indices",
    .min_inputs = 1,
    .max_inputs = 1,
    .no_grad = 1u << IN_X,
    .attrs = embedding_attrs,
    .n_attrs = 2,
    .params = embedding_params,
    .n_params = 1,
    .infer = embedding_infer,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .flops = embedding_flops,
    .lower = embedding_lower,
};
