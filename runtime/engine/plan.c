#include "runtime/engine/plan.h"

#include <stdio.h>
#include <string.h>

#include "runtime/base/ctx.h"
#include "runtime/host/threads.h"

#define ALIGN64(x) (((x) + 63) & ~(size_t)63)

/* Offsets and sizes of everything a plan holds, for one batch capacity. */
struct layout {
    struct gr_shape *shape;
    enum gr_dtype *dtype;
    size_t *val_off, *val_bytes, *saved_off, *saved_bytes, *grad_off;
    size_t act_grad_off, act_grad_bytes, scratch_off, scratch_bytes, total;
};

static void layout_free(struct gr_ctx *ctx, struct layout *l) {
    gr_free(ctx, l->shape);
    gr_free(ctx, l->dtype);
    gr_free(ctx, l->val_off);
    gr_free(ctx, l->val_bytes);
    gr_free(ctx, l->saved_off);
    gr_free(ctx, l->saved_bytes);
    gr_free(ctx, l->grad_off);
    memset(l, 0, sizeof *l);
}

static int mark(struct gr_graph *g, const int *targets, int n_targets, int loss, unsigned char *fwd,
                unsigned char *bwd) {
    memset(fwd, 0, (size_t)g->n);
    memset(bwd, 0, (size_t)g->n);
    for (int t = 0; t < n_targets; t++) {
        GR_ASSERT(targets[t] >= 0 && targets[t] < g->n);
        fwd[targets[t]] = 1;
    }
    for (int i = g->n - 1; i >= 0; i--)
        if (fwd[i])
            for (int k = 0; k < g->nodes[i].n_in; k++) fwd[g->nodes[i].in[k]] = 1;
    if (loss < 0) return 0;
    GR_ASSERT(fwd[loss]);
    /* gradients are wanted on the nodes the loss depends on and a parameter's
     * gradient flows through */
    unsigned char *reach = bwd;
    reach[loss] = 1;
    for (int i = g->n - 1; i >= 0; i--)
        if (reach[i])
            for (int k = 0; k < g->nodes[i].n_in; k++) reach[g->nodes[i].in[k]] = 1;
    for (int i = 0; i < g->n; i++) bwd[i] = reach[i] && g->nodes[i].needs_grad;
    return 0;
}

static int make_layout(struct gr_graph *g, int64_t cap, int training, const unsigned char *fwd,
                       const unsigned char *bwd, struct layout *l) {
    struct gr_ctx *ctx = g->ctx;
    size_t n = (size_t)g->n;
    memset(l, 0, sizeof *l);
    l->shape = gr_calloc(ctx, n, sizeof *l->shape);
    l->dtype = gr_calloc(ctx, n, sizeof *l->dtype);
    l->val_off = gr_calloc(ctx, n, sizeof(size_t));
    l->val_bytes = gr_calloc(ctx, n, sizeof(size_t));
    l->saved_off = gr_calloc(ctx, n, sizeof(size_t));
    l->saved_bytes = gr_calloc(ctx, n, sizeof(size_t));
    l->grad_off = gr_calloc(ctx, n, sizeof(size_t));
    if (!l->shape || !l->dtype || !l->val_off || !l->val_bytes || !l->saved_off || !l->saved_bytes || !l->grad_off)
        return -1;
    size_t off = 0;
    for (int i = 0; i < g->n; i++) {
        if (!fwd[i]) continue;
        struct gr_node *nd = &g->nodes[i];
        struct gr_infer inf;
        if (gr_node_infer(g, i, cap, training, l->shape, l->dtype, &inf)) return -1;
        for (int k = 0; k < nd->op->n_params + nd->op->n_state; k++) {
            const struct gr_shape *want = &g->nodes[nd->in[nd->n_user + k]].shape;
            int param = k < nd->op->n_params;
            const struct gr_shape *got = param ? &inf.param[k] : &inf.state[k - nd->op->n_params];
            if (memcmp(got, want, sizeof *want) != 0)
                return gr_fail(ctx, "node '%s': op '%s' changed the shape of %s '%s' with the batch size", nd->name,
                               nd->op->name, param ? "parameter" : "state",
                               param ? nd->op->params[k].name : nd->op->state[k - nd->op->n_params].name);
        }
        l->shape[i] = inf.out;
        l->dtype[i] = inf.out_dtype;
        if (nd->op->flags & GR_OP_PARAM) continue; /* lives in the parameter block */
        l->val_bytes[i] = gr_shape_bytes(&inf.out);
        if (nd->op->flags & GR_OP_VIEW) {
            if (l->val_bytes[i] != gr_shape_bytes(&l->shape[nd->in[0]]))
                return gr_fail(ctx, "node '%s': op '%s' is a view but changes the element count", nd->name, nd->op->name);
        } else {
            l->val_off[i] = off;
            off += ALIGN64(l->val_bytes[i]);
        }
        l->saved_off[i] = off;
        l->saved_bytes[i] = inf.saved_bytes;
        off += ALIGN64(inf.saved_bytes);
        if (inf.scratch_bytes > l->scratch_bytes) l->scratch_bytes = inf.scratch_bytes;
    }
    l->act_grad_off = off;
    for (int i = 0; i < g->n; i++) {
        if (!bwd[i] || (g->nodes[i].op->flags & GR_OP_PARAM)) continue;
        l->grad_off[i] = off;
        off += ALIGN64(l->val_bytes[i]);
    }
    l->act_grad_bytes = off - l->act_grad_off;
    l->scratch_off = off;
    off += ALIGN64(l->scratch_bytes);
    l->total = off;
    return 0;
}

