/* dense: y[..., U] = x[..., I] @ kernel[I, U] + bias[U]
 * Parameters as TensorFlow's dense layer makes them by default: kernel
 * Glorot-uniform (fan_in = I, fan_out = U), bias zeros.
 * backward (R = rows of x, i.e. all axes but the last):
 *   dx[R, I] += dy[R, U] @ kernel^T
 *   dkernel[I, U] += x^T @ dy
 *   dbias[U] += sum over rows of dy
 * the two sums over the batch taken leaf by leaf up util.h's tree, so they
 * are the same bits however the batch is split between ranks. */
#include "graphrun/plugin.h"
#include "lower.h"
#include "util.h"

enum { A_UNITS };
static const struct gr_attr_spec dense_attrs[] = {
    [A_UNITS] = {"units", GR_ATTR_INT, "output features U", .min = 1, .max = 1 << 24},
};
enum { P_KERNEL, P_BIAS };
static const struct gr_param_spec dense_params[] = {
    [P_KERNEL] = {"kernel", GR_INIT_GLOROT_UNIFORM, "[I, U]"},
    [P_BIAS] = {"bias", GR_INIT_ZEROS, "[U]"},
};
enum { IN_X, IN_KERNEL, IN_BIAS };

static int dense_infer(struct gr_infer *inf) {
    const struct gr_shape *x = inf->in[0];
    if (inf->in_dtype[0] != GR_F32) return gr_infer_fail(inf, -1, "input must be float32");
    if (x->rank < 2) return gr_infer_fail(inf, -1, "input needs a batch axis and a feature axis, has rank %d", x->rank);
    int64_t in = x->dim[x->rank - 1], units = inf->attrs[A_UNITS].i;
    inf->out = *x;
    inf->out.dim[x->rank - 1] = units;
    inf->param[P_KERNEL] = (struct gr_shape){2, {in, units}};
    inf->param[P_BIAS] = (struct gr_shape){1, {units}};
    /* the gradient's leaves after the first, [kernel, bias] each */
    if (inf->training) inf->scratch_bytes = (size_t)((gr_sum_leaves(x->dim[0]) - 1) * (in + 1) * units) * sizeof(float);
    return 0;
}

static void dense_forward(const struct gr_args *a) {
    const float *x = a->in[IN_X]->data, *w = a->in[IN_KERNEL]->data, *b = a->in[IN_BIAS]->data;
    float *y = a->out->data;
    int64_t in = a->in[IN_KERNEL]->shape.dim[0], u = a->in[IN_KERNEL]->shape.dim[1];
    int64_t rows = gr_shape_count(&a->in[IN_X]->shape) / in;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < u; j++) y[r * u + j] = b[j];
    a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_NO_TRANS, rows, u, in, 1.0f, x, in, w, u, 1.0f, y, u);
}

/* dkernel and dbias over the samples [lo, hi), rows per sample each, into
 * their parts (added onto part 0 unless told to assign it, written into
 * the others) */
static void leaf_grads(const struct gr_args *a, int64_t lo, int64_t hi, int64_t per, float *dk, float *db, int onto_k,
                       int onto_b) {
    const float *x = a->in[IN_X]->data, *dy = a->dout->data;
    int64_t in = a->in[IN_KERNEL]->shape.dim[0], u = a->in[IN_KERNEL]->shape.dim[1];
    int64_t r0 = lo * per, r1 = hi * per;
    if (dk)
        a->host->sgemm(a->host_ctx, GR_TRANS, GR_NO_TRANS, in, u, r1 - r0, 1.0f, x + r0 * in, in, dy + r0 * u, u,
                       onto_k ? 1.0f : 0.0f, dk, u);
    if (db) gr_sum_rows(a, dy, u, r0, r1, db, u, onto_b);
}

static void dense_backward(const struct gr_args *a) {
    const float *w = a->in[IN_KERNEL]->data, *dy = a->dout->data;
    int64_t in = a->in[IN_KERNEL]->shape.dim[0], u = a->in[IN_KERNEL]->shape.dim[1];
    int64_t rows = gr_shape_count(&a->in[IN_X]->shape) / in, n = a->in[IN_X]->shape.dim[0];
    if (a->din[IN_X])
        a->host->sgemm(a->host_ctx, GR_NO_TRANS, GR_TRANS, rows, in, u, 1.0f, dy, u, w, u, 1.0f, a->din[IN_X]->data, in);
    float *dk = a->din[IN_KERNEL] ? a->din[IN_KERNEL]->data : NULL, *db = a->din[IN_BIAS] ? a->din[IN_BIAS]->data : NULL;
    int64_t leaves = gr_sum_leaves(n);
    /* parts 1.. in scratch, none (and no scratch) for a batch of one leaf */
    float *rk = leaves > 1 ? a->scratch : NULL, *rb = rk ? rk + (leaves - 1) * in * u : NULL;
    for (int64_t k = 0; k < leaves; k++) {
        int64_t lo, hi;
        gr_sum_leaf(n, k, &lo, &hi);
        leaf_grads(a, lo, hi, rows / n, dk ? gr_sum_part(dk, rk, in * u, k) : NULL,
                   db ? gr_sum_part(db, rb, u, k) : NULL, k == 0 && !gr_din_assigns(a, IN_KERNEL),
                   k == 0 && !gr_din_assigns(a, IN_BIAS));
    }
    if (dk) gr_sum_tree(a, n, dk, rk, in * u);
    if (db) gr_sum_tree(a, n, db, rb, u);
}

static void dense_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    const struct gr_shape *x = inf->in[0];
    double in = (double)x->dim[x->rank - 1], u = (double)inf->attrs[A_UNITS].i;
    double rows = (double)gr_shape_count(x) / in;
    *fwd = 2 * rows * in * u + rows * u;
    /* dX = dY @ K^T and dK = X^T @ dY, each where it is wanted */
    *bwd = (inf->in_grad[IN_X] + inf->in_grad[IN_KERNEL]) * 2 * rows * in * u + rows * u;
}

/* Gemm(x, kernel, bias) for x [B, I]; MatMul then Add for more axes */
static int dense_lower(struct gr_lower *lw) {
    if (lw->in_shape[IN_X].rank == 2) return gr_lower_same(lw, "Gemm", 0, NULL);
    const char *in[2] = {lw->in[IN_X], lw->in[IN_KERNEL]}, *xw = lw->onnx->fresh(lw, "xw");
    if (!xw || lw->onnx->node(lw, "MatMul", 2, in, 1, &xw, 0, NULL)) return -1;
    const char *sum[2] = {xw, lw->in[IN_BIAS]};
    return lw->onnx->node(lw, "Add", 2, sum, 1, &lw->out, 0, NULL);
}

const struct gr_op_desc gr_op_dense = {
    .name = "dense",
    .summary = "y[..., U] = x[..., I] @ kernel[I, U] + bias[U]",
    .inputs_doc = "x [..., I]",
    .min_inputs = 1,
    .max_inputs = 1,
    .attrs = dense_attrs,
    .n_attrs = 1,
    .params = dense_params,
    .n_params = 2,
    .infer = dense_infer,
    .forward = dense_forward,
    .backward = dense_backward,
    .flags = GR_OP_ROWWISE | GR_OP_ASSIGNS_PARAM_GRAD,
    .flops = dense_flops,
    .lower = dense_lower,
};
