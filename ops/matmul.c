/* matmul: out = a @ b
 *   a[..., M, K] @ b[K, N]       -> out[..., M, N]   (b shared, e.g. a parameter)
 *   a[P..., M, K] @ b[P..., K, N] -> out[P..., M, N] (one product per leading index)
 * backward: da += dout @ b^T,  db += a^T @ dout */
#include "graphrun/plugin.h"
#include "lower.h"

static int matmul_infer(struct gr_infer *inf) {
    const struct gr_shape *a = inf->in[0], *b = inf->in[1];
    char sa[96], sb[96];
    gr_shape_format(a, sa, sizeof sa);
    gr_shape_format(b, sb, sizeof sb);
    if (inf->in_dtype[0] != GR_F32 || inf->in_dtype[1] != GR_F32) return gr_infer_fail(inf, -1, "inputs must be float32");
    if (a->rank < 2 || b->rank < 2)
        return gr_infer_fail(inf, -1, "both inputs need at least 2 axes, got %s and %s", sa, sb);
    int64_t k = a->dim[a->rank - 1];
    if (b->rank == 2) {
        if (b->dim[0] != k)
            return gr_infer_fail(inf, -1, "%s @ %s: a has %lld columns but b has %lld rows", sa, sb, (long long)k,
                                 (long long)b->dim[0]);
        inf->out = *a;
        inf->out.dim[a->rank - 1] = b->dim[1];
        return 0;
    }
    if (b->rank != a->rank)
        return gr_infer_fail(inf, -1, "%s @ %s: b must have 2 axes or as many as a", sa, sb);
    for (int i = 0; i < a->rank - 2; i++)
        if (a->dim[i] != b->dim[i])
            return gr_infer_fail(inf, -1, "%s @ %s: leading axis %d differs", sa, sb, i);
    if (b->dim[b->rank - 2] != k)
        return gr_infer_fail(inf, -1, "%s @ %s: a has %lld columns but b has %lld rows", sa, sb, (long long)k,
                             (long long)b->dim[b->rank - 2]);
    inf->out = *a;
    inf->out.dim[a->rank - 1] = b->dim[b->rank - 1];
    return 0;
}

struct mm_geom {
    int64_t p, m, k, n; /* p products of [m, k] @ [k, n] */
    int shared_b;
};

static struct mm_geom geom(const struct gr_args *x) {
    const struct gr_shape *a = &x->in[0]->shape, *b = &x->in[1]->shape;
    struct mm_geom g;
    g.k = a->dim[a->rank - 1];
    g.n = b->dim[b->rank - 1];
    g.shared_b = b->rank == 2;
    if (g.shared_b) {
        g.p = 1;
        g.m = gr_shape_count(a) / g.k;
    } else {
        g.m = a->dim[a->rank - 2];
        g.p = gr_shape_count(a) / (g.m * g.k);
    }
    return g;
}

static void matmul_forward(const struct gr_args *x) {
    struct mm_geom g = geom(x);
    const float *a = x->in[0]->data, *b = x->in[1]->data;
    float *c = x->out->data;
    for (int64_t i = 0; i < g.p; i++)
        x->host->sgemm(x->host_ctx, GR_NO_TRANS, GR_NO_TRANS, g.m, g.n, g.k, 1.0f, a + i * g.m * g.k, g.k,
                       b + i * g.k * g.n, g.n, 0.0f, c + i * g.m * g.n, g.n);
}

static void matmul_backward(const struct gr_args *x) {
    struct mm_geom g = geom(x);
    const float *a = x->in[0]->data, *b = x->in[1]->data, *dc = x->dout->data;
    for (int64_t i = 0; i < g.p; i++) {
        const float *ai = a + i * g.m * g.k, *bi = b + i * g.k * g.n, *dci = dc + i * g.m * g.n;
        if (x->din[0]) /* da[m, k] += dc[m, n] @ b[k, n]^T */
            x->host->sgemm(x->host_ctx, GR_NO_TRANS, GR_TRANS, g.m, g.k, g.n, 1.0f, dci, g.n, bi, g.n, 1.0f,
                           (float *)x->din[0]->data + i * g.m * g.k, g.k);
        if (x->din[1]) /* db[k, n] += a[m, k]^T @ dc[m, n] */
            x->host->sgemm(x->host_ctx, GR_TRANS, GR_NO_TRANS, g.k, g.n, g.m, 1.0f, ai, g.k, dci, g.n, 1.0f,
                           (float *)x->din[1]->data + i * g.k * g.n, g.n);
    }
}

/* 2MNK per product; backward forms da and db where each is wanted */
static void matmul_flops(const struct gr_infer *inf, double *fwd, double *bwd) {
    const struct gr_shape *a = inf->in[0], *b = inf->in[1];
    double k = (double)a->dim[a->rank - 1], n = (double)b->dim[b->rank - 1];
    double rows = (double)gr_shape_count(a) / k;
    *fwd = 2 * rows * n * k;
    *bwd = (inf->in_grad[0] + inf->in_grad[1]) * *fwd;
}

/* ONNX's MatMul is numpy's: b [K, N] is shared, a batched b is matched by index */
static int matmul_lower(struct gr_lower *lw) { return gr_lower_same(lw, "MatMul", 0, NULL); }

const struct gr_op_desc gr_op_matmul = {
    .name = "matmul",
    .summary = "out[..., M, N] = a[..., M, K] @ b[K, N] (or a batch of products)",
    .inputs_doc = "a [..., M, K]; b [K, N], or [..., K, N] with a's leading axes",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = matmul_infer,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .flops = matmul_flops,
    .lower = matmul_lower,
};