/* A loss is one float that depends on a trainable parameter and on the data,
 * and every op its gradient flows through has a backward. */
static int check_loss(struct gr_graph *g, int loss, const unsigned char *fwd, const unsigned char *bwd) {
    if (loss < 0) return 0;
    struct gr_node *nd = &g->nodes[loss];
    if (gr_shape_count(&nd->shape) != 1 || nd->dtype != GR_F32) {
        char b[96];
        return gr_node_fail(g, loss, -1, "a loss must be one float, but its shape is %s",
                            gr_shape_format(&nd->shape, b, sizeof b));
    }
    if (!bwd[loss])
        return gr_node_fail(g, loss, -1, "the loss does not depend on any trainable parameter");
    int fed = 0;
    for (int i = 0; i < g->n; i++) fed |= fwd[i] && (g->nodes[i].op->flags & GR_OP_INPUT);
    if (!fed) return gr_node_fail(g, loss, -1, "the loss does not depend on any input, so no data would ever reach it");
    for (int i = 0; i < g->n; i++) {
        struct gr_node *x = &g->nodes[i];
        if (!bwd[i] || x->op->backward || (x->op->flags & (GR_OP_PARAM | GR_OP_INPUT))) continue;
        return gr_node_fail(g, i, -1, "op '%s' has no gradient, but the loss's gradient must flow through it",
                            x->op->name);
    }
    return 0;
}

static int plan_alloc(struct gr_plan *p, struct gr_ctx *ctx, size_t n) {
    p->fwd = gr_alloc(ctx, n);
    p->bwd = gr_alloc(ctx, n);
    p->absorbed = gr_calloc(ctx, n, 1);
    p->order = gr_alloc(ctx, n * sizeof *p->order);
    p->val = gr_calloc(ctx, n, sizeof *p->val);
    p->grad = gr_calloc(ctx, n, sizeof *p->grad);
    p->args = gr_calloc(ctx, n, sizeof *p->args);
    p->pool_index = gr_calloc(ctx, n, sizeof *p->pool_index);
    p->val_cap = gr_calloc(ctx, n, sizeof *p->val_cap);
    p->saved_cap = gr_calloc(ctx, n, sizeof *p->saved_cap);
    p->zero_off = gr_calloc(ctx, n, sizeof *p->zero_off);
    p->zero_len = gr_calloc(ctx, n, sizeof *p->zero_len);
    p->pzero_off = gr_calloc(ctx, n + 1, sizeof *p->pzero_off);
    p->pzero_len = gr_calloc(ctx, n + 1, sizeof *p->pzero_len);
    return p->fwd && p->bwd && p->absorbed && p->order && p->val && p->grad && p->args && p->pool_index && p->val_cap && p->saved_cap &&
                   p->zero_off && p->zero_len && p->pzero_off && p->pzero_len
               ? 0
               : -1;
}

/* Every run node in order with its shape; with an arena, its data too: a
 * parameter in the graph's blocks, a view on its input's memory (which
 * comes earlier), anything else at its place in the arena. */
