#include "runtime/engine/graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops/core.h"
#include "runtime/yaml/check.h"
#include "runtime/base/ctx.h"
#include "runtime/yaml/yaml.h"

struct gr_str {
    struct gr_str *next;
    char s[];
};

void gr_graph_init(struct gr_graph *g, struct gr_ctx *ctx, const char *file) {
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    g->file = file;
}

void gr_graph_free(struct gr_graph *g) {
    gr_free(g->ctx, g->nodes);
    gr_free(g->ctx, g->param);
    gr_free(g->ctx, g->grad);
    struct gr_str *s = g->strings;
    while (s) {
        struct gr_str *next = s->next;
        gr_free(g->ctx, s);
        s = next;
    }
    if (g->made) {
        gr_yaml_free(g->made);
        gr_free(g->ctx, g->made);
    }
    memset(g, 0, sizeof *g);
}

const char *gr_graph_strdup(struct gr_graph *g, const char *s) {
    size_t n = strlen(s) + 1;
    struct gr_str *d = gr_alloc(g->ctx, sizeof *d + n);
    if (!d) return NULL;
    memcpy(d->s, s, n);
    d->next = g->strings;
    g->strings = d;
    return d->s;
}

int gr_graph_append(struct gr_graph *g, const struct gr_node *node) {
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 16;
        struct gr_node *nodes = gr_alloc(g->ctx, (size_t)cap * sizeof *nodes);
        if (!nodes) return -1;
        if (g->nodes) memcpy(nodes, g->nodes, (size_t)g->n * sizeof *nodes);
        gr_free(g->ctx, g->nodes);
        g->nodes = nodes;
        g->cap = cap;
    }
    g->nodes[g->n] = *node;
    return g->n++;
}

int gr_graph_add(struct gr_graph *g, const char *name, const struct gr_op_desc *op, int n_user, const int *in,
                 const struct gr_attr_value *attrs) {
    GR_ASSERT(n_user >= 0 && n_user + op->n_params + op->n_state <= GR_MAX_INPUTS);
    struct gr_node fresh;
    memset(&fresh, 0, sizeof fresh);
    if (gr_graph_append(g, &fresh) < 0) return -1;
    struct gr_node *nd = &g->nodes[g->n - 1];
    nd->name = gr_graph_strdup(g, name);
    if (!nd->name) return -1;
    nd->op = op;
    nd->n_user = n_user;
    nd->n_in = n_user;
    nd->owner = -1;
    for (int k = 0; k < n_user; k++) {
        GR_ASSERT(in[k] >= 0 && in[k] < g->n - 1);
        nd->in[k] = in[k];
    }
    for (int a = 0; a < op->n_attrs; a++) {
        nd->attrs[a] = attrs[a];
        if (attrs[a].s && op->attrs[a].type == GR_ATTR_STRING && !op->attrs[a].choices) {
            nd->attrs[a].s = gr_graph_strdup(g, attrs[a].s);
            if (!nd->attrs[a].s) return -1;
        }
    }
    return g->n - 1;
}

int gr_graph_find(const struct gr_graph *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    return -1;
}

size_t gr_shape_bytes(const struct gr_shape *s) {
    size_t n = 4; /* float32 and int32 */
    for (int i = 0; i < s->rank; i++) {
        if (s->dim[i] < 0) return 0;
        if (gr_mul_size(n, (size_t)s->dim[i], &n)) return 0;
    }
    return n;
}

/* Nothing a plan could hold: guards the arena arithmetic against a shape
 * that is valid in type but absurd in size. */
#define GR_MAX_TENSOR_BYTES ((size_t)1 << 40)

static int check_shape(const struct gr_shape *s, const char **why) {
    if (s->rank < 0 || s->rank > GR_MAX_DIMS) return *why = "is out of range (ranks go from 0 to 6)", -1;
    _Static_assert(GR_MAX_DIMS == 6, "the message above gives GR_MAX_DIMS");
    for (int d = 0; d < s->rank; d++)
        if (s->dim[d] < 1) return *why = "has an empty or negative axis", -1;
    size_t b = gr_shape_bytes(s);
    if (b == 0 || b > GR_MAX_TENSOR_BYTES) return *why = "is too large to hold in memory", -1;
    return 0;
}

