/* Folding a relu into the node before it (plan.h, gr_plan_fuse).
 *
 * A producer p whose op has GR_OP_FUSES_RELU and whose only consumer is a
 * relu node r (GR_OP_RELU) reading nothing else runs r for it: p's
 * arguments point `out` and `dout` at r's value and gradient with
 * GR_FUSED_RELU set, so p writes max(y, 0) where r would have read y, and
 * its backward masks r's gradient itself; r runs neither forward nor
 * backward. That saves a pass over the tensor each way, and the read of
 * p's own value in between. If r's only reader is an op that can apply
 * relu's mask as it routes its gradient (GR_OP_MASKS_RELU: a max pool,
 * whose output is > 0 exactly where the cell it took is), it does, and p
 * takes r's gradient unmasked: p's backward reads neither r's value nor
 * a mask. If that pool's 2 x 2 windows tile its input, p's op has
 * GR_OP_FUSES_POOL (reserved to built-in ops) and the pool is built-in, p
 * runs the pool as well (GR_FUSED_POOL): `out` and `dout` become the
 * pool's value and gradient, in[n_in] the pool's index (its
 * saved bytes, p->pool_index), and the pool runs nothing; r's value and
 * gradient are then never written either. p's value and gradient buffers
 * are left unwritten, so p must not be a target: nothing reads them. The
 * results are those of the nodes run one after the other, bit for bit. */
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/engine/plan.h"
#include "runtime/host/registry.h"

/* consumers[v]: how many input slots of run nodes read v; last[v]: one of them */
static void count_consumers(const struct gr_plan *p, int *consumers, int *last) {
    for (int i = 0; i < p->g->n; i++) consumers[i] = 0, last[i] = -1;
    for (int o = 0; o < p->n_order; o++) {
        int i = p->order[o];
        const struct gr_node *nd = &p->g->nodes[i];
        for (int k = 0; k < nd->n_in; k++) {
            consumers[nd->in[k]]++;
            last[nd->in[k]] = i;
        }
    }
}

/* Whether node v, whose relu is read by max pool m alone, can run m too:
 * v's op says it can (GR_OP_FUSES_POOL, which only built-in ops may
 * declare: batch_norm), both are built-in (a plugin's op never sees
 * GR_FUSED_POOL, nor has its pool's index written for it) and m's windows
 * 2 x 2 tiling its input, which max_pool2d tells by keeping one byte per
 * output value in training (ops/pool.h). */
static int pool_folds(const struct gr_plan *p, int v, int m) {
    struct gr_graph *g = p->g;
    if (!(g->nodes[v].op->flags & GR_OP_FUSES_POOL) || !g->ctx->reg) return 0;
    const struct gr_op_entry *ev = gr_registry_entry(g->ctx->reg, g->nodes[v].op->name);
    const struct gr_op_entry *em = gr_registry_entry(g->ctx->reg, g->nodes[m].op->name);
    if (!ev || !em || ev->desc != g->nodes[v].op || em->desc != g->nodes[m].op ||
        strcmp(ev->origin, "built-in") != 0 || strcmp(em->origin, "built-in") != 0)
        return 0;
    struct gr_infer inf;
    gr_node_infer_args(g, m, p->cap, 1, NULL, NULL, &inf);
    if (g->nodes[m].op->infer(&inf)) return 0;
    return inf.saved_bytes == (size_t)gr_shape_count(&inf.out);
}

/* v writes m's output and index and takes m's gradient; m runs nothing */
static void fold_pool(struct gr_plan *p, int v, int m) {
    struct gr_args *a = &p->args[v];
    p->pool_index[v] = (struct gr_tensor){GR_F32, p->val[m].shape, p->args[m].saved}; /* bytes, not floats */
    GR_ASSERT(a->n_in < GR_MAX_INPUTS);
    a->in[a->n_in] = &p->pool_index[v];
    a->out = &p->val[m];
    a->dout = &p->grad[m];
    a->fused |= GR_FUSED_POOL;
    p->absorbed[m] = 1;
}

int gr_plan_fuse(struct gr_plan *p, const int *targets, int n_targets) {
    struct gr_graph *g = p->g;
    int *consumers = gr_alloc(g->ctx, 2 * (size_t)g->n * sizeof *consumers);
    if (!consumers) return -1;
    int *last = consumers + g->n;
    count_consumers(p, consumers, last);
    for (int t = 0; t < n_targets; t++) consumers[targets[t]] = -1; /* read by the caller */
    for (int o = 0; o < p->n_order; o++) {
        int v = p->order[o], r = last[v];
        const struct gr_node *nv = &g->nodes[v];
        if (!(nv->op->flags & GR_OP_FUSES_RELU) || (nv->op->flags & GR_OP_VIEW) || consumers[v] != 1) continue;
        const struct gr_node *nr = &g->nodes[r];
        if (!(nr->op->flags & GR_OP_RELU) || nr->n_in != 1 || p->bwd[v] != p->bwd[r]) continue;
        p->args[v].out = &p->val[r];
        p->args[v].dout = &p->grad[r];
        p->args[v].fused |= GR_FUSED_RELU;
        p->absorbed[r] = 1;
        /* the relu's one reader may apply its mask instead (a max pool) */
        int m = last[r];
        if (consumers[r] != 1 || !(g->nodes[m].op->flags & GR_OP_MASKS_RELU) || g->nodes[m].n_in != 1 ||
            p->bwd[m] != p->bwd[r])
            continue;
        p->args[m].fused |= GR_FUSED_MASK_RELU;
        p->args[v].fused |= GR_FUSED_RELU_MASKED;
        if (pool_folds(p, v, m)) fold_pool(p, v, m);
    }
    gr_free(g->ctx, consumers);
    return 0;
}