static void place_tensors(struct gr_plan *p, const struct layout *l, char *base) {
    struct gr_graph *g = p->g;
    for (int i = 0; i < g->n; i++) {
        struct gr_node *nd = &g->nodes[i];
        if (!p->fwd[i]) continue;
        p->order[p->n_order++] = i;
        p->val[i].shape = p->grad[i].shape = l->shape[i];
        p->val[i].dtype = l->dtype[i];
        p->grad[i].dtype = GR_F32;
        if (!base) continue;
        if (nd->op->flags & GR_OP_PARAM) {
            p->val[i].data = g->param + nd->param_offset;
            if (p->bwd[i]) p->grad[i].data = g->grad + nd->param_offset;
        } else {
            p->val[i].data = (nd->op->flags & GR_OP_VIEW) ? p->val[nd->in[0]].data : base + l->val_off[i];
            p->val_cap[i] = l->val_bytes[i];
            p->saved_cap[i] = l->saved_bytes[i];
            if (p->bwd[i]) p->grad[i].data = base + l->grad_off[i];
        }
    }
}

/* Whether node i's backward forms input k's gradient: where input k takes
 * one and the loss needs it. */
static int wants_din(const struct gr_plan *p, int i, int k) {
    const struct gr_node *nd = &p->g->nodes[i];
    return p->bwd[i] && p->bwd[nd->in[k]] && gr_node_takes_grad(nd, k);
}

/* Each run node's kernel arguments; din[k] only where wants_din. */
static void fill_args(struct gr_plan *p, const struct layout *l, char *base) {
    struct gr_graph *g = p->g;
    struct gr_ctx *ctx = g->ctx;
    for (int i = 0; i < g->n; i++) {
        struct gr_node *nd = &g->nodes[i];
        if (!p->fwd[i]) continue;
        struct gr_args *a = &p->args[i];
        a->n_in = nd->n_in;
        for (int k = 0; k < nd->n_in; k++) {
            int src = nd->in[k];
            a->in[k] = &p->val[src];
            a->din[k] = wants_din(p, i, k) ? &p->grad[src] : NULL;
        }
        a->out = &p->val[i];
        a->dout = &p->grad[i];
        a->saved = l->saved_bytes[i] ? base + l->saved_off[i] : NULL;
        a->scratch = l->scratch_bytes ? base + l->scratch_off : NULL;
        a->attrs = nd->attrs;
        a->host = &ctx->host;
        a->host_ctx = ctx;
        a->training = p->training;
        a->rng_key = gr_rng_node_key(ctx->seed, nd->name);
        a->rng_step = &p->step;
    }
}

/* Backward runs consumers latest first, so a value's first gradient writer
 * is its last consumer in order; writer[v] is that node (-1: none). */
static void first_writers(const struct gr_plan *p, int *writer) {
    for (int i = 0; i < p->g->n; i++) writer[i] = -1;
    for (int o = p->n_order - 1; o >= 0; o--) {
        int i = p->order[o];
        for (int k = 0; k < p->args[i].n_in; k++)
            if (p->args[i].din[k] && writer[p->g->nodes[i].in[k]] < 0) writer[p->g->nodes[i].in[k]] = i;
    }
}

/* The input slot through which node i reads v, if it reads it through one
 * only; else -1. */
static int only_slot(const struct gr_node *nd, int v) {
    int slot = -1;
    for (int k = 0; k < nd->n_in; k++)
        if (nd->in[k] == v) {
            if (slot >= 0) return -1;
            slot = k;
        }
    return slot;
}

/* din_assign for the first writers that opt in; the other activation
 * gradients, in arena order, as the ranges gr_plan_zero_grad clears
 * (adjacent ones merged), and the parameters' (gr_plan_param_zeroes). */
static int plan_assigns(struct gr_plan *p, const struct layout *l) {
    struct gr_graph *g = p->g;
    int *writer = gr_alloc(g->ctx, (size_t)g->n * sizeof *writer);
    unsigned char *assigned = gr_calloc(g->ctx, (size_t)g->n, 1);
    if (!writer || !assigned) {
        gr_free(g->ctx, writer);
        gr_free(g->ctx, assigned);
        return -1;
    }
    first_writers(p, writer);
    for (int v = 0; v < g->n; v++) {
        if (!p->bwd[v]) continue;
        int i = writer[v], k = i >= 0 ? only_slot(&g->nodes[i], v) : -1, param = (g->nodes[v].op->flags & GR_OP_PARAM) != 0;
        unsigned opts = k < 0 ? 0 : g->nodes[i].op->flags & (param ? GR_OP_ASSIGNS_PARAM_GRAD : GR_OP_ASSIGNS_GRAD);
        if (opts && v != p->loss) {
            p->args[i].din_assign |= 1u << k;
            assigned[v] = (unsigned char)param;
            continue;
        }
        if (param) continue;
        size_t off = l->grad_off[v], len = ALIGN64(l->val_bytes[v]);
        if (p->n_zero > 0 && p->zero_off[p->n_zero - 1] + p->zero_len[p->n_zero - 1] == off)
            p->zero_len[p->n_zero - 1] += len;
        else {
            p->zero_off[p->n_zero] = off;
            p->zero_len[p->n_zero++] = len;
        }
        p->zero_bytes += len;
    }
    gr_plan_param_zeroes(p, assigned);
    gr_free(g->ctx, writer);
    gr_free(g->ctx, assigned);
    return 0;
}