/* A shape check_shape refused, for its message: a rank out of range is
 * shown as the rank, not as dims the shape does not have. */
static const char *shape_text(const struct gr_shape *s, char *buf, size_t len) {
    if (s->rank >= 0 && s->rank <= GR_MAX_DIMS) return gr_shape_format(s, buf, len);
    snprintf(buf, len, "of rank %d", s->rank);
    return buf;
}

/* The override that wrote a node's YAML, or removed a key of it, or NULL. */
static const char *override_of(const struct gr_ynode *at) {
    return !at ? NULL : at->origin ? at->origin : at->removed ? at->removed->origin : NULL;
}

/* The nearest node upstream of node i (feeding it, directly or not) that an
 * override changed, or -1. Nodes are in topological order: a node's inputs
 * come before it. */
static int edited_upstream(const struct gr_graph *g, int i) {
    unsigned char *feeds = gr_calloc(g->ctx, (size_t)i + 1, 1);
    if (!feeds) return -1;
    int found = -1;
    feeds[i] = 1;
    for (int j = i; j >= 0 && found < 0; j--) {
        if (!feeds[j]) continue;
        const struct gr_node *nd = &g->nodes[j];
        if (j < i && override_of(nd->at)) found = j;
        for (int k = 0; k < nd->n_in; k++) feeds[nd->in[k]] = 1;
    }
    gr_free(g->ctx, feeds);
    return found;
}