/* gr_plan_init, or with `with_arena` 0 gr_plan_layout: every tensor's shape
 * and place, but no arena and no data pointers. The layout's shapes stay
 * with the plan (p->shape, p->dtype) for later changes of batch. */
static int plan_make(struct gr_plan *p, struct gr_graph *g, int64_t cap, const int *targets, int n_targets, int loss,
                     int with_arena) {
    struct gr_ctx *ctx = g->ctx;
    struct layout l = {0};
    memset(p, 0, sizeof *p);
    p->g = g;
    p->param_grad = g->grad;
    p->cap = p->batch = cap;
    p->training = loss >= 0;
    p->loss = loss;
    if (plan_alloc(p, ctx, (size_t)g->n)) goto fail;
    mark(g, targets, n_targets, loss, p->fwd, p->bwd);
    if (check_loss(g, loss, p->fwd, p->bwd)) goto fail;
    if (make_layout(g, cap, p->training, p->fwd, p->bwd, &l)) goto fail;
    p->arena_bytes = l.total;
    p->scratch_bytes = l.scratch_bytes;
    char *base = NULL;
    if (with_arena) {
        if (!(p->arena = gr_alloc(ctx, l.total ? l.total : 64))) goto fail;
        memset(p->arena, 0, l.total);
        base = p->arena;
    }
    place_tensors(p, &l, base);
    if (base) {
        fill_args(p, &l, base);
        if (gr_plan_fuse(p, targets, n_targets) || (p->training && plan_assigns(p, &l))) goto fail;
    }
    p->shape = l.shape;
    p->dtype = l.dtype;
    l.shape = NULL;
    l.dtype = NULL;
    layout_free(ctx, &l);
    return 0;
fail:
    layout_free(ctx, &l);
    gr_plan_free(p);
    return -1;
}

int gr_plan_init(struct gr_plan *p, struct gr_graph *g, int64_t cap, const int *targets, int n_targets, int loss) {
    return plan_make(p, g, cap, targets, n_targets, loss, 1);
}

int gr_plan_layout(struct gr_plan *p, struct gr_graph *g, int64_t cap, const int *targets, int n_targets, int loss) {
    return plan_make(p, g, cap, targets, n_targets, loss, 0);
}

void gr_plan_free(struct gr_plan *p) {
    if (!p->g) return;
    struct gr_ctx *ctx = p->g->ctx;
    gr_free(ctx, p->fwd);
    gr_free(ctx, p->bwd);
    gr_free(ctx, p->absorbed);
    gr_free(ctx, p->order);
    gr_free(ctx, p->val);
    gr_free(ctx, p->grad);
    gr_free(ctx, p->args);
    gr_free(ctx, p->pool_index);
    gr_free(ctx, p->val_cap);
    gr_free(ctx, p->saved_cap);
    gr_free(ctx, p->zero_off);
    gr_free(ctx, p->zero_len);
    gr_free(ctx, p->pzero_off);
    gr_free(ctx, p->pzero_len);
    gr_free(ctx, p->shape);
    gr_free(ctx, p->dtype);
    gr_free(ctx, p->arena);
    memset(p, 0, sizeof *p);
}

int gr_plan_set_batch(struct gr_plan *p, int64_t batch) {
    struct gr_graph *g = p->g;
    GR_ASSERT(batch >= 1 && batch <= p->cap);
    if (batch == p->batch) return 0;
    for (int o = 0; o < p->n_order; o++) {
        int i = p->order[o];
        struct gr_node *nd = &g->nodes[i];
        if (nd->op->flags & GR_OP_PARAM) continue;
        struct gr_infer inf;
        if (gr_node_infer(g, i, batch, p->training, p->shape, p->dtype, &inf)) return -1;
        size_t bytes = gr_shape_bytes(&inf.out);
        if (bytes == 0 || bytes > p->val_cap[i] || inf.saved_bytes > p->saved_cap[i] ||
            inf.scratch_bytes > p->scratch_bytes)
            return gr_node_fail(g, i, -1, "op '%s' needs more memory at batch %lld than at %lld", nd->op->name,
                                (long long)batch, (long long)p->cap);
        p->shape[i] = p->val[i].shape = p->grad[i].shape = inf.out;
    }
    p->batch = batch;
    return 0;
}