int gr_node_fail(const struct gr_graph *g, int i, int attr, const char *fmt, ...) {
    const struct gr_node *nd = &g->nodes[i];
    int self = nd->owner >= 0 ? nd->owner : i;
    const struct gr_ynode *at = g->nodes[self].at;
    if (nd->owner < 0 && attr >= 0 && attr < nd->op->n_attrs && nd->attr_at[attr]) at = nd->attr_at[attr];
    char msg[GR_ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* an attribute an --unset removed from the node: named by it */
    const char *key = nd->owner < 0 && attr >= 0 && attr < nd->op->n_attrs ? nd->op->attrs[attr].name : NULL;
    if (key && !nd->attr_at[attr] && at && gr_ymap_removed_by(at, key))
        return gr_fail_missing(g->ctx, g->file, at, key, "node '%s': %s", nd->name, msg);
    /* an attribute's list an --unset took an item from (shape.0) */
    if (key && nd->attr_at[attr] && !at->origin && at->removed)
        return gr_fail(g->ctx, "%s: node '%s': %s", at->removed->origin, nd->name, msg);
    /* an override that changed a node upstream (a shape, a unit count) is
     * what the file alone did not say: it is named first, the node's own
     * place in the file after it */
    int up = at && !at->origin ? edited_upstream(g, self) : -1;
    if (up >= 0)
        return gr_fail(g->ctx, "%s: node '%s' (%s:%d:%d, downstream of node '%s', which it changed): %s",
                       override_of(g->nodes[up].at), nd->name, g->file, at->line, at->col, g->nodes[up].name, msg);
    return gr_fail_node(g->ctx, g->file, at, "node '%s': %s", nd->name, msg);
}

void gr_node_infer_args(const struct gr_graph *g, int i, int64_t batch, int training, const struct gr_shape *shapes,
                        const enum gr_dtype *dtypes, struct gr_infer *inf) {
    const struct gr_node *nd = &g->nodes[i];
    memset(inf, 0, sizeof *inf);
    inf->n_in = nd->n_user;
    for (int k = 0; k < nd->n_user; k++) {
        int src = nd->in[k];
        inf->in[k] = shapes ? &shapes[src] : &g->nodes[src].shape;
        inf->in_dtype[k] = dtypes ? dtypes[src] : g->nodes[src].dtype;
    }
    inf->attrs = nd->attrs;
    inf->batch = batch;
    inf->training = training;
    inf->err_attr = -1;
}

int gr_node_infer(struct gr_graph *g, int i, int64_t batch, int training, const struct gr_shape *shapes,
                  const enum gr_dtype *dtypes, struct gr_infer *inf) {
    struct gr_node *nd = &g->nodes[i];
    gr_node_infer_args(g, i, batch, training, shapes, dtypes, inf);
    if (nd->op->infer(inf)) {
        if (!inf->err[0]) snprintf(inf->err, sizeof inf->err, "shape inference failed");
        return gr_node_fail(g, i, inf->err_attr, "%s", inf->err);
    }
    char buf[128];
    const char *why = NULL;
    if (check_shape(&inf->out, &why))
        return gr_node_fail(g, i, -1, "output shape %s %s", shape_text(&inf->out, buf, sizeof buf), why);
    if (inf->out_dtype != GR_F32 && inf->out_dtype != GR_I32)
        return gr_node_fail(g, i, -1, "op '%s' gave an unknown dtype", nd->op->name);
    for (int k = 0; k < nd->op->n_params; k++)
        if (check_shape(&inf->param[k], &why))
            return gr_node_fail(g, i, -1, "parameter '%s' shape %s %s", nd->op->params[k].name,
                                shape_text(&inf->param[k], buf, sizeof buf), why);
    for (int k = 0; k < nd->op->n_state; k++)
        if (check_shape(&inf->state[k], &why))
            return gr_node_fail(g, i, -1, "state '%s' shape %s %s", nd->op->state[k].name,
                                shape_text(&inf->state[k], buf, sizeof buf), why);
    if (inf->saved_bytes > GR_MAX_TENSOR_BYTES || inf->scratch_bytes > GR_MAX_TENSOR_BYTES)
        return gr_node_fail(g, i, -1, "working memory is too large");
    return 0;
}

int gr_node_takes_grad(const struct gr_node *nd, int k) {
    if (k >= nd->n_user) return k < nd->n_user + nd->op->n_params;
    return !((nd->op->no_grad >> k) & 1u);
}

int gr_node_is_state(const struct gr_graph *g, int i) {
    const struct gr_node *nd = &g->nodes[i];
    if (!(nd->op->flags & GR_OP_PARAM) || nd->owner < 0) return 0;
    const struct gr_node *own = &g->nodes[nd->owner];
    for (int k = own->n_user + own->op->n_params; k < own->n_in; k++)
        if (own->in[k] == i) return 1;
    return 0;
}

int gr_node_is_trainable(const struct gr_graph *g, int i) {
    const struct gr_node *nd = &g->nodes[i];
    return (nd->op->flags & GR_OP_PARAM) && nd->attrs[GR_PARAM_TRAINABLE].i != 0;
}

int gr_graph_layout_params(struct gr_graph *g) {
    int64_t total = 0, weights = 0, state = 0;
    /* the trainable parameters first, then the rest: the optimizer's part
     * is one stretch at the start */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < g->n; i++) {
            struct gr_node *nd = &g->nodes[i];
            if (!(nd->op->flags & GR_OP_PARAM) || gr_node_is_trainable(g, i) != (pass == 0)) continue;
            /* a parameter's shape passed check_shape: at most 2^38 floats */
            int64_t count = gr_shape_count(&nd->shape);
            nd->param_offset = total;
            /* each parameter starts on a 64-byte boundary for vector loads */
            total += (count + 15) / 16 * 16;
            weights += count;
            if (gr_node_is_state(g, i)) state += count;
            if (total > (int64_t)(GR_MAX_TENSOR_BYTES / sizeof(float)))
                return gr_node_fail(g, i, -1, "the parameters up to here hold %lld values, too many to hold in memory",
                                    (long long)total);
        }
        if (pass == 0) g->trainable_floats = total;
    }
    g->param_floats = total;
    g->n_weights = weights;
    g->n_state = state;
    return 0;
}

int gr_graph_alloc_params(struct gr_graph *g, gr_param_fill_fn fill) {
    if (gr_graph_layout_params(g)) return -1;
    int64_t total = g->param_floats;
    gr_free(g->ctx, g->param);
    gr_free(g->ctx, g->grad);
    g->param = gr_calloc(g->ctx, (size_t)(total ? total : 1), sizeof(float));
    g->grad = gr_calloc(g->ctx, (size_t)(total ? total : 1), sizeof(float));
    if (!g->param || !g->grad) return -1;
    for (int i = 0; i < g->n; i++) {
        struct gr_node *nd = &g->nodes[i];
        if (!(nd->op->flags & GR_OP_PARAM) || !fill) continue;
        fill((enum gr_init)nd->attrs[GR_PARAM_INIT].i, &nd->shape, g->param + nd->param_offset, &g->ctx->rng);
    }
    return 0;
}