int gr_plan_shapes_at(const struct gr_plan *p, int64_t batch, struct gr_shape *shapes, enum gr_dtype *dtypes) {
    struct gr_graph *g = p->g;
    for (int o = 0; o < p->n_order; o++) {
        int i = p->order[o];
        struct gr_infer inf;
        if (g->nodes[i].op->flags & GR_OP_PARAM) {
            shapes[i] = g->nodes[i].shape;
            dtypes[i] = g->nodes[i].dtype;
        } else if (gr_node_infer(g, i, batch, p->training, shapes, dtypes, &inf)) {
            return -1;
        } else {
            shapes[i] = inf.out;
            dtypes[i] = inf.out_dtype;
        }
    }
    return 0;
}

void gr_plan_forward(struct gr_plan *p) {
    for (int o = 0; o < p->n_order; o++) {
        int i = p->order[o];
        const struct gr_op_desc *op = p->g->nodes[i].op;
        if (!(op->flags & GR_OP_VIEW) && !p->absorbed[i]) op->forward(&p->args[i]);
    }
}

void gr_plan_keep_params(struct gr_plan *p, int kept) {
    for (int o = 0; o < p->n_order; o++) p->args[p->order[o]].params_kept = kept != 0;
}

void gr_plan_set_param_grad(struct gr_plan *p, float *block) {
    p->param_grad = block;
    for (int o = 0; o < p->n_order; o++) {
        int i = p->order[o];
        if ((p->g->nodes[i].op->flags & GR_OP_PARAM) && p->bwd[i]) p->grad[i].data = block + p->g->nodes[i].param_offset;
    }
}

void gr_plan_backward(struct gr_plan *p) { gr_plan_backward_from(p, 1.0f); }

void gr_plan_backward_from(struct gr_plan *p, float seed) {
    GR_ASSERT(p->training && p->loss >= 0);
    ((float *)p->grad[p->loss].data)[0] = seed;
    for (int o = p->n_order - 1; o >= 0; o--) {
        int i = p->order[o];
        if (!p->bwd[i] || p->absorbed[i]) continue;
        const struct gr_op_desc *op = p->g->nodes[i].op;
        if (op->backward) op->backward(&p->args[i]);
    }
}

void gr_plan_node_flops(const struct gr_plan *p, int i, double *forward, double *backward) {
    const struct gr_node *nd = &p->g->nodes[i];
    *forward = *backward = 0;
    if (!p->fwd[i] || !nd->op->flops) return;
    struct gr_infer inf;
    gr_node_infer_args(p->g, i, p->batch, p->training, p->shape, p->dtype, &inf);
    inf.out = p->val[i].shape;
    inf.out_dtype = p->val[i].dtype;
    /* from the plan, not from args: a plan sized for memory only has none */
    for (int k = 0; k < nd->n_in && k < GR_MAX_INPUTS; k++) inf.in_grad[k] = (unsigned char)wants_din(p, i, k);
    nd->op->flops(&inf, forward, backward);
    if (!p->bwd[i]) *backward = 0;
}

void gr_plan_flops(const struct gr_plan *p, double *forward, double *backward) {
    *forward = *backward = 0;
    for (int o = 0; o < p->n_order; o++) {
        double f, b;
        gr_plan_node_flops(p, p->order[o], &f, &b);
        *forward += f;
        *backward += b;
    }
}

static int all_finite(const float *x, int64_t n) {
    /* inf and nan are the floats whose exponent bits are all ones; an integer
     * test vectorizes where a float reduction would not */
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, x + i, sizeof b);
        bad |= (b & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

int gr_plan_grads_finite(const struct gr_plan *p) { return all_finite(p->g->grad, p->g->param_floats); }

int gr_plan_find_nonfinite(const struct gr_plan *p, int *in_grad) {
    for (int o = 0; o < p->n_order; o++) {
        int i = p->order[o];
        if (p->val[i].dtype != GR_F32) continue;
        if (!all_finite(p->val[i].data, gr_shape_count(&p->val[i].shape))) {
            *in_grad = 0;
            return i;
        }
    }
    for (int o = p->n_order - 1; o >= 0; o--) {
        int i = p->order[o];
        if (!p->grad[i].data) continue;
        if (!all_finite(p->grad[i].data, gr_shape_count(&p->grad[i].shape))) {
            *in_grad = 1;
            return i;
        }
    }
    return -1;
}
